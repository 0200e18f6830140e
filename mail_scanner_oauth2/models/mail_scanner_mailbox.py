# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The scanned mailbox: its configuration, its screens and the scheduled jobs.

How its mail is imported lives in ``sync/protocol.py``; what its administrators are
told, in ``sync/health.py``.
"""

import logging
from datetime import timedelta

from odoo import api, fields, models, tools
from odoo.exceptions import UserError, ValidationError

from .. import texts
from ..graph import errors as graph_errors
from ..sync.health import MailboxHealth
from ..sync.protocol import MailboxSync

_logger = logging.getLogger(__name__)

# Account fields whose change means the access must be proven again.
ACCOUNT_FIELDS = {"account_kind", "app_id", "address", "folder_id"}
# Ledger rows removed per transaction by the retention job.
PURGE_BATCH = 1000


class MailScannerMailbox(models.Model):
    _name = "mail.scanner.mailbox"
    _description = "Mail Scanner Mailbox"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "company_id, id"

    name = fields.Char(compute="_compute_name", store=True)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company
    )
    account_kind = fields.Selection(
        [("microsoft", "Microsoft - corporate account")],
        string="Account kind",
        help="Where the mailbox lives. Only Microsoft 365 (Exchange Online) "
        "corporate accounts are supported for now.",
    )
    app_id = fields.Many2one(
        "mail.scanner.azure.app",
        string="Azure app",
        domain="[('company_id', '=', company_id)]",
        tracking=True,
    )
    address = fields.Char(
        string="Mailbox address",
        tracking=True,
        help="The user or shared mailbox to scan, such as support@example.com.",
    )
    folder_id = fields.Many2one(
        "mail.scanner.folder",
        string="Folder to scan",
        domain="[('mailbox_id', '=', id)]",
        help="Empty means the Inbox.",
    )
    after_import = fields.Selection(
        [
            ("mark_read", "Mark as read"),
            ("move", "Move to a folder"),
            ("none", "Leave untouched"),
        ],
        required=True,
        default="mark_read",
        help="What happens to a mail in the mailbox once its ticket is saved. "
        "Mail is never deleted.",
    )
    move_folder_id = fields.Many2one(
        "mail.scanner.folder",
        string="Move to",
        domain="[('mailbox_id', '=', id)]",
    )
    new_folder_name = fields.Char(
        string="New folder name", help="Creates this folder in the mailbox."
    )
    cutoff_date = fields.Datetime(
        string="Import mail received since",
        help="Mail received before this moment is never imported, so old mail "
        "does not become new tickets. Empty: the moment scanning first starts.",
    )
    team_id = fields.Many2one(
        "helpdesk.ticket.team",
        string="Helpdesk team",
        help="Team of the tickets created from new conversations.",
    )
    batch_limit = fields.Integer(
        string="Mails per run",
        default=200,
        help="How many mails one cron run imports; a larger backlog is worked "
        "off in further runs right after.",
    )
    rule_ids = fields.One2many("mail.scanner.rule", "mailbox_id", string="Rules")
    extraction_ids = fields.One2many(
        "mail.scanner.extraction", "mailbox_id", string="Complementary fields"
    )
    max_size_mb = fields.Integer(
        string="Largest mail (MB)",
        default=25,
        help="Larger mail stays in the mailbox, is logged as too large and the "
        "administrators are told. 0: no limit.",
    )
    loop_max_tickets = fields.Integer(
        string="Loop: tickets per sender",
        default=20,
        help="A sender who opens this many tickets within the loop window is "
        "taken for a mail loop: further mail is logged as ignored. 0: off.",
    )
    loop_window_minutes = fields.Integer(string="Loop window (minutes)", default=60)
    secret_expiration = fields.Date(related="app_id.secret_expiration")
    secret_warned_for = fields.Date(
        readonly=True,
        copy=False,
        help="The expiry date the administrators were last warned about.",
    )
    failure_streak = fields.Integer(readonly=True, copy=False)
    state = fields.Selection(
        [("draft", "Draft"), ("running", "Running"), ("error", "Error")],
        required=True,
        default="draft",
        readonly=True,
        tracking=True,
        copy=False,
    )
    last_sync = fields.Datetime(readonly=True, copy=False)
    last_error_key = fields.Char(readonly=True, copy=False)
    last_error_params = fields.Json(readonly=True, copy=False)
    last_error = fields.Text(
        compute="_compute_last_error", help="Why the last run failed, in your language."
    )
    last_error_date = fields.Datetime(readonly=True, copy=False)
    retention_days = fields.Integer(
        string="Keep the log (days)",
        default=180,
        help="Imported, ignored and duplicate mails leave the Scanned Mail Log "
        "after this many days (failed and too large mails stay until they are "
        "resolved). Their tickets stay, and they are never imported again. "
        "0: keep forever.",
    )
    delta_link = fields.Char(readonly=True, copy=False, groups="base.group_system")
    message_ids_scanned = fields.One2many("mail.scanner.message", "mailbox_id")
    count_done = fields.Integer(compute="_compute_counters", string="Imported")
    count_pending = fields.Integer(compute="_compute_counters", string="Pending")
    count_failed = fields.Integer(compute="_compute_counters", string="Failed")
    count_ignored = fields.Integer(compute="_compute_counters", string="Ignored")

    _sql_constraints = [
        (
            "company_uniq",
            "unique(company_id)",
            "A company scans one mailbox: open the existing mailbox instead of "
            "creating another one.",
        ),
        (
            "address_uniq",
            "unique(address)",
            "This address is already scanned by another mailbox (possibly of "
            "another company): one address is scanned by one mailbox only.",
        ),
    ]

    @api.depends("last_error_key", "last_error_params")
    def _compute_last_error(self):
        for mailbox in self:
            mailbox.last_error = mailbox.last_error_key and texts.render(
                self.env, mailbox.last_error_key, mailbox.last_error_params
            )

    @api.depends("address", "company_id")
    def _compute_name(self):
        for mailbox in self:
            mailbox.name = mailbox.address or self.env._("New mailbox")

    def _compute_counters(self):
        groups = self.env["mail.scanner.message"]._read_group(
            [("mailbox_id", "in", self.ids)], ["mailbox_id", "state"], ["__count"]
        )
        counts = {(mailbox.id, state): count for mailbox, state, count in groups}
        for mailbox in self:
            mailbox.count_done = counts.get((mailbox.id, "done"), 0) + counts.get(
                (mailbox.id, "duplicate"), 0
            )
            mailbox.count_pending = counts.get((mailbox.id, "pending"), 0)
            mailbox.count_failed = counts.get((mailbox.id, "failed"), 0)
            mailbox.count_ignored = counts.get((mailbox.id, "ignored"), 0)

    @api.constrains("address")
    def _check_address(self):
        for mailbox in self:
            if mailbox.address and not tools.single_email_re.match(mailbox.address):
                raise ValidationError(
                    self.env._("'%s' is not a mailbox address.", mailbox.address)
                )

    def _check_address_free(self, address):
        """One address, one mailbox in the whole database: two companies scanning
        it would split its mail between them. Checked before the row is written,
        so the admin reads this instead of the database's unique violation
        (address_uniq stays as the guard against a simultaneous save)."""
        taken = (
            self.sudo()
            .with_context(active_test=False)
            .search_count([("address", "=", address), ("id", "not in", self.ids)])
        )
        if taken:
            raise ValidationError(
                self.env._(
                    "%s is already scanned by another mailbox, possibly of another "
                    "company. One address is scanned by one mailbox only: remove it "
                    "from the other mailbox first.",
                    address,
                )
            )

    # ----------------------------------------------------------- create/write
    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get("address"):
                vals["address"] = vals["address"].strip().lower()
                self._check_address_free(vals["address"])
        mailboxes = super().create(vals_list)
        for mailbox in mailboxes:
            MailboxHealth(mailbox).subscribe_admins()
        mailboxes.filtered(lambda m: m._is_complete())._check_and_start()
        return mailboxes

    def write(self, vals):
        if vals.get("address"):
            vals["address"] = vals["address"].strip().lower()
            self._check_address_free(vals["address"])
        account_changed = ACCOUNT_FIELDS & set(vals)
        if {"address", "folder_id"} & set(vals):
            # Another mailbox or folder: the saved delta state belongs to the old one.
            vals = dict(vals, delta_link=False)
        result = super().write(vals)
        if account_changed and not self.env.context.get("mail_scanner_starting"):
            self.filtered(lambda m: m._is_complete())._check_and_start()
        return result

    def _is_complete(self):
        self.ensure_one()
        return bool(self.account_kind and self.app_id and self.address)

    def _folder_graph_id(self):
        return self.folder_id.graph_id or "inbox"

    def _check_and_start(self):
        """Proves the access, mirrors the folders and starts scanning at once."""
        for mailbox in self:
            folder = mailbox._check_graph_access()
            if mailbox.state == "error":
                MailboxHealth(mailbox).recovered()
            mailbox._refresh_folders()
            vals = {
                "state": "running",
                "last_error_key": False,
                "last_error_params": False,
                "cutoff_date": mailbox.cutoff_date or fields.Datetime.now(),
            }
            if not mailbox.folder_id:
                vals["folder_id"] = (
                    self.env["mail.scanner.folder"]
                    .search(
                        [("mailbox_id", "=", mailbox.id), ("graph_id", "=", folder.id)],
                        limit=1,
                    )
                    .id
                )
            mailbox.with_context(mail_scanner_starting=True).write(vals)
        self._trigger_sync()

    def _check_graph_access(self):
        self.ensure_one()
        try:
            return self.app_id._graph_client().check_access(
                self.address, self._folder_graph_id(), roles=self.app_id._roles_needed()
            )
        except graph_errors.GraphError as exc:
            raise UserError(self._graph_error_text(exc)) from None

    def _refresh_folders(self):
        self.ensure_one()
        try:
            folders = self.app_id._graph_client().list_folders(self.address)
        except graph_errors.GraphError as exc:
            raise UserError(self._graph_error_text(exc)) from None
        return self.env["mail.scanner.folder"]._sync_from_graph(self, folders)

    def _graph_error_text(self, exc):
        """A Graph error in the words of the reader's language."""
        params = dict(MailboxHealth(self).context_params(), **exc.params)
        return texts.render(self.env, exc.key, params)

    def _new_record_values(self, model="helpdesk.ticket"):
        """Values of a record created from a new conversation of this mailbox
        (helpdesk_mgmt itself sets the e-mail channel of tickets made from mail)."""
        values = {"company_id": self.company_id.id}
        if model != "helpdesk.ticket":
            return values
        # Unassigned until a rule or an agent says otherwise: the gateway runs
        # as OdooBot, who must not end up as the assignee.
        values["user_id"] = False
        if self.team_id:
            values["team_id"] = self.team_id.id
        return values

    def _trigger_sync(self):
        self.env.ref("mail_scanner_oauth2.ir_cron_mail_scanner_sync").sudo()._trigger()

    # ----------------------------------------------------------------- actions
    def action_check_and_start(self):
        for mailbox in self:
            if not mailbox._is_complete():
                raise UserError(
                    self.env._(
                        "Choose the account kind and the Azure app, and enter "
                        "the mailbox address first."
                    )
                )
        self._check_and_start()
        return True

    def action_stop(self):
        self.write({"state": "draft"})
        return True

    def action_sync_now(self):
        """Asks the cron worker to scan now; the web request does not scan."""
        if any(m.state == "draft" for m in self):
            raise UserError(self.env._("Start the mailbox first."))
        self._trigger_sync()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "message": self.env._("The mailbox will be scanned in a moment."),
                "type": "info",
            },
        }

    def action_refresh_folders(self):
        for mailbox in self:
            mailbox._refresh_folders()
        return True

    def action_create_folder(self):
        self.ensure_one()
        if not self.new_folder_name:
            raise UserError(self.env._("Enter the name of the folder to create."))
        try:
            folder = self.app_id._graph_client().create_folder(
                self.address, self.new_folder_name.strip()
            )
        except graph_errors.GraphError as exc:
            raise UserError(self._graph_error_text(exc)) from None
        records = self._refresh_folders()
        self.write({"move_folder_id": records[folder.id].id, "new_folder_name": False})
        return True

    def action_open_app(self):
        self.ensure_one()
        action = {
            "type": "ir.actions.act_window",
            # The dialog's title (without a name the web client shows "Odoo").
            "name": self.env._("Azure app"),
            "res_model": "mail.scanner.azure.app",
            "view_mode": "form",
            "target": "new",
            "context": {
                "default_company_id": self.company_id.id,
                "mail_scanner_mailbox_id": self.id,
            },
        }
        if self.app_id:
            action["res_id"] = self.app_id.id
        return action

    def action_view_messages(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "mail_scanner_oauth2.mail_scanner_message_action"
        )
        action["domain"] = [("mailbox_id", "=", self.id)]
        action["context"] = {"search_default_mailbox_id": self.id}
        return action

    # -------------------------------------------------------------------- cron
    @api.model
    def _cron_sync_mailboxes(self):
        """Scans every started mailbox; never raises for one mailbox's problem.

        A job that raises repeatedly is switched off by Odoo for the whole
        database, so one company's expired secret must not stop the others.
        """
        cron = self.env["ir.cron"]
        totals = {"processed": 0, "done": 0, "remaining": 0}

        def progress(count):
            # Reported as it goes: a worker killed later in the run has shown
            # progress, so Odoo does not count the run as timed out.
            totals["processed"] += count
            cron._notify_progress(done=totals["processed"], remaining=1)

        for mailbox in self._mailboxes_to_sync():
            try:
                done, remaining = MailboxSync(mailbox, progress=progress).run()
            except Exception:  # pylint: disable=broad-except
                _logger.exception("Mail Scanner: mailbox %s failed", mailbox.address)
                self.env.cr.rollback()  # pylint: disable=invalid-commit
                continue
            totals["done"] += done
            totals["remaining"] += remaining
        cron._notify_progress(
            done=max(totals["processed"], totals["done"]),
            remaining=totals["remaining"],
        )
        return totals["done"], totals["remaining"]

    @api.model
    def _mailboxes_to_sync(self):
        """The mailboxes one run of the scheduled job scans (change notifications
        narrow this down: models/mail_scanner_mailbox_notify.py)."""
        return self.sudo().search([("state", "in", ("running", "error"))])

    def _sync_once(self):
        """One bounded slice of work for this mailbox: (imported, remaining)."""
        self.ensure_one()
        return MailboxSync(self).run()

    @api.model
    def _cron_purge_ledger(self):
        """Removes old rows of imported, ignored and duplicate mail, in bounded
        batches. Failed and too large mail stays until it is resolved. A removed
        row never makes its mail importable again: the delta link does not bring
        it back, and a full resynchronisation meets its Message-ID in Odoo."""
        removed = 0
        self.env.flush_all()  # the rows are removed in SQL
        for mailbox in self.sudo().with_context(active_test=False).search([]):
            if mailbox.retention_days <= 0:
                continue
            horizon = fields.Datetime.now() - timedelta(days=mailbox.retention_days)
            while True:
                self.env.cr.execute(
                    """DELETE FROM mail_scanner_message WHERE id IN (
                           SELECT id FROM mail_scanner_message
                            WHERE mailbox_id = %s
                              AND state IN ('done', 'ignored', 'duplicate')
                              AND (after_import_done OR state = 'duplicate')
                              AND processed_date < %s
                            LIMIT %s)""",
                    (mailbox.id, horizon, PURGE_BATCH),
                )
                count = self.env.cr.rowcount
                removed += count
                self._purge_commit()
                if count < PURGE_BATCH:
                    break
        self.env["mail.scanner.message"].invalidate_model()
        self.env["ir.cron"]._notify_progress(done=removed, remaining=0)
        return removed

    def _purge_commit(self):
        """Commits one batch of the retention job. Tests replace this seam."""
        self.env.cr.commit()  # pylint: disable=invalid-commit
