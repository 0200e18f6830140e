# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""How a mailbox's mail is imported exactly once.

``MailboxSync(mailbox).run()`` does one bounded slice of work and guarantees:

1. **Recorded before forgotten.** Each page of a delta round goes into the ledger
   (one row per Graph immutable id, duplicates dropped) and is committed before the
   next page is asked for; the delta link is saved only after the last page. A crash
   replays the round and loses nothing.
2. **Once, and whole.** Each mail is imported in its own transaction: the ticket or
   message the gateway made and the row's outcome are committed together, under a
   row lock. A second worker skips locked rows, and the gateway refuses a Message-ID
   it already has.
3. **No mail stops the others.** A mail's failure is recorded on its row with a
   reason and retried later (a bounded number of times); the attempt is committed
   before the import starts, so a mail whose import kills the worker (memory or time
   limit) is set aside after a few tries instead of blocking the mailbox forever.
   Downloads are bounded by bytes (large mails streamed one by one).
4. **Marked last.** Mail is marked as read or moved in the mailbox only once its
   outcome is committed (in the background while the next mails are imported,
   sync/after_import.py); failed mail stays unread.
5. **Never raises.** A mailbox's problem (credentials, permissions, Graph outages, a
   bug) is recorded on the mailbox for its health alerts; run() returns normally so
   that Odoo never switches the scheduled job off because of one mailbox.
6. **One worker per mailbox.** A session-level advisory lock keeps two runs (two
   cron workers, "Sync now", a manual call) off the same mailbox.

What it asks of the others: of the mailbox, its settings and a place for the delta
link; of the ledger (mail.scanner.message), to record, list, lock, start, finish
and set aside rows; of the gateway (gateway.MailImporter), an Outcome per mail; of
health (health.MailboxHealth), to be told of success and failure.
"""

import logging
import time
from contextlib import closing
from datetime import timezone

from psycopg2 import errors as pg_errors

from odoo import fields
from odoo.exceptions import UserError
from odoo.tools import config

from .. import texts
from ..graph import errors as graph_errors
from ..graph.download import READ_AHEAD_BYTES
from ..graph.prefetch import prefetched
from ..models.mail_scanner_message import MAX_INTERRUPTIONS
from .after_import import AFTER_IMPORT_STATES, BackgroundAfterImport, marked
from .gateway import MailImporter
from .health import MailboxHealth
from .outcome import Outcome

_logger = logging.getLogger(__name__)

# Advisory-lock namespace of this addon ("MS"): the second key is the mailbox id.
LOCK_NAMESPACE = 0x4D53
# What PostgreSQL answers when another run is at work on the same rows.
CONCURRENCY_ERRORS = (
    pg_errors.SerializationFailure,
    pg_errors.UniqueViolation,
    pg_errors.LockNotAvailable,
)
# Share of the cron worker's time limit a run may use before it stops starting new
# mails (the job then ends and is triggered again: sync/scheduling.py).
TIME_BUDGET_SHARE = 0.5
DEFAULT_TIME_BUDGET = 300
# A prefork cron worker's watchdog counts from its last ping, and the worker pings
# before it sleeps: up to Odoo's SLEEP_INTERVAL (60 s) + pid % 10 when no trigger
# wakes it. The budget leaves that much (and a margin) of the limit unused.
CRON_IDLE_SLEEP = 70
WATCHDOG_MARGIN = 5


def time_budget():
    """Seconds a cron worker's pass may spend importing, from Odoo's cron time
    limit: half of it, and no more than what the prefork watchdog leaves after the
    worker's idle sleep where the limit allows it."""
    limit = config.get("limit_time_real_cron") or 0
    if limit < 0:  # -1: the cron workers use the HTTP workers' limit
        limit = config.get("limit_time_real") or 0
    if limit <= 0:
        return DEFAULT_TIME_BUDGET
    budget = limit * TIME_BUDGET_SHARE
    if config.get("workers"):
        room = limit - CRON_IDLE_SLEEP - WATCHDOG_MARGIN
        if room >= 1:
            budget = min(budget, room)
    return max(budget, 1)


