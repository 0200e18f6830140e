# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from odoo import api, fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    mail_scanner_mailbox_id = fields.Many2one(
        "mail.scanner.mailbox",
        string="Scanned mailbox",
        compute="_compute_mail_scanner_mailbox_id",
    )

    @api.depends("company_id")
    def _compute_mail_scanner_mailbox_id(self):
        for settings in self:
            settings.mail_scanner_mailbox_id = self.env["mail.scanner.mailbox"].search(
                [("company_id", "=", settings.company_id.id)], limit=1
            )

    def action_mail_scanner_create_mailbox(self):
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Scanned mailbox"),
            "res_model": "mail.scanner.mailbox",
            "view_mode": "form",
            "target": "current",
            "context": {"default_company_id": self.company_id.id},
        }

    def action_mail_scanner_open_mailbox(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Scanned mailbox"),
            "res_model": "mail.scanner.mailbox",
            "res_id": self.mail_scanner_mailbox_id.id,
            "view_mode": "form",
            "target": "current",
        }
