"""Adding an attachment to a draft: an upload session in byte ranges from 3 MB (to a
pre-authenticated URL that must never be logged), a JSON POST below."""

import base64
import logging
import re
from urllib.parse import urlsplit

from . import errors
from .transport import _json_or_none, users_path

# createUploadSession takes files of 3 MB and more; smaller ones go by JSON POST.
UPLOAD_SESSION_MIN = 3_000_000
UPLOAD_CHUNK = 3 * 1024 * 1024  # byte ranges "under 4 MB"
MAX_ATTACHMENT = 150 * 1024 * 1024
_AUTHTOKEN = re.compile(r"(authtoken=)[^&\s'\"]+", re.I)


class _HideUploadToken(logging.Filter):
    """urllib3 logs request URLs (at DEBUG, and in its retry warnings); an upload URL
    carries a credential in its query string, which must never reach a log."""

    def filter(self, record):
        if isinstance(record.args, tuple):
            record.args = tuple(
                _AUTHTOKEN.sub(r"\1***", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True


for _name in ("urllib3.connectionpool", "urllib3.util.retry"):
    logging.getLogger(_name).addFilter(_HideUploadToken())


class AttachmentUploads:
    """MailSender's attachment calls (graph/send.py), which provides ``client``,
    ``session`` (the non-repeating one), ``upload_chunk`` and ``_post``."""

    def add_attachment(self, mailbox, draft_id, attachment):
        """Add a DetachedAttachment to a draft: upload session from 3 MB, else POST."""
        size = len(attachment.content)
        if size > MAX_ATTACHMENT:
            raise errors.message_too_large(mailbox, size, MAX_ATTACHMENT)
        if size >= UPLOAD_SESSION_MIN:
            try:
                return self._upload(mailbox, draft_id, attachment)
            except errors.GraphError as exc:
                # Graph's "3 MB" may be MiB: a file in between goes by POST.
                if exc.code != "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize":
                    raise
        item = {
            "@odata.type": "#microsoft.graph.fileAttachment",
            "name": attachment.name,
            "contentType": attachment.content_type,
            "contentBytes": base64.b64encode(attachment.content).decode("ascii"),
            "isInline": attachment.is_inline,
        }
        if attachment.content_id:
            item["contentId"] = attachment.content_id
        return self._post(
            mailbox, users_path(mailbox, "messages", draft_id, "attachments"), json=item
        )

    def _upload(self, mailbox, draft_id, attachment):
        item = {
            "attachmentType": "file",
            "name": attachment.name,
            "size": len(attachment.content),
            "contentType": attachment.content_type,
            "isInline": attachment.is_inline,
        }
        if attachment.content_id:
            item["contentId"] = attachment.content_id
        session = self._post(
            mailbox,
            users_path(
                mailbox, "messages", draft_id, "attachments", "createUploadSession"
            ),
            json={"AttachmentItem": item},
        ).json()
        upload_url = session.get("uploadUrl") or ""
        if urlsplit(upload_url).scheme != "https":
            raise errors.SendFailed(
                {"mailbox": mailbox, "detail": "no usable upload URL"},
                code="InvalidUploadUrl",
            )
        content, start = attachment.content, 0
        while start < len(content):
            end = min(start + self.upload_chunk, len(content)) - 1
            response = self._put_range(mailbox, upload_url, content, start, end)
            if response.status_code == 201:
                return response
            start = _next_start(_json(response), start)
        raise errors.SendFailed(
            {
                "mailbox": mailbox,
                "detail": f"the upload of {attachment.name} was never confirmed",
            },
            code="UploadIncomplete",
        )

    def _put_range(self, mailbox, upload_url, content, start, end):
        """PUT one byte range to the pre-authenticated upload URL: no Authorization
        header (a Graph token there is refused), and the URL (it holds a credential)
        is never logged."""
        headers = {
            "Content-Range": f"bytes {start}-{end}/{len(content)}",
            "Content-Type": "application/octet-stream",
        }
        try:
            response = self.session.put(
                upload_url,
                data=content[start : end + 1],
                headers=headers,
                timeout=self.client.timeout,
            )
        except OSError as exc:
            raise errors.connection_error(urlsplit(upload_url).hostname, exc) from None
        if response.status_code >= 400:
            error = errors.from_graph_response(
                response.status_code,
                _json(response),
                mailbox,
                request_id=response.headers.get("request-id"),
            )
            raise errors.for_send(error, mailbox)
        return response


def _json(response):
    body = _json_or_none(response)
    return body if isinstance(body, dict) else None


def _next_start(body, current):
    """Where the next byte range starts, from nextExpectedRanges: Outlook answers
    ["2097152"], OneDrive-style servers ["2097152-"] or ["2097152-3000000"]."""
    ranges = (body or {}).get("nextExpectedRanges") or (body or {}).get(
        "NextExpectedRanges"
    )
    try:
        start = int(str(ranges[0]).split("-", 1)[0])
    except (TypeError, ValueError, IndexError):
        start = None
    if start is None or start <= current:
        raise errors.SendFailed(
            {"detail": f"upload stalled (next expected: {ranges!r})"},
            code="UploadStalled",
        )
    return start
