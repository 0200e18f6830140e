# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Which worker imports a mailbox, when, and for how long.

Every mailbox has a scheduled job of its own (an ``ir.cron`` created, archived and
deleted with it, run as OdooBot every minute): Odoo's cron workers each take one job
at a time (``FOR NO KEY UPDATE SKIP LOCKED``), so with several cron workers
(``--max-cron-threads``, or ``--workers`` with cron workers) several mailboxes are
imported at once, and a slow or failing mailbox only holds its own job. Two runs on
one mailbox still exclude each other through the protocol's advisory lock.

A slice of a mailbox's work ends when its mails are imported or when the worker's
time budget is spent; the job then ends too (it reports nothing remaining, so Odoo
does not call it again in the same pass) and triggers itself, so that the worker
finishes its pass, pings Odoo's watchdog and is woken at once for the next slice.

A worker's pass over the ready jobs (``WorkerRound``) shares one budget: the prefork
watchdog times the whole pass from the worker's last ping, idle sleep included.
Mailboxes left out of a pass for lack of time go first in the worker's next pass, so
a burst in one mailbox does not starve the others.
"""

import logging
import threading
import time
from dataclasses import dataclass

from odoo import SUPERUSER_ID

from . import protocol
from .notifications import SCANNED_STATES

_logger = logging.getLogger(__name__)

MODULE = "mail_scanner_oauth2"
# The per-mailbox job's external id: mail_scanner_oauth2.<JOB_XMLID_PREFIX><mailbox id>
JOB_XMLID_PREFIX = "ir_cron_mail_scanner_mailbox_"
# System parameter read by the mail_scanner_oauth2_queue addon: "cron" keeps the
# mailboxes' slices in Odoo's cron workers although queue_job is installed.
PARAM_ENGINE = "mail_scanner_oauth2.job_engine"


def job_name(mailbox):
    """The name of the mailbox's job (its cron job, or its queue jobs)."""
    return mailbox.env._("Mail Scanner: import mail of %s", mailbox.name)


# ------------------------------------------------------------------ the job records
class MailboxJobs:
    """The scheduled jobs of some mailboxes: made, kept in step, woken, removed."""

    def __init__(self, mailboxes):
        self.mailboxes = mailboxes.sudo().with_context(active_test=False)
        self.env = self.mailboxes.env

    @staticmethod
    def wanted_active(mailbox):
        return bool(mailbox.active and mailbox.state in SCANNED_STATES)

    def ensure(self):
        """Creates the missing jobs (kept by module updates: noupdate external id)."""
        for mailbox in self.mailboxes.filtered(lambda m: not m.job_id):
            cron = self.env["ir.cron"].create(self._values(mailbox))
            self.env["ir.model.data"].create(
                {
                    "module": MODULE,
                    "name": f"{JOB_XMLID_PREFIX}{mailbox.id}",
                    "model": "ir.cron",
                    "res_id": cron.id,
                    "noupdate": True,
                }
            )
            mailbox.with_context(mail_scanner_starting=True).job_id = cron
        return self

    def _values(self, mailbox):
        return {
            "name": job_name(mailbox),
            "model_id": self.env["ir.model"]._get_id("mail.scanner.mailbox"),
            "state": "code",
            "code": f"model._cron_sync_mailbox({mailbox.id})",
            "interval_number": 1,
            "interval_type": "minutes",
            "user_id": SUPERUSER_ID,
            "active": self.wanted_active(mailbox),
        }

    def follow(self, renamed=False):
        """Activates the jobs of scanned mailboxes and deactivates the others. A job
        running right now cannot be written: it stays as it is and the mailbox's
        job or the upkeep job sets it right later (a job of a stopped mailbox does
        nothing)."""
        self.ensure()
        for mailbox in self.mailboxes:
            cron = mailbox.job_id
            vals = {}
            if cron.active != self.wanted_active(mailbox):
                vals["active"] = self.wanted_active(mailbox)
            if renamed and cron.name != job_name(mailbox):
                vals["name"] = job_name(mailbox)
            if vals and not cron.try_write(vals):
                _logger.info("Mail Scanner: job of %s busy, set later", mailbox.name)

    def trigger(self):
        """Runs each mailbox's own job as soon as a cron worker is free."""
        self.ensure()
        for mailbox in self.mailboxes:
            mailbox.job_id._trigger()

    def remove(self):
        crons = self.mailboxes.job_id
        # Odoo refuses to delete a job that runs now ("try again in a few minutes").
        crons.unlink()


