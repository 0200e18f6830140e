"""Microsoft Graph v1.0 mail endpoints.

One entry point, dispatch(), serves both plain HTTP requests and $batch entries:
route -> mailbox (404/403) -> permission (403) -> throttling (429) -> faults -> handler.
"""

import base64
import re
import time
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from . import render
from .batch import handle_batch
from .delta import DeltaEngine, delta_url, parse_datetime
from .render import QueryError
from .store import FolderExists
from .throttle import Throttle
from .wire import (
    Ctx,
    DropConnection,
    Req,
    Resp,
    graph_error,
    graph_json,
    new_request_id,
    parse_prefer,
)

READ_ROLES = ("Mail.Read", "Mail.ReadWrite")
WRITE_ROLES = ("Mail.ReadWrite",)
SEND_ROLES = ("Mail.Send",)
ACCESS_DENIED = "Access is denied. Check credentials and try again."
WWW_AUTHENTICATE = (
    'Bearer realm="", '
    'authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
    'client_id="00000003-0000-0000-c000-000000000000"'
)

_U = r"/users/(?P<user>[^/]+)"
_F = r"/mailFolders/(?P<folder>[^/]+)"
_M = r"/messages/(?P<msg>[^/]+)"
_A = r"/attachments/(?P<att>[^/]+)"
_DELTA = r"/messages/(?:microsoft\.graph\.)?delta(?:\(\))?"
_PAREN_KEY = re.compile(r"/(\w+)\('([^']*)'\)")
_EMPTY_SEGMENTS = re.compile(r"//+")
_CLAUSE = re.compile(r"^\s*([\w/]+)\s+(eq|ne|ge|gt|le|lt)\s+(.+?)\s*$", re.I)


@dataclass
class Call:
    """What a handler gets: the request, its context and the resolved objects."""

    req: Req
    ctx: Ctx
    params: dict
    mailbox: object
    immutable: bool
    prefer: dict


