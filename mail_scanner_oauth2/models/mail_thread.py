# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The scanner's hooks in Odoo's mail gateway, active only for its own imports:
which record a mail created or landed in and which message was posted, the quoted
history folded in the chatter, who is notified of an imported mail, the Message-IDs
Exchange gave the mails Odoo sent through the mailbox, and the content of the large
attachments cut out of the mail before the gateway parsed it."""

import logging

from markupsafe import Markup

from odoo import api, models, tools

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

    # ------------------------------------------------ mail sent through the mailbox
    # Mail sent through the mailbox (sync/outgoing.py), seen again by the import.
    # Exchange may give a sent mail its own Message-ID (the send ledger keeps it as
    # ``internet_message_id``). The answers and the non-delivery reports of that mail
    # then name Exchange's id; while the scanner imports, these hooks translate it to
    # Odoo's, so that Odoo's own threading and bounce handling find the mail.
    #
    # And once answers leave through the mailbox, an imported mail must not be sent
    # again to the people who have it already (its To and Cc people), nor to the
    # customers following the ticket: they hear from the agents' messages, not from
    # each other's mail. Agents keep Odoo's usual notifications.

    @api.model
    def _mail_scanner_odoo_ids(self, references):
        """Odoo's Message-IDs of the sent mails Exchange knows under `references`."""
        if not references:
            return []
        rows = (
            self.env["mail.scanner.outgoing"]
            .sudo()
            .search([("internet_message_id", "in", list(references))])
        )
        return [mid for mid in dict.fromkeys(rows.mapped("message_id")) if mid]

    @api.model
    def message_parse(self, message, save_original=False):
        msg_dict = super().message_parse(message, save_original=save_original)
        if self.env.context.get("mail_scanner_import"):
            self._mail_scanner_translate_references(msg_dict)
        return msg_dict

    @api.model
    def _mail_scanner_translate_references(self, msg_dict):
        in_reply_to = (msg_dict.get("in_reply_to") or "").strip()
        references = [
            ref.strip()
            for ref in tools.mail.unfold_references(msg_dict.get("references") or "")
        ]
        odoo_ids = self._mail_scanner_odoo_ids({in_reply_to, *references} - {""})
        if not odoo_ids:
            return
        # Appended last: the gateway reads the newest references first.
        msg_dict["references"] = " ".join(dict.fromkeys(references + odoo_ids))
        replaced = self._mail_scanner_odoo_ids({in_reply_to} - {""})
        if replaced:
            msg_dict["in_reply_to"] = replaced[0]
            if not msg_dict.get("parent_id"):
                msg_dict.update(
                    self._message_parse_extract_from_parent(
                        self._get_parent_message(msg_dict)
                    )
                )

    @api.model
    def _get_bounced_message_data(self, message, message_dict):
        bounced, reference_ids = super()._get_bounced_message_data(
            message, message_dict
        )
        if bounced or not self.env.context.get("mail_scanner_import"):
            return bounced, reference_ids
        odoo_ids = self._mail_scanner_odoo_ids(reference_ids)
        if odoo_ids:
            bounced = self.env["mail.message"].search(
                [("message_id", "in", odoo_ids)],
                order="create_date DESC, id DESC",
                limit=1,
            )
        return bounced, reference_ids + odoo_ids

    def _notify_get_recipients(self, message, msg_vals, **kwargs):
        recipients = super()._notify_get_recipients(message, msg_vals, **kwargs)
        if not self.env.context.get("mail_scanner_import") or not recipients:
            return recipients
        holders = self.env.context.get("mail_scanner_recipients") or frozenset()
        partners = self.env["res.partner"].sudo().browse([r["id"] for r in recipients])
        emails = {partner.id: partner.email_normalized for partner in partners}
        return [
            recipient
            for recipient in recipients
            if not recipient.get("share")
            and not (
                recipient.get("notif") == "email"
                and emails.get(recipient["id"]) in holders
            )
        ]
