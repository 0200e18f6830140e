# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
import base64
from datetime import datetime, timedelta, timezone
from unittest.mock import patch

from odoo import fields
from odoo.tests import tagged
from odoo.tools import mute_logger

from ..sync.gateway import MailImporter
from .common import MailScannerCase

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)


@tagged("post_install", "-at_install")
class TestSync(MailScannerCase):
    def test_new_mail_becomes_ticket(self):
        # OdooBot runs the gateway; as a team member it could become the assignee.
        self.team.user_ids = [(4, self.env.ref("base.user_root").id)]
        mailbox = self.create_mailbox()
        graph_msg = self.deliver(
            subject="Nota fiscal não chegou",
            sender="João Araújo <joao@cliente.example>",
            body="Bom dia, a nota fiscal não chegou.",
            cc=["Maria <maria@cliente.example>"],
            attachments=[("boleto.pdf", b"%PDF-1.4 fake", "application/pdf")],
            html="<p>Bom dia, a nota <b>fiscal</b> não chegou.</p>",
        )
        done, remaining = self.sync(mailbox)
        self.assertEqual((done, remaining), (1, 0))
        row = self.row_of(mailbox, graph_msg)
        self.assertEqual(row.state, "done")
        self.assertEqual(row.outcome, "ticket")
        ticket = row.ticket_id
        self.assertEqual(ticket.name, "Nota fiscal não chegou")
        self.assertEqual(ticket.team_id, self.team)
        self.assertFalse(ticket.user_id, "nobody, and certainly not OdooBot")
        self.assertEqual(ticket.partner_id.email, "joao@cliente.example")
        self.assertEqual(ticket.partner_id.name, "João Araújo")
        self.assertIn("fiscal", ticket.description)
        self.assertIn(
            "maria@cliente.example", ticket.message_partner_ids.mapped("email")
        )
        self.assertNotIn(
            self.mailbox_address, ticket.message_partner_ids.mapped("email")
        )
        attachments = row.mail_message_id.attachment_ids
        self.assertIn("boleto.pdf", attachments.mapped("name"))
        self.assertEqual(row.mail_message_id.model, "helpdesk.ticket")
        self.assertEqual(row.mail_message_id.res_id, ticket.id)

    def test_inline_image_is_kept(self):
        mailbox = self.create_mailbox()
        graph_msg = self.deliver(
            html='<p>See the screenshot: <img src="cid:shot@customer"></p>',
            attachments=[
                {
                    "filename": "shot.png",
                    "content": PNG,
                    "mimetype": "image/png",
                    "inline": True,
                    "cid": "<shot@customer>",
                },
            ],
        )
        self.sync(mailbox)
        message = self.row_of(mailbox, graph_msg).mail_message_id
        self.assertIn("shot.png", message.attachment_ids.mapped("name"))
        self.assertIn(
            "/web/image/", message.body, "the cid is rewritten to the attachment"
        )

    def test_reply_lands_in_the_same_ticket(self):
        mailbox = self.create_mailbox()
        first = self.deliver()
        self.sync(mailbox)
        reply = self.deliver(
            subject="RE: Printer on fire",
            body="Still burning.",
            in_reply_to=first.internet_message_id,
            references=[first.internet_message_id],
        )
        self.sync(mailbox)
        ticket = self.row_of(mailbox, first).ticket_id
        reply_row = self.row_of(mailbox, reply)
        self.assertEqual(reply_row.ticket_id, ticket)
        self.assertEqual(reply_row.outcome, "reply")
        self.assertEqual(
            self.env["helpdesk.ticket"].search_count(
                [("partner_id.email", "=", "ana@customer.example")]
            ),
            1,
        )
        self.assertIn("Still burning", "".join(ticket.message_ids.mapped("body")))

    def test_old_mail_before_cutoff_is_not_imported(self):
        self.deliver(
            subject="Old", received=datetime.now(timezone.utc) - timedelta(days=30)
        )
        mailbox = self.create_mailbox(cutoff_date=False)
        self.sync(mailbox)
        self.assertFalse(self.ledger(mailbox))

    def test_idle_poll_creates_nothing_and_replays_delta(self):
        # Exact request counts: no empty pages or redelivered changes here.
        self.enterContext(self.emu.temporarily("tidy"))
        mailbox = self.create_mailbox()
        self.deliver()
        self.sync(mailbox)
        link = mailbox.delta_link
        self.assertTrue(link)
        self.emu.log.clear()
        self.assertEqual(self.sync(mailbox), (0, 0))
        graph_calls = [r for r in self.emu.log if not r.in_batch and "/v1.0/" in r.path]
        self.assertEqual(len(graph_calls), 1, [r.path for r in graph_calls])
        self.assertEqual(len(self.ledger(mailbox)), 1)

    def test_same_message_id_is_recorded_as_duplicate(self):
        mailbox = self.create_mailbox()
        first = self.deliver(message_id="<same-id@customer.example>")
        self.sync(mailbox)
        again = self.deliver(
            message_id="<same-id@customer.example>", subject="Fwd copy"
        )
        self.sync(mailbox)
        row = self.row_of(mailbox, again)
        self.assertEqual(row.state, "duplicate")
        self.assertEqual(row.ticket_id, self.row_of(mailbox, first).ticket_id)
        self.assertTrue(row.after_import_done, "a duplicate is handled, not retried")
        self.assertEqual(mailbox.count_failed, 0)

    def test_malformed_mail_fails_alone_and_retry_works(self):
        mailbox = self.create_mailbox()
        good_before = self.deliver(subject="Before")
        bad = self.deliver(subject="Broken one")
        good_after = self.deliver(subject="After")
        real_process = type(self.env["mail.thread"]).message_process

        def choke_on_broken(thread_self, model, message, *args, **kwargs):
            if b"Broken one" in message:
                raise ValueError("cannot handle this content")
            return real_process(thread_self, model, message, *args, **kwargs)

        with patch.object(
            type(self.env["mail.thread"]), "message_process", choke_on_broken
        ):
            self.sync(mailbox)
        self.assertEqual(self.row_of(mailbox, good_before).state, "done")
        self.assertEqual(self.row_of(mailbox, good_after).state, "done")
        bad_row = self.row_of(mailbox, bad)
        self.assertEqual(bad_row.state, "failed")
        self.assertIn("cannot handle this content", bad_row.reason)
        self.assertFalse(
            self.graph_mailbox.get(bad.immutable_id).is_read,
            "a failed mail stays unread in the mailbox",
        )
        self.assertTrue(self.graph_mailbox.get(good_after.immutable_id).is_read)
        bad_row.action_retry()
        self.assertEqual(bad_row.state, "pending")
        self.sync(mailbox)
        self.assertEqual(bad_row.state, "done")
        self.assertEqual(len(self.tickets_of(good_before, bad, good_after)), 3)

    def test_really_malformed_mime_never_blocks(self):
        mailbox = self.create_mailbox()
        garbage = self.deliver_raw(
            b"From: =?utf-8?q?broken\r\nSubject: \xff\xfe bad bytes\r\n"
            b'Content-Type: multipart/mixed; boundary="nope"\r\n\r\n--nope\r\n'
            b"Content-Type: text/html; charset=unknown-8bit\r\n\r\n"
            b"<html><body><p>unclosed\r\n"
        )
        good = self.deliver(subject="Fine")
        self.sync(mailbox)
        self.assertIn(self.row_of(mailbox, garbage).state, ("done", "failed"))
        self.assertEqual(self.row_of(mailbox, good).state, "done")

    def test_exception_mid_batch_then_rerun_imports_each_mail_once(self):
        mailbox = self.create_mailbox()
        sent = [self.deliver(subject=f"Case {n}") for n in range(6)]
        real_route = MailImporter._route_to_gateway
        calls = {"n": 0}

        def crash_on_fourth(row, *args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 4:
                raise RuntimeError("worker died")
            return real_route(row, *args, **kwargs)

        with (
            patch.object(MailImporter, "_route_to_gateway", crash_on_fourth),
            mute_logger("odoo.addons.mail_scanner_oauth2.sync.gateway"),
        ):
            self.sync(mailbox)
        self.assertEqual(mailbox.count_failed, 1)
        self.sync(mailbox)
        self.sync(mailbox)
        for graph_msg in sent:
            self.assertEqual(len(self.tickets_of(graph_msg)), 1, graph_msg.subject)
        self.assertEqual(set(self.ledger(mailbox).mapped("state")), {"done"})
        self.assertEqual(len(self.ledger(mailbox)), 6)

    def test_mail_without_message_id_is_not_duplicated_on_retry(self):
        mailbox = self.create_mailbox()
        raw = (
            b"From: Bob <bob@customer.example>\r\nTo: support@contoso.example\r\n"
            b"Subject: No id\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\n\r\nbody\r\n"
        )
        graph_msg = self.deliver_raw(raw)
        self.sync(mailbox)
        row = self.row_of(mailbox, graph_msg)
        self.assertEqual(row.state, "done")
        # An import interrupted after Odoo saved it comes back as a retry:
        row.write({"state": "pending"})
        self.sync(mailbox)
        self.assertEqual(row.state, "duplicate")
        self.assertEqual(
            self.env["helpdesk.ticket"].search_count([("name", "=", "No id")]), 1
        )

    def test_throttling_and_token_expiry_lose_nothing(self):
        self.emu.faults.retry_after = 0
        mailbox = self.create_mailbox()
        sent = [
            self.deliver(subject=f"Throttled {n}", sender=f"c{n}@customer.example")
            for n in range(25)
        ]
        self.emu.expire_tokens()
        self.emu.faults.script(["429", None, "503", "429-entry", None, "429"])
        for _run in range(4):
            self.sync(mailbox)
        self.assertEqual(mailbox.state, "running", mailbox.last_error)
        for graph_msg in sent:
            self.assertEqual(len(self.tickets_of(graph_msg)), 1, graph_msg.subject)
        self.assertEqual(len(self.ledger(mailbox)), 25)

    def test_after_import_mark_read_only_when_committed(self):
        mailbox = self.create_mailbox()
        graph_msg = self.deliver()
        with (
            patch.object(
                MailImporter, "_route_to_gateway", side_effect=RuntimeError("boom")
            ),
            mute_logger("odoo.addons.mail_scanner_oauth2.sync.gateway"),
        ):
            self.sync(mailbox)
        self.assertFalse(self.graph_mailbox.get(graph_msg.immutable_id).is_read)
        self.sync(mailbox)
        self.assertTrue(self.graph_mailbox.get(graph_msg.immutable_id).is_read)
        self.assertTrue(self.row_of(mailbox, graph_msg).after_import_done)

    def test_after_import_move(self):
        processed = self.graph_mailbox.add_folder("Processed", parent="inbox")
        mailbox = self.create_mailbox()
        folder = self.env["mail.scanner.folder"].search(
            [("mailbox_id", "=", mailbox.id), ("graph_id", "=", processed.id)]
        )
        mailbox.write({"after_import": "move", "move_folder_id": folder.id})
        graph_msg = self.deliver()
        self.sync(mailbox)
        moved = self.graph_mailbox.get(graph_msg.immutable_id)
        self.assertEqual(moved.folder, processed)
        self.assertTrue(self.row_of(mailbox, graph_msg).after_import_done)
        # The move shows in the inbox's delta as a removal: nothing new is created.
        self.sync(mailbox)
        self.assertEqual(len(self.ledger(mailbox)), 1)

    def test_leave_untouched(self):
        mailbox = self.create_mailbox(after_import="none")
        graph_msg = self.deliver()
        self.sync(mailbox)
        self.assertFalse(self.graph_mailbox.get(graph_msg.immutable_id).is_read)
        self.assertTrue(self.row_of(mailbox, graph_msg).after_import_done)

    def test_mail_read_by_a_person_is_still_imported(self):
        mailbox = self.create_mailbox()
        graph_msg = self.deliver()
        self.graph_mailbox.set_read(graph_msg, True)
        self.sync(mailbox)
        self.assertEqual(self.row_of(mailbox, graph_msg).state, "done")

    def test_expired_secret_puts_mailbox_in_error_and_cron_goes_on(self):
        mailbox = self.create_mailbox()
        self.graph_app.secret_expired = True
        self.emu.expire_tokens()
        self.deliver()
        done, _remaining = self.env["mail.scanner.mailbox"]._cron_sync_mailboxes()
        self.assertEqual(done, 0)
        self.assertEqual(mailbox.state, "error")
        self.assertIn("expired", mailbox.last_error.lower())
        self.assertNotIn(self.graph_app.secret, mailbox.last_error)
        self.graph_app.secret_expired = False
        self.sync(mailbox)
        self.assertEqual(mailbox.state, "running")
        self.assertFalse(mailbox.last_error)
        self.assertEqual(mailbox.count_done, 1)

    def test_old_log_entries_are_purged_and_never_imported_again(self):
        """Retention removes old rows of handled mail in batches; failed rows stay;
        a removed row never makes its mail importable again, even when Graph's
        delta state expires and the whole folder is listed again."""
        mailbox = self.create_mailbox(retention_days=30)
        old, recent = self.deliver(subject="Old one"), self.deliver(subject="New")
        self.sync(mailbox)
        failed = self.deliver(subject="Broken")
        self.sync(mailbox)
        long_ago = fields.Datetime.now() - timedelta(days=45)
        rows = self.row_of(mailbox, old) | self.row_of(mailbox, failed)
        rows.write({"processed_date": long_ago})
        self.row_of(mailbox, failed).write({"state": "failed"})
        self.env["mail.scanner.mailbox"]._cron_purge_ledger()
        self.assertFalse(self.row_of(mailbox, old), "purged")
        self.assertTrue(self.row_of(mailbox, recent), "kept: recent")
        self.assertTrue(self.row_of(mailbox, failed), "kept: not resolved")
        tickets_before = self.env["helpdesk.ticket"].search_count([])
        self.emu.invalidate_delta_tokens()  # Graph lists the whole folder again
        self.sync(mailbox)
        again = self.row_of(mailbox, old)
        self.assertEqual(again.state, "duplicate", "the Message-ID guard holds")
        self.assertEqual(self.env["helpdesk.ticket"].search_count([]), tickets_before)
