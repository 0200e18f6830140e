# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from lxml import html

from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .common import MailScannerCase

PDF = ("contrato.pdf", b"%PDF-1.4 minimal", "application/pdf")


@tagged("post_install", "-at_install")
class TestRules(MailScannerCase):
    def setUp(self):
        super().setUp()
        self.mailbox = self.create_mailbox()
        self.billing = self.env["helpdesk.ticket.team"].create({"name": "Billing"})
        self.urgent = self.env["helpdesk.ticket.tag"].create({"name": "urgent"})
        self.vip = self.env["helpdesk.ticket.tag"].create({"name": "vip"})
        self.category = self.env["helpdesk.ticket.category"].create(
            {"name": "Invoices"}
        )
        self.agent = self.env["res.users"].create(
            {"name": "Agent Carla", "login": "carla_rules", "email": "carla@x.example"}
        )

    def rule(self, conditions, **vals):
        values = {
            "name": vals.pop("name", "Rule"),
            "mailbox_id": self.mailbox.id,
            "condition_ids": [(0, 0, c) for c in conditions],
        }
        values.update(vals)
        return self.env["mail.scanner.rule"].create(values)

    def ticket_for(self, **mail):
        graph_msg = self.deliver(**mail)
        self.sync(self.mailbox)
        return self.row_of(self.mailbox, graph_msg)

    def assert_routed(self, conditions, mail, matching=True):
        self.rule(conditions, team_id=self.billing.id)
        row = self.ticket_for(**mail)
        self.assertEqual(row.state, "done")
        expected = self.billing if matching else self.team
        self.assertEqual(row.ticket_id.team_id, expected, conditions)

    # ---------------------------------------------------------- conditions
    def test_sender_address_equals(self):
        self.assert_routed(
            [{"field": "from", "operator": "equals", "value": "ANA@customer.example"}],
            {"sender": "Ana <ana@customer.example>"},
        )

    def test_sender_address_not_matching(self):
        self.assert_routed(
            [{"field": "from", "operator": "equals", "value": "bob@customer.example"}],
            {"sender": "Ana <ana@customer.example>"},
            matching=False,
        )

    def test_sender_domain(self):
        self.assert_routed(
            [
                {
                    "field": "from_domain",
                    "operator": "equals",
                    "value": "customer.example",
                }
            ],
            {},
        )

    def test_to_cc(self):
        self.assert_routed(
            [{"field": "to_cc", "operator": "contains", "value": "financeiro@"}],
            {"cc": ["Financeiro <financeiro@contoso.example>"]},
        )

    def test_subject_contains(self):
        self.assert_routed(
            [{"field": "subject", "operator": "contains", "value": "boleto"}],
            {"subject": "Segunda via do BOLETO"},
        )

    def test_body_regex(self):
        self.assert_routed(
            [{"field": "body", "operator": "regex", "value": r"NF-?e\s+\d{3,}"}],
            {"body": "A NFe 12345 não chegou."},
        )

    def test_any_header(self):
        self.assert_routed(
            [
                {
                    "field": "header",
                    "header_name": "X-Priority",
                    "operator": "equals",
                    "value": "1",
                }
            ],
            {"headers": {"X-Priority": "1"}},
        )

    def test_has_attachment(self):
        self.assert_routed(
            [{"field": "has_attachment"}],
            {"attachments": [PDF]},
        )

    def test_has_no_attachment(self):
        self.assert_routed(
            [{"field": "has_attachment"}],
            {},
            matching=False,
        )

    def test_negated_condition(self):
        self.assert_routed(
            [
                {
                    "field": "subject",
                    "operator": "contains",
                    "value": "spam",
                    "negate": True,
                }
            ],
            {"subject": "Real question"},
        )

    def test_all_versus_any(self):
        conditions = [
            {"field": "subject", "operator": "contains", "value": "boleto"},
            {"field": "from_domain", "operator": "equals", "value": "other.example"},
        ]
        self.rule(conditions, match="all", team_id=self.billing.id)
        self.assertEqual(self.ticket_for(subject="boleto").ticket_id.team_id, self.team)
        self.mailbox.rule_ids.match = "any"
        self.assertEqual(
            self.ticket_for(subject="boleto again").ticket_id.team_id, self.billing
        )

    def test_invalid_regex_is_refused(self):
        with self.assertRaisesRegex(ValidationError, "regular expression"):
            self.rule([{"field": "subject", "operator": "regex", "value": "(unclosed"}])

    # ------------------------------------------------------------- actions
    def test_all_ticket_actions(self):
        self.rule(
            [{"field": "subject", "operator": "contains", "value": "fatura"}],
            team_id=self.billing.id,
            category_id=self.category.id,
            priority="3",
            tag_ids=[(6, 0, [self.urgent.id])],
            user_id=self.agent.id,
        )
        ticket = self.ticket_for(subject="Fatura errada").ticket_id
        self.assertEqual(ticket.team_id, self.billing)
        self.assertEqual(ticket.category_id, self.category)
        self.assertEqual(ticket.priority, "3")
        self.assertEqual(ticket.tag_ids, self.urgent)
        self.assertEqual(ticket.user_id, self.agent)

    def test_ignore_rule(self):
        self.rule(
            [
                {
                    "field": "from_domain",
                    "operator": "equals",
                    "value": "newsletter.example",
                }
            ],
            name="Newsletters",
            action="ignore",
        )
        row = self.ticket_for(sender="News <news@newsletter.example>")
        self.assertEqual(row.state, "ignored")
        self.assertIn("Newsletters", row.reason)
        self.assertFalse(row.ticket_id)
        self.assertTrue(row.after_import_done, "ignored mail is still marked read")
        self.assertTrue(self.graph_mailbox.get(row.graph_id).is_read)

    def test_stop_here_versus_continue(self):
        self.rule(
            [{"field": "subject", "operator": "contains", "value": "pedido"}],
            sequence=1,
            team_id=self.billing.id,
            tag_ids=[(6, 0, self.urgent.ids)],
            stop=False,
        )
        self.rule(
            [{"field": "subject", "operator": "contains", "value": "pedido"}],
            sequence=2,
            priority="2",
            tag_ids=[(6, 0, self.vip.ids)],
        )
        self.rule([], sequence=3, priority="0")  # never reached: rule 2 stops
        ticket = self.ticket_for(subject="Novo pedido").ticket_id
        self.assertEqual(ticket.team_id, self.billing)
        self.assertEqual(ticket.priority, "2")
        self.assertEqual(ticket.tag_ids, self.urgent | self.vip)

    def test_rules_apply_to_replies_only_when_asked(self):
        self.rule(
            [{"field": "body", "operator": "contains", "value": "urgente"}],
            priority="3",
            apply_to_replies=True,
        )
        self.rule(
            [{"field": "body", "operator": "contains", "value": "urgente"}],
            team_id=self.billing.id,
            sequence=20,
        )
        first = self.deliver(subject="Pedido parado", body="Olá")
        self.sync(self.mailbox)
        ticket = self.row_of(self.mailbox, first).ticket_id
        self.assertEqual(ticket.priority, "1")
        self.deliver(
            subject="RE: Pedido parado",
            body="Agora é urgente!",
            in_reply_to=first.internet_message_id,
        )
        self.sync(self.mailbox)
        self.assertEqual(ticket.priority, "3")
        self.assertEqual(ticket.team_id, self.team, "rule 2 is not for replies")

    def test_target_model_choices(self):
        choices = dict(
            self.env["mail.scanner.rule"]
            ._fields["target_model"]
            ._description_selection(self.env)
        )
        self.assertIn("helpdesk.ticket", choices)
        self.assertEqual("crm.lead" in choices, "crm.lead" in self.env)

    def test_crm_lead_target(self):
        if "crm.lead" not in self.env:
            self.skipTest("the CRM app is not installed")
        self.rule(
            [{"field": "subject", "operator": "contains", "value": "orçamento"}],
            target_model="crm.lead",
            user_id=self.agent.id,
        )
        row = self.ticket_for(subject="Pedido de orçamento", body="Quero 100 licenças")
        self.assertEqual(row.state, "done")
        self.assertEqual(row.outcome, "record")
        self.assertEqual(row.record_model, "crm.lead")
        lead = self.env["crm.lead"].browse(row.record_id)
        self.assertEqual(lead.name, "Pedido de orçamento")
        self.assertEqual(lead.user_id, self.agent)
        self.assertFalse(row.ticket_id)

    # -------------------------------------------------------------- Try it
    def try_it(self, raw_mail):
        wizard = self.env["mail.scanner.rule.test"].create(
            {"mailbox_id": self.mailbox.id, "raw_mail": raw_mail}
        )
        action = wizard.action_try()
        self.assertTrue(action["name"], "a dialog without a name is titled 'Odoo'")
        return wizard.result

    def sections(self, result):
        """{section title: [(label, value)] for tables, [line] for lists}."""
        found = {}
        root = html.fromstring(f"<div>{result}</div>")
        for title in root.iter("h5"):
            block = title.getnext()
            if block.tag == "table":
                found[title.text_content()] = [
                    (row[0].text_content(), row[1].text_content())
                    for row in block.iter("tr")
                ]
            else:
                found[title.text_content()] = [li.text_content() for li in block]
        return found

    def assert_no_developer_output(self, result):
        text = html.fromstring(f"<div>{result}</div>").text_content()
        for fragment in ("{", "}", "(4,", "'", "False", "True", "_id", "x_"):
            self.assertNotIn(fragment, text)

    def test_try_it_wizard(self):
        self.rule(
            [{"field": "subject", "operator": "contains", "value": "nothing-like-it"}],
            name="Never",
            sequence=1,
        )
        self.rule(
            [{"field": "subject", "operator": "contains", "value": "boleto"}],
            name="Billing rule",
            sequence=2,
            team_id=self.billing.id,
            category_id=self.category.id,
            tag_ids=[(6, 0, [self.urgent.id])],
            stop=False,
        )
        self.rule(
            [
                {
                    "field": "from_domain",
                    "operator": "equals",
                    "value": "customer.example",
                }
            ],
            name="Customers are VIP",
            sequence=3,
            priority="2",
            tag_ids=[(6, 0, [self.vip.id])],
            user_id=self.agent.id,
        )
        self.rule([], name="Catch-all", sequence=4, priority="0")
        self.env["ir.model.fields"].create(
            {
                "name": "x_due_date",
                "field_description": "Due date",
                "ttype": "date",
                "model_id": self.env["ir.model"]._get("helpdesk.ticket").id,
                "state": "manual",
            }
        )
        for label, field in (("Pedido", "partner_name"), ("Vencimento", "x_due_date")):
            self.env["mail.scanner.extraction"].create(
                {
                    "name": label,
                    "mailbox_id": self.mailbox.id,
                    "kind": "label",
                    "label": label,
                    "source": "body",
                    "field_id": self.env["ir.model.fields"]
                    ._get("helpdesk.ticket", field)
                    .id,
                }
            )
        result = self.try_it(
            "From: Ana <ana@customer.example>\n"
            "Subject: Boleto vencido\n\nPedido: 4471\nVencimento: 05/04/2026\n"
        )
        sections = self.sections(result)
        self.assertEqual(
            sections["Rules, in order"],
            [
                "1. Never: does not match",
                "2. Billing rule: matches",
                "3. Customers are VIP: matches",
                "4. Catch-all: not tried: an earlier rule stops here",
            ],
        )
        self.assertEqual(
            dict(sections["The new record"]),
            {
                "Creates": "Helpdesk Ticket",
                "Team": "Billing",
                "Category": "Invoices",
                "Priority": "High",
                "Tags": "urgent, vip",
                "Assigned user": "Agent Carla",
            },
        )
        self.assertEqual(
            dict(sections["Complementary fields"]),
            {"Partner Name": "4471", "Due date": "04/05/2026"},
        )
        self.assertIn(("Attachments", "No"), sections["The mail"])
        self.assert_no_developer_output(result)

    def test_try_it_without_rules_shows_the_mailbox_team(self):
        result = self.try_it("From: a@b.example\nSubject: Hello\n\nHi")
        sections = self.sections(result)
        self.assertEqual(sections["Rules, in order"], ["No rule is defined."])
        self.assertIn(("Team", self.team.name), sections["The new record"])
        self.assertEqual(sections["Complementary fields"], ["No value found."])
        self.assert_no_developer_output(result)

    def test_try_it_names_the_ticket_a_reply_lands_in(self):
        self.rule(
            [{"field": "body", "operator": "contains", "value": "urgente"}],
            name="Urgent replies",
            priority="3",
            apply_to_replies=True,
            stop=False,
        )
        self.rule([], name="New only", sequence=20, team_id=self.billing.id)
        first = self.deliver(subject="Pedido parado", body="Olá")
        self.sync(self.mailbox)
        ticket = self.row_of(self.mailbox, first).ticket_id
        sections = self.sections(
            self.try_it(
                "From: Ana <ana@customer.example>\nSubject: RE: Pedido parado\n"
                f"In-Reply-To: {first.internet_message_id}\n\nAgora é urgente"
            )
        )
        self.assertEqual(
            sections["Rules, in order"],
            [
                "1. Urgent replies: matches",
                "2. New only: not tried: it applies to new conversations only",
            ],
        )
        self.assertEqual(
            dict(sections["The reply"]),
            {"Lands in": ticket.display_name, "Priority": "Very High"},
        )
        self.assertNotIn("Complementary fields", sections)

    def test_try_it_ignored(self):
        self.rule(
            [{"field": "subject", "operator": "contains", "value": "promo"}],
            name="Newsletters",
            action="ignore",
        )
        sections = self.sections(self.try_it("From: a@b.example\nSubject: promo\n\nx"))
        self.assertEqual(
            sections["Result"], ["The mail is ignored (rule Newsletters)."]
        )
        sections = self.sections(
            self.try_it(
                "From: a@b.example\nAuto-Submitted: auto-replied\nSubject: x\n\nx"
            )
        )
        self.assertIn("Not imported", sections)
        self.assertIn("Automatic reply", sections["Not imported"][0])
