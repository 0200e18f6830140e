# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Real mail never stops the scanner and never mixes customers."""

import contextlib
from unittest.mock import patch

from odoo import SUPERUSER_ID, api
from odoo.tests import tagged
from odoo.tools import mute_logger

from ..graph.download import STREAM_ABOVE_BYTES
from ..models.mail_scanner_message import MAX_INTERRUPTIONS
from ..sync.gateway import MailImporter
from ..sync.protocol import MailboxSync
from .common import MailScannerCase

RFC6532 = (
    "From: Jöhn Döe <jdöe@mächine.example>\r\n"
    "To: suporte <support@contoso.example>\r\n"
    "Subject: Überprüfung der Rechnung, fatura não chegou\r\n"
    "Message-ID: <ünïcode-1@mächine.example>\r\n"
    "Date: Mon, 30 Nov 2026 10:00:00 +0000\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n\r\n"
    "Grüße aus München, a fatura não chegou.\r\n"
).encode()

CUT_HEADERS = (
    b"From: Carla <carla@customer.example>\r\n"
    b"To: support@contoso.example\r\n"
    b"Subject: Header block cut short\r\n"
    b"quite Delivered-To: support@contoso.example\r\n"
    b"Message-ID: <hidden-after-bad-line@customer.example>\r\n"
    b"Date: Mon, 30 Nov 2026 10:00:00 +0000\r\n\r\n"
    b"The line above is not a header: Python stops reading headers there.\r\n"
)

GATEWAY_LOGGER = "odoo.addons.mail_scanner_oauth2.sync.gateway"


