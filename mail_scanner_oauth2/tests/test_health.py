# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from datetime import timedelta

from odoo import fields
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from ..sync.health import ALERT_SUBTYPE, MailboxHealth
from .common import MailScannerCase

MAILBOX_LOGGER = "odoo.addons.mail_scanner_oauth2.sync.health"


@tagged("post_install", "-at_install")
class TestHealth(MailScannerCase):
    def setUp(self):
        super().setUp()
        self.admin2 = new_test_user(
            self.env, login="second_admin", groups="base.group_user,base.group_system"
        )
        self.mailbox = self.create_mailbox()
        self.warning = self.env.ref("mail.mail_activity_data_warning")

    def alerts(self):
        return self.mailbox.activity_ids.filtered(
            lambda a: a.activity_type_id == self.warning
        )

    def messages_containing(self, text):
        return self.mailbox.message_ids.filtered(lambda m: text in (m.body or ""))

    def test_error_then_recovery_alerts_exactly_once_each_way(self):
        self.graph_app.secret_expired = True
        self.emu.expire_tokens()
        with mute_logger(MAILBOX_LOGGER):
            for _run in range(3):
                self.run_jobs()
        self.assertEqual(self.mailbox.state, "error")
        alerts = self.alerts()
        admins = MailboxHealth(self.mailbox).admin_users()
        self.assertIn(self.admin2, admins)
        self.assertEqual(len(alerts), len(admins), "one activity per administrator")
        self.assertEqual(alerts.user_id, admins)
        self.assertIn("expired", alerts[0].note.lower())
        stopped = self.messages_containing("Mail Scanner stopped")
        self.assertEqual(len(stopped), 1)
        self.assertEqual(stopped.subtype_id, self.env.ref(ALERT_SUBTYPE))
        self.assertNotIn(self.graph_app.secret, self.mailbox.last_error)

        self.graph_app.secret_expired = False
        for _run in range(3):
            self.run_jobs()
        self.assertEqual(self.mailbox.state, "running")
        self.assertFalse(self.alerts(), "the alerts are closed on recovery")
        self.assertEqual(len(self.messages_containing("works again")), 1)
        self.assertEqual(len(self.messages_containing("Mail Scanner stopped")), 1)

    def test_passing_errors_alert_only_when_repeated(self):
        self.env["ir.config_parameter"].sudo().set_param(
            "mail_scanner_oauth2.max_attempts", "1"
        )
        self.emu.faults.script(["503"] * 20, path_contains="/delta")
        with mute_logger(MAILBOX_LOGGER):
            for run in range(1, 5):
                self.mailbox._sync_once()
                self.assertEqual(self.mailbox.state, "running", f"run {run}")
                self.assertEqual(self.mailbox.failure_streak, run)
            self.assertFalse(self.alerts())
            self.mailbox._sync_once()
        self.assertEqual(self.mailbox.state, "error")
        self.assertTrue(self.alerts())
        self.assertEqual(len(self.messages_containing("5 times in a row")), 1)
        self.emu.faults.clear()
        self.mailbox._sync_once()
        self.assertEqual(self.mailbox.state, "running")
        self.assertEqual(self.mailbox.failure_streak, 0)

    def test_secret_expiry_warned_once_two_weeks_ahead(self):
        today = fields.Date.context_today(self.mailbox)
        self.mailbox.app_id.secret_expiration = today + timedelta(days=30)
        self.run_jobs()
        self.assertFalse(self.alerts(), "a month ahead is too early")
        self.mailbox.app_id.secret_expiration = today + timedelta(days=10)
        for _run in range(3):
            self.run_jobs()
        self.assertEqual(
            len(self.alerts()), len(MailboxHealth(self.mailbox).admin_users())
        )
        self.assertEqual(len(self.messages_containing("Client secret expires")), 1)
        self.assertEqual(self.mailbox.state, "running", "a warning, not an error")
        # A renewed secret with a new date is warned about again when its time comes.
        self.mailbox.app_id.secret_expiration = today + timedelta(days=5)
        self.run_jobs()
        self.assertEqual(len(self.messages_containing("Client secret expires")), 2)

    def test_secret_expiry_shown_on_the_mailbox(self):
        self.mailbox.app_id.secret_expiration = "2027-01-31"
        self.assertEqual(str(self.mailbox.secret_expiration), "2027-01-31")

    def test_an_administrator_can_mute_the_alerts(self):
        """The alerts are a subtype the administrators follow and may switch off."""
        alert = self.env.ref(ALERT_SUBTYPE)
        admin2_following = self.mailbox.message_follower_ids.filtered(
            lambda f: f.partner_id == self.admin2.partner_id
        )
        self.assertIn(alert, admin2_following.subtype_ids, "followed by default")
        admin2_following.subtype_ids -= alert
        self.graph_app.secret_expired = True
        self.emu.expire_tokens()
        with mute_logger(MAILBOX_LOGGER):
            self.run_jobs()
        self.assertEqual(self.mailbox.state, "error")
        self.assertTrue(self.alerts())
        self.assertNotIn(self.admin2, self.alerts().user_id, "muted: no to-do")
        stopped = self.messages_containing("Mail Scanner stopped")
        notified = stopped.notification_ids.res_partner_id
        self.assertNotIn(self.admin2.partner_id, notified, "muted: no notification")
