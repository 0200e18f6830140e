"""GraphMailClient: the few Microsoft Graph mail calls the scanner needs, app-only."""

import base64
import binascii
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import quote, urlencode, urlsplit

from . import errors
from .auth import DEFAULT_SCOPE, TokenProvider, token_roles
from .http import RetryPolicy, build_session

_logger = logging.getLogger(__name__)

# Ids that survive moves between folders, so a message keeps its id after we file it.
IMMUTABLE_ID_PREFERENCE = 'IdType="ImmutableId"'
BATCH_LIMIT = 20  # Graph's hard limit of requests per $batch
TRANSIENT_ENTRY_STATUSES = (429, 500, 502, 503, 504)
WRITE_ROLE = "Mail.ReadWrite"
MESSAGE_SIZE_PROPERTY = "Integer 0x0E08"  # PR_MESSAGE_SIZE
DELTA_SELECT = (
    "id",
    "internetMessageId",
    "conversationId",
    "subject",
    "from",
    "sender",
    "receivedDateTime",
    "isRead",
    "hasAttachments",
)
# A delta token that expires again and again within one round is a server problem.
MAX_RESYNCS_PER_ROUND = 3


@dataclass(frozen=True)
class MessageRef:
    id: str
    internet_message_id: str = None
    conversation_id: str = None
    subject: str = None
    sender: str = None
    sender_name: str = None
    received: datetime = None
    is_read: bool = False
    has_attachments: bool = False
    size: int = None
    removed: bool = False

    @classmethod
    def from_graph(cls, item):
        if "@removed" in item:
            return cls(id=item["id"], removed=True)
        address = (item.get("from") or item.get("sender") or {}).get(
            "emailAddress"
        ) or {}
        return cls(
            id=item["id"],
            internet_message_id=item.get("internetMessageId"),
            conversation_id=item.get("conversationId"),
            subject=item.get("subject"),
            sender=address.get("address"),
            sender_name=address.get("name"),
            received=parse_datetime(item.get("receivedDateTime")),
            is_read=bool(item.get("isRead")),
            has_attachments=bool(item.get("hasAttachments")),
        )


@dataclass
class Folder:
    id: str
    name: str
    parent_id: str = None
    path: str = None
    total: int = 0
    unread: int = 0
    children: list = field(default_factory=list)
    child_count: int = 0

    @classmethod
    def from_graph(cls, item, parent_path=None):
        name = item.get("displayName") or ""
        return cls(
            id=item["id"],
            name=name,
            parent_id=item.get("parentFolderId"),
            path=f"{parent_path}/{name}" if parent_path else name,
            total=item.get("totalItemCount") or 0,
            unread=item.get("unreadItemCount") or 0,
            child_count=item.get("childFolderCount") or 0,
        )

    def walk(self):
        """This folder and all its descendants, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


def parse_datetime(value):
    """Graph's ISO 8601 timestamp -> aware UTC datetime (None stays None)."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def format_datetime(value):
    if value.tzinfo is None:  # naive means UTC throughout this addon
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _segment(value):
    # '@' and '=' are legal in a path segment and appear in UPNs and ids.
    return quote(str(value), safe="@=")


def _chunks(items, size):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _json_or_none(response):
    try:
        return response.json()
    except ValueError:
        return None


def _retry_after_seconds(headers):
    value = (headers or {}).get("Retry-After") or (headers or {}).get("retry-after")
    try:
        return max(float(value), 0.0)
    except (TypeError, ValueError):
        return None


def _decode_mime_body(body):
    """$batch returns non-JSON bodies base64-encoded; be tolerant of a raw string."""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return body.encode("utf-8")
    raise ValueError("unexpected $value body type")


