# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The specification's path in a real browser (headless Chromium), in English and in
Brazilian Portuguese, against the Graph emulator running in this process (the Odoo
server of an HttpCase runs in the test process too).

The tours (static/tests/tours/mail_scanner_setup_tour.js) ask for a screenshot at
each step; they are written to MSO_SCREENSHOTS_DIR (``scripts/test --screenshots``
points it at docs/images, whose PNGs the README shows), else to a folder of the
system's temporary directory.
"""

import base64
import json
import logging
import os
import tempfile
from datetime import datetime, timezone

from graph_emulator.samples import make_eml

from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tests.common import ChromeBrowser

from .common import (
    EmulatorRequestsMixin,
    patch_commits,
    point_at_emulator,
    shared_emulator,
)

_logger = logging.getLogger(__name__)

SCREENSHOT_SIGNAL = "mso-screenshot:"
SCREENSHOTS = 10  # per language
# Must match RUNS in static/tests/tours/mail_scanner_setup_tour.js.
TOUR_RUNS = {
    "en_US": {
        "key": "en",
        "tenant": "5b7e4c1a-0d2f-4e8b-9a61-3c5d7e9f0e01",
        "client": "8c2d6f3b-1e4a-4b7c-8d90-2a4b6c8d0e01",
        "secret": "tour~en~Value~5Kq8",
        "address": "support@contoso.example",
        "subject": "The label printer prints blank labels",
        "body": "Hello,\n\nsince this morning the label printer in the warehouse "
        "prints blank labels.\n\nAna Souza\nContoso Logistics",
        "customer": "Ana Souza <ana.souza@customer.example>",
        "auto_reply": "Automatic reply: I am out of the office",
    },
    "pt_BR": {
        "key": "pt_BR",
        "tenant": "5b7e4c1a-0d2f-4e8b-9a61-3c5d7e9f0e02",
        "client": "8c2d6f3b-1e4a-4b7c-8d90-2a4b6c8d0e02",
        "secret": "tour~pt~Valor~7Rw2",
        "address": "suporte@contoso.example",
        "subject": "Impressora de etiquetas imprime em branco",
        "body": "Bom dia,\n\ndesde hoje cedo a impressora de etiquetas do depósito "
        "imprime tudo em branco.\n\nAna Souza\nContoso Logística",
        "customer": "Ana Souza <ana.souza@cliente.example>",
        "auto_reply": "Resposta automática: estou fora do escritório",
    },
}
# Terms shown along the path (menus, settings, helpdesk views, this addon).
PATH_MODULES = [
    "base",
    "base_setup",
    "web",
    "mail",
    "helpdesk_mgmt",
    "mail_scanner_oauth2",
]


def screenshot_folder():
    folder = os.environ.get("MSO_SCREENSHOTS_DIR") or os.path.join(
        tempfile.gettempdir(), "mail_scanner_screenshots"
    )
    os.makedirs(folder, exist_ok=True)
    return folder


def taking_screenshots(handle_console, folder):
    """Wraps ChromeBrowser._handle_console: a console line `mso-screenshot:<name>`
    from the tour has the page captured into `folder`/<name>.png, then tells the
    tour (window.msoScreenshots) that it may go on."""

    def handler(browser, **params):
        # The Runtime.consoleAPICalled event: type, args, stackTrace, ...
        text = (params.get("args") or [{}])[0].get("value")
        if (
            params.get("type") == "log"
            and isinstance(text, str)
            and text.startswith(SCREENSHOT_SIGNAL)
        ):
            capture(browser, text[len(SCREENSHOT_SIGNAL) :], folder)
            return None
        return handle_console(browser, **params)

    return handler


def capture(browser, name, folder):
    # Called on the browser's websocket thread: asynchronous requests only.
    future = browser._websocket_send(
        "Page.captureScreenshot", params={"format": "png"}, with_future=True
    )

    def save(done):
        try:
            data = base64.b64decode(done.result()["data"])
            with open(os.path.join(folder, f"{name}.png"), "wb") as png:
                png.write(data)
        except Exception:  # pylint: disable=broad-except
            _logger.exception("Screenshot %s could not be saved", name)
            return  # the tour times out waiting for it, and says which
        expression = (
            "(window.msoScreenshots = window.msoScreenshots || [])"
            f".push({json.dumps(name)})"
        )
        browser._websocket_send("Runtime.evaluate", params={"expression": expression})

    future.add_done_callback(save)


@tagged("post_install", "-at_install")
class TestSetupTour(EmulatorRequestsMixin, HttpCase):
    browser_size = "1366x860"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.emu = shared_emulator()
        point_at_emulator(cls.env, cls.emu)
        cls.folder = screenshot_folder()

    def setUp(self):
        super().setUp()
        patch_commits(self)
        self.patch(
            ChromeBrowser,
            "_handle_console",
            taking_screenshots(ChromeBrowser._handle_console, self.folder),
        )

    def walk_the_path(self, lang):
        run = TOUR_RUNS[lang]
        tenant = self.emu.add_tenant(tenant_id=run["tenant"])
        tenant.add_app(client_id=run["client"], secret=run["secret"])
        graph_mailbox = tenant.add_mailbox(run["address"])
        admin = new_test_user(
            self.env,
            login=f"tour_admin_{run['key']}",
            name="Marina Costa",
            groups="base.group_user,base.group_system,"
            "helpdesk_mgmt.group_helpdesk_manager",
            lang=lang,
            tz="America/Sao_Paulo",
        )

        for stale in self.screenshots_of(run["key"]):
            os.remove(os.path.join(self.folder, stale))
        self.start_tour("/odoo", f"mail_scanner_setup_{run['key']}", login=admin.login)
        mailbox = self.env["mail.scanner.mailbox"].search(
            [("address", "=", run["address"])]
        )
        self.assertEqual(mailbox.state, "running")
        self.assertTrue(mailbox.app_id.last_check_ok)
        self.assertEqual(mailbox.app_id.sudo().client_secret_value, run["secret"])

        # A customer writes (and her mail arrives twice, as when it is also sent
        # to an alias), her out-of-office answers; the scheduled job (run as its
        # "Run Manually" does) makes one ticket and logs the rest with a reason.
        mail = make_eml(
            run["subject"], run["customer"], to=run["address"], body=run["body"]
        )
        out_of_office = make_eml(
            run["auto_reply"],
            run["customer"],
            to=run["address"],
            body="...",
            headers={"Auto-Submitted": "auto-replied"},
        )
        for raw in (mail, out_of_office, mail):
            graph_mailbox.deliver(raw, received=datetime.now(timezone.utc))
        self.env.ref(
            "mail_scanner_oauth2.ir_cron_mail_scanner_sync"
        ).method_direct_trigger()
        ticket = self.env["helpdesk.ticket"].search([("name", "=", run["subject"])])
        self.assertEqual(len(ticket), 1)
        states = mailbox.message_ids_scanned.mapped("state")
        self.assertEqual(sorted(states), ["done", "duplicate", "ignored"])

        self.start_tour("/odoo", f"mail_scanner_ticket_{run['key']}", login=admin.login)
        taken = self.screenshots_of(run["key"])
        self.assertEqual(len(taken), SCREENSHOTS, f"every step of {lang} pictured")

    def screenshots_of(self, key):
        return [n for n in os.listdir(self.folder) if n.startswith(f"{key}-")]

    def test_a_supervisor_adds_a_field_and_tries_the_rules(self):
        """From the mailbox's screen: 'Create a ticket field', 'Try the rules on a
        mail', and the field on the ticket form, filled from the next mail."""
        tenant = self.emu.add_tenant()
        graph_app = tenant.add_app(secret="supervisor~Value~9Tx3")
        graph_mailbox = tenant.add_mailbox("support@contoso.example")
        app = self.env["mail.scanner.azure.app"].create(
            {
                "tenant_id": tenant.id,
                "client_id": graph_app.client_id,
                "client_secret": graph_app.secret,
            }
        )
        mailbox = self.env["mail.scanner.mailbox"].create(
            {
                "account_kind": "microsoft",
                "app_id": app.id,
                "address": graph_mailbox.address,
            }
        )
        billing = self.env["helpdesk.ticket.team"].create({"name": "Billing"})
        self.env["mail.scanner.rule"].create(
            {
                "name": "Billing rule",
                "mailbox_id": mailbox.id,
                "team_id": billing.id,
                "condition_ids": [
                    (
                        0,
                        0,
                        {"field": "subject", "operator": "contains", "value": "boleto"},
                    )
                ],
            }
        )
        admin = new_test_user(
            self.env,
            login="tour_supervisor",
            name="Marina Costa",
            groups="base.group_user,base.group_system,"
            "helpdesk_mgmt.group_helpdesk_manager",
            lang="en_US",
        )
        for stale in self.screenshots_of("supervisor-en"):
            os.remove(os.path.join(self.folder, stale))
        self.start_tour(
            "/odoo/action-mail_scanner_oauth2.mail_scanner_mailbox_action",
            "mail_scanner_supervisor_en",
            login=admin.login,
        )
        field = self.env["ir.model.fields"]._get("helpdesk.ticket", "x_order_number")
        self.assertEqual((field.state, field.ttype), ("manual", "char"))

        graph_mailbox.deliver(
            make_eml(
                "Boleto vencido",
                "Ana Souza <ana.souza@customer.example>",
                to=graph_mailbox.address,
                body="Good morning,\nOrder number: PO-4471\nthe invoice is overdue.",
            ),
            received=datetime.now(timezone.utc),
        )
        self.env.ref(
            "mail_scanner_oauth2.ir_cron_mail_scanner_sync"
        ).method_direct_trigger()
        ticket = self.env["helpdesk.ticket"].search([("name", "=", "Boleto vencido")])
        self.assertEqual((ticket.team_id, ticket.x_order_number), (billing, "PO-4471"))
        self.start_tour("/odoo", "mail_scanner_supervisor_ticket_en", login=admin.login)
        self.assertEqual(len(self.screenshots_of("supervisor-en")), 4)

    def test_setup_path_in_english(self):
        self.walk_the_path("en_US")

    def test_setup_path_in_portuguese(self):
        self.env["res.lang"]._activate_lang("pt_BR")
        self.env["ir.module.module"]._load_module_terms(
            PATH_MODULES, ["pt_BR"], overwrite=True
        )
        self.walk_the_path("pt_BR")
