"""The directory and mailbox state: tenants, applications, mailboxes, folders, messages.

Every mutation of a folder's content is written to that folder's change log (a list of
Event with a per-mailbox sequence number); delta queries are computed from it.
All methods take the emulator's lock, so tests may call them while the server runs.
"""

import base64
import hmac
import os
import secrets
import struct
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from . import exchange_mime, ids, mime

WELL_KNOWN = {
    "inbox": "Inbox",
    "drafts": "Drafts",
    "sentitems": "Sent Items",
    "deleteditems": "Deleted Items",
    "junkemail": "Junk Email",
    "archive": "Archive",
    "outbox": "Outbox",
}


class FolderExists(Exception):
    pass


def normalize_subject(subject: str) -> str:
    """The conversation topic, case folded (the key of conversation_mode "subject")."""
    return mime.conversation_topic(subject).casefold()


@dataclass
class Event:
    seq: int
    key: str  # immutable id of the message
    # created (arrived in the folder) | updated | deleted (deleted or moved out)
    kind: str
    rest_id: str  # the REST id the message had in this folder at that moment


class Folder:
    def __init__(self, mailbox, name, parent, well_known=None, hidden=False):
        self.mailbox = mailbox
        self.id = ids.folder_id(mailbox.guid)
        self.name = name
        self.parent = parent
        self.well_known = well_known
        self.hidden = hidden
        self.children = []
        self.items = {}  # immutable id -> Message, in arrival order
        self.events = []  # change log for delta

    @property
    def parent_id(self):
        return self.parent.id if self.parent else self.mailbox.root_parent_id

    @property
    def path(self):
        names, folder = [], self
        while folder is not None and folder.well_known != "msgfolderroot":
            names.append(folder.name)
            folder = folder.parent
        return "/".join(reversed(names))

    def __eq__(self, other):
        """Tests may compare with a name, well-known name, path or id."""
        if isinstance(other, str):
            low = other.casefold()
            return other == self.id or low in (
                self.name.casefold(),
                (self.well_known or "").casefold(),
                self.path.casefold(),
            )
        return self is other

    def __hash__(self):
        return hash(self.id)

    def __repr__(self):
        return f"<Folder {self.path or self.name!r}>"


class Message:
    def __init__(self, mailbox, raw, folder, received, is_read):
        self.mailbox = mailbox
        self.raw = bytes(raw)
        self.parsed = mime.parse(self.raw)
        self.immutable_id = ids.immutable_message_id()
        self.rest_id = ids.rest_message_id(mailbox.guid)
        self.folder = folder
        self.received = received
        self.created = received
        self.modified = received
        self.change_key = ids.change_key()
        self.is_read = is_read
        self.categories = []
        self.flag = {"flagStatus": "notFlagged"}
        self.importance = self.parsed.importance
        self.conversation_id = None
        self.conversation_index = b""
        self.deleted = False
        self._exchange_mime = None  # cached: regenerated once, served many times
        self.internet_message_id = (
            self.parsed.message_id or f"<{secrets.token_hex(16)}@{mailbox.domain}>"
        )

    @property
    def id(self):
        return self.immutable_id

    @property
    def size(self):
        """PR_MESSAGE_SIZE: the size of what the store holds, so the MIME $value
        serves (Exchange's own MIME is larger than what was delivered)."""
        return len(self.mime)

    @property
    def subject(self):
        return self.parsed.subject

    @property
    def mime(self):
        """What $value answers now: Exchange's regenerated MIME (mime_style
        "exchange", the same bytes on every call) or the delivered bytes."""
        if self.mailbox.tenant.emu.mime_style != "exchange":
            return self.raw
        if self._exchange_mime is None:
            self._exchange_mime = exchange_mime.regenerate(self)
        return self._exchange_mime

    def touch(self):
        self.modified = datetime.now(timezone.utc).replace(microsecond=0)
        self.change_key = ids.change_key()

    def __repr__(self):
        return f"<Message {self.subject!r} in {self.folder!r} read={self.is_read}>"


def _filetime_bytes(dt):
    # Conversation index header block: 1 reserved byte + 5 bytes of FILETIME.
    filetime = int((dt.timestamp() + 11644473600) * 10_000_000)
    return b"\x01" + struct.pack(">Q", filetime)[:5]


