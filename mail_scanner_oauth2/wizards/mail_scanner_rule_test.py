# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from markupsafe import Markup, escape

from odoo import fields, models

from .. import texts
from ..sync.gateway import MailImporter
from ..tools.mail_facts import MailFacts


class MailScannerRuleTest(models.TransientModel):
    """'Try it': what the rules and complementary fields make of a pasted mail."""

    _name = "mail.scanner.rule.test"
    _description = "Mail Scanner: try the rules on a mail"

    mailbox_id = fields.Many2one("mail.scanner.mailbox", required=True)
    raw_mail = fields.Text(
        string="Mail",
        required=True,
        help="Paste the mail's source (in Outlook: File > Properties, or Save As "
        ".eml), headers included.",
    )
    result = fields.Html(readonly=True, sanitize=True)

    def action_try(self):
        self.ensure_one()
        facts = MailFacts(self.raw_mail.replace("\r\n", "\n").encode())
        self.result = self._render(facts)
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
        }

    def _render(self, facts):
        Ledger = self.env["mail.scanner.message"]
        row = Ledger.new({"mailbox_id": self.mailbox_id.id, "graph_id": "try-it"})
        parts = [self._section(self.env._("Mail"), self._mail_lines(facts))]
        importer = MailImporter(self.mailbox_id)
        protection = importer._protection(facts)
        if protection:
            reason = texts.render(self.env, protection.key, protection.params)
            parts.append(self._section(self.env._("Ignored"), [reason]))
            return Markup("").join(parts)
        _thread, is_reply = importer.threads.find(row, facts)
        parts.append(
            self._section(self.env._("Rules"), self._rule_lines(facts, is_reply))
        )
        values, problems = self.env["mail.scanner.extraction"]._extract_all(
            self.mailbox_id.extraction_ids, facts
        )
        lines = [f"{name} = {value!r}" for name, value in values.items()] + problems
        parts.append(
            self._section(
                self.env._("Complementary fields"),
                lines or [self.env._("No value found.")],
            )
        )
        return Markup("").join(parts)

    def _mail_lines(self, facts):
        return [
            self.env._("From: %s", facts.sender),
            self.env._("Subject: %s", facts.subject),
            self.env._("Has attachments: %s", facts.has_attachment),
        ]

    def _rule_lines(self, facts, is_reply):
        rules = self.mailbox_id.rule_ids
        decision = rules._decide(facts, is_reply)
        matched_ids = {rule.id for rule in decision.matched}
        lines = []
        for rule in rules.sorted(lambda r: (r.sequence, r.id)):
            matched = rule.id in matched_ids
            verdict = self.env._("matches") if matched else self.env._("does not match")
            lines.append(f"{rule.name}: {verdict}")
        if decision.ignore_rule:
            lines.append(self.env._("The mail is ignored."))
        elif decision.matched:
            values = decision.values_for(decision.target_model or "helpdesk.ticket")
            lines.append(self.env._("The new ticket gets: %s", values))
        return lines or [self.env._("No rule is defined.")]

    def _section(self, title, lines):
        items = Markup("").join(Markup("<li>%s</li>") % escape(line) for line in lines)
        return Markup("<h5>%s</h5><ul>%s</ul>") % (title, items)
