# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from .common import MailScannerCase


@tagged("post_install", "-at_install")
class TestSecurity(MailScannerCase):
    def setUp(self):
        super().setUp()
        self.mailbox = self.create_mailbox()
        self.deliver()
        self.sync(self.mailbox)
        self.agent = new_test_user(
            self.env,
            login="scanner_agent",
            groups="base.group_user,helpdesk_mgmt.group_helpdesk_manager",
        )
        self.settings_admin = new_test_user(
            self.env,
            login="scanner_erp_manager",
            groups="base.group_user,base.group_erp_manager",
        )

    def test_non_admins_cannot_read_anything(self):
        for user in (self.agent, self.settings_admin):
            for model in (
                "mail.scanner.azure.app",
                "mail.scanner.mailbox",
                "mail.scanner.message",
                "mail.scanner.folder",
            ):
                with self.assertRaises(AccessError, msg=f"{user.login} {model}"):
                    self.env[model].with_user(user).search([]).read(["id"])

    def test_secret_is_admin_only(self):
        app = self.mailbox.app_id
        fields = app.with_user(self.agent).fields_get()
        self.assertNotIn("client_secret", fields)
        self.assertNotIn("certificate_private_key", fields)
        self.assertEqual(app.sudo().client_secret_value, self.graph_app.secret)

    def test_agent_sees_the_ticket(self):
        ticket = self.ledger(self.mailbox).ticket_id
        self.assertTrue(ticket.with_user(self.agent).read(["name"]))

    def test_menus_are_admin_only(self):
        menu = self.env.ref("mail_scanner_oauth2.mail_scanner_menu_root")
        self.assertNotIn(
            menu.id, self.env["ir.ui.menu"].with_user(self.agent)._visible_menu_ids()
        )

    def test_other_company_cannot_see_the_mailbox(self):
        other_company = self.env["res.company"].create({"name": "Filial"})
        admin = new_test_user(
            self.env,
            login="filial_admin",
            groups="base.group_user,base.group_system",
            company_id=other_company.id,
            company_ids=[(6, 0, other_company.ids)],
        )
        self.assertFalse(self.env["mail.scanner.mailbox"].with_user(admin).search([]))
        self.assertFalse(self.env["mail.scanner.message"].with_user(admin).search([]))
