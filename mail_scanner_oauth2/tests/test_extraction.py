# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from datetime import date, datetime

from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged

from .common import MailScannerCase

CUSTOM_FIELDS = [
    ("x_order_ref", "char", {}),
    ("x_notes", "text", {}),
    ("x_quantity", "integer", {}),
    ("x_weight", "float", {}),
    ("x_currency_id", "many2one", {"relation": "res.currency"}),
    ("x_amount", "monetary", {"currency_field": "x_currency_id"}),
    ("x_due_date", "date", {}),
    ("x_visit_at", "datetime", {}),
    ("x_under_contract", "boolean", {}),
    (
        "x_channel_kind",
        "selection",
        {"selection": "[('phone', 'Telefone'), ('web', 'Site')]"},
    ),
]


@tagged("post_install", "-at_install")
class TestComplementaryFields(MailScannerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        model = cls.env["ir.model"]._get("helpdesk.ticket")
        for name, ttype, extra in CUSTOM_FIELDS:
            cls.env["ir.model.fields"].create(
                dict(
                    {
                        "name": name,
                        "field_description": name,
                        "ttype": ttype,
                        "model_id": model.id,
                        "state": "manual",
                    },
                    **extra,
                )
            )
        cls.category = cls.env["helpdesk.ticket.category"].create(
            {"name": "Impressoras 3D"}
        )

    def setUp(self):
        super().setUp()
        self.mailbox = self.create_mailbox()

    def label(self, label, field_name, source="body"):
        field = self.env["ir.model.fields"]._get("helpdesk.ticket", field_name)
        return self.env["mail.scanner.extraction"].create(
            {
                "name": label,
                "mailbox_id": self.mailbox.id,
                "kind": "label",
                "label": label,
                "field_id": field.id,
                "source": source,
            }
        )

    def ticket_with_body(self, body, subject="Pedido"):
        graph_msg = self.deliver(subject=subject, body=body)
        self.sync(self.mailbox)
        row = self.row_of(self.mailbox, graph_msg)
        self.assertEqual(row.state, "done", row.reason)
        return row.ticket_id

    def chatter_notes(self, ticket):
        return " ".join(ticket.message_ids.mapped("body"))

    def test_every_type_with_good_values(self):
        for label, name in [
            ("Pedido", "x_order_ref"),
            ("Obs", "x_notes"),
            ("Quantidade", "x_quantity"),
            ("Peso", "x_weight"),
            ("Valor", "x_amount"),
            ("Vencimento", "x_due_date"),
            ("Visita", "x_visit_at"),
            ("Contrato", "x_under_contract"),
            ("Canal", "x_channel_kind"),
            ("Categoria", "category_id"),
            ("Prioridade", "priority"),
        ]:
            self.label(label, name)
        ticket = self.ticket_with_body(
            "Bom dia,\n\nPedido: PO-4471\nObs: entregar na portaria\nQuantidade: 12\n"
            "Peso: 1.234,5 kg\nValor: R$ 2.500,75\nVencimento: 03/04/2026\n"
            "Visita: 2026-04-05 14:30\nContrato: sim\nCanal: Telefone\n"
            "Categoria: impressoras 3d\nPrioridade: High\n"
        )
        self.assertEqual(ticket.x_order_ref, "PO-4471")
        self.assertEqual(ticket.x_notes, "entregar na portaria")
        self.assertEqual(ticket.x_quantity, 12)
        self.assertAlmostEqual(ticket.x_weight, 1234.5)
        self.assertAlmostEqual(ticket.x_amount, 2500.75)
        self.assertEqual(ticket.x_due_date, date(2026, 4, 3), "day first, as in Brazil")
        self.assertEqual(ticket.x_visit_at, datetime(2026, 4, 5, 14, 30))
        self.assertTrue(ticket.x_under_contract)
        self.assertEqual(ticket.x_channel_kind, "phone", "selection found by its label")
        self.assertEqual(ticket.category_id, self.category, "many2one found by name")
        self.assertEqual(ticket.priority, "2")
        self.assertNotIn("left empty", self.chatter_notes(ticket))

    def test_bad_values_leave_fields_empty_and_say_why(self):
        for label, name in [
            ("Quantidade", "x_quantity"),
            ("Peso", "x_weight"),
            ("Valor", "x_amount"),
            ("Vencimento", "x_due_date"),
            ("Visita", "x_visit_at"),
            ("Contrato", "x_under_contract"),
            ("Canal", "x_channel_kind"),
            ("Categoria", "category_id"),
            ("Pedido", "x_order_ref"),
        ]:
            self.label(label, name)
        ticket = self.ticket_with_body(
            "Quantidade: doze\nPeso: 1,5 kg\nValor: caro\nVencimento: amanhã cedo\n"
            "Visita: 31/02/2026\nContrato: talvez\nCanal: pombo-correio\n"
            "Categoria: Inexistente\nPedido: PO-1\n"
        )
        self.assertFalse(ticket.x_quantity)
        self.assertAlmostEqual(ticket.x_weight, 1.5, msg="1,5 is a good decimal")
        self.assertFalse(ticket.x_amount)
        self.assertFalse(ticket.x_due_date)
        self.assertFalse(ticket.x_visit_at)
        self.assertFalse(ticket.x_under_contract)
        self.assertFalse(ticket.x_channel_kind)
        self.assertFalse(ticket.category_id)
        self.assertEqual(ticket.x_order_ref, "PO-1", "good values are still written")
        notes = self.chatter_notes(ticket)
        for value in (
            "doze",
            "caro",
            "amanhã cedo",
            "31/02/2026",
            "talvez",
            "pombo-correio",
            "Inexistente",
        ):
            self.assertIn(value, notes)
        self.assertIn("not a number", notes)

    def test_integer_refuses_fractions(self):
        self.label("Quantidade", "x_quantity")
        ticket = self.ticket_with_body("Quantidade: 2,5\n")
        self.assertFalse(ticket.x_quantity)
        self.assertIn("not a whole number", self.chatter_notes(ticket))

    def test_regex_with_named_groups_from_subject(self):
        self.env["mail.scanner.extraction"].create(
            {
                "name": "Order and quantity",
                "mailbox_id": self.mailbox.id,
                "kind": "regex",
                "source": "subject",
                "pattern": r"pedido (?P<x_order_ref>PO-\d+) x(?P<x_quantity>\d+)",
            }
        )
        ticket = self.ticket_with_body("...", subject="Novo pedido PO-991 x7 urgente")
        self.assertEqual(ticket.x_order_ref, "PO-991")
        self.assertEqual(ticket.x_quantity, 7)

    def test_regex_must_name_existing_fields(self):
        with self.assertRaisesRegex(ValidationError, "x_nope"):
            self.env["mail.scanner.extraction"].create(
                {
                    "name": "Bad",
                    "mailbox_id": self.mailbox.id,
                    "kind": "regex",
                    "pattern": r"(?P<x_nope>\d+)",
                }
            )
        with self.assertRaisesRegex(ValidationError, "Name the groups"):
            self.env["mail.scanner.extraction"].create(
                {
                    "name": "Bad",
                    "mailbox_id": self.mailbox.id,
                    "kind": "regex",
                    "pattern": r"\d+",
                }
            )

    def test_replies_do_not_overwrite(self):
        self.label("Pedido", "x_order_ref")
        first = self.deliver(subject="Pedido", body="Pedido: PO-1\n")
        self.sync(self.mailbox)
        ticket = self.row_of(self.mailbox, first).ticket_id
        self.deliver(
            subject="RE: Pedido",
            body="Pedido: PO-2\n",
            in_reply_to=first.internet_message_id,
        )
        self.sync(self.mailbox)
        self.assertEqual(ticket.x_order_ref, "PO-1")

    def test_ambiguous_many2one_is_not_guessed(self):
        for _n in range(2):
            self.env["helpdesk.ticket.category"].create({"name": "Rede"})
        self.label("Categoria", "category_id")
        ticket = self.ticket_with_body("Categoria: Rede\n")
        self.assertFalse(ticket.category_id)
        self.assertIn("several records have that name", self.chatter_notes(ticket))


@tagged("post_install", "-at_install")
class TestTicketFields(MailScannerCase):
    """Which ticket fields a mail may fill, and the fields a supervisor adds."""

    def setUp(self):
        super().setUp()
        self.mailbox = self.create_mailbox()

    def offered(self):
        """The ticket fields the Complementary fields screen offers."""
        field = self.env["mail.scanner.extraction"].fields_get(["field_id"])
        domain = field["field_id"]["domain"]
        return set(self.env["ir.model.fields"].search(domain).mapped("name"))

    def create_field(self, label, field_type="char", **vals):
        wizard = self.env["mail.scanner.ticket.field"].create(
            dict(
                {
                    "mailbox_id": self.mailbox.id,
                    "label": label,
                    "field_type": field_type,
                },
                **vals,
            )
        )
        name = wizard.technical_name
        wizard.action_create()
        return self.env["ir.model.fields"]._get("helpdesk.ticket", name)

    def ticket_form(self):
        view = self.env.ref("helpdesk_mgmt.ticket_view_form")
        return self.env["helpdesk.ticket"].get_view(view.id, "form")["arch"]

    def test_only_fields_a_supervisor_may_fill_are_offered(self):
        offered = self.offered()
        for name in ("partner_name", "partner_email", "category_id", "priority"):
            self.assertIn(name, offered)
        for name in (
            "access_token",
            "company_id",
            "message_ids",
            "message_follower_ids",
            "activity_ids",
            "website_message_ids",
            "create_uid",
            "write_date",
            "user_id",  # a system user, and computed
            "stage_id",  # the workflow
            "team_id",  # computed
            "number",
            "partner_id",  # the gateway's, from the sender
            "name",
            "description",
            "active",
            "color",
        ):
            self.assertNotIn(name, offered)

    def test_a_reserved_field_is_refused(self):
        access_token = self.env["ir.model.fields"]._get(
            "helpdesk.ticket", "access_token"
        )
        with self.assertRaisesRegex(ValidationError, "cannot fill access_token"):
            self.env["mail.scanner.extraction"].create(
                {
                    "name": "Token",
                    "mailbox_id": self.mailbox.id,
                    "kind": "label",
                    "label": "Token",
                    "field_id": access_token.id,
                }
            )
        with self.assertRaisesRegex(ValidationError, "cannot fill company_id"):
            self.env["mail.scanner.extraction"].create(
                {
                    "name": "Company",
                    "mailbox_id": self.mailbox.id,
                    "kind": "regex",
                    "pattern": r"Empresa: (?P<company_id>\d+)",
                }
            )

    def test_a_supervisor_creates_the_field_a_value_goes_to(self):
        field = self.create_field("Número do pedido")
        self.assertEqual(field.name, "x_numero_do_pedido")
        self.assertEqual(
            (field.state, field.ttype, field.field_description),
            ("manual", "char", "Número do pedido"),
        )
        self.assertIn(field.name, self.offered())
        self.assertIn('name="x_numero_do_pedido"', self.ticket_form())
        extraction = self.mailbox.extraction_ids
        self.assertEqual(
            (extraction.label, extraction.field_id), (field.field_description, field)
        )

        channel = self.create_field(
            "Canal de venda", "selection", choices="Loja\nSite\n\nSite"
        )
        self.assertEqual(
            channel.selection_ids.mapped("name"), ["Loja", "Site"], "blank/repeat"
        )
        form = self.ticket_form()
        self.assertIn('name="x_numero_do_pedido"', form, "the first one stays")
        self.assertIn('name="x_canal_de_venda"', form)
        self.assertIn("Complementary fields", form)

        graph_msg = self.deliver(
            subject="Pedido novo",
            body="Bom dia\nNúmero do pedido: PO-77\nCanal de venda: site\n",
        )
        self.sync(self.mailbox)
        ticket = self.row_of(self.mailbox, graph_msg).ticket_id
        self.assertEqual(ticket.x_numero_do_pedido, "PO-77")
        self.assertEqual(ticket.x_canal_de_venda, "site")

    def test_names_never_collide(self):
        first = self.create_field("Pedido", read_from_mail=False)
        second = self.create_field("pedido!", read_from_mail=False)
        self.assertEqual((first.name, second.name), ("x_pedido", "x_pedido_2"))
        self.assertFalse(self.mailbox.extraction_ids)

    def test_a_choice_field_needs_choices(self):
        with self.assertRaisesRegex(UserError, "two choices"):
            self.create_field("Canal", "selection", choices="Loja")
