# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The mailbox's side of change notifications: its public address, what its form
shows, and the hooks that keep its subscription in step with the mailbox (started,
stopped, another app, folder or address) and that let notifications decide which
mailboxes a run of the scheduled job scans.

The subscription itself lives in mail_scanner_subscription.py, the endpoint Graph
calls in controllers/notifications.py.
"""

from odoo import api, fields, models

from .. import texts
from .mail_scanner_subscription import NOTIFY_ROUTE

# Mailbox fields whose change may make the subscription wrong.
NOTIFICATION_FIELDS = {
    "account_kind",
    "app_id",
    "address",
    "folder_id",
    "notification_address",
    "state",
}


# The mailbox's change-notification part, kept beside its configuration part while
# the two features settle (one file would pass the size the house allows).
class MailScannerMailbox(models.Model):
    _inherit = "mail.scanner.mailbox"  # pylint: disable=R8180

    notification_address = fields.Char(
        string="Public address",
        help="The https address at which Microsoft Graph reaches this Odoo from the "
        "internet, such as https://odoo.example.com, when it differs from the "
        "web.base.url system parameter (an Odoo behind a reverse proxy). Empty: "
        "web.base.url.",
    )
    notification_state = fields.Selection(
        [
            ("pending", "Being set up"),
            ("live", "Live"),
            ("unavailable", "Polling only: no public address"),
            ("failed", "Polling only: not accepted by Microsoft Graph"),
            ("off", "Off"),
        ],
        string="Change notifications",
        compute="_compute_notification",
    )
    notification_expiration = fields.Datetime(
        string="Notifications until", compute="_compute_notification"
    )
    notification_message = fields.Text(compute="_compute_notification")
    notification_endpoint = fields.Char(
        string="Notification URL",
        compute="_compute_notification",
        help="The address Microsoft Graph calls when mail arrives; it must be "
        "reachable from the internet over https.",
    )

    @api.depends("notification_address", "state", "app_id", "address", "folder_id")
    def _compute_notification(self):
        subs = self.env["mail.scanner.subscription"].sudo()
        if self.ids:
            subs = subs.search([("mailbox_id", "in", self.ids)])
        by_mailbox = {sub.mailbox_id.id: sub for sub in subs}
        for mailbox in self:
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

    def _notification_base_url(self):
        self.ensure_one()
        base = self.notification_address or self.env[
            "ir.config_parameter"
        ].sudo().get_param("web.base.url")
        return (base or "").strip().rstrip("/")

    def _notification_subscriptions(self):
        return self.env["mail.scanner.subscription"].sudo()._of(self)

    # ------------------------------------------------------------- lifecycle
    def write(self, vals):
        result = super().write(vals)
        if NOTIFICATION_FIELDS & set(vals) and not self.env.context.get(
            "mail_scanner_starting"
        ):
            existing = (
                self.env["mail.scanner.subscription"]
                .sudo()
                .search([("mailbox_id", "in", self.ids)])
            )
            # A new public address: ask Graph again at once.
            existing._reconcile(retry="notification_address" in vals)
        return result

    def unlink(self):
        subs = (
            self.env["mail.scanner.subscription"]
            .sudo()
            .search([("mailbox_id", "in", self.ids), ("graph_id", "!=", False)])
        )
        for sub in subs:
            sub._drop()
        return super().unlink()

    def _check_and_start(self):
        result = super()._check_and_start()
        # Scanning starts: the next run of the job subscribes.
        self._notification_subscriptions()._reconcile(retry=True)
        return result

    def _trigger_sync(self):
        # Asked to scan now ("Sync now", a start): a notified mailbox must not
        # wait for its next poll.
        self.env["mail.scanner.subscription"].sudo().search(
            [("mailbox_id", "in", self.ids)]
        )._wake()
        return super()._trigger_sync()

    def action_notifications_retry(self):
        self._notification_subscriptions()._reconcile(retry=True)
        return True

    # -------------------------------------------------------------------- cron
    @api.model
    def _mailboxes_to_sync(self):
        return self.env["mail.scanner.subscription"]._due(super()._mailboxes_to_sync())

    @api.model
    def _cron_sync_mailboxes(self):
        Subscription = self.env["mail.scanner.subscription"].sudo()
        Subscription._cron_maintain()
        done, remaining = super()._cron_sync_mailboxes()
        Subscription._commit()  # a fresh snapshot: marks set during this run
        woken = Subscription._woken_count()
        if woken:
            # Mail was notified while this run went on: run again at once. Odoo
            # runs a job again right away only when it reported work done and
            # work remaining.
            remaining += woken
            self.env["ir.cron"]._notify_progress(done=max(done, 1), remaining=remaining)
        return done, remaining
