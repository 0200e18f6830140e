# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Credentials are write-only in the UI: an administrator enters them, the scanner
uses them, and nothing sends them back to a browser."""

import json

from graph_emulator.pytest_fixtures import self_signed_certificate

from odoo.exceptions import AccessError, ValidationError
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tools import mute_logger

from .common import EmulatorRequestsMixin, MailScannerCase, shared_emulator

SUCCESS = "Microsoft external API configured successfully"
APP = "mail.scanner.azure.app"


def admin_user(env, login):
    return new_test_user(
        env, login=login, groups="base.group_user,base.group_system", lang="en_US"
    )


@tagged("post_install", "-at_install")
class TestWriteOnlySecrets(MailScannerCase):
    def setUp(self):
        super().setUp()
        self.admin = admin_user(self.env, "secret_admin")
        self.app = self.create_app().with_user(self.admin)

    def test_admin_reads_no_secret(self):
        secret = self.graph_app.secret
        self.assertEqual(self.app.read(["client_secret"])[0]["client_secret"], False)
        self.assertNotIn(secret, repr(self.app.read()), "read() of every field")
        self.assertNotIn(
            secret, repr(self.env[APP].with_user(self.admin).search_read())
        )
        self.assertNotIn("client_secret_value", self.app.fields_get())
        with self.assertRaises(AccessError):
            self.app.read(["client_secret_value"])
        with self.assertRaises(AccessError):
            self.env[APP].with_user(self.admin).search(
                [("client_secret_value", "=", secret)]
            )
        self.assertTrue(self.app.client_secret_set, "the form says a secret is set")

    def test_the_scanner_still_uses_the_secret(self):
        action = self.app.action_test_connection()
        self.assertEqual(action["params"]["message"], SUCCESS)

    def test_a_new_value_replaces_the_secret_and_an_empty_one_keeps_it(self):
        new = self.graph_app.add_secret()
        self.app.write({"client_secret": f" {new.value} ", "secret_id": new.secret_id})
        self.assertEqual(self.app.sudo().client_secret_value, new.value)
        self.assertFalse(self.app.client_secret, "not even from the cache")
        self.app.write({"client_secret": False, "name": "Renamed"})
        self.assertEqual(self.app.sudo().client_secret_value, new.value)
        self.assertEqual(
            self.app.action_test_connection()["params"]["message"], SUCCESS
        )

    def test_the_secret_id_is_refused_as_the_value(self):
        with self.assertRaisesRegex(ValidationError, "secret's ID"):
            self.app.write({"client_secret": self.graph_app.secret_id})
        with self.assertRaisesRegex(ValidationError, "Secret ID"):
            self.app.write({"secret_id": "not-a-guid"})

    def test_private_key_is_write_only(self):
        private_key, certificate, _thumbprint = self_signed_certificate()
        tenant = self.emu.add_tenant()
        graph_app = tenant.add_app(secret=None, certificate_pem=certificate)
        app = (
            self.env[APP]
            .with_user(self.admin)
            .create(
                {
                    "tenant_id": tenant.id,
                    "client_id": graph_app.client_id,
                    "credential_kind": "certificate",
                    "certificate_private_key": private_key,
                    "certificate_public": certificate,
                }
            )
        )
        body = private_key.split("-----")[2].strip()[:40]
        self.assertFalse(
            app.read(["certificate_private_key"])[0]["certificate_private_key"]
        )
        self.assertNotIn(body, repr(app.read()))
        with self.assertRaises(AccessError):
            app.read(["certificate_private_key_value"])
        self.assertTrue(app.certificate_key_set)
        self.assertEqual(app.action_test_connection()["params"]["message"], SUCCESS)

    def test_nobody_is_in_the_storage_group(self):
        group = self.env.ref("mail_scanner_oauth2.group_mail_scanner_secret_storage")
        self.assertFalse(group.users, "a member could read every stored secret")


@tagged("post_install", "-at_install")
class TestSecretsOverRpc(EmulatorRequestsMixin, HttpCase):
    """What the browser of an administrator actually receives."""

    def setUp(self):
        super().setUp()
        emu = shared_emulator()
        tenant = emu.add_tenant()
        self.graph_app = tenant.add_app(secret="value~rpc~never~shown")
        self.admin = admin_user(self.env, "rpc_admin")
        self.app = self.env[APP].create(
            {
                "tenant_id": tenant.id,
                "client_id": self.graph_app.client_id,
                "client_secret": self.graph_app.secret,
            }
        )
        self.authenticate("rpc_admin", "rpc_admin")

    def call_kw(self, method, args, kwargs=None):
        """The raw JSON text of a web client call, as the browser receives it."""
        payload = {
            "jsonrpc": "2.0",
            "method": "call",
            "id": 1,
            "params": {
                "model": APP,
                "method": method,
                "args": args,
                "kwargs": kwargs or {},
            },
        }
        response = self.url_open(
            f"/web/dataset/call_kw/{APP}/{method}",
            data=json.dumps(payload),
            headers={"Content-Type": "application/json"},
        )
        self.assertEqual(response.status_code, 200)
        return response.text

    def form_specification(self):
        views = json.loads(self.call_kw("get_views", [[[False, "form"]]]))["result"]
        fields = views["models"][APP]["fields"]
        return {
            name: {} for name in fields if fields[name]["type"] not in ("one2many",)
        }

    @mute_logger("odoo.http")  # the refused read of the storage field
    def test_the_form_never_receives_the_secret(self):
        secret = self.graph_app.secret
        spec = self.form_specification()
        self.assertIn("client_secret", spec, "the form has the input field")
        self.assertNotIn("client_secret_value", spec)
        answers = {
            "web_read": self.call_kw(
                "web_read", [[self.app.id]], {"specification": spec}
            ),
            "read": self.call_kw("read", [[self.app.id]]),
            "read client_secret": self.call_kw(
                "read", [[self.app.id], ["client_secret"]]
            ),
            "read storage": self.call_kw(
                "read", [[self.app.id], ["client_secret_value"]]
            ),
            "search_read": self.call_kw("search_read", [[]]),
            "export_data": self.call_kw(
                "export_data", [[self.app.id], ["client_secret", "name"]]
            ),
        }
        for name, text in answers.items():
            self.assertNotIn(secret, text, name)
        self.assertIn('"client_secret_set": true', answers["web_read"])
        self.assertIn("error", json.loads(answers["read storage"]), "refused")

    def test_saving_a_new_secret_does_not_send_it_back(self):
        new = self.graph_app.add_secret(value="value~new~never~shown")
        answer = self.call_kw(
            "web_save",
            [[self.app.id], {"client_secret": new.value}],
            {"specification": self.form_specification()},
        )
        self.assertNotIn(new.value, answer)
        self.assertIn("result", json.loads(answer))
        self.assertEqual(self.app.sudo().client_secret_value, new.value)
