"""The Emulator: state + HTTPS server on 127.0.0.1 (cheroot, threads, trustme).

The server is cheroot, CherryPy's production WSGI server: HTTP/1.1 keep-alive as Graph
does it (a client pays the TCP and TLS handshake once), idle connections parked in a
selector instead of a thread, and every request on a connection read and answered.
(Werkzeug's development server, used before, swallowed a request sent on a kept-alive
connection within ~10 ms of the previous answer.) Werkzeug is only used to parse the
WSGI environ.
"""

import os
import re
import socket
import ssl
import struct
import tempfile
import threading
import time
from http import HTTPStatus
from urllib.parse import urlencode

import trustme
from cheroot import wsgi
from cheroot.ssl.builtin import BuiltinSSLAdapter
from cheroot.workers import threadpool
from werkzeug.wrappers import Request as WzRequest

from .faults import Faults
from .graph import GraphApi
from .identity import AadError, Identity
from .log import LoggedRequest, RequestLog
from .realism import REALISTIC, RealismMixin
from .store import Tenant
from .subscriptions import Clock, SubscriptionService
from .wire import DropConnection, Req, Resp, json_resp, new_request_id

_DISCOVERY = re.compile(r"^/(?P<tenant>[^/]+)/v2\.0/\.well-known/openid-configuration$")
_TOKEN = re.compile(r"^/(?P<tenant>[^/]+)/oauth2/v2\.0/token$")
_JWKS = re.compile(r"^/(?P<tenant>[^/]+)/discovery/v2\.0/keys$")


class _Gateway(wsgi.Gateway_10):
    """Puts the connection's socket into the environ, so a fault can drop it."""

    def get_environ(self):
        environ = super().get_environ()
        environ["mso.socket"] = self.req.conn.socket
        return environ


class _DaemonThreadPool(threadpool.ThreadPool):
    """Worker threads that never keep a finished process alive (odoo-bin's test run
    exits before its atexit handlers could stop the server)."""

    def _spawn_worker(self):
        worker = threadpool.WorkerThread(self.server)
        worker.name = f"graph-emulator {worker.name}"
        worker.daemon = True
        worker.start()
        return worker


class _Server(wsgi.Server):
    """cheroot's WSGI server, with errors of dropped connections kept quiet."""

    def error_log(self, msg="", level=20, traceback=False):
        if level >= 40 and "fault injection" not in msg:
            super().error_log(msg, level, traceback)


