# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The scanner's hooks in Odoo's mail gateway, active only for its own imports:
which record a mail created or landed in and which message was posted, the quoted
history folded in the chatter, and the content of the large attachments cut out of
the mail before the gateway parsed it."""

import logging

from markupsafe import Markup

from odoo import api, models

from ..tools.quotes import mark_quoted_history

_logger = logging.getLogger(__name__)


class MailThread(models.AbstractModel):
    """The scanner hands a capture object to ``message_process`` through the context
    (``mail_scanner_capture``); every model's ``message_new`` / ``message_update``
    (helpdesk_mgmt's included, which call these through super()) reports the record
    to it. Without the context keys nothing changes, for any other incoming mail.

    The gateway (_message_route_process) hands one dict to message_new or
    message_update, then posts the chatter message from that same dict. The body
    is marked there, not when the mail is parsed: helpdesk_mgmt's message_new has
    copied it into the ticket's description by then (and the record is created
    before it is marked), so the description keeps the whole first mail while the
    chatter message, new ticket or reply, gets the marked body.
    """

    _inherit = "mail.thread"

    @api.model
    def message_new(self, msg_dict, custom_values=None):
        record = super().message_new(msg_dict, custom_values=custom_values)
        capture = self.env.context.get("mail_scanner_capture")
        if capture is not None:
            capture.created = record
        self._mail_scanner_fold_history(msg_dict)
        return record

    def message_update(self, msg_dict, update_vals=None):
        self._mail_scanner_fold_history(msg_dict)
        result = super().message_update(msg_dict, update_vals=update_vals)
        capture = self.env.context.get("mail_scanner_capture")
        if capture is not None and not capture.created:
            capture.updated = self
        return result

    def message_post(self, **kwargs):
        message = super().message_post(**kwargs)
        capture = self.env.context.get("mail_scanner_capture")
        if (
            capture is not None
            and capture.message_id
            and kwargs.get("message_id") == capture.message_id
        ):
            capture.posted = message
        return message

    def _create_attachments_for_post(self, values_list, extra_list):
        """An attachment cut out of the mail (tools/large_parts.py) arrives here
        with the token left in its place as content: it gets its real bytes,
        decoded from the original mail, before Odoo computes its mimetype and
        checksum and writes it to the filestore, as for any other attachment."""
        cut_parts = self.env.context.get("mail_scanner_cut_parts")
        if cut_parts:
            for values in values_list:
                part = cut_parts.get(values.get("datas"))
                if part is not None:
                    del values["datas"]
                    values["raw"] = part.content()
        return super()._create_attachments_for_post(values_list, extra_list)

    @api.model
    def _mail_scanner_fold_history(self, msg_dict):
        """Mark the quoted history of an imported mail's body so that the chatter
        folds it as it folds Gmail quotes. Only for the scanner's imports."""
        body = msg_dict.get("body")
        if not self.env.context.get("mail_scanner_import") or not body:
            return
        try:
            marked = mark_quoted_history(str(body))
        except Exception:  # pylint: disable=broad-except
            # Folding is a comfort: a body it cannot handle is imported as it is.
            _logger.warning(
                "Could not fold the quoted history of mail %s",
                msg_dict.get("message_id"),
                exc_info=True,
            )
            return
        if marked != body:
            # The body is HTML Odoo built (text/plain in a <pre>) or sanitized;
            # mail.message sanitizes it again when the message is stored.
            msg_dict["body"] = Markup(marked)