@tagged("post_install", "-at_install")
class TestRobustness(MailScannerCase):
    def setUp(self):
        super().setUp()
        self.mailbox = self.create_mailbox()

    def assert_running_and_imported(self, *graph_msgs):
        self.assertEqual(self.mailbox.state, "running", self.mailbox.last_error)
        for graph_msg in graph_msgs:
            row = self.row_of(self.mailbox, graph_msg)
            self.assertEqual(row.state, "done", row.reason)
            self.assertTrue(row.ticket_id)

    # ------------------------------------------------- no value stops a mailbox
    def test_utf8_headers_rfc6532(self):
        odd = self.deliver_raw(RFC6532)
        normal = self.deliver(subject="Normal mail after it")
        self.sync(self.mailbox)
        self.assert_running_and_imported(odd, normal)
        ticket = self.row_of(self.mailbox, odd).ticket_id
        self.assertIn("Rechnung", ticket.name)

    def test_graph_string_with_a_lone_surrogate(self):
        """Graph's JSON may escape a lone surrogate (\\ud800): it is stored with a
        replacement character, and the page, the delta link and the other mails
        go on."""
        odd = self.deliver(subject="Fatura de março")
        odd.parsed.subject = "Fatura \ud800 de mar\udcc3o"
        odd.parsed.from_ = ("Ana \udfff", "ana\udcc3@customer.example")
        after = self.deliver(subject="Depois")
        self.sync(self.mailbox)
        self.assert_running_and_imported(odd, after)
        self.assertIn("\ufffd", self.row_of(self.mailbox, odd).subject)
        self.assertTrue(self.mailbox.delta_link)

    def test_a_row_the_database_refuses_becomes_a_failed_row(self):
        """Even a value nothing could clean must not cost the rest of the page."""
        first = self.deliver(subject="One")
        second = self.deliver(subject="Two")
        third = self.deliver(subject="Three")
        Ledger = type(self.env["mail.scanner.message"])
        real_values = Ledger._values_of_ref

        def refuse_two(mailbox, graph_id, ref):
            values = real_values(mailbox, graph_id, ref)
            if ref.subject == "Two":
                values["received_date"] = "not a date"
            return values

        with (
            patch.object(Ledger, "_values_of_ref", staticmethod(refuse_two)),
            patch.object(Ledger, "_importable", lambda *args: Ledger.browse()),
            mute_logger("odoo.sql_db", "odoo.addons.mail_scanner_oauth2"),
        ):
            self.mailbox._sync_once()
        self.assertTrue(self.mailbox.delta_link, "the round completed")
        row = self.row_of(self.mailbox, second)
        self.assertEqual(row.state, "failed")
        self.assertIn("could not be stored", row.reason)
        self.assertEqual(self.row_of(self.mailbox, first).state, "pending")
        self.assertEqual(self.row_of(self.mailbox, third).state, "pending")
        # Failed rows are retried: it is imported from its content alone.
        self.sync(self.mailbox)
        for graph_msg in (first, second, third):
            self.assertEqual(self.row_of(self.mailbox, graph_msg).state, "done")
            self.assertEqual(len(self.tickets_of(graph_msg)), 1)

    # --------------------------------------------------- one notion of Message-ID
    def test_message_id_after_a_malformed_header_line(self):
        """The gateway does not see a Message-ID after the bad line; neither does
        the scanner, which gives the mail its stable one: the ticket is linked,
        and Retry never makes a second one."""
        graph_msg = self.deliver_raw(CUT_HEADERS)
        self.sync(self.mailbox)
        row = self.row_of(self.mailbox, graph_msg)
        self.assertEqual((row.state, row.outcome), ("done", "ticket"), row.reason)
        self.assertTrue(row.mail_message_id)
        self.assertEqual(row.mail_message_id.res_id, row.ticket_id.id)
        self.assertIn("mail-scanner@graph.invalid", row.mail_message_id.message_id)
        orphans = self.env["helpdesk.ticket"].search(
            [("name", "=", "Header block cut short")]
        )
        self.assertEqual(orphans, row.ticket_id, "no ticket without its ledger row")
        row.write({"state": "pending"})  # as if the outcome had been lost
        self.sync(self.mailbox)
        self.assertEqual(row.state, "duplicate")
        self.assertEqual(
            self.env["helpdesk.ticket"].search_count(
                [("name", "=", "Header block cut short")]
            ),
            1,
        )

    def test_outcome_comes_from_the_gateway_not_from_the_newest_ticket(self):
        """A ticket created at the same moment elsewhere (portal, another worker)
        must not make a reply look like a new ticket, nor the reverse."""
        first = self.deliver(subject="Impressora")
        self.sync(self.mailbox)
        ticket = self.row_of(self.mailbox, first).ticket_id
        reply = self.deliver(
            subject="RE: Impressora",
            in_reply_to=first.internet_message_id,
            references=[first.internet_message_id],
        )
        real_process = type(self.env["mail.thread"]).message_process

        def portal_ticket_meanwhile(thread, *args, **kwargs):
            result = real_process(thread, *args, **kwargs)
            # Another transaction (the portal, another worker), committed while
            # the scanner's import is still open.
            with self.registry.cursor() as cr:
                ticket = api.Environment(cr, SUPERUSER_ID, {})["helpdesk.ticket"]
                other = ticket.create(
                    {
                        "name": "Opened on the portal",
                        "number": "PORTAL-1",
                        "description": "Typed on the portal.",
                    }
                )
                self.addCleanup(self._drop_ticket, other.id)
            return result

        with patch.object(
            type(self.env["mail.thread"]), "message_process", portal_ticket_meanwhile
        ):
            self.sync(self.mailbox)
        row = self.row_of(self.mailbox, reply)
        self.assertEqual((row.outcome, row.ticket_id), ("reply", ticket))

    def _drop_ticket(self, ticket_id):
        with self.registry.cursor() as cr:
            api.Environment(cr, SUPERUSER_ID, {})["helpdesk.ticket"].browse(
                ticket_id
            ).unlink()

    # ---------------------------------------------------- threads never cross
    def test_common_subject_from_strangers_opens_separate_tickets(self):
        """Exchange may put mails with one subject into one conversation; a
        stranger's "Invoice" must not land in another customer's ticket."""
        first = self.deliver(subject="Invoice", sender="ana@customer.example")
        self.sync(self.mailbox)
        stranger = self.deliver_raw(
            self._plain("Invoice", "bob@other.example"),
            conversation_id=first.conversation_id,
        )
        self.sync(self.mailbox)
        first_row = self.row_of(self.mailbox, first)
        row = self.row_of(self.mailbox, stranger)
        self.assertEqual(row.outcome, "ticket")
        self.assertNotEqual(row.ticket_id, first_row.ticket_id)
        self.assertEqual(row.ticket_id.partner_id.email, "bob@other.example")

    def test_conversation_reply_from_the_customer_is_threaded(self):
        """Outlook mobile drops References: the customer's own reply is still
        threaded by Graph's conversationId."""
        first = self.deliver(subject="VPN cai", sender="ana@customer.example")
        self.sync(self.mailbox)
        reply = self.deliver_raw(
            self._plain("RE: VPN cai", "Ana <ana@customer.example>"),
            conversation_id=first.conversation_id,
        )
        self.sync(self.mailbox)
        row = self.row_of(self.mailbox, reply)
        self.assertEqual(row.outcome, "reply")
        self.assertEqual(row.ticket_id, self.row_of(self.mailbox, first).ticket_id)

    def test_conversation_reply_from_a_cc_recipient_is_threaded(self):
        first = self.deliver(
            subject="Entrega atrasada",
            sender="ana@customer.example",
            cc=["Paula <paula@customer.example>"],
        )
        self.sync(self.mailbox)
        reply = self.deliver_raw(
            self._plain("RE: Entrega atrasada", "paula@customer.example"),
            conversation_id=first.conversation_id,
        )
        self.sync(self.mailbox)
        self.assertEqual(self.row_of(self.mailbox, reply).outcome, "reply")

    def test_common_subjects_under_both_conversation_modes(self):
        """However Exchange groups mails without References (by normalised subject,
        or not at all), strangers never share a ticket and the customer's own
        header-less reply is threaded whenever Graph links it."""
        for mode in ("subject", "references"):
            with self.subTest(mode=mode), self.emu.temporarily(conversation_mode=mode):
                subject = f"test {mode}"
                first = self.deliver_raw(self._plain(subject, "ana@customer.example"))
                self.sync(self.mailbox)
                strangers = [
                    self.deliver_raw(self._plain(subject, f"s{n}@other{n}.example"))
                    for n in range(3)
                ]
                reply = self.deliver_raw(
                    self._plain(f"RE: {subject}", "ana@customer.example")
                )
                self.sync(self.mailbox)
                ticket = self.row_of(self.mailbox, first).ticket_id
                same_conversation = reply.conversation_id == first.conversation_id
                self.assertEqual(same_conversation, mode == "subject")
                for n, stranger in enumerate(strangers):
                    row = self.row_of(self.mailbox, stranger)
                    self.assertEqual(row.outcome, "ticket", row.reason)
                    self.assertEqual(
                        row.ticket_id.partner_id.email, f"s{n}@other{n}.example"
                    )
                reply_row = self.row_of(self.mailbox, reply)
                if same_conversation:
                    self.assertEqual(
                        (reply_row.outcome, reply_row.ticket_id), ("reply", ticket)
                    )
                else:
                    self.assertEqual(reply_row.outcome, "ticket")
                followers = ticket.message_partner_ids.mapped("email")
                self.assertFalse(
                    [f for f in followers if "other" in (f or "")],
                    "no stranger follows the customer's ticket",
                )

    def _plain(self, subject, sender):
        return (
            f"From: {sender}\r\nTo: support@contoso.example\r\nSubject: {subject}\r\n"
            "Date: Mon, 30 Nov 2026 11:00:00 +0000\r\n\r\nNo References here.\r\n"
        ).encode()

    # -------------------------------------------------- nothing blocks for good
    def test_empty_item_says_empty(self):
        empty = self.deliver_raw(b"")
        after = self.deliver(subject="After the empty one")
        self.sync(self.mailbox)
        row = self.row_of(self.mailbox, empty)
        self.assertEqual(row.state, "ignored")
        self.assertIn("Empty item", row.reason)
        self.assertEqual(row.attempts, 1, "said once, not retried five times")
        self.assert_running_and_imported(after)

    def test_import_that_kills_the_worker_is_set_aside(self):
        """A mail whose import dies with the worker (memory or time limit) is
        counted before it starts, retried, then set aside; the others go on."""
        poison = self.deliver(subject="Poison")
        good = self.deliver(subject="Good")
        real_import = MailImporter.import_mail

        def die_on_poison(importer, row, raw):
            if b"Poison" in raw:
                raise SystemExit("worker killed")  # not caught, like SIGKILL
            return real_import(importer, row, raw)

        with patch.object(MailImporter, "import_mail", die_on_poison):
            for _kill in range(MAX_INTERRUPTIONS):
                # Not assertRaises: Odoo's rolls its block back, a killed worker's
                # committed attempt is what this test is about.
                died = False
                try:
                    self.sync(self.mailbox)
                except SystemExit:
                    died = True
                self.assertTrue(died, "the import should have died")
            importers = []
            real_init = MailImporter.__init__

            def remember(importer, *args, **kwargs):
                real_init(importer, *args, **kwargs)
                importers.append(importer)

            with patch.object(MailImporter, "__init__", remember):
                self.sync(self.mailbox)
        row = self.row_of(self.mailbox, poison)
        self.assertEqual(row.state, "failed")
        self.assertTrue(importers)
        self.assertEqual(
            [dict(importer._prepared) for importer in importers],
            [{}] * len(importers),
            "a mail set aside unread is not kept prepared to the end of the slice",
        )
        self.assertEqual(row.interruptions, MAX_INTERRUPTIONS)
        self.assertIn("interrupted 2 times", row.reason)
        self.assertIn("--limit-memory-hard", row.reason)
        self.assertEqual(self.row_of(self.mailbox, good).state, "done")
        self.assertFalse(
            self.env["mail.scanner.message"]._importable(self.mailbox, 10),
            "set aside: no automatic retry",
        )
        row.action_retry()
        self.sync(self.mailbox)
        self.assertEqual(row.state, "done", "Retry imports it once the cause is gone")

    def test_a_run_killed_again_on_an_interrupted_mail_reported_progress(self):
        """Odoo counts a job run that was killed without reporting progress, for
        the third time in a row, as a failure of the whole job: the run that
        records a mail's interruption reports progress before the import."""
        self.deliver(subject="Poison")
        real_import = MailImporter.import_mail

        def die_on_poison(importer, row, raw):
            if b"Poison" in raw:
                raise SystemExit("worker killed")
            return real_import(importer, row, raw)

        reported = []
        with patch.object(MailImporter, "import_mail", die_on_poison):
            for _kill in range(MAX_INTERRUPTIONS):
                reported.clear()
                with contextlib.suppress(SystemExit):
                    MailboxSync(self.mailbox, progress=reported.append).run()
        self.assertEqual(reported, [1], "the second killed run had reported progress")

    def test_an_error_outside_the_gateway_guard_costs_one_mail_with_words(self):
        broken = self.deliver(subject="Broken")
        after = self.deliver(subject="After the broken one")
        real_prepared = MailImporter._prepared_mail

        def bug_on_broken(importer, info, raw):
            if b"Broken" in raw:
                raise IndexError("list index out of range")
            return real_prepared(importer, info, raw)

        with (
            patch.object(MailImporter, "_prepared_mail", bug_on_broken),
            mute_logger("odoo.addons.mail_scanner_oauth2.sync.protocol"),
        ):
            self.sync(self.mailbox)
        row = self.row_of(self.mailbox, broken)
        self.assertEqual(row.state, "failed")
        self.assertEqual(row.interruptions, 0, "not taken for a killed worker")
        self.assertIn("IndexError: list index out of range", row.reason)
        self.assertFalse(self.mailbox.last_error)
        self.assert_running_and_imported(after)

    def test_memory_error_in_the_gateway_fails_the_mail_with_words(self):
        poison = self.deliver(subject="Huge")
        good = self.deliver(subject="Small")
        real_route = MailImporter._route_to_gateway

        def no_memory(importer, facts, *args):
            if facts.subject == "Huge":
                raise MemoryError()
            return real_route(importer, facts, *args)

        with patch.object(MailImporter, "_route_to_gateway", no_memory):
            self.sync(self.mailbox)
        row = self.row_of(self.mailbox, poison)
        self.assertEqual(row.state, "failed")
        self.assertIn("ran out of memory", row.reason)
        self.assert_running_and_imported(good)

    def test_a_mail_odoo_cannot_read_is_set_aside_at_once(self):
        """An unknown charset gives the same error on every attempt: said once,
        not retried five times, and Retry stays possible."""
        unreadable = self.deliver_raw(
            b"From: Ivan <ivan@customer.example>\r\nTo: support@contoso.example\r\n"
            b"Subject: =?x-mac-cyrillic?B?8eXw4uXw?=\r\n"
            b"Message-ID: <mac-1@customer.example>\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=x-mac-cyrillic\r\n\r\n\xf1\xe5\r\n"
        )
        after = self.deliver(subject="After it")
        for _run in range(3):
            self.sync(self.mailbox)
        row = self.row_of(self.mailbox, unreadable)
        if row.state == "failed":  # Odoo may one day read this charset
            self.assertEqual(row.attempts, 1)
            self.assertIn("not retried automatically", row.reason)
            self.assertFalse(row.retry_automatically)
        self.assert_running_and_imported(after)

    def test_an_error_without_words_still_reaches_the_mailbox_with_words(self):
        self.deliver()
        Client = type(self.mailbox.app_id._graph_client())
        with (
            patch.object(Client, "fetch_mime", side_effect=MemoryError()),
            mute_logger("odoo.addons.mail_scanner_oauth2"),
        ):
            self.sync(self.mailbox)
        self.assertEqual(self.mailbox.state, "error")
        self.assertIn("out of memory", self.mailbox.last_error)

    def test_large_mail_is_streamed_alone_never_inside_a_batch(self):
        big = self.deliver(
            subject="Scan",
            attachments=[
                ("scan.bin", b"\x01" * (STREAM_ABOVE_BYTES + 1024), "image/tiff")
            ],
        )
        small = [self.deliver(subject=f"Small {n}") for n in range(3)]
        self.emu.log.clear()
        self.sync(self.mailbox)
        self.assert_running_and_imported(big, *small)
        alone = [
            r for r in self.emu.log.select(in_batch=False, path_contains="/$value")
        ]
        self.assertEqual(len(alone), 1)
        self.assertIn(big.immutable_id, alone[0].path)
        batched = self.emu.log.select(in_batch=True, path_contains="/$value")
        self.assertEqual(len(batched), 3)
        self.assertNotIn(big.immutable_id, " ".join(r.path for r in batched))
        attachment = self.row_of(self.mailbox, big).mail_message_id.attachment_ids
        self.assertEqual(attachment.file_size, STREAM_ABOVE_BYTES + 1024)
