"""The one requests.Session shared by msal and the Graph client.

Retries happen inside urllib3 (one place for Graph calls and token calls alike):
429 / 5xx answers and connect / read failures are retried, Retry-After is honoured
(capped), otherwise exponential back-off with jitter, and both the number of attempts
and the total time spent retrying are bounded.

Works with urllib3 1.26 and 2.x: only methods present in both are overridden
(``new``, ``increment``, ``get_backoff_time``, ``get_retry_after``).
"""

import random
import threading
import time
from dataclasses import dataclass, field

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, ResponseError, SSLError
from urllib3.util.retry import Retry

from .errors import REFUSED_STATUSES, TRANSIENT_STATUSES


class RequestCounter:
    """Thread-safe count of HTTP requests actually put on the wire."""

    def __init__(self):
        self._value = 0
        self._lock = threading.Lock()

    def add(self, n=1):
        with self._lock:
            self._value += n

    @property
    def value(self):
        return self._value


@dataclass
class RetryPolicy:
    max_attempts: int = 6
    max_retry_seconds: float = 120
    backoff_factor: float = 0.5
    max_backoff: float = 30
    max_retry_after: float = 60
    counter: RequestCounter = field(default_factory=RequestCounter)


class BoundedRetry(Retry):
    """urllib3 Retry with a time budget, capped Retry-After, jittered back-off and
    request counting."""

    def __init__(self, *args, policy=None, started_at=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.policy = policy or RetryPolicy()
        self.started_at = started_at

    @classmethod
    def from_policy(cls, policy, repeatable=True):
        """repeatable=False: for requests that must not run twice (sending mail).
        They are retried only when they cannot have reached the server (connect
        errors) or the server refused them (429, 503); never after a read error or
        an ambiguous 5xx, when the server may have done the work."""
        return cls(
            total=max(policy.max_attempts - 1, 0),
            connect=None,
            read=None if repeatable else 0,
            other=None if repeatable else 0,
            status=None,
            redirect=0,
            # Every request of the reading client is safe to repeat: reads, $batch
            # of reads, PATCH isRead, and moves whose "already moved" answer the
            # client handles per message.
            allowed_methods=None,
            status_forcelist=TRANSIENT_STATUSES if repeatable else REFUSED_STATUSES,
            backoff_factor=policy.backoff_factor,
            raise_on_status=False,
            raise_on_redirect=False,
            respect_retry_after_header=True,
            policy=policy,
        )

    def new(self, **kwargs):
        # urllib3 builds a fresh object per attempt; carry our per-request state along.
        retry = super().new(**kwargs)
        retry.policy = self.policy
        retry.started_at = self.started_at
        return retry

    def get_retry_after(self, response):
        seconds = super().get_retry_after(response)
        if seconds is None:
            return None
        return min(seconds, self.policy.max_retry_after)

    def get_backoff_time(self):
        # Exponential from the first retry on ("never retry at once" after a 429), with
        # jitter so parallel workers do not hammer the mailbox in step.
        attempts = len(self.history)
        if attempts == 0 or self.backoff_factor <= 0:
            return 0
        base = min(self.policy.max_backoff, self.backoff_factor * (2 ** (attempts - 1)))
        return base * random.uniform(0.5, 1.0)

    def increment(
        self,
        method=None,
        url=None,
        response=None,
        error=None,
        _pool=None,
        _stacktrace=None,
    ):
        if _is_certificate_failure(error):
            # Retrying cannot fix an untrusted certificate: fail at once.
            raise MaxRetryError(_pool, url, error)
        retry = super().increment(
            method=method,
            url=url,
            response=response,
            error=error,
            _pool=_pool,
            _stacktrace=_stacktrace,
        )
        now = time.monotonic()
        retry.started_at = self.started_at or now
        if (
            now - retry.started_at + retry._planned_wait(response)
            > self.policy.max_retry_seconds
        ):
            raise MaxRetryError(
                _pool, url, error or ResponseError("retry time budget spent")
            )
        self.policy.counter.add()  # urllib3 is about to send the request again
        return retry

    def _planned_wait(self, response):
        retry_after = self.get_retry_after(response) if response is not None else None
        return retry_after if retry_after else self.get_backoff_time()


def _is_certificate_failure(error):
    return isinstance(error, SSLError) and "CERTIFICATE_VERIFY_FAILED" in str(error)


class CountingAdapter(HTTPAdapter):
    def __init__(self, counter, **kwargs):
        self.counter = counter
        super().__init__(**kwargs)

    def send(self, request, **kwargs):
        self.counter.add()
        return super().send(request, **kwargs)


def build_session(policy, verify=True, repeatable=True):
    """A retrying Session that ignores the environment (proxies, REQUESTS_CA_BUNDLE).

    repeatable=False builds the session for requests that must not run twice
    (see BoundedRetry.from_policy)."""
    session = requests.Session()
    session.trust_env = False
    session.verify = verify
    adapter = CountingAdapter(
        policy.counter, max_retries=BoundedRetry.from_policy(policy, repeatable)
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
