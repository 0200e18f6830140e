# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The send ledger: one row per mail Odoo sent (or is sending) through a mailbox.

A row is written in its own committed transaction before the mail is sent (the
draft's id), and again once Graph took it (sent), so that a worker killed mid-send
or a lost answer resumes the same draft instead of sending a second copy. The row
also keeps what Exchange called the mail (its internetMessageId, which may differ
from Odoo's Message-ID, and its conversationId): the customer's answer and the
non-delivery reports of the mail are threaded back through them.

How and when rows are written is decided by ``sync/outgoing.py``.
"""

from odoo import api, fields, models

from .. import texts


class MailScannerOutgoing(models.Model):
    _name = "mail.scanner.outgoing"
    _description = "Mail Scanner Sent Mail"
    _order = "id desc"
    _rec_name = "message_id"

    mailbox_id = fields.Many2one(
        "mail.scanner.mailbox", required=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one(related="mailbox_id.company_id", store=True)
    # No foreign key: the mail.mail is often deleted once sent (auto_delete), and
    # may not even be committed when the row is written in its own transaction.
    mail_id = fields.Integer(
        string="Outgoing mail ID", readonly=True, help="The mail.mail sent."
    )
    message_id = fields.Char(
        string="Message-ID", readonly=True, index=True, help="Odoo's Message-ID."
    )
    recipients = fields.Text(readonly=True)
    recipients_key = fields.Char(readonly=True)
    model = fields.Char(string="Document model", readonly=True)
    res_id = fields.Many2oneReference(
        string="Document", model_field="model", readonly=True
    )
    state = fields.Selection(
        [
            ("started", "Started"),
            ("draft", "Draft in the mailbox"),
            ("sent", "Sent"),
            ("failed", "Failed"),
        ],
        required=True,
        default="started",
        readonly=True,
        index=True,
    )
    draft_id = fields.Char(
        string="Graph ID",
        readonly=True,
        help="Immutable id of the draft, the same once the mail is in Sent Items.",
    )
    internet_message_id = fields.Char(
        string="Exchange Message-ID",
        readonly=True,
        index=True,
        help="The Message-ID Exchange gave the mail (usually Odoo's own).",
    )
    conversation_id = fields.Char(readonly=True, index=True)
    sent_date = fields.Datetime(readonly=True)
    reason_key = fields.Char(readonly=True)
    reason_params = fields.Json(readonly=True)
    reason = fields.Text(
        compute="_compute_reason", help="Why the mail failed, in your language."
    )

    _sql_constraints = [
        (
            "send_uniq",
            "unique(mailbox_id, mail_id, message_id, recipients_key)",
            "A mail is sent once to the same recipients.",
        )
    ]

    @api.depends("reason_key", "reason_params")
    @api.depends_context("lang")  # stored as a key, worded for the reader
    def _compute_reason(self):
        for row in self:
            row.reason = row.reason_key and texts.render(
                self.env, row.reason_key, row.reason_params
            )

    def _record(self):
        """The document the sent mail belongs to (or an empty recordset)."""
        self.ensure_one()
        if not (self.model and self.res_id) or self.model not in self.env:
            return None
        return self.env[self.model].browse(self.res_id).exists()
