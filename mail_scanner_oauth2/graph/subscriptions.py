"""Graph change notifications (webhooks) for one mailbox folder. Plain Python, no Odoo.

Two halves:

- ``MailSubscriptions(client)``: subscribe (create) / renew / get / delete /
  reauthorize a subscription through the GraphMailClient's request machinery (token,
  retries, error mapping). A failed call raises a GraphError quoting Graph's words.
- Pure helpers for the notification endpoint: ``validation_token`` (the handshake),
  ``parse_notifications`` (size-limited, shape-checked JSON), ``client_state_matches``
  (constant-time comparison) and ``accepted_notifications`` (both at once).

A notification only says "something changed in this folder": the caller answers 202 at
once and lets delta sync fetch the mail; the clientState is the only proof that a POST
comes from Graph, so it must be a long random secret per subscription.
"""

import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit, urlunsplit

from . import errors
from .items import format_datetime, parse_datetime

# Outlook messages without resource data: at most 10,080 minutes (under 7 days).
MAX_EXPIRATION_MINUTES = 10080
# Asked for a little under the maximum, so a client clock ahead of Graph's does not
# turn a renewal into "Subscription expiration can only be 10080 minutes ...".
EXPIRATION_MARGIN_MINUTES = 10
MAX_CLIENT_STATE_LENGTH = 128  # the subscription resource's documented limit
LIFECYCLE_EVENTS = frozenset(
    ("reauthorizationRequired", "subscriptionRemoved", "missed")
)
# An endpoint reads at most this much of a POST; Graph's notifications without
# resource data are ~700 bytes each, so this leaves room for large batches.
MAX_NOTIFICATION_BYTES = 1_000_000
MAX_NOTIFICATIONS = 1000
MAX_VALIDATION_TOKEN_LENGTH = 1024
_FRACTION = re.compile(r"(\.\d{1,6})\d+")
_MESSAGE_IN_RESOURCE = re.compile(r"/messages/([^/?]+)$", re.I)


@dataclass(frozen=True)
class Subscription:
    id: str
    resource: str
    change_type: str
    notification_url: str
    lifecycle_url: str = None
    expiration: datetime = None
    application_id: str = None
    creator_id: str = None
    client_state: str = field(default=None, repr=False)

    @classmethod
    def from_graph(cls, item):
        return cls(
            id=item["id"],
            resource=item.get("resource"),
            change_type=item.get("changeType"),
            notification_url=item.get("notificationUrl"),
            lifecycle_url=item.get("lifecycleNotificationUrl"),
            expiration=parse_graph_datetime(item.get("expirationDateTime")),
            application_id=item.get("applicationId"),
            creator_id=item.get("creatorId"),
            client_state=item.get("clientState"),
        )


def parse_graph_datetime(value):
    """Graph's DateTimeOffset (seven fractional digits) -> aware UTC datetime."""
    if not value:
        return None
    return parse_datetime(_FRACTION.sub(r"\1", value, count=1))


def expiration_in(minutes=None, now=None):
    """The expiration to ask for: `minutes` from now, never over the maximum (minus a
    safety margin for clock skew), at least one minute."""
    ceiling = MAX_EXPIRATION_MINUTES - EXPIRATION_MARGIN_MINUTES
    minutes = ceiling if minutes is None else max(1, min(int(minutes), ceiling))
    return (now or datetime.now(timezone.utc)) + timedelta(minutes=minutes)


def folder_resource(mailbox, folder_id):
    """The resource string of the messages of one folder (an id or a well-known name
    like "inbox"); OData string keys double their quotes."""
    folder = str(folder_id).replace("'", "''")
    return f"users/{mailbox}/mailFolders('{folder}')/messages"


