# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
# Over 400 lines because some 200 are the model's field declarations (a table); its
# methods are thin entry points into sync/, and a model keeps one file (OCA layout).
"""The scanned mailbox: its configuration, its screens and thin entry points.

How its mail is imported lives in ``sync/protocol.py``, when and by which worker in
``sync/scheduling.py`` (a scheduled job per mailbox), what its administrators are
told in ``sync/health.py``; sending through it in ``sync/sending.py`` and
``sync/outgoing.py``; its change notifications in mail_scanner_subscription.py.
"""

from odoo import api, fields, models, tools
from odoo.exceptions import UserError, ValidationError

from .. import texts
from ..sync import retention
from ..sync.health import MailboxHealth
from ..sync.protocol import MailboxSync
from ..sync.scheduling import MailboxJobs, WorkerRound, run_cron_job
from ..sync.sending import MailboxSending
from ..sync.setup import MailboxSetup, graph_error_text

# Account fields whose change means the access must be proven again.
ACCOUNT_FIELDS = {"account_kind", "app_id", "address", "folder_id"}
# Fields whose change the mailbox's own job follows (active, name).
JOB_FIELDS = {"active", "state", "address"}


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
        compute="_compute_errors", help="Why the last run failed, in your language."
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

    send_answers = fields.Boolean(
        string="Send answers through this mailbox",
        tracking=True,
        copy=False,
        help="Odoo's mail written as this address (agents' answers on tickets, "
        "acknowledgements, any mail of the company sent as this address) leaves "
        "through this mailbox over Microsoft Graph, and Exchange keeps a copy in its "
        "Sent Items. Needs the application permission Mail.Send.",
    )
    send_role_granted = fields.Boolean(
        string="Mail.Send granted",
        readonly=True,
        copy=False,
        help="The Azure app's token carried Mail.Send at the last check.",
    )
    mail_server_id = fields.Many2one(
        "ir.mail_server", string="Outgoing mail server", readonly=True, copy=False
    )
    send_failure_count = fields.Integer(string="Refused sends", readonly=True)
    send_alerted = fields.Boolean(readonly=True, copy=False)
    send_error_key = fields.Char(readonly=True, copy=False)
    send_error_params = fields.Json(readonly=True, copy=False)
    send_error = fields.Text(
        compute="_compute_errors",
        help="Why Microsoft Graph refused the last mail, in your language.",
    )
    count_sent = fields.Integer(compute="_compute_counters", string="Sent")

    notification_address = fields.Char(
        string="Public address",
        help="The https address at which Microsoft Graph reaches this Odoo from the "
        "internet, such as https://odoo.example.com, when it differs from the "
        "web.base.url system parameter (an Odoo behind a reverse proxy). Empty: "
        "web.base.url.",
    )
    notification_state = fields.Selection(
        [
            ("pending", "Being set up"),
            ("live", "Live"),
            ("unavailable", "Polling only: no public address"),
            ("failed", "Polling only: not accepted by Microsoft Graph"),
            ("off", "Off"),
        ],
        string="Change notifications",
        compute="_compute_notification",
    )
    notification_expiration = fields.Datetime(
        string="Notifications until", compute="_compute_notification"
    )
    notification_message = fields.Text(compute="_compute_notification")
    notification_endpoint = fields.Char(
        string="Notification URL",
        compute="_compute_notification",
        help="The address Microsoft Graph calls when mail arrives; it must be "
        "reachable from the internet over https.",
    )

    job_id = fields.Many2one(
        "ir.cron",
        string="Scheduled job",
        readonly=True,
        copy=False,
        ondelete="set null",
        groups="base.group_system",
        help="The scheduled job that imports this mailbox's mail.",
    )

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

    @api.depends(
        "last_error_key", "last_error_params", "send_error_key", "send_error_params"
    )
    @api.depends_context("lang")  # stored as keys, worded for the reader
    def _compute_errors(self):
        """The last reading and sending errors, in the reader's language."""
        for mailbox in self:
            mailbox.last_error = mailbox.last_error_key and texts.render(
                self.env, mailbox.last_error_key, mailbox.last_error_params
            )
            mailbox.send_error = mailbox.send_error_key and texts.render(
                self.env, mailbox.send_error_key, mailbox.send_error_params
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
        sent = self.env["mail.scanner.outgoing"]._read_group(
            [("mailbox_id", "in", self.ids), ("state", "=", "sent")],
            ["mailbox_id"],
            ["__count"],
        )
        counts.update({(mailbox.id, "sent"): count for mailbox, count in sent})
        for mailbox in self:
            mailbox.count_done = counts.get((mailbox.id, "done"), 0) + counts.get(
                (mailbox.id, "duplicate"), 0
            )
            mailbox.count_pending = counts.get((mailbox.id, "pending"), 0)
            mailbox.count_failed = counts.get((mailbox.id, "failed"), 0)
            mailbox.count_ignored = counts.get((mailbox.id, "ignored"), 0)
            mailbox.count_sent = counts.get((mailbox.id, "sent"), 0)

    @api.depends("notification_address", "state", "app_id", "address", "folder_id")
    @api.depends_context("lang")
    def _compute_notification(self):
        self.env["mail.scanner.subscription"]._fill_mailbox_fields(self)

    def _notification_base_url(self):
        self.ensure_one()
        base = self.notification_address or self.env[
            "ir.config_parameter"
        ].sudo().get_param("web.base.url")
        return (base or "").strip().rstrip("/")

    @api.constrains("address")
    def _check_address(self):
        for mailbox in self:
            if mailbox.address and not tools.single_email_re.match(mailbox.address):
                raise ValidationError(
                    self.env._("'%s' is not a mailbox address.", mailbox.address)
                )

    # ----------------------------------------------------------- create/write
    @api.model_create_multi
    def create(self, vals_list):
        vals_list = [MailboxSetup(self).normalize(vals) for vals in vals_list]
        mailboxes = super().create(vals_list)
        MailboxJobs(mailboxes).ensure()
        for mailbox in mailboxes:
            MailboxHealth(mailbox).subscribe_admins()
        # The check of a complete mailbox asks for Mail.Send too when it sends
        # (_roles_needed); an incomplete one that would send is refused here.
        mailboxes.filtered(lambda m: m._is_complete())._check_and_start()
        asked = [
            m.id
            for m, v in zip(mailboxes, vals_list, strict=True)
            if v.get("send_answers") and not m._is_complete()
        ]
        MailboxSending(self.browse(asked)).check_access()
        MailboxSending(mailboxes).sync_mail_server()
        return mailboxes

    def write(self, vals):
        vals = MailboxSetup(self).normalize(vals)
        if {"address", "folder_id"} & set(vals):
            # Another mailbox or folder: the saved delta state belongs to the old one.
            vals = dict(vals, delta_link=False)
        turned_on = self.filtered(lambda m: not m.send_answers)
        result = super().write(vals)
        if ACCOUNT_FIELDS & set(vals) and not self.env.context.get(
            "mail_scanner_starting"
        ):
            self.filtered(lambda m: m._is_complete())._check_and_start()
        MailboxSending(self).after_write(vals, turned_on)
        self.env["mail.scanner.subscription"]._mailboxes_written(self, vals)
        if JOB_FIELDS & set(vals):
            MailboxJobs(self).follow(renamed="address" in vals)
        return result

    def unlink(self):
        self.env["mail.scanner.subscription"]._mailboxes_deleted(self)
        MailboxJobs(self).remove()
        return super().unlink()

    def _is_complete(self):
        self.ensure_one()
        return bool(self.account_kind and self.app_id and self.address)

    def _folder_graph_id(self):
        return self.folder_id.graph_id or "inbox"

    def _check_and_start(self):
        MailboxSetup(self).check_and_start()

    def _refresh_folders(self):
        self.ensure_one()
        return MailboxSetup(self).refresh_folders(self)

    def _graph_error_text(self, exc):
        return graph_error_text(self, exc)

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

    # -------------------------------------------------------------------- jobs
    def _trigger_sync(self):
        """Scan now ("Sync now", a start, a retry): a notified mailbox must not
        wait for its next poll."""
        self.env["mail.scanner.subscription"]._of_mailboxes(self)._wake()
        self._start_job()

    def _start_job(self):
        """Runs these mailboxes' own jobs as soon as a worker is free (the
        mail_scanner_oauth2_queue addon makes them queue jobs)."""
        MailboxJobs(self).trigger()

    @api.model
    def _cron_sync_mailbox(self, mailbox_id):
        """One mailbox's scheduled job; never raises for the mailbox's problems
        (a job that raises repeatedly is switched off by Odoo)."""
        mailbox = self.sudo().with_context(active_test=False).browse(mailbox_id)
        mailbox = mailbox.exists()
        round_ = WorkerRound.current(self.env.context.get("cron_id"))
        return run_cron_job(mailbox, mailbox.job_id, round_)

    @api.model
    def _cron_upkeep(self):
        """Every mailbox has its own job, active while it is scanned; Graph
        subscriptions of mailboxes no longer scanned are deleted."""
        mailboxes = self.sudo().with_context(active_test=False).search([])
        MailboxJobs(mailboxes).follow()
        self.env["mail.scanner.subscription"]._drop_stale()

    def _sync_once(self):
        """One bounded slice of work for this mailbox: (imported, remaining)."""
        self.ensure_one()
        return MailboxSync(self).run()

    @api.model
    def _cron_purge_ledger(self):
        """Removes old log and send-ledger rows (sync/retention.py)."""
        removed = retention.purge(self)
        self.env["ir.cron"]._notify_progress(done=removed, remaining=0)
        return removed

    def _purge_commit(self):
        """Commits one batch of the retention job. Tests replace this seam."""
        self.env.cr.commit()  # pylint: disable=invalid-commit

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
        """Asks the mailbox's job to scan now; the web request does not scan."""
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

    def action_notifications_retry(self):
        self.env["mail.scanner.subscription"]._of(self)._reconcile(retry=True)
        return True

    def action_view_sent(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "mail_scanner_oauth2.mail_scanner_outgoing_action"
        )
        action["domain"] = [("mailbox_id", "=", self.id)]
        return action

    def action_refresh_folders(self):
        for mailbox in self:
            mailbox._refresh_folders()
        return True

    def action_create_folder(self):
        self.ensure_one()
        if not self.new_folder_name:
            raise UserError(self.env._("Enter the name of the folder to create."))
        folder = MailboxSetup(self).create_folder(self, self.new_folder_name)
        self.write({"move_folder_id": folder.id, "new_folder_name": False})
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
