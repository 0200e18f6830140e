"""The MIME Exchange Online writes when a stored message is downloaded ($value).

Exchange does not keep the MIME it received: delivery turns the message into
properties (addresses, subject, body, attachments, transport headers) and every download
generates new MIME from them.  Modelled on the message Microsoft's Graph documentation
shows for `GET /messages/{id}/$value` and on Exchange-written messages in public mail
archives:

- trace headers first (Exchange's own Received hops and Authentication-Results on top
  of the original ones), then From, Sender, To, CC, Subject, Thread-Topic, Thread-Index,
  Date, Message-ID, References, In-Reply-To, Reply-To, Content-Language and the
  X-MS-Exchange-Organization-* / X-MS-Has-Attach / X-MS-TNEF-Correlator block, then the
  other original headers (custom X- names in lower case, as named properties come back),
  Content-Type and MIME-Version last;
- Date in UTC ("Mon, 4 Sep 2017 10:00:00 +0000"); a recipient without a display name
  gets its address as the name (`"a@b.com" <a@b.com>`); non-ASCII names and subjects as
  RFC 2047 words; a Message-ID that does not fit on the line starts on the next one;
  each References id on its own line; lines folded at 78 characters;
- new boundaries (`_000_<message-id letters>_` for alternative, `_003_` related,
  `_004_` mixed), no preamble; text re-encoded (us-ascii or a single-byte charset as
  quoted-printable, UTF-8 plain text as base64, HTML as quoted-printable) with CRLF
  line ends; an HTML-only message gets a generated text/plain alternative; HTML gets a
  charset <meta> when it has none; a text part that is neither body nor attachment
  becomes an attachment named ATT00001.txt (as Graph's attachment list shows it);
  attachments as base64 with name, Content-Description and size / creation-date /
  modification-date parameters;
- signed or encrypted content (multipart/signed, application/pkcs7-mime) is kept
  byte for byte under regenerated headers.

What survives is the values: addresses, subject, Message-ID, In-Reply-To, References,
the instant of Date, body text and attachment bytes.  Mail that cannot be parsed cleanly
(broken multipart structure, bad base64, unknown charsets) comes back exactly as
delivered, as Exchange returns what it stored.  The output is deterministic for a
message (no random boundaries), so two downloads give the same bytes.
"""

import base64
import binascii
import email.errors
import email.utils
import hashlib
import re
import uuid
from datetime import timezone
from email import policy
from email.parser import BytesParser

from . import mime

CRLF = b"\r\n"
LIMIT = 78
_TRACE = ("received", "return-path", "authentication-results", "received-spf")
_TRACE_PREFIXES = ("dkim-signature", "arc-", "x-received")
# Written by the generator (from the stored properties) or dropped on delivery.
_REGENERATED = {
    "from",
    "sender",
    "to",
    "cc",
    "bcc",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "thread-topic",
    "thread-index",
    "content-language",
    "mime-version",
    "x-ms-has-attach",
    "x-ms-tnef-correlator",
    "status",
    "x-status",
    "content-length",
    "lines",
}
# Exchange's header firewall removes these when they come from outside.
_FIREWALLED = ("x-ms-exchange-organization-", "x-ms-exchange-crosstenant-")
# Custom headers Exchange knows by name keep their case; others come back lower case.
_KNOWN_CASE = {
    "x-mailer": "X-Mailer",
    "x-priority": "X-Priority",
    "x-msmail-priority": "X-MSMail-Priority",
    "x-auto-response-suppress": "X-Auto-Response-Suppress",
    "x-originating-ip": "X-Originating-IP",
}
_STRUCTURAL_DEFECTS = (
    email.errors.NoBoundaryInMultipartDefect,
    email.errors.StartBoundaryNotFoundDefect,
    email.errors.CloseBoundaryNotFoundDefect,
    email.errors.FirstHeaderLineIsContinuationDefect,
    email.errors.MissingHeaderBodySeparatorDefect,
    email.errors.MultipartInvariantViolationDefect,
    email.errors.InvalidMultipartContentTransferEncodingDefect,
    email.errors.InvalidBase64PaddingDefect,
    email.errors.InvalidBase64CharactersDefect,
    email.errors.InvalidBase64LengthDefect,
)
# Bodies Exchange keeps as they are: signed and encrypted mail (a changed byte breaks
# the signature), and reports (delivery-status, disposition-notification), which it
# stores as report items and serves as multipart/report again.
_OPAQUE_TYPES = (
    "multipart/report",
    "multipart/signed",
    "multipart/encrypted",
    "application/pkcs7-mime",
    "application/x-pkcs7-mime",
)
_SINGLE_BYTE = re.compile(r"^(iso-8859-\d+|windows-125\d|us-ascii|ascii)$", re.I)
_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)
_SITES = ("AM", "DB", "VI", "PA", "AS", "DU", "GV", "FR")


