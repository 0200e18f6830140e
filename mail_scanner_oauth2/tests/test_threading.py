# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from odoo.tests import tagged

from .common import MailScannerCase


@tagged("post_install", "-at_install")
class TestThreading(MailScannerCase):
    """Replies whose headers were stripped (Outlook mobile) still find their ticket."""

    def _first_ticket(self, mailbox):
        first = self.deliver(
            subject="Boleto em atraso", sender="Ana <ana@customer.example>"
        )
        self.sync(mailbox)
        return self.row_of(mailbox, first).ticket_id

    def test_subject_reference_from_the_customer(self):
        mailbox = self.create_mailbox()
        ticket = self._first_ticket(mailbox)
        reply = self.deliver(
            subject=f"RE: [{ticket.number}] something else entirely",
            sender="Ana <ana@customer.example>",
            body="More details.",
        )
        self.sync(mailbox)
        self.assertEqual(self.row_of(mailbox, reply).ticket_id, ticket)
        self.assertEqual(self.row_of(mailbox, reply).outcome, "reply")

    def test_subject_reference_from_a_follower(self):
        mailbox = self.create_mailbox()
        ticket = self._first_ticket(mailbox)
        colleague = self.env["res.partner"].create(
            {"name": "Bia", "email": "bia@customer.example"}
        )
        ticket.message_subscribe(colleague.ids)
        reply = self.deliver(
            subject=f"{ticket.number} update",
            sender="Bia <bia@customer.example>",
        )
        self.sync(mailbox)
        self.assertEqual(self.row_of(mailbox, reply).ticket_id, ticket)

    def test_subject_reference_from_a_stranger_opens_a_new_ticket(self):
        mailbox = self.create_mailbox()
        ticket = self._first_ticket(mailbox)
        intruder = self.deliver(
            subject=f"RE: [{ticket.number}] Boleto em atraso",
            sender="Mallory <mallory@elsewhere.example>",
            body="Let me in.",
        )
        self.sync(mailbox)
        row = self.row_of(mailbox, intruder)
        self.assertEqual(row.outcome, "ticket")
        self.assertNotEqual(row.ticket_id, ticket)
        self.assertNotIn("Let me in", "".join(ticket.message_ids.mapped("body")))

    def test_conversation_id_fallback(self):
        mailbox = self.create_mailbox()
        ticket = self._first_ticket(mailbox)
        # No References, no ticket number: Exchange still groups it by topic.
        reply = self.deliver(subject="RE: Boleto em atraso", body="Paguei ontem.")
        self.sync(mailbox)
        row = self.row_of(mailbox, reply)
        self.assertEqual(
            row.conversation_id,
            self.row_of(mailbox, self._graph_first()).conversation_id,
        )
        self.assertEqual(row.ticket_id, ticket)

    def _graph_first(self):
        return next(
            m for m in self.graph_mailbox.messages() if m.subject == "Boleto em atraso"
        )

    def test_unrelated_mail_opens_a_new_ticket(self):
        mailbox = self.create_mailbox()
        ticket = self._first_ticket(mailbox)
        other = self.deliver(
            subject="Another topic", sender="Ana <ana@customer.example>"
        )
        self.sync(mailbox)
        self.assertNotEqual(self.row_of(mailbox, other).ticket_id, ticket)
