"""Turn a delivered RFC 822 message into the properties Exchange derives from it.

Real mail is often broken (bad charsets, malformed addresses, truncated MIME), and
Exchange still stores it, so every extraction here falls back to an empty value
instead of raising.
"""

import base64
import email.header
import email.utils
import html
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import policy
from email.parser import BytesParser


@dataclass
class Attachment:
    name: str
    content_type: str
    content: bytes
    is_inline: bool
    content_id: str | None
    is_item: bool = False  # message/rfc822 -> Graph itemAttachment
    filename_given: bool = True  # False: the name is made up ("attachment", ATT...)
    loose_text: bool = False  # a text part Exchange turned into ATT00001.txt


@dataclass
class Parsed:
    subject: str = ""
    from_: tuple = ("", "")
    sender: tuple = ("", "")
    to: list = field(default_factory=list)
    cc: list = field(default_factory=list)
    bcc: list = field(default_factory=list)
    reply_to: list = field(default_factory=list)
    message_id: str = ""
    in_reply_to: list = field(default_factory=list)
    references: list = field(default_factory=list)
    date: datetime | None = None
    text: str = ""
    html: str = ""
    attachments: list = field(default_factory=list)
    headers: list = field(default_factory=list)  # [(name, value)]
    thread_index: bytes | None = None
    importance: str = "normal"

    @property
    def has_attachments(self):
        # Exchange ignores inline parts (signature logos...) for hasAttachments.
        return any(not a.is_inline for a in self.attachments)


def _safe(func, default):
    try:
        value = func()
    except Exception:  # broken mail must never break delivery
        return default
    return default if value is None else value


def _decode_raw(value):
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except Exception:
        return str(value)


def _header(msg, name):
    """Decoded header text; falls back to the raw value when parsing it fails."""
    try:
        value = msg.get(name)
        return "" if value is None else str(value)
    except Exception:
        for key, raw in msg.raw_items():
            if key.lower() == name.lower():
                return _decode_raw(raw)
        return ""


def _addresses(msg, name):
    try:
        value = msg.get(name)
        if value is None:
            return []
        return [(a.display_name or "", a.addr_spec or "") for a in value.addresses]
    except Exception:
        raw = _header(msg, name)
        return _safe(
            lambda: [(n, a) for n, a in email.utils.getaddresses([raw]) if a or n], []
        )


def _msgids(text):
    return re.findall(r"<[^<>\s]+>", text or "")


def _part_text(part):
    try:
        return part.get_content()
    except Exception:
        payload = _safe(lambda: part.get_payload(decode=True), b"")
        if isinstance(payload, bytes):
            charset = _safe(part.get_content_charset, "utf-8") or "utf-8"
            try:
                return payload.decode(charset, "replace")
            except LookupError:
                return payload.decode("utf-8", "replace")
        return str(payload)


def _leaves(part):
    """Leaf parts, not descending into attached messages (message/rfc822)."""
    if part.get_content_maintype() == "multipart":
        for sub in _safe(lambda: list(part.iter_parts()), []):
            yield from _leaves(sub)
    else:
        yield part


def _attachment(part):
    disposition = _safe(part.get_content_disposition, None)
    filename = _safe(part.get_filename, None)
    content_id = _header(part, "Content-ID").strip() or None
    is_item = part.get_content_type() == "message/rfc822"
    if not (
        disposition == "attachment"
        or filename
        or is_item
        or part.get_content_maintype() not in ("text",)
    ):
        return None
    inline = disposition == "inline" or (disposition is None and content_id is not None)
    if is_item:
        content = _safe(lambda: part.get_payload(0).as_bytes(), b"")
    else:
        content = _safe(lambda: part.get_payload(decode=True), b"") or b""
    return Attachment(
        name=filename or ("message.eml" if is_item else "attachment"),
        content_type=part.get_content_type(),
        content=content,
        is_inline=inline,
        content_id=content_id.strip("<>") if content_id else None,
        is_item=is_item,
        filename_given=bool(filename),
    )


_LOOSE_TEXT_SUFFIX = {"plain": "txt", "html": "htm", "calendar": "ics"}


def _loose_text(part, number):
    """A text part that is neither the body nor an attachment (a mailing list's footer
    after the body, a second text part): Exchange keeps it as an attachment named
    ATT00001.txt, ATT00002.htm..."""
    suffix = _LOOSE_TEXT_SUFFIX.get(part.get_content_subtype(), "txt")
    return Attachment(
        name=f"ATT{number:05d}.{suffix}",
        content_type=part.get_content_type(),
        content=_safe(lambda: part.get_payload(decode=True), b"") or b"",
        is_inline=False,
        content_id=None,
        filename_given=False,
        loose_text=True,
    )