class DeltaRound:
    """One pass of delta sync over a folder. Iterate pages() to the end, then save
    delta_link: it exists only once the server sent @odata.deltaLink."""

    def __init__(
        self, client, mailbox, folder_id, delta_link=None, since=None, page_size=100
    ):
        self._client = client
        self.mailbox = mailbox
        self.folder_id = folder_id
        self.since = since
        self.page_size = page_size
        self._start_link = delta_link
        self._delta_link = None
        self.resynced = False
        self.page_count = 0

    @property
    def delta_link(self):
        if self._delta_link is None:
            raise RuntimeError(
                "delta_link is only known once pages() has been exhausted"
            )
        return self._delta_link

    def first_url(self):
        params = {"changeType": "created", "$select": ",".join(DELTA_SELECT)}
        if self.since is not None:
            params["$filter"] = f"receivedDateTime ge {format_datetime(self.since)}"
        base = self._client.url(
            f"/users/{_segment(self.mailbox)}/mailFolders/"
            f"{_segment(self.folder_id)}/messages/delta"
        )
        return f"{base}?{urlencode(params, quote_via=quote, safe='$,')}"

    def pages(self):
        url = self._start_link or self.first_url()
        resyncs = 0
        while True:
            try:
                body = self._client.get_json(
                    url,
                    mailbox=self.mailbox,
                    folder=self.folder_id,
                    prefer=f"odata.maxpagesize={int(self.page_size)}",
                )
            except errors.SyncStateNotFound:
                # Expired or reset delta state: start over with the same cut-off.
                # Messages
                # already seen come again; the consumer deduplicates by id.
                resyncs += 1
                if resyncs > MAX_RESYNCS_PER_ROUND:
                    raise
                _logger.info(
                    "delta state of %s expired: full resynchronisation", self.mailbox
                )
                self.resynced = True
                url = self.first_url()
                continue
            self.page_count += 1
            yield [MessageRef.from_graph(item) for item in body.get("value") or []]
            if body.get("@odata.nextLink"):
                url = body[
                    "@odata.nextLink"
                ]  # opaque: replay it as is, even after an empty page
            elif body.get("@odata.deltaLink"):
                self._delta_link = body["@odata.deltaLink"]
                return
            else:
                raise errors.GraphError(
                    f"Microsoft Graph ended a delta page for mailbox {self.mailbox} "
                    "without a "
                    "next or delta link; the sync will start over on the next run."
                )


