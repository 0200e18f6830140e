# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Each mailbox's slice of work as a queue job.

The mailbox's scheduled job (and "Sync now", a start, a change notification) only
enqueues a job on the ``root.mail_scanner`` channel; queue_job's runner hands the
jobs to Odoo's HTTP workers, as many at once as the channel's capacity allows. One
job per mailbox waits at a time (identity key); one runs at a time (the import
protocol's advisory lock: a second one is postponed a few seconds).

A slice that leaves work enqueues the next one. A mailbox that fails shows one
failed job in queue_job's screens (as well as its health on the mailbox), set done
once the mailbox works again.
"""

import time

from odoo import api, models
from odoo.exceptions import UserError
from odoo.tools import config

from odoo.addons.mail_scanner_oauth2.sync.scheduling import (
    PARAM_ENGINE,
    SCANNED_STATES,
    MailboxJobs,
    job_name,
    run_slice,
)
from odoo.addons.queue_job.exception import RetryableJobError

CHANNEL = "root.mail_scanner"
# Another worker holds the mailbox: this job waits that long and runs again.
BUSY_RETRY_SECONDS = 5
# Share of the HTTP workers' time limit one slice may use (queue jobs run there).
TIME_BUDGET_SHARE = 0.5
DEFAULT_TIME_BUDGET = 300


def queue_time_budget():
    """Seconds a slice may spend importing, from the HTTP workers' time limit."""
    limit = config.get("limit_time_real") or 0
    return max(limit * TIME_BUDGET_SHARE, 1) if limit > 0 else DEFAULT_TIME_BUDGET


class MailScannerMailbox(models.Model):
    _inherit = "mail.scanner.mailbox"

    def _uses_queue_job(self):
        engine = self.env["ir.config_parameter"].sudo().get_param(PARAM_ENGINE)
        return engine != "cron"

    def _identity_key(self):
        return f"mail_scanner_oauth2_mailbox_{self.id}"

    def _start_job(self):
        if not self._uses_queue_job():
            return super()._start_job()
        for mailbox in self.sudo():
            mailbox.with_delay(
                channel=CHANNEL,
                identity_key=mailbox._identity_key(),
                description=job_name(mailbox),
            )._queue_sync_slice()

    @api.model
    def _cron_sync_mailbox(self, mailbox_id):
        """The mailbox's scheduled job polls by enqueuing its slice."""
        if not self._uses_queue_job():
            return super()._cron_sync_mailbox(mailbox_id)
        mailbox = self.sudo().with_context(active_test=False).browse(mailbox_id)
        if mailbox.exists() and MailboxJobs.wanted_active(mailbox):
            mailbox._start_job()

    def _queue_sync_slice(self):
        """One slice of this mailbox's work (the queue job)."""
        self.ensure_one()
        mailbox = self.sudo().with_context(active_test=False)
        if not mailbox.exists() or mailbox.state not in SCANNED_STATES:
            return "Not scanned"
        deadline = time.monotonic() + queue_time_budget()
        result = run_slice(mailbox, deadline=deadline)
        if result.busy:
            raise RetryableJobError(
                "Another worker imports this mailbox",
                seconds=BUSY_RETRY_SECONDS,
                ignore_retry=True,
            )
        failed = mailbox._failed_slices()
        if result.failed and not failed:
            # Shown once in queue_job's screens (the mailbox's own alerts say the
            # rest); what the slice did is committed already.
            self.env.cr.commit()  # pylint: disable=invalid-commit
            raise UserError(mailbox.last_error)
        if not result.failed and failed:
            failed.button_done()
        return f"{result.done} imported, {result.pending} pending"

    def _failed_slices(self):
        return (
            self.env["queue.job"]
            .sudo()
            .search(
                [("identity_key", "=", self._identity_key()), ("state", "=", "failed")]
            )
        )
