# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Complementary fields at import: an extraction's pattern compiled once and run on a
mail, and the text it found turned into a value of the ticket field's type."""

import contextlib
import re
from datetime import datetime, timezone

from dateutil import parser as date_parser

TRUE_WORDS = {"1", "x", "yes", "y", "true", "sim", "s", "verdadeiro", "on"}
FALSE_WORDS = {"0", "no", "n", "false", "não", "nao", "falso", "off", ""}


class ConversionError(ValueError):
    """A value that does not fit the field; its text is shown in the chatter."""


class ValueConverter:
    """Text found in a mail -> a value for a field, by the field's type; a text that
    does not fit raises ConversionError (its words shown in the chatter)."""

    def __init__(self, env):
        self.env = env

    def convert(self, field, raw):
        converter = getattr(self, f"_convert_{field.type}", None)
        if converter is None:
            raise ConversionError(
                self.env._("fields of type %s are not supported", field.type)
            )
        return converter(field, raw)

    def _convert_char(self, field, raw):
        return raw

    _convert_text = _convert_char
    _convert_html = _convert_char

    def _convert_integer(self, field, raw):
        number = self._parse_number(raw)
        if number != int(number):
            raise ConversionError(self.env._("not a whole number"))
        return int(number)

    def _convert_float(self, field, raw):
        return self._parse_number(raw)

    _convert_monetary = _convert_float

    def _parse_number(self, raw):
        # "1.234,56" (Brazil) and "1,234.56" both mean 1234.56.
        text = re.sub(r"[^\d,.\-+]", "", raw)
        if "," in text and "." in text:
            decimal = "," if text.rfind(",") > text.rfind(".") else "."
            thousands = "." if decimal == "," else ","
            text = text.replace(thousands, "").replace(decimal, ".")
        elif "," in text:
            text = text.replace(",", ".") if text.count(",") == 1 else ""
        try:
            return float(text)
        except ValueError:
            raise ConversionError(self.env._("not a number")) from None

    def _parse_moment(self, raw):
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(raw)  # 2026-04-05, 2026-04-05 14:30
        try:
            # Day first: 03/04/2026 is 3 April in Brazil.
            return date_parser.parse(raw, dayfirst=True)
        except (ValueError, OverflowError):
            raise ConversionError(self.env._("not a date")) from None

    def _convert_date(self, field, raw):
        return self._parse_moment(raw).date()

    def _convert_datetime(self, field, raw):
        moment = self._parse_moment(raw)
        if moment.tzinfo:
            # Odoo keeps datetimes in UTC, without a time zone.
            moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
        return moment

    def _convert_boolean(self, field, raw):
        word = raw.strip().casefold()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ConversionError(self.env._("not yes or no"))

    def _convert_selection(self, field, raw):
        wanted = raw.casefold()
        for key, label in field._description_selection(self.env):
            if wanted in (str(key).casefold(), str(label).casefold()):
                return key
        raise ConversionError(self.env._("not one of the choices"))

    def _convert_many2one(self, field, raw):
        Comodel = self.env[field.comodel_name]
        found = Comodel.search([(Comodel._rec_name or "id", "=ilike", raw)], limit=2)
        if len(found) != 1:
            found = Comodel.browse(
                [row[0] for row in Comodel.name_search(raw, operator="=ilike", limit=2)]
            )
        if not found:
            raise ConversionError(self.env._("no record has that name"))
        if len(found) > 1:
            raise ConversionError(self.env._("several records have that name"))
        return found.id


class CompiledExtraction:
    """One extraction as plain values, its pattern compiled once."""

    def __init__(self, extraction):
        self.source = extraction.source
        self.label = extraction.kind == "label"
        self.error = None
        self.field_name = extraction.field_id.name
        try:
            if self.label:
                self.pattern = re.compile(
                    r"^[ \t>*]*%s[ \t]*[:=][ \t]*(?P<value>[^\r\n]*?)[ \t]*$"
                    % re.escape((extraction.label or "").strip()),
                    re.IGNORECASE | re.MULTILINE,
                )
            else:
                self.pattern = re.compile(extraction.pattern or "", re.IGNORECASE)
        except re.error as exc:
            # Refused when saved; an older one fails the mails it is tried on.
            self.error = exc

    def reads_body(self):
        return self.source in ("body", "both")

    def _texts(self, facts):
        if self.source == "subject":
            return [facts.subject]
        if self.source == "body":
            return [facts.body]
        return [facts.subject, facts.body]

    def raw_values(self, facts):
        """{field name: raw text} found by this extraction in the mail."""
        if self.error:
            raise self.error
        for text in self._texts(facts):
            match = self.pattern.search(text or "")
            if not match:
                continue
            if self.label:
                return {self.field_name: match.group("value")}
            found = match.groupdict()
            return {k: v for k, v in found.items() if v is not None}
        return {}
