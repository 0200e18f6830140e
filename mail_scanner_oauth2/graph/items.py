"""What Graph answers about messages and folders, as plain values."""

from dataclasses import dataclass, field
from datetime import datetime, timezone

MESSAGE_SIZE_PROPERTY = "Integer 0x0E08"  # PR_MESSAGE_SIZE
SIZE_EXPAND = f"singleValueExtendedProperties($filter=id eq '{MESSAGE_SIZE_PROPERTY}')"


@dataclass(frozen=True)
class MessageRef:
    id: str
    internet_message_id: str = None
    conversation_id: str = None
    subject: str = None
    sender: str = None
    sender_name: str = None
    received: datetime = None
    is_read: bool = False
    has_attachments: bool = False
    size: int = None
    removed: bool = False

    @classmethod
    def from_graph(cls, item):
        if "@removed" in item:
            return cls(id=item["id"], removed=True)
        address = (item.get("from") or item.get("sender") or {}).get(
            "emailAddress"
        ) or {}
        return cls(
            id=item["id"],
            internet_message_id=item.get("internetMessageId"),
            conversation_id=item.get("conversationId"),
            subject=item.get("subject"),
            sender=address.get("address"),
            sender_name=address.get("name"),
            received=parse_datetime(item.get("receivedDateTime")),
            is_read=bool(item.get("isRead")),
            has_attachments=bool(item.get("hasAttachments")),
            size=size_from(item),
        )


@dataclass
class Folder:
    id: str
    name: str
    parent_id: str = None
    path: str = None
    total: int = 0
    unread: int = 0
    children: list = field(default_factory=list)
    child_count: int = 0

    @classmethod
    def from_graph(cls, item, parent_path=None):
        name = item.get("displayName") or ""
        return cls(
            id=item["id"],
            name=name,
            parent_id=item.get("parentFolderId"),
            path=f"{parent_path}/{name}" if parent_path else name,
            total=item.get("totalItemCount") or 0,
            unread=item.get("unreadItemCount") or 0,
            child_count=item.get("childFolderCount") or 0,
        )

    def walk(self):
        """This folder and all its descendants, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


def parse_datetime(value):
    """Graph's ISO 8601 timestamp -> aware UTC datetime (None stays None)."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def size_from(item):
    """PR_MESSAGE_SIZE (bytes) from an item with the expanded property, else None."""
    for prop in (item or {}).get("singleValueExtendedProperties") or []:
        if str(prop.get("id", "")).lower() == MESSAGE_SIZE_PROPERTY.lower():
            try:
                return int(prop.get("value"))
            except (TypeError, ValueError):
                return None
    return None


def format_datetime(value):
    if value.tzinfo is None:  # naive means UTC throughout this addon
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
