# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""What the administrators hear about a mailbox, and when.

One alert when it stops (a configuration error at once, a passing error such as
throttling only after several runs in a row), one notice when it works again, one
warning before the client secret expires, a note about mail too large to import.
Never one per run. Alerts are messages of the "Mail Scanner alert" subtype, which
the company's administrators follow by default and can mute; each administrator who
follows it also gets a to-do activity while the mailbox is stopped.
"""

import logging

from markupsafe import Markup

from odoo import fields
from odoo.exceptions import UserError

from .. import texts

_logger = logging.getLogger(__name__)

# Runs in a row that fail for a passing reason before the admins are alerted.
FAILURE_STREAK_ALERT = 5
# How long before the client secret expires the administrators are warned.
SECRET_WARNING_DAYS = 14
ALERT_SUBTYPE = "mail_scanner_oauth2.mt_mailbox_alert"


def describe_refusal(exc):
    """(key, params) of a refusal shown to the administrator: a UserError (a
    setting missing) in its own words, as ``texts.describe`` says the rest."""
    if isinstance(exc, UserError):
        return "user_error", {"text": exc.args[0]}
    return texts.describe(exc)


class MailboxHealth:
    def __init__(self, mailbox):
        self.mailbox = mailbox
        self.env = mailbox.env

    # --------------------------------------------------------------- outcomes
    def success(self):
        mailbox = self.mailbox
        recovered = mailbox.state == "error"
        if (
            mailbox.state != "running"
            or mailbox.last_error_key
            or mailbox.failure_streak
        ):
            mailbox.write(
                {
                    "state": "running",
                    "last_error_key": False,
                    "last_error_params": False,
                    "failure_streak": 0,
                }
            )
        if recovered:
            self.recovered()

    def failure(self, exc):
        """Keeps the error on the mailbox; configuration errors stop it."""
        mailbox = self.mailbox
        key, params = texts.describe(exc)
        params = dict(self.context_params(), **params)
        _logger.warning(
            "Mail Scanner: mailbox %s: %s",
            mailbox.address,
            texts.render(
                self.env(context=dict(self.env.context, lang="en_US")), key, params
            ),
        )
        streak = mailbox.failure_streak + 1
        vals = {
            "last_error_key": key,
            "last_error_params": params,
            "last_error_date": fields.Datetime.now(),
            "failure_streak": streak,
        }
        transient = getattr(exc, "transient", False)
        if not transient or streak >= FAILURE_STREAK_ALERT:
            vals["state"] = "error"
        newly_in_error = vals.get("state") == "error" and mailbox.state != "error"
        mailbox.write(vals)
        if newly_in_error:
            self._alert_stopped(key, params, repeated=transient)

    def context_params(self):
        """What every sentence about this mailbox may mention."""
        mailbox = self.mailbox
        return {
            "mailbox": mailbox.address,
            "address": mailbox.address,
            "app": mailbox.app_id.client_id,
            "tenant": mailbox.app_id.tenant_id,
        }

    # ----------------------------------------------------------------- alerts
    def admin_users(self):
        mailbox = self.mailbox
        return (
            self.env.ref("base.group_system")
            .users.filtered(
                lambda u: (
                    u.active
                    and not u.share
                    and mailbox.company_id in u.company_ids
                    and not u._is_superuser()
                )
            )
            .sorted("id")
        )

    def subscribe_admins(self):
        """The company's administrators follow the mailbox (alerts included)."""
        self.mailbox.message_subscribe(partner_ids=self.admin_users().partner_id.ids)

    def _listening_admins(self):
        """Administrators who follow the alerts (those who muted them are left out)."""
        subtype = self.env.ref(ALERT_SUBTYPE)
        followers = self.mailbox.message_follower_ids.filtered(
            lambda f: subtype in f.subtype_ids
        )
        return self.admin_users().filtered(
            lambda u: u.partner_id in followers.partner_id
        )

    def _text(self, key, params, lang=None):
        env = self.env(context=dict(self.env.context, lang=lang)) if lang else self.env
        return texts.render(env, key, params)

    def _post(self, render_body):
        """One alert message, worded in the language of the first administrator."""
        admins = self.admin_users()
        lang = admins[:1].lang or self.env.lang
        self.mailbox.message_post(
            body=render_body(lang), subtype_xmlid=ALERT_SUBTYPE, message_type="comment"
        )

    def _alert(self, summary_key, note_key, params, date_deadline=None):
        """The alert message and one to-do activity per listening administrator,
        each in the administrator's language."""

        def body(lang):
            return Markup("<p><b>%s</b></p><p>%s</p>") % (
                self._text(summary_key, params, lang),
                self._text(note_key, params, lang),
            )

        self._post(body)
        for user in self._listening_admins():
            self.mailbox.activity_schedule(
                "mail.mail_activity_data_warning",
                date_deadline=date_deadline,
                summary=self._text(summary_key, params, user.lang),
                note=self._text(note_key, params, user.lang),
                user_id=user.id,
            )

    def _alert_stopped(self, key, params, repeated=False):
        params = dict(params, address=self.mailbox.address)
        if repeated:
            params = dict(
                params,
                count=self.mailbox.failure_streak,
                reason={"key": key, "params": params},
            )
            key = "alert_repeated"
        self._alert("alert_stopped", key, params)

    def recovered(self):
        mailbox = self.mailbox
        # The alerts go away silently: the message below is the one notice.
        warning = self.env.ref("mail.mail_activity_data_warning")
        mailbox.activity_ids.filtered(lambda a: a.activity_type_id == warning).unlink()
        params = {"address": mailbox.address}
        self._post(lambda lang: self._text("alert_recovered", params, lang))

    def warn_secret_expiry(self):
        """Warns once, SECRET_WARNING_DAYS ahead, that the client secret expires."""
        mailbox = self.mailbox
        expiry = mailbox.secret_expiration
        if not expiry or mailbox.secret_warned_for == expiry:
            return
        days_left = (expiry - fields.Date.context_today(mailbox)).days
        if days_left > SECRET_WARNING_DAYS:
            return
        params = {"address": mailbox.address, "date": fields.Date.to_string(expiry)}
        self._alert(
            "alert_secret_expiry",
            "alert_secret_expiry_note",
            params,
            date_deadline=expiry,
        )
        mailbox.secret_warned_for = expiry

    def large_mail(self, rows):
        def body(lang):
            items = Markup("").join(
                Markup("<li>%s — %s (%s)</li>")
                % (
                    row.sender,
                    row.subject,
                    self._text(row.reason_key, row.reason_params, lang),
                )
                for row in rows
            )
            return Markup("<p>%s</p><ul>%s</ul>") % (
                self._text("alert_large_mail", {}, lang),
                items,
            )

        self._post(body)

    # ----------------------------------------------------------------- sending
    # Sending through the mailbox (sync/outgoing.py) has its own account of
    # failures: a refused send never stops the scanning, and the scanning's
    # successes say nothing about sending.
    def admin_env(self):
        """The environment in the first administrator's language: reasons stored
        for everyone (a failed mail's) are worded in it."""
        lang = self.admin_users()[:1].lang or self.env.lang
        return self.env(context=dict(self.env.context, lang=lang))

    def send_failed(self, key, params):
        """Graph refused a mail for a reason that concerns the whole mailbox (a
        missing permission, a From it may not use, the mailbox itself): the
        administrators are alerted at the first refusal, once, until a mail goes
        out again."""
        mailbox = self.mailbox
        alert = not mailbox.send_alerted
        # Written before the alert is posted: the alert's own mail to the
        # administrators may leave through this mailbox and be refused as well.
        mailbox.write(
            {
                "send_failure_count": mailbox.send_failure_count + 1,
                "send_error_key": key,
                "send_error_params": params,
                "send_alerted": True,
            }
        )
        if alert:
            self._alert(
                "alert_send_stopped", key, dict(params, address=mailbox.address)
            )

    def send_succeeded(self):
        mailbox = self.mailbox
        if not (mailbox.send_failure_count or mailbox.send_alerted):
            return
        alerted = mailbox.send_alerted
        mailbox.write(
            {
                "send_failure_count": 0,
                "send_error_key": False,
                "send_error_params": False,
                "send_alerted": False,
            }
        )
        if not alerted:
            return
        params = {"address": mailbox.address}
        summaries = {
            self._text("alert_send_stopped", params, user.lang)
            for user in self.admin_users()
        }
        warning = self.env.ref("mail.mail_activity_data_warning")
        mailbox.activity_ids.filtered(
            lambda a: a.activity_type_id == warning and a.summary in summaries
        ).unlink()
        self._post(lambda lang: self._text("alert_send_recovered", params, lang))
