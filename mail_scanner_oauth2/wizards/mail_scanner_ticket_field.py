# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""'Create a ticket field': a supervisor adds the field a mail's value goes to.

As Odoo's own Settings > Technical > Fields does, the field is an ``ir.model.fields``
record in state ``manual`` with an ``x_`` name (Odoo adds the column and the field
to the registry at once); it is then shown on the ticket form's Complementary
fields page, and optionally read from "Label: value" lines of new mails.
"""

import re
import unicodedata

from odoo import Command, api, fields, models
from odoo.exceptions import UserError

from ..models.mail_scanner_extraction import TICKET

FIELD_TYPES = [
    ("char", "Text (one line)"),
    ("text", "Text (several lines)"),
    ("integer", "Whole number"),
    ("float", "Decimal number"),
    ("date", "Date"),
    ("datetime", "Date and time"),
    ("boolean", "Yes / No"),
    ("selection", "Choice from a list"),
]
# PostgreSQL names are at most 63 bytes; room is left for a "_2" suffix.
MAX_NAME = 50


def slug(text):
    """ASCII lowercase words joined by underscores ("Número do pedido" ->
    "numero_do_pedido")."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")


class MailScannerTicketField(models.TransientModel):
    _name = "mail.scanner.ticket.field"
    _description = "Mail Scanner: create a ticket field"

    mailbox_id = fields.Many2one("mail.scanner.mailbox", required=True)
    label = fields.Char(
        required=True,
        help="The field's name as agents read it on the ticket, e.g. 'Order number'.",
    )
    field_type = fields.Selection(
        FIELD_TYPES, string="Type", required=True, default="char"
    )
    choices = fields.Text(
        help="One choice per line, as agents will read them.",
    )
    technical_name = fields.Char(compute="_compute_technical_name")
    read_from_mail = fields.Boolean(
        string="Fill it from new mails",
        default=True,
        help="Reads the value from a line such as 'Order number: 12345' (the "
        "label, a colon, the value) of each new mail.",
    )
    source = fields.Selection(
        [("subject", "Subject"), ("body", "Body"), ("both", "Subject and body")],
        string="Look in",
        required=True,
        default="body",
    )

    @api.depends("label")
    def _compute_technical_name(self):
        for wizard in self:
            wizard.technical_name = wizard.label and wizard._free_name(wizard.label)

    def _free_name(self, label):
        """An x_ name no ticket field has yet."""
        base = "x_" + (slug(label)[:MAX_NAME] or "field")
        taken = set(self.env[TICKET]._fields)
        name, number = base, 1
        while name in taken:
            number += 1
            name = f"{base}_{number}"
        return name

    def _selection_commands(self):
        labels = [line.strip() for line in (self.choices or "").splitlines()]
        labels = list(dict.fromkeys(label for label in labels if label))
        if len(labels) < 2:
            raise UserError(self.env._("Enter at least two choices, one per line."))
        commands, keys = [], set()
        for sequence, label in enumerate(labels):
            key = slug(label) or str(sequence)
            while key in keys:
                key += "_"
            keys.add(key)
            commands.append(
                Command.create({"value": key, "name": label, "sequence": sequence})
            )
        return commands

    def action_create(self):
        self.ensure_one()
        field = self._create_field()
        Extraction = self.env["mail.scanner.extraction"]
        Extraction._show_on_ticket_form(field)
        if self.read_from_mail:
            Extraction.create(
                {
                    "name": self.label.strip(),
                    "mailbox_id": self.mailbox_id.id,
                    "kind": "label",
                    "label": self.label.strip(),
                    "source": self.source,
                    "field_id": field.id,
                }
            )
        return {"type": "ir.actions.act_window_close"}

    def _create_field(self):
        values = {
            "model_id": self.env["ir.model"]._get_id(TICKET),
            "name": self._free_name(self.label),
            "field_description": self.label.strip(),
            "ttype": self.field_type,
            "state": "manual",
            "copied": False,
        }
        if self.field_type == "selection":
            values["selection_ids"] = self._selection_commands()
        return self.env["ir.model.fields"].create(values)
