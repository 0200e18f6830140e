# Raw mail is data: long lines are part of it.
# ruff: noqa: E501, PLC0415
"""A deterministic corpus of hostile, real-world awkward mails, built by code.

``build()`` returns a list of ``Hostile(name, what, raw)`` in delivery order. Standard
library only; the same bytes every time (fixed dates, ids, boundaries and blobs).
Most mails are written byte by byte, because the email package refuses to write
most of what real mail servers deliver.

    python3 benchmarks/hostile_corpus.py [--write DIR]   # list (or write .eml files)
"""

import base64
import hashlib
import struct
import sys
from dataclasses import dataclass

MAILBOX = "support@contoso.example"
DATE = "Mon, 02 Mar 2026 10:00:00 -0300"
CRLF = b"\r\n"


@dataclass
class Hostile:
    name: str
    what: str
    raw: bytes


def blob(label, size):
    out, counter = bytearray(), 0
    while len(out) < size:
        out += hashlib.sha256(f"{label}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def b(text):
    return text.encode("utf-8") if isinstance(text, str) else text


def mail(
    n,
    headers=None,
    body=b"Hello,\r\nplease help.\r\n",
    *,
    sender=True,
    date=True,
    message_id=True,
    subject=True,
    to=True,
    content_type=True,
    eol=CRLF,
):
    """Raw mail: default headers (From/To/Subject/Date/Message-ID/MIME/Content-Type)
    unless switched off, then ``headers`` (list of (name, bytes) or raw bytes lines),
    a blank line and ``body``."""
    lines = []
    if sender:
        lines.append(b"From: Sender %d <sender%d@hostile.example>" % (n, n))
    if to:
        lines.append(b"To: " + MAILBOX.encode())
    if subject:
        lines.append(b"Subject: Hostile mail %d" % n)
    if date:
        lines.append(b"Date: " + DATE.encode())
    if message_id:
        lines.append(b"Message-ID: <hostile-%03d@hostile.example>" % n)
    lines.append(b"MIME-Version: 1.0")
    if content_type:
        lines.append(b'Content-Type: text/plain; charset="utf-8"')
        lines.append(b"Content-Transfer-Encoding: 8bit")
    for h in headers or ():
        lines.append(h if isinstance(h, bytes) else b(h[0]) + b": " + b(h[1]))
    head = eol.join(lines)
    return head + eol + eol + b(body)


def multipart(
    n,
    parts,
    subtype="mixed",
    boundary=None,
    headers=None,
    preamble=b"",
    close=True,
    **kw,
):
    """parts: list of raw part bytes (headers + blank line + body)."""
    boundary = boundary or b"==hostile-%d==" % n
    body = preamble
    for p in parts:
        body += b"--" + boundary + CRLF + p + CRLF
    if close:
        body += b"--" + boundary + b"--" + CRLF
    ct = b'Content-Type: multipart/%s; boundary="%s"' % (b(subtype), boundary)
    return mail(n, [ct, *(headers or [])], body, content_type=False, **kw)


def part(content_type, body, cte=None, extra=()):
    lines = [b"Content-Type: " + b(content_type)]
    if cte:
        lines.append(b"Content-Transfer-Encoding: " + b(cte))
    lines += [b(x) for x in extra]
    return CRLF.join(lines) + CRLF + CRLF + b(body)


def b64(data, width=76):
    enc = base64.b64encode(data)
    return CRLF.join(enc[i : i + width] for i in range(0, len(enc), width))


def attachment(filename, data, ctype="application/octet-stream"):
    return part(
        ctype,
        b64(data),
        "base64",
        [b'Content-Disposition: attachment; filename="' + b(filename) + b'"'],
    )


# ----------------------------------------------------------------------- TNEF
def _tnef_attr(level, attr_id, data):
    checksum = sum(data) & 0xFFFF
    return (
        struct.pack("<BII", level, attr_id, len(data))
        + data
        + struct.pack("<H", checksum)
    )


def tnef_blob():
    """A minimal TNEF stream (winmail.dat) with one attached file, as Outlook sends
    when rich text is on: signature, key, version, code page, message class, then
    one attachment (rendering data, title, data)."""
    out = struct.pack("<IH", 0x223E9F78, 0x0001)
    out += _tnef_attr(1, 0x00089006, struct.pack("<I", 0x00010000))  # attTnefVersion
    out += _tnef_attr(1, 0x00069007, struct.pack("<II", 1252, 0))  # attOemCodepage
    out += _tnef_attr(1, 0x00078008, b"IPM.Microsoft Mail.Note\x00")  # attMessageClass
    out += _tnef_attr(1, 0x00018004, b"Relatorio em RTF\x00")  # attSubject
    out += _tnef_attr(2, 0x00069002, struct.pack("<HIIHH", 1, 0xFFFFFFFF, 0, 0, 0))
    out += _tnef_attr(2, 0x00018010, b"relatorio.txt\x00")  # attAttachTitle
    out += _tnef_attr(2, 0x0006800F, b"Conteudo do anexo dentro do winmail.dat\r\n")
    return out


# ------------------------------------------------------------------ the corpus
def build():
    items = []

    def add(name, what, raw):
        items.append(Hostile(name, what, raw))

    n = iter(range(1, 1000))

    # --- missing or malformed top-level headers
    add("no-from", "no From header at all", mail(next(n), sender=False))
    add("no-date", "no Date header", mail(next(n), date=False))
    add(
        "no-message-id",
        "no Message-ID (the scanner derives one from Graph's id)",
        mail(next(n), message_id=False),
    )
    add("no-subject", "no Subject header", mail(next(n), subject=False))
    add("no-to", "no To header (Bcc delivery)", mail(next(n), to=False))
    add(
        "no-headers-but-from",
        "only a From line and a body",
        b"From: bare@hostile.example\r\n\r\nJust a body.\r\n",
    )
    i = next(n)
    add(
        "from-not-an-address",
        "From: a display name without any address",
        mail(i, [b"From: Nobody Here"], sender=False),
    )
    i = next(n)
    add(
        "from-two-addresses",
        "From with two mailboxes",
        mail(i, [b"From: a@hostile.example, b%d@hostile.example" % i], sender=False),
    )
    i = next(n)
    add(
        "from-garbage",
        "From: <<<@@@>>>",
        mail(i, [b'From: <<<@@@>>> ;;; "unterminated'], sender=False),
    )
    add(
        "date-garbage",
        "Date: yesterday at noon",
        mail(next(n), [b"Date: yesterday at noon"], date=False),
    )
    add(
        "date-year-9999",
        "Date in year 9999",
        mail(next(n), [b"Date: Fri, 31 Dec 9999 23:59:59 +0000"], date=False),
    )
    add(
        "date-1970",
        "Date at the epoch with a -2400 offset",
        mail(next(n), [b"Date: Thu, 01 Jan 1970 00:00:00 -2400"], date=False),
    )
    i = next(n)
    add(
        "message-id-no-brackets",
        "Message-ID without angle brackets and with spaces",
        mail(i, [b"Message-ID: hostile %d at hostile example" % i], message_id=False),
    )
    i = next(n)
    add(
        "message-id-2000-chars",
        "a 2,000-character Message-ID",
        mail(
            i,
            [b"Message-ID: <" + b"x" * 2000 + b"-%d@hostile.example>" % i],
            message_id=False,
        ),
    )
    i = next(n)
    add(
        "message-id-twice",
        "two different Message-ID headers",
        mail(
            i,
            [
                b"Message-ID: <hostile-%d-a@hostile.example>" % i,
                b"Message-ID: <hostile-%d-b@hostile.example>" % i,
            ],
            message_id=False,
        ),
    )
    i = next(n)
    add(
        "header-without-colon",
        "a header line without a colon in the header block",
        mail(i, [b"This line is not a header", b"X-After: still a header"]),
    )
    i = next(n)
    add(
        "header-100kb-line",
        "a 100 KB unfolded Subject line",
        mail(i, [b"Subject: " + b"A" * 100_000], subject=False),
    )
    i = next(n)
    add(
        "header-5000-received",
        "5,000 Received headers",
        mail(
            i,
            [
                b"Received: from relay%d.hostile.example by mx.contoso.example; %s"
                % (k, DATE.encode())
                for k in range(5000)
            ],
        ),
    )
    i = next(n)
    add(
        "nul-in-subject",
        "NUL bytes in the Subject",
        mail(i, [b"Subject: Hello\x00World\x00 %d" % i], subject=False),
    )
    i = next(n)
    add(
        "nul-in-from",
        "NUL byte inside the From display name",
        mail(i, [b"From: Evil\x00Name <nul%d@hostile.example>" % i], sender=False),
    )
    add(
        "nul-in-body",
        "NUL bytes in a text/plain body",
        mail(next(n), body=b"before\x00\x00after\r\nline two\x00\r\n"),
    )
    i = next(n)
    add(
        "references-500",
        "In-Reply-To unknown and 500 References",
        mail(
            i,
            [
                b"In-Reply-To: <unknown-%d@elsewhere.example>" % i,
                b"References: "
                + b"\r\n ".join(
                    b"<ref-%d-%d@elsewhere.example>" % (i, k) for k in range(500)
                ),
            ],
        ),
    )

    # --- charsets
    i = next(n)
    add(
        "raw-utf8-headers",
        "8-bit UTF-8 in Subject and From (no RFC 2047)",
        mail(
            i,
            [
                b("Subject: Solicitação urgente — ação %d" % i),
                b("From: João Araújo <joao%d@hostile.example>" % i),
            ],
            subject=False,
            sender=False,
        ),
    )
    i = next(n)
    add(
        "raw-latin1-headers",
        "8-bit Latin-1 in Subject and From",
        mail(
            i,
            [
                "Subject: Atenção: cobrança %d".encode("latin-1") % i,
                "From: Concei\xe7\xe3o <c%d@hostile.example>".encode("latin-1") % i,
            ],
            subject=False,
            sender=False,
        ),
    )
    i = next(n)
    add(
        "wrong-charset-declared",
        "declares us-ascii, body is 8-bit Latin-1",
        mail(
            i,
            [
                b'Content-Type: text/plain; charset="us-ascii"',
                b"Content-Transfer-Encoding: 8bit",
            ],
            "Confirmação de emissão.\r\n".encode("latin-1"),
            content_type=False,
        ),
    )
    i = next(n)
    add(
        "x-user-defined-text",
        "text/plain in charset x-user-defined",
        mail(
            i,
            [b'Content-Type: text/plain; charset="x-user-defined"'],
            b"caf\xe9 \xff\xfe\r\n",
            content_type=False,
        ),
    )
    i = next(n)
    add(
        "x-user-defined-html",
        "text/html in charset x-user-defined (Outlook does this)",
        mail(
            i,
            [b'Content-Type: text/html; charset="x-user-defined"'],
            b"<html><body><p>Ol\xe1 \xe0 todos</p></body></html>\r\n",
            content_type=False,
        ),
    )
    i = next(n)
    add(
        "unknown-charset-header",
        "RFC 2047 words in an unknown charset",
        mail(
            i,
            [
                b"Subject: =?x-klingon?Q?Qapla=E9?= %d" % i,
                b"From: =?x-nope?B?SGVsbG8=?= <klingon%d@hostile.example>" % i,
            ],
            subject=False,
            sender=False,
        ),
    )
    i = next(n)
    add(
        "no-charset-8bit-utf8",
        "text/plain without charset, 8-bit UTF-8 body",
        mail(
            i,
            [b"Content-Type: text/plain", b"Content-Transfer-Encoding: 8bit"],
            "Não consigo acessar o sistema.\r\n".encode(),
            content_type=False,
        ),
    )
    i = next(n)
    add(
        "invalid-utf8",
        "declared utf-8, invalid UTF-8 byte sequences",
        mail(i, body=b"bad \xc3\x28 \xa0\xa1 \xf0\x28\x8c\xbc end\r\n"),
    )
    i = next(n)
    add(
        "utf7",
        "body in charset utf-7",
        mail(
            i,
            [b'Content-Type: text/plain; charset="utf-7"'],
            b"Ol+AOE- mundo +ZeVnLIqe-\r\n",
            content_type=False,
        ),
    )
    i = next(n)
    add(
        "cjk-mix",
        "Shift_JIS body with an ISO-2022-JP subject",
        mail(
            i,
            [
                b"Subject: =?ISO-2022-JP?B?GyRCJEIkcyRLJEEkTxsoQg==?= %d" % i,
                b'Content-Type: text/plain; charset="shift_jis"',
            ],
            "お問い合わせです。\r\n".encode("shift_jis"),
            subject=False,
            content_type=False,
        ),
    )
    i = next(n)
    add(
        "broken-encoded-word",
        "RFC 2047 word with broken base64 and a split character",
        mail(
            i,
            [
                b"Subject: =?utf-8?B?SGVsbG8gV29y!!bGQ?= =?utf-8?Q?a=C3?= =?utf-8?Q?=A7=?= %d"
                % i
            ],
            subject=False,
        ),
    )

    # --- transfer encodings
    i = next(n)
    add(
        "base64-garbage",
        "base64 body with garbage characters and no padding",
        mail(
            i,
            [
                b'Content-Type: text/plain; charset="utf-8"',
                b"Content-Transfer-Encoding: base64",
            ],
            b"SGVsbG8g!!!d29y@@bGQ*\r\nSSBhbSBicm9rZW4\r\n",
            content_type=False,
        ),
    )
    i = next(n)
    add(
        "base64-truncated-attachment",
        "attachment whose base64 is cut in the middle",
        multipart(
            i,
            [
                part('text/plain; charset="utf-8"', "see attachment\r\n"),
                part(
                    "application/pdf",
                    b64(blob("trunc", 3000))[:1001],
                    "base64",
                    [b'Content-Disposition: attachment; filename="cut.pdf"'],
                ),
            ],
        ),
    )
    i = next(n)
    add(
        "qp-broken",
        "quoted-printable with =ZZ, a lone = and 2,000-char lines",
        mail(
            i,
            [
                b'Content-Type: text/plain; charset="iso-8859-1"',
                b"Content-Transfer-Encoding: quoted-printable",
            ],
            b"Bad escape =ZZ and =4 and a lone =\r\n" + b"x" * 2000 + b"=E9=\r\n=",
            content_type=False,
        ),
    )
    i = next(n)
    add(
        "unknown-cte",
        "Content-Transfer-Encoding: x-uuencode",
        mail(
            i,
            [
                b'Content-Type: text/plain; charset="utf-8"',
                b"Content-Transfer-Encoding: x-uuencode",
            ],
            b"begin 644 hello.txt\r\n%2&5L;&\\*\r\n`\r\nend\r\n",
            content_type=False,
        ),
    )
    i = next(n)
    add(
        "uuencode-inline",
        "uuencoded file inside a plain-text body",
        mail(i, body=b"Attached:\r\nbegin 644 note.txt\r\n#86)C\r\n`\r\nend\r\n"),
    )

    # --- MIME structure
    i = next(n)
    inner = part('text/plain; charset="utf-8"', "the innermost text\r\n")
    for depth in range(60):
        bd = b"depth-%d-%d" % (i, depth)
        inner = (
            b'Content-Type: multipart/mixed; boundary="'
            + bd
            + b'"'
            + CRLF
            + CRLF
            + b"--"
            + bd
            + CRLF
            + inner
            + CRLF
            + b"--"
            + bd
            + b"--"
            + CRLF
        )
    add(
        "nested-60",
        "multipart nested 60 levels deep",
        mail(
            i,
            [inner.split(CRLF + CRLF, 1)[0]],
            inner.split(CRLF + CRLF, 1)[1],
            content_type=False,
        ),
    )
    i = next(n)
    inner = part('text/plain; charset="utf-8"', "deeper still\r\n")
    for depth in range(400):
        bd = b"d400-%d-%d" % (i, depth)
        inner = (
            b'Content-Type: multipart/mixed; boundary="'
            + bd
            + b'"'
            + CRLF
            + CRLF
            + b"--"
            + bd
            + CRLF
            + inner
            + CRLF
            + b"--"
            + bd
            + b"--"
            + CRLF
        )
    add(
        "nested-400",
        "multipart nested 400 levels deep (recursion limits)",
        mail(
            i,
            [inner.split(CRLF + CRLF, 1)[0]],
            inner.split(CRLF + CRLF, 1)[1],
            content_type=False,
        ),
    )
    i = next(n)
    add(
        "multipart-no-parts",
        "multipart/mixed with a boundary but no parts",
        multipart(i, [], preamble=b"only a preamble\r\n"),
    )
    i = next(n)
    add(
        "multipart-no-boundary",
        "multipart/mixed without a boundary parameter",
        mail(
            i,
            [b"Content-Type: multipart/mixed"],
            b"--x\r\n\r\nbody\r\n--x--\r\n",
            content_type=False,
        ),
    )
    i = next(n)
    add(
        "multipart-unclosed",
        "multipart whose closing boundary never comes",
        multipart(
            i,
            [
                part('text/plain; charset="utf-8"', "first\r\n"),
                part("application/octet-stream", b64(blob("unc", 500)), "base64"),
            ],
            close=False,
        ),
    )
    i = next(n)
    add(
        "multipart-boundary-absent",
        "declared boundary appears nowhere in the body",
        mail(
            i,
            [b'Content-Type: multipart/alternative; boundary="nowhere"'],
            b"--elsewhere\r\n\r\ntext\r\n--elsewhere--\r\n",
            content_type=False,
        ),
    )
    i = next(n)
    add(
        "no-content-type-8bit",
        "no Content-Type at all, 8-bit body",
        mail(i, body="Olá, sem cabeçalho de tipo.\r\n".encode(), content_type=False),
    )
    i = next(n)
    add(
        "content-type-garbage",
        "Content-Type: text (no subtype) and ;;;;",
        mail(i, [b"Content-Type: text;;;; charset=;"], content_type=False),
    )
    i = next(n)
    add(
        "lf-only",
        "LF line ends only (no CR)",
        mail(i, eol=b"\n", body=b"unix\nline ends\n"),
    )
    i = next(n)
    add(
        "cr-only",
        "bare CR line ends (old Mac)",
        mail(i, eol=b"\r", body=b"mac\rline ends\r"),
    )

    # --- HTML
    i = next(n)
    row = b"<tr><td>linha</td><td>valor 12345</td><td><b>ok</b></td></tr>\r\n"
    huge = (
        b"<html><body><table>"
        + row * (2_000_000 // len(row))
        + b"</table></body></html>"
    )
    add(
        "html-2mb",
        "a 2 MB HTML body (one big table)",
        mail(
            i, [b'Content-Type: text/html; charset="utf-8"'], huge, content_type=False
        ),
    )
    i = next(n)
    add(
        "html-broken",
        "broken HTML: unclosed tags, script, bad comments, stray </html>",
        mail(
            i,
            [b'Content-Type: text/html; charset="utf-8"'],
            b"</html><body><p><b><i>unclosed <script>alert(1)</script><!-- bad -- comment"
            b" --><table><tr><td>cell<div <img src=x onerror=alert(1)>"
            b"<style>body{}</style><![CDATA[x]]><p>end",
            content_type=False,
        ),
    )
    i = next(n)
    add(
        "html-deep-divs",
        "HTML with 10,000 nested <div>",
        mail(
            i,
            [b'Content-Type: text/html; charset="utf-8"'],
            b"<html><body>"
            + b"<div>" * 10_000
            + b"deep"
            + b"</div>" * 10_000
            + b"</body></html>",
            content_type=False,
        ),
    )
    i = next(n)
    add(
        "html-data-uri-1mb",
        "HTML with a 1 MB data: URI image",
        mail(
            i,
            [b'Content-Type: text/html; charset="utf-8"'],
            b'<p>see</p><img src="data:image/png;base64,'
            + base64.b64encode(blob("datauri", 750_000))
            + b'">',
            content_type=False,
        ),
    )
    i = next(n)
    add(
        "html-missing-cid",
        "HTML referencing cid: images that are not in the mail",
        multipart(
            i,
            [
                part(
                    'text/html; charset="utf-8"',
                    '<p>logo: <img src="cid:missing@x"></p>',
                )
            ],
            subtype="related",
        ),
    )
    i = next(n)
    add(
        "text-1mb-line",
        "text/plain: one 1 MB line without a line break",
        mail(i, body=b"y" * 1_000_000),
    )

    # --- bodies and attachments
    add("empty-body", "headers and an empty body", mail(next(n), body=b""))
    i = next(n)
    add(
        "headers-only-no-blank",
        "no blank line after the headers, no body",
        mail(i).split(CRLF + CRLF, 1)[0],
    )
    i = next(n)
    add(
        "attachment-only",
        "multipart/mixed with only a PDF attachment",
        multipart(i, [attachment("nota.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")]),
    )
    i = next(n)
    add(
        "attachment-top-level",
        "the whole mail is one application/pdf part",
        mail(
            i,
            [
                b'Content-Type: application/pdf; name="scan.pdf"',
                b"Content-Transfer-Encoding: base64",
                b'Content-Disposition: attachment; filename="scan.pdf"',
            ],
            b64(b"%PDF-1.4\n%%EOF\n"),
            content_type=False,
        ),
    )
    i = next(n)
    add(
        "tnef-winmail-dat",
        "TNEF winmail.dat attachment (Outlook rich text)",
        multipart(
            i,
            [
                part('text/plain; charset="utf-8"', "Segue relatório.\r\n"),
                part(
                    'application/ms-tnef; name="winmail.dat"',
                    b64(tnef_blob()),
                    "base64",
                    [b'Content-Disposition: attachment; filename="winmail.dat"'],
                ),
            ],
        ),
    )
    i = next(n)
    add(
        "attachment-zero-bytes",
        "a zero-byte attachment",
        multipart(
            i,
            [
                part('text/plain; charset="utf-8"', "empty file\r\n"),
                attachment("empty.txt", b"", "text/plain"),
            ],
        ),
    )
    i = next(n)
    add(
        "attachment-200",
        "200 small attachments",
        multipart(
            i,
            [part('text/plain; charset="utf-8"', "many files\r\n")]
            + [
                attachment(f"file-{k:03d}.txt", b"file %d\n" % k, "text/plain")
                for k in range(200)
            ],
        ),
    )
    i = next(n)
    add(
        "attachment-8mb",
        "one 8 MB binary attachment",
        multipart(
            i,
            [
                part('text/plain; charset="utf-8"', "big log\r\n"),
                attachment("big.bin", blob("big", 8_000_000)),
            ],
        ),
    )
    i = next(n)
    add(
        "attachment-evil-names",
        "filenames: path traversal, 1,000 chars, RFC 2231 "
        "in an unknown charset, control characters",
        multipart(
            i,
            [
                part('text/plain; charset="utf-8"', "names\r\n"),
                attachment("../../../../etc/passwd", b"root:x:0:0"),
                attachment("a" * 1000 + ".txt", b"long"),
                part(
                    "application/octet-stream",
                    b64(b"x"),
                    "base64",
                    [
                        b"Content-Disposition: attachment; "
                        b"filename*=x-unknown''%E9t%E9.txt"
                    ],
                ),
                attachment("tab\there\x07bell.txt", b"ctl"),
            ],
        ),
    )
    i = next(n)
    add(
        "attachment-bad-type",
        "attachment with Content-Type application/ (no subtype)",
        multipart(
            i,
            [
                part('text/plain; charset="utf-8"', "bad type\r\n"),
                part(
                    "application/",
                    b64(b"data"),
                    "base64",
                    [b'Content-Disposition: attachment; filename="x"'],
                ),
            ],
        ),
    )

    # --- special kinds of mail
    ics = (
        b"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nPRODID:Microsoft Exchange Server 2010\r\n"
        b"VERSION:2.0\r\nBEGIN:VEVENT\r\nUID:hostile-meeting-1\r\n"
        b"DTSTART:20260310T130000Z\r\nDTEND:20260310T140000Z\r\n"
        b"SUMMARY:Reuniao de suporte\r\nORGANIZER:mailto:boss@hostile.example\r\n"
        b"END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    i = next(n)
    add(
        "calendar-only",
        "top-level text/calendar; method=REQUEST (no text part)",
        mail(
            i,
            [b'Content-Type: text/calendar; charset="utf-8"; method=REQUEST'],
            ics,
            content_type=False,
        ),
    )
    i = next(n)
    add(
        "calendar-cancel-alt",
        "Outlook cancellation: alternative text + text/calendar",
        multipart(
            i,
            [
                part('text/plain; charset="utf-8"', "Cancelled.\r\n"),
                part(
                    'text/calendar; charset="utf-8"; method=CANCEL',
                    b64(ics.replace(b"REQUEST", b"CANCEL")),
                    "base64",
                ),
            ],
            subtype="alternative",
        ),
    )
    dsn_status = (
        b"Reporting-MTA: dns; mx.hostile.example\r\n\r\n"
        b"Final-Recipient: rfc822; gone@nowhere.example\r\nAction: failed\r\n"
        b"Status: 5.1.1\r\n"
    )
    i = next(n)
    add(
        "dsn-mailer-daemon",
        "multipart/report delivery-status from MAILER-DAEMON",
        multipart(
            i,
            [
                part("text/plain", "Delivery failed.\r\n"),
                part("message/delivery-status", dsn_status),
                part("text/rfc822-headers", b"Subject: lost\r\nTo: gone@x\r\n"),
            ],
            subtype='report; report-type="delivery-status"',
            headers=[
                b"From: Mail Delivery System <MAILER-DAEMON@hostile.example>",
                b"Auto-Submitted: auto-replied",
            ],
            sender=False,
        ),
    )
    i = next(n)
    add(
        "dsn-from-person",
        "delivery-status report sent from an ordinary address",
        multipart(
            i,
            [
                part("text/plain", "Undeliverable: your message\r\n"),
                part("message/delivery-status", dsn_status),
            ],
            subtype='report; report-type="delivery-status"',
        ),
    )
    i = next(n)
    add(
        "read-receipt",
        "multipart/report disposition-notification (read receipt)",
        multipart(
            i,
            [
                part("text/plain", "Read: your message\r\n"),
                part(
                    "message/disposition-notification",
                    b"Final-Recipient: rfc822; reader@hostile.example\r\n"
                    b"Disposition: manual-action/MDN-sent-manually; displayed\r\n",
                ),
            ],
            subtype='report; report-type="disposition-notification"',
        ),
    )
    fwd_inner = mail(900, [b"Subject: the original"], b"original text\r\n")
    i = next(n)
    add(
        "forward-rfc822",
        "forward as attachment (message/rfc822)",
        multipart(
            i,
            [
                part('text/plain; charset="utf-8"', "FYI\r\n"),
                part(
                    "message/rfc822",
                    fwd_inner,
                    None,
                    [b'Content-Disposition: attachment; filename="orig.eml"'],
                ),
            ],
        ),
    )
    nested = fwd_inner
    for k in range(3):
        nested = multipart(
            901 + k,
            [part("text/plain", "level %d\r\n" % k), part("message/rfc822", nested)],
        )
    i = next(n)
    add(
        "forward-rfc822-x3",
        "message/rfc822 nested three times",
        multipart(
            i, [part("text/plain", "FW FW FW\r\n"), part("message/rfc822", nested)]
        ),
    )
    i = next(n)
    add(
        "forward-rfc822-empty",
        "an empty message/rfc822 part",
        multipart(
            i, [part("text/plain", "empty fwd\r\n"), part("message/rfc822", b"")]
        ),
    )
    i = next(n)
    add(
        "smime-signed",
        "multipart/signed with a (fake) PKCS#7 signature",
        multipart(
            i,
            [
                part('text/plain; charset="utf-8"', "signed text\r\n"),
                part(
                    'application/pkcs7-signature; name="smime.p7s"',
                    b64(blob("sig", 1500)),
                    "base64",
                ),
            ],
            subtype='signed; protocol="application/pkcs7-signature"; micalg=sha-256',
        ),
    )
    i = next(n)
    add(
        "smime-encrypted",
        "application/pkcs7-mime enveloped data only",
        mail(
            i,
            [
                b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data; "
                b'name="smime.p7m"',
                b"Content-Transfer-Encoding: base64",
            ],
            b64(blob("enc", 4000)),
            content_type=False,
        ),
    )
    i = next(n)
    add(
        "auto-reply-ooo",
        "out-of-office auto-reply (Auto-Submitted)",
        mail(
            i,
            [
                b"Auto-Submitted: auto-replied",
                b"X-Auto-Response-Suppress: All",
                b"Subject: Automatic reply: Hostile mail",
            ],
            subject=False,
        ),
    )
    i = next(n)
    add(
        "from-the-mailbox",
        "mail sent by the scanned mailbox itself",
        mail(i, [b"From: Support <" + MAILBOX.encode() + b">"], sender=False),
    )
    i = next(n)
    add(
        "spam-headers",
        "X-Spam-Flag YES, precedence bulk, List-Unsubscribe",
        mail(
            i,
            [
                b"X-Spam-Flag: YES",
                b"Precedence: bulk",
                b"List-Unsubscribe: <mailto:unsub@hostile.example>",
            ],
        ),
    )

    # --- duplicates
    dup = mail(990, [b"Subject: Same Message-ID, first copy"], subject=False)
    add("dup-message-id-a", "first of two different mails sharing a Message-ID", dup)
    add(
        "dup-message-id-b",
        "second mail, same Message-ID, different content",
        mail(
            990,
            [b"Subject: Same Message-ID, other text"],
            subject=False,
            body=b"different body\r\n",
        ),
    )
    add("dup-exact-copy", "the exact same bytes delivered a second time", dup)
    i = next(n)
    add(
        "dup-no-message-id-copy",
        "two copies of a mail without Message-ID (1)",
        mail(991, message_id=False, body=b"copy without id\r\n"),
    )
    add(
        "dup-no-message-id-copy2",
        "two copies of a mail without Message-ID (2)",
        mail(991, message_id=False, body=b"copy without id\r\n"),
    )
    return items


def main(argv):
    items = build()
    if len(argv) > 2 and argv[1] == "--write":
        import os

        os.makedirs(argv[2], exist_ok=True)
        for k, item in enumerate(items, 1):
            with open(os.path.join(argv[2], f"{k:02d}-{item.name}.eml"), "wb") as fh:
                fh.write(item.raw)
    for k, item in enumerate(items, 1):
        print(f"{k:3d} {item.name:28s} {len(item.raw):>10,d}  {item.what}")
    print(f"{len(items)} mails, {sum(len(x.raw) for x in items):,d} bytes")


if __name__ == "__main__":
    main(sys.argv)
