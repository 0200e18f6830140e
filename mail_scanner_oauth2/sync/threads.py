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

from odoo import tools

from .lookups import RowInfo, ticket_references


class ThreadFinder:
    def __init__(self, env, lookups):
        self.env = env
        self.lookups = lookups
        self.Ticket = env["helpdesk.ticket"]

    def find(self, row, facts):
        """(ticket id to force or None, whether the mail is a reply); ``row`` is
        the mail's ledger row or its RowInfo."""
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
        return self.lookups.message_exists(ids) or bool(
            self.env["mail.thread"]._mail_scanner_odoo_ids(ids)
        )

    def _tickets_referenced(self, subject):
        return self.lookups.tickets_referenced(ticket_references(subject))

    def _ticket_of_conversation(self, row):
        # A ledger row, not a RowInfo, is the rule tester's: outside the slice.
        info = row if isinstance(row, RowInfo) else RowInfo.of(row)
        if not info.conversation_id:
            return self.Ticket
        received = self.lookups.earliest_ticket_of_conversation(
            info.conversation_id, info.id
        )
        if received:
            return self.Ticket.browse(received)
        sent = self.lookups.ticket_sent_in(info.conversation_id)
        return self.Ticket.browse(sent).exists() if sent else self.Ticket


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
