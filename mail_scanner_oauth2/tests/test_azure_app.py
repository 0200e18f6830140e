# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
import uuid

from graph_emulator.pytest_fixtures import self_signed_certificate

from odoo import SUPERUSER_ID, api
from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .. import texts
from ..graph import errors as graph_errors
from ..sync.health import MailboxHealth
from .common import MailScannerCase

SUCCESS = "Microsoft external API configured successfully"


@tagged("post_install", "-at_install")
class TestAzureApp(MailScannerCase):
    def _check_message(self, app):
        """The message an admin sees after 'Test connection' (the notification on
        success; the form's banner, kept on the app, on failure)."""
        action = app.action_test_connection()
        if action:
            self.assertEqual(action["params"]["message"], app.last_check_message)
        return app.last_check_message

    def test_connection_success(self):
        app = self.create_app()
        self.assertEqual(self._check_message(app), SUCCESS)
        self.assertTrue(app.last_check_ok)

    def test_connection_success_with_mailbox_checks_mailbox(self):
        mailbox = self.create_mailbox()
        self.assertEqual(self._check_message(mailbox.app_id), SUCCESS)
        self.graph_app.allowed_mailboxes = ["someone-else@contoso.example"]
        message = self._check_message(mailbox.app_id)
        self.assertNotEqual(message, SUCCESS)
        self.assertIn(self.mailbox_address, message)
        self.assertFalse(mailbox.app_id.last_check_ok)

    def test_each_identity_error_has_its_own_actionable_message(self):
        wrong_secret = self.create_app(client_secret="not-the-right-value~1234")
        self.graph_app.secret_expired = False
        expired_tenant = self.emu.add_tenant()
        expired = expired_tenant.add_app(secret="expired~value", secret_expired=True)
        expired_app = self.create_app(
            tenant_id=expired_tenant.id,
            client_id=expired.client_id,
            client_secret="expired~value",
        )
        unknown_app = self.create_app(client_id=str(uuid.uuid4()))
        unknown_tenant = self.create_app(tenant_id=str(uuid.uuid4()))
        messages = {
            "wrong secret": self._check_message(wrong_secret),
            "expired": self._check_message(expired_app),
            "unknown app": self._check_message(unknown_app),
            "unknown tenant": self._check_message(unknown_tenant),
        }
        for case, message in messages.items():
            self.assertNotEqual(message, SUCCESS, case)
            self.assertNotIn("not-the-right-value", message, case)
            self.assertNotIn("expired~value", message, case)
            self.assertNotIn(self.graph_app.secret, message, case)
        self.assertEqual(len(set(messages.values())), 4, messages)
        self.assertIn("value", messages["wrong secret"].lower())
        self.assertIn("expired", messages["expired"].lower())
        self.assertIn("tenant", messages["unknown tenant"].lower())
        self.assertIn(unknown_app.client_id, messages["unknown app"])

    def test_missing_role_found_before_any_mailbox_is_named(self):
        """The token's roles say at once what Azure granted."""
        self.graph_app.roles = ["Mail.Read"]
        app = self.create_app()
        message = self._check_message(app)
        self.assertFalse(app.last_check_ok)
        self.assertIn("Mail.ReadWrite", message)
        self.assertIn("Mail.Read", message, "what was granted is named too")

    def test_failed_check_is_kept_after_a_real_request(self):
        """As in a real request, in a transaction of its own: committed unless
        the action raises (then rolled back). The failure must replace the last
        success on the form."""
        values = {
            "tenant_id": self.tenant.id,
            "client_id": self.graph_app.client_id,
            "client_secret": "wrong~value~2",
            "last_check_ok": True,
            "last_check_key": "configured",
        }
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            app_id = env["mail.scanner.azure.app"].create(values).id
        self.addCleanup(self._drop_app, app_id)
        # Settings in this test's own (uncommitted) transaction are invisible to
        # the request's: its app reaches the emulator directly.
        settings = {
            "authority_host": self.emu.url,
            "graph_url": self.emu.graph_url,
            "verify": self.emu.ca_path,
        }
        App = type(self.env["mail.scanner.azure.app"])
        self.patch(App, "_graph_settings", lambda app: settings)
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            try:
                env["mail.scanner.azure.app"].browse(app_id).action_test_connection()
                cr.commit()  # pylint: disable=invalid-commit
            except Exception:  # pylint: disable=broad-except
                cr.rollback()
        with self.registry.cursor() as cr:
            app = api.Environment(cr, SUPERUSER_ID, {})[
                "mail.scanner.azure.app"
            ].browse(app_id)
            self.assertIs(app.last_check_ok, False)
            self.assertIn("Secret ID", app.last_check_message)

    def _drop_app(self, app_id):
        with self.registry.cursor() as cr:
            api.Environment(cr, SUPERUSER_ID, {})["mail.scanner.azure.app"].browse(
                app_id
            ).unlink()

    def test_missing_write_permission(self):
        self.graph_app.roles = ["Mail.Read"]
        with self.assertRaisesRegex(UserError, "Mail.ReadWrite"):
            self.create_mailbox()

    def test_unknown_mailbox(self):
        with self.assertRaises(UserError) as caught:
            self.create_mailbox(address="nobody@contoso.example")
        self.assertIn("nobody@contoso.example", str(caught.exception))

    def test_formats_are_validated(self):
        with self.assertRaisesRegex(ValidationError, "GUID"):
            self.create_app(client_id="my-app")
        with self.assertRaisesRegex(ValidationError, "common"):
            self.create_app(tenant_id="common")
        with self.assertRaisesRegex(ValidationError, "Value"):
            self.create_app(client_secret=str(uuid.uuid4()))
        app = self.create_app(client_id=f"  {self.graph_app.client_id} ")
        self.assertEqual(app.client_id, self.graph_app.client_id)

    def test_certificate_credential(self):
        private_key, certificate, _thumbprint = self_signed_certificate()
        tenant = self.emu.add_tenant()
        graph_app = tenant.add_app(secret=None, certificate_pem=certificate)
        app = self.create_app(
            tenant_id=tenant.id,
            client_id=graph_app.client_id,
            credential_kind="certificate",
            client_secret=False,
            certificate_private_key=private_key,
            certificate_public=certificate,
        )
        self.assertEqual(self._check_message(app), SUCCESS)