def _without_query(url):
    """A URL safe to show: no query string, no user info (either may hold a secret)."""
    parts = urlsplit(url or "")
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class MailSubscriptions:
    """Subscription calls for a GraphMailClient (which keeps token and retries)."""

    def __init__(self, client):
        self.client = client

    def subscribe(
        self,
        mailbox,
        folder_id,
        notification_url,
        client_state,
        lifecycle_url=None,
        minutes=None,
        change_type="created",
        now=None,
    ):
        """Subscribe to changes of the messages in one folder. Graph validates the
        URL(s) before answering, so this takes up to 10 s per URL."""
        check_client_state(client_state)
        body = {
            "changeType": change_type,
            "notificationUrl": notification_url,
            "resource": folder_resource(mailbox, folder_id),
            "expirationDateTime": format_datetime(expiration_in(minutes, now)),
            "clientState": client_state,
        }
        if lifecycle_url:
            body["lifecycleNotificationUrl"] = lifecycle_url
        item = self._call(
            "create", "POST", "/subscriptions", body, mailbox, notification_url
        )
        return Subscription.from_graph(item)

    def renew(self, subscription_id, minutes=None, now=None, mailbox=None):
        """Push the expiration out (Graph validates the notification URL again)."""
        body = {"expirationDateTime": format_datetime(expiration_in(minutes, now))}
        item = self._call("renew", "PATCH", self._path(subscription_id), body, mailbox)
        return Subscription.from_graph(item)

    def get(self, subscription_id, mailbox=None):
        """The subscription, or None when it no longer exists."""
        try:
            item = self._call("read", "GET", self._path(subscription_id), None, mailbox)
        except errors.SubscriptionNotFound:
            return None
        return Subscription.from_graph(item)

    def delete(self, subscription_id, mailbox=None):
        """True when deleted now, False when it was already gone (expired, removed)."""
        try:
            self._call("delete", "DELETE", self._path(subscription_id), None, mailbox)
        except errors.SubscriptionNotFound:
            return False
        return True

    def reauthorize(self, subscription_id, mailbox=None):
        """Answer a reauthorizationRequired lifecycle event without renewing."""
        self._call(
            "reauthorize",
            "POST",
            self._path(subscription_id) + "/reauthorize",
            None,
            mailbox,
        )

    @staticmethod
    def _path(subscription_id):
        if not re.fullmatch(r"[A-Za-z0-9-]{1,64}", str(subscription_id or "")):
            raise ValueError("a subscription id is a GUID")
        return f"/subscriptions/{subscription_id}"

    def _call(self, action, method, path, body, mailbox, endpoint=None):
        try:
            return self.client.request_json(
                method, self.client.url(path), json=body, mailbox=mailbox
            )
        except errors.GraphError as exc:
            mapped = errors.subscription_error(exc, action, _without_query(endpoint))
            if mapped is exc:
                raise
            raise mapped from exc


# --- the notification endpoint's side -------------------------------------------------


def check_client_state(client_state):
    """A clientState must be a non-empty string Graph accepts (at most 128 chars)."""
    if not isinstance(client_state, str) or not client_state:
        raise ValueError("clientState must be a non-empty secret string")
    if len(client_state) > MAX_CLIENT_STATE_LENGTH:
        raise ValueError(
            f"clientState must be at most {MAX_CLIENT_STATE_LENGTH} characters"
        )


def validation_token(query):
    """The token of a validation request (already URL-decoded by the web framework),
    or None when the request is not one. Answer it with 200, text/plain, the token."""
    token = query.get("validationToken") if isinstance(query, Mapping) else None
    if token is None:
        return None
    if not isinstance(token, str) or len(token) > MAX_VALIDATION_TOKEN_LENGTH:
        raise errors.InvalidNotification("validationToken is too long")
    if not token.isprintable():
        raise errors.InvalidNotification("validationToken has control characters")
    return token


