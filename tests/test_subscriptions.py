"""Change notifications: the emulator's /subscriptions and webhook POSTs, the client's
MailSubscriptions and the endpoint helpers.

The notification endpoint is a real HTTP(S) server on 127.0.0.1 in a thread; the
emulator POSTs to it over the loopback, from its own delivery threads. Every time-out
and back-off is a knob, turned down so that no test takes more than a second or two.
"""

import hmac
import json
import socket
import ssl
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import trustme
from conftest import make_client
from graph_emulator.pytest_fixtures import Graph, get_token
from graph_emulator.samples import make_eml
from mail_scanner_graph import errors
from mail_scanner_graph import subscriptions as subs

UTC = timezone.utc
SECRET = "client-state-" + "x" * 40


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that hung up (time-out tests) is expected


class Receiver:
    """A notification endpoint: answers validation requests and records POSTs.

    validation: "echo" (correct), "wrong" (another token), "json" (right token as
    application/json), or an HTTP status (int). validation_delay: seconds before the
    answer. statuses: {path: scripted answers to the next POSTs there} (then 202); an
    entry ("slow", seconds) answers 202 after that long."""

    def __init__(self, tls=None):
        self.validation = "echo"
        self.validation_delay = 0.0
        self.statuses = {}
        self.validations = []  # decoded tokens, per path
        self.posts = []  # (path, status answered, body as parsed JSON, thread name)
        self.lock = threading.Lock()
        self.server = _QuietServer(("127.0.0.1", 0), self._handler())
        self.scheme = "http"
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(
            target=self.server.serve_forever, args=(0.05,), daemon=True
        )
        self.thread.start()

    def url(self, path="/notify"):
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}{path}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def bodies(self, path="/notify"):
        with self.lock:
            return [body for p, status, body, _ in self.posts if p == path]

    def items(self, path="/notify", accepted_only=True):
        with self.lock:
            return [
                item
                for p, status, body, _ in self.posts
                if p == path and (status < 300 or not accepted_only)
                for item in body["value"]
            ]

    def _next_status(self, path):
        with self.lock:
            script = self.statuses.get(path)
            return script.pop(0) if script else 202

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                token = parse_qs(parts.query).get("validationToken")
                try:
                    if token:
                        self._validation(parts.path, token[0])
                    else:
                        self._notification(parts.path, raw)
                except OSError:  # the emulator gave up waiting and hung up
                    pass

            def _validation(self, path, token):
                with receiver.lock:
                    receiver.validations.append((path, token))
                time.sleep(receiver.validation_delay)
                mode = receiver.validation
                if isinstance(mode, int):
                    return self._answer(mode, "text/plain", token)
                if mode == "wrong":
                    return self._answer(200, "text/plain", token + "x")
                if mode == "json":
                    return self._answer(200, "application/json", token)
                return self._answer(200, "text/plain; charset=utf-8", token)

            def _notification(self, path, raw):
                status = receiver._next_status(path)
                if isinstance(status, tuple):
                    time.sleep(status[1])
                    status = 202
                with receiver.lock:
                    receiver.posts.append(
                        (path, status, json.loads(raw), threading.current_thread().name)
                    )
                self._answer(status, "text/plain", "")

            def _answer(self, status, content_type, text):
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


@pytest.fixture
def receiver():
    endpoint = Receiver()
    yield endpoint
    endpoint.close()


@pytest.fixture
def service(emulator):
    """The emulator's subscription service with fast knobs; reset after the test."""
    svc = emulator.subscriptions
    svc.require_https = False  # the test endpoint speaks plain http on 127.0.0.1
    svc.validation_timeout = 2.0
    svc.batch_window = 0.05
    svc.retry_base = 0.05
    svc.retry_max_interval = 0.2
    svc.retry_give_up = 5.0
    yield svc
    svc.reset()


@pytest.fixture
def manager(client, service):
    return subs.MailSubscriptions(client)


def deliver(mailbox, count=1, folder="inbox", tag="m"):
    return [
        mailbox.deliver(
            make_eml(
                f"{tag} {n} {uuid.uuid4().hex[:6]}", "c@example.com", "s@x.com", "b"
            ),
            folder=folder,
        )
        for n in range(count)
    ]