@tagged("post_install", "-at_install")
class TestPortuguese(MailScannerCase):
    """Our first customers read Brazilian Portuguese."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.lang"]._activate_lang("pt_BR")
        cls.env["ir.module.module"]._load_module_terms(
            ["mail_scanner_oauth2"], ["pt_BR"], overwrite=True
        )

    def test_success_and_errors_in_portuguese(self):
        app = self.create_app().with_context(lang="pt_BR")
        action = app.action_test_connection()
        self.assertEqual(
            action["params"]["message"], "API Externa Microsoft Configurada com Sucesso"
        )
        wrong = self.create_app(client_secret="wrong~value~1").with_context(
            lang="pt_BR"
        )
        self.assertFalse(wrong.action_test_connection())
        self.assertIn("Valor do segredo", wrong.last_check_message)
        # Azure's menu names as the English portal shows them, then the Portuguese.
        self.assertIn(
            "Certificates & secrets (Certificados e segredos)",
            wrong.last_check_message,
        )

    def test_log_and_alerts_in_the_readers_language(self):
        """The scheduled job runs in English; the log and the alerts are read in
        Portuguese by a Brazilian administrator."""
        mailbox = self.create_mailbox()
        self.deliver(message_id="<same-id@cliente.example>")
        self.sync(mailbox)
        again = self.deliver(message_id="<same-id@cliente.example>", subject="Fwd")
        self.sync(mailbox)
        row = self.row_of(mailbox, again)
        self.assertEqual(row.state, "duplicate")
        self.assertIn(
            "Odoo already had this mail", row.with_context(lang="en_US").reason
        )
        self.assertIn(
            "O Odoo já tinha este e-mail", row.with_context(lang="pt_BR").reason
        )

        admins = MailboxHealth(mailbox).admin_users()
        admins.lang = "pt_BR"
        self.graph_app.secret_expired = True
        self.emu.expire_tokens()
        with mute_logger("odoo.addons.mail_scanner_oauth2.sync.health"):
            for _run in range(3):
                self.run_jobs()
        self.assertEqual(mailbox.state, "error")
        bodies = mailbox.message_ids.mapped("body")
        self.assertTrue(any("Captura de e-mails parada" in b for b in bodies), bodies)
        self.assertFalse(any("Mail Scanner stopped" in b for b in bodies))

    def test_settings_block_label(self):
        view = self.env.ref("mail_scanner_oauth2.res_config_settings_view_form")
        arch = view.with_context(lang="pt_BR").arch
        self.assertIn("Captura de e-mails", arch)
        self.assertIn("Outras configurações", arch)
        self.assertIn("Criar caixa de correio agora", arch)
        self.assertNotIn("Escaner", arch)


@tagged("post_install", "-at_install")
class TestTexts(MailScannerCase):
    def test_every_graph_error_has_its_sentence(self):
        """The client keeps no sentences: each error key is worded on this side."""

        def subclasses(cls):
            for sub in cls.__subclasses__():
                yield sub
                yield from subclasses(sub)

        keys = {graph_errors.GraphError.key} | {
            cls.key for cls in subclasses(graph_errors.GraphError)
        }
        templates = texts._templates(self.env._)
        self.assertFalse(keys - set(templates), "error keys without a sentence")
        for key in keys:
            sentence = texts.render(self.env, key, {"mailbox": "m@x.example"})
            self.assertTrue(sentence.strip() and key not in sentence, key)