class Mailbox:
    def __init__(self, tenant, address, display_name=None):
        self.tenant = tenant
        self.lock = tenant.lock
        self.address = address
        self.id = ids.new_guid()  # the user's object id, usable instead of the UPN
        self.guid = ids.mailbox_guid()  # embedded in item ids
        self.display_name = display_name or address.split("@")[0]
        # False: a user without an Exchange Online mailbox (Graph answers 404
        # MailboxNotEnabledForRESTAPI).
        self.rest_enabled = True
        self.domain = address.rsplit("@", 1)[-1]
        self.seq = 0
        self.folders = {}
        self.live = {}  # immutable id -> Message (not deleted)
        self.by_rest_id = {}
        self.tombstones = {}  # immutable id -> deleted Message (for @removed)
        self._msgid_conversation = {}  # Message-ID (lower) -> conversation id
        self._topic_conversation = {}  # normalized subject -> conversation id
        self._conversation_root = {}  # conversation id -> 22-byte index header
        self.root_parent_id = ids.folder_id(self.guid)  # "Top of Information Store"
        self.root = self._new_folder("Top of Information Store", None, "msgfolderroot")
        for key, name in WELL_KNOWN.items():
            self._new_folder(name, self.root, key)

    # -- folders ---------------------------------------------------------
    def _new_folder(self, name, parent, well_known=None, hidden=False):
        folder = Folder(self, name, parent, well_known, hidden)
        self.folders[folder.id] = folder
        if parent is not None:
            parent.children.append(folder)
        return folder

    def find_folder(self, key, by_name=False) -> Folder | None:
        """By id or well-known name (what Graph accepts); by_name also tries display
        names and paths like "Inbox/Tickets" (a convenience for tests)."""
        with self.lock:
            if isinstance(key, Folder):
                return key
            if key in self.folders:
                return self.folders[key]
            low = str(key).casefold()
            for folder in self.folders.values():
                if folder.well_known == low:
                    return folder
            if by_name:
                for folder in self.folders.values():
                    if low in (folder.name.casefold(), folder.path.casefold()):
                        return folder
            return None

    def folder(self, name_or_id) -> Folder:
        folder = self.find_folder(name_or_id, by_name=True)
        if folder is None:
            raise KeyError(f"no folder {name_or_id!r} in {self.address}")
        return folder

    def add_folder(self, name, parent="inbox", hidden=False) -> Folder:
        """parent None means top level (under msgfolderroot). Duplicate names (any case)
        under one parent raise FolderExists, like Exchange."""
        with self.lock:
            parent_folder = self.root if parent is None else self.folder(parent)
            if any(
                c.name.casefold() == name.casefold() for c in parent_folder.children
            ):
                raise FolderExists(name)
            return self._new_folder(name, parent_folder, hidden=hidden)

    # -- change log ------------------------------------------------------
    def _log(self, folder, msg, kind, rest_id=None):
        self.seq += 1
        folder.events.append(
            Event(self.seq, msg.immutable_id, kind, rest_id or msg.rest_id)
        )
        # Change notifications: queued here, POSTed later by a delivery thread.
        subscriptions = getattr(self.tenant.emu, "subscriptions", None)
        if subscriptions is not None:
            subscriptions.changed(self, folder, msg, kind, rest_id or msg.rest_id)

    # -- messages --------------------------------------------------------
    def deliver(
        self, eml, folder="inbox", received=None, is_read=False, conversation_id=None
    ) -> Message:
        with self.lock:
            target = self.folder(folder)
            received = (
                (received or datetime.now(timezone.utc))
                .astimezone(timezone.utc)
                .replace(microsecond=0)
            )
            msg = Message(self, eml, target, received, is_read)
            self._assign_conversation(msg, conversation_id)
            self.live[msg.immutable_id] = msg
            self.by_rest_id[msg.rest_id] = msg
            target.items[msg.immutable_id] = msg
            self._log(target, msg, "created")
            return msg

    def deliver_file(self, path, **kwargs) -> Message:
        with open(path, "rb") as fh:
            return self.deliver(fh.read(), **kwargs)

    def _assign_conversation(self, msg, forced):
        """Headers first; in conversation_mode "subject" also the conversation topic
        (how Exchange is reported to group replies from clients that dropped
        In-Reply-To/References, and unrelated mail with the same subject); else a new
        conversation."""
        parsed = msg.parsed
        conv = forced
        for ref in reversed(parsed.in_reply_to + parsed.references):
            conv = conv or self._msgid_conversation.get(ref.lower())
        topic = normalize_subject(parsed.subject)
        by_subject = self.tenant.emu.conversation_mode == "subject"
        if conv is None and topic and by_subject:
            conv = self._topic_conversation.get(topic)
        if conv is None or conv not in self._conversation_root:
            conv = conv or ids.conversation_id(self.guid)
            root = _filetime_bytes(msg.received) + os.urandom(16)
            self._conversation_root[conv] = root
            msg.conversation_index = parsed.thread_index or root
        else:
            child = struct.pack(">Q", int(time.time() * 1000) & 0xFFFFFFFFFF)[3:]
            msg.conversation_index = (
                parsed.thread_index or self._conversation_root[conv] + child
            )
        msg.conversation_id = conv
        if topic:
            self._topic_conversation.setdefault(topic, conv)
        if msg.internet_message_id:
            self._msgid_conversation[msg.internet_message_id.lower()] = conv

    def messages(self, folder=None):
        """Live messages, of one folder (name, path, well-known name or id) or all."""
        with self.lock:
            if folder is None:
                return list(self.live.values())
            return list(self.folder(folder).items.values())

    def find_message(self, any_id) -> Message | None:
        """Current REST id or immutable id; old REST ids (before a move) are gone."""
        with self.lock:
            return self.by_rest_id.get(any_id) or self.live.get(any_id)

    def get(self, any_id) -> Message:
        msg = self.find_message(any_id)
        if msg is None:
            raise KeyError(any_id)
        return msg

    def set_read(self, msg, value):
        with self.lock:
            if msg.is_read != bool(value):
                msg.is_read = bool(value)
                self.updated(msg)

    def updated(self, msg):
        with self.lock:
            msg.touch()
            self._log(msg.folder, msg, "updated")

    def move(self, msg, destination) -> Message:
        """Moving gives the message a new REST id; its immutable id stays."""
        with self.lock:
            dest = self.folder(destination)
            source = msg.folder
            self._log(source, msg, "deleted")
            del source.items[msg.immutable_id]
            del self.by_rest_id[msg.rest_id]
            msg.rest_id = ids.rest_message_id(self.guid)
            self.by_rest_id[msg.rest_id] = msg
            msg.folder = dest
            msg.touch()
            dest.items[msg.immutable_id] = msg
            self._log(dest, msg, "created")
            return msg

    def remove(self, any_id):
        """Hard delete (what a human emptying Deleted Items does)."""
        with self.lock:
            msg = self.get(
                any_id.immutable_id if isinstance(any_id, Message) else any_id
            )
            self._log(msg.folder, msg, "deleted")
            del msg.folder.items[msg.immutable_id]
            del self.live[msg.immutable_id]
            del self.by_rest_id[msg.rest_id]
            msg.deleted = True
            self.tombstones[msg.immutable_id] = msg

    def any_message(self, key) -> Message | None:
        """Live or deleted, by immutable id (delta needs deleted ones for @removed)."""
        return self.live.get(key) or self.tombstones.get(key)

    def __repr__(self):
        return f"<Mailbox {self.address}>"


