# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Sending answers through the scanned mailbox: the mailbox's side.

"Send answers through this mailbox" is offered once the Azure app's token carries
the application permission Mail.Send, and is then on by default. While it is on, the
mailbox owns one outgoing mail server (``ir.mail_server``, see ir_mail_server.py)
whose From filter is its address: Odoo's usual matching of From addresses sends the
company's mail written as that address (agents' answers on tickets included) through
it. How a mail leaves is in ``sync/outgoing.py``.
"""

from datetime import timedelta
from urllib.parse import urlsplit

from odoo import api, fields, models
from odoo.exceptions import UserError

from .. import texts
from ..graph import errors as graph_errors
from ..graph.errors import SEND_ROLE
from ..graph.send import DEFAULT_MAX_MESSAGE_SIZE, has_send_role
from ..sync.outgoing import GRAPH_AUTHENTICATION

# Fields whose change means the outgoing server must follow.
SERVER_FIELDS = {"send_answers", "address", "active", "company_id"}


# The mailbox's sending part, kept beside its configuration part while the two
# features settle (one file would pass the size the house allows).
class MailScannerMailbox(models.Model):
    _inherit = "mail.scanner.mailbox"  # pylint: disable=R8180

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
        compute="_compute_send_error",
        help="Why Microsoft Graph refused the last mail, in your language.",
    )
    count_sent = fields.Integer(compute="_compute_count_sent", string="Sent")

    @api.depends("send_error_key", "send_error_params")
    def _compute_send_error(self):
        for mailbox in self:
            mailbox.send_error = mailbox.send_error_key and texts.render(
                self.env, mailbox.send_error_key, mailbox.send_error_params
            )

    def _compute_count_sent(self):
        groups = self.env["mail.scanner.outgoing"]._read_group(
            [("mailbox_id", "in", self.ids), ("state", "=", "sent")],
            ["mailbox_id"],
            ["__count"],
        )
        counts = {mailbox.id: count for mailbox, count in groups}
        for mailbox in self:
            mailbox.count_sent = counts.get(mailbox.id, 0)

    # ------------------------------------------------------------ create/write
    @api.model_create_multi
    def create(self, vals_list):
        mailboxes = super().create(vals_list)
        asked = [
            mailbox
            for mailbox, vals in zip(mailboxes, vals_list, strict=True)
            if vals.get("send_answers")
        ]
        for mailbox in asked:
            mailbox._check_send_access()
        mailboxes._sync_mail_server()
        return mailboxes

    def write(self, vals):
        turned_on = self.filtered(lambda m: not m.send_answers)
        result = super().write(vals)
        if vals.get("send_answers") and not self.env.context.get(
            "mail_scanner_send_checked"
        ):
            turned_on.filtered(lambda m: m._is_complete())._check_send_access()
        if SERVER_FIELDS & set(vals):
            self._sync_mail_server()
        return result

    def _check_and_start(self):
        result = super()._check_and_start()
        self._note_send_role()
        return result

    # ------------------------------------------------------------------ checks
    def _check_send_access(self):
        """Raises a UserError saying what to add in Azure when the app may not send
        as this mailbox (checked on the token: the role is granted or not)."""
        for mailbox in self:
            if not mailbox._is_complete():
                raise UserError(
                    self.env._(
                        "Choose the Azure app and enter the mailbox address before "
                        "sending through the mailbox."
                    )
                )
            try:
                mailbox.app_id._graph_client().check_access(
                    mailbox.address,
                    mailbox._folder_graph_id(),
                    roles=(*mailbox.app_id._roles_needed(), SEND_ROLE),
                )
            except graph_errors.GraphError as exc:
                raise UserError(mailbox._graph_error_text(exc)) from None

    def _note_send_role(self):
        """Remembers whether the app's token carries Mail.Send; the first time it
        does, sending through the mailbox is switched on (offered, on by default)."""
        for mailbox in self.filtered(lambda m: m._is_complete()):
            try:
                granted = has_send_role(mailbox.app_id._graph_client().acquire_token())
            except graph_errors.GraphError:
                continue  # the reading side reports it
            if granted is None or granted == mailbox.send_role_granted:
                continue
            vals = {"send_role_granted": granted}
            if granted and not mailbox.send_answers:
                vals["send_answers"] = True
            mailbox.with_context(
                mail_scanner_starting=True, mail_scanner_send_checked=True
            ).write(vals)

    # ------------------------------------------------------ the mail server
    def _mail_server_values(self):
        self.ensure_one()
        graph_url = self.app_id._graph_settings()["graph_url"] if self.app_id else ""
        return {
            "name": self.env._("Mail Scanner: %s", self.address),
            "from_filter": self.address,
            "smtp_authentication": GRAPH_AUTHENTICATION,
            "smtp_host": urlsplit(graph_url).hostname or "graph.microsoft.com",
            "smtp_port": 443,
            "smtp_encryption": "ssl",
            "mail_scanner_mailbox_id": self.id,
            "active": True,
        }

    def _sync_mail_server(self):
        """One outgoing mail server per mailbox that sends; archived otherwise."""
        Server = self.env["ir.mail_server"].sudo().with_context(active_test=False)
        for mailbox in self:
            server = mailbox.mail_server_id.sudo().with_context(active_test=False)
            if mailbox.send_answers and mailbox.active and mailbox.address:
                values = mailbox._mail_server_values()
                if server:
                    server.write(values)
                else:
                    # Exchange Online's default send limit: Odoo turns larger
                    # attachments of documents into links, as for any server.
                    values["max_email_size"] = DEFAULT_MAX_MESSAGE_SIZE / 1024 / 1024
                    server = Server.create(values)
                    mailbox.with_context(mail_scanner_starting=True).write(
                        {"mail_server_id": server.id}
                    )
            elif server.active:
                server.active = False

    # -------------------------------------------------------------- retention
    @api.model
    def _cron_purge_ledger(self):
        """The send ledger is kept as long as the scanned mail's log: answers to a
        mail whose Message-ID Exchange replaced are threaded through it."""
        removed = super()._cron_purge_ledger()
        Outgoing = self.env["mail.scanner.outgoing"].sudo()
        for mailbox in self.sudo().with_context(active_test=False).search([]):
            if mailbox.retention_days <= 0:
                continue
            horizon = fields.Datetime.now() - timedelta(days=mailbox.retention_days)
            Outgoing.search(
                [("mailbox_id", "=", mailbox.id), ("create_date", "<", horizon)]
            ).unlink()
        self._purge_commit()
        return removed

    # ------------------------------------------------------------------ actions
    def action_view_sent(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "mail_scanner_oauth2.mail_scanner_outgoing_action"
        )
        action["domain"] = [("mailbox_id", "=", self.id)]
        return action


class MailScannerAzureApp(models.Model):
    _inherit = "mail.scanner.azure.app"

    def _roles_needed(self):
        """Mail.Send too while one of the app's mailboxes sends through Graph."""
        roles = super()._roles_needed()
        mailboxes = self.env["mail.scanner.mailbox"].search(
            [("app_id", "in", self.ids), ("send_answers", "=", True)], limit=1
        )
        if mailboxes and SEND_ROLE not in roles:
            roles = (*roles, SEND_ROLE)
        return roles

    def action_test_connection(self):
        result = super().action_test_connection()
        if self.last_check_ok:
            self.mailbox_ids._note_send_role()
        return result
