# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Two cron runs at once on one mailbox, each with its own database connection
and real commits, as two Odoo worker processes would have."""

import threading
import uuid
from unittest.mock import patch

import psycopg2
from graph_emulator.samples import make_eml

from odoo import SUPERUSER_ID, api
from odoo.tests import TransactionCase, tagged
from odoo.tools import mute_logger

from ..sync.protocol import MailboxSync
from .common import CommittedMailboxesMixin, run_odoo_shells

MAILS = 30


@tagged("post_install", "-at_install")
class TestConcurrentRuns(CommittedMailboxesMixin, TransactionCase):
    without_mailbox_lock = False

    def setUp(self):
        super().setUp()
        self.mailbox_id, self.company_id, _app, self.graph_mailbox = (
            self.committed_company_with_mailbox(
                "concurrent@contoso.example", f"Concurrent {uuid.uuid4().hex[:6]}"
            )
        )
        for n in range(MAILS):
            self.graph_mailbox.deliver(
                make_eml(
                    f"Concurrent {n}",
                    f"Client {n} <client{n}@customer.example>",
                    self.graph_mailbox.address,
                    f"Mail number {n}",
                )
            )

    def _run_in_own_transaction(self, env, errors, barrier):
        with env.cr:
            mailbox = env["mail.scanner.mailbox"].browse(self.mailbox_id)
            barrier.wait(timeout=30)
            for _run in range(5):
                try:
                    mailbox._sync_once()
                    env.cr.commit()
                except psycopg2.Error as exc:
                    # Without the mailbox lock, PostgreSQL refuses one of two
                    # concurrent writes: like a cron worker, drop the transaction.
                    if not self.without_mailbox_lock:
                        errors.append(exc)
                    env.cr.rollback()
                except Exception as exc:  # pylint: disable=broad-except
                    errors.append(exc)
                    env.cr.rollback()

    def _two_runs_at_once(self):
        errors, barrier = [], threading.Barrier(2)
        # The environments are made here: while tests run, this thread holds the
        # registry lock that a new environment in another thread would wait for.
        envs = [
            api.Environment(self.registry.cursor(), SUPERUSER_ID, {}) for _n in range(2)
        ]
        threads = [
            threading.Thread(
                target=self._run_in_own_transaction, args=(env, errors, barrier)
            )
            for env in envs
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        self.assertFalse(errors, errors)

    def _assert_each_mail_once(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            rows = env["mail.scanner.message"].search(
                [("mailbox_id", "=", self.mailbox_id)]
            )
            self.assertEqual(len(rows), MAILS, "a ledger row per mail, none twice")
            self.assertEqual(set(rows.mapped("state")), {"done"})
            tickets = env["helpdesk.ticket"].search(
                [("company_id", "=", self.company_id)]
            )
            self.assertEqual(
                len(tickets), MAILS, "one ticket per mail: none lost or doubled"
            )
            self.assertEqual(
                sorted(tickets.mapped("name")),
                sorted(f"Concurrent {n}" for n in range(MAILS)),
            )
        self.assertTrue(all(m.is_read for m in self.graph_mailbox.messages("inbox")))

    def test_two_runs_at_once(self):
        self._two_runs_at_once()
        self._assert_each_mail_once()

    def test_two_runs_at_once_without_the_mailbox_lock(self):
        # Even if the mailbox lock were lost, the per-message row locks and the
        # ledger keep every mail exactly once.
        self.without_mailbox_lock = True
        # PostgreSQL then refuses one of two concurrent writes; Odoo logs it.
        with (
            patch.object(MailboxSync, "_try_lock", lambda self: True),
            patch.object(MailboxSync, "_unlock", lambda self: None),
            mute_logger("odoo.sql_db"),
        ):
            self._two_runs_at_once()
        self._assert_each_mail_once()

    def test_two_odoo_processes_at_once(self):
        """Two real Odoo processes run the scanner on the same mailbox at once."""
        script = (
            f"mailbox = env['mail.scanner.mailbox'].browse({self.mailbox_id})\n"
            "for _run in range(5):\n"
            "    mailbox._sync_once()\n"
            "    env.cr.commit()\n"
        )
        run_odoo_shells(self, script, [None, None])
        self._assert_each_mail_once()
