# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
# Over 400 lines (420) because a model keeps one file (OCA layout); its Graph calls
# are in sync/notifications.py already, what is left is fields, the mailbox's hooks
# and the SQL of the wake-up mark.
"""Microsoft Graph change notifications (webhooks) of one mailbox, seen from Odoo.

A notification only wakes the scanner: its content is never trusted nor imported,
the next delta round of the mailbox does the work (sync/protocol.py). So a forged
notification can at worst cause one extra delta round, and a lost one only delays
mail until the next poll: polling stays the safety net (every minute without
notifications, every HEALTHY_POLL while they are live).

One record per mailbox holds the Graph subscription (id, clientState secret, expiry),
why there is none (no public https address, Graph refused), and the "woken" mark: the
moment a notification asked for a sync that has not started yet. The mark makes a
burst of notifications start one run of the scheduled job, not one per notification.

Graph calls (subscribe, renew, delete) happen in the scheduled job, never in the
notification endpoint: Graph validates the endpoint while it subscribes, and the
endpoint must answer within seconds.
"""

import hmac
import logging

from psycopg2 import errors as pg_errors

from odoo import api, fields, models

from .. import texts
from ..graph.subscriptions import client_state_matches, folder_resource
from ..sync.notifications import (
    HEALTHY_POLL,
    NOTIFY_ROUTE,
    SCANNED_STATES,
    SubscriptionUpkeep,
    address_problem,
)

_logger = logging.getLogger(__name__)

# "1": accept http:// and loopback addresses as notification addresses. Microsoft
# Graph never calls such an address: only for the local Graph emulator (tests, the
# sandbox, benchmarks).
PARAM_ALLOW_LOCAL = "mail_scanner_oauth2.notification_allow_local"
# A mark older than this whose run never started (a lost trigger) is sent again.
WOKEN_STALE_SECONDS = 30
# Mailbox fields whose change may make the subscription wrong.
NOTIFICATION_FIELDS = {
    "account_kind",
    "app_id",
    "address",
    "folder_id",
    "notification_address",
    "state",
}
__all__ = ["HEALTHY_POLL", "PARAM_ALLOW_LOCAL", "address_problem"]


