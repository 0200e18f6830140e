# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from markupsafe import Markup

from odoo import fields, models, tools
from odoo.tools.misc import format_date, format_datetime, formatLang

from .. import texts
from ..sync.gateway import TICKET, MailImporter
from ..tools.mail_facts import MailFacts


class MailScannerRuleTest(models.TransientModel):
    """'Try it': what the rules and complementary fields make of a pasted mail,
    in the words and labels a supervisor knows from the ticket form."""

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
            "name": self.env._("Try the rules"),
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
        }

    # ------------------------------------------------------------ sections
    def _render(self, facts):
        _ = self.env._
        parts = [self._html_table(_("The mail"), self._mail_rows(facts))]
        importer = MailImporter(self.mailbox_id)
        protection = importer._protection(facts)
        if protection:
            reason = texts.render(self.env, protection.key, protection.params)
            parts.append(self._html_list(_("Not imported"), [reason]))
            return Markup("").join(parts)
        row = self.env["mail.scanner.message"].new(
            {"mailbox_id": self.mailbox_id.id, "graph_id": "try-it"}
        )
        thread_id, is_reply = importer.threads.find(row, facts)
        decision = self.mailbox_id.rule_ids._decide(facts, is_reply)
        rule_lines = self._rule_lines(decision, is_reply)
        parts.append(self._html_list(_("Rules, in order"), rule_lines))
        if decision.ignore_rule:
            ignored = _("The mail is ignored (rule %s).", decision.ignore_rule.name)
            parts.append(self._html_list(_("Result"), [ignored]))
            return Markup("").join(parts)
        model = decision.target_model or TICKET
        parts.append(self._result(decision, model, thread_id, is_reply, facts))
        if not is_reply and model == TICKET:
            parts.append(self._complementary(facts))
        return Markup("").join(parts)

    def _mail_rows(self, facts):
        _ = self.env._
        return [
            (_("From"), facts.header("From") or facts.sender),
            (_("Subject"), facts.subject),
            (_("Attachments"), _("Yes") if facts.has_attachment else _("No")),
        ]

    def _rule_lines(self, decision, is_reply):
        """Every rule with what it made of the mail, in the order they are tried."""
        _ = self.env._
        lines = []
        rules = self.mailbox_id.rule_ids.sorted(lambda r: (r.sequence, r.id))
        last = decision.matched[-1] if decision.matched else None
        stopped = last and (last.stop or last.action == "ignore")
        passed_last = False
        for position, rule in enumerate(rules, start=1):
            if rule in decision.matched:
                verdict = _("matches")
            elif stopped and passed_last:
                verdict = _("not tried: an earlier rule stops here")
            elif is_reply and not rule.apply_to_replies:
                verdict = _("not tried: it applies to new conversations only")
            else:
                verdict = _("does not match")
            passed_last = passed_last or rule == last
            lines.append(f"{position}. {rule.name}: {verdict}")
        if not lines:
            return [_("No rule is defined.")]
        if not decision.matched:
            lines.append(_("No rule matches: the mailbox's settings apply."))
        return lines

    def _result(self, decision, model, thread_id, is_reply, facts):
        _ = self.env._
        Model = self.env[model]
        if is_reply:
            title = _("The reply")
            rows = [(_("Lands in"), self._reply_target(thread_id, facts))]
            values = decision.values_for(model) if decision.matched else {}
        else:
            title = _("The new record")
            rows = [(_("Creates"), self.env["ir.model"]._get(model).display_name)]
            values = dict(
                self.mailbox_id._new_record_values(model), **decision.values_for(model)
            )
        for name, value in values.items():
            if name in ("company_id",) or (not value and name == "user_id"):
                continue
            rows.append(self._labelled(Model, name, value))
        return self._html_table(title, rows)

    def _reply_target(self, thread_id, facts):
        if thread_id:
            return self.env[TICKET].browse(thread_id).display_name
        # Linked by its References: the record of the newest message it names.
        references = " ".join(facts.header(n) for n in ("References", "In-Reply-To"))
        ids = [ref.strip() for ref in tools.mail.unfold_references(references)]
        message = self.env["mail.message"].search(
            [("message_id", "in", ids), ("model", "!=", False), ("res_id", "!=", 0)],
            order="id desc",
            limit=1,
        )
        if message:
            return self.env[message.model].browse(message.res_id).display_name
        return self.env._("the ticket its headers (References) point to")

    def _complementary(self, facts):
        _ = self.env._
        values, problems = self.env["mail.scanner.extraction"]._extract_all(
            self.mailbox_id.extraction_ids, facts
        )
        Ticket = self.env[TICKET]
        rows = [self._labelled(Ticket, name, value) for name, value in values.items()]
        title = _("Complementary fields")
        if not rows and not problems:
            return self._html_list(title, [_("No value found.")])
        parts = [self._html_table(title, rows)] if rows else []
        if problems:
            parts.append(self._html_list(_("Left out"), problems))
        return Markup("").join(parts)

    # ------------------------------------------------------------- values
    def _labelled(self, Model, name, value):
        field = Model._fields[name]
        return field._description_string(self.env), self._display(Model, field, value)

    def _display(self, Model, field, value):
        """A value as the ticket form would show it."""
        env = self.env
        if value in (False, None) and field.type != "boolean":
            return ""
        if field.type == "many2one":
            return env[field.comodel_name].browse(value).display_name
        if field.type in ("many2many", "one2many"):
            return ", ".join(
                env[field.comodel_name].browse(_ids(value)).mapped("display_name")
            )
        if field.type == "selection":
            return dict(field._description_selection(env)).get(value, value)
        if field.type == "boolean":
            return env._("Yes") if value else env._("No")
        if field.type == "date":
            return format_date(env, value)
        if field.type == "datetime":
            return format_datetime(env, value)
        if field.type in ("float", "monetary"):
            return formatLang(env, value)
        if field.type == "integer":
            return formatLang(env, value, digits=0)
        return str(value)

    # --------------------------------------------------------------- html
    def _html_table(self, title, rows):
        body = Markup("").join(
            Markup('<tr><th class="fw-normal text-muted pe-3">%s</th><td>%s</td></tr>')
            % (label, value)
            for label, value in rows
        )
        return Markup(
            '<h5 class="mt-3">%s</h5><table class="table table-sm w-auto mb-2">'
            "<tbody>%s</tbody></table>"
        ) % (title, body)

    def _html_list(self, title, lines):
        items = Markup("").join(Markup("<li>%s</li>") % line for line in lines)
        return Markup('<h5 class="mt-3">%s</h5><ul class="mb-2">%s</ul>') % (
            title,
            items,
        )


def _ids(commands):
    """Record ids named by x2many commands (or a plain list of ids)."""
    ids = []
    for command in commands or ():
        if isinstance(command, int):
            ids.append(command)
        elif command[0] == 4:
            ids.append(command[1])
        elif command[0] == 6:
            ids.extend(command[2])
    return ids