class Emulator(RealismMixin):
    """realism="realistic" (default) or "tidy": see graph_emulator.realism for what
    each preset sets; every knob is also an attribute that can change at any time."""

    def __init__(self, host="127.0.0.1", port=0, state_dir=None, realism=REALISTIC):
        self.host, self.port = host, port
        self.lock = threading.RLock()
        self.tenants = {}
        # Knobs (attributes so tests and benchmarks can change them at any time).
        self.token_lifetime = 3599
        self.max_in_flight = 4
        self.request_budget = (10000, 600)
        self.max_delta_page_size = 1000
        self.delta_filter_max = (
            5000  # delta with a receivedDateTime filter returns at most this many
        )
        # The realism knobs (mime_style, redeliver_rate, delta_empty_pages, ...).
        self.realism = None
        self.set_realism(realism)
        # Statuses the public facts leave unconfirmed.
        self.folder_exists_status = 409
        self.app_not_found_status = 400
        self.invalid_user_status = 404
        # Sending mail (send.py, transport.py).
        self.max_request_body = 4 * 1024 * 1024  # Graph's request-body limit
        self.request_too_large_status = 413  # over it (413 documented for MIME)
        self.max_message_size = 35 * 1024 * 1024  # Exchange Online's default
        self.upload_session_min_size = 3 * 1024 * 1024  # smaller: attach by POST
        self.upload_session_lifetime = 3600  # seconds an uploadUrl stays valid
        self.upload_range_error_status = 416  # byte range out of order (unconfirmed)
        self.upload_rejects_bearer = True  # a Graph token at the uploadUrl -> 401
        self.replace_message_id = False  # True: Exchange's own Message-ID on mail
        self.undeliverable = set()  # recipient addresses that bounce (NDR)
        self.outbound = []  # OutboundMail that left the organisation
        self.faults = Faults()
        self.log = RequestLog()
        self.identity = Identity(self)
        self.graph = GraphApi(self)
        self.clock = Clock()  # the time subscriptions expire by (advance() in tests)
        self.subscriptions = SubscriptionService(self)  # change notifications
        self._state_dir = state_dir
        self._tmpdir = None
        self._server = None
        self._thread = None
        self.ca = None
        self.ca_path = None

    # -- lifecycle ---------------------------------------------------------
    def start(self):
        if self._server is not None:
            return self
        directory = self._state_dir
        if directory is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="graph-emulator-")
            directory = self._tmpdir.name
        os.makedirs(directory, exist_ok=True)
        self.ca = self._load_or_create_ca(directory)
        cert = self.ca.issue_cert("127.0.0.1", "localhost")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(ctx)
        self.ca_path = os.path.join(directory, "graph-emulator-ca.pem")
        server = _Server((self.host, self.port), self, timeout=30)
        server.requests = _DaemonThreadPool(server, min=8, max=32)
        server.gateway = _Gateway
        server.ssl_adapter = self._ssl_adapter(directory, cert, ctx)
        server.prepare()  # binds the socket, so the port is known before serving
        self._server = server
        self.port = server.bind_addr[1]
        self._thread = threading.Thread(
            target=server.serve, name="graph-emulator", daemon=True
        )
        self._thread.start()
        return self

    @staticmethod
    def _ssl_adapter(directory, cert, ctx):
        """cheroot's adapter wants files; the context built from trustme is used."""
        key_path = os.path.join(directory, "graph-emulator-server.key")
        chain_path = os.path.join(directory, "graph-emulator-server.pem")
        cert.private_key_pem.write_to_path(key_path)
        with open(chain_path, "wb") as chain:
            for blob in cert.cert_chain_pems:
                chain.write(blob.bytes())
        adapter = BuiltinSSLAdapter(chain_path, key_path)
        adapter.context = ctx
        return adapter

    def _load_or_create_ca(self, directory):
        """A state dir keeps its CA across restarts (a demo Odoo keeps trusting it)."""
        cert_path = os.path.join(directory, "graph-emulator-ca.pem")
        key_path = os.path.join(directory, "graph-emulator-ca.key")
        if (
            self._state_dir is not None
            and os.path.exists(cert_path)
            and os.path.exists(key_path)
        ):
            with open(cert_path, "rb") as cert_fh, open(key_path, "rb") as key_fh:
                return trustme.CA.from_pem(cert_fh.read(), key_fh.read())
        ca = trustme.CA()
        ca.cert_pem.write_to_path(cert_path)
        if self._state_dir is not None:
            ca.private_key_pem.write_to_path(key_path)
        return ca

    def stop(self):
        self.subscriptions.stop()
        if self._server is None:
            return
        self._server.stop()
        self._thread.join(timeout=5)
        self._server = self._thread = None
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return f"https://{self.host}:{self.port}"

    @property
    def graph_url(self):
        return self.url + "/v1.0"

    # -- state helpers -------------------------------------------------------
    def add_tenant(self, tenant_id=None, domain="contoso.onmicrosoft.com") -> Tenant:
        with self.lock:
            tenant = Tenant(self, tenant_id, domain)
            self.tenants[tenant.id] = tenant
            return tenant

    def tenant(self, key=None) -> Tenant:
        """The tenant with this id or domain (the only one when key is None)."""
        with self.lock:
            if key is None:
                return next(iter(self.tenants.values()))
            return next(t for t in self.tenants.values() if t.matches(key))

    def expire_tokens(self):
        """Every access token issued so far now answers 401 "token is expired"."""
        self.identity.expire_all()

    def invalidate_delta_tokens(self, reset=False):
        self.graph.delta.invalidate(reset=reset)

    def reset_throttling(self):
        self.graph.throttle.reset()

    def lifecycle(self, subscription_id, event):
        """Send a lifecycle notification (reauthorizationRequired,
        subscriptionRemoved, missed) for a subscription; see subscriptions.py."""
        return self.subscriptions.lifecycle(subscription_id, event)

    # -- WSGI ----------------------------------------------------------------
    def __call__(self, environ, start_response):
        started = time.time()
        wz = WzRequest(environ)
        headers = {}
        for name, value in wz.headers.items():  # repeated headers (Prefer) are joined
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        req = Req(
            wz.method, wz.path, wz.args.to_dict(flat=True), headers, wz.get_data()
        )
        resp, dropped, logged = None, "drop", False
        try:
            resp = self._route(req)
        except DropConnection as drop:
            dropped = drop.args[0] if drop.args else "drop"
            # Logged before the socket closes: the client's next request (after a
            # lost answer, the check whether the send went) must find it logged.
            self._log(req, None, started, dropped)
            logged = True
            self._drop(environ)
            raise ConnectionAbortedError(
                "fault injection: connection dropped"
            ) from None
        finally:
            if not logged:
                self._log(req, resp, started, dropped)
        resp.headers.setdefault("request-id", new_request_id())
        if resp.status not in (204, 304):  # a length avoids chunked responses
            resp.headers["Content-Length"] = str(len(resp.body))
        start_response(
            f"{resp.status} {_reason(resp.status)}", list(resp.headers.items())
        )
        return [resp.body]

    def _route(self, req) -> Resp:
        if req.path.lower() == "/v1.0" or req.path.lower().startswith("/v1.0/"):
            return self.graph.handle(req)
        if req.path.lower().startswith("/api/v2.0/"):  # uploadUrl (outlook.office.com)
            return self.graph.sender.upload(req)
        for pattern, handler in (
            (_DISCOVERY, self._discovery),
            (_TOKEN, self._token),
            (_JWKS, self._jwks),
        ):
            match = pattern.match(req.path)
            if match:
                return handler(req, match.group("tenant"))
        return json_resp(
            404,
            {
                "error": {
                    "code": "NotFound",
                    "message": f"No emulated endpoint at {req.path}.",
                }
            },
        )

    def _identity_fault(self, req):
        """Token/discovery requests fault only when faults.path_contains says so."""
        fault = self.faults.draw([req.path + "?" + urlencode(req.query)], is_token=True)
        if fault is None:
            return None
        if fault == "slow":
            time.sleep(self.faults.slow_seconds)
            return None
        if fault in ("drop", "lost"):
            raise DropConnection(fault)
        status = {"429": 429, "503": 503, "504": 504}[fault]
        resp = self.identity.error(
            AadError(
                90033,
                "temporarily_unavailable",
                status,
                "A transient error has occurred. Please try again.",
            )
        )
        resp.headers["Retry-After"] = str(self.faults.retry_after)
        resp.fault = fault
        return resp

    def _jwks(self, req, tenant):
        return self.identity.jwks(tenant)

    def _discovery(self, req, tenant):
        if req.method != "GET":
            return json_resp(405, {"error": "invalid_request"})
        return self._identity_fault(req) or self.identity.discovery(tenant)

    def _token(self, req, tenant):
        if req.method != "POST":
            return json_resp(
                405,
                {
                    "error": "invalid_request",
                    "error_description": "AADSTS900561: The endpoint "
                    "only accepts POST requests.",
                },
            )
        resp = self._identity_fault(req) or self.identity.token(tenant, req)
        form = dict(
            p.split("=", 1)
            for p in req.body.decode("utf-8", "replace").split("&")
            if "=" in p
        )
        resp.client_id = form.get("client_id")
        return resp

    @staticmethod
    def _drop(environ):
        """Close the TCP connection without a response (the client sees a reset/EOF)."""
        sock = environ.get("mso.socket")
        if sock is None:
            return
        try:
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _log(self, req, resp, started, dropped="drop"):
        batch_size = 0
        if (
            req.path.lower().endswith("/$batch")
            and resp is not None
            and isinstance(resp.data, dict)
        ):
            batch_size = len(resp.data.get("responses") or [])
        self.log.append(
            LoggedRequest(
                method=req.method,
                path=req.path,
                query=dict(req.query),
                status=resp.status if resp is not None else None,
                client_id=resp.client_id if resp is not None else None,
                mailbox=resp.mailbox if resp is not None else None,
                in_batch=False,
                batch_size=batch_size,
                fault=resp.fault if resp is not None else dropped,
                started=started,
                duration=time.time() - started,
            )
        )


def _reason(status):
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
