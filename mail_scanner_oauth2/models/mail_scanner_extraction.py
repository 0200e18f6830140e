# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Complementary fields: values pulled out of a mail's text into ticket fields."""

import re

from lxml import etree

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..sync.extraction import CompiledExtraction, ConversionError, ValueConverter

SUPPORTED_TYPES = (
    "char",
    "text",
    "html",
    "integer",
    "float",
    "monetary",
    "date",
    "datetime",
    "boolean",
    "selection",
    "many2one",
)
TICKET = "helpdesk.ticket"
# Ticket fields a value read from a customer's mail must never write, whatever
# their type: the system's own, those the gateway sets from the mail itself
# (subject, body, sender), and the ticket's workflow that agents move.
RESERVED_FIELDS = set(models.MAGIC_COLUMNS) | {
    "display_name",
    "active",
    "company_id",
    "sequence",
    "color",
    "number",
    "name",
    "description",
    "partner_id",
    "email_cc",
    "kanban_state",
    "assigned_date",
    "closed_date",
    "last_stage_update",
    "duplicate_id",
}
RESERVED_PREFIXES = ("access_", "message_", "activity_", "website_", "rating_")
# Records of these models belong to the system (users, companies, technical
# records): a mail's text must not pick one.
SYSTEM_MODEL_PREFIXES = (
    "ir.",
    "res.users",
    "res.groups",
    "res.company",
    "mail.",
    "bus.",
    "base.",
    "auth",
    "rating.",
    "website",
    "portal.",
    "digest.",
    "iap.",
    "sms.",
    "spreadsheet",
)
# The ticket form's page of fields created from the mailbox's screen (one view,
# rewritten as fields are added: Odoo refuses to delete a field still shown).
TICKET_FORM_VIEW = "helpdesk_ticket_view_form_complementary_fields"
PAGE_TITLE = (
    "Complementary fields"  # translated on the view (_translate_ticket_form_page)
)


