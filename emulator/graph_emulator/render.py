"""JSON representations of folders and messages, with $select and $expand."""

import re
from urllib.parse import quote

from . import mime
from .store import b64
from .wire import iso_z

DEFAULT_PROPERTIES = (
    "createdDateTime",
    "lastModifiedDateTime",
    "changeKey",
    "categories",
    "receivedDateTime",
    "sentDateTime",
    "hasAttachments",
    "internetMessageId",
    "subject",
    "bodyPreview",
    "importance",
    "parentFolderId",
    "conversationId",
    "conversationIndex",
    "isDeliveryReceiptRequested",
    "isReadReceiptRequested",
    "isRead",
    "isDraft",
    "webLink",
    "inferenceClassification",
    "body",
    "sender",
    "from",
    "toRecipients",
    "ccRecipients",
    "bccRecipients",
    "replyTo",
    "flag",
)
# Returned only when named in $select, as in Graph.
EXTRA_PROPERTIES = ("internetMessageHeaders", "uniqueBody")
_CANONICAL = {p.lower(): p for p in ("id", *DEFAULT_PROPERTIES, *EXTRA_PROPERTIES)}
SIZE_PROPERTY = "Integer 0x0E08"  # PR_MESSAGE_SIZE
_EXPAND_SIZE = re.compile(
    r"^\s*singleValueExtendedProperties\s*\(\s*\$filter\s*=\s*id\s+eq\s+'([^']+)'\s*\)\s*$",
    re.I,
)


class QueryError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


def parse_select(value):
    """'subject,isRead' -> ['subject', 'isRead'] (canonical case); None when absent."""
    if not value:
        return None
    names = []
    for raw in value.split(","):
        name = raw.strip()
        canonical = _CANONICAL.get(name.lower())
        if canonical is None:
            raise QueryError(
                "RequestBroker--ParseUri",
                f"Could not find a property named '{name}' on type "
                "'microsoft.graph.message'.",
            )
        names.append(canonical)
    return names


def parse_expand(value):
    """Only the PR_MESSAGE_SIZE single-value extended property is supported."""
    if not value:
        return None
    match = _EXPAND_SIZE.match(value)
    if not match:
        raise QueryError(
            "BadRequest",
            f"Parsing OData Select and Expand failed: unsupported $expand '{value}'.",
        )
    return match.group(1)


def _address(pair):
    name, address = pair
    return {"emailAddress": {"name": name or address, "address": address}}


def _body(msg, body_type):
    parsed = msg.parsed
    if body_type == "text":
        return {
            "contentType": "text",
            "content": parsed.text or mime.html_to_text(parsed.html).strip(),
        }
    if body_type == "html" or parsed.html:
        return {
            "contentType": "html",
            "content": parsed.html or mime.text_to_html(parsed.text),
        }
    return {"contentType": "text", "content": parsed.text}


def _property(msg, name, body_type):
    p = msg.parsed
    sent = p.date or msg.received
    values = {
        "createdDateTime": lambda: iso_z(msg.created),
        "lastModifiedDateTime": lambda: iso_z(msg.modified),
        "changeKey": lambda: msg.change_key,
        "categories": lambda: list(msg.categories),
        "receivedDateTime": lambda: iso_z(msg.received),
        "sentDateTime": lambda: iso_z(sent),
        "hasAttachments": lambda: p.has_attachments,
        "internetMessageId": lambda: msg.internet_message_id,
        "subject": lambda: p.subject,
        "bodyPreview": lambda: mime.preview(p),
        "importance": lambda: msg.importance,
        "parentFolderId": lambda: msg.folder.id,
        "conversationId": lambda: msg.conversation_id,
        "conversationIndex": lambda: b64(msg.conversation_index),
        "isDeliveryReceiptRequested": lambda: False,
        "isReadReceiptRequested": lambda: False,
        "isRead": lambda: msg.is_read,
        "isDraft": lambda: getattr(msg, "is_draft", False),  # set by send.py
        "webLink": lambda: (
            "https://outlook.office365.com/owa/?ItemID="
            + quote(msg.rest_id, safe="")
            + "&exvsurl=1&viewmodel=ReadMessageItem"
        ),
        "inferenceClassification": lambda: "focused",
        "body": lambda: _body(msg, body_type),
        "uniqueBody": lambda: _body(msg, body_type),
        "sender": lambda: _address(p.sender) if p.sender[1] else None,
        "from": lambda: _address(p.from_) if p.from_[1] else None,
        "toRecipients": lambda: [_address(a) for a in p.to],
        "ccRecipients": lambda: [_address(a) for a in p.cc],
        "bccRecipients": lambda: [_address(a) for a in p.bcc],
        "replyTo": lambda: [_address(a) for a in p.reply_to],
        "flag": lambda: dict(msg.flag),
        "internetMessageHeaders": lambda: [
            {"name": k, "value": v} for k, v in p.headers
        ],
    }
    return values[name]()


def message(msg, immutable, select=None, expand=None, body_type=None):
    """The message as Graph returns it; ids depend on Prefer: IdType."""
    out = {
        "@odata.etag": f'W/"{msg.change_key}"',
        "id": msg.immutable_id if immutable else msg.rest_id,
    }
    for name in select or DEFAULT_PROPERTIES:
        if name != "id":
            out[name] = _property(msg, name, body_type)
    if expand:
        # Graph echoes the id in lower case; unknown properties come back empty.
        known = expand.lower() == SIZE_PROPERTY.lower()
        out["singleValueExtendedProperties"] = (
            [
                {
                    "id": expand.lower().replace("integer", "Integer"),
                    "value": str(msg.size),
                }
            ]
            if known
            else []
        )
    return out


def removed(item_id):
    return {"id": item_id, "@removed": {"reason": "deleted"}}


def folder(f, include_hidden=True):
    unread = sum(1 for m in f.items.values() if not m.is_read)
    children = [c for c in f.children if include_hidden or not c.hidden]
    return {
        "id": f.id,
        "displayName": f.name,
        "parentFolderId": f.parent_id,
        "childFolderCount": len(children),
        "unreadItemCount": unread,
        "totalItemCount": len(f.items),
        "sizeInBytes": sum(m.size for m in f.items.values()),
        "isHidden": f.hidden,
    }
