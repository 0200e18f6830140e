"""Exchange Online throttling per (application, mailbox): concurrency, budget."""

import math
import threading
import time
from collections import Counter, defaultdict, deque


class Throttle:
    def __init__(self, emu):
        self._emu = emu
        self._lock = threading.Lock()
        self._in_flight = Counter()
        self._history = defaultdict(deque)  # key -> timestamps of accepted requests
        self.count_throttled = True  # Microsoft: throttled requests still count

    def acquire(self, key):
        """Take a slot: None, or (limit name, retry_after_seconds) when throttled."""
        count, window = self._emu.request_budget
        now = time.monotonic()
        with self._lock:
            history = self._history[key]
            while history and history[0] <= now - window:
                history.popleft()
            if len(history) >= count:
                retry = max(1, math.ceil(history[0] + window - now))
                if self.count_throttled:
                    history.append(now)
                return ("MailboxRequests", retry)
            history.append(now)
            if self._in_flight[key] >= self._emu.max_in_flight:
                return ("MailboxConcurrency", 1)
            self._in_flight[key] += 1
            return None

    def release(self, key):
        with self._lock:
            self._in_flight[key] -= 1

    def reset(self):
        with self._lock:
            self._in_flight.clear()
            self._history.clear()
