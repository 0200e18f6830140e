# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from odoo import models


class HelpdeskTicket(models.Model):
    _inherit = "helpdesk.ticket"

    def _track_template(self, tracking):
        """No stage e-mail (the usual acknowledgement) for mail whose sender asks for
        no automatic answer: a mailing list's post, a bulk sender's mail."""
        templates = super()._track_template(tracking)
        if self.env.context.get("mail_scanner_no_auto_answer"):
            templates.pop("stage_id", None)
        return templates
