# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Sending answers through the scanned mailbox: the mailbox's set-up.

"Send answers through this mailbox" is offered once the Azure app's token carries
the application permission Mail.Send, and is then on by default. While it is on, the
mailbox owns one outgoing mail server (``ir.mail_server``, see
models/ir_mail_server.py) whose From filter is its address: Odoo's usual matching of
From addresses sends the company's mail written as that address (agents' answers on
tickets included) through it. How a mail leaves is in ``outgoing.py``.
"""

from urllib.parse import urlsplit

from odoo.exceptions import UserError

from ..graph import errors as graph_errors
from ..graph.errors import SEND_ROLE
from ..graph.send import DEFAULT_MAX_MESSAGE_SIZE, has_send_role
from .outgoing import GRAPH_AUTHENTICATION

# Mailbox fields whose change means the outgoing server must follow.
SERVER_FIELDS = {"send_answers", "address", "active", "company_id"}


class MailboxSending:
    def __init__(self, mailboxes):
        self.mailboxes = mailboxes
        self.env = mailboxes.env

    def check_access(self):
        """Raises a UserError saying what to add in Azure when the app may not send
        as these mailboxes (checked on the token: the role is granted or not)."""
        for mailbox in self.mailboxes:
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

    def note_send_role(self):
        """Remembers whether the app's token carries Mail.Send; the first time it
        does, sending through the mailbox is switched on (offered, on by default)."""
        for mailbox in self.mailboxes.filtered(lambda m: m._is_complete()):
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

    def after_write(self, vals, turned_on):
        """The checks and the server that follow a change of the mailboxes."""
        if vals.get("send_answers") and not self.env.context.get(
            "mail_scanner_send_checked"
        ):
            MailboxSending(
                turned_on.filtered(lambda m: m._is_complete())
            ).check_access()
        if SERVER_FIELDS & set(vals):
            self.sync_mail_server()

    # ------------------------------------------------------ the mail server
    def _server_values(self, mailbox):
        app = mailbox.app_id
        graph_url = app._graph_settings()["graph_url"] if app else ""
        return {
            "name": self.env._("Mail Scanner: %s", mailbox.address),
            "from_filter": mailbox.address,
            "smtp_authentication": GRAPH_AUTHENTICATION,
            "smtp_host": urlsplit(graph_url).hostname or "graph.microsoft.com",
            "smtp_port": 443,
            "smtp_encryption": "ssl",
            "mail_scanner_mailbox_id": mailbox.id,
            "active": True,
        }

    def sync_mail_server(self):
        """One outgoing mail server per mailbox that sends; archived otherwise."""
        Server = self.env["ir.mail_server"].sudo().with_context(active_test=False)
        for mailbox in self.mailboxes:
            server = mailbox.mail_server_id.sudo().with_context(active_test=False)
            if mailbox.send_answers and mailbox.active and mailbox.address:
                values = self._server_values(mailbox)
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