def raw_graph(emulator, tenant, app):
    return Graph(emulator, get_token(emulator, tenant, app))


def subscription_body(receiver, resource, minutes=60, **extra):
    body = {
        "changeType": "created",
        "notificationUrl": receiver.url(),
        "resource": resource,
        "expirationDateTime": (
            datetime.now(UTC) + timedelta(minutes=minutes)
        ).isoformat(),
        "clientState": SECRET,
    }
    body.update(extra)
    return body


# --- creation and the validation handshake -------------------------------------------


def test_create_validates_both_urls_and_returns_the_subscription(
    emulator, manager, mailbox, receiver, app
):
    before = datetime.now(UTC)
    sub = manager.subscribe(
        mailbox.address,
        "inbox",
        receiver.url(),
        SECRET,
        lifecycle_url=receiver.url("/lifecycle"),
    )

    assert sub.change_type == "created"
    assert sub.resource == f"users/{mailbox.address}/mailFolders('inbox')/messages"
    assert sub.notification_url == receiver.url()
    assert sub.lifecycle_url == receiver.url("/lifecycle")
    assert sub.client_state == SECRET and SECRET not in repr(sub)
    assert sub.application_id == app.client_id
    assert sub.creator_id == app.service_principal_id
    ceiling = before + timedelta(minutes=subs.MAX_EXPIRATION_MINUTES)
    assert before + timedelta(minutes=10000) < sub.expiration < ceiling
    # Both endpoints were validated with a token that needs URL-decoding.
    paths = [path for path, _ in receiver.validations]
    assert paths == ["/notify", "/lifecycle"]
    token = receiver.validations[0][1]
    assert token.startswith("Validation: ") and " " in token
    assert emulator.subscriptions.outbox.count(kind="validation", ok=True) == 2
    assert emulator.subscriptions.get(sub.id).folder == mailbox.folder("inbox")
    rows = emulator.log.select(path_contains="/subscriptions", method="POST")
    assert [r.status for r in rows] == [201]
    assert rows[0].mailbox == mailbox.address and rows[0].client_id == app.client_id


@pytest.mark.parametrize(
    ("mode", "words"),
    [
        ("wrong", "Response must exactly match validationToken query parameter."),
        ("json", "Response must exactly match validationToken query parameter."),
        (500, "Notification endpoint must respond with 200 OK to validation request."),
    ],
)
def test_failed_validation_quotes_graph_and_creates_nothing(
    emulator, manager, mailbox, receiver, mode, words
):
    receiver.validation = mode
    with pytest.raises(errors.SubscriptionValidationFailed) as caught:
        manager.subscribe(mailbox.address, "inbox", receiver.url("/notify?k=v"), SECRET)

    exc = caught.value
    assert exc.status == 400
    assert exc.graph_message == f"Subscription validation request failed. {words}"
    assert exc.graph_message in str(exc)
    assert receiver.url("/notify") in str(exc) and "k=v" not in str(exc)
    assert emulator.subscriptions.all() == []


def test_slow_endpoint_times_out_validation(
    emulator, service, manager, mailbox, receiver
):
    service.validation_timeout = 0.3
    receiver.validation_delay = 1.0
    started = time.monotonic()
    with pytest.raises(errors.SubscriptionValidationFailed) as caught:
        manager.subscribe(mailbox.address, "inbox", receiver.url(), SECRET)
    assert time.monotonic() - started < 0.9
    assert caught.value.graph_message == "Subscription validation request timed out."
    assert caught.value.code == "InvalidRequest"
    assert emulator.subscriptions.outbox.select(kind="validation")[0].status is None


def test_unreachable_endpoint_fails_validation(emulator, manager, mailbox):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(errors.SubscriptionValidationFailed) as caught:
        manager.subscribe(
            mailbox.address, "inbox", f"http://127.0.0.1:{port}/n", SECRET
        )
    assert "must respond with 200 OK" in caught.value.graph_message


