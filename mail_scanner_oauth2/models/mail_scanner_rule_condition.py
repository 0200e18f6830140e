# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
import re

from odoo import api, fields, models
from odoo.exceptions import ValidationError

FIELD_LABELS = {
    "from": "Sender address",
    "from_domain": "Sender domain",
    "to_cc": "To or Cc",
    "subject": "Subject",
    "body": "Body text",
    "header": "Header",
    "has_attachment": "Has an attachment",
}


class MailScannerRuleCondition(models.Model):
    _name = "mail.scanner.rule.condition"
    _description = "Mail Scanner Rule Condition"
    _order = "rule_id, sequence, id"

    rule_id = fields.Many2one("mail.scanner.rule", required=True, ondelete="cascade")
    sequence = fields.Integer(default=10)
    field = fields.Selection(
        list(FIELD_LABELS.items()), string="Looks at", required=True, default="subject"
    )
    header_name = fields.Char(help="The header to look at, such as X-Priority.")
    operator = fields.Selection(
        [
            ("contains", "contains"),
            ("equals", "equals"),
            ("regex", "matches the regular expression"),
        ],
        required=True,
        default="contains",
    )
    value = fields.Char(help="Compared without regard to case.")
    negate = fields.Boolean(
        string="Does not", help="The condition holds when the test fails."
    )

    @api.constrains("operator", "value", "field")
    def _check_value(self):
        for condition in self:
            if condition.field == "has_attachment":
                continue
            if not condition.value:
                raise ValidationError(
                    self.env._("Give the value the condition compares with.")
                )
            if condition.operator == "regex":
                try:
                    re.compile(condition.value)
                except re.error as exc:
                    raise ValidationError(
                        self.env._(
                            "'%(pattern)s' is not a valid regular expression: "
                            "%(error)s",
                            pattern=condition.value,
                            error=exc,
                        )
                    ) from None

    @api.constrains("field", "header_name")
    def _check_header_name(self):
        for condition in self:
            if condition.field == "header" and not condition.header_name:
                raise ValidationError(self.env._("Name the header to look at."))

    def _compile(self):
        self.ensure_one()
        return CompiledCondition(
            self.field, self.header_name, self.operator, self.value, self.negate
        )

    def _describe(self):
        self.ensure_one()
        what = dict(self._fields["field"]._description_selection(self.env))[self.field]
        if self.field == "header":
            what = f"{what} {self.header_name}"
        if self.field == "has_attachment":
            return f"{'not ' if self.negate else ''}{what}"
        operator = dict(self._fields["operator"]._description_selection(self.env))[
            self.operator
        ]
        negation = self.env._("not") + " " if self.negate else ""
        return f"{what} {negation}{operator} '{self.value}'"


class CompiledCondition:
    """A condition as plain values, its regular expression compiled once."""

    def __init__(self, field, header_name, operator, value, negate):
        self.field = field
        self.header_name = header_name
        self.operator = operator
        self.negate = negate
        value = value or ""
        self.pattern = self.error = None
        if operator == "regex":
            try:
                self.pattern = re.compile(value, re.IGNORECASE | re.MULTILINE)
            except re.error as exc:
                # Refused when saved; an older one fails the mails it is tried on.
                self.error = exc
        elif operator == "equals":
            self.wanted = value.strip().casefold()
        else:
            self.wanted = value.casefold()

    def holds(self, facts):
        return self._test(facts) != self.negate

    def _test(self, facts):
        if self.field == "has_attachment":
            return facts.has_attachment
        return any(self._compare(text) for text in self._texts(facts))

    def _texts(self, facts):
        if self.field == "from":
            return [facts.sender]
        if self.field == "from_domain":
            return [facts.sender_domain]
        if self.field == "to_cc":
            return facts.recipients
        if self.field == "subject":
            return [facts.subject]
        if self.field == "body":
            return [facts.body]
        return [facts.header(self.header_name)]

    def _compare(self, text):
        text = text or ""
        if self.operator == "equals":
            return text.strip().casefold() == self.wanted
        if self.operator == "regex":
            if self.error:
                raise self.error
            return bool(self.pattern.search(text))
        return self.wanted in text.casefold()
