"""Request/response values shared by the WSGI layer, the Graph handlers and $batch.

Handlers never see werkzeug objects: a $batch entry is turned into the same Req as an
HTTP request, so one code path serves both.
"""

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

GRAPH_JSON = (
    "application/json;odata.metadata=minimal;odata.streaming=true;"
    "IEEE754Compatible=false;charset=utf-8"
)


class DropConnection(Exception):
    """Raised by a handler to close the TCP connection without answering.

    Its argument is the fault kind for the request log: "drop" (default) or "lost"
    (the request was carried out before the connection was closed)."""


@dataclass
class Req:
    method: str
    path: str  # decoded, e.g. "/v1.0/users/a@b.com/messages"
    query: dict  # first value of each parameter
    headers: dict  # lower-case names
    body: bytes = b""

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def json(self):
        if not self.body:
            return None
        return json.loads(self.body)


@dataclass
class Ctx:
    """Who is calling: the authenticated app (from the token) and its tenant."""

    app: Any
    tenant: Any
    claims: dict
    in_batch: bool = False
    batch_size: int = 0


@dataclass
class Resp:
    status: int
    headers: dict = field(default_factory=dict)
    body: bytes = b""
    data: Any = None  # the JSON value when the body is JSON (kept for $batch)
    fault: str | None = None  # the injected fault that produced/affected it
    mailbox: str | None = None  # for the request log
    client_id: str | None = None


def json_resp(
    status, data, headers=None, content_type="application/json; charset=utf-8"
):
    hdrs = {"Content-Type": content_type}
    hdrs.update(headers or {})
    return Resp(status, hdrs, json.dumps(data).encode(), data)


def graph_json(status, data, headers=None):
    return json_resp(status, data, headers, GRAPH_JSON)


def new_request_id():
    return str(uuid.uuid4())


def graph_error(status, code, message, req=None, headers=None):
    """Graph's error shape, with the request id echoed like the real service."""
    request_id = new_request_id()
    client_request_id = (req.header("client-request-id") if req else None) or request_id
    data = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": client_request_id,
            },
        }
    }
    hdrs = {"request-id": request_id, "client-request-id": client_request_id}
    hdrs.update(headers or {})
    return json_resp(status, data, hdrs)


def parse_prefer(req) -> dict:
    """Prefer: IdType="ImmutableId", odata.maxpagesize=50
    -> {"idtype": "ImmutableId", "odata.maxpagesize": "50"}.

    Several Prefer headers arrive joined with commas (WSGI folds them)."""
    out = {}
    for item in (req.header("prefer") or "").split(","):
        if "=" in item:
            key, value = item.split("=", 1)
            out[key.strip().lower()] = value.strip().strip('"')
        elif item.strip():
            out[item.strip().lower()] = ""
    return out


def iso_z(dt) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