def test_lifecycle_url_is_validated_too(emulator, manager, mailbox, receiver):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(errors.SubscriptionValidationFailed):
        manager.subscribe(
            mailbox.address,
            "inbox",
            receiver.url(),
            SECRET,
            lifecycle_url=f"http://127.0.0.1:{port}/lifecycle",
        )
    assert [path for path, _ in receiver.validations] == ["/notify"]
    assert emulator.subscriptions.all() == []


def test_http_endpoint_refused_unless_the_knob_allows_it(
    service, manager, mailbox, receiver
):
    service.require_https = True
    with pytest.raises(errors.SubscriptionError) as caught:
        manager.subscribe(mailbox.address, "inbox", receiver.url(), SECRET)
    assert not isinstance(caught.value, errors.SubscriptionValidationFailed)
    assert (
        caught.value.graph_message == "NotificationUrl scheme='http' is not supported."
    )
    assert receiver.validations == []


def test_https_endpoint_end_to_end(emulator, service, manager, mailbox, tmp_path):
    ca = trustme.CA()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    service.require_https = True
    service.notification_verify = str(tmp_path / "ca.pem")
    endpoint = Receiver(tls=ctx)
    try:
        sub = manager.subscribe(mailbox.address, "inbox", endpoint.url(), SECRET)
        (msg,) = deliver(mailbox)
        assert service.wait_idle()
        assert [i["resourceData"]["id"] for i in endpoint.items()] == [msg.immutable_id]
        assert endpoint.items()[0]["subscriptionId"] == sub.id
    finally:
        endpoint.close()


def test_expiration_limits(emulator, service, manager, tenant, app, mailbox, receiver):
    graph = raw_graph(emulator, tenant, app)
    resource = f"users/{mailbox.address}/mailFolders('inbox')/messages"
    too_long = graph.post(
        "/subscriptions", json=subscription_body(receiver, resource, minutes=10081)
    )
    assert too_long.status_code == 400
    assert too_long.json()["error"]["code"] == "ExtensionError"
    assert too_long.json()["error"]["message"] == (
        "Subscription expiration can only be 10080 minutes in the future."
    )
    past = graph.post(
        "/subscriptions", json=subscription_body(receiver, resource, minutes=-1)
    )
    assert past.status_code == 400
    assert receiver.validations == []  # refused before any validation request
    # The client never asks for more than the maximum, whatever it is told.
    sub = manager.subscribe(
        mailbox.address, "inbox", receiver.url(), SECRET, minutes=10**6
    )
    assert sub.expiration < datetime.now(UTC) + timedelta(minutes=10080)


