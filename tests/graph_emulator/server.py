"""The Emulator: state + HTTPS server on 127.0.0.1 (werkzeug, threads, trustme)."""

import contextlib
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
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request as WzRequest

from .faults import Faults
from .graph import GraphApi
from .identity import AadError, Identity
from .log import LoggedRequest, RequestLog
from .store import Tenant
from .wire import DropConnection, Req, Resp, json_resp, new_request_id

_DISCOVERY = re.compile(r"^/(?P<tenant>[^/]+)/v2\.0/\.well-known/openid-configuration$")
_TOKEN = re.compile(r"^/(?P<tenant>[^/]+)/oauth2/v2\.0/token$")
_JWKS = re.compile(r"^/(?P<tenant>[^/]+)/discovery/v2\.0/keys$")


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr (tests read emu.log instead); connections kept open.

    Graph keeps HTTPS connections alive, so a client pays the TCP and TLS handshake
    once. werkzeug's development server asks to close after each answer, although
    every answer of the emulator carries a Content-Length; without TCP_NODELAY,
    Nagle's algorithm and delayed ACKs would add 40 ms to answers on a reused
    connection.
    """

    def setup(self):
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send_header(self, keyword, value):
        if keyword.lower() == "connection" and str(value).lower() == "close":
            return
        super().send_header(keyword, value)

    def log_request(self, *args, **kwargs):
        pass

    def log(self, type, message, *args):
        if type == "error":
            super().log(type, message, *args)


class Emulator:
    def __init__(self, host="127.0.0.1", port=0, state_dir=None):
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
        self.delta_empty_pages = (
            0  # empty pages (with nextLink) at the start of each delta round
        )
        self.redeliver_rate = 0.0
        self.redeliver_seed = 0
        # Statuses the public facts leave unconfirmed.
        self.folder_exists_status = 409
        self.app_not_found_status = 400
        self.invalid_user_status = 404
        self.faults = Faults()
        self.log = RequestLog()
        self.identity = Identity(self)
        self.graph = GraphApi(self)
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
        self._server = make_server(
            self.host,
            self.port,
            self,
            threaded=True,
            ssl_context=ctx,
            request_handler=_QuietHandler,
        )
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="graph-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

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
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
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
        resp = None
        try:
            resp = self._route(req)
        except DropConnection:
            self._drop(environ)
            raise ConnectionAbortedError(
                "fault injection: connection dropped"
            ) from None
        finally:
            self._log(req, resp, started)
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
        if fault == "drop":
            raise DropConnection()
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
        sock = environ.get("werkzeug.socket")
        if sock is None:
            return
        try:
            sock.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _log(self, req, resp, started):
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
                fault=resp.fault if resp is not None else "drop",
                started=started,
                duration=time.time() - started,
            )
        )


def _reason(status):
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