class GraphApi:
    def __init__(self, emu):
        self.emu = emu
        self.delta = DeltaEngine(emu)
        self.throttle = Throttle(emu)
        self.routes = [
            (method, re.compile(pattern + "$", re.I), handler, access)
            for method, pattern, handler, access in (
                ("GET", _U + "/mailFolders", self.list_folders, "read"),
                ("POST", _U + "/mailFolders", self.create_folder, "write"),
                ("GET", _U + _F, self.get_folder, "read"),
                ("GET", _U + _F + "/childFolders", self.list_children, "read"),
                ("POST", _U + _F + "/childFolders", self.create_folder, "write"),
                # delta, delta() (the OData function call the msgraph SDKs send) and
                # the qualified microsoft.graph.delta[()] are one function.
                ("GET", _U + _F + _DELTA, self.get_delta, "read"),
                ("GET", _U + _F + "/messages", self.list_messages, "read"),
                ("GET", _U + _F + _M, self.get_message, "read"),
                ("GET", _U + _F + _M + r"/\$value", self.get_mime, "read"),
                ("GET", _U + "/messages", self.list_messages, "read"),
                ("GET", _U + _M, self.get_message, "read"),
                ("GET", _U + _M + r"/\$value", self.get_mime, "read"),
                ("PATCH", _U + _M, self.patch_message, "write"),
                ("DELETE", _U + _M, self.delete_message, "write"),
                ("POST", _U + _M + "/move", self.move_message, "write"),
                ("GET", _U + _M + "/attachments", self.list_attachments, "read"),
                ("GET", _U + _M + _A, self.get_attachment, "read"),
                ("GET", _U + _M + _A + r"/\$value", self.get_attachment_value, "read"),
            )
        ]
        # Sending (sendMail, drafts, upload sessions) lives in send.py, which builds
        # on this module: imported here, once this module is complete.
        from .send import SendApi  # noqa: PLC0415

        self.sender = SendApi(self)
        self.routes += [
            (method, re.compile(pattern + "$", re.I), handler, access)
            for method, pattern, handler, access in self.sender.routes()
        ]

    # -- entry points ------------------------------------------------------
    def handle(self, req: Req) -> Resp:
        """A plain HTTP request under /v1.0."""
        ctx, failure = self.authenticate(req)
        if failure is not None:
            return failure
        too_large = self.sender.body_too_large(req)
        if too_large is not None:
            return too_large
        if _relative(req.path).lower() == "/$batch":
            if req.method != "POST":
                return graph_error(
                    405, "BadRequest", "Only POST is supported on $batch.", req
                )
            return handle_batch(self, req, ctx)
        if _relative(req.path).lower().split("/")[1:2] == ["subscriptions"]:
            return self.emu.subscriptions.handle(req, ctx)  # subscriptions.py
        return self.dispatch(req, ctx, outer=True)

    def authenticate(self, req):
        header = req.header("authorization") or ""
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        claims, problem = self.emu.identity.validate(token)
        app = tenant = None
        if claims is not None:
            with self.emu.lock:
                tenant = self.emu.tenants.get(claims.get("tid"))
                app = tenant.apps.get(claims.get("appid")) if tenant else None
            if app is None:
                problem = "Access token validation failure."
        if problem:
            resp = graph_error(
                401,
                "InvalidAuthenticationToken",
                problem,
                req,
                {"WWW-Authenticate": WWW_AUTHENTICATE},
            )
            resp.client_id = (claims or {}).get("appid")
            return None, resp
        return Ctx(app, tenant, claims), None

    def dispatch(self, req, ctx, outer=False, entry_fault=None) -> Resp:
        resp = self._dispatch(req, ctx, outer, entry_fault)
        resp.client_id = ctx.app.client_id
        resp.headers.setdefault(
            "request-id", resp.headers.get("request-id") or new_request_id()
        )
        resp.headers.setdefault(
            "client-request-id",
            req.header("client-request-id") or resp.headers["request-id"],
        )
        if parse_prefer(req).get("idtype", "").lower() == "immutableid":
            applied = [resp.headers.get("Preference-Applied"), 'IdType="ImmutableId"']
            resp.headers["Preference-Applied"] = ", ".join(a for a in applied if a)
        return resp

    def _dispatch(self, req, ctx, outer, entry_fault):
        path = _PAREN_KEY.sub(
            lambda m: f"/{m.group(1)}/{m.group(2)}", _relative(req.path)
        )
        if path.lower() == "/me" or path.lower().startswith("/me/"):
            return graph_error(
                400,
                "BadRequest",
                "/me request is only valid with delegated authentication flow.",
                req,
            )
        route, params, method_mismatch = self._match(req.method, path)
        if route is None:
            if method_mismatch:
                return graph_error(
                    405,
                    "ErrorInvalidRequest",
                    "The OData request is not supported.",
                    req,
                )
            segment = path.rstrip("/").rsplit("/", 1)[-1]
            return graph_error(
                400,
                "BadRequest",
                f"Resource not found for the segment '{segment}'.",
                req,
            )
        _, _, handler, access = route
        mailbox, denial = self._mailbox(req, ctx, params["user"], access)
        if denial is not None:
            denial.mailbox = params["user"]
            return denial
        key = (ctx.app.client_id, mailbox.id)
        throttled = self.throttle.acquire(key)
        if throttled is not None:
            resp = self.throttled(req, *throttled)
        else:
            try:
                resp = self._call(
                    req, ctx, params, mailbox, handler, outer, entry_fault
                )
            finally:
                self.throttle.release(key)
        resp.mailbox = mailbox.address
        return resp

    def _call(self, req, ctx, params, mailbox, handler, outer, entry_fault):
        fault = entry_fault
        if outer:
            has_token = handler == self.get_delta and (
                "$deltatoken" in req.query or "$skiptoken" in req.query
            )
            targets = [req.path + "?" + urlencode(req.query)]
            fault = self.emu.faults.draw(targets, extra=("410",) if has_token else ())
        if fault:
            resp = self.fault_response(fault, req, params)
            if resp is not None:
                resp.fault = fault
                return resp
        prefer = parse_prefer(req)
        call = Call(
            req,
            ctx,
            params,
            mailbox,
            prefer.get("idtype", "").lower() == "immutableid",
            prefer,
        )
        try:
            resp = handler(call)
        except QueryError as err:
            resp = graph_error(400, err.code, err.message, req)
        resp.fault = fault
        if fault == "lost":  # done, but the answer never reaches the client
            raise DropConnection("lost")
        return resp

    def _match(self, method, path):
        method_mismatch = False
        for route in self.routes:
            match = route[1].match(path)
            if match:
                if route[0] == method:
                    return route, match.groupdict(), False
                method_mismatch = True
        return None, None, method_mismatch

    def _mailbox(self, req, ctx, user, access):
        mailbox = ctx.tenant.find_mailbox(user)
        if mailbox is None:
            return None, graph_error(
                self.emu.invalid_user_status,
                "ErrorInvalidUser",
                f"The requested user '{user}' is invalid.",
                req,
            )
        if not mailbox.rest_enabled:  # a user without an Exchange Online mailbox
            return None, graph_error(
                404,
                "MailboxNotEnabledForRESTAPI",
                "The mailbox is either inactive, soft-deleted, or is hosted "
                "on-premise.",
                req,
            )
        roles = set(ctx.claims.get("roles") or ())
        needed = {"write": WRITE_ROLES, "send": SEND_ROLES}.get(access, READ_ROLES)
        if not ctx.app.may_access(mailbox) or not roles & set(needed):
            return None, graph_error(403, "ErrorAccessDenied", ACCESS_DENIED, req)
        return mailbox, None

    # -- faults and throttling ---------------------------------------------
    def throttled(self, req, limit, retry_after):
        return graph_error(
            429,
            "ApplicationThrottled",
            f"Application is over its {limit} limit.",
            req,
            {"Retry-After": str(retry_after)},
        )

    def fault_response(self, kind, req, params=None):
        """The response for an injected fault; None means carry on (after "slow")."""
        faults = self.emu.faults
        if kind == "slow":
            time.sleep(faults.slow_seconds)
            return None
        if kind == "lost":  # the caller answers, then drops the connection
            return None
        if kind == "drop":
            raise DropConnection()
        if kind in ("429", "429-entry"):
            return self.throttled(req, "MailboxConcurrency", faults.retry_after)
        if kind == "503":
            return graph_error(
                503,
                "ServiceUnavailable",
                "The service is temporarily unavailable. Please retry.",
                req,
                {"Retry-After": str(faults.retry_after)},
            )
        if kind == "504":
            return graph_error(504, "UnknownError", "Gateway timeout.", req)
        if kind == "410":
            return self.delta.gone(req, self._delta_base(params))
        raise ValueError(kind)

    # -- helpers -----------------------------------------------------------
    def _folder(self, call, key=None):
        folder = call.mailbox.find_folder(
            key if key is not None else call.params["folder"]
        )
        if folder is None:
            raise NotFound(
                "ErrorFolderNotFound",
                "The specified folder could not be found in the store.",
            )
        return folder

    def _message(self, call):
        msg = call.mailbox.find_message(call.params["msg"])
        if msg is None:
            raise NotFound(
                "ErrorItemNotFound", "The specified object was not found in the store."
            )
        return msg

    def _render(self, call, msg):
        q = call.req.query
        return render.message(
            msg,
            call.immutable,
            render.parse_select(q.get("$select")),
            render.parse_expand(q.get("$expand")),
            call.prefer.get("outlook.body-content-type"),
        )

    def _page(self, call, items, render_item, context):
        """$top/$skip paging with an @odata.nextLink carrying the same query."""
        q = call.req.query
        top = _int(q.get("$top"), 10, "$top")
        top = max(1, min(top, 1000))
        skip = _int(q.get("$skip"), 0, "$skip")
        body = {"@odata.context": f"{self.emu.graph_url}/$metadata#{context}"}
        if q.get("$count", "").lower() == "true":
            body["@odata.count"] = len(items)
        body["value"] = [render_item(i) for i in items[skip : skip + top]]
        if skip + top < len(items):
            nxt = dict(q, **{"$skip": str(skip + top)})
            body["@odata.nextLink"] = (
                f"{self.emu.graph_url}{quote(_relative(call.req.path), safe='/@$()=')}?"
                + urlencode(nxt, quote_via=quote, safe="$,'@:")
            )
        return graph_json(200, body)

    # -- folders -----------------------------------------------------------
    def list_folders(self, call):
        return self._list_folders(call, call.mailbox.root)

    def list_children(self, call):
        try:
            return self._list_folders(call, self._folder(call))
        except NotFound as nf:
            return nf.resp(call.req)

    def _list_folders(self, call, parent):
        hidden = call.req.query.get("includeHiddenFolders", "").lower() == "true"
        with self.emu.lock:
            children = [c for c in parent.children if hidden or not c.hidden]
            return self._page(
                call,
                children,
                render.folder,
                f"users('{call.params['user']}')/mailFolders",
            )

    def get_folder(self, call):
        try:
            with self.emu.lock:
                return graph_json(200, render.folder(self._folder(call)))
        except NotFound as nf:
            return nf.resp(call.req)

    def create_folder(self, call):
        try:
            body = call.req.json() or {}
        except ValueError:
            return _bad_json(call.req)
        name = body.get("displayName") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name.strip():
            return graph_error(
                400,
                "ErrorInvalidRequest",
                "The displayName property is required.",
                call.req,
            )
        try:
            with self.emu.lock:
                parent = (
                    self._folder(call) if "folder" in call.params else call.mailbox.root
                )
                folder = call.mailbox.add_folder(
                    name, parent=parent, hidden=bool(body.get("isHidden"))
                )
                return graph_json(201, render.folder(folder))
        except NotFound as nf:
            return nf.resp(call.req)
        except FolderExists:
            return graph_error(
                self.emu.folder_exists_status,
                "ErrorFolderExists",
                "A folder with the specified name already exists.",
                call.req,
            )

    # -- messages ----------------------------------------------------------
    def list_messages(self, call):
        q = call.req.query
        try:
            with self.emu.lock:
                folder = self._folder(call) if "folder" in call.params else None
                msgs = (
                    list(folder.items.values())
                    if folder
                    else list(call.mailbox.live.values())
                )
                msgs = _filter_and_sort(msgs, q.get("$filter"), q.get("$orderby"))
                return self._page(
                    call, msgs, lambda m: self._render(call, m), "Collection(message)"
                )
        except NotFound as nf:
            return nf.resp(call.req)

    def get_message(self, call):
        try:
            with self.emu.lock:
                msg = self._message(call)
                if "folder" in call.params and self._folder(call) is not msg.folder:
                    raise NotFound(
                        "ErrorItemNotFound",
                        "The specified object was not found in the store.",
                    )
                return graph_json(200, self._render(call, msg))
        except NotFound as nf:
            return nf.resp(call.req)

    def get_mime(self, call):
        try:
            msg = self._message(call)
        except NotFound as nf:
            return nf.resp(call.req)
        with self.emu.lock:
            body = msg.mime
        return Resp(200, {"Content-Type": "text/plain"}, body)

    def patch_message(self, call):
        try:
            body = call.req.json()
        except ValueError:
            return _bad_json(call.req)
        if not isinstance(body, dict):
            return _bad_json(call.req)
        try:
            with self.emu.lock:
                msg = self._message(call)
                self._apply_patch(call.mailbox, msg, body)
                return graph_json(200, self._render(call, msg))
        except NotFound as nf:
            return nf.resp(call.req)

    @staticmethod
    def _apply_patch(mailbox, msg, body):
        changed = False
        if "isRead" in body and bool(body["isRead"]) != msg.is_read:
            msg.is_read, changed = bool(body["isRead"]), True
        if isinstance(body.get("categories"), list):
            msg.categories, changed = [str(c) for c in body["categories"]], True
        if isinstance(body.get("flag"), dict):
            msg.flag, changed = dict(msg.flag, **body["flag"]), True
        if body.get("importance") in ("low", "normal", "high"):
            msg.importance, changed = body["importance"], True
        if changed:
            mailbox.updated(msg)

    def move_message(self, call):
        try:
            body = call.req.json() or {}
        except ValueError:
            return _bad_json(call.req)
        dest = _action_parameter(body, "destinationId")
        if not dest:
            return graph_error(
                400,
                "ErrorInvalidRequest",
                "The destinationId property is required.",
                call.req,
            )
        try:
            with self.emu.lock:
                msg = self._message(call)
                folder = self._folder(call, dest)
                call.mailbox.move(msg, folder)
                return graph_json(201, self._render(call, msg))
        except NotFound as nf:
            return nf.resp(call.req)

    def delete_message(self, call):
        """Graph DELETE moves to Deleted Items (from there it is gone for good)."""
        try:
            with self.emu.lock:
                msg = self._message(call)
                deleted_items = call.mailbox.find_folder("deleteditems")
                if msg.folder is deleted_items:
                    call.mailbox.remove(msg)
                else:
                    call.mailbox.move(msg, deleted_items)
        except NotFound as nf:
            return nf.resp(call.req)
        return Resp(204, {})

    def get_delta(self, call):
        try:
            folder = self._folder(call)
        except NotFound as nf:
            return nf.resp(call.req)
        base = self._delta_base(call.params)
        return self.delta.handle(
            call.req, call.mailbox, folder, base, call.immutable, call.prefer
        )

    def _delta_base(self, params):
        return delta_url(
            self.emu.graph_url,
            params["user"],
            params["folder"],
            self.emu.delta_link_style,
        )

    # -- attachments ---------------------------------------------------------
    def _attachments(self, call):
        msg = self._message(call)
        return msg, [
            (_attachment_id(msg, i), a) for i, a in enumerate(msg.parsed.attachments)
        ]

    def list_attachments(self, call):
        try:
            with self.emu.lock:
                _, atts = self._attachments(call)
                return self._page(
                    call,
                    atts,
                    lambda pair: _attachment_json(*pair),
                    "Collection(attachment)",
                )
        except NotFound as nf:
            return nf.resp(call.req)

    def _one_attachment(self, call):
        _, atts = self._attachments(call)
        found = next((a for aid, a in atts if aid == call.params["att"]), None)
        if found is None:
            raise NotFound(
                "ErrorItemNotFound", "The specified object was not found in the store."
            )
        return found

    def get_attachment(self, call):
        try:
            with self.emu.lock:
                return graph_json(
                    200,
                    _attachment_json(call.params["att"], self._one_attachment(call)),
                )
        except NotFound as nf:
            return nf.resp(call.req)

    def get_attachment_value(self, call):
        try:
            att = self._one_attachment(call)
        except NotFound as nf:
            return nf.resp(call.req)
        return Resp(200, {"Content-Type": att.content_type}, att.content)