@pytest.mark.parametrize(
    "resource",
    [
        "users/{address}/mailFolders('inbox')/messages",
        "/users/{address}/mailFolders('Inbox')/messages",
        "users('{address}')/mailFolders/{folder_id}/messages",
        "/users/{user_id}/mailFolders/{folder_id}/messages",
    ],
)
def test_folder_resource_forms(
    emulator, service, tenant, app, mailbox, receiver, resource
):
    tickets = mailbox.add_folder("Tickets")
    folder_id = tickets.id if "folder_id" in resource else None
    text = resource.format(
        address=mailbox.address, user_id=mailbox.id, folder_id=folder_id
    )
    resp = raw_graph(emulator, tenant, app).post(
        "/subscriptions", json=subscription_body(receiver, text)
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["resource"] == text
    expected = tickets if folder_id else mailbox.folder("inbox")
    assert service.get(resp.json()["id"]).folder is expected


def test_resource_errors(emulator, service, tenant, app, mailbox, receiver):
    graph = raw_graph(emulator, tenant, app)

    def create(resource):
        return graph.post("/subscriptions", json=subscription_body(receiver, resource))

    me = create("me/mailFolders('inbox')/messages")
    assert me.status_code == 400
    nobody = create("users/nobody@example.com/mailFolders('inbox')/messages")
    assert nobody.status_code == 404
    assert nobody.json()["error"]["code"] == "ExtensionError"
    no_folder = create(f"users/{mailbox.address}/mailFolders/AAMkNope/messages")
    assert no_folder.status_code == 404
    assert "could not be found" in no_folder.json()["error"]["message"]
    events = create(f"users/{mailbox.address}/events")
    assert events.status_code == 400
    assert service.all() == []


def test_permissions(emulator, service, tenant, mailbox, receiver):
    def subscribe(roles, allowed=None):
        app = tenant.add_app(roles=roles, allowed_mailboxes=allowed)
        client = make_client(emulator, tenant, app)
        try:
            return subs.MailSubscriptions(client).subscribe(
                mailbox.address, "inbox", receiver.url(), SECRET
            )
        finally:
            client.close()

    with pytest.raises(errors.AccessDenied) as caught:
        subscribe(("Mail.Send",))
    assert errors.graph_words(caught.value) == (
        "Operation: Create; Exception: [Status Code: Forbidden; Reason: Access denied]"
    )
    with pytest.raises(errors.AccessDenied):
        subscribe(("Mail.Read",), allowed=["someone-else@example.com"])
    assert subscribe(("Mail.Read",)).id
    assert subscribe(("Mail.ReadWrite",)).id


# --- get / renew / delete / reauthorize -----------------------------------------


def test_get_renew_delete(emulator, manager, mailbox, receiver):
    sub = manager.subscribe(
        mailbox.address, "inbox", receiver.url(), SECRET, minutes=30
    )
    assert manager.get(sub.id) == sub
    validations = len(receiver.validations)

    renewed = manager.renew(sub.id, minutes=120)
    assert renewed.id == sub.id
    assert renewed.expiration - sub.expiration > timedelta(minutes=85)
    assert len(receiver.validations) == validations + 1  # renewal validates again
    manager.reauthorize(sub.id)

    assert manager.delete(sub.id) is True
    assert manager.get(sub.id) is None
    assert manager.delete(sub.id) is False  # already gone is fine
    with pytest.raises(errors.SubscriptionNotFound):
        manager.renew(sub.id)
    statuses = [
        (r.method, r.status)
        for r in emulator.log.select(path_contains="/subscriptions/")
    ]
    assert statuses == [
        ("GET", 200),
        ("PATCH", 200),
        ("POST", 204),
        ("DELETE", 204),
        ("GET", 404),
        ("DELETE", 404),
        ("PATCH", 404),
    ]


def test_renewal_over_the_maximum_and_failed_validation(
    emulator, tenant, app, manager, mailbox, receiver
):
    sub = manager.subscribe(
        mailbox.address, "inbox", receiver.url(), SECRET, minutes=30
    )
    graph = raw_graph(emulator, tenant, app)
    far = (datetime.now(UTC) + timedelta(minutes=10100)).isoformat()
    resp = graph.patch(f"/subscriptions/{sub.id}", json={"expirationDateTime": far})
    assert resp.status_code == 400 and "10080 minutes" in resp.text
    empty = graph.patch(f"/subscriptions/{sub.id}", json={"clientState": "x"})
    assert empty.status_code == 400
    receiver.validation = 503
    with pytest.raises(errors.SubscriptionValidationFailed):
        manager.renew(sub.id, minutes=60)
    assert manager.get(sub.id).expiration == sub.expiration  # unchanged


def test_transient_errors_on_subscription_calls_are_retried(
    emulator, manager, mailbox, receiver
):
    emulator.faults.script(["503", "429"], path_contains="/subscriptions")
    sub = manager.subscribe(mailbox.address, "inbox", receiver.url(), SECRET)
    assert [r.status for r in emulator.log.select(path_contains="/subscriptions")] == [
        503,
        429,
        201,
    ]
    assert len(receiver.validations) == 1  # faults answer before any validation
    assert manager.get(sub.id) is not None


def test_only_the_creating_app_sees_a_subscription(
    emulator, tenant, manager, mailbox, receiver
):
    sub = manager.subscribe(mailbox.address, "inbox", receiver.url(), SECRET)
    other = make_client(emulator, tenant, tenant.add_app())
    try:
        assert subs.MailSubscriptions(other).get(sub.id) is None
        assert subs.MailSubscriptions(other).delete(sub.id) is False
    finally:
        other.close()
    assert manager.get(sub.id) is not None


# --- notifications --------------------------------------------------------------------


def test_notifications_for_the_subscribed_folder_only(
    emulator, service, manager, mailbox, receiver, tenant
):
    tickets = mailbox.add_folder("Tickets")
    sub = manager.subscribe(mailbox.address, tickets.id, receiver.url(), SECRET)
    in_tickets = deliver(mailbox, 2, folder="Tickets")
    elsewhere = deliver(mailbox, 2, folder="inbox")
    mailbox.move(elsewhere[0], "Tickets")  # moved in: "created" there too
    mailbox.set_read(in_tickets[0], True)  # an update: not subscribed to
    assert service.wait_idle()

    items = receiver.items()
    expected = [m.immutable_id for m in in_tickets] + [elsewhere[0].immutable_id]
    assert sorted(i["resourceData"]["id"] for i in items) == sorted(expected)
    first = next(
        i for i in items if i["resourceData"]["id"] == in_tickets[0].immutable_id
    )
    path = f"Users/{mailbox.id}/Messages/{in_tickets[0].immutable_id}"
    assert first["subscriptionId"] == sub.id
    assert first["changeType"] == "created"
    assert first["clientState"] == SECRET
    assert first["tenantId"] == tenant.id
    assert first["resource"] == path
    assert first["resourceData"]["@odata.type"] == "#Microsoft.Graph.Message"
    assert first["resourceData"]["@odata.id"] == path
    assert first["resourceData"]["@odata.etag"].startswith('W/"')
    assert subs.parse_graph_datetime(first["subscriptionExpirationDateTime"]) == (
        sub.expiration
    )


def test_rest_ids_without_the_immutable_id_preference(
    emulator, service, tenant, app, mailbox, receiver
):
    graph = raw_graph(emulator, tenant, app)  # sends no Prefer: IdType header
    resource = f"users/{mailbox.address}/mailFolders('inbox')/messages"
    created = graph.post("/subscriptions", json=subscription_body(receiver, resource))
    assert created.status_code == 201, created.text
    listed = graph.get("/subscriptions").json()["value"]
    assert [s["id"] for s in listed] == [created.json()["id"]]
    (msg,) = deliver(mailbox, folder="archive")
    mailbox.move(msg, "inbox")
    assert service.wait_idle()
    (item,) = receiver.items()
    assert item["resourceData"]["id"] == msg.rest_id != msg.immutable_id


def test_delivery_never_waits_for_the_endpoint(
    emulator, service, manager, mailbox, receiver
):
    manager.subscribe(mailbox.address, "inbox", receiver.url(), SECRET)
    receiver.statuses["/notify"] = [("slow", 0.5)]
    started = time.monotonic()
    deliver(mailbox)
    assert time.monotonic() - started < 0.2  # the POST happens on another thread
    assert service.wait_idle()
    assert len(receiver.items()) == 1
    assert emulator.log.count(path_contains="/notify") == 0  # Graph's log: only Graph


def test_burst_of_100_mails_is_batched(emulator, service, manager, mailbox, receiver):
    manager.subscribe(mailbox.address, "inbox", receiver.url(), SECRET)
    service.batch_window = 0.3  # wide enough for a slow CI machine
    messages = deliver(mailbox, 100)
    assert service.wait_idle(10)

    bodies = receiver.bodies()
    assert 1 <= len(bodies) <= 10
    assert max(len(body["value"]) for body in bodies) > 1
    delivered = [i["resourceData"]["id"] for i in receiver.items()]
    assert sorted(delivered) == sorted(m.immutable_id for m in messages)
    posts = service.outbox.select(kind="notification")
    assert len(posts) == len(bodies) and sum(p.items for p in posts) == 100


def test_failing_endpoint_is_retried_until_it_answers(
    emulator, service, manager, mailbox, receiver
):
    manager.subscribe(mailbox.address, "inbox", receiver.url(), SECRET)
    service.notification_timeout = 0.2
    receiver.statuses["/notify"] = [500, ("slow", 0.5), 503]
    (msg,) = deliver(mailbox)
    assert service.wait_idle()

    posts = service.outbox.select(kind="notification")
    assert [(p.attempt, p.status) for p in posts] == [
        (1, 500),
        (2, None),
        (3, 503),
        (4, 202),
    ]
    assert all(p.body == posts[0].body for p in posts)  # the same notification again
    # At least once: the endpoint that answered too late got it twice.
    assert {i["resourceData"]["id"] for i in receiver.items()} == {msg.immutable_id}
    assert service.dropped == []


def test_give_up_after_the_retry_budget_then_missed(
    emulator, service, manager, mailbox, receiver
):
    sub = manager.subscribe(
        mailbox.address,
        "inbox",
        receiver.url(),
        SECRET,
        lifecycle_url=receiver.url("/lifecycle"),
    )
    service.retry_give_up = 0.3
    receiver.statuses["/notify"] = [500] * 50
    deliver(mailbox)
    assert service.wait_idle()

    assert len(service.dropped) == 1 and receiver.items() == []
    assert 2 <= service.outbox.count(kind="notification", ok=False) <= 8
    (event,) = receiver.items("/lifecycle")
    assert event["lifecycleEvent"] == "missed" and event["subscriptionId"] == sub.id


# --- lifecycle and expiry -------------------------------------------------------------


def test_lifecycle_events_on_demand(emulator, service, manager, mailbox, receiver):
    sub = manager.subscribe(
        mailbox.address,
        "inbox",
        receiver.url(),
        SECRET,
        lifecycle_url=receiver.url("/lifecycle"),
    )
    assert emulator.lifecycle(sub.id, "reauthorizationRequired") is True
    assert emulator.lifecycle(sub.id, "missed") is True
    assert service.wait_idle()
    assert emulator.lifecycle(sub.id, "subscriptionRemoved") is True
    assert service.wait_idle()

    bodies = receiver.bodies("/lifecycle")
    events = [n for body in bodies for n in subs.parse_notifications(json.dumps(body))]
    assert [n.lifecycle_event for n in events] == [
        "reauthorizationRequired",
        "missed",
        "subscriptionRemoved",
    ]
    assert all(n.is_lifecycle and n.subscription_id == sub.id for n in events)
    assert [n.needs_catch_up for n in events] == [False, True, True]
    assert events[0].needs_reauthorization and events[2].needs_new_subscription
    assert all(subs.client_state_matches(SECRET, n.client_state) for n in events)
    assert manager.get(sub.id) is None  # subscriptionRemoved removed it
    assert receiver.items() == []
    with pytest.raises(ValueError):
        emulator.lifecycle(sub.id, "somethingElse")


def test_subscription_without_lifecycle_url_gets_none(
    service, manager, mailbox, receiver
):
    sub = manager.subscribe(mailbox.address, "inbox", receiver.url(), SECRET)
    assert service.lifecycle(sub.id, "missed") is False
    assert service.wait_idle() and receiver.posts == []


def test_expiry_by_clock(emulator, service, manager, mailbox, receiver):
    sub = manager.subscribe(
        mailbox.address, "inbox", receiver.url(), SECRET, minutes=60
    )
    emulator.clock.advance(minutes=59)
    assert manager.get(sub.id) is not None
    emulator.clock.advance(minutes=2)

    assert service.all() == []
    assert manager.get(sub.id) is None
    deliver(mailbox)
    assert service.wait_idle()
    assert receiver.posts == [] and service.outbox.count(kind="notification") == 0
    # New expirations are judged by the same clock: the client's "now" is 61 minutes
    # behind the emulator's, so 60 minutes from it is already the past.
    with pytest.raises(errors.SubscriptionError):
        manager.subscribe(mailbox.address, "inbox", receiver.url(), SECRET, minutes=60)


# --- endpoint helpers ---------------------------------------------------------------


def notification(**overrides):
    item = {
        "subscriptionId": str(uuid.uuid4()),
        "subscriptionExpirationDateTime": "2030-01-02T03:04:05.1234567Z",
        "changeType": "created",
        "resource": "Users/u/Messages/AAkALgAA=",
        "resourceData": {"id": "AAkALgAA="},
        "clientState": SECRET,
        "tenantId": str(uuid.uuid4()),
    }
    item.update(overrides)
    return item


def test_parse_notifications_reads_graph_payloads():
    item = notification()
    (parsed,) = subs.parse_notifications(json.dumps({"value": [item]}).encode())
    assert parsed.subscription_id == item["subscriptionId"]
    assert parsed.change_type == "created" and not parsed.is_lifecycle
    assert parsed.message_id == "AAkALgAA="
    assert parsed.subscription_expiration == datetime(
        2030, 1, 2, 3, 4, 5, 123456, tzinfo=UTC
    )
    assert SECRET not in repr(parsed)
    without_data = notification(resourceData=None, resource="Users/u/Messages/abc")
    assert subs.parse_notifications(json.dumps({"value": [without_data]}))[
        0
    ].message_id == ("abc")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"value": []}',
        b'{"value": {}}',
        b'{"value": [1]}',
        json.dumps({"value": [notification(subscriptionId="")]}).encode(),
        json.dumps({"value": [notification(lifecycleEvent="missed")]}).encode(),
        json.dumps({"value": [notification(changeType=None)]}).encode(),
        b"[" * 100000 + b"]" * 100000,
    ],
)
def test_parse_notifications_rejects_malformed_bodies(body):
    with pytest.raises(errors.InvalidNotification):
        subs.parse_notifications(body)


