# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Which ticket a mail belongs to when its headers do not say.

Outlook mobile strips References and In-Reply-To. Then: a ticket reference in the
subject, then Graph's conversationId of an earlier mail, received or sent through
the mailbox. The headers may also name a mail Odoo sent through the mailbox under
the Message-ID Exchange gave it: the send ledger knows it, and the gateway's hooks
(models/mail_thread.py) translate it to Odoo's. Both are hints, not proof:
Exchange may group unrelated mails with a common subject ("test", "Invoice") into
one conversation, and anyone can quote a ticket number. So a hint only counts when
the sender is one of the ticket's people: its customer, a follower, or someone who
sent or received the ticket's mails. Otherwise the mail opens a new ticket.
"""

import re

from odoo import tools

# Ticket references as helpdesk_mgmt numbers them (HT00042), or any other
# prefix a company gave its sequence: letters then at least three digits.
TICKET_REFERENCE_RE = re.compile(r"\b([A-Za-z]{0,10}[-/]?\d{3,})\b")


class ThreadFinder:
    def __init__(self, mailbox):
        self.mailbox = mailbox
        self.env = mailbox.env
        self.Ticket = self.env["helpdesk.ticket"]

    def find(self, row, facts):
        """(ticket id to force or None, whether the mail is a reply)."""
        if self._headers_link_a_thread(facts):
            return None, True  # the gateway threads it by its References
        sender = tools.email_normalize(facts.header("From"))
        referenced = self._tickets_referenced(facts.subject)
        if referenced:
            trusted = referenced.filtered(lambda t: sender in ticket_people(t))
            # A stranger quoting a ticket number must not write into it.
            return trusted[:1].id or None, bool(trusted)
        ticket = self._ticket_of_conversation(row)
        if ticket and sender in ticket_people(ticket):
            return ticket.id, True
        return None, False

    def _headers_link_a_thread(self, facts):
        references = " ".join(
            facts.header(name) for name in ("References", "In-Reply-To")
        )
        ids = [ref.strip() for ref in tools.mail.unfold_references(references)]
        if not ids:
            return False
        ids = ids[-32:]
        return bool(
            self.env["mail.message"].search_count([("message_id", "in", ids)], limit=1)
        ) or bool(self.env["mail.thread"]._mail_scanner_odoo_ids(ids))

    def _tickets_referenced(self, subject):
        tokens = {m.upper() for m in TICKET_REFERENCE_RE.findall(subject or "")}
        if not tokens:
            return self.Ticket
        return self.Ticket.search(
            [
                ("number", "in", list(tokens)),
                ("company_id", "in", [False, self.mailbox.company_id.id]),
            ]
        )

    def _ticket_of_conversation(self, row):
        if not row.conversation_id:
            return self.Ticket
        return self._ticket_received_in(row) or self._ticket_sent_in(row)

    def _ticket_sent_in(self, row):
        """The ticket of the latest mail sent through the mailbox in this
        conversation."""
        sent = self.env["mail.scanner.outgoing"].search(
            [
                ("mailbox_id", "=", self.mailbox.id),
                ("conversation_id", "=", row.conversation_id),
                ("model", "=", self.Ticket._name),
                ("state", "=", "sent"),
            ],
            order="id desc",
            limit=1,
        )
        return self.Ticket.browse(sent.res_id).exists() if sent else self.Ticket

    def _ticket_received_in(self, row):
        earlier = row.search(
            [
                ("mailbox_id", "=", self.mailbox.id),
                ("conversation_id", "=", row.conversation_id),
                ("ticket_id", "!=", False),
                ("id", "!=", row.id),
            ],
            order="received_date, id",
            limit=1,
        )
        return earlier.ticket_id


def ticket_people(ticket):
    """Normalised addresses of the ticket's customer, followers, and of whoever
    sent or received its mails."""
    emails = {tools.email_normalize(ticket.partner_email or "")}
    partners = ticket.partner_id | ticket.message_partner_ids
    mails = ticket.message_ids.filtered(
        lambda m: m.message_type in ("email", "comment", "email_outgoing")
    )
    partners |= mails.author_id | mails.partner_ids
    emails |= {p.email_normalized for p in partners}
    emails |= {tools.email_normalize(m.email_from or "") for m in mails}
    return emails - {False, None, ""}