class NotFound(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message

    def resp(self, req):
        return graph_error(404, self.code, self.message, req)


def _relative(path):
    # Empty segments are ignored, as by Graph: msgraph-sdk-python sends
    # /v1.0//users/... (its base URL keeps httpx's trailing slash).
    path = _EMPTY_SEGMENTS.sub("/", path)
    return path[5:] if path.lower().startswith("/v1.0") else path


def _int(value, default, name):
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError:
        raise QueryError("BadRequest", f"Invalid value '{value}' for {name}.") from None
    if number < 0:
        raise QueryError("BadRequest", f"Invalid value '{value}' for {name}.")
    return number


def _action_parameter(body, name):
    """Action parameters bind case-insensitively: the docs write destinationId, the
    msgraph SDKs send DestinationId (the name in Graph's metadata)."""
    if not isinstance(body, dict):
        return None
    return next((v for k, v in body.items() if str(k).lower() == name.lower()), None)


def _bad_json(req):
    return graph_error(
        400,
        "BadRequest",
        "Unable to read JSON request payload. Please ensure Content-Type header "
        "is set and payload is of valid JSON format.",
        req,
    )


def _attachment_id(msg, index):
    raw = f"{index}:{msg.immutable_id}".encode()
    return "AAMkAGAtt" + base64.urlsafe_b64encode(raw).decode()


def _attachment_json(att_id, att):
    out = {
        "@odata.type": "#microsoft.graph.itemAttachment"
        if att.is_item
        else "#microsoft.graph.fileAttachment",
        "id": att_id,
        "name": att.name,
        "contentType": att.content_type,
        "size": len(att.content),
        "isInline": att.is_inline,
        "lastModifiedDateTime": None,
    }
    if not att.is_item:
        out["contentId"] = att.content_id
        out["contentBytes"] = base64.b64encode(att.content).decode()
    return out


# -- $filter / $orderby on message lists ----------------------------------------
def _literal(text):
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if text.startswith("'") and text.endswith("'"):
        return text[1:-1].replace("''", "'")
    try:
        return parse_datetime(text)
    except ValueError:
        raise QueryError(
            "BadRequest", f"Invalid filter clause: unsupported literal '{text}'."
        ) from None


_FILTER_PROPS = {
    "isread": ("isRead", lambda m: m.is_read),
    "receiveddatetime": ("receivedDateTime", lambda m: m.received),
    "sentdatetime": ("sentDateTime", lambda m: m.parsed.date or m.received),
    "hasattachments": ("hasAttachments", lambda m: m.parsed.has_attachments),
    "subject": ("subject", lambda m: m.parsed.subject),
    "internetmessageid": ("internetMessageId", lambda m: m.internet_message_id),
    "conversationid": ("conversationId", lambda m: m.conversation_id),
    "from/emailaddress/address": ("from", lambda m: m.parsed.from_[1].lower()),
}
_OPS = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "ge": lambda a, b: a >= b,
    "gt": lambda a, b: a > b,
    "le": lambda a, b: a <= b,
    "lt": lambda a, b: a < b,
}


