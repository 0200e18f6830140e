"""Sending mail (application permission Mail.Send) and what it needs.

- POST /users/{id}/sendMail: JSON ({"message", "saveToSentItems"}) or MIME
  (text/plain, base64). 202 once the message is in Drafts; the emulator then sends it
  at once (Sent Items, delivery, NDRs: see transport.py).
- POST /users/{id}/messages (and .../mailFolders/{id}/messages): a draft from JSON or
  base64 MIME, 201 with the message. POST .../messages/{id}/send: 202, the draft moves
  to Sent Items (same immutable id, a new REST id).
- POST .../messages/{id}/attachments: one fileAttachment (JSON, so under the 4 MB
  request limit). POST .../attachments/createUploadSession, then PUT byte ranges to
  the pre-authenticated uploadUrl (served by Emulator under /api/v2.0/, like
  outlook.office.com; no Authorization header there).

Permissions: sendMail and send need Mail.Send; drafts and attachments need
Mail.ReadWrite. From must be the mailbox or an address in mailbox.send_as
(403 ErrorSendAsDenied). Unconfirmed statuses are knobs on the Emulator
(request_too_large_status, upload_range_error_status).
"""

import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from . import compose, mime
from .compose import ComposeError
from .graph import NotFound, _attachment_id, _attachment_json, _bad_json
from .transport import Transport
from .wire import DropConnection, Resp, graph_error, graph_json

MB = 1024 * 1024
SEND_ROLES = ("Mail.Send",)
_U = r"/users/(?P<user>[^/]+)"
_F = r"/mailFolders/(?P<folder>[^/]+)"
_M = r"/messages/(?P<msg>[^/]+)"
_SESSION = re.compile(
    r"^/api/v2\.0/Users\('(?P<user>[^']*)'\)/Messages\('(?P<msg>[^']*)'\)"
    r"/AttachmentSessions\('(?P<session>[^']*)'\)$",
    re.I,
)
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+)\s*$", re.I)
TOO_BIG = "The message exceeds the maximum supported size."
SEND_AS_DENIED = (
    "The user account which was used to submit this request does not have the right "
    "to send mail on behalf of the specified sending account., Cannot submit message."
)


@dataclass
class UploadSession:
    id: str
    token: str
    mailbox: object
    message_id: str  # immutable id of the message the file goes to
    client_id: str
    name: str
    size: int
    content_type: str
    is_inline: bool
    content_id: str | None
    expires: datetime
    received: bytearray = field(default_factory=bytearray)


