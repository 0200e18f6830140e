"""GraphTransport: one Graph request at a time, with its token, retries and errors.

The session and token plumbing under GraphMailClient (graph/client.py): urllib3
retries 429 / 5xx / network errors underneath, a 401 gets one fresh token, an error
answer raises its mapped GraphError, and the bearer token only ever goes to Graph.
"""

import logging
from urllib.parse import quote, urlsplit

from . import errors
from .auth import DEFAULT_SCOPE, TokenProvider
from .http import RetryPolicy, build_session

_logger = logging.getLogger(__name__)

DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
DEFAULT_GRAPH_URL = "https://graph.microsoft.com/v1.0"
# Ids that survive moves between folders, so a message keeps its id after we file it.
IMMUTABLE_ID_PREFERENCE = 'IdType="ImmutableId"'
BATCH_LIMIT = 20  # Graph's hard limit of requests per $batch


def segment(value):
    # '@' and '=' are legal in a path segment and appear in UPNs and ids.
    return quote(str(value), safe="@=")


def users_path(mailbox, *parts):
    """/users/{mailbox}/{parts...}, each segment quoted."""
    return "/users/" + "/".join(segment(p) for p in (mailbox, *parts))


def _json_or_none(response):
    try:
        return response.json()
    except ValueError:
        return None


def retry_after_seconds(headers):
    value = (headers or {}).get("Retry-After") or (headers or {}).get("retry-after")
    try:
        return max(float(value), 0.0)
    except (TypeError, ValueError):
        return None


class GraphTransport:
    """The session, the token and the one-request calls GraphMailClient is built on."""

    def __init__(
        self,
        tenant_id,
        client_id,
        client_secret=None,
        certificate=None,
        authority_host=DEFAULT_AUTHORITY_HOST,
        graph_url=DEFAULT_GRAPH_URL,
        verify=True,
        timeout=(10, 120),
        max_attempts=6,
        max_retry_seconds=120,
        backoff_factor=0.5,
        max_retry_after=60,
        scope=DEFAULT_SCOPE,
        batch_size=BATCH_LIMIT,
    ):
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.graph_url = graph_url.rstrip("/")
        self.timeout = timeout
        self.batch_size = max(1, min(int(batch_size), BATCH_LIMIT))
        self.policy = RetryPolicy(
            max_attempts=max_attempts,
            max_retry_seconds=max_retry_seconds,
            backoff_factor=backoff_factor,
            max_retry_after=max_retry_after,
        )
        self.session = build_session(self.policy, verify=verify)
        self._graph_origin = self._origin(self.graph_url)
        self._tokens = TokenProvider(
            tenant_id,
            client_id,
            self.session,
            client_secret=client_secret,
            certificate=certificate,
            authority_host=authority_host,
            scope=scope,
            timeout=timeout,
        )

    @property
    def request_count(self):
        return self.policy.counter.value

    def close(self):
        self.session.close()

    # --- token ---------------------------------------------------------------------

    def acquire_token(self):
        return self._tokens.acquire()

    def refresh_token(self):
        """A newly issued access token, not the cached one: a permission granted
        since the cached token was issued is only in a new token."""
        self._tokens.invalidate()
        return self._tokens.acquire()

    # --- plain requests ------------------------------------------------------------

    def url(self, path):
        return f"{self.graph_url}{path}"

    def get_json(self, url, mailbox=None, folder=None, prefer=None):
        return self.request_json(
            "GET", url, mailbox=mailbox, folder=folder, prefer=prefer
        )

    def request_json(
        self, method, url, json=None, mailbox=None, folder=None, prefer=None
    ):
        response = self.request(
            method, url, json=json, mailbox=mailbox, folder=folder, prefer=prefer
        )
        return _json_or_none(response) or {}

    def request(
        self,
        method,
        url,
        json=None,
        mailbox=None,
        folder=None,
        prefer=None,
        stream=False,
        *,
        data=None,
        content_type=None,
        session=None,
    ):
        """One Graph call (urllib3 retries 429 / 5xx / network errors underneath).
        A 401 is retried once with a fresh token; other errors raise the mapped
        GraphError. With stream=True the caller reads (and closes) the body;
        data + content_type send a raw body; session replaces the retrying one
        (graph/send.py passes one that never repeats a send)."""
        self._check_same_origin(url)
        body = {"json": json, "data": data, "content_type": content_type}
        send = {"prefer": prefer, "session": session, "stream": stream}
        response = self._send(method, url, **send, **body)
        if response.status_code == 401:
            # Graph checks the token before doing anything: safe to send again.
            _logger.info("Graph answered 401: refreshing the access token once")
            response.close()
            self._tokens.invalidate()
            response = self._send(method, url, **send, **body)
        if response.status_code >= 400:
            error = self._error_for(response, mailbox, folder)
            response.close()
            raise error
        return response

    def _send(
        self,
        method,
        url,
        json=None,
        prefer=None,
        data=None,
        content_type=None,
        session=None,
        stream=False,
    ):
        preferences = (
            [prefer, IMMUTABLE_ID_PREFERENCE] if prefer else [IMMUTABLE_ID_PREFERENCE]
        )
        headers = {
            "Authorization": f"Bearer {self.acquire_token()}",
            "Prefer": ", ".join(preferences),
            "Accept": "application/json",
        }
        if content_type:
            headers["Content-Type"] = content_type
        try:
            response = (session or self.session).request(
                method,
                url,
                json=json,
                data=data,
                headers=headers,
                timeout=self.timeout,
                stream=stream,
            )
        except OSError as exc:  # requests errors, and a missing CA bundle file
            raise errors.connection_error(urlsplit(url).hostname, exc) from None
        _logger.debug("%s %s -> %s", method, urlsplit(url).path, response.status_code)
        return response

    @staticmethod
    def _error_for(response, mailbox, folder):
        body = _json_or_none(response)
        if response.status_code == 410:
            # A reset is 410 with Location holding an empty $deltatoken: same remedy.
            return errors.SyncStateNotFound(
                {"mailbox": mailbox},
                code=(errors.graph_error_parts(body)[0] or "SyncStateNotFound"),
                status=410,
            )
        return errors.from_graph_response(
            response.status_code,
            body,
            mailbox,
            folder=folder,
            retry_after=retry_after_seconds(response.headers),
            request_id=response.headers.get("request-id"),
        )

    @staticmethod
    def _origin(url):
        parts = urlsplit(url)
        default_port = {"https": 443, "http": 80}.get(parts.scheme)
        return (
            parts.scheme,
            (parts.hostname or "").lower(),
            parts.port or default_port,
        )

    def _check_same_origin(self, url):
        # nextLink / deltaLink are opaque, but the bearer token must only ever go
        # to Graph.
        if self._origin(url) != self._graph_origin:
            raise errors.ForeignLink(
                {
                    "host": urlsplit(url).netloc,
                    "graph_host": urlsplit(self.graph_url).netloc,
                },
                code="ForeignLink",
            )
