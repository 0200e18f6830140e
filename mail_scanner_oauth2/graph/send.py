"""Sending mail from a mailbox through Microsoft Graph (application permission
Mail.Send), exactly once. Plain Python: no Odoo import.

Graph has no idempotency key, and a send whose answer is lost may already be on its
way. So a mail goes out in two steps that can be checked:

1. a draft is created from the MIME (POST /users/{mailbox}/messages, the MIME in
   base64 as text/plain). When that request would be over Graph's 4 MB limit, the
   draft is created from the MIME without its largest attachments, which are then
   added one by one: an upload session for 3 MB and more (byte ranges under 4 MB),
   a JSON POST below that;
2. the draft is sent (POST /users/{mailbox}/messages/{id}/send).

Every request asks for immutable ids, so the draft keeps its id in Sent Items. After
a lost answer to the send, GET that id says whether the mail went (no longer a
draft, or gone while in transit) or is still a draft (send it again). POSTs go
through their own session, which repeats a request only when it cannot have reached
Graph (connect errors) or Graph refused it (429, 503), never after a read error.

Across runs, record the draft's id from on_draft and pass it back as draft_id: the
surest way to resume. Without it, retry=True looks for the mail by its Message-ID
(a sent copy anywhere in the mailbox means it went; unfinished drafts are deleted
and the mail is created again). That lookup cannot find mail whose Message-ID
Exchange replaced, nor mail still in transit.

The attachments taken out of a large MIME are graph/detach.py's, their upload
graph/upload.py's.
"""

import base64
import logging
import re
from dataclasses import dataclass
from email import policy
from email.parser import BytesHeaderParser
from urllib.parse import quote, urlencode

from . import errors
from .auth import token_roles
from .detach import detach_attachments
from .http import build_session
from .transport import users_path
from .upload import UPLOAD_CHUNK, AttachmentUploads

_logger = logging.getLogger(__name__)

# Graph's request-body limit is "4 MB": the smaller reading, so either one works.
MAX_REQUEST_BYTES = 4_000_000
DEFAULT_MAX_MESSAGE_SIZE = 35 * 1024 * 1024  # Exchange Online's default send limit
SEND_ATTEMPTS = 3
STATE_SELECT = "id,isDraft,internetMessageId,conversationId,parentFolderId"
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")


@dataclass(frozen=True)
class Draft:
    id: str  # immutable id: the same once the mail is in Sent Items
    internet_message_id: str | None
    conversation_id: str | None = None  # Exchange's thread of the mail


@dataclass(frozen=True)
class SentMail:
    id: str | None
    internet_message_id: str | None
    already_sent: bool = False  # True: an earlier call had sent it
    conversation_id: str | None = None


def has_send_role(access_token):
    """True / False whether the token carries Mail.Send; None when it is not a
    readable JWT (then only Graph can tell)."""
    roles = token_roles(access_token)
    return None if roles is None else errors.SEND_ROLE in roles


def message_id_of(mime):
    """The Message-ID of a MIME message (with its angle brackets), or None."""
    headers = BytesHeaderParser(policy=policy.default).parsebytes(bytes(mime))
    try:
        found = _MESSAGE_ID.search(str(headers.get("Message-ID") or ""))
    except (TypeError, ValueError):  # a header Python cannot parse
        return None
    return found.group(0) if found else None