# ------------------------------------------------------------- a worker's pass
class WorkerRound:
    """One pass of a cron worker over the ready jobs (one ``_process_jobs`` call,
    recognised by its cursor): its deadline, and which mailboxes it left out."""

    _local = threading.local()

    @classmethod
    def begin(cls, cron_cr):
        """Called before each job a worker runs; a new cursor is a new pass."""
        state = cls._local
        if getattr(state, "cursor", None) is cron_cr:
            return
        left_out = getattr(state, "left_out", set())
        state.cursor = cron_cr
        state.deadline = time.monotonic() + protocol.time_budget()
        state.previous_left_out = left_out
        state.left_out = set()
        state.served = 0

    @classmethod
    def current(cls, cron_id):
        """The pass running this cron job (``cron_id`` from the context Odoo's
        cron worker gives it), or None outside a cron worker's pass ("Run
        manually", a shell, a test)."""
        if not cron_id or getattr(cls._local, "cursor", None) is None:
            return None
        return cls()

    @property
    def deadline(self):
        return self._local.deadline

    def should_wait(self, mailbox_id):
        """True when this mailbox waits for a later pass: the pass's time is spent
        (a pass always serves one mailbox), or mailboxes left out of the previous
        pass go first."""
        state = self._local
        if state.served and time.monotonic() >= state.deadline:
            state.left_out.add(mailbox_id)
            return True
        previous = state.previous_left_out
        return bool(previous) and mailbox_id not in previous

    def served(self, mailbox_id):
        self._local.served += 1
        self._local.previous_left_out.discard(mailbox_id)


# ------------------------------------------------------------------ one slice
@dataclass
class Slice:
    """What one run of a mailbox's job did."""

    done: int = 0
    pending: int = 0
    busy: bool = False  # another worker holds the mailbox
    failed: bool = False  # the mailbox recorded a failure (its health)
    again: bool = False  # more to do: the job was asked to run again at once


def run_slice(mailbox, deadline=None, progress=None):
    """One bounded slice of a mailbox's work, committed as it goes: its change
    notifications' upkeep, then (when due) a delta round and imports. Asks for the
    mailbox's job to run again when work is left."""
    Subscription = mailbox.env["mail.scanner.subscription"].sudo()
    Subscription._maintain_for(mailbox)
    if not Subscription._due(mailbox):
        return Slice()
    # At least one mail: the deadline is looked at after each.
    budget = max(deadline - time.monotonic(), 0.001) if deadline else None
    sync = protocol.MailboxSync(mailbox, progress=progress, budget=budget)
    done, pending = sync.run()
    result = Slice(done=done, pending=pending, busy=sync.busy)
    result.failed = bool(mailbox.failure_streak)
    Subscription._commit()  # a fresh snapshot: a notification during the run
    woken = Subscription._still_woken(mailbox)
    result.again = woken or bool(pending and (done or sync.out_of_time))
    if result.again:
        mailbox._start_job()
    return result


def run_cron_job(mailbox, cron, round_=None):
    """The body of a mailbox's scheduled job (see the module's docstring);
    ``round_``: the cron worker's pass running it, if any."""
    if not mailbox or not MailboxJobs.wanted_active(mailbox):
        return Slice()
    if round_ and round_.should_wait(mailbox.id):
        cron._trigger()
        return Slice(again=True)
    if round_:
        round_.served(mailbox.id)
    processed = [0]

    def progress(count):
        # Reported as it goes: a worker killed later in the run has shown
        # progress, so Odoo does not count the run as timed out.
        processed[0] += count
        cron._notify_progress(done=processed[0], remaining=1)

    result = run_slice(mailbox, round_ and round_.deadline, progress)
    # Nothing "remaining" for Odoo: the job never runs twice in one pass (it
    # triggered itself when more is to do).
    cron._notify_progress(done=max(processed[0], result.done), remaining=0)
    return result
