# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Shared set-up of the Odoo tier: a real Graph emulator over TLS on 127.0.0.1.

The emulator is the repository's ``emulator/`` package (``mso-graph-emulator``), a
declared test requirement: ``pip install -r test-requirements.txt``.
"""

import atexit
import faulthandler
import os
import subprocess
import sys
import tempfile
import threading
import uuid
from datetime import datetime, timedelta, timezone

from graph_emulator import Emulator
from graph_emulator.samples import make_eml

from odoo import SUPERUSER_ID, api
from odoo.tests import TransactionCase
from odoo.tests.common import _super_send
from odoo.tools import config

from ..models.mail_scanner_azure_app import (
    PARAM_AUTHORITY_HOST,
    PARAM_CA_BUNDLE,
    PARAM_GRAPH_URL,
)
from ..sync.protocol import MailboxSync
from ..sync.scheduling import PARAM_ENGINE

UPKEEP_JOB = "mail_scanner_oauth2.ir_cron_mail_scanner_sync"

_EMULATOR = None
_EMULATOR_LOCK = threading.Lock()


def company_with_mailbox(env, emu, address, company_name, **mailbox_vals):
    """A company with a tenant, an app and a mailbox of its own, in the emulator
    and in ``env`` (the test's environment, or a committed cursor's when other
    connections must see them): (its mailbox, the emulator's app, the emulator's
    mailbox)."""
    tenant = emu.add_tenant()
    graph_app = tenant.add_app(secret=f"value~{uuid.uuid4().hex}")
    graph_mailbox = tenant.add_mailbox(address)
    company = env["res.company"].create({"name": company_name})
    app = env["mail.scanner.azure.app"].create(
        {
            "tenant_id": tenant.id,
            "client_id": graph_app.client_id,
            "client_secret": graph_app.secret,
            "company_id": company.id,
        }
    )
    values = {
        "account_kind": "microsoft",
        "app_id": app.id,
        "company_id": company.id,
        "address": address,
        # Mail delivered by the tests is "now": start a minute earlier.
        "cutoff_date": datetime.now() - timedelta(minutes=1),
    }
    values.update(mailbox_vals)
    mailbox = env["mail.scanner.mailbox"].create(values)
    return mailbox, graph_app, graph_mailbox


def run_odoo_shells(case, script, envs):
    """Runs ``script`` in one separate Odoo process per entry of ``envs`` (its
    environment variables, or None), all at once; asserts that each ended cleanly
    and returns their outputs."""
    with tempfile.NamedTemporaryFile("w", suffix=".py") as file:
        file.write(script)
        file.flush()
        workers = [
            start_odoo_shell(case.env.cr.dbname, file.name, env=env) for env in envs
        ]
        outputs = [
            worker.communicate(timeout=300)[0].decode(errors="replace")
            for worker in workers
        ]
    for worker, output in zip(workers, outputs, strict=True):
        case.assertEqual(worker.returncode, 0, output)
        case.assertNotIn("Traceback", output, output)
    return outputs


def start_odoo_shell(dbname, script_path, env=None):
    """A separate Odoo process (a second worker) running the script at
    ``script_path`` in ``odoo shell`` on the test database. The script is read from
    a file, so several processes start at once (with a pipe, the second would wait
    for its script until the first is done)."""
    with open(script_path, "rb") as stdin:
        return subprocess.Popen(
            _odoo_shell_command(dbname),
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
        )


def _odoo_shell_command(dbname):
    command = [
        sys.executable,
        "-m",
        "odoo",
        "shell",
        "-d",
        dbname,
        f"--addons-path={config['addons_path']}",
        "--no-http",
        "--max-cron-threads=0",
        "--log-level=warn",
    ]
    for option in ("db_host", "db_port", "db_user", "db_password"):
        if config.get(option):
            command.append(f"--{option.replace('_', '-')}={config[option]}")
    return command


def shared_emulator():
    """One emulator per test process; each test gets its own tenant."""
    global _EMULATOR
    with _EMULATOR_LOCK:
        if _EMULATOR is None:
            _EMULATOR = Emulator()
            _EMULATOR.start()
            atexit.register(_EMULATOR.stop)
    return _EMULATOR


def use_cron_workers(env):
    """Odoo's own cron workers run the mailboxes' jobs, also where the
    mail_scanner_oauth2_queue addon is installed (its own tests switch it on).
    Returns the previous setting."""
    params = env["ir.config_parameter"].sudo()
    previous = params.get_param(PARAM_ENGINE)
    params.set_param(PARAM_ENGINE, "cron")
    return previous


def point_at_emulator(env, emu):
    params = env["ir.config_parameter"].sudo()
    params.set_param(PARAM_AUTHORITY_HOST, emu.url)
    params.set_param(PARAM_GRAPH_URL, emu.graph_url)
    params.set_param(PARAM_CA_BUNDLE, emu.ca_path)


# No test may hang the run: past this many seconds the process prints every thread's
# stack (the test's own frame names it) and exits.
TEST_TIME_LIMIT = int(os.environ.get("MSO_TEST_TIME_LIMIT", "300"))


def patch_commits(case):
    """Replaces the protocol's and the retention job's commit seams in a test."""
    case.patch(MailboxSync, "commit", lambda sync: sync.env.flush_all())
    case.patch(MailboxSync, "rollback", lambda sync: None)
    Mailbox = type(case.env["mail.scanner.mailbox"])
    case.patch(Mailbox, "_purge_commit", lambda mailbox: mailbox.env.flush_all())
    Subscription = type(case.env["mail.scanner.subscription"])
    case.patch(Subscription, "_rollback", lambda subscription: None)
    case.patch(
        Subscription, "_commit", lambda subscription: subscription.env.flush_all()
    )


class EmulatorRequestsMixin:
    """Lets the client's (connect, read) timeouts reach the local emulator.

    Odoo's test guard compares the timeout with a number and fails on a tuple;
    requests to 127.0.0.1 are allowed by that guard anyway.
    """

    @classmethod
    def _request_handler(cls, s, r, /, **kw):
        if isinstance(kw.get("timeout"), tuple) and r.url.startswith(
            ("https://127.0.0.1:", "https://localhost:")
        ):
            return _super_send(s, r, **kw)
        return super()._request_handler(s, r, **kw)

    def setUp(self):
        super().setUp()
        faulthandler.dump_traceback_later(TEST_TIME_LIMIT, exit=True)
        self.addCleanup(faulthandler.cancel_dump_traceback_later)


class CommittedMailboxesMixin(EmulatorRequestsMixin):
    """For tests whose records are committed, because other connections or Odoo
    processes must see them: the emulator's settings and cron workers as the
    engine, committed mailboxes, and all of it undone after the test."""

    def setUp(self):
        super().setUp()
        self.emu = shared_emulator()
        self.mailbox_ids = []
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            point_at_emulator(env, self.emu)
            self.previous_engine = use_cron_workers(env)
        self.addCleanup(self._drop_committed_data)

    def committed_company_with_mailbox(self, address, company_name):
        """``company_with_mailbox`` committed: (mailbox id, company id, the
        emulator's app, the emulator's mailbox)."""
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            mailbox, graph_app, graph_mailbox = company_with_mailbox(
                env, self.emu, address, company_name
            )
            self.mailbox_ids.append(mailbox.id)
            return mailbox.id, mailbox.company_id.id, graph_app, graph_mailbox

    def _drop_committed_data(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            mailboxes = env["mail.scanner.mailbox"].browse(self.mailbox_ids)
            env["mail.scanner.message"].search(
                [("mailbox_id", "in", mailboxes.ids)]
            ).ticket_id.unlink()
            apps = mailboxes.app_id
            mailboxes.unlink()
            apps.unlink()
            env["ir.config_parameter"].set_param(PARAM_ENGINE, self.previous_engine)


class MailScannerCase(EmulatorRequestsMixin, TransactionCase):
    """A tenant, an app, a mailbox in the emulator, and the Odoo side of them."""

    mailbox_address = "support@contoso.example"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.emu = shared_emulator()
        point_at_emulator(cls.env, cls.emu)
        use_cron_workers(cls.env)
        cls.team = cls.env["helpdesk.ticket.team"].create({"name": "Scanner Support"})

    def setUp(self):
        super().setUp()
        self.emu.faults.clear()
        self.tenant = self.emu.add_tenant()
        self.graph_app = self.tenant.add_app(secret=f"value~{uuid.uuid4().hex}")
        self.graph_mailbox = self.tenant.add_mailbox(self.mailbox_address)
        self.addCleanup(self.emu.faults.clear)
        # The test transaction must stay open: commits become flushes, the
        # per-message savepoints still roll back what fails.
        patch_commits(self)

    # ---------------------------------------------------------------- helpers
    def create_app(self, **vals):
        values = {
            "name": "Contoso",
            "tenant_id": self.tenant.id,
            "client_id": self.graph_app.client_id,
            "client_secret": self.graph_app.secret,
        }
        values.update(vals)
        return self.env["mail.scanner.azure.app"].create(values)

    def create_mailbox(self, **vals):
        values = {
            "account_kind": "microsoft",
            "app_id": self.create_app().id,
            "address": self.mailbox_address,
            "team_id": self.team.id,
            # Mail delivered by the tests is "now": start a minute earlier.
            "cutoff_date": datetime.now() - timedelta(minutes=1),
        }
        values.update(vals)
        return self.env["mail.scanner.mailbox"].create(values)

    def mailbox_of_another_company(self, address, company_name):
        """A second company with a tenant, an app and a mailbox of its own: (its
        mailbox, the emulator's mailbox)."""
        mailbox, _graph_app, graph_mailbox = company_with_mailbox(
            self.env,
            self.emu,
            address,
            company_name,
            team_id=False,  # the test's team belongs to the first company
        )
        return mailbox, graph_mailbox

    def deliver(
        self,
        subject="Printer on fire",
        sender="Ana Souza <ana@customer.example>",
        body="Hello, the printer is on fire.",
        folder="inbox",
        received=None,
        **kwargs,
    ):
        kwargs.setdefault("to", self.mailbox_address)
        eml = make_eml(subject, sender, body=body, **kwargs)
        return self.graph_mailbox.deliver(
            eml, folder=folder, received=received or datetime.now(timezone.utc)
        )

    def deliver_raw(self, raw, folder="inbox", **kwargs):
        return self.graph_mailbox.deliver(raw, folder=folder, **kwargs)

    def ledger(self, mailbox):
        return self.env["mail.scanner.message"].search(
            [("mailbox_id", "=", mailbox.id)]
        )

    def row_of(self, mailbox, graph_message):
        return self.env["mail.scanner.message"].search(
            [
                ("mailbox_id", "=", mailbox.id),
                ("graph_id", "=", graph_message.immutable_id),
            ]
        )

    def sync(self, mailbox):
        return mailbox._sync_once()

    def run_jobs(self):
        """The scheduled jobs, run as their "Run manually" runs them: the upkeep
        job, then the job of each scanned mailbox."""
        self.env.ref(UPKEEP_JOB).method_direct_trigger()
        mailboxes = self.env["mail.scanner.mailbox"].search([])
        for cron in mailboxes.job_id.filtered("active"):
            cron.method_direct_trigger()
        self.env.invalidate_all()

    def job_triggers(self, mailbox):
        """How many times the mailbox's own job was asked to run soon."""
        return self.env["ir.cron.trigger"].search_count(
            [("cron_id", "=", mailbox.job_id.id)]
        )

    def tickets_of(self, *graph_messages):
        return self.env["helpdesk.ticket"].search(
            [
                (
                    "message_ids.message_id",
                    "in",
                    [m.internet_message_id for m in graph_messages],
                )
            ]
        )