class SendApi:
    def __init__(self, api):
        self.api = api
        self.emu = api.emu
        self.transport = Transport(api.emu)
        self._sessions = {}

    def routes(self):
        """(method, pattern, handler, access) rows for GraphApi's route table."""
        return [
            ("POST", _U + "/sendMail", self.send_mail, "send"),
            ("POST", _U + "/messages", self.create_message, "write"),
            ("POST", _U + _F + "/messages", self.create_message, "write"),
            ("POST", _U + _M + "/send", self.send_message, "send"),
            ("POST", _U + _M + "/attachments", self.add_attachment, "write"),
            (
                "POST",
                _U + _M + "/attachments/createUploadSession",
                self.create_upload_session,
                "write",
            ),
        ]

    # -- limits ----------------------------------------------------------------------
    def body_too_large(self, req):
        """Graph refuses request bodies over 4 MB (status unconfirmed: a knob)."""
        limit = self.emu.max_request_body
        if len(req.body) <= limit:
            return None
        return graph_error(
            self.emu.request_too_large_status,
            "RequestEntityTooLarge",
            f"The request body is {len(req.body)} bytes; the maximum is {limit} bytes.",
            req,
        )

    def _too_big(self, req, size, also=""):
        if size <= self.emu.max_message_size:
            return None
        return graph_error(400, "ErrorMessageSizeExceeded", TOO_BIG + also, req)

    # -- creating and sending --------------------------------------------------------
    def _incoming_mime(self, call, json_message):
        """MIME bytes of a POST messages / sendMail body (base64 MIME or JSON)."""
        content_type = (call.req.header("content-type") or "").lower()
        if content_type.startswith("text/plain"):
            return compose.decode_mime_body(call.req.body)
        return compose.json_to_mime(json_message(call.req.json()), call.mailbox)

    def _store_draft(self, mailbox, raw, folder="drafts"):
        raw = compose.stamp(raw, mailbox, self.emu.replace_message_id)
        msg = mailbox.deliver(raw, folder=folder, is_read=True)
        msg.is_draft = True
        return msg

    def create_message(self, call):
        try:
            raw = self._incoming_mime(call, lambda body: body)
        except ValueError:
            return _bad_json(call.req)
        except ComposeError as err:
            return graph_error(400, err.code, err.message, call.req)
        too_big = self._too_big(call.req, len(raw))
        if too_big is not None:
            return too_big
        try:
            with self.emu.lock:
                folder = self.api._folder(call) if "folder" in call.params else "drafts"
                msg = self._store_draft(call.mailbox, raw, folder)
                return graph_json(201, self.api._render(call, msg))
        except NotFound as nf:
            return nf.resp(call.req)

    def send_mail(self, call):
        save = True

        def message_of(body):
            nonlocal save
            save = _truthy(compose.prop(body, "saveToSentItems", True))
            return compose.prop(body, "message")

        try:
            raw = self._incoming_mime(call, message_of)
        except ValueError:
            return _bad_json(call.req)
        except ComposeError as err:
            return graph_error(400, err.code, err.message, call.req)
        with self.emu.lock:
            msg = self._store_draft(call.mailbox, raw)
            refused = self._refusal(call, msg)
            if refused is not None:
                call.mailbox.remove(msg)
                return refused
            self.transport.submit(call.mailbox, msg, save_copy=save)
        return Resp(202, {})

    def send_message(self, call):
        try:
            with self.emu.lock:
                msg = self.api._message(call)
                if not getattr(msg, "is_draft", False):
                    # Unconfirmed: what Exchange answers for an item already sent.
                    return graph_error(
                        400,
                        "ErrorInvalidOperation",
                        "Only draft messages can be sent.",
                        call.req,
                    )
                refused = self._refusal(call, msg)
                if refused is not None:
                    return refused
                self.transport.submit(call.mailbox, msg, save_copy=True)
        except NotFound as nf:
            return nf.resp(call.req)
        return Resp(202, {})

    def _refusal(self, call, msg):
        """Why Exchange would not submit this message (None: it will)."""
        mailbox, parsed = call.mailbox, msg.parsed
        allowed = {mailbox.address.casefold()}
        allowed |= {str(a).casefold() for a in getattr(mailbox, "send_as", ())}
        if parsed.from_[1].casefold() not in allowed:
            return graph_error(403, "ErrorSendAsDenied", SEND_AS_DENIED, call.req)
        if not (parsed.to or parsed.cc or parsed.bcc):
            return graph_error(
                400,
                "ErrorInvalidRecipients",
                "At least one recipient isn't valid., A message can't be sent "
                "because it contains no recipients.",
                call.req,
            )
        return self._too_big(call.req, msg.size)

    # -- attachments -------------------------------------------------------------------
    def add_attachment(self, call):
        try:
            body = call.req.json()
            name, content = compose.attachment_content(body)
        except ValueError:
            return _bad_json(call.req)
        except ComposeError as err:
            return graph_error(400, err.code, err.message, call.req)
        try:
            with self.emu.lock:
                msg = self.api._message(call)
                return self._attach(
                    call.req,
                    call.mailbox,
                    msg,
                    name,
                    content,
                    compose.prop(body, "contentType"),
                    bool(compose.prop(body, "isInline")),
                    compose.prop(body, "contentId"),
                    lambda att_id, att: graph_json(201, _attachment_json(att_id, att)),
                )
        except NotFound as nf:
            return nf.resp(call.req)

    def _attach(self, req, mailbox, msg, name, content, ctype, inline, cid, answer):
        raw = compose.add_attachment(msg.raw, name, content, ctype, inline, cid)
        too_big = self._too_big(
            req, len(raw), ", Cannot save changes made to an item to store."
        )
        if too_big is not None:
            return too_big
        msg.raw, msg.parsed = raw, mime.parse(raw)
        mailbox.updated(msg)
        index = len(msg.parsed.attachments) - 1
        return answer(_attachment_id(msg, index), msg.parsed.attachments[index])

    def create_upload_session(self, call):
        try:
            item = compose.prop(call.req.json(), "AttachmentItem")
        except ValueError:
            return _bad_json(call.req)
        problem = _attachment_item_problem(item, self.emu.upload_session_min_size)
        if problem is not None:
            return graph_error(400, *problem, call.req)
        try:
            with self.emu.lock:
                msg = self.api._message(call)
        except NotFound as nf:
            return nf.resp(call.req)
        session = UploadSession(
            id=secrets.token_urlsafe(24),
            token=secrets.token_urlsafe(32),
            mailbox=call.mailbox,
            message_id=msg.immutable_id,
            client_id=call.ctx.app.client_id,
            name=str(compose.prop(item, "name")),
            size=int(compose.prop(item, "size")),
            content_type=compose.prop(item, "contentType")
            or "application/octet-stream",
            is_inline=bool(compose.prop(item, "isInline")),
            content_id=compose.prop(item, "contentId"),
            expires=datetime.now(timezone.utc)
            + timedelta(seconds=self.emu.upload_session_lifetime),
        )
        with self.emu.lock:
            self._sessions[session.id] = session
        return graph_json(
            201,
            {
                "@odata.context": f"{self.emu.graph_url}/$metadata"
                "#microsoft.graph.uploadSession",
                "uploadUrl": f"{self._session_url(session)}?authtoken={session.token}",
                "expirationDateTime": _iso7(session.expires),
                "nextExpectedRanges": ["0-"],
            },
        )

    def _session_url(self, session, tail=None):
        mailbox = session.mailbox
        base = (
            f"{self.emu.url}/api/v2.0/Users('{mailbox.id}@{mailbox.tenant.id}')"
            f"/Messages('{session.message_id}')"
        )
        return base + (tail or f"/AttachmentSessions('{session.id}')")

    # -- the upload URL (outside /v1.0, like outlook.office.com) ---------------------
    def upload(self, req):
        """PUT a byte range, or DELETE the session, at a pre-authenticated uploadUrl."""
        match = _SESSION.match(req.path)
        with self.emu.lock:
            session = self._sessions.get(match.group("session")) if match else None
        token = req.query.get("authtoken", "")
        if "authtoken" in req.query:  # the request log must not keep the credential
            req.query["authtoken"] = "***"
        resp = self._upload(req, session, token)
        if session is not None:
            resp.mailbox, resp.client_id = session.mailbox.address, session.client_id
        return resp

    def _upload(self, req, session, token):
        refused = self._upload_refusal(req, session, token)
        if refused is not None:
            return refused
        fault = self.emu.faults.draw([req.path])
        if fault:
            resp = self.api.fault_response(fault, req)
            if resp is not None:
                resp.fault = fault
                return resp
        if req.method == "DELETE":
            with self.emu.lock:
                self._sessions.pop(session.id, None)
            resp = Resp(204, {})
        elif req.method == "PUT":
            resp = self._put_range(req, session)
        else:
            resp = graph_error(
                405, "ErrorInvalidRequest", "The OData request is not supported.", req
            )
        resp.fault = fault
        if fault == "lost":  # done, but the answer never reaches the client
            raise DropConnection("lost")
        return resp

    def _upload_refusal(self, req, session, token):
        if session is None:
            return graph_error(
                404,
                "ErrorItemNotFound",
                "The upload session was not found; it expired or was completed.",
                req,
            )
        if not hmac.compare_digest(token, session.token):
            return graph_error(
                401,
                "InvalidAuthenticationToken",
                "Access token validation failure.",
                req,
            )
        if req.header("authorization") and self.emu.upload_rejects_bearer:
            # A Graph token sent to the Outlook upload URL has the wrong audience.
            return graph_error(
                401,
                "InvalidAudienceForResource",
                "The audience claim value is invalid for current resource. Audience "
                "claim is 'https://graph.microsoft.com', request url is "
                f"'{self.emu.url}{req.path}'.",
                req,
            )
        if datetime.now(timezone.utc) >= session.expires:
            with self.emu.lock:
                self._sessions.pop(session.id, None)
            return graph_error(
                401,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired.",
                req,
            )
        return None

    def _put_range(self, req, session):
        too_large = self.body_too_large(req)
        if too_large is not None:
            return too_large
        with self.emu.lock:  # ranges of one session are taken one at a time
            problem = _range_problem(req, session, self.emu.upload_range_error_status)
            if problem is not None:
                return graph_error(*problem, req)
            session.received += req.body
            msg = session.mailbox.find_message(session.message_id)
            if msg is None:
                self._sessions.pop(session.id, None)
                return graph_error(
                    404,
                    "ErrorItemNotFound",
                    "The specified object was not found in the store.",
                    req,
                )
            # Exchange stores attachments base64-encoded: the message grows by 4/3.
            projected = msg.size + (len(session.received) + 2) // 3 * 4
            too_big = self._too_big(req, projected)
            if too_big is not None:
                self._sessions.pop(session.id, None)
                return too_big
            if len(session.received) < session.size:
                return graph_json(
                    200,
                    {
                        "@odata.context": f"{self.emu.url}/api/v2.0/$metadata"
                        "#Users/Messages/AttachmentSessions/$entity",
                        "ExpirationDateTime": _iso7(session.expires),
                        "nextExpectedRanges": [str(len(session.received))],
                    },
                )
            self._sessions.pop(session.id, None)
            return self._attach(
                req,
                session.mailbox,
                msg,
                session.name,
                bytes(session.received),
                session.content_type,
                session.is_inline,
                session.content_id,
                lambda att_id, _att: Resp(
                    201,
                    {
                        "Location": self._session_url(
                            session, f"/Attachments('{att_id}')"
                        )
                    },
                ),
            )


