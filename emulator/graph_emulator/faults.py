"""Fault injection: random or scripted failures on the next matching requests."""

import random as _random
import threading
from collections import Counter

KINDS = ("429", "503", "504", "slow", "drop", "lost", "410", "429-entry")
# Kinds that make sense on any request; "410" needs a delta token and "429-entry"
# a $batch, so the caller says which extra kinds its request can take.
# "drop" closes the connection before the request is handled; "lost" handles it
# (a send is sent, a draft created) and then closes the connection unanswered.
GENERIC = frozenset(("429", "503", "504", "slow", "drop", "lost"))


class Faults:
    def __init__(self):
        self._lock = threading.Lock()
        self.retry_after = 1  # seconds, on injected 429/503
        self.slow_seconds = 2.0
        self.injected = 0  # how many faults were applied
        self.counts = Counter()  # per kind
        self._mode = None
        self._rate = 0.0
        self._kinds = ()
        self._rng = _random.Random()
        self._script = []
        self.path_contains = None

    def random(
        self, rate, kinds=("429", "503", "slow", "drop"), seed=None, path_contains=None
    ):
        """Each matching request fails with probability rate, kind drawn from kinds."""
        self._check(kinds)
        with self._lock:
            self._mode, self._rate, self._kinds = "random", float(rate), tuple(kinds)
            self._rng = _random.Random(seed)
            self.path_contains = path_contains

    def script(self, kinds, path_contains=None):
        """The next matching requests get these faults in order (None = no fault).

        A scripted fault that cannot apply to a request ("410" without a delta token,
        "429-entry" outside $batch) waits for the next request it can apply to."""
        self._check([k for k in kinds if k is not None])
        with self._lock:
            self._mode, self._script = "script", list(kinds)
            self.path_contains = path_contains

    def clear(self):
        with self._lock:
            self._mode, self._script = None, []

    @property
    def pending(self):
        """Scripted faults not yet applied."""
        with self._lock:
            return list(self._script)

    @staticmethod
    def _check(kinds):
        bad = [k for k in kinds if k not in KINDS]
        if bad:
            raise ValueError(f"unknown fault kinds {bad}; known: {KINDS}")

    def matches(self, targets, is_token):
        """Token/discovery requests only fault when path_contains selects them."""
        if self.path_contains is None:
            return not is_token
        return any(self.path_contains in t for t in targets)

    def draw(self, targets, extra=(), is_token=False):
        """Return the fault kind for a request (or None).

        targets: what path_contains is matched against (path?query, entry urls).
        extra: kinds beyond GENERIC this request can take."""
        applicable = GENERIC | frozenset(extra)
        with self._lock:
            if self._mode is None or not self.matches(targets, is_token):
                return None
            kind = (
                self._draw_script(applicable)
                if self._mode == "script"
                else self._draw_random(applicable)
            )
            if kind:
                self.injected += 1
                self.counts[kind] += 1
            return kind

    def _draw_script(self, applicable):
        if not self._script:
            return None
        head = self._script[0]
        if head is not None and head not in applicable:
            return None
        self._script.pop(0)
        return head

    def _draw_random(self, applicable):
        if self._rng.random() >= self._rate:
            return None
        usable = [k for k in self._kinds if k in applicable]
        return self._rng.choice(usable) if usable else None