class Unparseable(Exception):
    """The source is too broken to regenerate: return it as stored."""


def regenerate(msg) -> bytes:
    """Exchange's MIME for a store.Message; its raw bytes when they cannot be parsed."""
    try:
        return _Generator(msg).message()
    except Exception:  # broken mail must never break a download
        return msg.raw


# -- dates, names and header lines -----------------------------------------------------
def exchange_date(dt):
    """RFC 5322 date in UTC without a leading zero: "Mon, 4 Sep 2017 10:00:00 +0000"."""
    dt = dt.astimezone(timezone.utc)
    return (
        f"{_DAYS[dt.weekday()]}, {dt.day} {_MONTHS[dt.month - 1]} {dt.year} "
        f"{dt:%H:%M:%S} +0000"
    )


def _gmt(dt):
    dt = dt.astimezone(timezone.utc)
    return (
        f"{_DAYS[dt.weekday()]}, {dt.day:02d} {_MONTHS[dt.month - 1]} {dt.year} "
        f"{dt:%H:%M:%S} GMT"
    )


def _encoded_words(text):
    """RFC 2047 UTF-8 base64 words of at most 75 characters, never splitting a
    character."""
    words, chunk = [], ""
    for char in text:
        if len((chunk + char).encode()) > 39:
            words.append(chunk)
            chunk = ""
        chunk += char
    words.append(chunk)
    return [f"=?utf-8?B?{base64.b64encode(word.encode()).decode()}?=" for word in words]


def _unstructured(text):
    """A subject-like value: as is when ASCII, else encoded words on folded lines."""
    text = _clean(text)
    if text.isascii():
        return text
    return "\r\n ".join(_encoded_words(text))


def _display_name(name):
    name = _clean(name)
    if not name.isascii():
        return " ".join(_encoded_words(name))
    if _SPECIALS.search(name) or name != name.strip():
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return name


def _mailbox(name, address):
    """Exchange names a recipient without a display name by its address."""
    return f"{_display_name(name or address)} <{address}>"


def fold(name, value):
    """One header as CRLF lines of at most 78 characters where whitespace allows,
    folding before existing whitespace only (unfolding gives the value back)."""
    lines = []
    for number, chunk in enumerate(value.split("\r\n")):
        pieces = re.split(r"(?=[ \t])", chunk)
        if number == 0 and len(name) + 2 + len(pieces[0]) > LIMIT:
            # A first word that does not fit starts on the next line (Exchange).
            lines.append(f"{name}: ")
            pieces[0] = " " + pieces[0]
            number = 1
        line = f"{name}: {pieces[0]}" if number == 0 else pieces[0]
        for piece in pieces[1:]:
            if len(line) + len(piece) > LIMIT and line.strip():
                lines.append(line)
                line = piece
            else:
                line += piece
        lines.append(line)
    return "\r\n".join(lines)