def _expiry(expires, expired):
    """None (never), an aware datetime, or a timedelta from now; expired=True means a
    moment ago."""
    now = datetime.now(timezone.utc)
    if expired:
        return now - timedelta(seconds=1)
    if isinstance(expires, timedelta):
        return now + expires
    if isinstance(expires, datetime) and expires.tzinfo is None:
        return expires.replace(tzinfo=timezone.utc)
    return expires


def new_secret_value():
    """A value shaped like Entra's (40 characters, "Q~" after a 3-character hint)."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.~"
    body = "".join(secrets.choice(alphabet) for _ in range(37))
    return f"{body[:3]}8Q~{body[3:]}"


@dataclass
class ClientSecret:
    """One of an application's client secrets (Entra allows several at once, each with
    its own expiry: that is how a secret is rotated without downtime)."""

    value: str
    secret_id: str
    expires: datetime | None = None  # None: never

    @property
    def expired(self):
        return self.expires is not None and self.expires <= datetime.now(timezone.utc)

    @property
    def hint(self):
        return self.value[:3]


class App:
    def __init__(
        self,
        tenant,
        client_id,
        secret,
        secret_expired,
        certificate_pem,
        roles,
        allowed_mailboxes,
        display_name,
    ):
        self.tenant = tenant
        self.client_id = client_id
        self.secrets = []  # ClientSecret, the first is "the" secret of app.secret
        if secret is not None:
            self.add_secret(secret, expired=secret_expired)
        self.certificate_pem = certificate_pem
        self.roles = list(roles)
        self.allowed_mailboxes = (
            None if allowed_mailboxes is None else list(allowed_mailboxes)
        )
        self.display_name = display_name or f"App {client_id[:8]}"
        self.service_principal_id = ids.new_guid()

    # -- client secrets ------------------------------------------------------
    def add_secret(self, value=None, expires=None, expired=False) -> ClientSecret:
        """Another secret, valid alongside the others until `expires` (None: never; a
        datetime; or a timedelta from now). value=None makes an Entra-like one."""
        added = ClientSecret(
            value or new_secret_value(), ids.new_guid(), _expiry(expires, expired)
        )
        self.secrets.append(added)
        return added

    def remove_secret(self, value_or_id):
        """Delete a secret (by value, id or ClientSecret), as an admin does after a
        rotation."""
        self.secrets = [
            s for s in self.secrets if value_or_id not in (s, s.value, s.secret_id)
        ]

    def find_secret(self, value) -> ClientSecret | None:
        """The secret with this value (compared in constant time), or None."""
        found = None
        for candidate in self.secrets:
            if hmac.compare_digest(candidate.value.encode(), str(value).encode()):
                found = candidate
        return found

    @property
    def secret(self):
        """The first secret's value (None without secrets)."""
        return self.secrets[0].value if self.secrets else None

    @secret.setter
    def secret(self, value):
        if value is None:
            self.secrets = self.secrets[1:]
        elif self.secrets:
            self.secrets[0].value = value
        else:
            self.add_secret(value)

    @property
    def secret_id(self):
        """The first secret's id: what admins paste by mistake instead of the value."""
        return self.secrets[0].secret_id if self.secrets else None

    @property
    def secret_expired(self):
        return bool(self.secrets) and self.secrets[0].expired

    @secret_expired.setter
    def secret_expired(self, value):
        if self.secrets:
            self.secrets[0].expires = _expiry(None, bool(value))

    def may_access(self, mailbox) -> bool:
        """Application access policy: None means every mailbox."""
        if self.allowed_mailboxes is None:
            return True
        allowed = {str(a).casefold() for a in self.allowed_mailboxes}
        return mailbox.address.casefold() in allowed or mailbox.id in allowed


