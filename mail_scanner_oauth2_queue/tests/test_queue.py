# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Mailboxes imported as queue jobs: one job per mailbox at a time, performed as
queue_job's runner has Odoo's workers perform them, failures in queue_job's screens.

An HttpCase: the jobs commit mail by mail in a cursor of their own, which in tests
is a cursor on the test's transaction.
"""

from graph_emulator.samples import make_eml

import odoo
from odoo.exceptions import UserError
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from odoo.addons.mail_scanner_oauth2.sync.protocol import LOCK_NAMESPACE
from odoo.addons.mail_scanner_oauth2.sync.scheduling import PARAM_ENGINE
from odoo.addons.mail_scanner_oauth2.tests.common import MailScannerCase
from odoo.addons.queue_job.controllers.main import RunJobController
from odoo.addons.queue_job.exception import RetryableJobError
from odoo.addons.queue_job.job import Job
from odoo.addons.queue_job.tests.common import trap_jobs

from ..models.mail_scanner_mailbox import CHANNEL


@tagged("post_install", "-at_install")
class TestQueuedMailboxes(MailScannerCase, HttpCase):
    def setUp(self):
        super().setUp()
        self.env["ir.config_parameter"].sudo().set_param(PARAM_ENGINE, "queue_job")
        self.enterContext(self.emu.temporarily("tidy"))

    def jobs_of(self, mailbox, states=("pending", "enqueued")):
        return self.env["queue.job"].search(
            [("identity_key", "=", mailbox._identity_key()), ("state", "in", states)]
        )

    def perform(self, queue_job):
        """What queue_job's /queue_job/runjob does with an enqueued job."""
        job = Job.load(self.env, queue_job.uuid)
        job.set_started()
        job.store()
        self.env.flush_all()  # committed by the controller before the job runs
        RunJobController._runjob(self.env, job)
        self.env.invalidate_all()

    def perform_failing(self, queue_job):
        try:
            self.perform(queue_job)
        except UserError as exc:
            return exc
        self.fail("the job did not fail")

    def test_a_slice_is_enqueued_on_the_mail_scanner_channel(self):
        mailbox = self.create_mailbox()
        with trap_jobs() as trap:
            mailbox.action_sync_now()
            trap.assert_jobs_count(1, only=mailbox._queue_sync_slice)
            trap.assert_enqueued_job(
                mailbox.sudo()._queue_sync_slice,
                properties={
                    "channel": CHANNEL,
                    "identity_key": mailbox._identity_key(),
                },
            )
            self.deliver(subject="Trapped")
            trap.perform_enqueued_jobs()
        self.assertEqual(self.ledger(mailbox).mapped("state"), ["done"])

    def test_one_job_per_mailbox_and_each_performed(self):
        first = self.create_mailbox()
        second, second_graph = self.mailbox_of_another_company(
            "help@second.example", "Second company"
        )
        mail = self.deliver(subject="For the first company")
        other = second_graph.deliver(
            make_eml(
                "For the second company",
                "b@customer.example",
                second_graph.address,
                "Hello from the second company.",
            )
        )
        for _poll in range(3):  # the mailboxes' own scheduled jobs poll, notified
            first._trigger_sync()
            second.job_id.method_direct_trigger()
        (first_job,) = self.jobs_of(first)
        (second_job,) = self.jobs_of(second)
        self.assertEqual((first_job.channel, second_job.channel), (CHANNEL, CHANNEL))
        self.assertEqual(first_job.job_function_id.allow_commit, True)
        self.perform(first_job)
        self.perform(second_job)
        self.assertEqual((first_job.state, second_job.state), ("done", "done"))
        self.assertEqual(self.tickets_of(mail).company_id, first.company_id)
        ticket = self.env["helpdesk.ticket"].search(
            [("message_ids.message_id", "=", other.internet_message_id)]
        )
        self.assertEqual(ticket.company_id, second.company_id)
        self.assertFalse(self.jobs_of(first) | self.jobs_of(second), "nothing left")

    def test_a_slice_with_mail_left_enqueues_the_next(self):
        mailbox = self.create_mailbox(batch_limit=2)
        for n in range(5):
            self.deliver(subject=f"Burst {n}", sender=f"c{n}@customer.example")
        for _slice in range(3):
            (job,) = self.jobs_of(mailbox)
            self.perform(job)
        self.assertEqual(mailbox.count_done, 5)
        self.assertFalse(self.jobs_of(mailbox))

    def test_a_failing_mailbox_shows_once_in_queue_job_and_heals(self):
        mailbox = self.create_mailbox()
        self.graph_app.secret_expired = True
        self.emu.expire_tokens()
        with (
            mute_logger("odoo.addons.queue_job.controllers.main"),
            mute_logger("odoo.addons.mail_scanner_oauth2.sync.health"),
        ):
            # Not assertRaises: it would roll back what the controller stored.
            failure = self.perform_failing(self.jobs_of(mailbox))
            mailbox._start_job()
            self.perform(self.jobs_of(mailbox))  # still failing: shown once
        self.assertIn("expired", str(failure))
        failed = self.jobs_of(mailbox, states=("failed",))
        self.assertEqual(len(failed), 1)
        self.assertIn("expired", failed.exc_message.lower())
        self.assertNotIn(self.graph_app.secret, failed.exc_info)
        self.assertEqual(mailbox.state, "error", "the mailbox's health says it too")
        self.graph_app.secret_expired = False
        mailbox._start_job()
        self.perform(self.jobs_of(mailbox))
        self.assertEqual(mailbox.state, "running")
        self.assertFalse(self.jobs_of(mailbox, states=("failed",)), "set done")

    def test_busy_mailbox_waits_for_the_worker_that_holds_it(self):
        mailbox = self.create_mailbox()
        (job,) = self.jobs_of(mailbox)
        # Another worker (another database session) imports the mailbox.
        other = odoo.sql_db.db_connect(self.env.cr.dbname).cursor()
        try:
            other.execute(
                "SELECT pg_advisory_lock(%s, %s)", (LOCK_NAMESPACE, mailbox.id)
            )
            with self.assertRaises(RetryableJobError) as caught:
                Job.load(self.env, job.uuid).perform()
        finally:
            other.close()
        self.assertTrue(caught.exception.ignore_retry, "waiting is not a failure")
        self.assertEqual(caught.exception.seconds, 5)
