# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Mail marked as read (or moved) once its outcome is committed, off the import's
critical path.

Each committed mail is queued; a full ``$batch`` of them is sent by a background
thread while the next mails are imported, so the round trips no longer add up
after the last mail. The rows it marked are flagged by the import's thread, in its
next transaction. Whatever is still unmarked at the end of the run (the last
partial batch, a batch that failed, an earlier run's leftovers) is marked by
``MailboxSync._apply_after_import`` as before, so nothing depends on the thread.
"""

import logging
from concurrent.futures import ThreadPoolExecutor

from ..graph import errors as graph_errors

_logger = logging.getLogger(__name__)

# Outcomes after which the mail leaves the inbox's unread mail.
AFTER_IMPORT_STATES = ("done", "duplicate", "ignored")


def marked(results, graph_id):
    """Whether Graph marked (or moved) the mail: done, or the mail is gone."""
    return results.get(graph_id) is None or isinstance(
        results[graph_id], graph_errors.ItemNotFound
    )


class BackgroundAfterImport:
    def __init__(self, mailbox, client):
        self.client = client
        self.address = mailbox.address
        self.action = mailbox.after_import
        self.destination = mailbox.move_folder_id.graph_id or None
        if self.action == "move" and not self.destination:
            self.action = "mark_read"  # no folder to move to
        self.batch_size = client.batch_size
        self.queued = []  # (row id, graph id) committed, not sent yet
        self.sent = []  # ([(row id, graph id)], future)
        self._executor = None

    @property
    def active(self):
        return self.action in ("mark_read", "move")

    def committed(self, row_id, graph_id, state):
        """A mail's outcome was committed: queue it; send a full batch."""
        if not self.active or state not in AFTER_IMPORT_STATES:
            return
        self.queued.append((row_id, graph_id))
        if len(self.queued) >= self.batch_size:
            batch, self.queued = self.queued, []
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="graph-after-import"
                )
            ids = [graph_id for _row_id, graph_id in batch]
            self.sent.append((batch, self._executor.submit(self.send, ids)))

    def send(self, graph_ids):
        """Marks these mails read (or moves them) now: {graph id: error or None}."""
        if self.action == "move":
            return self.client.move(self.address, graph_ids, self.destination)
        return self.client.mark_read(self.address, graph_ids)

    def done_rows(self, wait=False):
        """Ids of the rows whose mail was marked, from the batches answered so far
        (all of them with ``wait``). A batch that failed leaves its rows to the
        end of the run."""
        finished, pending = [], []
        for batch, future in self.sent:
            if not (wait or future.done()):
                pending.append((batch, future))
                continue
            try:
                results = future.result()
            except graph_errors.GraphError as exc:
                _logger.info(
                    "Mail Scanner: marking %d mails failed: %s", len(batch), exc
                )
                continue
            finished += [
                row_id for row_id, graph_id in batch if marked(results, graph_id)
            ]
        self.sent = pending
        return finished

    def close(self):
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
