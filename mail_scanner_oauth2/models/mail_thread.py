# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from odoo import api, models


class MailThread(models.AbstractModel):
    """Tells the scanner which record its mail created or landed in.

    The scanner hands a capture object to ``message_process`` through the context;
    every model's ``message_new`` / ``message_update`` (helpdesk_mgmt's included,
    which call these through super()) reports the record to it. Without the context
    key nothing changes, for any other incoming mail.
    """

    _inherit = "mail.thread"

    @api.model
    def message_new(self, msg_dict, custom_values=None):
        record = super().message_new(msg_dict, custom_values=custom_values)
        capture = self.env.context.get("mail_scanner_capture")
        if capture is not None:
            capture.created = record
        return record

    def message_update(self, msg_dict, update_vals=None):
        result = super().message_update(msg_dict, update_vals=update_vals)
        capture = self.env.context.get("mail_scanner_capture")
        if capture is not None and not capture.created:
            capture.updated = self
        return result
