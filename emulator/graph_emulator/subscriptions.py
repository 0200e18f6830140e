"""Change notifications (webhooks): /v1.0/subscriptions, the validation handshake, and
the notification and lifecycle POSTs Graph sends to the subscriber's endpoints.

What the public sources say, and what this module does about it
(see also /work/shared/graph-facts.md section 6):

- Creating (and, per a public msgraph-sdk-dotnet report, renewing) a subscription makes
  Graph POST ``{url}?validationToken=<token>`` to the notification URL and to the
  lifecycle URL; the endpoint must answer 200, ``text/plain``, the decoded token, within
  10 s, otherwise the call answers 400 with one of the messages in VALIDATION_ERRORS
  (wording and codes as quoted in public issue threads).
- Outlook messages: at most 10,080 minutes of lifetime (without resource data); over it
  400 ExtensionError "Subscription expiration can only be N minutes in the future."
- Notifications are POSTed from a background thread, several changes per POST, and
  retried with back-off while the endpoint fails (non-2xx, or no answer within 3 s),
  for up to 4 hours; every time is a knob so tests take milliseconds.
- Lifecycle notifications (reauthorizationRequired, subscriptionRemoved, missed) are
  sent on demand with ``emu.lifecycle(id, event)``.
- Expiry follows ``emu.clock`` (real time plus an offset tests can advance).

Where the sources are silent (marked "unconfirmed" below) the behaviour is a knob.
"""

import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, urlencode, urlsplit

import requests

from .wire import Resp, graph_error, graph_json, parse_prefer

CHANGE_TYPES = ("created", "updated", "deleted")
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")
# Subscribing to messages needs read access (Mail.ReadBasic is documented too).
SUBSCRIBE_ROLES = ("Mail.ReadBasic", "Mail.Read", "Mail.ReadWrite")
MAX_MESSAGE_MINUTES = 10080

# (code, message) per way a validation can fail. "timeout", "status" and "mismatch" are
# quoted from public reports; "content_type" and "unreachable" are unconfirmed (Graph
# only documents that the answer must be text/plain; an unreachable host probably shows
# as a failed validation).
VALIDATION_ERRORS = {
    "timeout": ("InvalidRequest", "Subscription validation request timed out."),
    "status": (
        "ValidationError",
        "Subscription validation request failed. Notification endpoint must respond "
        "with 200 OK to validation request.",
    ),
    "mismatch": (
        "InvalidRequest",
        "Subscription validation request failed. Response must exactly match "
        "validationToken query parameter.",
    ),
    "content_type": (
        "InvalidRequest",
        "Subscription validation request failed. Response must exactly match "
        "validationToken query parameter.",
    ),
    "unreachable": (
        "ValidationError",
        "Subscription validation request failed. Notification endpoint must respond "
        "with 200 OK to validation request.",
    ),
}
NOT_FOUND = ("ResourceNotFound", "The object was not found.")

_PAREN_KEY = re.compile(r"/(\w+)\('([^']*)'\)")
_FOLDER_RESOURCE = re.compile(
    r"^/users/(?P<user>[^/]+)/mailFolders/(?P<folder>[^/]+)/messages$", re.I
)
_MAILBOX_RESOURCE = re.compile(r"^/users/(?P<user>[^/]+)/messages$", re.I)
_FRACTION = re.compile(r"(\.\d{1,6})\d*")


# -- time ---------------------------------------------------------------------------
class Clock:
    """The time subscriptions live by: real UTC time plus an offset tests can move.

    ``emu.clock.advance(minutes=10081)`` expires every subscription at once; the
    listeners (the subscription service) drop what expired right away."""

    def __init__(self):
        self.offset = timedelta(0)
        self._listeners = []

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset

    def advance(self, **delta):
        """Move forward by timedelta(**delta), e.g. advance(minutes=30)."""
        self.offset += timedelta(**delta)
        self._changed()

    def reset(self):
        self.offset = timedelta(0)
        self._changed()

    def on_change(self, listener):
        self._listeners.append(listener)

    def _changed(self):
        for listener in self._listeners:
            listener()


def graph_time(value: datetime) -> str:
    """Graph's DateTimeOffset form: UTC, seven fractional digits, Z."""
    value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond:06d}0Z"


