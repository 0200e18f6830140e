# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from psycopg2 import IntegrityError

from odoo.exceptions import UserError
from odoo.tests import Form, tagged
from odoo.tools import mute_logger

from .common import MailScannerCase


@tagged("post_install", "-at_install")
class TestMailbox(MailScannerCase):
    def _cron_triggers(self):
        cron = self.env.ref("mail_scanner_oauth2.ir_cron_mail_scanner_sync")
        return self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])

    def test_saving_a_complete_mailbox_checks_and_starts(self):
        triggers = self._cron_triggers()
        mailbox = self.env["mail.scanner.mailbox"].create(
            {
                "account_kind": "microsoft",
                "app_id": self.create_app().id,
                "address": " Support@Contoso.example ",
            }
        )
        self.assertEqual(mailbox.state, "running")
        self.assertEqual(mailbox.address, self.mailbox_address)
        self.assertTrue(mailbox.cutoff_date, "old mail must not become tickets")
        self.assertEqual(mailbox.folder_id.name, "Inbox")
        self.assertEqual(
            mailbox.folder_id.graph_id, self.graph_mailbox.folder("inbox").id
        )
        self.assertGreater(self._cron_triggers(), triggers)

    def test_incomplete_mailbox_stays_draft(self):
        mailbox = self.env["mail.scanner.mailbox"].create({"account_kind": "microsoft"})
        self.assertEqual(mailbox.state, "draft")
        with self.assertRaises(UserError):
            mailbox.action_check_and_start()

    def test_form_flow(self):
        app = self.create_app()
        with Form(self.env["mail.scanner.mailbox"]) as form:
            form.account_kind = "microsoft"
            form.app_id = app
            form.address = self.mailbox_address
        mailbox = form.record
        self.assertEqual(mailbox.state, "running")

    def test_changing_the_app_checks_again(self):
        mailbox = self.create_mailbox()
        bad_app = self.create_app(client_secret="wrong~value~0000")
        with self.assertRaisesRegex(UserError, "(?i)value"):
            mailbox.app_id = bad_app

    def test_one_mailbox_per_company(self):
        self.create_mailbox()
        other = self.tenant.add_mailbox("sales@contoso.example")
        with self.assertRaises(IntegrityError), mute_logger("odoo.sql_db"):
            self.create_mailbox(address=other.address)

    def test_sync_now_triggers_the_cron(self):
        mailbox = self.create_mailbox()
        triggers = self._cron_triggers()
        self.deliver()
        mailbox.action_sync_now()
        self.assertEqual(self._cron_triggers(), triggers + 1)
        self.assertFalse(self.ledger(mailbox), "Sync now must not scan in the request")

    def test_folders_are_stored_by_id_and_created_from_odoo(self):
        self.graph_mailbox.add_folder("Tickets", parent="inbox")
        mailbox = self.create_mailbox()
        paths = (
            mailbox.env["mail.scanner.folder"]
            .search([("mailbox_id", "=", mailbox.id)])
            .mapped("path")
        )
        self.assertIn("Inbox/Tickets", paths)
        mailbox.write({"after_import": "move", "new_folder_name": "Imported"})
        mailbox.action_create_folder()
        created = self.graph_mailbox.folder("Imported")
        self.assertEqual(mailbox.move_folder_id.graph_id, created.id)
        # Creating it again finds the existing folder instead of failing.
        mailbox.new_folder_name = "imported"
        mailbox.action_create_folder()
        self.assertEqual(mailbox.move_folder_id.graph_id, created.id)

    def test_settings_form_links_to_the_mailbox(self):
        mailbox = self.create_mailbox()
        form = Form(self.env["res.config.settings"])
        self.assertEqual(form.mail_scanner_mailbox_id, mailbox)

    def test_settings_block(self):
        settings = self.env["res.config.settings"].create({})
        self.assertFalse(settings.mail_scanner_mailbox_id)
        action = settings.action_mail_scanner_create_mailbox()
        self.assertEqual(action["res_model"], "mail.scanner.mailbox")
        mailbox = self.create_mailbox()
        settings = self.env["res.config.settings"].create({})
        self.assertEqual(settings.mail_scanner_mailbox_id, mailbox)
        self.assertEqual(
            settings.action_mail_scanner_open_mailbox()["res_id"], mailbox.id
        )

    def test_edit_app_from_a_new_mailbox(self):
        mailbox = self.env["mail.scanner.mailbox"].create({"account_kind": "microsoft"})
        action = mailbox.action_open_app()
        self.assertEqual(action["res_model"], "mail.scanner.azure.app")
        self.assertTrue(action["name"], "a dialog without a name is titled 'Odoo'")
        self.assertNotIn("res_id", action, "no app yet: the form creates one")
        app = (
            self.env["mail.scanner.azure.app"]
            .with_context(**action["context"])
            .create(
                {
                    "tenant_id": self.tenant.id,
                    "client_id": self.graph_app.client_id,
                    "client_secret": self.graph_app.secret,
                }
            )
        )
        self.assertEqual(mailbox.app_id, app)
        self.assertEqual(mailbox.state, "draft", "no address yet")
        mailbox.address = self.mailbox_address
        self.assertEqual(mailbox.state, "running")
        self.assertEqual(mailbox.action_open_app()["res_id"], app.id)
