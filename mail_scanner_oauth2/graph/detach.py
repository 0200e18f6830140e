"""Taking the largest attachments out of a MIME message, so the rest fits in one
Graph request (graph/upload.py adds them to the draft afterwards)."""

import base64
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser

from . import errors


@dataclass(frozen=True)
class DetachedAttachment:
    name: str
    content_type: str
    content: bytes
    is_inline: bool = False
    content_id: str | None = None


def detach_attachments(mime, max_request_bytes):
    """(MIME without its largest attachments, [DetachedAttachment]) so that the rest,
    base64-encoded, fits in one request. Attached messages (message/rfc822) stay."""
    msg = BytesParser(policy=policy.default).parsebytes(bytes(mime))
    candidates = sorted(
        _attachment_parts(msg),
        key=lambda pair: len(pair[1].get_payload(decode=True) or b""),
        reverse=True,
    )
    detached = []
    for parent, part in candidates:
        if _encoded_size(msg) <= max_request_bytes:
            break
        detached.append(_detached(part))
        parent.set_payload([p for p in parent.get_payload() if p is not part])
    reduced = msg.as_bytes(policy=policy.SMTP)
    if len(base64.b64encode(reduced)) > max_request_bytes:
        raise errors.MessageTooLarge(
            {"size_mb": round(len(reduced) / 1024 / 1024, 1), "limit_mb": 4},
            key="text_too_large",
            code="RequestEntityTooLarge",
        )
    return reduced, detached


def _encoded_size(msg):
    return (len(msg.as_bytes(policy=policy.SMTP)) + 2) // 3 * 4


def _attachment_parts(parent):
    """(parent, part) for every file-like leaf under a multipart."""
    for part in parent.iter_parts():
        if part.get_content_maintype() == "multipart":
            yield from _attachment_parts(part)
        elif part.get_content_maintype() != "message" and _is_file(part):
            yield parent, part


def _is_file(part):
    if part.get_content_disposition() == "attachment" or part.get_filename():
        return True
    return part.get_content_maintype() != "text" and part.get("Content-ID") is not None


def _detached(part):
    content_id = str(part.get("Content-ID") or "").strip().strip("<>") or None
    return DetachedAttachment(
        name=part.get_filename() or "attachment",
        content_type=part.get_content_type(),
        content=part.get_payload(decode=True) or b"",
        is_inline=part.get_content_disposition() == "inline"
        or (part.get_content_disposition() is None and content_id is not None),
        content_id=content_id,
    )