def body_parts(msg):
    """(text part, html part, other leaves) as Exchange splits a parsed message: the
    bodies are what get_body() prefers, every other leaf becomes an attachment."""
    text_part = _safe(lambda: msg.get_body(preferencelist=("plain",)), None)
    html_part = _safe(lambda: msg.get_body(preferencelist=("html",)), None)
    others = [p for p in _leaves(msg) if p is not text_part and p is not html_part]
    return text_part, html_part, others


def attachment_of(part, loose_count):
    """The Attachment a non-body leaf becomes (loose_count numbers ATT0000N names)."""
    att = _safe(lambda: _attachment(part), None)
    if att is None and part.get_content_maintype() == "text":
        att = _loose_text(part, loose_count + 1)
    return att


def _bodies_and_attachments(msg, out):
    text_part, html_part, others = body_parts(msg)
    out.text = _part_text(text_part) if text_part is not None else ""
    out.html = _part_text(html_part) if html_part is not None else ""
    loose = 0
    for part in others:
        att = attachment_of(part, loose)
        if att is not None:
            loose += att.loose_text
            out.attachments.append(att)


def _date(msg):
    value = msg.get("Date")
    dt = value.datetime if value is not None else None
    if dt is not None and dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt


def _importance(msg):
    value = (_header(msg, "Importance") or _header(msg, "X-Priority")).strip().lower()
    if value.startswith(("high", "1", "2")):
        return "high"
    if value.startswith(("low", "5", "4")):
        return "low"
    return "normal"


def parse(raw: bytes) -> Parsed:
    out = Parsed()
    msg = _safe(lambda: BytesParser(policy=policy.default).parsebytes(raw), None)
    if msg is None:
        return out
    out.subject = _header(msg, "Subject").replace("\r", "").replace("\n", "")
    out.from_ = next(iter(_addresses(msg, "From")), ("", ""))
    out.sender = next(iter(_addresses(msg, "Sender")), out.from_)
    out.to = _addresses(msg, "To")
    out.cc = _addresses(msg, "Cc")
    out.bcc = _addresses(msg, "Bcc")
    out.reply_to = _addresses(msg, "Reply-To")
    out.message_id = next(iter(_msgids(_header(msg, "Message-ID"))), "")
    out.in_reply_to = _msgids(_header(msg, "In-Reply-To"))
    out.references = _msgids(_header(msg, "References"))
    out.date = _safe(lambda: _date(msg), None)
    out.importance = _safe(lambda: _importance(msg), "normal")
    out.headers = _safe(lambda: [(k, _decode_raw(v)) for k, v in msg.raw_items()], [])
    out.thread_index = _safe(
        lambda: (
            base64.b64decode(_header(msg, "Thread-Index").strip(), validate=True)
            or None
        ),
        None,
    )
    _safe(lambda: _bodies_and_attachments(msg, out), None)
    return out


_SUBJECT_PREFIX = re.compile(
    r"^\s*(re|fw|fwd|aw|wg|enc|res|sv|vs|tr|antw|rif)\s*(\[\d+\])?\s*:\s*", re.I
)


def conversation_topic(subject: str) -> str:
    """The subject without reply/forward prefixes (Re:, FW:, AW:, WG:, RES:, ENC:,
    TR:, SV:..., repeated, any case), spaces collapsed: Thread-Topic."""
    previous = None
    subject = subject or ""
    while previous != subject:
        previous, subject = subject, _SUBJECT_PREFIX.sub("", subject)
    return re.sub(r"\s+", " ", subject).strip()


def html_to_text(markup: str) -> str:
    markup = re.sub(r"(?is)<(script|style|head)\b.*?</\1\s*>", " ", markup or "")
    markup = re.sub(r"(?i)<br\s*/?>|</p\s*>|</div\s*>", "\n", markup)
    return html.unescape(re.sub(r"(?s)<[^>]*>", " ", markup))


def preview(parsed: Parsed) -> str:
    text = parsed.text or html_to_text(parsed.html)
    return re.sub(r"\s+", " ", text).strip()[:255]


def text_to_html(text: str) -> str:
    body = html.escape(text or "").replace("\n", "<br>\r\n")
    return (
        '<html><head>\r\n<meta http-equiv="Content-Type" '
        'content="text/html; charset=utf-8"></head>'
        f"<body><div>{body}</div></body></html>"
    )