def _unfold(value):
    return re.sub(r"\r?\n(?=[ \t])", "", _clean(str(value))).strip()


def _clean(text):
    """Raw 8-bit bytes in a header (the parser keeps them as surrogates) read the way
    Exchange reads them: UTF-8 when they are, else Windows-1252."""
    if text.isascii() or not re.search("[\udc80-\udcff]", text):
        return text
    data = text.encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def _fqdn(seed, kind):
    """A stable Exchange Online server name for a seed: kind "MB" (mailbox server),
    "CA" (client access) or "PEPF" (Exchange Online Protection front end)."""
    digest = hashlib.sha1(f"{kind}:{seed}".encode()).hexdigest().upper()
    site, region = _SITES[int(digest[0], 16) % len(_SITES)], int(digest[1], 16) % 9 + 1
    domain = f"eurprd0{region}.prod.outlook.com"
    if kind == "PEPF":
        return f"{site}{region}PEPF0000{digest[2:7]}.{domain}"
    return f"{site}{region}PR0{region}{kind}{digest[2:6]}.{domain}"


def _guid(*seed):
    return str(uuid.UUID(hashlib.md5(":".join(seed).encode()).hexdigest()))


# -- the generator ---------------------------------------------------------------------
class _Generator:
    def __init__(self, msg):
        self.msg = msg
        self.source = BytesParser(policy=policy.default).parsebytes(msg.raw)
        if not msg.raw.strip() or not list(self.source.keys()):
            raise Unparseable("no header")
        local = re.sub(r"[^A-Za-z0-9]", "", msg.internet_message_id)[:55]
        self.token = local or hashlib.sha1(msg.raw).hexdigest()[:32]
        self.received = msg.received
        self.has_attach = False

    # .. entry point ..
    def message(self):
        content_type, body = self._body()
        self._check_defects()
        head = self._trace() + self._addressing() + self._exchange_block()
        head += self._passthrough() + self._transport_block()
        head += [content_type, "MIME-Version: 1.0"]
        return "\r\n".join(head).encode("ascii") + CRLF + CRLF + body

    def _check_defects(self):
        for part in self.source.walk():
            if any(isinstance(d, _STRUCTURAL_DEFECTS) for d in part.defects):
                raise Unparseable(part.defects)

    # .. headers ..
    def _raw_items(self):
        """(name, unfolded value) in order; 8-bit values as RFC 2047 words."""
        return [
            (name, _unstructured(_unfold(value)))
            for name, value in self.source.raw_items()
        ]

    def _trace(self):
        domain = self.msg.mailbox.domain
        mbx, hop, eop = _fqdn(domain, "MB"), _fqdn(domain, "CA"), self._eop_server()
        when = exchange_date(self.received)
        sender_domain = self.msg.parsed.from_[1].rpartition("@")[2].lower() or "unknown"
        ours = [
            f"Received: from {hop} (2603:10a6:20b:d2::19) by {mbx} with HTTPS; {when}",
            f"Received: from {eop} (2603:10a6:803:1d:cafe::4a) by {hop} "
            "(2603:10a6:20b:d2::19) with Microsoft SMTP Server (version=TLS1_2, "
            f"cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.20.7452.28; {when}",
            f"Authentication-Results: spf=none (sender IP is 203.0.113.25) "
            f"smtp.mailfrom={sender_domain}; dkim=none (message not signed) "
            f"header.d=none;dmarc=none action=none header.from={sender_domain};",
        ]
        original = [
            f"{name}: {value}"
            for name, value in self._raw_items()
            if name.lower() in _TRACE or name.lower().startswith(_TRACE_PREFIXES)
        ]
        return [fold(*line.split(": ", 1)) for line in ours + original]

    def _eop_server(self):
        return _fqdn(self.msg.mailbox.domain, "PEPF")

    def _addresses(self, name, label=None):
        """The folded header (None when absent), written as Exchange writes it; a
        value that does not parse into addresses is passed through."""
        raw = [v for k, v in self.source.raw_items() if k.lower() == name.lower()]
        if not raw:
            return None
        label, value = label or name, _unfold(raw[0])
        pairs = self._parsed_addresses(name) or email.utils.getaddresses([value])
        if pairs and all("@" in address for _name, address in pairs):
            value = ", ".join(_mailbox(n, a) for n, a in pairs)
        return fold(label, _unstructured(value))

    def _parsed_addresses(self, name):
        """[(display name, address)] as the parser reads them, [] on defects."""
        try:
            header = self.source[name]
            if header.defects:
                return []
            return [(a.display_name, a.addr_spec) for a in header.addresses]
        except Exception:
            return []

    def _addressing(self):
        parsed, msg = self.msg.parsed, self.msg
        lines = [self._addresses("From")]
        sender = self._addresses("Sender")
        if sender and parsed.sender[1].lower() != parsed.from_[1].lower():
            lines.append(sender)
        lines += [self._addresses("To"), self._addresses("Cc", "CC")]
        if self.source.get("Subject") is not None:
            lines.append(fold("Subject", _unstructured(parsed.subject)))
            topic = mime.conversation_topic(parsed.subject)
            lines.append(fold("Thread-Topic", _unstructured(topic)))
        if msg.conversation_index:
            index = base64.b64encode(msg.conversation_index).decode()
            lines.append(f"Thread-Index: {index}")
        lines.append(f"Date: {exchange_date(parsed.date or self.received)}")
        lines.append(_msgid_header("Message-ID", [msg.internet_message_id]))
        if parsed.references:
            lines.append(_msgid_header("References", parsed.references))
        if parsed.in_reply_to:
            lines.append(_msgid_header("In-Reply-To", parsed.in_reply_to[:1]))
        lines.append(self._addresses("Reply-To"))
        language = _unfold(self.source.get("Content-Language") or "") or "en-US"
        lines.append(f"Content-Language: {language}")
        return [line for line in lines if line]

    def _internal(self):
        sender_domain = self.msg.parsed.from_[1].rpartition("@")[2].lower()
        return sender_domain == self.msg.mailbox.domain.lower()

    def _exchange_block(self):
        internal = self._internal()
        network_id = _guid(self.msg.immutable_id, "network")
        auth_as = "Internal" if internal else "Anonymous"
        return [
            f"X-MS-Exchange-Organization-AuthAs: {auth_as}",
            fold("X-MS-Exchange-Organization-AuthSource", self._eop_server()),
            f"X-MS-Has-Attach: {'yes' if self.has_attach else ''}",
            fold("X-MS-Exchange-Organization-Network-Message-Id", network_id),
            f"X-MS-Exchange-Organization-SCL: {'-1' if internal else '1'}",
            "X-MS-TNEF-Correlator: ",
            "X-MS-Exchange-Organization-RecordReviewCfmType: 0",
            "X-MS-Exchange-Organization-MessageDirectionality: "
            + ("Originating" if internal else "Incoming"),
        ]

    def _passthrough(self):
        lines = []
        for name, value in self._raw_items():
            low = name.lower()
            if (
                low in _REGENERATED
                or low in _TRACE
                or low.startswith(_TRACE_PREFIXES)
                or low.startswith(_FIREWALLED)
                or low.startswith("content-")
            ):
                continue
            if low.startswith("x-"):
                name = _KNOWN_CASE.get(low, low)
            lines.append(fold(name, value))
        return lines

    def _transport_block(self):
        tenant = self.msg.mailbox.tenant
        arrival = self.received.astimezone(timezone.utc)
        return [
            fold(
                "X-MS-Exchange-CrossTenant-OriginalArrivalTime",
                f"{arrival.day:02d} {_MONTHS[arrival.month - 1]} {arrival.year} "
                f"{arrival:%H:%M:%S}.0000 (UTC)",
            ),
            f"X-MS-Exchange-CrossTenant-Id: {tenant.id}",
            "X-MS-Exchange-Transport-EndToEndLatency: 00:00:01.2604391",
            "X-MS-Exchange-Processed-By-BccFoldering: 15.20.7452.021",
            fold(
                "X-Microsoft-Antispam-Mailbox-Delivery",
                "ucf:0;jmr:0;auth:0;dest:I;ENG:(910001)(944506478)(944626604)"
                "(920097)(930097);",
            ),
        ]

    # .. body ..
    def _boundary(self, number):
        return f"_{number:03d}_{self.token}_"

    def _body(self):
        """(Content-Type header, body bytes) of the whole message."""
        if self.source.get_content_type() in _OPAQUE_TYPES:
            return self._opaque()
        text_part, html_part, others = mime.body_parts(self.source)
        text = self._text_of(text_part)
        html = self._text_of(html_part)
        if html is not None and text is None:
            text = _text_from_html(html)
        inline, regular = self._attachments(others, html is not None)
        self.has_attach = any(not a.is_inline for a in inline + regular)
        node = self._bodies(text, html)
        if inline:
            node = _multipart(
                "related",
                self._boundary(3),
                [node, *(self._attachment(a) for a in inline)],
                'type="multipart/alternative"' if html is not None else None,
            )
        if regular:
            node = _multipart(
                "mixed",
                self._boundary(4),
                [node, *(self._attachment(a) for a in regular)],
            )
        head, body = node
        return "\r\n".join(head), body

    def _opaque(self):
        """Signed or encrypted: the body stays byte for byte."""
        raw = self.msg.raw
        match = re.search(rb"\r?\n\r?\n", raw)
        if match is None:
            raise Unparseable("no body")
        content_headers = [
            fold(name, value)
            for name, value in self._raw_items()
            if name.lower().startswith("content-")
            and name.lower() != "content-language"
        ]
        return "\r\n".join(content_headers), raw[match.end() :]

    def _text_of(self, part):
        if part is None:
            return None
        payload = part.get_payload(decode=True) or b""
        charset = part.get_content_charset() or "us-ascii"
        try:
            text = payload.decode(charset, "replace")
        except LookupError:
            raise Unparseable(f"unknown charset {charset}") from None
        return _crlf(text), charset

    def _bodies(self, text, html):
        leaves = []
        if text is not None:
            leaves.append(_text_leaf("plain", *text))
        if html is not None:
            leaves.append(_text_leaf("html", _with_meta(*html), html[1]))
        if not leaves:
            leaves.append(_text_leaf("plain", "", "us-ascii"))
        if len(leaves) == 1:
            return leaves[0]
        return _multipart("alternative", self._boundary(0), leaves)

    def _attachments(self, parts, has_html):
        inline, regular, loose = [], [], 0
        for part in parts:
            att = mime.attachment_of(part, loose)
            if att is None:
                continue
            loose += att.loose_text
            if att.is_inline and att.content_id and has_html:
                inline.append(att)
            else:
                regular.append(att)
        return inline, regular

    def _attachment(self, att):
        stamp = _gmt(self.received)
        if att.is_item:
            named = (
                f' filename="{_param_value(att.name)}";' if att.filename_given else ""
            )
            head = [
                "Content-Type: message/rfc822",
                f"Content-Disposition: attachment;{named}",
                f'\tcreation-date="{stamp}";',
                f'\tmodification-date="{stamp}"',
            ]
            return head, _crlf_bytes(att.content) + CRLF
        name = _param_value(att.name)
        disposition = "inline" if att.is_inline else "attachment"
        first = f'Content-Disposition: {disposition}; filename="{name}";'
        size = f"size={len(att.content)};"
        head = [
            fold("Content-Type", f'{att.content_type}; name="{name}"'),
            fold("Content-Description", _unstructured(att.name)),
            *(
                [f"{first} {size}"]
                if len(first) + len(size) < LIMIT
                else [first, f"\t{size}"]
            ),
            f'\tcreation-date="{stamp}";',
            f'\tmodification-date="{stamp}"',
        ]
        if att.content_id:
            head.append(f"Content-ID: <{att.content_id}>")
        head.append("Content-Transfer-Encoding: base64")
        return head, _base64(att.content)


