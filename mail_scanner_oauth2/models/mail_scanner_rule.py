# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from odoo import api, fields, models

PRIORITIES = [("0", "Low"), ("1", "Medium"), ("2", "High"), ("3", "Very High")]


class MailScannerRule(models.Model):
    """What a mail becomes: the supervisor's routing rules, tried in order."""

    _name = "mail.scanner.rule"
    _description = "Mail Scanner Rule"
    _order = "mailbox_id, sequence, id"

    name = fields.Char(required=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    mailbox_id = fields.Many2one(
        "mail.scanner.mailbox", required=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one(related="mailbox_id.company_id", store=True)
    match = fields.Selection(
        [("all", "All conditions"), ("any", "Any condition")],
        required=True,
        default="all",
    )
    condition_ids = fields.One2many(
        "mail.scanner.rule.condition", "rule_id", string="Conditions", copy=True
    )
    action = fields.Selection(
        [("route", "Create or update a record"), ("ignore", "Ignore the mail")],
        required=True,
        default="route",
    )
    target_model = fields.Selection(
        selection="_selection_target_model",
        string="Creates",
        help="What a new conversation becomes. CRM leads need the CRM app.",
    )
    team_id = fields.Many2one("helpdesk.ticket.team")
    category_id = fields.Many2one("helpdesk.ticket.category")
    priority = fields.Selection(PRIORITIES)
    tag_ids = fields.Many2many("helpdesk.ticket.tag", string="Tags")
    user_id = fields.Many2one("res.users", string="Assign to")
    apply_to_replies = fields.Boolean(
        help="Also apply the actions to the ticket a reply lands in."
    )
    stop = fields.Boolean(
        string="Stop here",
        default=True,
        help="When this rule matches, later rules are not tried.",
    )

    @api.model
    def _selection_target_model(self):
        targets = [("helpdesk.ticket", self.env._("Helpdesk ticket"))]
        if "crm.lead" in self.env:
            targets.append(("crm.lead", self.env._("CRM lead")))
        return targets

    # -------------------------------------------------------------- matching
    def _compile(self):
        """The active rules in order, as plain objects: read once for a whole run
        (after each commit Odoo's cache is empty), patterns compiled once."""
        return CompiledRules(
            [
                CompiledRule(rule)
                for rule in self.filtered("active").sorted(lambda r: (r.sequence, r.id))
            ]
        )

    def _decide(self, facts, is_reply):
        """Tries the rules in order; returns what the matching ones ask for, the
        matched rules as records (for the screens that show them)."""
        decision = self._compile().decide(facts, is_reply)
        by_id = {rule.id: rule for rule in self}
        decision.matched = [by_id[rule.id] for rule in decision.matched]
        if decision.ignore_rule:
            decision.ignore_rule = by_id[decision.ignore_rule.id]
        return decision

    def _ticket_values(self):
        self.ensure_one()
        values = {}
        for name in ("team_id", "category_id", "user_id"):
            if self[name]:
                values[name] = self[name].id
        if self.priority:
            values["priority"] = self.priority
        return values


class CompiledRule:
    """One rule's conditions and actions, read from its record once."""

    def __init__(self, rule):
        self.id = rule.id
        self.name = rule.name
        self.match_all = rule.match == "all"
        self.conditions = [c._compile() for c in rule.condition_ids]
        self.ignore = rule.action == "ignore"
        self.apply_to_replies = rule.apply_to_replies
        self.stop = rule.stop
        self.values = rule._ticket_values()
        self.tag_ids = rule.tag_ids.ids
        self.target_model = rule.target_model

    def matches(self, facts):
        if not self.conditions:
            return True  # a rule without conditions catches everything
        results = (condition.holds(facts) for condition in self.conditions)
        return all(results) if self.match_all else any(results)


class CompiledRules:
    def __init__(self, rules):
        self.rules = rules

    def reads_body(self):
        return any(c.field == "body" for r in self.rules for c in r.conditions)

    def reads_parts(self):
        return any(
            c.field in ("body", "has_attachment")
            for r in self.rules
            for c in r.conditions
        )

    def decide(self, facts, is_reply):
        """Tries the rules in order; returns what the matching ones ask for."""
        decision = RuleDecision()
        for rule in self.rules:
            if is_reply and not rule.apply_to_replies:
                continue
            if not rule.matches(facts):
                continue
            decision.matched.append(rule)
            if rule.ignore:
                decision.ignore_rule = rule
                break
            decision.add(rule)
            if rule.stop:
                break
        return decision


class RuleDecision:
    """What the matched rules ask of one mail."""

    def __init__(self):
        self.matched = []
        self.ignore_rule = None
        self.target_model = None
        self.values = {}
        self.tag_ids = set()

    def add(self, rule):
        # A later rule that goes on refines what an earlier one set.
        self.values.update(rule.values)
        self.tag_ids.update(rule.tag_ids)
        if rule.target_model:
            self.target_model = rule.target_model

    def values_for(self, model):
        if model != "helpdesk.ticket":
            # Helpdesk fields mean nothing on another model; the assignee does.
            return {k: v for k, v in self.values.items() if k == "user_id"}
        values = dict(self.values)
        if self.tag_ids:
            values["tag_ids"] = [(4, tag_id) for tag_id in sorted(self.tag_ids)]
        return values
