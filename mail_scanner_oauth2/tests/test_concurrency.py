# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Two cron runs at once on one mailbox, each with its own database connection
and real commits, as two Odoo worker processes would have."""

import tempfile
import threading
import uuid
from datetime import datetime, timedelta
from unittest.mock import patch

import psycopg2
from graph_emulator.samples import make_eml

from odoo import SUPERUSER_ID, api
from odoo.tests import TransactionCase, tagged
from odoo.tools import mute_logger

from ..sync.protocol import MailboxSync
from ..sync.scheduling import PARAM_ENGINE
from .common import (
    EmulatorRequestsMixin,
    point_at_emulator,
    shared_emulator,
    start_odoo_shell,
    use_cron_workers,
)

MAILS = 30


@tagged("post_install", "-at_install")
class TestConcurrentRuns(EmulatorRequestsMixin, TransactionCase):
    without_mailbox_lock = False

    def setUp(self):
        super().setUp()
        self.emu = shared_emulator()
        self.tenant = self.emu.add_tenant()
        self.graph_app = self.tenant.add_app(secret=f"value~{uuid.uuid4().hex}")
        self.graph_mailbox = self.tenant.add_mailbox("concurrent@contoso.example")
        self.company_id = None
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            point_at_emulator(env, self.emu)
            self.previous_engine = use_cron_workers(env)
            company = env["res.company"].create(
                {"name": f"Concurrent {uuid.uuid4().hex[:6]}"}
            )
            app = env["mail.scanner.azure.app"].create(
                {
                    "tenant_id": self.tenant.id,
                    "client_id": self.graph_app.client_id,
                    "client_secret": self.graph_app.secret,
                    "company_id": company.id,
                }
            )
            mailbox = env["mail.scanner.mailbox"].create(
                {
                    "account_kind": "microsoft",
                    "app_id": app.id,
                    "company_id": company.id,
                    "address": self.graph_mailbox.address,
                    "cutoff_date": datetime.now() - timedelta(minutes=1),
                }
            )
            self.company_id, self.mailbox_id = company.id, mailbox.id
        self.addCleanup(self._drop_committed_data)
        for n in range(MAILS):
            self.graph_mailbox.deliver(
                make_eml(
                    f"Concurrent {n}",
                    f"Client {n} <client{n}@customer.example>",
                    self.graph_mailbox.address,
                    f"Mail number {n}",
                )
            )

    def _drop_committed_data(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            mailbox = env["mail.scanner.mailbox"].browse(self.mailbox_id)
            tickets = (
                env["mail.scanner.message"]
                .search([("mailbox_id", "=", mailbox.id)])
                .ticket_id
            )
            tickets.unlink()
            app = mailbox.app_id
            mailbox.unlink()
            app.unlink()
            env["ir.config_parameter"].set_param(PARAM_ENGINE, self.previous_engine)

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
        with tempfile.NamedTemporaryFile("w", suffix=".py") as file:
            file.write(script)
            file.flush()
            workers = [
                start_odoo_shell(self.env.cr.dbname, file.name) for _n in range(2)
            ]
            outputs = [worker.communicate(timeout=300)[0] for worker in workers]
        for worker, output in zip(workers, outputs, strict=True):
            self.assertEqual(worker.returncode, 0, output.decode(errors="replace"))
            self.assertNotIn(b"Traceback", output, output.decode(errors="replace"))
        self._assert_each_mail_once()