@dataclass(frozen=True)
class Notification:
    """One entry of a POST: a change notification or a lifecycle notification."""

    subscription_id: str
    client_state: str = field(default=None, repr=False)
    change_type: str = None
    lifecycle_event: str = None
    resource: str = None
    message_id: str = None
    tenant_id: str = None
    subscription_expiration: datetime = None

    @property
    def is_lifecycle(self):
        return self.lifecycle_event is not None

    @property
    def needs_new_subscription(self):
        """subscriptionRemoved: create a subscription again, then catch up."""
        return self.lifecycle_event == "subscriptionRemoved"

    @property
    def needs_reauthorization(self):
        """reauthorizationRequired: reauthorize or renew, or delivery pauses."""
        return self.lifecycle_event == "reauthorizationRequired"

    @property
    def needs_catch_up(self):
        """Changes may have been lost: run a delta sync of the folder."""
        return self.lifecycle_event in ("missed", "subscriptionRemoved")

    @classmethod
    def from_graph(cls, item):
        if not isinstance(item, dict):
            raise errors.InvalidNotification("a notification is not a JSON object")
        subscription_id = item.get("subscriptionId")
        if not isinstance(subscription_id, str) or not subscription_id:
            raise errors.InvalidNotification("a notification has no subscriptionId")
        lifecycle_event = _text(item.get("lifecycleEvent"))
        change_type = _text(item.get("changeType"))
        if (lifecycle_event is None) == (change_type is None):
            raise errors.InvalidNotification(
                "a notification needs exactly one of changeType and lifecycleEvent"
            )
        return cls(
            subscription_id=subscription_id,
            client_state=_text(item.get("clientState")),
            change_type=change_type,
            lifecycle_event=lifecycle_event,
            resource=_text(item.get("resource")),
            message_id=_message_id(item),
            tenant_id=_text(item.get("tenantId")),
            subscription_expiration=_expiration(item),
        )


def _text(value):
    return value if isinstance(value, str) and value else None


def _message_id(item):
    data = item.get("resourceData")
    if isinstance(data, dict) and _text(data.get("id")):
        return data["id"]
    match = _MESSAGE_IN_RESOURCE.search(_text(item.get("resource")) or "")
    return match.group(1) if match else None


def _expiration(item):
    try:
        return parse_graph_datetime(_text(item.get("subscriptionExpirationDateTime")))
    except ValueError:
        return None


def parse_notifications(
    body, max_bytes=MAX_NOTIFICATION_BYTES, max_items=MAX_NOTIFICATIONS
):
    """The notifications of a POST body (bytes or str), checked for size and shape.
    Raises errors.InvalidNotification; never trusts anything: check the clientState."""
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body or b"")
    if len(raw) > max_bytes:
        raise errors.InvalidNotification(
            f"notification body of {len(raw)} bytes is over the {max_bytes} limit"
        )
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise errors.InvalidNotification("notification body is not JSON") from None
    values = data.get("value") if isinstance(data, dict) else None
    if not isinstance(values, list) or not values:
        raise errors.InvalidNotification("notification body has no 'value' list")
    if len(values) > max_items:
        raise errors.InvalidNotification(
            f"{len(values)} notifications in one POST is over the {max_items} limit"
        )
    return [Notification.from_graph(item) for item in values]


def client_state_matches(expected, received):
    """Constant-time comparison (a timing side channel must not reveal the secret).
    An empty or missing expected secret never matches."""
    if not isinstance(expected, str) or not expected:
        return False
    received = received if isinstance(received, str) else ""
    return hmac.compare_digest(expected.encode("utf-8"), received.encode("utf-8"))


def subscription_ids(notifications):
    """The distinct subscription ids, in order of first appearance."""
    return list(dict.fromkeys(n.subscription_id for n in notifications))


def accepted_notifications(body, secrets, **limits):
    """(accepted, rejected) notifications of a POST body.

    secrets: {subscription id: clientState} of our live subscriptions (or a callable
    id -> clientState | None). A notification is accepted only when its subscription is
    ours and its clientState matches; everything else is rejected (a forgery, or a
    subscription we forgot: the caller may delete it)."""
    lookup = secrets if callable(secrets) else secrets.get
    accepted, rejected = [], []
    for notification in parse_notifications(body, **limits):
        expected = lookup(notification.subscription_id)
        if client_state_matches(expected, notification.client_state):
            accepted.append(notification)
        else:
            rejected.append(notification)
    return accepted, rejected