class Tenant:
    def __init__(self, emu, tenant_id=None, domain="contoso.onmicrosoft.com"):
        self.emu = emu
        self.lock = emu.lock
        self.id = tenant_id or ids.new_guid()
        self.domain = domain
        self.apps = {}
        self.mailboxes = {}  # address (casefolded) -> Mailbox

    def add_app(
        self,
        client_id=None,
        secret="s3cr3t",
        secret_expired=False,
        certificate_pem=None,
        roles=("Mail.ReadWrite",),
        allowed_mailboxes=None,
        display_name=None,
    ) -> App:
        with self.lock:
            app = App(
                self,
                client_id or ids.new_guid(),
                secret,
                secret_expired,
                certificate_pem,
                roles,
                allowed_mailboxes,
                display_name,
            )
            self.apps[app.client_id] = app
            return app

    def add_mailbox(self, address, display_name=None) -> Mailbox:
        with self.lock:
            mbox = Mailbox(self, address, display_name)
            self.mailboxes[address.casefold()] = mbox
            return mbox

    def find_mailbox(self, key) -> Mailbox | None:
        """UPN/address (any case) or the user's object id."""
        with self.lock:
            key = (key or "").casefold()
            if key in self.mailboxes:
                return self.mailboxes[key]
            return next((m for m in self.mailboxes.values() if m.id == key), None)

    def mailbox(self, key) -> Mailbox:
        mbox = self.find_mailbox(key)
        if mbox is None:
            raise KeyError(key)
        return mbox

    def matches(self, segment) -> bool:
        return segment.casefold() in (self.id.casefold(), self.domain.casefold())


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