def parse_time(text) -> datetime:
    """ISO 8601 with any number of fractional digits (Graph sends seven)."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty date")
    normalized = _FRACTION.sub(r"\1", text.strip().replace("Z", "+00:00"), count=1)
    value = datetime.fromisoformat(normalized)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


# -- state --------------------------------------------------------------------------
@dataclass
class Subscription:
    id: str
    resource: str  # as the client sent it
    change_types: tuple
    notification_url: str
    lifecycle_url: str | None
    client_state: str | None = field(repr=False)
    expiration: datetime
    application_id: str
    creator_id: str
    tenant_id: str
    mailbox: object  # store.Mailbox
    folder: object  # store.Folder, or None for every folder of the mailbox
    immutable_ids: bool  # created with Prefer: IdType="ImmutableId"
    latest_tls: str = "v1_2"

    def to_json(self, graph_url):
        return {
            "@odata.context": f"{graph_url}/$metadata#subscriptions/$entity",
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.application_id,
            "changeType": ",".join(self.change_types),
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "notificationQueryOptions": None,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": graph_time(self.expiration),
            "creatorId": self.creator_id,
            "includeResourceData": False,
            "latestSupportedTlsVersion": self.latest_tls,
            "encryptionCertificate": None,
            "encryptionCertificateId": None,
            "notificationUrlAppId": None,
        }


@dataclass
class Outgoing:
    """One POST the emulator sent (or tried to send) to a subscriber's endpoint."""

    kind: str  # "validation" | "notification" | "lifecycle"
    url: str
    status: int | None  # None: time-out or connection failure
    error: str | None  # None when the endpoint answered 2xx (200 for validation)
    attempt: int
    items: int  # notifications in the body (0 for validation)
    subscription_ids: tuple
    body: dict | None
    started: float
    duration: float

    @property
    def ok(self):
        return self.error is None


class OutgoingLog(list):
    """The POSTs to subscriber endpoints, appended to by the delivery threads."""

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

    def select(self, kind=None, url_contains=None, ok=None):
        return [
            row
            for row in self.snapshot()
            if (kind is None or row.kind == kind)
            and (url_contains is None or url_contains in row.url)
            and (ok is None or row.ok == ok)
        ]

    def count(self, kind=None, url_contains=None, ok=None):
        return len(self.select(kind, url_contains, ok))

    def notifications(self, url_contains=None):
        """Every notification item delivered with a 2xx answer, in delivery order."""
        return [
            item
            for row in self.select("notification", url_contains, ok=True)
            for item in row.body["value"]
        ]


@dataclass
class _Pending:
    subscription_id: str
    payload: dict


class _Lane:
    """Delivers POSTs to one URL from its own thread: gathers what arrives within the
    batching window, sends it as one POST, retries that POST with back-off until the
    endpoint answers 2xx or the retry budget is spent."""

    def __init__(self, service, kind, url):
        self.service, self.kind, self.url = service, kind, url
        self.pending = []
        self.busy = False
        self.cond = threading.Condition()
        self.stop = service.stopping  # service.stop() sets it and starts a new one
        self.session = _session()
        self.thread = threading.Thread(
            target=self._run, name=f"graph-emulator {kind} {url}", daemon=True
        )
        self.thread.start()

    def put(self, item):
        with self.cond:
            self.pending.append(item)
            self.cond.notify_all()

    @property
    def idle(self):
        with self.cond:
            return not self.pending and not self.busy

    def _run(self):
        stop = self.stop
        while not stop.is_set():
            with self.cond:
                while not self.pending and not stop.is_set():
                    self.cond.wait(0.5)
                if stop.is_set():
                    return
                self.busy = True
            stop.wait(self.service.batch_window)  # let a burst gather into one POST
            with self.cond:
                size = max(1, int(self.service.max_batch))
                batch, self.pending[:size] = self.pending[:size], []
            try:
                self._deliver(batch)
            finally:
                with self.cond:
                    self.busy = bool(self.pending)
                    self.cond.notify_all()

    def _deliver(self, batch):
        service, stop = self.service, self.stop
        first_try, attempt = time.monotonic(), 0
        while not stop.is_set():
            if self.kind == "notification":  # expired or deleted: no more notifying
                batch = [
                    item for item in batch if service.is_live(item.subscription_id)
                ]
            if not batch:
                return
            attempt += 1
            if service.post(self.session, self.kind, self.url, batch, attempt):
                return
            delay = min(
                service.retry_base * 2 ** (attempt - 1), service.retry_max_interval
            )
            if time.monotonic() - first_try + delay > service.retry_give_up:
                service.gave_up(self.kind, batch)
                return
            stop.wait(delay)