class MailSender(AttachmentUploads):
    """Sends MIME mail from mailboxes with a GraphMailClient's token and settings."""

    def __init__(
        self,
        client,
        max_message_size=DEFAULT_MAX_MESSAGE_SIZE,
        max_request_bytes=MAX_REQUEST_BYTES,
        upload_chunk=UPLOAD_CHUNK,
        send_attempts=SEND_ATTEMPTS,
    ):
        self.client = client
        self.max_message_size = max_message_size
        self.max_request_bytes = max_request_bytes
        self.upload_chunk = min(upload_chunk, max_request_bytes)
        self.send_attempts = max(1, send_attempts)
        # Same retry budget and request counter, but never repeats what may have
        # been done (see module docstring).
        self.session = build_session(
            client.policy, verify=client.session.verify, repeatable=False
        )

    def close(self):
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- the whole send -------------------------------------------------------------

    def send_mime(self, mailbox, mime, *, retry=False, draft_id=None, on_draft=None):
        """Send the RFC 822 message `mime` from `mailbox`, exactly once.

        draft_id: the id on_draft recorded in an earlier call (resumes it).
        retry: an earlier call may have sent it; look for it by Message-ID first.
        on_draft(Draft): called once the draft is complete, before it is sent.
        Returns SentMail; raises MessageTooLarge, MissingSendPermission,
        SendAsDenied, MailboxNotFound, or a transient error (Throttled,
        ServiceUnavailable, GraphConnectionError: try again later, with draft_id)."""
        mime = bytes(mime)
        if len(mime) > self.max_message_size:
            raise errors.message_too_large(mailbox, len(mime), self.max_message_size)
        self.check_send_permission(mailbox)
        message_id = message_id_of(mime)
        if draft_id:
            return self._resume_draft(mailbox, draft_id, message_id)
        if retry and message_id:
            found = self._resume_by_message_id(mailbox, message_id)
            if found is not None:
                return found
        draft = self.create_draft(mailbox, mime)
        if on_draft is not None:
            on_draft(draft)
        return self.send_draft(mailbox, draft)

    def check_send_permission(self, mailbox):
        """Raise MissingSendPermission when the token lacks Mail.Send (before any
        draft is created)."""
        token = self.client.acquire_token()
        if has_send_role(token) is False:
            # Granted since the cached token was issued? Only a new one says so.
            token = self.client.refresh_token()
        if has_send_role(token) is False:
            raise errors.missing_send_permission(
                self.client.client_id, mailbox, granted=token_roles(token)
            )

    # --- step 1: the draft ----------------------------------------------------------

    def create_draft(self, mailbox, mime):
        """A complete draft of `mime` in the mailbox's Drafts (attachments added)."""
        mime = bytes(mime)
        encoded, message_id = base64.b64encode(mime), message_id_of(mime)
        if len(encoded) <= self.max_request_bytes:
            return self._post_draft(mailbox, encoded, message_id)
        reduced, detached = detach_attachments(mime, self.max_request_bytes)
        draft = self._post_draft(mailbox, base64.b64encode(reduced), message_id)
        try:
            for attachment in detached:
                self.add_attachment(mailbox, draft.id, attachment)
        except BaseException:
            self._discard_quietly(mailbox, draft.id)  # never send it half-built
            raise
        return draft

    def _post_draft(self, mailbox, encoded, message_id):
        """POST the draft. After a lost or ambiguous answer, a draft with this
        Message-ID is taken rather than a second one made; none found, the POST is
        tried again (only when the Message-ID makes the check possible)."""
        last = None
        for _attempt in range(self.send_attempts):
            try:
                item = self._post(
                    mailbox,
                    users_path(mailbox, "messages"),
                    data=encoded,
                    content_type="text/plain",
                ).json()
                return _draft_of(item)
            except (errors.GraphConnectionError, errors.ServiceUnavailable) as exc:
                last = exc
            drafts = [c for c in self._copies(mailbox, message_id) if c.get("isDraft")]
            if drafts:
                return _draft_of(drafts[0])
            if not message_id or last.status == 503:  # no check possible / refused
                break
        raise last

    # --- step 2: the send -----------------------------------------------------------

    def send_draft(self, mailbox, draft):
        """Send a complete draft exactly once: after a lost or ambiguous answer, the
        draft's state decides whether to send again."""
        last = None
        for _attempt in range(self.send_attempts):
            try:
                self._post(
                    mailbox,
                    users_path(mailbox, "messages", draft.id, "send"),
                    sending=True,
                )
                return SentMail(
                    draft.id,
                    draft.internet_message_id,
                    conversation_id=draft.conversation_id,
                )
            except (
                errors.GraphConnectionError,
                errors.ServiceUnavailable,
                errors.Throttled,
            ) as exc:
                last = exc
            state, item = self.draft_state(mailbox, draft.id)
            if state != "draft":
                _logger.info("send of %s: answer lost, but it went", draft.id)
                found = (item or {}).get("internetMessageId")
                return SentMail(
                    draft.id,
                    found or draft.internet_message_id,
                    conversation_id=(item or {}).get("conversationId")
                    or draft.conversation_id,
                )
            if last.status in (429, 503):  # refused, and its retries are spent
                break
        raise last

    def draft_state(self, mailbox, message_id):
        """("draft" | "sent" | "gone", item or None) for a message id. "gone": no
        such item, which for a draft we made means it is in transit or was sent
        and its copy not yet filed (or a person deleted it)."""
        url = self.client.url(
            f"{users_path(mailbox, 'messages', message_id)}?$select={STATE_SELECT}"
        )
        try:
            item = self._get(mailbox, url)
        except errors.ItemNotFound:
            return "gone", None
        return ("draft" if item.get("isDraft") else "sent"), item

    # --- resuming -------------------------------------------------------------------

    def _resume_draft(self, mailbox, draft_id, message_id):
        state, item = self.draft_state(mailbox, draft_id)
        if state == "draft":
            return self.send_draft(
                mailbox,
                Draft(
                    draft_id,
                    item.get("internetMessageId") or message_id,
                    item.get("conversationId"),
                ),
            )
        if state == "gone":
            # A recorded draft disappears by being sent (its Sent Items copy can take
            # a while) or by a person deleting it; sending again could deliver twice.
            _logger.warning(
                "draft %s of %s is gone: counted as sent", draft_id, mailbox
            )
            return SentMail(draft_id, message_id, already_sent=True)
        return SentMail(
            draft_id,
            item.get("internetMessageId") or message_id,
            already_sent=True,
            conversation_id=item.get("conversationId"),
        )

    def _resume_by_message_id(self, mailbox, message_id):
        copies = self._copies(mailbox, message_id)
        sent = [c for c in copies if not c.get("isDraft")]
        if sent:
            return SentMail(
                sent[0]["id"],
                sent[0].get("internetMessageId"),
                already_sent=True,
                conversation_id=sent[0].get("conversationId"),
            )
        for draft in copies:  # left by an earlier attempt, maybe half-built
            self._discard_quietly(mailbox, draft["id"])
        return None

    def find_copies(self, mailbox, internet_message_id):
        """Messages of the mailbox (any folder, Drafts and Sent Items included) with
        this internetMessageId: [{"id", "isDraft", "internetMessageId",
        "parentFolderId"}]."""
        return self._copies(mailbox, internet_message_id)

    def _copies(self, mailbox, internet_message_id):
        if not internet_message_id:
            return []
        literal = internet_message_id.replace("'", "''")
        query = urlencode(
            {
                "$filter": f"internetMessageId eq '{literal}'",
                "$select": STATE_SELECT,
            },
            quote_via=quote,
            safe="$,",
        )
        url = self.client.url(f"{users_path(mailbox, 'messages')}?{query}")
        return list(self._get(mailbox, url).get("value") or [])

    def discard_draft(self, mailbox, draft_id):
        """Delete a draft left by an attempt that never finished (failures logged,
        never raised: it is tidying)."""
        self._discard_quietly(mailbox, draft_id)

    def _discard_quietly(self, mailbox, message_id):
        try:
            self.client.request(
                "DELETE",
                self.client.url(users_path(mailbox, "messages", message_id)),
                mailbox=mailbox,
            )
        except errors.GraphError as exc:
            _logger.warning(
                "could not delete draft %s of %s: %s", message_id, mailbox, exc
            )

    # --- requests -------------------------------------------------------------------

    def _post(
        self, mailbox, path, *, json=None, data=None, content_type=None, sending=False
    ):
        """A POST that must not run twice: through the non-repeating session, errors
        mapped to the send-specific exceptions."""
        try:
            return self.client.request(
                "POST",
                self.client.url(path),
                json=json,
                data=data,
                content_type=content_type,
                mailbox=mailbox,
                session=self.session,
            )
        except errors.GraphError as exc:
            mapped = errors.for_send(exc, mailbox, self.client.client_id, sending)
            if mapped is exc:
                raise
            raise mapped from None

    def _get(self, mailbox, url):
        try:
            return self.client.get_json(url, mailbox=mailbox)
        except errors.GraphError as exc:
            mapped = errors.for_send(exc, mailbox, self.client.client_id)
            if mapped is exc:
                raise
            raise mapped from None


def _draft_of(item):
    return Draft(item["id"], item.get("internetMessageId"), item.get("conversationId"))
