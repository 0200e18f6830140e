# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Two companies in one database: one address is scanned once, and one company's
log never points at the other company's records."""

from datetime import datetime, timedelta

from graph_emulator.samples import make_eml

from odoo.exceptions import ValidationError
from odoo.tests import new_test_user, tagged

from .common import MailScannerCase


@tagged("post_install", "-at_install")
class TestTwoCompanies(MailScannerCase):
    def setUp(self):
        super().setUp()
        self.mailbox = self.create_mailbox()
        self.filial = self.env["res.company"].create({"name": "Filial Norte"})
        self.filial_admin = new_test_user(
            self.env,
            login="filial_scanner_admin",
            groups="base.group_user,base.group_system",
            company_id=self.filial.id,
            company_ids=[(6, 0, self.filial.ids)],
        )

    def filial_mailbox(self, address):
        """The Filial's own app and mailbox, created by its administrator."""
        env = self.env(
            user=self.filial_admin, context={"allowed_company_ids": self.filial.ids}
        )
        app = env["mail.scanner.azure.app"].create(
            {
                "tenant_id": self.tenant.id,
                "client_id": self.graph_app.client_id,
                "client_secret": self.graph_app.secret,
            }
        )
        return env["mail.scanner.mailbox"].create(
            {
                "account_kind": "microsoft",
                "app_id": app.id,
                "address": address,
                "cutoff_date": datetime.now() - timedelta(minutes=1),
            }
        )

    def test_the_same_address_on_two_companies_is_refused(self):
        message = "already scanned by another mailbox.*remove it"
        with self.assertRaisesRegex(ValidationError, message) as caught:
            self.filial_mailbox(" SUPPORT@contoso.example ")
        self.assertNotIn(self.env.company.name, str(caught.exception))
        other = self.tenant.add_mailbox("filial@contoso.example")
        mailbox = self.filial_mailbox(other.address)
        self.assertEqual(mailbox.state, "running")
        with self.assertRaisesRegex(ValidationError, message):
            mailbox.write({"address": self.mailbox_address})
        self.assertEqual(mailbox.address, other.address)

    def test_an_archived_mailbox_keeps_its_address(self):
        self.mailbox.action_stop()
        self.mailbox.active = False
        with self.assertRaisesRegex(ValidationError, "already scanned"):
            self.filial_mailbox(self.mailbox_address)

    def test_the_log_never_links_a_record_of_another_company(self):
        """A mail sent to both companies' addresses becomes the first company's
        ticket; the second company's log says so without pointing at it."""
        other = self.tenant.add_mailbox("filial@contoso.example")
        filial_mailbox = self.filial_mailbox(other.address)
        message_id = "<same-mail-for-both@customer.example>"
        self.deliver(
            subject="Contrato confidencial da matriz",
            to=[self.mailbox_address, other.address],
            message_id=message_id,
        )
        self.sync(self.mailbox)
        ticket = self.ledger(self.mailbox).ticket_id
        self.assertEqual(ticket.company_id, self.env.company)

        other.deliver(
            make_eml(
                "Contrato confidencial da matriz",
                "Ana Souza <ana@customer.example>",
                to=[self.mailbox_address, other.address],
                body="Hello, the printer is on fire.",
                message_id=message_id,
            )
        )
        self.sync(filial_mailbox.sudo())
        row = self.ledger(filial_mailbox)
        self.assertEqual(row.state, "duplicate")
        self.assertEqual(row.reason_key, "duplicate_elsewhere")
        self.assertFalse(row.ticket_id or row.mail_message_id or row.record_id)
        seen_by_filial = row.with_user(self.filial_admin).with_context(
            allowed_company_ids=self.filial.ids
        )
        self.assertFalse(seen_by_filial.ticket_id)
        self.assertNotIn("confidencial", seen_by_filial.reason or "")
        self.assertNotIn(ticket.name, seen_by_filial.reason)
