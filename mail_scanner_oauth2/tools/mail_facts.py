# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""What rules, protections and extractions look at in a mail.

The headers are parsed at once (cheap, even for a 50 MB mail); the body only
when a rule or an extraction asks for it.

The headers are the ones Odoo's gateway will see: the same parser and policy as
``mail.thread.message_process`` (``email.policy.SMTP``). Python's parser ends the
header block at the first blank line or at the first line that is not a header
(``quite Delivered-To: ...``); whatever follows such a line is body to the gateway,
so it must be body to the scanner too (a Message-ID there is no Message-ID).
"""

import email
import email.parser
import email.policy
import re
from functools import cached_property

from odoo.tools import email_split, html2plaintext

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_PARSER = email.parser.BytesParser(policy=email.policy.SMTP)


def split_head(raw):
    """The header block of a raw mail, without parsing the rest."""
    match = _HEADER_END.search(raw)
    return raw[: match.start()] if match else raw


def parse_headers(raw):
    """The headers as message_process will parse them, reading only the head."""
    # The parser's header block never goes past the first blank line, so parsing
    # that much gives the same headers as parsing the whole mail.
    return _PARSER.parsebytes(split_head(raw) + b"\r\n\r\n", headersonly=True)


class MailFacts:
    def __init__(self, raw, headers=None):
        self.raw = raw
        self.headers = headers or parse_headers(raw)
        self._header_values = {}
        self._memo = {}

    def memo(self, key, compute):
        """compute(self), once per mail (read ahead in the download thread)."""
        if key not in self._memo:
            self._memo[key] = compute(self)
        return self._memo[key]

    @cached_property
    def message_id(self):
        """The Message-ID the gateway will record, or "" when it will invent one."""
        return self.header("Message-Id").strip()

    @cached_property
    def content_type(self):
        return self.headers.get_content_type()

    def content_param(self, name):
        try:
            return str(self.headers.get_param(name, "") or "").lower()
        except (ValueError, TypeError, IndexError):
            return ""

    def header(self, name):
        # Protections, rules, threading and partners ask for the same few headers.
        key = name.lower()
        if key not in self._header_values:
            self._header_values[key] = self._decoded_header(name)
        return self._header_values[key]

    def _decoded_header(self, name):
        try:
            return str(self.headers.get(name) or "")
        except Exception:  # pylint: disable=broad-except
            # A header the email package cannot decode (``Message-ID:
            # <[id@domain.com]>`` raises IndexError in its parser; others raise
            # ValueError, AttributeError, HeaderParseError...) is still matched
            # raw. Not through get_all(): it parses the same way.
            return self._raw_header(name)

    def _raw_header(self, name):
        wanted = name.lower()
        for key, value in self.headers.raw_items():
            if key.lower() == wanted:
                return str(value or "")
        return ""

    @cached_property
    def sender(self):
        found = email_split(self.header("From"))
        return found[0].lower() if found else ""

    @cached_property
    def sender_domain(self):
        return self.sender.rpartition("@")[2]

    @cached_property
    def recipients(self):
        addresses = email_split(self.header("To")) + email_split(self.header("Cc"))
        return [a.lower() for a in addresses]

    @cached_property
    def subject(self):
        return self.header("Subject")

    def read_parts(self, body=False):
        """Reads the whole mail now (and its text with ``body``), so that the
        rules and extractions later find it read."""
        try:
            if body:
                _ = self.body
            _ = self.has_attachment
        except Exception:  # pylint: disable=broad-except
            # Read again, and failing where it is recorded, when a rule asks.
            self.__dict__.pop("message", None)
            self.__dict__.pop("body", None)

    @cached_property
    def message(self):
        # compat32: the same parts as the gateway's parse, without the header
        # objects a modern policy builds at every header read (most of the cost).
        return email.message_from_bytes(self.raw, policy=email.policy.compat32)

    @cached_property
    def body(self):
        """The mail's text: its text/plain part, else its HTML as text."""
        plain, html = self._text_parts()
        text = plain or (html2plaintext(html) if html else "")
        # Line-anchored patterns ("Label: value") must not trip over CRLF.
        return text.replace("\r\n", "\n").replace("\r", "\n")

    def _text_parts(self):
        plain = html = ""
        for part in self.message.walk():
            if part.is_multipart() or part.get_content_disposition() == "attachment":
                continue
            kind = part.get_content_type()
            if kind not in ("text/plain", "text/html"):
                continue
            payload = part.get_payload(decode=True) or b""
            try:
                # What get_content() gives for text (email.contentmanager).
                content = payload.decode(part.get_content_charset("ascii"), "replace")
            except (LookupError, ValueError, AssertionError):
                content = payload.decode("utf-8", "replace")
            if kind == "text/plain" and not plain:
                plain = content
            elif kind == "text/html" and not html:
                html = content
        return plain, html

    @cached_property
    def has_attachment(self):
        return any(
            part.get_content_disposition() == "attachment" or part.get_filename()
            for part in self.message.walk()
            if not part.is_multipart()
        )
