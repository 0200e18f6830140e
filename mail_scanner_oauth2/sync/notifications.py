# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Keeping a mailbox's Microsoft Graph subscription in step: created when scanning
starts, renewed well before it expires, checked now and then, made again when Graph
lost it, deleted when it no longer fits. Runs in the mailbox's own scheduled job,
never in the notification endpoint (Graph validates the endpoint while it
subscribes, and the endpoint must answer within seconds).

The record (mail.scanner.subscription) keeps the state; this module talks to Graph.
"""

import contextlib
import ipaddress
import logging
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from odoo import fields
from odoo.exceptions import UserError

from .. import texts
from ..graph import errors as graph_errors
from ..graph.subscriptions import MailSubscriptions
from .health import describe_refusal

_logger = logging.getLogger(__name__)

NOTIFY_ROUTE = "/mail_scanner_oauth2/notify/%s"
LIFECYCLE_ROUTE = "/mail_scanner_oauth2/lifecycle/%s"
# Subscriptions to mail live at most 10,080 minutes (7 days); they are renewed when
# less than this is left, i.e. about every four days, so a few failed renewals in a
# row still leave days to notice and fix the cause.
RENEW_BEFORE = timedelta(days=3)
# After Graph refused a subscription, it is asked again this much later.
RETRY_AFTER = timedelta(hours=1)
# While notifications are live a mailbox is still polled this often.
HEALTHY_POLL = timedelta(minutes=15)
# States in which a mailbox is scanned (and may be notified).
SCANNED_STATES = ("running", "error")
# Host names that never reach this Odoo from the internet.
LOCAL_SUFFIXES = (".localhost", ".local", ".localdomain", ".internal", ".lan", ".home")


def address_problem(url, allow_local=False):
    """Why Microsoft Graph could not call `url`, or None when it may: Graph only
    calls https addresses on the internet."""
    parts = urlsplit(url or "")
    host = (parts.hostname or "").lower()
    if not host or parts.scheme not in ("http", "https"):
        return "not a web address"
    if allow_local:
        return None
    if parts.scheme != "https":
        return "not https"
    if host == "localhost" or host.endswith(LOCAL_SUFFIXES) or "." not in host:
        return "a local name"
    with contextlib.suppress(ValueError):
        if not ipaddress.ip_address(host).is_global:
            return "a private address"
    return None


def naive(moment):
    """An aware UTC datetime as Odoo stores it (naive UTC, whole seconds)."""
    return moment and moment.replace(tzinfo=None, microsecond=0)


class SubscriptionUpkeep:
    """The Graph side of one mail.scanner.subscription record."""

    def __init__(self, sub):
        sub.ensure_one()
        self.sub = sub
        self.mailbox = sub.mailbox_id

    def _graph(self, app=None):
        return MailSubscriptions((app or self.mailbox.app_id)._graph_client())

    def maintain(self):
        sub = self.sub
        if self.mailbox.state not in SCANNED_STATES:
            self.drop()
            return
        wanted, problem = sub._wanted()
        if problem:
            if sub.graph_id:
                self.drop()
            self._set_unavailable(problem)
            return
        now = fields.Datetime.now()
        if sub.graph_id and (
            not sub._matches(wanted) or not sub.expiration or sub.expiration <= now
        ):
            self.drop()
        if sub.state == "live":
            due = sub.renew_requested or sub.expiration - now < RENEW_BEFORE
            if due and (not sub.next_attempt or sub.next_attempt <= now):
                self._renew(wanted)
            elif not sub.checked_at or sub.checked_at <= now - HEALTHY_POLL:
                self._check_exists(wanted)
            return
        if sub.state == "failed" and sub.next_attempt and sub.next_attempt > now:
            return
        self._subscribe(wanted)

    def drop(self):
        """Deletes the Graph subscription (when there is one) and forgets it."""
        sub = self.sub
        if sub.graph_id and sub.app_id:
            try:
                self._graph(sub.app_id).delete(
                    sub.graph_id, mailbox=self.mailbox.address
                )
            except (graph_errors.GraphError, UserError) as exc:
                # It expires by itself within days; its notifications are ignored.
                _logger.warning(
                    "Mail Scanner: could not delete the change-notification "
                    "subscription of %s (%s); it expires by itself",
                    self.mailbox.address,
                    type(exc).__name__,
                )
        sub.write(
            {
                "state": "off",
                "graph_id": False,
                "client_state": False,
                "expiration": False,
                "error_key": False,
                "error_params": False,
                "renew_requested": False,
                "next_attempt": False,
            }
        )

    def _set_unavailable(self, problem):
        sub = self.sub
        key, params = problem
        if (sub.state, sub.error_key, sub.error_params) != ("unavailable", key, params):
            sub.write(
                {"state": "unavailable", "error_key": key, "error_params": params}
            )

    def _subscribe(self, wanted):
        sub, mailbox = self.sub, self.mailbox
        # Graph calls back while it subscribes: no transaction (and no snapshot a
        # notification could make stale) stays open across the call.
        sub._commit()
        secret = secrets.token_urlsafe(48)  # 64 characters; Graph allows 128
        lifecycle_url = mailbox._notification_base_url() + LIFECYCLE_ROUTE % mailbox.id
        try:
            created = self._graph().subscribe(
                mailbox.address,
                mailbox._folder_graph_id(),
                wanted["notification_url"],
                secret,
                lifecycle_url=lifecycle_url,
            )
        except (graph_errors.GraphError, UserError) as exc:
            self._refused(exc, "failed")
            return
        sub.write(
            dict(
                wanted,
                state="live",
                graph_id=created.id,
                client_state=secret,
                expiration=naive(created.expiration),
                error_key=False,
                error_params=False,
                next_attempt=False,
                renew_requested=False,
                checked_at=fields.Datetime.now(),
            )
        )
        _logger.info(
            "Mail Scanner: change notifications live for %s until %s",
            mailbox.address,
            sub.expiration,
        )
        # Mail that arrived before the subscription existed: a delta round now.
        sub._wake()

    def _renew(self, wanted):
        sub = self.sub
        sub._commit()  # see _subscribe
        try:
            renewed = self._graph(sub.app_id).renew(
                sub.graph_id, mailbox=self.mailbox.address
            )
        except graph_errors.SubscriptionNotFound:
            self.drop()
            self._subscribe(wanted)
            return
        except (graph_errors.GraphError, UserError) as exc:
            self._refused(exc, "live")
            return
        sub.write(
            {
                "expiration": naive(renewed.expiration),
                "checked_at": fields.Datetime.now(),
                "renew_requested": False,
                "error_key": False,
                "error_params": False,
                "next_attempt": False,
            }
        )

    def _check_exists(self, wanted):
        """A subscription Graph lost without telling (no subscriptionRemoved
        event reached Odoo) would leave the mailbox polled only every
        HEALTHY_POLL: asked at that pace, and made again when it is gone."""
        sub = self.sub
        sub._commit()  # see _subscribe
        try:
            found = self._graph(sub.app_id).get(
                sub.graph_id, mailbox=self.mailbox.address
            )
        except (graph_errors.GraphError, UserError):
            found = True  # cannot tell now: asked again next time
        if found is None:
            _logger.info(
                "Mail Scanner: the change-notification subscription of %s is gone; "
                "making a new one",
                self.mailbox.address,
            )
            self.drop()
            self._subscribe(wanted)
            return
        sub.checked_at = fields.Datetime.now()

    def _refused(self, exc, state):
        sub = self.sub
        key, params = describe_refusal(exc)
        _logger.warning(
            "Mail Scanner: change notifications of %s: %s",
            self.mailbox.address,
            texts.render(sub.env(context={"lang": "en_US"}), key, params),
        )
        sub.write(
            {
                "state": state,
                "error_key": key,
                "error_params": params,
                "next_attempt": fields.Datetime.now() + RETRY_AFTER,
            }
        )