def test_oversize_payloads_are_rejected_before_parsing():
    body = json.dumps({"value": [notification()] * 5})
    assert len(subs.parse_notifications(body)) == 5
    with pytest.raises(errors.InvalidNotification, match="over the 100 limit"):
        subs.parse_notifications(body, max_bytes=100)
    with pytest.raises(errors.InvalidNotification, match="over the 4 limit"):
        subs.parse_notifications(body, max_items=4)
    huge = b'{"value": [' + b" " * subs.MAX_NOTIFICATION_BYTES + b"]}"
    with pytest.raises(errors.InvalidNotification, match="bytes is over"):
        subs.parse_notifications(huge)


def test_client_state_is_compared_in_constant_time(monkeypatch):
    calls = []
    compare_digest = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return compare_digest(a, b)

    monkeypatch.setattr(subs.hmac, "compare_digest", spy)
    assert subs.client_state_matches(SECRET, SECRET) is True
    assert subs.client_state_matches(SECRET, SECRET[:-1] + "y") is False
    assert subs.client_state_matches(SECRET, None) is False
    assert calls == [
        (SECRET.encode(), SECRET.encode()),
        (SECRET.encode(), (SECRET[:-1] + "y").encode()),
        (SECRET.encode(), b""),
    ]
    assert subs.client_state_matches("", "") is False  # no secret, no trust
    assert subs.client_state_matches(None, None) is False


