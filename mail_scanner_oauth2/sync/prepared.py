# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""A mail made ready for the gateway before its import (in the download thread)."""

import hashlib

from ..tools.large_parts import cut_large_parts
from ..tools.mail_facts import MailFacts


class PreparedMail:
    """A mail as the gateway will get it: its large attachments cut out (stored
    from the original bytes, tools/large_parts.py) and a Message-ID it can be
    recognised by."""

    def __init__(self, graph_id, raw):
        self.source = raw
        self.contacts_seen = False
        slim, self.cut_parts = cut_large_parts(raw)
        self.facts = with_message_id(graph_id, slim)


def with_message_id(graph_id, raw):
    """The facts of a mail, given a stable Message-ID derived from Graph's id when
    the gateway would read none: Odoo would invent a random one, and a retried mail
    could then never be recognised as already imported."""
    facts = MailFacts(raw)
    if facts.message_id:
        return facts
    header = f"Message-ID: {stable_message_id(graph_id)}\r\n"
    return MailFacts(header.encode() + raw)


def stable_message_id(graph_id):
    """The Message-ID given to a mail that has none: the same for every retry."""
    digest = hashlib.sha256(graph_id.encode()).hexdigest()[:32]
    return f"<{digest}.mail-scanner@graph.invalid>"