def _attachment_item_problem(item, minimum):
    """(code, message) when an AttachmentItem cannot get an upload session."""
    if not isinstance(item, dict):
        return ("ErrorInvalidRequest", "The AttachmentItem parameter is required.")
    if str(compose.prop(item, "attachmentType") or "").lower() != "file":
        return ("ErrorInvalidRequest", "Only attachmentType 'file' is supported.")
    size = compose.prop(item, "size")
    if not compose.prop(item, "name") or not isinstance(size, int) or size <= 0:
        return ("ErrorInvalidRequest", "The attachment needs a name and a size.")
    if size < minimum:
        return (
            "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
            "Attachment size must be greater than the minimum size.",
        )
    if size > 150 * MB:
        return ("ErrorMessageSizeExceeded", TOO_BIG)
    return None


def _range_problem(req, session, out_of_order_status):
    """(status, code, message) when a PUT's Content-Range cannot be taken."""
    match = _CONTENT_RANGE.match(req.header("content-range") or "")
    if match is None:
        return (
            400,
            "InvalidContentRange",
            "The Content-Range header is missing or malformed.",
        )
    start, end, total = (int(g) for g in match.groups())
    if total != session.size or end < start or end >= total:
        return (
            400,
            "InvalidContentRange",
            f"The Content-Range does not fit the file of {session.size} bytes.",
        )
    if end - start + 1 != len(req.body):
        return (
            400,
            "InvalidContentRange",
            "The Content-Range does not match the number of bytes sent.",
        )
    if start != len(session.received):
        # Outlook takes byte ranges in order only; the status is unconfirmed (416 is
        # what OneDrive upload sessions answer).
        return (
            out_of_order_status,
            "InvalidContentRange",
            f"The next expected byte is {len(session.received)}; bytes must be "
            "uploaded in order.",
        )
    return None


def _truthy(value):
    if isinstance(value, str):  # the docs' own example sends "false"
        return value.strip().lower() != "false"
    return bool(value)


def _iso7(dt):
    """Outlook's timestamps carry 7 fractional digits: 2019-09-25T01:09:30.7671707Z."""
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
