# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from odoo.tests import tagged

from .common import MailScannerCase

DSN = (
    b"From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>\r\n"
    b"To: support@contoso.example\r\nSubject: Undelivered Mail Returned to Sender\r\n"
    b"Message-ID: <dsn-1@mx.customer.example>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
    b"--b\r\nContent-Type: message/delivery-status\r\n\r\n"
    b"Final-Recipient: rfc822; gone@customer.example\r\nAction: failed\r\n"
    b"Status: 5.1.1\r\n\r\n--b--\r\n"
)


@tagged("post_install", "-at_install")
class TestProtections(MailScannerCase):
    def setUp(self):
        super().setUp()
        self.mailbox = self.create_mailbox()

    def assert_ignored(self, graph_msg, reason_part):
        self.sync(self.mailbox)
        row = self.row_of(self.mailbox, graph_msg)
        self.assertEqual(row.state, "ignored", row.reason)
        self.assertIn(reason_part, row.reason)
        self.assertFalse(row.ticket_id)
        self.assertTrue(self.graph_mailbox.get(graph_msg.immutable_id).is_read)
        # Nothing was answered: no outgoing mail was queued for the sender.
        self.assertFalse(
            self.env["mail.mail"].search([("email_to", "ilike", "customer")])
        )

    def test_auto_submitted(self):
        msg = self.deliver(headers={"Auto-Submitted": "auto-replied"})
        self.assert_ignored(msg, "Auto-Submitted")

    def test_auto_submitted_no_is_a_real_mail(self):
        msg = self.deliver(headers={"Auto-Submitted": "no"})
        self.sync(self.mailbox)
        self.assertEqual(self.row_of(self.mailbox, msg).state, "done")

    def assert_ticket_without_auto_answer(self, graph_msg, reason_part):
        self.sync(self.mailbox)
        row = self.row_of(self.mailbox, graph_msg)
        self.assertEqual(row.state, "done", row.reason)
        self.assertEqual(row.outcome, "ticket")
        self.assertIn(reason_part, row.reason)
        self.assertIn("without automatic answers", row.reason)
        return row

    def test_x_auto_response_suppress_is_a_ticket_without_auto_answer(self):
        msg = self.deliver(headers={"X-Auto-Response-Suppress": "All"})
        self.assert_ticket_without_auto_answer(msg, "X-Auto-Response-Suppress")

    def test_mailing_list_post_is_a_ticket_never_answered_automatically(self):
        """A customer writing through their company's list (Precedence: list) is
        a customer; only the acknowledgement must not go out (RFC 3834)."""
        stage = self.env["helpdesk.ticket.stage"].create(
            {
                "name": "Received",
                "sequence": -100,
                "mail_template_id": self.env.ref(
                    "helpdesk_mgmt.closed_ticket_template"
                ).id,
                "team_ids": [(4, self.team.id)],
            }
        )
        listed = self.deliver(
            subject="Pedido travado",
            sender="Compras <compras@lista.customer.example>",
            headers={"Precedence": "list", "List-Id": "<compras.customer.example>"},
        )
        person = self.deliver(subject="Outro pedido", sender="ze@person.example")
        row = self.assert_ticket_without_auto_answer(listed, "Precedence: list")
        self.assertEqual(row.ticket_id.stage_id, stage)
        answers = self.env["mail.mail"].search([("model", "=", "helpdesk.ticket")])
        answered = answers.mapped("recipient_ids.email")
        self.assertNotIn("compras@lista.customer.example", answered)
        self.assertIn("ze@person.example", answered, "a person's mail is answered")
        self.assertEqual(self.row_of(self.mailbox, person).state, "done")

    def test_precedence_bulk(self):
        msg = self.deliver(headers={"Precedence": "bulk"})
        self.assert_ticket_without_auto_answer(msg, "Precedence: bulk")

    def test_read_receipt(self):
        raw = (
            b"From: Ana <ana@customer.example>\r\nTo: support@contoso.example\r\n"
            b"Subject: Read: Printer on fire\r\nMessage-ID: <rr-1@customer.example>\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/report; "
            b'report-type=disposition-notification; boundary="b"\r\n\r\n'
            b"--b\r\nContent-Type: text/plain\r\n\r\nYour message was read.\r\n"
            b"--b\r\nContent-Type: message/disposition-notification\r\n\r\n"
            b"Disposition: manual-action/MDN-sent-manually; displayed\r\n"
            b"\r\n--b--\r\n"
        )
        self.assert_ignored(self.deliver_raw(raw), "read receipt")

    def test_bounce_without_report_structure(self):
        """qmail and others bounce as plain text: the sender and the subject say it."""
        raw = (
            b"From: MAILER-DAEMON@mx.customer.example\r\n"
            b"To: support@contoso.example\r\n"
            b"Subject: failure notice\r\nMessage-ID: <qmail-1@mx.customer.example>\r\n"
            b"\r\nHi. This is the qmail-send program. I'm afraid I wasn't able to "
            b"deliver your message.\r\n"
        )
        self.assert_ignored(self.deliver_raw(raw), "Delivery failure")

    def test_bounce_from_the_null_sender(self):
        """Bounces come from the null sender <> (RFC 5321); what they say counts."""
        raw = (
            b"Return-Path: <>\r\nFrom: Mail Delivery System <>\r\n"
            b"To: support@contoso.example\r\nSubject: Mail Delivery Warning\r\n"
            b"Message-ID: <warn-1@mx.customer.example>\r\n\r\n"
            b"Your message is still being retried.\r\n"
        )
        self.assert_ignored(self.deliver_raw(raw), "Delivery failure")

    def test_mail_system_sender_whatever_the_subject(self):
        msg = self.deliver(
            subject="Processing Error", sender="MAILER-DAEMON@usa.example"
        )
        self.assert_ignored(msg, "mail system")

    def test_abuse_feedback_report(self):
        raw = (
            b"From: Abuse <staff@hotmail.example>\r\nTo: support@contoso.example\r\n"
            b"Subject: complaint about message\r\n"
            b"Message-ID: <arf-1@hotmail.example>\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/report; report-type=feedback-report; "
            b'boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n'
            b"This is an email abuse report.\r\n--b\r\n"
            b"Content-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\n"
            b"\r\n--b--\r\n"
        )
        self.assert_ignored(self.deliver_raw(raw), "feedback-report")

    def test_a_person_writing_about_a_failed_delivery_is_a_ticket(self):
        msg = self.deliver(
            subject="Mail delivery failed to your billing address",
            sender="Carla <carla@customer.example>",
            body="Hi, my mail to billing@contoso.example bounced yesterday.",
        )
        self.sync(self.mailbox)
        self.assertEqual(self.row_of(self.mailbox, msg).outcome, "ticket")

    def test_failed_recipients_header(self):
        msg = self.deliver(
            subject="Mail delivery failed", headers={"X-Failed-Recipients": "x@y.z"}
        )
        self.assert_ignored(msg, "X-Failed-Recipients")

    def test_postmaster_writing_html_is_a_person(self):
        """A bounce is known by what it is, not by a postmaster@ sender alone."""
        msg = self.deliver(
            subject="Our DNS records changed",
            sender="Bob <postmaster@example.com>",
            html="<p>Hello, please update our <b>DNS</b> entries.</p>",
        )
        self.sync(self.mailbox)
        row = self.row_of(self.mailbox, msg)
        self.assertEqual((row.state, row.outcome), ("done", "ticket"), row.reason)

    def test_x_autoreply(self):
        msg = self.deliver(headers={"X-Autoreply": "yes"})
        self.assert_ignored(msg, "X-Autoreply")

    def test_out_of_office_subject(self):
        msg = self.deliver(subject="Resposta automática: Printer on fire")
        self.assert_ignored(msg, "Automatic reply")

    def test_delivery_failure(self):
        msg = self.deliver_raw(DSN)
        self.assert_ignored(msg, "Delivery failure")

    def test_a_bounce_too_broken_for_odoos_parser_is_still_ignored(self):
        """A report whose MIME boundary was cut off: Odoo's message_parse raises on
        it (the body is a string where it expects parts); it is still a bounce."""
        raw = (
            b"From: Mail Delivery Subsystem <MAILER-DAEMON@mx.customer.example>\r\n"
            b"To: support@contoso.example\r\nSubject: Returned mail: see transcript\r\n"
            b"Message-ID: <dsn-broken@mx.customer.example>\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/report; report-type=delivery-status;\r\n\tbo\r\n"
            b"Auto-Submitted: auto-generated (failure)\r\n\r\n"
            b"--XYZ.123/mx.customer.example\r\n\r\nThe original message was "
            b"received at Fri, 6 Apr 2001 09:23:03\r\n\r\n554 Too many hops\r\n"
            b"--XYZ.123/mx.customer.example--\r\n"
        )
        self.assert_ignored(self.deliver_raw(raw), "Delivery failure")

    def test_mail_from_the_scanned_mailbox_itself(self):
        msg = self.deliver(sender=f"Support <{self.mailbox_address}>")
        self.assert_ignored(msg, "scanned mailbox itself")

    def test_sender_loop(self):
        self.mailbox.write({"loop_max_tickets": 3, "loop_window_minutes": 30})
        sent = [
            self.deliver(subject=f"Alert {n}", sender="bot@monitor.example")
            for n in range(5)
        ]
        self.sync(self.mailbox)
        rows = self.ledger(self.mailbox)
        self.assertEqual(len(rows), len(sent))
        self.assertEqual(sorted(rows.mapped("state")), ["done"] * 3 + ["ignored"] * 2)
        for row in rows.filtered(lambda r: r.state == "ignored"):
            self.assertIn("Mail loop", row.reason)
        other = self.deliver(sender="human@customer.example")
        self.sync(self.mailbox)
        self.assertEqual(self.row_of(self.mailbox, other).state, "done")


