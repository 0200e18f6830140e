"""The request log that tests and benchmarks read."""

import threading
from dataclasses import dataclass


@dataclass
class LoggedRequest:
    method: str
    path: str
    query: dict
    status: int | None  # None when the connection was dropped
    client_id: str | None
    mailbox: str | None
    in_batch: bool
    batch_size: int
    fault: str | None
    started: float
    duration: float


class RequestLog(list):
    """A list of LoggedRequest that server threads append to under a lock."""

    def __init__(self):
        super().__init__()
        self._lock = threading.Lock()

    def append(self, item):
        with self._lock:
            super().append(item)

    def clear(self):
        with self._lock:
            super().clear()

    def snapshot(self):
        with self._lock:
            return list(self)

    def select(self, in_batch=False, path_contains=None, method=None):
        """Rows filtered; in_batch=None keeps both kinds of rows."""
        rows = self.snapshot()
        return [
            r
            for r in rows
            if (in_batch is None or r.in_batch == in_batch)
            and (path_contains is None or path_contains in r.path)
            and (method is None or r.method == method)
        ]

    def count(self, in_batch=False, path_contains=None, method=None):
        return len(
            self.select(in_batch=in_batch, path_contains=path_contains, method=method)
        )
