"""Large attachments cut out before the gateway (tools/large_parts.py of the addon).

The promise: the gateway, parsing the slim mail, sees the same parts with the same
headers, and the content the scanner hands back for a cut part is byte for byte what
the email package would have decoded from the whole mail. Checked on the ingest
benchmark's corpus (attachments, inline images), on the hostile corpus (broken
MIME of every kind) and on hand-made edge cases. The module is loaded straight from
its file, so the addon's __init__ (which imports Odoo) never runs.
"""

import base64
import email
import email.policy
import sys
import tracemalloc
from pathlib import Path

import pytest
from addon_loader import load_addon_module

REPO = Path(__file__).resolve().parent.parent
MODULE_FILE = REPO / "mail_scanner_oauth2" / "tools" / "large_parts.py"
sys.path.insert(0, str(REPO / "benchmarks"))

import corpus  # noqa: E402
import hostile_corpus  # noqa: E402

large_parts = load_addon_module("mail_scanner_large_parts", MODULE_FILE)


def parts_as_the_gateway_reads_them(raw, cut=None):
    """Every leaf part as Odoo's _message_parse_extract_payload reads it: its
    headers and get_content() (or the exception it raises); cut parts' content
    taken from the scanner's CutPart."""
    cut = cut or {}
    tokens = {base64.b64decode(token): part for token, part in cut.items()}
    message = email.message_from_bytes(raw, policy=email.policy.SMTP)
    seen = []
    for part in message.walk():
        if part.is_multipart():
            seen.append(("multipart", part.get_content_type()))
            continue
        try:
            content = part.get_content()
        except Exception as exc:
            content = f"raises {type(exc).__name__}"
        if isinstance(content, bytes) and content in tokens:
            content = tokens[content].content()
        seen.append(
            (
                part.get_content_type(),
                part.get_filename(),
                part.get("content-id"),
                part.get_content_charset(),
                list(part.items()),
                content,
            )
        )
    return seen


def assert_same_for_the_gateway(raw, cut_above):
    slim, cut = large_parts.cut_large_parts(raw, cut_above=cut_above)
    assert parts_as_the_gateway_reads_them(slim, cut) == (
        parts_as_the_gateway_reads_them(raw)
    )
    return slim, cut


def test_corpus_mails_read_the_same():
    cut_count = 0
    for mail in corpus.build_corpus(80, seed=2026):
        slim, cut = assert_same_for_the_gateway(mail.raw, cut_above=1024)
        cut_count += len(cut)
        if cut:
            assert len(slim) < len(mail.raw)
    assert cut_count > 20, "the corpus's attachments and inline images are cut"


def test_hostile_mails_read_the_same():
    for mail in hostile_corpus.build():
        assert_same_for_the_gateway(mail.raw, cut_above=256)


def test_big_attachment_is_cut_and_decoded_without_copies_of_the_mail():
    raw = corpus.big_mail(12 * 1024 * 1024)
    tracemalloc.start()
    try:
        slim, cut = large_parts.cut_large_parts(raw)
        (part,) = cut.values()
        content = part.content()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(slim) < 4096
    assert content[:4] == b"PK\x03\x04" and len(content) == 12 * 1024 * 1024
    original = email.message_from_bytes(raw, policy=email.policy.SMTP)
    attachment = next(p for p in original.walk() if p.get_filename())
    assert content == attachment.get_content()
    # The decoded attachment, plus windows of a few MB: never a copy of the mail.
    assert peak < len(content) + 16 * 1024 * 1024


def _mail_with(body_lines, ctype=b"application/pdf", cte=b"base64", eol=b"\r\n"):
    head = eol.join(
        [
            b"From: a@example.com",
            b"To: support@contoso.example",
            b"Subject: edge",
            b"MIME-Version: 1.0",
            b'Content-Type: multipart/mixed; boundary="XX"',
            b"",
            b"--XX",
            b"Content-Type: text/plain",
            b"",
            b"hello",
            b"--XX",
            b"Content-Type: " + ctype + b'; name="f.bin"',
            b"Content-Transfer-Encoding: " + cte,
            b'Content-Disposition: attachment; filename="f.bin"',
            b"",
        ]
    )
    return head + eol + eol.join(body_lines) + eol + b"--XX--" + eol


LINES = base64.encodebytes((bytes(range(256)) * 64)[:-1]).splitlines()  # no padding


@pytest.mark.parametrize(
    "lines, ctype, cte, eol, cut_expected",
    [
        (LINES, b"application/pdf", b"base64", b"\r\n", True),
        (LINES, b"image/png", b"base64", b"\n", True),
        (LINES, b"text/plain", b"base64", b"\r\n", False),  # text: a str
        (LINES, b"application/pdf", b"7bit", b"\r\n", False),
        (LINES, b"x-odd/thing", b"base64", b"\r\n", False),  # no bytes handler
        ([*LINES[:10], b"not base64!", *LINES[10:]], b"application/pdf", b"base64",
         b"\r\n", False),
        ([*LINES[:10], b"", *LINES[10:]], b"application/pdf", b"base64", b"\r\n",
         True),  # a blank line in the body
        ([b"", *LINES], b"application/pdf", b"base64", b"\r\n", False),
        ([*LINES, b"QQ="], b"application/pdf", b"base64", b"\r\n", True),  # padding
        ([*LINES, b"Q"], b"application/pdf", b"base64", b"\r\n", True),  # bad length
        ([*LINES, b"QQ=="], b"application/pdf", b"base64", b"\r\n", True),
    ],
)  # fmt: skip
def test_edge_cases(lines, ctype, cte, eol, cut_expected):
    raw = _mail_with(lines, ctype, cte, eol)
    _slim, cut = assert_same_for_the_gateway(raw, cut_above=1024)
    assert bool(cut) == cut_expected


def test_small_mail_is_left_alone():
    raw = _mail_with(LINES[:3])
    assert large_parts.cut_large_parts(raw) == (raw, {})
