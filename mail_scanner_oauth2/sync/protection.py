# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Why a mail must not become a ticket: sent by the scanned mailbox itself (or a copy
of a mail Odoo sent through it), a delivery failure (handed to Odoo's bounce
handling), an automatic reply, or one more mail of a sender in a loop.

ImporterProtections is a part of MailImporter (sync/gateway.py), which provides
``env``, ``lookups``, ``own_addresses``, the loop settings and ``_ticket_of``.
"""

import email
import email.policy
from datetime import timedelta

from odoo import fields

from ..tools.protections import auto_reply_reason, delivery_failure_reason
from .outcome import CONTENT_ERRORS, Outcome


class ImporterProtections:
    """MailImporter's protections (see the module docstring)."""

    def _protection(self, facts):
        """Why this mail must not become a ticket nor be answered, or None."""
        if self._is_own_sent_mail(facts):
            return Outcome("ignored", "own_sent_mail")
        kind, reason = self._what_it_is(facts)
        if kind == "own_mailbox":
            return Outcome("ignored", "own_mailbox")
        if kind == "delivery_failure":
            return self._bounce(facts, reason)
        if kind == "auto_reply":
            return Outcome("ignored", "auto_reply", {"detail": reason})
        return self._loop(facts.sender)

    def _what_it_is(self, facts):
        """What the mail alone says it is (read in the download thread): sent by
        the scanned mailbox itself, a bounce, an automatic reply, with the reason;
        (None, None) for a person's mail."""
        return facts.memo("what_it_is", self._read_what_it_is)

    def _read_what_it_is(self, facts):
        if facts.sender and facts.sender in self.own_addresses:
            return "own_mailbox", None
        reason = delivery_failure_reason(facts)
        if reason:
            return "delivery_failure", reason
        reason = auto_reply_reason(facts)
        if reason:
            return "auto_reply", reason
        return None, None

    def _loop_since(self):
        if not (self.loop_max_tickets and self.loop_minutes):
            return None
        return fields.Datetime.now() - timedelta(minutes=self.loop_minutes)

    def _is_own_sent_mail(self, facts):
        """A copy of a mail Odoo sent through this mailbox, under the Message-ID
        Exchange gave it (Odoo's own is recognised as a duplicate already)."""
        return bool(facts.message_id) and self.lookups.sent_through_mailbox(
            facts.message_id
        )

    def _bounce(self, facts, reason):
        """A non-delivery report never becomes a ticket. Odoo's own bounce handling
        (as for the bounces its gateway receives) marks the failed delivery on the
        mail it bounces, which the chatter shows, and counts the bounce on the
        partner; the log row points at that mail's ticket."""
        Thread = self.env["mail.thread"].with_context(mail_scanner_import=True)
        message = email.message_from_bytes(facts.raw, policy=email.policy.SMTP)
        try:
            msg_dict = Thread.message_parse(message)
        except CONTENT_ERRORS:
            # A report too broken for Odoo's parser (a lost MIME boundary...) is
            # still a bounce: ignored, without the delivery marked on the ticket.
            return Outcome("ignored", "delivery_failure", {"detail": reason})
        if not msg_dict.get("is_bounce"):
            return Outcome("ignored", "delivery_failure", {"detail": reason})
        Thread._routing_handle_bounce(message, msg_dict)
        bounced = msg_dict.get("bounced_message") or self.env["mail.message"]
        if not bounced:
            return Outcome("ignored", "delivery_failure", {"detail": reason})
        params = {"detail": reason, "recipient": msg_dict.get("bounced_email") or ""}
        return Outcome(
            "ignored",
            "bounce_shown",
            params,
            values={"ticket_id": self._ticket_of(bounced[:1]).id},
        )

    def _loop(self, sender):
        since = self._loop_since()
        if not (sender and since):
            return None
        opened = self.lookups.tickets_opened(sender, since)
        if opened < self.loop_max_tickets:
            return None
        params = {"sender": sender, "count": opened, "minutes": self.loop_minutes}
        return Outcome("ignored", "mail_loop", params)