class GraphMailClient:
    def __init__(
        self,
        tenant_id,
        client_id,
        client_secret=None,
        certificate=None,
        authority_host="https://login.microsoftonline.com",
        graph_url="https://graph.microsoft.com/v1.0",
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

    def __repr__(self):
        return f"<GraphMailClient tenant={self.tenant_id} client_id={self.client_id}>"

    @property
    def request_count(self):
        return self.policy.counter.value

    def close(self):
        self.session.close()

    # --- authentication --------------------------------------------------------------

    def acquire_token(self):
        return self._tokens.acquire()

    def check_access(self, mailbox, folder="inbox"):
        """Proves token, Mail.ReadWrite role, mailbox, folder and access policy."""
        roles = token_roles(self.acquire_token())
        if roles is not None and WRITE_ROLE not in roles:
            granted = ", ".join(sorted(roles)) or "none"
            raise errors.MissingWritePermission(
                f"Application {self.client_id} lacks the application permission "
                f"{WRITE_ROLE} "
                f"(granted: {granted}). Add Microsoft Graph > Application permissions "
                "> "
                f"{WRITE_ROLE} and click 'Grant admin consent'; Mail.Read alone "
                "cannot mark or "
                "move mail.",
                code="MissingWritePermission",
            )
        return self.get_folder(mailbox, folder)

    # --- folders
    # -----------------------------------------------------------------------

    def get_folder(self, mailbox, folder):
        item = self.get_json(
            self.url(f"/users/{_segment(mailbox)}/mailFolders/{_segment(folder)}"),
            mailbox=mailbox,
            folder=folder,
        )
        return Folder.from_graph(item)

    def list_folders(self, mailbox):
        """The whole folder tree: root folders, each with .children filled in."""
        roots = self._list_children(mailbox, None, parent_path=None)
        pending = list(roots)
        while pending:
            folder = pending.pop()
            if folder.child_count:
                folder.children = self._list_children(
                    mailbox, folder.id, parent_path=folder.path
                )
                pending.extend(folder.children)
        return roots

    def create_folder(self, mailbox, name, parent_id=None):
        """Create a folder (under parent_id, or at the top); return the existing one
        of the same name (case-insensitive) if there is one."""
        url = self._folders_url(mailbox, parent_id)
        try:
            item = self.request_json(
                "POST",
                url,
                json={"displayName": name},
                mailbox=mailbox,
                folder=parent_id,
            )
            return Folder.from_graph(item)
        except errors.FolderExists:
            existing = self._find_child(mailbox, parent_id, name)
            if existing is None:
                raise
            return existing

    def _folders_url(self, mailbox, parent_id):
        base = f"/users/{_segment(mailbox)}/mailFolders"
        return self.url(
            f"{base}/{_segment(parent_id)}/childFolders" if parent_id else base
        )

    def _list_children(self, mailbox, parent_id, parent_path):
        folders = []
        url = f"{self._folders_url(mailbox, parent_id)}?$top=100"
        while url:
            body = self.get_json(url, mailbox=mailbox, folder=parent_id)
            folders += [
                Folder.from_graph(item, parent_path) for item in body.get("value") or []
            ]
            url = body.get("@odata.nextLink")
        return folders

    def _find_child(self, mailbox, parent_id, name):
        wanted = name.casefold()
        for folder in self._list_children(mailbox, parent_id, parent_path=None):
            if folder.name.casefold() == wanted:
                return folder
        return None

    # --- messages
    # ----------------------------------------------------------------------

    def delta(self, mailbox, folder_id, delta_link=None, since=None, page_size=100):
        if delta_link:
            self._check_same_origin(delta_link)
        return DeltaRound(
            self,
            mailbox,
            folder_id,
            delta_link=delta_link,
            since=since,
            page_size=page_size,
        )

    def fetch_mime(self, mailbox, ids):
        """Yield (id, bytes | GraphError) batch after batch, so the caller can work
        while the next batch downloads. One failing message never stops the others."""
        for chunk in _chunks(list(ids), self.batch_size):
            entries = {
                mid: {
                    "method": "GET",
                    "url": f"{self._message_path(mailbox, mid)}/$value",
                }
                for mid in chunk
            }
            for mid, (status, _headers, body) in self._batch(entries, mailbox).items():
                yield mid, self._mime_result(status, body, mailbox)

    def mark_read(self, mailbox, ids):
        return self._batch_command(
            mailbox,
            ids,
            lambda mid: {
                "method": "PATCH",
                "url": self._message_path(mailbox, mid),
                "body": {"isRead": True},
            },
        )

    def move(self, mailbox, ids, destination_id):
        # Retried entries of a move that already happened answer 404 ErrorItemNotFound:
        # reported as ItemNotFound and left to the caller (with ImmutableId it can look
        # the
        # message up in the destination).
        return self._batch_command(
            mailbox,
            ids,
            lambda mid: {
                "method": "POST",
                "url": f"{self._message_path(mailbox, mid)}/move",
                "body": {"destinationId": destination_id},
            },
        )

    def message_sizes(self, mailbox, ids):
        """PR_MESSAGE_SIZE of each message (bytes), None when unknown or on error."""
        expand = quote(
            f"singleValueExtendedProperties($filter=id eq '{MESSAGE_SIZE_PROPERTY}')",
            safe="()$='",
        )
        sizes = {}
        for chunk in _chunks(list(ids), self.batch_size):
            entries = {
                mid: {
                    "method": "GET",
                    "url": f"{self._message_path(mailbox, mid)}"
                    f"?$select=id&$expand={expand}",
                }
                for mid in chunk
            }
            for mid, (status, _headers, body) in self._batch(entries, mailbox).items():
                sizes[mid] = self._size_from(body) if 200 <= status < 300 else None
        return sizes

    def _message_path(self, mailbox, message_id):
        return f"/users/{_segment(mailbox)}/messages/{_segment(message_id)}"

    def _batch_command(self, mailbox, ids, build_entry):
        results = {}
        for chunk in _chunks(list(ids), self.batch_size):
            entries = {mid: build_entry(mid) for mid in chunk}
            for mid, (status, headers, body) in self._batch(entries, mailbox).items():
                results[mid] = (
                    None
                    if 200 <= status < 300
                    else self._entry_error(status, headers, body, mailbox)
                )
        return results

    def _mime_result(self, status, body, mailbox):
        if not 200 <= status < 300:
            return self._entry_error(status, {}, body, mailbox)
        try:
            return _decode_mime_body(body)
        except ValueError:
            return errors.GraphError(
                f"Microsoft Graph returned an unreadable message body for "
                f"mailbox {mailbox}.",
                status=status,
            )

    @staticmethod
    def _size_from(body):
        for prop in (body or {}).get("singleValueExtendedProperties") or []:
            if str(prop.get("id", "")).lower() == MESSAGE_SIZE_PROPERTY.lower():
                try:
                    return int(prop.get("value"))
                except (TypeError, ValueError):
                    return None
        return None

    @staticmethod
    def _entry_error(status, headers, body, mailbox):
        return errors.from_graph_response(
            status,
            body if isinstance(body, dict) else None,
            mailbox,
            retry_after=_retry_after_seconds(headers),
        )

    # --- $batch
    # ------------------------------------------------------------------------

    def _batch(self, entries, mailbox):
        """Run {key: {"method", "url", "body"?}} through /$batch (at most 20 at a time).
        Entries answering 429 / 5xx are sent again in a later batch after the largest
        Retry-After (bounded attempts and time); an entry answering 401 gets one retry
        with a fresh token. Returns {key: (status, headers, body)}."""
        results = {}
        pending = dict(entries)
        attempt = 0
        refreshed = False
        started = time.monotonic()
        while pending:
            attempt += 1
            answers = self._post_batch(pending, mailbox)
            retry, wait = {}, 0.0
            for key, answer in answers.items():
                status, headers, _body = answer
                if status == 401 and not refreshed:
                    retry[key] = pending[key]
                elif status in TRANSIENT_ENTRY_STATUSES:
                    retry[key] = pending[key]
                    wait = max(wait, self._entry_wait(headers, attempt))
                else:
                    results[key] = answer
            if any(answers[key][0] == 401 for key in retry):
                self._tokens.invalidate()
                refreshed = True
            out_of_budget = (
                attempt >= self.policy.max_attempts
                or time.monotonic() - started + wait > self.policy.max_retry_seconds
            )
            if not retry or out_of_budget:
                results.update({key: answers[key] for key in retry})
                break
            _logger.debug(
                "$batch: %d of %d entries again in %.1fs",
                len(retry),
                len(pending),
                wait,
            )
            time.sleep(wait)
            pending = retry
        return results

    def _entry_wait(self, headers, attempt):
        retry_after = _retry_after_seconds(headers)
        if retry_after is not None:
            return min(retry_after, self.policy.max_retry_after)
        return min(
            self.policy.max_backoff, self.policy.backoff_factor * 2 ** (attempt - 1)
        )

    def _post_batch(self, pending, mailbox):
        # Batch entry ids must be unique short strings; map them back to our keys.
        keys = list(pending)
        requests_ = []
        for index, key in enumerate(keys):
            entry = pending[key]
            request = {
                "id": str(index),
                "method": entry["method"],
                "url": entry["url"],
                "headers": {"Prefer": IMMUTABLE_ID_PREFERENCE},
            }
            if "body" in entry:
                request["body"] = entry["body"]
                request["headers"]["Content-Type"] = "application/json"
            requests_.append(request)
        body = self.request_json(
            "POST", self.url("/$batch"), json={"requests": requests_}, mailbox=mailbox
        )
        answers = {}
        for response in body.get("responses") or []:
            try:
                key = keys[int(response.get("id"))]
            except (TypeError, ValueError, IndexError):
                continue
            answers[key] = (
                int(response.get("status") or 0),
                response.get("headers") or {},
                response.get("body"),
            )
        for key in keys:  # an entry the server forgot is a transient failure
            answers.setdefault(key, (503, {}, None))
        return answers

    # --- plain requests
    # ----------------------------------------------------------------

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

    def request(self, method, url, json=None, mailbox=None, folder=None, prefer=None):
        """One Graph call (urllib3 retries 429 / 5xx / network errors underneath).
        A 401 is retried once with a fresh token; other errors raise the mapped
        GraphError."""
        self._check_same_origin(url)
        response = self._send(method, url, json, prefer)
        if response.status_code == 401:
            _logger.info("Graph answered 401: refreshing the access token once")
            self._tokens.invalidate()
            response = self._send(method, url, json, prefer)
        if response.status_code >= 400:
            raise self._error_for(response, mailbox, folder)
        return response

    def _send(self, method, url, json, prefer):
        preferences = (
            [prefer, IMMUTABLE_ID_PREFERENCE] if prefer else [IMMUTABLE_ID_PREFERENCE]
        )
        headers = {
            "Authorization": f"Bearer {self.acquire_token()}",
            "Prefer": ", ".join(preferences),
            "Accept": "application/json",
        }
        try:
            response = self.session.request(
                method, url, json=json, headers=headers, timeout=self.timeout
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
                f"The saved synchronisation state of mailbox {mailbox} is no longer "
                "valid.",
                code=(errors._graph_error_parts(body)[0] or "SyncStateNotFound"),
                status=410,
            )
        return errors.from_graph_response(
            response.status_code,
            body,
            mailbox,
            folder=folder,
            retry_after=_retry_after_seconds(response.headers),
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
        # nextLink / deltaLink are opaque, but the bearer token must only ever go to
        # Graph.
        if self._origin(url) != self._graph_origin:
            raise errors.GraphError(
                f"Refusing to send the access token to {urlsplit(url).netloc}: links "
                f"must point to {urlsplit(self.graph_url).netloc}.",
                code="ForeignLink",
            )
