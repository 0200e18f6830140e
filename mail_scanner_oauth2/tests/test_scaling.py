# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Many companies, many workers: each mailbox's own scheduled job, run by Odoo's
cron worker code (``_acquire_one_job`` + ``_process_job``) on real connections with
real commits, as cron workers in their own threads or processes run it."""

import json
import os
import tempfile
import uuid
from unittest.mock import patch

from graph_emulator.samples import make_eml

from odoo import SUPERUSER_ID, api
from odoo.tests import TransactionCase, tagged
from odoo.tools import config, mute_logger

from ..sync import protocol
from .common import CommittedMailboxesMixin, run_odoo_shells

MAILS = 8
# What a cron worker does with the ready jobs, in an `odoo shell`: MSO_JOBS, the
# job ids in the order it meets them; MSO_MEET, a folder where each worker's first
# import waits for the other's; MSO_BUDGET, the time budget of its pass.
WORKER_SCRIPT = """
import json, os, pathlib, time
import odoo
import psycopg2
from odoo.addons.mail_scanner_oauth2.sync import protocol
from odoo.addons.mail_scanner_oauth2.sync.gateway import MailImporter

if os.environ.get("MSO_BUDGET"):
    protocol.time_budget = lambda: float(os.environ["MSO_BUDGET"])
meeting = os.environ.get("MSO_MEET")
if meeting:
    original, first = MailImporter.import_mail, []

    def import_mail(importer, row, mime):
        if not first:
            first.append(importer.mailbox.id)
            pathlib.Path(meeting, str(importer.mailbox.id)).touch()
            deadline = time.monotonic() + 30
            while len(os.listdir(meeting)) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            if len(os.listdir(meeting)) >= 2:
                print("MET", importer.mailbox.id, flush=True)
        return original(importer, row, mime)

    MailImporter.import_mail = import_mail
IrCron = env.registry["ir.cron"]
db = odoo.sql_db.db_connect(env.cr.dbname)
with db.cursor() as cron_cr:
    for job_id in json.loads(os.environ["MSO_JOBS"]):
        # As ir.cron._process_jobs: a job the other worker has just run and
        # committed fails to serialize here, and is skipped.
        try:
            job = IrCron._acquire_one_job(cron_cr, job_id)
        except psycopg2.extensions.TransactionRollbackError:
            cron_cr.rollback()
            print("SKIPPED", job_id, flush=True)
            continue
        if job:
            IrCron._process_job(db, cron_cr, job)
