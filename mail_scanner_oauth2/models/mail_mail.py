# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Odoo's mail queue, when the session is a scanned mailbox's (sync/outgoing.py).

``mail.mail._send`` is Odoo's own, called once per mail so that the session knows
which mail its messages belong to (the send ledger's key). A mail Graph cannot take
now (throttled, unavailable) is put back as it was before Odoo marked it failed:
outgoing, in the queue, its notifications untouched, with the reason it waits; Odoo's
job then runs again once Graph's Retry-After has passed. (Not a savepoint rolled
back: the send ledger's rows, committed on their own, must stay even where that
"own" transaction is the same one, as in tests.) Other sessions (SMTP) go through
Odoo unchanged.
"""

from datetime import timedelta

from odoo import fields, models

from ..sync.outgoing import DEFAULT_RETRY_SECONDS, GraphSession, SendDeferred

MAIL_QUEUE_CRON = "mail.ir_cron_mail_scheduler_action"


class MailMail(models.Model):
    _inherit = "mail.mail"

    def _send(
        self,
        auto_commit=False,
        raise_exception=False,
        smtp_session=None,
        alias_domain_id=False,
        mail_server=False,
        post_send_callback=None,
    ):
        if not isinstance(smtp_session, GraphSession):
            return super()._send(
                auto_commit=auto_commit,
                raise_exception=raise_exception,
                smtp_session=smtp_session,
                alias_domain_id=alias_domain_id,
                mail_server=mail_server,
                post_send_callback=post_send_callback,
            )
        for mail in self:
            smtp_session.begin(mail)
            before = mail._mail_scanner_notification_states()
            try:
                super(MailMail, mail)._send(
                    auto_commit=False,
                    raise_exception=raise_exception,
                    smtp_session=smtp_session,
                    alias_domain_id=alias_domain_id,
                    mail_server=mail_server,
                )
            except SendDeferred as exc:
                # Graph will refuse the next ones too: they all stay queued.
                mail._mail_scanner_wait(exc, before)
                if auto_commit is True:
                    self.env.cr.commit()  # pylint: disable=invalid-commit
                break
            if smtp_session.refusal is not None:
                mail._mail_scanner_refused(smtp_session.refusal)
            if auto_commit is True:
                if post_send_callback:
                    post_send_callback([mail.id])
                self.env.cr.commit()  # pylint: disable=invalid-commit
        return True

    def _mail_scanner_notifications(self):
        return (
            self.env["mail.notification"]
            .sudo()
            .search(
                [
                    ("notification_type", "=", "email"),
                    ("mail_mail_id", "in", self.ids),
                ]
            )
        )

    def _mail_scanner_notification_states(self):
        """What _send overwrites on the notifications before it sends."""
        fields_ = ["notification_status", "failure_type", "failure_reason"]
        return {
            values["id"]: {name: values[name] for name in fields_}
            for values in self._mail_scanner_notifications().read(fields_)
        }

    def _mail_scanner_wait(self, exc, notification_states):
        """Puts the mail back in the queue as it was, says why, and asks the queue's
        job to run again once Graph's Retry-After has passed."""
        self.write({"state": "outgoing", "failure_reason": str(exc)})
        Notification = self.env["mail.notification"].sudo()
        for notification_id, values in notification_states.items():
            Notification.browse(notification_id).write(values)
        seconds = exc.retry_after or DEFAULT_RETRY_SECONDS
        cron = self.env.ref(MAIL_QUEUE_CRON, raise_if_not_found=False)
        if cron:
            cron.sudo()._trigger(fields.Datetime.now() + timedelta(seconds=seconds))

    def _mail_scanner_refused(self, refusal):
        """Odoo records any exception as an 'unknown' failure: say which kind it is
        (an invalid From, a mail server problem), on the mail and on its
        notifications, so that the chatter shows it as Odoo shows such failures."""
        if self.state != "exception":
            return
        self.failure_type = refusal.failure_type
        self.env["mail.notification"].sudo().search(
            [
                ("mail_mail_id", "=", self.id),
                ("notification_status", "=", "exception"),
            ]
        ).write({"failure_type": refusal.failure_type})