class MailboxSync:
    def __init__(self, mailbox, progress=None, budget=None):
        self.mailbox = mailbox.with_company(mailbox.company_id)
        self.env = self.mailbox.env
        self.Ledger = self.env["mail.scanner.message"]
        self.health = MailboxHealth(self.mailbox)
        self._progress = progress or (lambda done: None)
        self._deadline = time.monotonic() + (budget or time_budget())
        self.done = 0
        self.busy = False  # another run holds the mailbox
        self.out_of_time = False  # the budget ended the run with mail left

    # ------------------------------------------------------------------ seams
    def commit(self):
        """Commits one unit of work. Tests replace this seam (no commit there)."""
        self.env.cr.commit()  # pylint: disable=invalid-commit

    def rollback(self):
        """Drops a broken transaction. Tests replace this seam."""
        self.env.cr.rollback()  # pylint: disable=invalid-commit

    # -------------------------------------------------------------------- run
    def run(self):
        """One bounded slice of work: (mails imported, mails still pending)."""
        mailbox = self.mailbox
        if not self._try_lock():
            _logger.info("Mailbox %s is being scanned by another run", mailbox.address)
            self.busy = True
            return 0, 0
        try:
            self._run_locked()
        finally:
            self._unlock()
        pending = self.Ledger.search_count(
            [("mailbox_id", "=", mailbox.id), ("state", "=", "pending")]
        )
        # Only new mail asks for an immediate next run; failed mail is retried on
        # the regular schedule.
        return self.done, pending

    def _run_locked(self):
        mailbox = self.mailbox
        try:
            self.health.warn_secret_expiry()
            client = mailbox.app_id._graph_client()
            self._pull_delta(client)
            after = BackgroundAfterImport(mailbox, client)
            try:
                self._import_pending(client, after)
                self._record_marked(after.done_rows(wait=True))
            finally:
                after.close()
            self._apply_after_import(after)
            self.health.success()
        except CONCURRENCY_ERRORS:
            # Another run holds the same mail: it finishes it, this one stops.
            _logger.info(
                "Mail Scanner: mailbox %s busy in another run", mailbox.address
            )
            self.rollback()
            return
        except (graph_errors.GraphError, UserError) as exc:  # UserError: no secret
            self.rollback()
            self.health.failure(exc)
        except Exception as exc:  # pylint: disable=broad-except
            # A bug must not stop the other mailboxes: keep it visible instead.
            _logger.exception("Mail Scanner: mailbox %s failed", mailbox.address)
            self.rollback()
            self.health.failure(exc)
        self.commit()

    def _try_lock(self):
        # Session-level lock: it survives the per-message commits and dies with
        # the connection if the worker is killed.
        self.env.cr.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", (LOCK_NAMESPACE, self.mailbox.id)
        )
        return self.env.cr.fetchone()[0]

    def _unlock(self):
        self.env.cr.execute(
            "SELECT pg_advisory_unlock(%s, %s)", (LOCK_NAMESPACE, self.mailbox.id)
        )

    # ------------------------------------------------------------------ delta
    def _pull_delta(self, client):
        """Records every new message in the ledger, then saves the delta link."""
        mailbox = self.mailbox
        cutoff = mailbox.cutoff_date
        round_ = client.delta(
            mailbox.address,
            mailbox._folder_graph_id(),
            delta_link=mailbox.delta_link or None,
            since=cutoff and cutoff.replace(tzinfo=timezone.utc),
        )
        for page in round_.pages():
            self.Ledger._record_refs(mailbox, page)
            self.commit()
        mailbox.write(
            {"delta_link": round_.delta_link, "last_sync": fields.Datetime.now()}
        )
        self.commit()

    # ----------------------------------------------------------------- import
    def _import_pending(self, client, after):
        """Downloads and imports each mail in its own transaction."""
        mailbox = self.mailbox
        rows = self.Ledger._importable(mailbox, mailbox.batch_limit)
        rows -= self._skip_too_large(client, rows)
        if not rows:
            return
        importer = MailImporter(mailbox)
        importer.prepare(rows)
        by_graph_id = {info.graph_id: info for info in importer.lookups.rows.values()}
        items = [(info.graph_id, info.size or None) for info in by_graph_id.values()]
        # The next download runs while Odoo parses this mail: the queue holds a
        # batch ahead (bounded in bytes), so the download of batch n+1 starts as
        # batch n starts. The same thread cuts each mail's large attachments out
        # and parses its headers, while this one waits for PostgreSQL.
        downloads = prefetched(
            importer.prepared(client.fetch_mime(mailbox.address, items)),
            depth=client.batch_size,
            max_bytes=READ_AHEAD_BYTES,
            size_of=lambda item: len(item[1]) if isinstance(item[1], bytes) else 0,
        )
        with closing(downloads):
            for graph_id, mime in downloads:
                self._import_one(importer, by_graph_id[graph_id], mime, after)
                if time.monotonic() > self._deadline:
                    # The rest stays pending: the job ends and runs again at once.
                    self.out_of_time = True
                    break

    def _import_one(self, importer, info, mime, after):
        try:
            self._import_row(importer, info, mime, after)
        finally:
            importer.forget(info.graph_id)

    def _import_row(self, importer, info, mime, after):
        row = self.Ledger.browse(info.id)
        counted = row._lock_and_count_attempt()
        if counted is None:
            return  # another run holds it or finished it
        interruptions, attempts = counted
        if interruptions >= MAX_INTERRUPTIONS:
            # Set aside without trying it: that attempt is not counted.
            params = {"count": interruptions, "size_mb": row._size_mb()}
            row._set_aside(
                "import_interrupted",
                params,
                interruptions=interruptions,
                attempts=attempts - 1,
            )
            self._committed(importer, after, info, row)
            return
        if isinstance(mime, graph_errors.GraphError):
            error = {"key": mime.key, "params": mime.params}
            row._finish("failed", "download_failed", {"error": error})
            self._committed(importer, after, info, row)
            return
        if interruptions:
            # Recording an interruption is progress (the mail is one step closer
            # to being set aside): reported with the attempt, a run killed again
            # on this mail is not one of the runs "timed out without progress"
            # that Odoo counts as failures of the job.
            self._progress(1)
        self.commit()  # the attempt counts even if the import kills the worker
        if not row._lock_for_import():
            return
        outcome = self._outcome_of(importer, row, info, mime)
        if outcome is None:
            return
        if outcome.set_aside:
            row._set_aside(outcome.key, outcome.params, **outcome.values)
        else:
            row._finish(outcome.state, outcome.key, outcome.params, **outcome.values)
        self._committed(importer, after, info, row, outcome)

    def _outcome_of(self, importer, row, info, mime):
        """The import's outcome; an error that escapes the importer's own guard
        costs this mail only, with words (it must neither stop the run nor pass
        for a killed worker at the next run). None when the row was taken."""
        try:
            return importer.import_mail(row, mime)
        except CONCURRENCY_ERRORS:
            raise
        except Exception as exc:  # pylint: disable=broad-except
            _logger.exception("Mail Scanner could not import %s", info.graph_id)
            self.rollback()
            importer.rolled_back()
            if not row._lock_for_import():
                return None
            key, params = texts.describe(exc)
            error = {"key": key, "params": params}
            return Outcome("failed", "import_failed", {"error": error})

    def _committed(self, importer, after, info, row, outcome=None):
        """The row's outcome is written (without one: failed before its import)."""
        # Flags of mails the background thread marked go with this commit.
        self._record_marked(after.done_rows())
        processed = row.processed_date  # just written: no query
        self.commit()
        importer.committed(info, outcome, processed)
        if outcome is not None and outcome.imported:
            self.done += 1
        after.committed(info.id, info.graph_id, outcome.state if outcome else "failed")
        # A killed run that reported progress is not held against the job by Odoo.
        self._progress(1)

    def _record_marked(self, row_ids):
        if row_ids:
            self.Ledger.browse(row_ids).write({"after_import_done": True})

    def _skip_too_large(self, client, rows):
        """Leaves mail over the size limit in the mailbox, before downloading it."""
        mailbox = self.mailbox
        unknown = {row.graph_id: row for row in rows if not row.size}
        if unknown:
            for graph_id, size in client.message_sizes(
                mailbox.address, list(unknown)
            ).items():
                if size:
                    unknown[graph_id].size = size
        if not mailbox.max_size_mb:
            self.commit()
            return rows.browse()
        limit = mailbox.max_size_mb * 1024 * 1024
        too_large = rows.filtered(lambda r: r.size > limit)
        for row in too_large:
            params = {"size_mb": row._size_mb(), "limit_mb": mailbox.max_size_mb}
            row._finish("skipped", "too_large", params)
        if too_large:
            self.health.large_mail(too_large)
        self.commit()
        return too_large

    # ----------------------------------------------------------- after import
    def _apply_after_import(self, after):
        """Marks read or moves the mail whose import is committed and that the
        background batches left (the last partial batch, a failed one, an earlier
        run's), now."""
        rows = self.Ledger.search(
            [
                ("mailbox_id", "=", self.mailbox.id),
                ("state", "in", AFTER_IMPORT_STATES),
                ("after_import_done", "=", False),
            ]
        )
        if not rows:
            return
        if not after.active:
            rows.write({"after_import_done": True})
            self.commit()
            return
        results = after.send(rows.mapped("graph_id"))
        finished = rows.filtered(lambda r: marked(results, r.graph_id))
        finished.write({"after_import_done": True})
        self.commit()
