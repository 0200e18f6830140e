"""GraphMailClient: the few Microsoft Graph mail calls the scanner needs, app-only."""

import base64
import binascii
import logging
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import quote, urlencode, urlsplit

from . import errors
from .auth import DEFAULT_SCOPE, TokenProvider, token_roles
from .http import RetryPolicy, build_session

_logger = logging.getLogger(__name__)

DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
DEFAULT_GRAPH_URL = "https://graph.microsoft.com/v1.0"
# Ids that survive moves between folders, so a message keeps its id after we file it.
IMMUTABLE_ID_PREFERENCE = 'IdType="ImmutableId"'
BATCH_LIMIT = 20  # Graph's hard limit of requests per $batch
WRITE_ROLE = "Mail.ReadWrite"
MESSAGE_SIZE_PROPERTY = "Integer 0x0E08"  # PR_MESSAGE_SIZE
SIZE_EXPAND = f"singleValueExtendedProperties($filter=id eq '{MESSAGE_SIZE_PROPERTY}')"
# Downloads are bounded by bytes, not only by count: inside a $batch answer a mail is
# base64 in JSON (4/3 of its size, then decoded again), so large mails are fetched
# alone, streamed from $value to a temporary file; small ones share a $batch whose
# MIME adds up to at most BATCH_BYTES. A mail of unknown size counts as large.
STREAM_ABOVE_BYTES = 2 * 1024 * 1024
BATCH_BYTES = 8 * 1024 * 1024
# Downloaded mail waiting to be imported, at most (one larger mail still passes).
READ_AHEAD_BYTES = 2 * BATCH_BYTES
# Bytes held in memory while streaming a download, beyond which it spills to disk.
SPOOL_BYTES = 1024 * 1024
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
            size=size_from(item),
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


def size_from(item):
    """PR_MESSAGE_SIZE (bytes) from an item with the expanded property, else None."""
    for prop in (item or {}).get("singleValueExtendedProperties") or []:
        if str(prop.get("id", "")).lower() == MESSAGE_SIZE_PROPERTY.lower():
            try:
                return int(prop.get("value"))
            except (TypeError, ValueError):
                return None
    return None


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


def download_plan(items, batch_size=BATCH_LIMIT):
    """Groups downloads: [(id, size)] lists of at most `batch_size` small mails
    adding up to at most BATCH_BYTES, and each large or unknown-size mail alone
    as [(id, None)] (streamed). The order of `items` is kept."""
    group, group_bytes = [], 0
    for item in items:
        mid, size = item if isinstance(item, tuple) else (item, None)
        if size is None or size > STREAM_ABOVE_BYTES:
            if group:
                yield group
                group, group_bytes = [], 0
            yield [(mid, None)]
            continue
        if group and (len(group) >= batch_size or group_bytes + size > BATCH_BYTES):
            yield group
            group, group_bytes = [], 0
        group.append((mid, size))
        group_bytes += size
    if group:
        yield group


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
        # The size comes with each change, so no $batch is needed to learn it.
        params = {
            "changeType": "created",
            "$select": ",".join(DELTA_SELECT),
            "$expand": SIZE_EXPAND,
        }
        if self.since is not None:
            params["$filter"] = f"receivedDateTime ge {format_datetime(self.since)}"
        base = self._client.url(
            f"/users/{_segment(self.mailbox)}/mailFolders/"
            f"{_segment(self.folder_id)}/messages/delta"
        )
        return f"{base}?{urlencode(params, quote_via=quote, safe='$,()=')}"

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
                # Messages already seen come again; the consumer deduplicates by id.
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
                # Opaque: replayed as is, even after an empty page.
                url = body["@odata.nextLink"]
            elif body.get("@odata.deltaLink"):
                self._delta_link = body["@odata.deltaLink"]
                return
            else:
                raise errors.IncompleteDelta({"mailbox": self.mailbox})


class GraphMailClient:
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

    def refresh_token(self):
        """A newly issued access token, not the cached one: a permission granted
        since the cached token was issued is only in a new token."""
        self._tokens.invalidate()
        return self._tokens.acquire()

    def check_roles(self, required=(WRITE_ROLE,)):
        """Raises MissingRole for the first application role the token lacks.

        The token's `roles` claim says at once what Azure granted, before any
        mailbox is named. Returns the granted roles (None: not a readable JWT).
        A role missing from the cached token is looked for in a new one first.
        """
        roles = token_roles(self.acquire_token())
        if roles is not None and any(role not in roles for role in required):
            roles = token_roles(self.refresh_token())
        if roles is None:
            return None
        for role in required:
            if role not in roles:
                raise errors.MissingRole(
                    {
                        "app": self.client_id,
                        "role": role,
                        "granted": ", ".join(sorted(roles)) or "-",
                    },
                    code="MissingRole",
                )
        return roles

    def check_access(self, mailbox, folder="inbox", roles=(WRITE_ROLE,)):
        """Proves token, application roles, mailbox, folder and access policy."""
        self.check_roles(roles)
        return self.get_folder(mailbox, folder)

    # --- folders -------------------------------------------------------------------

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

    # --- messages ------------------------------------------------------------------

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

    def fetch_mime(self, mailbox, items):
        """Yield (id, bytes | GraphError) download after download, so the caller can
        work while the next one downloads. One failing message never stops the others.

        `items` are ids or (id, size in bytes or None) pairs, in the order wanted;
        see download_plan() for how they are grouped.
        """
        for group in download_plan(items, self.batch_size):
            if len(group) == 1 and group[0][1] is None:
                mid = group[0][0]
                yield mid, self._stream_mime(mailbox, mid)
                continue
            entries = {
                mid: {
                    "method": "GET",
                    "url": f"{self._message_path(mailbox, mid)}/$value",
                }
                for mid, _size in group
            }
            answers = self._batch(entries, mailbox)
            for mid, _size in group:
                status, _headers, body = answers[mid]
                yield mid, self._mime_result(status, body, mailbox)

    def _stream_mime(self, mailbox, message_id):
        """One mail's MIME from $value, streamed through a temporary file: no JSON,
        no base64, and at most SPOOL_BYTES of it in memory while it arrives."""
        url = self.url(f"{self._message_path(mailbox, message_id)}/$value")
        try:
            response = self.request("GET", url, mailbox=mailbox, stream=True)
        except errors.GraphError as exc:
            return exc
        with response, tempfile.SpooledTemporaryFile(SPOOL_BYTES) as spool:
            try:
                for chunk in response.iter_content(256 * 1024):
                    spool.write(chunk)
            except OSError as exc:  # the connection broke in the middle
                return errors.connection_error(urlsplit(url).hostname, exc)
            spool.seek(0)
            return spool.read()

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
        # Retried entries of a move that already happened answer 404
        # ErrorItemNotFound: reported as ItemNotFound and left to the caller (with
        # ImmutableId it can look the message up in the destination).
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
        expand = quote(SIZE_EXPAND, safe="()$='")
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
                sizes[mid] = size_from(body) if 200 <= status < 300 else None
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
        if body is None:
            return b""  # an item without content: the importer says "empty"
        try:
            return _decode_mime_body(body)
        except ValueError:
            return errors.UnreadableBody({"mailbox": mailbox}, status=status)

    @staticmethod
    def _entry_error(status, headers, body, mailbox):
        return errors.from_graph_response(
            status,
            body if isinstance(body, dict) else None,
            mailbox,
            retry_after=_retry_after_seconds(headers),
        )

    # --- $batch --------------------------------------------------------------------

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
                elif status in errors.TRANSIENT_STATUSES:
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