def _parse_filter(expr):
    clauses = []
    for part in re.split(r"\s+and\s+", expr.strip(), flags=re.I):
        match = _CLAUSE.match(part)
        prop = _FILTER_PROPS.get(match.group(1).lower()) if match else None
        if prop is None:
            raise QueryError(
                "BadRequest",
                f"Invalid filter clause: '{part}' is not supported by the emulator.",
            )
        value = _literal(match.group(3))
        if isinstance(value, str) and prop[0] == "from":
            value = value.lower()
        clauses.append((prop[0], prop[1], _OPS[match.group(2).lower()], value))
    return clauses


def _parse_orderby(expr):
    keys = []
    for part in expr.split(","):
        bits = part.split()
        prop = _FILTER_PROPS.get(bits[0].lower()) if bits else None
        if (
            prop is None
            or len(bits) > 2
            or (len(bits) == 2 and bits[1].lower() not in ("asc", "desc"))
        ):
            raise QueryError("BadRequest", f"Invalid $orderby clause '{part.strip()}'.")
        keys.append((prop[0], prop[1], len(bits) == 2 and bits[1].lower() == "desc"))
    return keys


def _filter_and_sort(msgs, filter_expr, orderby_expr):
    clauses = _parse_filter(filter_expr) if filter_expr else []
    order = (
        _parse_orderby(orderby_expr)
        if orderby_expr
        else [("receivedDateTime", lambda m: m.received, True)]
    )
    if clauses and orderby_expr:
        # Exchange: $orderby properties must also be in $filter, first, same order.
        filtered_names = [c[0] for c in clauses]
        if [o[0] for o in order] != filtered_names[: len(order)]:
            raise QueryError(
                "InefficientFilter",
                "The restriction or sort order is too complex for this operation.",
            )
    try:
        msgs = [
            m for m in msgs if all(op(get(m), value) for _, get, op, value in clauses)
        ]
    except TypeError:
        raise QueryError(
            "BadRequest", "Invalid filter clause: incompatible types."
        ) from None
    for _, get, desc in reversed(order):
        msgs.sort(key=get, reverse=desc)
    return msgs