def test_accepted_notifications_sorts_out_forgeries():
    ours, forged, stranger = notification(), notification(), notification()
    forged["clientState"] = "guess"
    secrets = {ours["subscriptionId"]: SECRET, forged["subscriptionId"]: SECRET}
    body = json.dumps({"value": [ours, forged, stranger]})
    accepted, rejected = subs.accepted_notifications(body, secrets)
    assert [n.subscription_id for n in accepted] == [ours["subscriptionId"]]
    assert subs.subscription_ids(rejected) == [
        forged["subscriptionId"],
        stranger["subscriptionId"],
    ]
    accepted, _ = subs.accepted_notifications(body, secrets.get)
    assert len(accepted) == 1


def test_validation_token_helper():
    token = "Validation: Testing client application reachability Request-Id: 1"
    assert subs.validation_token({"validationToken": token}) == token
    assert subs.validation_token({}) is None
    with pytest.raises(errors.InvalidNotification):
        subs.validation_token({"validationToken": "x" * 5000})
    with pytest.raises(errors.InvalidNotification):
        subs.validation_token({"validationToken": "a\r\nSet-Cookie: x"})


def test_client_state_is_checked_before_calling_graph(emulator, manager, mailbox):
    for bad in ("", None, "x" * 129):
        with pytest.raises(ValueError):
            manager.subscribe(mailbox.address, "inbox", "https://127.0.0.1/n", bad)
    assert emulator.log.count(path_contains="/subscriptions") == 0


def test_expiration_in_clamps_to_the_maximum():
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert subs.expiration_in(60, now) == now + timedelta(minutes=60)
    assert subs.expiration_in(None, now) == now + timedelta(minutes=10070)
    assert subs.expiration_in(10**9, now) == now + timedelta(minutes=10070)
    assert subs.expiration_in(0, now) == now + timedelta(minutes=1)
