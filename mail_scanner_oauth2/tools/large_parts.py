# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Large attachments cut out of a mail before Odoo's gateway parses it.

Python's email parser, which ``message_process`` uses, holds a mail several times
over (the whole text as 4 bytes per character, every line as its own string, the
joined payload), and splits it line by line in Python: a mail with a 50 MB
attachment makes the worker grow by 500 MB and costs seconds of CPU. Here the body
of each large base64 attachment is replaced by a short token line; the gateway
parses the slim mail as it parsed the whole one, creates the attachment record from
the token, and the scanner's hook (models/mail_thread.py) gives that record the real
content instead, decoded here exactly as the email package decodes it. The ticket,
its message and its attachments are the same as without the cut: same names,
mimetypes, order, content-ids and checksums.

Why the slim mail parses the same (nothing here reproduces the parser's rules): a
cut region is made of whole lines of base64 characters only. Such a line can be
neither a header nor a MIME boundary (boundaries start with ``--``), so whatever
state the parser is in when it reaches the region, it reads each of its lines as a
body line and leaves that state unchanged; the token line is such a line too. The
bytes before and after the region are the same in both mails, so the two parses
differ only in that text. The slim mail is then parsed (cheap: it is small) and a
cut is kept only when its token is, alone, the whole payload of a base64 part whose
content Python returns as bytes: that payload was, in the whole mail, exactly the
region. Anything else (text parts, unusual structures, broken base64) keeps its
bytes, and the mail is handed over whole when a check fails.

No Odoo import: the DB-less tests load this file on its own.
"""

import base64
import binascii
import email
import email.policy
import os
import re
import tempfile
from email._encoded_words import decode_b

# Bodies shorter than this stay in the mail: parsing them costs little.
CUT_ABOVE = 64 * 1024
# Maintypes whose content the email package returns as bytes (raw_data_manager).
BYTES_MAINTYPES = ("application", "image", "audio", "video")
# A blank line: where a header block ends and a body may start.
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_FIRST_LINE = re.compile(rb"[A-Za-z0-9+/]+=*\r?\n")
# base64 characters and line ends, the padding only at the very end.
_BASE64_TEXT = re.compile(rb"[A-Za-z0-9+/\r\n]*={0,2}[\r\n]*")
_BASE64_AND_BREAKS = (
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/\r\n"
)
# The end of a region, where the padding may be, is checked character by character.
_TAIL = 16
# Decoded in windows of this many input bytes (a multiple of 4 is not needed).
_WINDOW = 4 * 1024 * 1024
# Decoded contents larger than this are assembled through a temporary file, so
# that the pieces and the joined result are never in memory together.
_SPOOL_ABOVE = 8 * 1024 * 1024


class CutPart:
    """The body of one attachment, still inside the original mail's bytes."""

    def __init__(self, raw, start, end):
        self.raw = raw
        self.start = start
        self.end = end

    def content(self):
        """The attachment's bytes, as ``part.get_content()`` gives them."""
        raw, start, end = self.raw, self.start, self.end
        pieces = self._decoded_pieces()
        try:
            if end - start <= _SPOOL_ABOVE:
                return b"".join(pieces)
            with tempfile.TemporaryFile() as spool:
                for piece in pieces:
                    spool.write(piece)
                spool.seek(0)
                return spool.read()
        except binascii.Error:
            # Odd padding at the end: the email package's own tolerant path.
            return decode_b(raw[start:end].translate(None, b"\r\n"))[0]

    def _decoded_pieces(self):
        """Clean base64 decoded window by window. Equal to decoding it at once:
        no padding before the end, each window cut at a multiple of 4 characters;
        the end gets the padding ``decode_b`` adds (the characters left over are
        the whole body's count modulo 4)."""
        raw, carry = self.raw, b""
        for offset in range(self.start, self.end, _WINDOW):
            chunk = raw[offset : min(offset + _WINDOW, self.end)]
            chunk = carry + chunk.translate(None, b"\r\n")
            usable = len(chunk) - len(chunk) % 4
            carry = chunk[usable:]
            if usable:
                yield binascii.a2b_base64(chunk[:usable])
        if carry:
            yield base64.b64decode(carry + b"==="[: 4 - len(carry)], validate=True)


def cut_large_parts(raw, cut_above=CUT_ABOVE):
    """(mail for the gateway, {token: CutPart}); the mail itself and {} when
    nothing is worth cutting or a check fails."""
    if len(raw) < cut_above:
        return raw, {}
    regions = list(_base64_regions(raw, cut_above))
    if not regions:
        return raw, {}
    tokens = [base64.b64encode(os.urandom(24)) for _region in regions]
    slim = _replace(raw, regions, tokens)
    try:
        kept = _verified(slim, tokens)
    except Exception:  # pylint: disable=broad-except
        # Whatever the parser chokes on, it meets in the whole mail too.
        kept = set()
    if not kept:
        return raw, {}
    if len(kept) < len(tokens):
        regions, tokens = zip(
            *((r, t) for r, t in zip(regions, tokens, strict=True) if t in kept),
            strict=True,
        )
        slim = _replace(raw, regions, tokens)
    parts = {
        token: CutPart(raw, start, end)
        for (start, end), token in zip(regions, tokens, strict=True)
    }
    return slim, parts


def _base64_regions(raw, cut_above):
    """(start, end) of runs of whole base64 lines that follow a blank line and
    reach the next line starting with ``--``: where a MIME part's body usually is."""
    position, boundary = 0, -1
    while True:
        blank = _BLANK_LINE.search(raw, position)
        if not blank:
            return
        start = position = blank.end()
        if not _FIRST_LINE.match(raw, start):
            continue  # text, a header, a boundary: not a base64 body
        if boundary < start:
            boundary = raw.find(b"\n--", start)
            if boundary < 0:
                return
        end = boundary + 1  # the region ends with its last line's line end
        if end - start >= cut_above and _base64_lines(raw, start, end):
            yield start, end
            position = end


def _base64_lines(raw, start, end):
    """Whether raw[start:end] is whole lines (CRLF or LF) of base64 characters,
    the padding only at the end, the first line not empty (an empty line may end
    a header block; once a line that is not a header is read, empty lines are
    body lines like any other)."""
    if raw[start] in b"\r\n" or raw[end - 1] != ord("\n"):
        return False
    tail = max(start, end - _TAIL)
    # A short window first: text that only starts like base64 fails at once.
    windows = [start, *range(start + 4096, tail, _WINDOW)]
    for offset, until in zip(windows, [*windows[1:], tail], strict=True):
        # Windows: neither a copy of the region nor a slow regular expression.
        chunk = raw[offset : min(until, tail)]
        if chunk.translate(None, _BASE64_AND_BREAKS):
            return False
    return bool(_BASE64_TEXT.fullmatch(raw, tail, end))


def _replace(raw, regions, tokens):
    pieces, position = [], 0
    for (start, end), token in zip(regions, tokens, strict=True):
        pieces += [raw[position:start], token, b"\r\n"]
        position = end
    pieces.append(raw[position:])
    return b"".join(pieces)


def _verified(slim, tokens):
    """Tokens that are, alone, the payload of a base64 part whose content the
    gateway reads as bytes."""
    wanted = {token.decode(): token for token in tokens}
    kept = set()
    message = email.message_from_bytes(slim, policy=email.policy.SMTP)
    for part in message.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload()
        if not isinstance(payload, str):
            continue
        token = wanted.get(payload.rstrip("\r\n"))
        if token is None:
            continue
        cte = str(part.get("content-transfer-encoding", "")).lower()
        if cte == "base64" and part.get_content_maintype() in BYTES_MAINTYPES:
            kept.add(token)
    return kept
