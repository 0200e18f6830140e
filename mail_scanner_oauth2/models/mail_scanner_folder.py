# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from odoo import fields, models


class MailScannerFolder(models.Model):
    """A mail folder of a scanned mailbox, as last read from Graph.

    Folders are stored by Graph id, never by name, so renaming a folder in
    Outlook does not break the scanner.
    """

    _name = "mail.scanner.folder"
    _description = "Mail Scanner Mailbox Folder"
    _order = "path"
    _rec_name = "path"

    mailbox_id = fields.Many2one(
        "mail.scanner.mailbox", required=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one(related="mailbox_id.company_id", store=True)
    graph_id = fields.Char(string="Graph ID", required=True)
    name = fields.Char(required=True)
    path = fields.Char(required=True)
    total_count = fields.Integer(string="Messages")
    unread_count = fields.Integer(string="Unread")

    _sql_constraints = [
        (
            "graph_id_uniq",
            "unique(mailbox_id, graph_id)",
            "A folder is listed once per mailbox.",
        )
    ]

    def _sync_from_graph(self, mailbox, folders):
        """Mirrors Graph's folder tree for the mailbox; returns graph id -> record."""
        existing = {
            f.graph_id: f for f in self.search([("mailbox_id", "=", mailbox.id)])
        }
        seen = {}
        for folder in (f for root in folders for f in root.walk()):
            vals = {
                "name": folder.name,
                "path": folder.path,
                "total_count": folder.total or 0,
                "unread_count": folder.unread or 0,
            }
            record = existing.get(folder.id)
            if record:
                record.write(vals)
            else:
                record = self.create(
                    dict(vals, mailbox_id=mailbox.id, graph_id=folder.id)
                )
            seen[folder.id] = record
        # Folders that disappeared stay unless in use: the mailbox may point at them.
        in_use = mailbox.folder_id | mailbox.move_folder_id
        (
            self.browse([r.id for g, r in existing.items() if g not in seen]) - in_use
        ).unlink()
        return seen