def _session():
    session = requests.Session()
    session.trust_env = False  # no proxy, no REQUESTS_CA_BUNDLE from the environment
    return session


class _Refused(Exception):
    def __init__(self, resp):
        super().__init__(resp.status)
        self.resp = resp


# -- the service --------------------------------------------------------------------
class SubscriptionService:
    """State and HTTP handlers of /subscriptions; ``emu.subscriptions``."""

    def __init__(self, emu):
        self.emu = emu
        self.clock = emu.clock
        self._lock = threading.RLock()
        self._subs = {}
        self._lanes = {}
        self.stopping = threading.Event()
        self.outbox = OutgoingLog()  # every POST to a subscriber endpoint
        self.dropped = []  # notification items given up on after the retry budget
        self.validation_errors = dict(VALIDATION_ERRORS)
        self.set_defaults()
        self.clock.on_change(self.purge_expired)

    def set_defaults(self):
        """Knobs (attributes: change them any time)."""
        self.max_expiration_minutes = MAX_MESSAGE_MINUTES
        self.validation_timeout = 10.0  # seconds for the endpoint to answer
        self.validate_lifecycle_url = True
        self.validate_on_renew = True  # PATCH validates the notification URL again
        # Graph documents text/plain; whether it rejects another type is unconfirmed.
        self.validation_require_text_plain = True
        self.notification_timeout = 3.0  # seconds; slower counts as a failure
        self.batch_window = 0.1  # seconds a lane waits to gather a burst
        self.max_batch = 100  # notifications per POST (Graph's figure: unconfirmed)
        self.retry_base = 1.0  # first retry delay, doubled each time (unconfirmed)
        self.retry_max_interval = 300.0
        self.retry_give_up = 4 * 3600.0  # Graph: "up to 4 hours"
        self.missed_on_give_up = True  # then a "missed" lifecycle event (unconfirmed)
        self.require_https = True  # Graph refuses http:// endpoints
        self.notification_verify = True  # requests' verify= for https endpoints
        # The emulator only POSTs to these hosts (None: anywhere), so a demo can never
        # send anything off the machine.
        self.allowed_hosts = ("127.0.0.1", "localhost", "::1")
        self.client_state_max = 128  # documented 128 (changeNotification says 255)
        self.lifecycle_organization_id = False  # older samples had organizationId

    # -- Python API for tests --------------------------------------------------
    def all(self):
        self.purge_expired()
        with self._lock:
            return list(self._subs.values())

    def get(self, subscription_id) -> Subscription:
        self.purge_expired()
        with self._lock:
            return self._subs[subscription_id]

    def is_live(self, subscription_id):
        with self._lock:
            sub = self._subs.get(subscription_id)
            return sub is not None and sub.expiration > self.clock.now()

    def purge_expired(self):
        now = self.clock.now()
        with self._lock:
            for sub_id in [k for k, s in self._subs.items() if s.expiration <= now]:
                del self._subs[sub_id]

    def lifecycle(self, subscription_id, event):
        """Send a lifecycle notification now; subscriptionRemoved also removes the
        subscription. Returns False when the subscription has no lifecycle URL (Graph
        then sends nothing)."""
        if event not in LIFECYCLE_EVENTS:
            raise ValueError(f"unknown lifecycle event {event!r}: {LIFECYCLE_EVENTS}")
        with self._lock:
            sub = self._subs[subscription_id]
            if event == "subscriptionRemoved":
                del self._subs[subscription_id]
        if not sub.lifecycle_url:
            return False
        self._enqueue(
            "lifecycle", sub.lifecycle_url, sub.id, self._lifecycle(sub, event)
        )
        return True

    def wait_idle(self, timeout=5.0):
        """Wait until every queued notification was delivered or given up on."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                lanes = list(self._lanes.values())
            if all(lane.idle for lane in lanes):
                return True
            time.sleep(0.01)
        return False

    def stop(self):
        """Stop the delivery threads (the emulator's stop() calls this)."""
        self.stopping.set()
        with self._lock:
            lanes, self._lanes = list(self._lanes.values()), {}
        for lane in lanes:
            with lane.cond:
                lane.cond.notify_all()
            lane.thread.join(timeout=5)
            lane.session.close()
        self.stopping = threading.Event()

    def reset(self):
        """Forget every subscription, queued notification and log row; default knobs."""
        self.stop()
        with self._lock:
            self._subs.clear()
        self.outbox.clear()
        self.dropped.clear()
        self.validation_errors = dict(VALIDATION_ERRORS)
        self.set_defaults()
        self.clock.reset()

    # -- change feed (called by store.Mailbox under the emulator's lock) ---------
    def changed(self, mailbox, folder, msg, kind, rest_id):
        """A message was created in / updated in / removed from a folder."""
        if not self._subs:
            return
        now = self.clock.now()
        with self._lock:
            targets = [
                sub
                for sub in self._subs.values()
                if sub.mailbox is mailbox
                and kind in sub.change_types
                and (sub.folder is None or sub.folder is folder)
                and sub.expiration > now
            ]
        for sub in targets:
            item = self._change(sub, msg, kind, rest_id)
            self._enqueue("notification", sub.notification_url, sub.id, item)

    def _change(self, sub, msg, kind, rest_id):
        message_id = msg.immutable_id if sub.immutable_ids else rest_id
        path = f"Users/{sub.mailbox.id}/Messages/{message_id}"
        return {
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": graph_time(sub.expiration),
            "changeType": kind,
            "resource": path,
            "resourceData": {
                "@odata.type": "#Microsoft.Graph.Message",
                "@odata.id": path,
                "@odata.etag": f'W/"{msg.change_key}"',
                "id": message_id,
            },
            "clientState": sub.client_state,
            "tenantId": sub.tenant_id,
        }

    def _lifecycle(self, sub, event):
        item = {
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": graph_time(sub.expiration),
            "tenantId": sub.tenant_id,
            "clientState": sub.client_state,
            "lifecycleEvent": event,
        }
        if self.lifecycle_organization_id:
            item["organizationId"] = sub.tenant_id
        return item

    def _enqueue(self, kind, url, subscription_id, payload):
        with self._lock:
            lane = self._lanes.get((kind, url))
            if lane is None:
                lane = self._lanes[(kind, url)] = _Lane(self, kind, url)
        lane.put(_Pending(subscription_id, payload))

    # -- outgoing POSTs ---------------------------------------------------------
    def post(self, session, kind, url, batch, attempt):
        """One notification POST; True when the endpoint answered 2xx in time."""
        body = {"value": [item.payload for item in batch]}
        status, error, started = None, None, time.time()
        try:
            self._check_host(url)
            resp = session.post(
                url,
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=self.notification_timeout,
                verify=self.notification_verify,
                allow_redirects=False,
            )
            status = resp.status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except requests.Timeout:
            error = f"no answer within {self.notification_timeout} s"
        except (requests.RequestException, _HostNotAllowed) as exc:
            error = f"{type(exc).__name__}: {exc}"
        self.outbox.append(
            Outgoing(
                kind,
                url,
                status,
                error,
                attempt,
                len(batch),
                tuple(dict.fromkeys(item.subscription_id for item in batch)),
                body,
                started,
                time.time() - started,
            )
        )
        return error is None

    def gave_up(self, kind, batch):
        self.dropped.extend(item.payload for item in batch)
        if kind != "notification" or not self.missed_on_give_up:
            return
        for sub_id in dict.fromkeys(item.subscription_id for item in batch):
            with self._lock:
                sub = self._subs.get(sub_id)
            if sub is not None and sub.lifecycle_url:
                self._enqueue(
                    "lifecycle",
                    sub.lifecycle_url,
                    sub.id,
                    self._lifecycle(sub, "missed"),
                )

    def _check_host(self, url):
        host = (urlsplit(url).hostname or "").lower()
        if self.allowed_hosts is not None and host not in self.allowed_hosts:
            raise _HostNotAllowed(
                f"the emulator only sends to {self.allowed_hosts} (allowed_hosts)"
            )

    def validate_endpoint(self, url):
        """The handshake; None when the endpoint passed, else the failure's key."""
        token = (
            "Validation: Testing client application reachability for subscription "
            f"Request-Id: {uuid.uuid4()}"
        )
        separator = "&" if urlsplit(url).query else "?"
        target = (
            f"{url}{separator}{urlencode({'validationToken': token}, quote_via=quote)}"
        )
        started, status, failure, detail = time.time(), None, None, None
        try:
            self._check_host(url)
            with _session() as session:
                resp = session.post(
                    target,
                    data=b"",
                    headers={"Content-Type": "text/plain; charset=utf-8"},
                    timeout=self.validation_timeout,
                    verify=self.notification_verify,
                    allow_redirects=False,
                )
            status = resp.status_code
            failure = self._judge(resp, token)
        except requests.Timeout:
            failure = "timeout"
        except (requests.RequestException, _HostNotAllowed) as exc:
            failure, detail = "unreachable", f"{type(exc).__name__}: {exc}"
        self.outbox.append(
            Outgoing(
                "validation",
                url,
                status,
                None if failure is None else (detail or failure),
                1,
                0,
                (),
                None,
                started,
                time.time() - started,
            )
        )
        return failure

    def _judge(self, resp, token):
        if resp.status_code != 200:
            return "status"
        content_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
        if self.validation_require_text_plain and content_type.lower() != "text/plain":
            return "content_type"
        if resp.content.decode("utf-8", "replace") != token:
            return "mismatch"
        return None

    # -- HTTP -------------------------------------------------------------------
    def handle(self, req, ctx) -> Resp:
        """Requests under /v1.0/subscriptions (already authenticated)."""
        resp = self._fault(req)
        if resp is None:
            try:
                resp = self._route(req, ctx)
            except _Refused as refused:
                resp = refused.resp
        resp.client_id = ctx.app.client_id
        return resp

    def _fault(self, req):
        fault = self.emu.faults.draw([req.path + "?" + urlencode(req.query)])
        if not fault:
            return None
        resp = self.emu.graph.fault_response(fault, req)
        if resp is not None:
            resp.fault = fault
        return resp

    def _route(self, req, ctx):
        self.purge_expired()
        parts = [p for p in req.path.split("/") if p][2:]  # after v1.0/subscriptions
        method = req.method
        if not parts and method == "POST":
            return self.create(req, ctx)
        if not parts and method == "GET":
            return self.list(req, ctx)
        if len(parts) == 1 and method in ("GET", "PATCH", "DELETE"):
            sub = self._owned(req, ctx, parts[0])
            return {"GET": self.read, "PATCH": self.update, "DELETE": self.delete}[
                method
            ](req, ctx, sub)
        if len(parts) == 2 and parts[1].lower() == "reauthorize" and method == "POST":
            return self.reauthorize(req, ctx, self._owned(req, ctx, parts[0]))
        if len(parts) <= 2:
            return graph_error(
                405, "ErrorInvalidRequest", "The OData request is not supported.", req
            )
        return graph_error(
            400, "BadRequest", f"Resource not found for the segment '{parts[-1]}'.", req
        )

    def _owned(self, req, ctx, sub_id):
        """Only the application that created a subscription sees it."""
        with self._lock:
            sub = self._subs.get(sub_id)
        if sub is None or (sub.application_id, sub.tenant_id) != (
            ctx.app.client_id,
            ctx.tenant.id,
        ):
            raise _Refused(graph_error(404, *NOT_FOUND, req))
        return sub

    def create(self, req, ctx):
        body = _json_body(req)
        for name in ("changeType", "notificationUrl", "resource", "expirationDateTime"):
            if not body.get(name):
                raise _Refused(
                    _bad(
                        req, f"{name} is a required property for subscription creation."
                    )
                )
        change_types = self._change_types(req, body["changeType"])
        notification_url = self._endpoint(
            req, body["notificationUrl"], "NotificationUrl"
        )
        lifecycle_url = body.get("lifecycleNotificationUrl") or None
        if lifecycle_url:
            lifecycle_url = self._endpoint(
                req, lifecycle_url, "LifecycleNotificationUrl"
            )
        client_state = self._client_state(req, body.get("clientState"))
        expiration = self._expiration(req, body["expirationDateTime"])
        user, folder_key = self._resource(req, body["resource"])
        self._validate(req, notification_url)
        if lifecycle_url and self.validate_lifecycle_url:
            self._validate(req, lifecycle_url)
        with self.emu.lock:
            mailbox = self._mailbox(req, ctx, user, "Create")
            folder = self._folder(req, mailbox, folder_key, "Create")
            sub = Subscription(
                id=str(uuid.uuid4()),
                resource=body["resource"],
                change_types=change_types,
                notification_url=notification_url,
                lifecycle_url=lifecycle_url,
                client_state=client_state,
                expiration=expiration,
                application_id=ctx.app.client_id,
                creator_id=ctx.app.service_principal_id,
                tenant_id=ctx.tenant.id,
                mailbox=mailbox,
                folder=folder,
                immutable_ids=_prefers_immutable(req),
                latest_tls=body.get("latestSupportedTlsVersion") or "v1_2",
            )
            with self._lock:
                self._subs[sub.id] = sub
        return self._answer(201, sub)

    def list(self, req, ctx):
        with self._lock:
            mine = [
                s
                for s in self._subs.values()
                if (s.application_id, s.tenant_id) == (ctx.app.client_id, ctx.tenant.id)
            ]
        graph_url = self.emu.graph_url
        values = [s.to_json(graph_url) for s in mine]
        for value in values:
            del value["@odata.context"]
        return graph_json(
            200,
            {"@odata.context": f"{graph_url}/$metadata#subscriptions", "value": values},
        )

    def read(self, req, ctx, sub):
        return self._answer(200, sub)

    def update(self, req, ctx, sub):
        body = _json_body(req)
        if not body.get("expirationDateTime") and not body.get("notificationUrl"):
            raise _Refused(
                _bad(
                    req,
                    "Subscription must contain either the 'expirationDateTime' or "
                    "'notificationUrl' property and its value.",
                )
            )
        expiration = sub.expiration
        if body.get("expirationDateTime"):
            expiration = self._expiration(req, body["expirationDateTime"])
        url = sub.notification_url
        if body.get("notificationUrl"):
            url = self._endpoint(req, body["notificationUrl"], "NotificationUrl")
        if self.validate_on_renew or url != sub.notification_url:
            self._validate(req, url)
        with self.emu.lock:
            self._mailbox(req, ctx, sub.mailbox.address, "Update")
        with self._lock:
            if sub.id not in self._subs:  # deleted while the endpoint was validated
                raise _Refused(graph_error(404, *NOT_FOUND, req))
            sub.expiration, sub.notification_url = expiration, url
        return self._answer(200, sub)

    def delete(self, req, ctx, sub):
        with self._lock:
            self._subs.pop(sub.id, None)
        resp = Resp(204, {})
        resp.mailbox = sub.mailbox.address
        return resp

    def reauthorize(self, req, ctx, sub):
        with self.emu.lock:
            self._mailbox(req, ctx, sub.mailbox.address, "Reauthorize")
        resp = Resp(204, {})
        resp.mailbox = sub.mailbox.address
        return resp

    def _answer(self, status, sub):
        resp = graph_json(status, sub.to_json(self.emu.graph_url))
        resp.mailbox = sub.mailbox.address
        return resp

    # -- request checks ------------------------------------------------------------
    @staticmethod
    def _change_types(req, value):
        kinds = tuple(k.strip() for k in str(value).split(",") if k.strip())
        bad = [k for k in kinds if k not in CHANGE_TYPES]
        if bad or not kinds:
            # Wording unconfirmed.
            raise _Refused(_bad(req, f"Invalid changeType '{value}'."))
        return kinds

    def _endpoint(self, req, url, label):
        parts = urlsplit(str(url))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _Refused(_bad(req, f"Invalid {label} '{url}'."))  # unconfirmed
        if parts.scheme == "http" and self.require_https:
            # Quoted from a public report for notificationUrl.
            raise _Refused(_bad(req, f"{label} scheme='http' is not supported."))
        return str(url)

    def _client_state(self, req, value):
        if value is None:
            return None
        if not isinstance(value, str) or len(value) > self.client_state_max:
            raise _Refused(  # wording unconfirmed
                _bad(
                    req,
                    f"clientState must be a string of at most {self.client_state_max} "
                    "characters.",
                )
            )
        return value

    def _expiration(self, req, value):
        try:
            expiration = parse_time(value)
        except (TypeError, ValueError):
            raise _Refused(
                _bad(req, f"Invalid expirationDateTime '{value}'.")  # unconfirmed
            ) from None
        now = self.clock.now()
        if expiration <= now:
            raise _Refused(  # wording unconfirmed
                _bad(req, "Subscription expiration must be in the future.")
            )
        if expiration - now > timedelta(minutes=self.max_expiration_minutes):
            raise _Refused(
                graph_error(
                    400,
                    "ExtensionError",
                    "Subscription expiration can only be "
                    f"{self.max_expiration_minutes} minutes in the future.",
                    req,
                )
            )
        return expiration

    @staticmethod
    def _resource(req, resource):
        path = "/" + str(resource).split("?")[0].strip().strip("/")
        path = _PAREN_KEY.sub(lambda m: f"/{m.group(1)}/{m.group(2)}", path)
        path = re.sub(r"//+", "/", path)
        if path.lower() == "/me" or path.lower().startswith("/me/"):
            raise _Refused(
                _bad(
                    req, "/me request is only valid with delegated authentication flow."
                )
            )
        match = _FOLDER_RESOURCE.match(path)
        if match:
            return match.group("user"), match.group("folder")
        match = _MAILBOX_RESOURCE.match(path)
        if match:
            return match.group("user"), None
        # The emulator only emulates mail; wording unconfirmed.
        raise _Refused(_bad(req, f"Resource '{resource}' is not supported."))

    def _validate(self, req, url):
        failure = self.validate_endpoint(url)
        if failure is not None:
            code, message = self.validation_errors[failure]
            raise _Refused(graph_error(400, code, message, req))

    def _mailbox(self, req, ctx, user, operation):
        """Outlook's answers come wrapped as ExtensionError (as quoted in public
        reports for 403); the wrapped 404 wordings are unconfirmed."""
        mailbox = ctx.tenant.find_mailbox(user)
        if mailbox is None or not mailbox.rest_enabled:
            raise _Refused(
                _extension_error(
                    req,
                    404,
                    operation,
                    "NotFound",
                    f"The requested user '{user}' is invalid.",
                )
            )
        roles = set(ctx.claims.get("roles") or ())
        if not roles & set(SUBSCRIBE_ROLES) or not ctx.app.may_access(mailbox):
            raise _Refused(
                _extension_error(req, 403, operation, "Forbidden", "Access denied")
            )
        return mailbox

    @staticmethod
    def _folder(req, mailbox, key, operation):
        if key is None:
            return None
        folder = mailbox.find_folder(key)
        if folder is None:
            raise _Refused(
                _extension_error(
                    req,
                    404,
                    operation,
                    "NotFound",
                    "The specified folder could not be found in the store.",
                )
            )
        return folder


class _HostNotAllowed(Exception):
    pass


def _json_body(req):
    try:
        body = req.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise _Refused(
            graph_error(
                400,
                "BadRequest",
                "Unable to read JSON request payload. Please ensure Content-Type "
                "header is set and payload is of valid JSON format.",
                req,
            )
        )
    return body


def _bad(req, message):
    return graph_error(400, "InvalidRequest", message, req)


def _extension_error(req, status, operation, status_name, reason):
    return graph_error(
        status,
        "ExtensionError",
        f"Operation: {operation}; Exception: [Status Code: {status_name}; "
        f"Reason: {reason}]",
        req,
    )


def _prefers_immutable(req):
    return parse_prefer(req).get("idtype", "").lower() == "immutableid"