# -- leaves and containers -------------------------------------------------------------
def _msgid_header(name, ids):
    """Message ids one per line; a first one that does not fit starts on the next."""
    first = f"{name}: {ids[0]}"
    lines = [f"{name}: \r\n {ids[0]}" if len(first) > LIMIT else first]
    lines += [f" {other}" for other in ids[1:]]
    return "\r\n".join(lines)


def _param_value(name):
    if name.isascii():
        return name.replace("\\", "\\\\").replace('"', '\\"')
    return "".join(_encoded_words(name))


def _crlf(text):
    return re.sub(r"\r\n|\r|\n", "\r\n", text)


def _crlf_bytes(data):
    return re.sub(rb"\r\n|\r|\n", b"\r\n", data)


def _charset_for(text, source_charset):
    """us-ascii when it is ASCII, the source's single-byte charset when it fits, else
    UTF-8."""
    if text.isascii():
        return "us-ascii"
    if _SINGLE_BYTE.match(source_charset or ""):
        try:
            text.encode(source_charset)
            return source_charset.lower()
        except (UnicodeEncodeError, LookupError):
            pass
    return "utf-8"


def _text_leaf(subtype, text, source_charset):
    charset = _charset_for(text, source_charset)
    data = text.encode(charset)
    if charset == "utf-8" and subtype == "plain":
        encoding, body = "base64", _base64(data)
    else:
        encoding, body = "quoted-printable", binascii.b2a_qp(data)
    head = [
        f'Content-Type: text/{subtype}; charset="{charset}"',
        f"Content-Transfer-Encoding: {encoding}",
    ]
    return head, body