class MailScannerSubscription(models.Model):
    _name = "mail.scanner.subscription"
    _description = "Mail Scanner change notifications"
    _rec_name = "mailbox_id"

    mailbox_id = fields.Many2one(
        "mail.scanner.mailbox", required=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one(related="mailbox_id.company_id", store=True)
    state = fields.Selection(
        [
            ("pending", "Being set up"),
            ("live", "Live"),
            ("unavailable", "Polling only: no public address"),
            ("failed", "Polling only: not accepted by Microsoft Graph"),
            ("off", "Off"),
        ],
        required=True,
        default="pending",
    )
    graph_id = fields.Char(string="Subscription ID", copy=False)
    # The app that created the subscription: only it may renew or delete it.
    app_id = fields.Many2one("mail.scanner.azure.app", ondelete="set null")
    client_state = fields.Char(groups="base.group_system", copy=False)
    resource = fields.Char(help="What Microsoft Graph watches: one folder's messages.")
    notification_url = fields.Char()
    expiration = fields.Datetime()
    error_key = fields.Char()
    error_params = fields.Json()
    next_attempt = fields.Datetime()
    renew_requested = fields.Boolean(
        help="Microsoft Graph asked for a reauthorization (lifecycle event)."
    )
    woken_at = fields.Datetime(
        help="A notification asked for a sync that has not started yet."
    )
    last_notification = fields.Datetime(
        help="When a notification last woke the scanner."
    )
    checked_at = fields.Datetime(
        help="When Microsoft Graph last confirmed that the subscription exists."
    )

    _sql_constraints = [
        ("mailbox_uniq", "unique(mailbox_id)", "One subscription per mailbox.")
    ]

    # ------------------------------------------------------------------ seams
    def _commit(self):
        """Commits one step of the scheduled job. Tests replace this seam."""
        self.env.cr.commit()  # pylint: disable=invalid-commit

    def _rollback(self):
        """Drops a failed step of the scheduled job. Tests replace this seam."""
        self.env.cr.rollback()  # pylint: disable=invalid-commit

    # ------------------------------------------------------------ per mailbox
    @api.model
    def _of(self, mailboxes):
        """The records of these mailboxes, created when missing."""
        existing = self._of_mailboxes(mailboxes)
        missing = mailboxes - existing.mailbox_id
        if missing:
            existing |= self.sudo().create(
                [{"mailbox_id": mailbox.id} for mailbox in missing]
            )
        return existing

    def _wanted(self):
        """(what the subscription of this mailbox must be, or the reason there can
        be none as (key, params))."""
        self.ensure_one()
        mailbox = self.mailbox_id
        base = mailbox._notification_base_url()
        allow_local = (
            self.env["ir.config_parameter"].sudo().get_param(PARAM_ALLOW_LOCAL) == "1"
        )
        if address_problem(base, allow_local):
            return None, ("notification_no_public_address", {"url": base or "-"})
        wanted = {
            "app_id": mailbox.app_id.id,
            "resource": folder_resource(mailbox.address, mailbox._folder_graph_id()),
            "notification_url": base + NOTIFY_ROUTE % mailbox.id,
        }
        return wanted, None

    def _matches(self, wanted):
        return bool(wanted) and (
            self.app_id.id,
            self.resource,
            self.notification_url,
        ) == (wanted["app_id"], wanted["resource"], wanted["notification_url"])

    def _reconcile(self, retry=False):
        """After a change of the mailbox (started, stopped, another app, folder,
        address or public address): drops a subscription that no longer fits and
        lets the scheduled job make the right one. retry: ask Graph again now even
        after a refusal."""
        for sub in self:
            mailbox = sub.mailbox_id
            if mailbox.state not in SCANNED_STATES:
                if sub.graph_id or sub.state != "off":
                    sub._drop()
                continue
            wanted, _problem = sub._wanted()
            changed = False
            if sub.graph_id and not sub._matches(wanted):
                sub._drop()
                changed = True
            if sub.state == "off" or (retry and sub.state != "live"):
                sub.write({"state": "pending", "next_attempt": False})
                changed = True
            if changed:
                mailbox._trigger_sync()

    def _drop(self):
        """Deletes the Graph subscription (when there is one) and forgets it."""
        SubscriptionUpkeep(self).drop()

    # ------------------------------------------------------- scheduled upkeep
    @api.model
    def _maintain_for(self, mailbox):
        """Creates, renews, re-creates or deletes the subscription of one mailbox
        as needed; runs at the start of each run of the mailbox's own job. Never
        raises."""
        sub = self._of(mailbox)
        self._commit()
        self._maintain_safely(sub)

    @api.model
    def _drop_stale(self):
        """Subscriptions of mailboxes no longer scanned (the upkeep job)."""
        stale = self.sudo().search(
            [("graph_id", "!=", False), ("mailbox_id.state", "not in", SCANNED_STATES)]
        )
        for sub in stale:
            self._maintain_safely(sub)

    def _maintain_safely(self, sub):
        address = sub.mailbox_id.address
        try:
            SubscriptionUpkeep(sub).maintain()
        except pg_errors.SerializationFailure:
            # A notification updated this row meanwhile: next run.
            self._rollback()
            _logger.info("Mail Scanner: notifications of %s: next run", address)
        except Exception:  # pylint: disable=broad-except
            self._rollback()
            _logger.exception("Mail Scanner: notifications of %s", address)
        self._commit()

    # ------------------------------------------------------ the mailbox's side
    @api.model
    def _of_mailboxes(self, mailboxes):
        """The existing records of these mailboxes (none are created)."""
        return self.sudo().search([("mailbox_id", "in", mailboxes.ids)])

    @api.model
    def _fill_mailbox_fields(self, mailboxes):
        """What the mailbox form says about its notifications."""
        subs = self._of_mailboxes(mailboxes) if mailboxes.ids else self.sudo()
        by_mailbox = {sub.mailbox_id.id: sub for sub in subs}
        for mailbox in mailboxes:
            sub = by_mailbox.get(mailbox.id)
            base = mailbox._notification_base_url()
            mailbox.notification_endpoint = (
                base and mailbox.id and base + NOTIFY_ROUTE % mailbox.id
            )
            if not sub or mailbox.state == "draft":
                mailbox.notification_state = "off"
                mailbox.notification_expiration = False
                mailbox.notification_message = sub and texts.render(
                    self.env, "notification_off"
                )
                continue
            mailbox.notification_state = sub.state
            mailbox.notification_expiration = sub.state == "live" and sub.expiration
            mailbox.notification_message = sub._message()

    @api.model
    def _mailboxes_written(self, mailboxes, vals):
        """After a change of the mailboxes: subscriptions that may no longer fit
        are dropped, and a new public address asks Graph again at once."""
        if NOTIFICATION_FIELDS & set(vals) and not self.env.context.get(
            "mail_scanner_starting"
        ):
            self._of_mailboxes(mailboxes)._reconcile(
                retry="notification_address" in vals
            )

    @api.model
    def _mailboxes_deleted(self, mailboxes):
        for sub in self._of_mailboxes(mailboxes).filtered("graph_id"):
            sub._drop()

    # ----------------------------------------------------------- the screens
    def _message(self):
        """What the mailbox form says, in the reader's language."""
        self.ensure_one()
        env = self.env
        reason = self.error_key and {"key": self.error_key, "params": self.error_params}
        until = self.expiration and fields.Datetime.to_string(
            fields.Datetime.context_timestamp(self, self.expiration)
        )
        if self.state == "live" and reason:
            params = {"until": until, "reason": reason}
            return texts.render(env, "notification_renewal_failed", params)
        if self.state == "live":
            minutes = int(HEALTHY_POLL.total_seconds() // 60)
            return texts.render(
                env, "notification_live", {"until": until, "minutes": minutes}
            )
        if self.state == "unavailable" and reason:
            return texts.render(env, self.error_key, self.error_params)
        if self.state == "failed" and reason:
            return texts.render(env, "notification_failed", {"reason": reason})
        if self.state == "off":
            return texts.render(env, "notification_off")
        return texts.render(env, "notification_pending")

    # ---------------------------------------------------- waking the scanner
    def _wake(self):
        """Marks these mailboxes as having news: their next run scans them."""
        if self:
            self.env.cr.execute(
                "UPDATE mail_scanner_subscription SET woken_at = now() at time zone "
                "'UTC' WHERE id IN %s",
                (tuple(self.ids),),
            )
            self.invalidate_recordset(["woken_at"])

    def _wake_once(self):
        """Marks the mailbox unless it is marked already; True when this call set the
        mark (the caller then triggers the job). A mark older than
        WOKEN_STALE_SECONDS counts as lost."""
        self.ensure_one()
        self.env.cr.execute(
            """UPDATE mail_scanner_subscription
                  SET woken_at = now() at time zone 'UTC',
                      last_notification = now() at time zone 'UTC'
                WHERE id = %s
                  AND (woken_at IS NULL OR woken_at
                       < now() at time zone 'UTC' - %s * interval '1 second')
            RETURNING id""",
            (self.id, WOKEN_STALE_SECONDS),
        )
        woken = bool(self.env.cr.fetchall())
        self.invalidate_recordset(["woken_at", "last_notification"])
        return woken

    @api.model
    def _due(self, mailboxes):
        """The mailboxes among these that this run scans. Notified mailboxes are
        scanned when woken, when mail is still pending, after a failed run, or
        every HEALTHY_POLL; the others every run. Clears the marks of those it
        returns."""
        subs = self._of_mailboxes(mailboxes)
        now = fields.Datetime.now()
        with_pending = {
            mailbox.id
            for [mailbox] in self.env["mail.scanner.message"]
            .sudo()
            ._read_group(
                [("mailbox_id", "in", mailboxes.ids), ("state", "=", "pending")],
                ["mailbox_id"],
            )
        }
        quiet = subs.filtered(
            lambda s: (
                s.state == "live"
                and s.mailbox_id.state == "running"
                and not s.mailbox_id.failure_streak
                and s.expiration
                and s.expiration > now
                and not s.woken_at
                and s.mailbox_id.last_sync
                and s.mailbox_id.last_sync > now - HEALTHY_POLL
                and s.mailbox_id.id not in with_pending
            )
        ).mailbox_id
        subs.filtered(lambda s: s.mailbox_id not in quiet)._clear_marks()
        return mailboxes - quiet

    def _clear_marks(self):
        marked = self.filtered("woken_at")
        if not marked:
            return
        try:
            # The cron's snapshot may predate a notification that set a mark
            # meanwhile: PostgreSQL then refuses the update. The mark simply
            # stays, and the end of the run sees it and runs again.
            with self.env.cr.savepoint():
                self.env.cr.execute(
                    "UPDATE mail_scanner_subscription SET woken_at = NULL "
                    "WHERE id IN %s",
                    (tuple(marked.ids),),
                    log_exceptions=False,
                )
        except pg_errors.SerializationFailure:
            _logger.debug("Mail Scanner: a notification came meanwhile, run again")
        marked.invalidate_recordset(["woken_at"])
        # Committed at once: a notification must never wait for this row lock.
        self._commit()

    @api.model
    def _still_woken(self, mailbox):
        """True when a notification woke this mailbox and no run scanned it since."""
        self.env.cr.execute(
            "SELECT 1 FROM mail_scanner_subscription WHERE mailbox_id = %s "
            "AND woken_at IS NOT NULL",
            (mailbox.id,),
        )
        return bool(self.env.cr.fetchone())

    # ------------------------------------------------- the endpoint's side
    @api.model
    def _receive(self, mailbox_id, notifications):
        """Acts on notifications POSTed for a mailbox; returns how many were
        accepted. A notification counts only when it names this mailbox's
        subscription and carries its clientState (both compared in constant time);
        the rest is ignored, and the caller answers the same either way."""
        sub = self.sudo().search([("mailbox_id", "=", mailbox_id)], limit=1)
        accepted = [n for n in notifications if sub._authentic(n)]
        if len(accepted) < len(notifications):
            _logger.info(
                "Mail Scanner: ignored %s of %s change notifications for mailbox "
                "%s (unknown subscription or wrong clientState)",
                len(notifications) - len(accepted),
                len(notifications),
                mailbox_id,
            )
        if not accepted:
            return 0
        wake = False
        for notification in accepted:
            if notification.needs_reauthorization:
                sub.renew_requested = True
                wake = True  # runs the job, which renews
            if notification.needs_new_subscription:
                # Graph removed it: the job creates it again, then catches up.
                sub.write(
                    {
                        "state": "pending",
                        "graph_id": False,
                        "client_state": False,
                        "expiration": False,
                    }
                )
            wake = wake or notification.needs_catch_up or not notification.is_lifecycle
        if wake and sub._wake_once():
            # Only this mailbox's job: the others have nothing new.
            sub.mailbox_id._start_job()
        return len(accepted)

    def _authentic(self, notification):
        if not self or not self.graph_id or self.mailbox_id.state not in SCANNED_STATES:
            return False
        same_id = hmac.compare_digest(
            self.graph_id.encode(), notification.subscription_id.encode()
        )
        return client_state_matches(self.client_state, notification.client_state) and (
            same_id
        )
