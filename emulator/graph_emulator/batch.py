"""JSON batching: POST /v1.0/$batch with at most 20 requests.

Each entry goes through the same dispatch as a plain request (auth comes from the outer
request, the entry's own headers such as Prefer apply).  Like Outlook, at most 4
entries of one batch run at once; entries count toward throttling individually.
"""

import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qsl, unquote, urlsplit

from .faults import GENERIC
from .log import LoggedRequest
from .wire import Ctx, DropConnection, Req, Resp, graph_error, json_resp

MAX_REQUESTS = 20
ENTRY_CONCURRENCY = 4
_ENTRY_HEADERS = (
    "content-type",
    "retry-after",
    "location",
    "preference-applied",
    "cache-control",
    "www-authenticate",
)


class BatchError(Exception):
    pass


def _validate(payload):
    entries = payload.get("requests") if isinstance(payload, dict) else None
    if not isinstance(entries, list) or not entries:
        raise BatchError("Invalid batch payload format.")
    if len(entries) > MAX_REQUESTS:
        raise BatchError(
            f"The batch contains {len(entries)} requests; the limit is "
            f"{MAX_REQUESTS} requests per batch."
        )
    seen = set()
    for entry in entries:
        if not isinstance(entry, dict) or not all(
            entry.get(k) for k in ("id", "method", "url")
        ):
            raise BatchError(
                "Invalid batch payload format: every request needs id, method and url."
            )
        entry_id = str(entry["id"])
        if entry_id in seen:
            raise BatchError(
                f"Batch request ids must be unique; '{entry_id}' is used more than "
                "once."
            )
        seen.add(entry_id)
        headers = {k.lower(): v for k, v in (entry.get("headers") or {}).items()}
        if entry.get("body") is not None and "content-type" not in headers:
            raise BatchError(
                f"Write request id : {entry_id} does not contain Content-Type header "
                "or body."
            )
    for entry in entries:
        for dep in _depends_on(entry):
            if dep not in seen:
                raise BatchError(
                    f"Request id '{entry['id']}' depends on unknown request id '{dep}'."
                )
    return entries


def _depends_on(entry):
    deps = entry.get("dependsOn") or []
    return [str(d) for d in (deps if isinstance(deps, list) else [deps])]


def _entry_request(entry):
    url = str(entry["url"])
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return None
    path = unquote(parts.path)
    path = "/v1.0" + (path if path.startswith("/") else "/" + path)
    body = entry.get("body")
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body).encode()
    elif isinstance(body, str):
        body = body.encode()
    headers = {str(k).lower(): str(v) for k, v in (entry.get("headers") or {}).items()}
    return Req(
        str(entry["method"]).upper(),
        path,
        dict(parse_qsl(parts.query, keep_blank_values=True)),
        headers,
        body or b"",
    )


def _entry_json(entry_id, resp: Resp):
    out = {
        "id": entry_id,
        "status": resp.status,
        "headers": {
            k: v for k, v in resp.headers.items() if k.lower() in _ENTRY_HEADERS
        },
    }
    if resp.data is not None:
        out["body"] = resp.data
    elif resp.body:
        # Non-JSON content ($value MIME) travels base64-encoded (msgraph-core
        # decodes it).
        out["body"] = base64.b64encode(resp.body).decode("ascii")
    return out


def handle_batch(api, req, ctx):
    emu = api.emu
    try:
        entries = _validate(json.loads(req.body or b"null"))
    except ValueError:
        return graph_error(
            400,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type "
            "header is set and payload is of valid JSON format.",
            req,
        )
    except BatchError as err:
        return graph_error(400, "BadRequest", str(err), req)
    fault = emu.faults.draw(
        [req.path] + [str(e["url"]) for e in entries], extra=("429-entry",)
    )
    if fault in GENERIC:
        resp = api.fault_response(fault, req)
        if resp is not None:
            resp.fault = fault
            return resp
    faulty_entry = _pick_faulty_entry(emu, entries) if fault == "429-entry" else None
    results = _run(api, ctx, entries, faulty_entry)
    if fault == "lost":  # every entry ran, the answer never reaches the client
        raise DropConnection("lost")
    body = {
        "responses": [_entry_json(str(e["id"]), results[str(e["id"])]) for e in entries]
    }
    resp = json_resp(200, body)
    resp.fault, resp.client_id = fault, ctx.app.client_id
    return resp


def _pick_faulty_entry(emu, entries):
    wanted = emu.faults.path_contains
    for entry in entries:
        if wanted is None or wanted in str(entry["url"]):
            return str(entry["id"])
    return str(entries[0]["id"])


def _run(api, ctx, entries, faulty_entry):
    """Run entries in dependency waves, at most ENTRY_CONCURRENCY at once."""
    results, pending = {}, list(entries)
    entry_ctx = Ctx(
        ctx.app, ctx.tenant, ctx.claims, in_batch=True, batch_size=len(entries)
    )
    with ThreadPoolExecutor(max_workers=ENTRY_CONCURRENCY) as pool:
        while pending:
            ready = [e for e in pending if all(d in results for d in _depends_on(e))]
            if not ready:  # a dependency cycle: nothing can run
                for entry in pending:
                    results[str(entry["id"])] = _failed_dependency(entry)
                break
            futures = {}
            for entry in ready:
                pending.remove(entry)
                if any(results[d].status >= 400 for d in _depends_on(entry)):
                    results[str(entry["id"])] = _failed_dependency(entry)
                else:
                    fault = "429-entry" if str(entry["id"]) == faulty_entry else None
                    futures[str(entry["id"])] = pool.submit(
                        _run_entry, api, entry_ctx, entry, fault
                    )
            for entry_id, future in futures.items():
                results[entry_id] = future.result()
    return results


def _failed_dependency(entry):
    return graph_error(
        424, "BadRequest", "Failed dependency: a request this one depends on failed."
    )


def _run_entry(api, ctx, entry, fault):
    started = time.time()
    req = _entry_request(entry)
    if req is None:
        resp = graph_error(
            400,
            "BadRequest",
            "Invalid request URL: batch requests take URLs relative to the "
            "Graph version, e.g. /users/{id}/messages.",
        )
    else:
        resp = api.dispatch(req, ctx, entry_fault=fault)
    api.emu.log.append(
        LoggedRequest(
            method=str(entry["method"]).upper(),
            path=req.path if req else str(entry["url"]),
            query=req.query if req else {},
            status=resp.status,
            client_id=ctx.app.client_id,
            mailbox=resp.mailbox,
            in_batch=True,
            batch_size=ctx.batch_size,
            fault=resp.fault,
            started=started,
            duration=time.time() - started,
        )
    )
    return resp