def _with_meta(html, source_charset):
    """HTML with a charset <meta> (Exchange adds one when there is none)."""
    if re.search(r"<meta[^>]+charset", html, re.I):
        return html
    charset = _charset_for(html, source_charset)
    meta = f'<meta http-equiv="Content-Type" content="text/html; charset={charset}">'
    head = re.search(r"<head[^>]*>", html, re.I)
    if head:
        return f"{html[: head.end()]}\r\n{meta}\r\n{html[head.end() :]}"
    root = re.search(r"<html[^>]*>", html, re.I)
    if root:
        return (
            f"{html[: root.end()]}\r\n<head>\r\n{meta}\r\n</head>\r\n"
            f"{html[root.end() :]}"
        )
    return (
        f"<html>\r\n<head>\r\n{meta}\r\n</head>\r\n<body>\r\n{html}\r\n</body>\r\n"
        "</html>\r\n"
    )


def _text_from_html(html):
    """The plain alternative Exchange writes for an HTML-only message."""
    lines = [
        re.sub(r"[ \t]+", " ", line).strip()
        for line in mime.html_to_text(html[0]).splitlines()
    ]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"
    return _crlf(text), html[1]


def _base64(data):
    return base64.encodebytes(data).replace(b"\n", CRLF)


def _multipart(subtype, boundary, children, extra=None):
    """(headers, body) of a container; children are (headers, body) pairs."""
    delimiter = b"--" + boundary.encode()
    body = b""
    for head, content in children:
        if delimiter in content:
            raise Unparseable("boundary collision")
        body += delimiter + CRLF + "\r\n".join(head).encode("ascii") + CRLF + CRLF
        body += content + CRLF
    body += delimiter + b"--" + CRLF
    params = f'\tboundary="{boundary}"' + (f";\r\n\t{extra}" if extra else "")
    return [f"Content-Type: multipart/{subtype};", params], body