class MailScannerExtraction(models.Model):
    _name = "mail.scanner.extraction"
    _description = "Mail Scanner Complementary Field"
    _order = "mailbox_id, sequence, id"

    name = fields.Char(required=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    mailbox_id = fields.Many2one(
        "mail.scanner.mailbox", required=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one(related="mailbox_id.company_id", store=True)
    source = fields.Selection(
        [("subject", "Subject"), ("body", "Body"), ("both", "Subject and body")],
        required=True,
        default="body",
    )
    kind = fields.Selection(
        [
            ("label", "A 'Label: value' line"),
            ("regex", "A regular expression with named groups"),
        ],
        required=True,
        default="label",
    )
    label = fields.Char(
        help="For a line such as 'Order number: 12345', the label is 'Order number'."
    )
    pattern = fields.Char(
        string="Regular expression",
        help="Each named group writes the field of the same technical name, e.g. "
        "(?P<x_order_ref>PO-\\d+).",
    )
    field_id = fields.Many2one(
        "ir.model.fields",
        string="Ticket field",
        ondelete="cascade",
        domain=lambda self: [
            ("model", "=", TICKET),
            ("name", "in", self._fillable_field_names()),
        ],
        help="Only the ticket's own business fields can be filled from a mail; "
        "'Create a ticket field' adds one.",
    )

    # ------------------------------------------------------ fillable fields
    @api.model
    def _fillable_field_names(self, model=TICKET):
        """Fields of `model` a supervisor may fill from a mail's text."""
        Model = self.env[model]
        return sorted(
            name for name, field in Model._fields.items() if self._is_fillable(field)
        )

    @api.model
    def _is_fillable(self, field):
        if field.type not in SUPPORTED_TYPES or field.groups:
            return False  # a type we cannot convert to, or a restricted field
        if not field.store or field.readonly or field.compute or field.related:
            return False  # the ORM computes it
        if field.name in RESERVED_FIELDS or field.name.startswith(RESERVED_PREFIXES):
            return False
        if field.type == "many2one":
            comodel = self.env[field.comodel_name]
            if comodel._transient or field.comodel_name.startswith(
                SYSTEM_MODEL_PREFIXES
            ):
                return False
        return True

    def _check_fillable(self, names):
        refused = sorted(set(names) - set(self._fillable_field_names()))
        if refused:
            raise ValidationError(
                self.env._(
                    "A mail cannot fill %(names)s: only the ticket's own business "
                    "fields can be filled (not the system's, nor those Odoo fills "
                    "from the mail itself). Create a ticket field for the value.",
                    names=", ".join(refused),
                )
            )

    @api.constrains("kind", "label", "pattern", "field_id")
    def _check_definition(self):
        for extraction in self:
            if extraction.kind == "label":
                if not (extraction.label and extraction.field_id):
                    raise ValidationError(
                        self.env._("A label extraction needs the label and the field.")
                    )
                extraction._check_fillable([extraction.field_id.name])
                continue
            extraction._check_pattern()

    def _check_pattern(self):
        try:
            compiled = re.compile(self.pattern or "")
        except re.error as exc:
            raise ValidationError(
                self.env._(
                    "'%(pattern)s' is not a valid regular expression: %(error)s",
                    pattern=self.pattern,
                    error=exc,
                )
            ) from None
        if not compiled.groupindex:
            raise ValidationError(
                self.env._(
                    "Name the groups after the ticket fields they fill, "
                    "e.g. (?P<x_order_ref>PO-\\d+)."
                )
            )
        unknown = set(compiled.groupindex) - set(self.env["helpdesk.ticket"]._fields)
        if unknown:
            raise ValidationError(
                self.env._(
                    "Tickets have no field named %(names)s.",
                    names=", ".join(sorted(unknown)),
                )
            )
        self._check_fillable(compiled.groupindex)

    # ------------------------------------------------------ the ticket form
    @api.model
    def _show_on_ticket_form(self, field):
        """Adds `field` to the ticket form's Complementary fields page (a view
        inheriting helpdesk_mgmt's form, kept by this module)."""
        view = self.env.ref(f"mail_scanner_oauth2.{TICKET_FORM_VIEW}", False)
        names = self._names_on_ticket_form(view)
        if field.name not in names:
            names.append(field.name)
        arch = self._ticket_form_arch(names)
        if view:
            view.with_context(lang="en_US").arch_db = arch
        else:
            view = self._create_ticket_form_view(arch)
        self._translate_ticket_form_page(view)
        return view

    def _names_on_ticket_form(self, view):
        if not view:
            return []
        Ticket = self.env[TICKET]
        arch = etree.fromstring(view.with_context(lang="en_US").arch_db)
        return [name for name in arch.xpath("//field/@name") if name in Ticket._fields]

    def _ticket_form_arch(self, names):
        data = etree.Element("data")
        xpath = etree.SubElement(data, "xpath", expr="//notebook", position="inside")
        page = etree.SubElement(
            xpath,
            "page",
            string=PAGE_TITLE,
            name="mail_scanner_complementary_fields",
        )
        group = etree.SubElement(page, "group", name="mail_scanner_fields")
        for name in names:
            etree.SubElement(group, "field", name=name)
        return etree.tostring(data, encoding="unicode")

    def _create_ticket_form_view(self, arch):
        view = (
            self.env["ir.ui.view"]
            .with_context(lang="en_US")
            .create(
                {
                    "name": "helpdesk.ticket.form.mail_scanner.complementary_fields",
                    "model": TICKET,
                    "inherit_id": self.env.ref("helpdesk_mgmt.ticket_view_form").id,
                    "mode": "extension",
                    "priority": 90,
                    "arch_db": arch,
                }
            )
        )
        # Named by this module (and removed with it); noupdate: an upgrade of the
        # module must not delete a view the supervisors' fields live in.
        self.env["ir.model.data"].sudo().create(
            {
                "module": "mail_scanner_oauth2",
                "name": TICKET_FORM_VIEW,
                "model": "ir.ui.view",
                "res_id": view.id,
                "noupdate": True,
            }
        )
        return view

    def _translate_ticket_form_page(self, view):
        translations = {}
        for lang, _label in self.env["res.lang"].get_installed():
            if lang != "en_US":
                title = self.with_context(lang=lang).env._("Complementary fields")
                translations[lang] = {PAGE_TITLE: title}
        if translations:
            view.update_field_translations("arch_db", translations)

    # ------------------------------------------------------------ extracting
    def _compile(self):
        """The active extractions as plain objects, patterns compiled once."""
        return [
            CompiledExtraction(extraction) for extraction in self.filtered("active")
        ]

    @api.model
    def _extract_all(self, extractions, facts, model="helpdesk.ticket"):
        """(values to write, [why a value was left out]) for one mail."""
        return self._extract_compiled(extractions._compile(), facts, model)

    @api.model
    def _extract_compiled(self, compiled, facts, model="helpdesk.ticket"):
        values, problems = {}, []
        converter = ValueConverter(self.env)
        for extraction in compiled:
            for name, raw in extraction.raw_values(facts).items():
                field = self.env[model]._fields.get(name)
                if field is None:
                    continue
                try:
                    values[name] = converter.convert(field, raw.strip())
                except ConversionError as exc:
                    problems.append(
                        self.env._(
                            "%(field)s: '%(value)s' was not written: %(reason)s",
                            field=field._description_string(self.env),
                            value=raw.strip()[:200],
                            reason=exc,
                        )
                    )
        return values, problems