"""


@tagged("post_install", "-at_install")
class TestMailboxesInParallel(CommittedMailboxesMixin, TransactionCase):
    def setUp(self):
        super().setUp()
        self.graph = {}
        for n in range(2):
            mailbox_id, _company_id, graph_app, graph_mailbox = (
                self.committed_company_with_mailbox(
                    f"scale{n}-{uuid.uuid4().hex[:6]}@x.example",
                    f"Scale {n} {uuid.uuid4().hex[:6]}",
                )
            )
            self.graph[mailbox_id] = (graph_app, graph_mailbox)
            for k in range(MAILS):
                graph_mailbox.deliver(
                    make_eml(
                        f"Company {n} mail {k}",
                        f"c{k}@customer.example",
                        graph_mailbox.address,
                        f"Mail {k} of company {n}",
                    )
                )

    # ----------------------------------------------------------------- helpers
    def _job_ids(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            return env["mail.scanner.mailbox"].browse(self.mailbox_ids).job_id.ids

    def _workers(self, *job_lists, **options):
        """Odoo processes that each do what a cron worker does with the ready jobs
        (in this order): acquire one, process it, next. Returns their outputs."""
        envs = [
            dict(
                os.environ,
                MSO_JOBS=json.dumps(jobs),
                **{key: str(value) for key, value in options.items()},
            )
            for jobs in job_lists
        ]
        return run_odoo_shells(self, WORKER_SCRIPT, envs)

    def _state(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            result = {}
            for mailbox in env["mail.scanner.mailbox"].browse(self.mailbox_ids):
                rows = env["mail.scanner.message"].search(
                    [("mailbox_id", "=", mailbox.id)]
                )
                tickets = env["helpdesk.ticket"].search(
                    [("company_id", "=", mailbox.company_id.id)]
                )
                result[mailbox.id] = {
                    "state": mailbox.state,
                    "done": rows.filtered(lambda r: r.state == "done").ids,
                    "tickets": len(tickets),
                    "job_active": mailbox.job_id.active,
                }
            return result

    # ------------------------------------------------------------------- tests
    def test_two_companies_imported_by_two_workers_at_once(self):
        # Each worker's first import waits for the other's: both meet only if the
        # two mailboxes are imported at the same time.
        jobs = self._job_ids()
        with tempfile.TemporaryDirectory() as meeting:
            outputs = self._workers(jobs, list(reversed(jobs)), MSO_MEET=meeting)
        met = sorted(
            int(line.split()[1])
            for o in outputs
            for line in o.splitlines()
            if line.startswith("MET ")
        )
        self.assertEqual(met, sorted(self.mailbox_ids), f"imported at once: {outputs}")
        for mailbox_id, state in self._state().items():
            self.assertEqual(len(state["done"]), MAILS, mailbox_id)
            self.assertEqual(state["tickets"], MAILS, "each mail once, no mail lost")

    def test_a_failing_mailbox_does_not_stop_the_other(self):
        broken, working = self.mailbox_ids
        self.graph[broken][0].secret_expired = True
        self.emu.expire_tokens()
        with mute_logger("odoo.addons.mail_scanner_oauth2.sync.health"):
            self._workers(self._job_ids())  # one worker, the broken mailbox first
        state = self._state()
        self.assertEqual(state[broken]["state"], "error")
        self.assertEqual(state[broken]["tickets"], 0)
        self.assertEqual(len(state[working]["done"]), MAILS)
        self.assertEqual(state[working]["state"], "running")
        self.assertTrue(state[broken]["job_active"], "Odoo keeps the job: no failure")
        with self.registry.cursor() as cr:
            cr.execute(
                "SELECT failure_count FROM ir_cron WHERE id IN %s",
                (tuple(self._job_ids()),),
            )
            self.assertEqual({count for (count,) in cr.fetchall()}, {0})

    def test_a_spent_budget_ends_the_job_and_wakes_it_again(self):
        """A pass out of time stops starting mails, reports nothing remaining (Odoo
        would otherwise call the job again in the same pass, up to ten times, out
        of the watchdog's reach) and triggers the job for the worker's next pass."""
        first = self.mailbox_ids[0]
        job_id = self._job_ids()[0]
        self._workers([job_id], MSO_BUDGET=0.01)
        self.assertEqual(
            len(self._state()[first]["done"]), 1, "one mail, then out of time"
        )
        with self.registry.cursor() as cr:
            cr.execute(
                "SELECT done, remaining FROM ir_cron_progress WHERE cron_id = %s "
                "ORDER BY id DESC LIMIT 1",
                (job_id,),
            )
            self.assertEqual(cr.fetchone(), (1, 0), "one run in the pass, ended")
            cr.execute(
                "SELECT count(*) FROM ir_cron_trigger WHERE cron_id = %s "
                "AND call_at <= now() at time zone 'UTC'",
                (job_id,),
            )
            self.assertEqual(cr.fetchone()[0], 1, "ready again at once")
        # The next passes finish the mailbox.
        for _pass in range(MAILS):
            self._workers([job_id])
        self.assertEqual(len(self._state()[first]["done"]), MAILS)


@tagged("post_install", "-at_install")
class TestTimeBudget(TransactionCase):
    def budget(self, **options):
        values = {"limit_time_real": 120, "limit_time_real_cron": -1, "workers": 0}
        values.update(options)
        with patch.dict(config.options, values):
            return protocol.time_budget()

    def test_the_budget_fits_the_prefork_watchdog(self):
        # Prefork: the watchdog counts the cron worker's idle sleep (up to 69 s).
        self.assertEqual(self.budget(workers=2), 45)
        self.assertEqual(self.budget(workers=2, limit_time_real_cron=300), 150)
        # A limit that leaves no room after the sleep: half of it, as before.
        self.assertEqual(self.budget(workers=2, limit_time_real_cron=60), 30)
        # Threaded: the limit counts from the start of the pass.
        self.assertEqual(self.budget(), 60)
        self.assertEqual(self.budget(limit_time_real_cron=0, limit_time_real=0), 300)
