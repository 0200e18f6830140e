# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Setting a mailbox up: one address for one mailbox, the access proven on Graph,
its folders mirrored, and scanning started (its job woken, its notifications and
its sending set up)."""

from odoo import fields
from odoo.exceptions import UserError, ValidationError

from .. import texts
from ..graph import errors as graph_errors
from .health import MailboxHealth
from .sending import MailboxSending


def graph_error_text(mailbox, exc):
    """A Graph error in the words of the reader's language."""
    params = dict(MailboxHealth(mailbox).context_params(), **exc.params)
    return texts.render(mailbox.env, exc.key, params)


class MailboxSetup:
    def __init__(self, mailboxes):
        self.mailboxes = mailboxes
        self.env = mailboxes.env

    def check_address_free(self, address):
        """One address, one mailbox in the whole database: two companies scanning
        it would split its mail between them. Checked before the row is written,
        so the admin reads this instead of the database's unique violation
        (address_uniq stays as the guard against a simultaneous save)."""
        taken = (
            self.mailboxes.sudo()
            .with_context(active_test=False)
            .search_count(
                [("address", "=", address), ("id", "not in", self.mailboxes.ids)]
            )
        )
        if taken:
            raise ValidationError(
                self.env._(
                    "%s is already scanned by another mailbox, possibly of another "
                    "company. One address is scanned by one mailbox only: remove it "
                    "from the other mailbox first.",
                    address,
                )
            )

    def normalize(self, vals):
        if vals.get("address"):
            vals["address"] = vals["address"].strip().lower()
            self.check_address_free(vals["address"])
        return vals

    def check_and_start(self):
        """Proves the access, mirrors the folders and starts scanning at once."""
        for mailbox in self.mailboxes:
            folder = self._graph_call(mailbox, "check_access")
            if mailbox.state == "error":
                MailboxHealth(mailbox).recovered()
            self.refresh_folders(mailbox)
            vals = {
                "state": "running",
                "last_error_key": False,
                "last_error_params": False,
                "cutoff_date": mailbox.cutoff_date or fields.Datetime.now(),
            }
            if not mailbox.folder_id:
                vals["folder_id"] = self._folder(mailbox, folder.id).id
            mailbox.with_context(mail_scanner_starting=True).write(vals)
        self.mailboxes._trigger_sync()
        MailboxSending(self.mailboxes).note_send_role()
        # Scanning starts: the mailbox's job subscribes at its next run.
        Subscription = self.env["mail.scanner.subscription"]
        Subscription._of(self.mailboxes)._reconcile(retry=True)

    def _folder(self, mailbox, graph_id):
        return self.env["mail.scanner.folder"].search(
            [("mailbox_id", "=", mailbox.id), ("graph_id", "=", graph_id)], limit=1
        )

    def _graph_call(self, mailbox, method, *args):
        """A Graph call for the admin at the screen: its errors in words."""
        client = mailbox.app_id._graph_client()
        try:
            if method == "check_access":
                return client.check_access(
                    mailbox.address,
                    mailbox._folder_graph_id(),
                    roles=mailbox.app_id._roles_needed(),
                )
            return getattr(client, method)(mailbox.address, *args)
        except graph_errors.GraphError as exc:
            raise UserError(graph_error_text(mailbox, exc)) from None

    def refresh_folders(self, mailbox):
        folders = self._graph_call(mailbox, "list_folders")
        return self.env["mail.scanner.folder"]._sync_from_graph(mailbox, folders)

    def create_folder(self, mailbox, name):
        folder = self._graph_call(mailbox, "create_folder", name.strip())
        return self.refresh_folders(mailbox)[folder.id]
