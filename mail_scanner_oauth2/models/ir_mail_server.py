# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The scanned mailbox as an outgoing mail server.

As Odoo's ``microsoft_outlook`` and ``google_gmail`` plug OAuth into
``ir.mail_server``, this plugs Microsoft Graph in: a server whose authentication is
``mail_scanner_graph`` belongs to a mailbox (one server per mailbox that sends), is
chosen by Odoo's usual matching of From addresses (its From filter is the mailbox's
address), and its ``connect()`` returns a ``GraphSession`` (sync/outgoing.py) where
other servers return an SMTP connection. Odoo builds the MIME as for SMTP; the
session sends it through Graph, also in test mode (it talks to the emulator there).
"""

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..sync.outgoing import GRAPH_AUTHENTICATION, GraphSession


class IrMailServer(models.Model):
    _inherit = "ir.mail_server"

    smtp_authentication = fields.Selection(
        selection_add=[(GRAPH_AUTHENTICATION, "Microsoft Graph (scanned mailbox)")],
        ondelete={GRAPH_AUTHENTICATION: "set default"},
    )
    mail_scanner_mailbox_id = fields.Many2one(
        "mail.scanner.mailbox",
        string="Scanned mailbox",
        ondelete="cascade",
        readonly=True,
        help="Mail matched to this server leaves through this mailbox, over "
        "Microsoft Graph with the mailbox's Azure app.",
    )

    def _compute_smtp_authentication_info(self):
        graph = self.filtered(
            lambda server: server.smtp_authentication == GRAPH_AUTHENTICATION
        )
        for server in graph:
            server.smtp_authentication_info = self.env._(
                "Sent through Microsoft Graph as the scanned mailbox %s, with its "
                "Azure app (application permission Mail.Send). Exchange keeps a "
                "copy in the mailbox's Sent Items. Set up on the mailbox (Settings "
                "> Mail Scanner).",
                server.mail_scanner_mailbox_id.address or "",
            )
        return super(IrMailServer, self - graph)._compute_smtp_authentication_info()

    # ------------------------------------------------------------- sessions
    def _mail_scanner_session(self, email_from, mail_server_id=None, archived=False):
        """A GraphSession when the server Odoo would use is a mailbox's, else None."""
        if mail_server_id:
            server, smtp_from = self.sudo().browse(mail_server_id), email_from
            if not archived and not server.active:
                return None  # Odoo's own connect() says why it cannot be used
        else:
            server, smtp_from = self.sudo()._find_mail_server(email_from)
        if not server or server.smtp_authentication != GRAPH_AUTHENTICATION:
            return None
        if not server.mail_scanner_mailbox_id:
            raise UserError(
                self.env._(
                    "The outgoing mail server %s sends through a scanned mailbox, "
                    "but none is set: enable sending on the mailbox instead.",
                    server.display_name,
                )
            )
        return GraphSession(server, smtp_from)

    def connect(
        self,
        host=None,
        port=None,
        user=None,
        password=None,
        encryption=None,
        smtp_from=None,
        ssl_certificate=None,
        ssl_private_key=None,
        smtp_debug=False,
        mail_server_id=None,
        allow_archived=False,
    ):
        if not host:
            session = self._mail_scanner_session(
                smtp_from, mail_server_id, archived=allow_archived
            )
            if session is not None:
                return session
        return super().connect(
            host=host,
            port=port,
            user=user,
            password=password,
            encryption=encryption,
            smtp_from=smtp_from,
            ssl_certificate=ssl_certificate,
            ssl_private_key=ssl_private_key,
            smtp_debug=smtp_debug,
            mail_server_id=mail_server_id,
            allow_archived=allow_archived,
        )

    def _prepare_email_message(self, message, smtp_session):
        smtp_from, smtp_to_list, message = super()._prepare_email_message(
            message, smtp_session
        )
        if isinstance(smtp_session, GraphSession):
            smtp_session.adapt_headers(message)
        return smtp_from, smtp_to_list, message

    @api.model
    def send_email(
        self,
        message,
        mail_server_id=None,
        smtp_server=None,
        smtp_port=None,
        smtp_user=None,
        smtp_password=None,
        smtp_encryption=None,
        smtp_ssl_certificate=None,
        smtp_ssl_private_key=None,
        smtp_debug=False,
        smtp_session=None,
    ):
        session, own_session = smtp_session, False
        if session is None and not smtp_server:
            session = self._mail_scanner_session(message["From"], mail_server_id)
            own_session = session is not None
        if not isinstance(session, GraphSession):
            return super().send_email(
                message,
                mail_server_id=mail_server_id,
                smtp_server=smtp_server,
                smtp_port=smtp_port,
                smtp_user=smtp_user,
                smtp_password=smtp_password,
                smtp_encryption=smtp_encryption,
                smtp_ssl_certificate=smtp_ssl_certificate,
                smtp_ssl_private_key=smtp_ssl_private_key,
                smtp_debug=smtp_debug,
                smtp_session=smtp_session,
            )
        try:
            _smtp_from, smtp_to_list, message = self._prepare_email_message(
                message, session
            )
            return session.send(message, smtp_to_list)
        finally:
            if own_session:
                session.quit()

    # ------------------------------------------------------------------ test
    def test_smtp_connection(self, autodetect_max_email_size=False):
        graph = self.filtered(
            lambda server: server.smtp_authentication == GRAPH_AUTHENTICATION
        )
        if graph and autodetect_max_email_size:
            raise UserError(
                self.env._(
                    "Exchange Online does not tell its maximum message size: it is "
                    "35 MB unless an administrator raised the mailbox's limit (up to "
                    "150 MB). Enter that value here."
                )
            )
        for server in graph:
            server.mail_scanner_mailbox_id._check_send_access()
        others = self - graph
        if others:
            return super(IrMailServer, others).test_smtp_connection(
                autodetect_max_email_size=autodetect_max_email_size
            )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "message": self.env._("Connection Test Successful!"),
                "type": "success",
                "sticky": False,
            },
        }
