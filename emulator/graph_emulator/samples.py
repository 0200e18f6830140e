"""Tiny helpers to build test mail."""

import email.utils
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage


def _join(value, sep=", "):
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return sep.join(value)
    return value


def _add_attachment(msg, att):
    """att is (filename, bytes[, mimetype]) or a dict with filename, content,
    mimetype, inline (bool) and cid."""
    if isinstance(att, dict):
        filename, data = att["filename"], att["content"]
        mimetype = att.get("mimetype", "application/octet-stream")
        inline, cid = att.get("inline", False), att.get("cid")
    else:
        filename, data = att[0], att[1]
        mimetype = att[2] if len(att) > 2 else "application/octet-stream"
        inline, cid = False, None
    if isinstance(data, str):
        data = data.encode()
    maintype, subtype = mimetype.split("/", 1)
    msg.add_attachment(
        data,
        maintype=maintype,
        subtype=subtype,
        filename=filename,
        disposition="inline" if inline else "attachment",
        cid=cid,
    )


def make_eml(
    subject,
    sender,
    to,
    body,
    message_id=None,
    in_reply_to=None,
    references=None,
    attachments=(),
    html=None,
    date=None,
    cc=None,
    headers=None,
) -> bytes:
    """Build an RFC 822 message (CRLF line ends, as it travels over SMTP)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = _join(to)
    if cc:
        msg["Cc"] = _join(cc)
    msg["Subject"] = subject
    date = date or datetime.now(timezone.utc)
    msg["Date"] = email.utils.format_datetime(date)
    domain = sender.rsplit("@", 1)[-1].strip(">") if "@" in sender else "example.com"
    msg["Message-ID"] = message_id or email.utils.make_msgid(domain=domain)
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = _join(references, " ")
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for att in attachments:
        _add_attachment(msg, att)
    return msg.as_bytes(policy=policy.SMTP)
