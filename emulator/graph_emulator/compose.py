"""Building and editing the MIME of mail that Graph clients create or send.

Exchange keeps a MIME message handed to it "more or less intact", so header edits work
on the header block only and leave the body bytes as they came. Messages given as
Graph JSON are turned into MIME here, the way Exchange stores them.
"""

import base64
import binascii
import email.utils
import re
import secrets
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_LOGICAL_LINE = re.compile(rb"\r?\n(?![ \t])")
# Exchange Online's own Message-IDs: <{server}{hex}@{server}.{region}.prod.outlook.com>
_SERVERS = ("DM6PR11MB4691", "AM0PR02MB5603", "SN6PR04MB4720", "CH2PR12MB3959")


class ComposeError(Exception):
    """A Graph JSON message or MIME content Exchange would refuse (400)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


def exchange_message_id():
    server = secrets.choice(_SERVERS)
    return (
        f"<{server}{secrets.token_hex(16).upper()}@{server}.namprd00.prod.outlook.com>"
    )


def decode_mime_body(body: bytes) -> bytes:
    """The base64 text/plain body of sendMail / POST messages -> the MIME bytes."""
    text = re.sub(rb"\s+", b"", body or b"")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if not raw or b":" not in _split(raw)[0]:
        raise ComposeError(
            "ErrorMimeContentInvalidBase64String",
            "Invalid base64 string for MIME content.",
        )
    return raw


# -- header block edits ------------------------------------------------------------
def _split(raw):
    match = _HEADER_END.search(raw)
    if match is None:
        return raw, b"\r\n\r\n"
    return raw[: match.start()], raw[match.start() :]


def _eol(raw):
    return b"\r\n" if b"\r\n" in raw[:4096] else b"\n"


def header_lines(raw):
    """The header fields of a message, as bytes (a folded field stays one item)."""
    head, _ = _split(raw)
    return [line for line in _LOGICAL_LINE.split(head) if line]


def without_header(raw, name):
    head, rest = _split(raw)
    prefix = name.lower().encode() + b":"
    kept = [
        line
        for line in _LOGICAL_LINE.split(head)
        if not line.lower().startswith(prefix)
    ]
    return _eol(raw).join(kept) + rest


def with_header(raw, name, value):
    """Replace every `name` header by one line `name: value` at the top."""
    raw = without_header(raw, name)
    return f"{name}: {value}".encode() + _eol(raw) + raw


def has_header(raw, name):
    prefix = name.lower().encode() + b":"
    return any(line.lower().startswith(prefix) for line in header_lines(raw))


def stamp(raw, mailbox, replace_message_id):
    """What Exchange adds when it stores a message it is given: a Message-ID (its own
    when the switch says so, or when there is none), a From, a Date."""
    if replace_message_id or not has_header(raw, "Message-ID"):
        raw = with_header(raw, "Message-ID", exchange_message_id())
    if not has_header(raw, "From"):
        raw = with_header(raw, "From", _format(mailbox.display_name, mailbox.address))
    if not has_header(raw, "Date"):
        raw = with_header(raw, "Date", email.utils.format_datetime(_now()))
    return raw


def _now():
    return datetime.now(timezone.utc)


def _format(name, address):
    return email.utils.formataddr((name or "", address))


# -- attachments ---------------------------------------------------------------------
def add_attachment(raw, name, content, content_type, is_inline=False, content_id=None):
    """The message with one more file attachment (Exchange re-renders the MIME)."""
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    maintype, _, subtype = (content_type or "application/octet-stream").partition("/")
    msg.add_attachment(
        content,
        maintype=maintype or "application",
        subtype=subtype or "octet-stream",
        filename=name,
        disposition="inline" if is_inline else "attachment",
        cid=f"<{content_id.strip('<>')}>" if content_id else None,
    )
    return msg.as_bytes(policy=policy.SMTP)


# -- Graph JSON -> MIME ----------------------------------------------------------------
def prop(obj, name, default=None):
    """Graph JSON property names bind case-insensitively (SDKs send PascalCase for
    action parameters)."""
    if not isinstance(obj, dict):
        return default
    for key, value in obj.items():
        if str(key).lower() == name.lower():
            return value
    return default


def _recipients(message, name):
    out = []
    for item in prop(message, name) or []:
        address = prop(prop(item, "emailAddress") or {}, "address")
        if not address:
            raise ComposeError(
                "ErrorInvalidRecipients", "At least one recipient isn't valid."
            )
        out.append(_format(prop(item["emailAddress"], "name"), address))
    return out


def json_to_mime(message, mailbox):
    """A Graph message resource (as sent to POST messages / sendMail) -> MIME bytes."""
    if not isinstance(message, dict):
        raise ComposeError("ErrorInvalidRequest", "The message is missing.")
    msg = EmailMessage()
    sender = prop(message, "from")
    msg["From"] = (
        _recipients({"from": [sender]}, "from")[0]
        if sender
        else _format(mailbox.display_name, mailbox.address)
    )
    for header, name in (
        ("To", "toRecipients"),
        ("Cc", "ccRecipients"),
        ("Bcc", "bccRecipients"),
        ("Reply-To", "replyTo"),
    ):
        values = _recipients(message, name)
        if values:
            msg[header] = ", ".join(values)
    msg["Subject"] = prop(message, "subject") or ""
    msg["Date"] = email.utils.format_datetime(_now())
    msg["Message-ID"] = prop(message, "internetMessageId") or exchange_message_id()
    importance = str(prop(message, "importance") or "").lower()
    if importance in ("low", "high"):
        msg["Importance"] = importance
    for header in prop(message, "internetMessageHeaders") or []:
        _custom_header(msg, header)
    body = prop(message, "body") or {}
    kind = str(prop(body, "contentType") or "text").lower()
    msg.set_content(
        prop(body, "content") or "", subtype="html" if kind == "html" else "plain"
    )
    for attachment in prop(message, "attachments") or []:
        _json_attachment(msg, attachment)
    return msg.as_bytes(policy=policy.SMTP)


def _custom_header(msg, header):
    name, value = prop(header, "name"), prop(header, "value")
    # Graph only takes custom headers (x-...) here.
    if not name or not str(name).lower().startswith("x-"):
        raise ComposeError(
            "InvalidInternetMessageHeader",
            f"The internet message header name '{name}' should start with 'x-' or "
            "'X-'.",
        )
    msg[str(name)] = str(value or "")


def _json_attachment(msg, attachment):
    kind = str(prop(attachment, "@odata.type") or "").lower()
    if kind and not kind.endswith("fileattachment"):
        raise ComposeError(
            "ErrorInvalidRequest", "Only file attachments are supported here."
        )
    name, content = attachment_content(attachment)
    maintype, _, subtype = (
        prop(attachment, "contentType") or "application/octet-stream"
    ).partition("/")
    content_id = prop(attachment, "contentId")
    msg.add_attachment(
        content,
        maintype=maintype,
        subtype=subtype or "octet-stream",
        filename=name,
        disposition="inline" if prop(attachment, "isInline") else "attachment",
        cid=f"<{content_id.strip('<>')}>" if content_id else None,
    )


def attachment_content(attachment):
    """(name, bytes) of a fileAttachment JSON, or ComposeError."""
    name = prop(attachment, "name")
    try:
        content = base64.b64decode(
            prop(attachment, "contentBytes") or "", validate=True
        )
    except (binascii.Error, ValueError):
        raise ComposeError(
            "ErrorInvalidRequest", "The contentBytes of the attachment are not base64."
        ) from None
    if not name:
        raise ComposeError("ErrorInvalidRequest", "The attachment needs a name.")
    return str(name), content


def addresses(raw_value):
    """Addresses (lower case) out of a header value."""
    return [
        a.lower() for _, a in email.utils.getaddresses([raw_value or ""]) if "@" in a
    ]
