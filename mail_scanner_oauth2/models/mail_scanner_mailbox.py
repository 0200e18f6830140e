# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
import logging
from contextlib import closing
from datetime import timezone

from markupsafe import Markup
from psycopg2 import errors as pg_errors

from odoo import api, fields, models, tools
from odoo.exceptions import UserError

from ..graph import errors as graph_errors
from ..graph.prefetch import prefetched

_logger = logging.getLogger(__name__)

# Advisory-lock namespace of this addon ("MS"): the second key is the mailbox id.
LOCK_NAMESPACE = 0x4D53
# Errors that say nothing about the configuration: the next run will do.
TRANSIENT_ERRORS = (
    graph_errors.Throttled,
    graph_errors.ServiceUnavailable,
    graph_errors.GraphConnectionError,
)
# Account fields whose change means the access must be proven again.
ACCOUNT_FIELDS = {"account_kind", "app_id", "address", "folder_id"}
MAX_AUTO_ATTEMPTS = 5
# Runs in a row that fail for a passing reason before the admins are alerted.
FAILURE_STREAK_ALERT = 5
# How long before the client secret expires the administrators are warned.
SECRET_WARNING_DAYS = 14
# What PostgreSQL answers when another run is at work on the same rows.
CONCURRENCY_ERRORS = (
    pg_errors.SerializationFailure,
    pg_errors.UniqueViolation,
    pg_errors.LockNotAvailable,
)


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
    last_error = fields.Text(readonly=True, copy=False)
    last_error_date = fields.Datetime(readonly=True, copy=False)
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
        )
    ]

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
                raise UserError(
                    self.env._("'%s' is not a mailbox address.", mailbox.address)
                )

    # ----------------------------------------------------------- create/write
    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get("address"):
                vals["address"] = vals["address"].strip().lower()
        mailboxes = super().create(vals_list)
        mailboxes.filtered(lambda m: m._is_complete())._check_and_start()
        return mailboxes

    def write(self, vals):
        if vals.get("address"):
            vals["address"] = vals["address"].strip().lower()
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
                mailbox._alert_recovered()
            mailbox._refresh_folders()
            vals = {
                "state": "running",
                "last_error": False,
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
                self.address, self._folder_graph_id()
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

    def _new_record_values(self, model="helpdesk.ticket"):
        """Values of a record created from a new conversation of this mailbox."""
        values = {"company_id": self.company_id.id}
        if model != "helpdesk.ticket":
            return values
        # Unassigned until a rule or an agent says otherwise: the gateway runs
        # as OdooBot, who must not end up as the assignee.
        values["user_id"] = False
        if self.team_id:
            values["team_id"] = self.team_id.id
        channel = self.env.ref(
            "helpdesk_mgmt.helpdesk_ticket_channel_email", raise_if_not_found=False
        )
        if channel:
            values["channel_id"] = channel.id
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
        done = remaining = 0
        for mailbox in self.sudo().search([("state", "in", ("running", "error"))]):
            try:
                mailbox._warn_secret_expiry()
                mailbox_done, mailbox_remaining = mailbox._sync_once()
            except Exception:  # pylint: disable=broad-except
                _logger.exception("Mail Scanner: mailbox %s failed", mailbox.address)
                mailbox._scanner_rollback()
                continue
            done += mailbox_done
            remaining += mailbox_remaining
        self.env["ir.cron"]._notify_progress(done=done, remaining=remaining)
        return done, remaining

    def _sync_once(self):
        """One bounded slice of work for one mailbox: (imported, remaining)."""
        self.ensure_one()
        if not self._try_lock():
            _logger.info("Mailbox %s is being scanned by another run", self.address)
            return 0, 0
        mailbox = self.with_company(self.company_id)
        try:
            client = mailbox.app_id._graph_client()
            mailbox._pull_delta(client)
            done = mailbox._import_pending(client)
            mailbox._apply_after_import(client)
            mailbox._record_success()
        except (graph_errors.GraphError, UserError) as exc:  # UserError: no secret
            done = 0
            mailbox._record_failure(exc)
        except CONCURRENCY_ERRORS:
            # Another run holds the same mail: it finishes it, this one stops.
            _logger.info("Mail Scanner: mailbox %s busy in another run", self.address)
            done = 0
            mailbox._scanner_rollback()
        except Exception as exc:  # pylint: disable=broad-except
            # A bug must not stop the other mailboxes: keep it visible instead.
            _logger.exception("Mail Scanner: mailbox %s failed", self.address)
            done = 0
            mailbox._scanner_rollback()
            mailbox._record_failure(exc)
        finally:
            self._unlock()
        # Only new mail asks for an immediate next run; failed mail is retried
        # on the regular schedule.
        pending = self.env["mail.scanner.message"].search_count(
            [("mailbox_id", "=", self.id), ("state", "=", "pending")]
        )
        return done, pending

    def _try_lock(self):
        # Session-level lock: it survives the per-message commits and dies with
        # the connection if the worker is killed.
        self.env.cr.execute(
            "SELECT pg_try_advisory_lock(%s, %s)", (LOCK_NAMESPACE, self.id)
        )
        return self.env.cr.fetchone()[0]

    def _unlock(self):
        self.env.cr.execute(
            "SELECT pg_advisory_unlock(%s, %s)", (LOCK_NAMESPACE, self.id)
        )

    def _scanner_commit(self):
        """Commits one unit of work. Tests replace this seam (no commit there)."""
        self.env.cr.commit()  # pylint: disable=invalid-commit

    def _scanner_rollback(self):
        """Drops a broken transaction. Tests replace this seam."""
        self.env.cr.rollback()  # pylint: disable=invalid-commit

    def _pull_delta(self, client):
        """Records every new message in the ledger, then saves the delta link.

        The delta link is saved only once the round is complete and every
        message before it is in the ledger, so a crash replays the round.
        """
        since = self.cutoff_date and self.cutoff_date.replace(tzinfo=timezone.utc)
        round_ = client.delta(
            self.address,
            self._folder_graph_id(),
            delta_link=self.delta_link or None,
            since=since,
        )
        Ledger = self.env["mail.scanner.message"]
        for page in round_.pages():
            Ledger._record_refs(self, [ref for ref in page if not ref.removed])
            self._scanner_commit()
        self.write(
            {"delta_link": round_.delta_link, "last_sync": fields.Datetime.now()}
        )
        self._scanner_commit()

    def _importable_domain(self):
        return [
            ("mailbox_id", "=", self.id),
            "|",
            ("state", "=", "pending"),
            "&",
            ("state", "=", "failed"),
            ("attempts", "<", MAX_AUTO_ATTEMPTS),
        ]

    def _import_pending(self, client):
        """Fetches MIME by batches and imports each mail in its own transaction."""
        rows = self.env["mail.scanner.message"].search(
            self._importable_domain(),
            order="received_date, id",
            limit=max(self.batch_limit, 1),
        )
        rows -= self._skip_too_large(client, rows)
        by_graph_id = {row.graph_id: row for row in rows}
        done = 0
        # The next batch downloads while Odoo parses this one: the queue holds a
        # whole batch, so the download of batch n+1 starts as batch n starts.
        downloads = prefetched(
            client.fetch_mime(self.address, list(by_graph_id)),
            depth=client.batch_size,
        )
        with closing(downloads):
            for graph_id, mime in downloads:
                row = by_graph_id[graph_id]
                if isinstance(mime, graph_errors.GraphError):
                    row._record_fetch_failure(mime)
                else:
                    done += row._import_mime(mime)
                self._scanner_commit()
        return done

    def _skip_too_large(self, client, rows):
        """Leaves mail over the size limit in the mailbox, before downloading it."""
        if not self.max_size_mb or not rows:
            return rows.browse()
        unknown = {row.graph_id: row for row in rows if not row.size}
        if unknown:
            sizes = client.message_sizes(self.address, list(unknown))
            for graph_id, size in sizes.items():
                if size:
                    unknown[graph_id].size = size
        limit = self.max_size_mb * 1024 * 1024
        too_large = rows.filtered(lambda r: r.size > limit)
        for row in too_large:
            row.write(
                {
                    "state": "skipped",
                    "processed_date": fields.Datetime.now(),
                    "reason": self.env._(
                        "%(size)s MB, over this mailbox's limit of %(limit)s MB: "
                        "the mail stays in the mailbox.",
                        size=round(row.size / 1024 / 1024, 1),
                        limit=self.max_size_mb,
                    ),
                }
            )
        if too_large:
            self._tell_admins_about_large_mail(too_large)
        self._scanner_commit()
        return too_large

    def _tell_admins_about_large_mail(self, rows):
        items = Markup("").join(
            Markup("<li>%s — %s (%s)</li>") % (row.sender, row.subject, row.reason)
            for row in rows
        )
        self._tell_admins(
            Markup("<p>%s</p><ul>%s</ul>")
            % (
                self.env._(
                    "These mails are larger than the limit and were not imported. "
                    "Raise the limit and use Retry in the log to import them."
                ),
                items,
            )
        )

    def _apply_after_import(self, client):
        """Marks read or moves mail whose import is committed, in batches."""
        rows = self.env["mail.scanner.message"].search(
            [
                ("mailbox_id", "=", self.id),
                ("state", "in", ("done", "duplicate", "ignored")),
                ("after_import_done", "=", False),
            ]
        )
        if not rows:
            return
        if self.after_import == "none":
            rows.write({"after_import_done": True})
            self._scanner_commit()
            return
        ids = rows.mapped("graph_id")
        if self.after_import == "move" and self.move_folder_id:
            results = client.move(self.address, ids, self.move_folder_id.graph_id)
        else:
            results = client.mark_read(self.address, ids)
        finished = rows.filtered(
            lambda r: (
                results.get(r.graph_id) is None
                or isinstance(results[r.graph_id], graph_errors.ItemNotFound)
            )
        )
        finished.write({"after_import_done": True})
        self._scanner_commit()

    def _record_success(self):
        recovered = self.state == "error"
        if self.state != "running" or self.last_error or self.failure_streak:
            self.write({"state": "running", "last_error": False, "failure_streak": 0})
        if recovered:
            self._alert_recovered()
        self._scanner_commit()

    def _graph_error_text(self, exc):
        return self.app_id._graph_error_text(exc, self.address)

    def _record_failure(self, exc):
        """Keeps the error on the mailbox; configuration errors stop it.

        Passing errors (throttling, outages) only count: the mailbox goes into
        error after several runs in a row. The admins are alerted once when
        it goes into error, and once when it recovers, never on every run.
        """
        _logger.warning("Mail Scanner: mailbox %s: %s", self.address, exc)
        streak = self.failure_streak + 1
        if isinstance(exc, graph_errors.GraphError):
            # Stored for the administrators: in their language.
            admin_lang = self._admin_users()[:1].lang or self.env.lang
            text = self.with_context(lang=admin_lang)._graph_error_text(exc)
        else:
            text = str(exc)
        vals = {
            "last_error": text,
            "last_error_date": fields.Datetime.now(),
            "failure_streak": streak,
        }
        transient = isinstance(exc, TRANSIENT_ERRORS)
        if not transient or streak >= FAILURE_STREAK_ALERT:
            vals["state"] = "error"
        newly_in_error = vals.get("state") == "error" and self.state != "error"
        self.write(vals)
        if newly_in_error:
            self._alert_error(text, repeated=transient)
        self._scanner_commit()

    # ------------------------------------------------------------------ health
    def _admin_users(self):
        return (
            self.env.ref("base.group_system")
            .users.filtered(
                lambda u: (
                    u.active
                    and not u.share
                    and self.company_id in u.company_ids
                    and not u._is_superuser()
                )
            )
            .sorted("id")
        )

    def _tell_admins(self, body):
        """One chatter message that notifies the company's administrators."""
        self.message_post(
            body=body,
            partner_ids=self._admin_users().partner_id.ids,
            subtype_xmlid="mail.mt_comment",
        )

    def _alert_admins(self, summary, note, date_deadline=None):
        """The message and one warning activity per administrator."""
        admins = self._admin_users()
        self.message_post(
            body=Markup("<p><b>%s</b></p><p>%s</p>") % (summary, note),
            partner_ids=admins.partner_id.ids,
            subtype_xmlid="mail.mt_comment",
        )
        for user in admins:
            self.activity_schedule(
                "mail.mail_activity_data_warning",
                date_deadline=date_deadline,
                summary=summary,
                note=note,
                user_id=user.id,
            )

    def _alert_error(self, reason, repeated=False):
        summary = self.env._("Mail Scanner stopped: %s", self.address)
        if repeated:
            reason = self.env._(
                "Failed %(count)s times in a row: %(reason)s",
                count=self.failure_streak,
                reason=reason,
            )
        self._alert_admins(summary, reason)

    def _warn_secret_expiry(self):
        """Warns once, SECRET_WARNING_DAYS ahead, that the client secret expires."""
        expiry = self.secret_expiration
        if not expiry or self.secret_warned_for == expiry:
            return
        days_left = (expiry - fields.Date.context_today(self)).days
        if days_left > SECRET_WARNING_DAYS:
            return
        summary = self.env._("Client secret expires: %s", self.address)
        note = self.env._(
            "The client secret of the Azure app expires on %(date)s. Create a new "
            "secret in Azure > App registrations > Certificates & secrets, paste "
            "its value in the app and update the expiry date, or mail stops "
            "arriving.",
            date=fields.Date.to_string(expiry),
        )
        self._alert_admins(summary, note, date_deadline=expiry)
        self.secret_warned_for = expiry
        self._scanner_commit()

    def _alert_recovered(self):
        # The alerts go away silently: the message below is the one notice.
        warning = self.env.ref("mail.mail_activity_data_warning")
        self.activity_ids.filtered(lambda a: a.activity_type_id == warning).unlink()
        self._tell_admins(self.env._("Mail Scanner works again for %s.", self.address))