@tagged("post_install", "-at_install")
class TestSizeLimit(MailScannerCase):
    def test_large_mail_stays_in_the_mailbox(self):
        mailbox = self.create_mailbox(max_size_mb=1)
        big = self.deliver(
            subject="Planta do prédio",
            attachments=[
                ("planta.bin", b"\x00" * (1536 * 1024), "application/octet-stream")
            ],
        )
        small = self.deliver(subject="Small one")
        self.emu.log.clear()
        self.sync(mailbox)
        row = self.row_of(mailbox, big)
        self.assertEqual(row.state, "skipped")
        self.assertIn("MB", row.reason)
        self.assertGreater(row.size, 1024 * 1024)
        self.assertEqual(self.row_of(mailbox, small).state, "done")
        downloads = [r.path for r in self.emu.log if r.path.endswith("/$value")]
        self.assertFalse(
            [p for p in downloads if big.immutable_id in p],
            "a mail over the limit is never downloaded",
        )
        self.assertFalse(self.graph_mailbox.get(big.immutable_id).is_read)
        told = mailbox.message_ids.filtered(
            lambda m: "Planta do prédio" in (m.body or "")
        )
        self.assertEqual(len(told), 1, "the admins are told")
        # Raising the limit and retrying imports it.
        mailbox.max_size_mb = 5
        row.action_retry()
        self.sync(mailbox)
        self.assertEqual(row.state, "done")
