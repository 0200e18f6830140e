# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Quoted history of imported mail: folded in the chatter, whole in the ticket.

Mail goes through Odoo's own gateway (``message_process`` on helpdesk.ticket, with
the context flag the scanner sets), is parsed, sanitized and stored by Odoo; the
tests then read the stored chatter message the way the chatter's "Read More"
folding reads it.
"""

from email.message import EmailMessage
from email.utils import make_msgid

from odoo.tests import TransactionCase, tagged

from odoo.addons.base.tests import test_mail_examples

from ..models import mail_thread
from ..tools.quotes import QUOTE_ATTR, ChatterView

CUSTOMER = "Ana Souza <ana@customer.example>"
SUPPORT = "Suporte <support@contoso.example>"

FIRST_NEW_TEXT = "Encaminho abaixo a cobrança que recebemos do fornecedor."
FIRST_HISTORY = "O boleto de março vence amanhã e ainda não foi pago."
FIRST_MAIL = f"""{FIRST_NEW_TEXT}

________________________________
De: Fornecedor <cobranca@fornecedor.example>
Enviado: segunda-feira, 10 de março de 2025 08:15
Para: Ana Souza <ana@customer.example>
Assunto: Boleto em atraso

{FIRST_HISTORY}
"""

REPLY_PT_TEXT = """Segue o comprovante de pagamento.

Enviado do meu iPhone
________________________________
De: Suporte <support@contoso.example>
Enviado: terça-feira, 11 de março de 2025 09:30
Para: Ana Souza <ana@customer.example>
Assunto: RE: Boleto em atraso

Pode nos enviar o comprovante?
"""

REPLY_EN_TEXT = """Thanks, the printer prints again.

Carlos
-----Original Message-----
From: Support <support@contoso.example>
Sent: Tuesday, March 11, 2025 9:30 AM
To: Ana Souza <ana@customer.example>
Subject: RE: Boleto em atraso

Please restart the printer and tell us.
"""

REPLY_PT_HTML = """<html><head><meta http-equiv="Content-Type" content="text/html;
charset=utf-8"><style>p.MsoNormal {margin:0cm}</style></head><body lang=PT-BR>
<div class=WordSection1><p class=MsoNormal>O pagamento foi feito hoje cedo.<o:p></o:p>
</p><p class=MsoNormal><o:p>&nbsp;</o:p></p><div><div style='border:none;
border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm'><p class=MsoNormal><b>De:</b>
Suporte &lt;support@contoso.example&gt;<br><b>Enviado:</b> terça-feira, 11 de março de
2025 09:30<br><b>Para:</b> Ana Souza &lt;ana@customer.example&gt;<br><b>Assunto:</b>
RE: Boleto em atraso<o:p></o:p></p></div></div><p class=MsoNormal><o:p>&nbsp;</o:p></p>
<p class=MsoNormal>Confirma se o pagamento foi feito?<o:p></o:p></p></div></body></html>
"""

REPLY_EN_HTML = """<html><head><meta http-equiv="Content-Type" content="text/html;
charset=utf-8"></head><body><div dir="ltr">Payment confirmed by our bank.</div>
<div id="appendonsend"></div><hr style="display:inline-block;width:98%" tabindex="-1">
<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif"
style="font-size:11pt" color="#000000"><b>From:</b> Support
&lt;support@contoso.example&gt;<br><b>Sent:</b> Tuesday, March 11, 2025 9:30 AM<br>
<b>To:</b> Ana Souza &lt;ana@customer.example&gt;<br>
<b>Subject:</b> RE: Boleto em atraso</font><div>&nbsp;</div></div><div><div dir="ltr">
Has your bank confirmed the payment?</div></div></body></html>
"""


def make_mail(body, html=None, subject="Boleto em atraso", reply_to_id=None):
    message = EmailMessage()
    message["From"] = CUSTOMER
    message["To"] = SUPPORT
    message["Subject"] = subject if not reply_to_id else f"RE: {subject}"
    message["Message-ID"] = make_msgid(domain="customer.example")
    if reply_to_id:
        message["In-Reply-To"] = reply_to_id
        message["References"] = reply_to_id
    message.set_content(body)
    if html:
        message.add_alternative(html, subtype="html")
    return message["Message-ID"], message.as_bytes()


@tagged("post_install", "-at_install")
class TestQuotedHistory(TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.team = cls.env["helpdesk.ticket.team"].create({"name": "Quotes"})

    def import_mail(self, raw, flag=True):
        context = {"mail_notify_force_send": False}
        if flag:
            context["mail_scanner_import"] = True
        return (
            self.env["mail.thread"]
            .with_context(**context)
            .message_process(
                "helpdesk.ticket", raw, custom_values={"team_id": self.team.id}
            )
        )

    def chatter_view(self, message_id):
        message = self.env["mail.message"].search([("message_id", "=", message_id)])
        self.assertEqual(len(message), 1)
        return ChatterView(message.body)

    def assert_chatter(self, message_id, shown, folded):
        view = self.chatter_view(message_id)
        for text in shown:
            self.assertIn(text, " ".join(view.shown.split()))
            self.assertNotIn(text, " ".join(view.folded.split()))
        for text in folded:
            self.assertIn(text, " ".join(view.folded.split()))
            self.assertNotIn(text, " ".join(view.shown.split()))
        self.assertEqual(view.folds, 1, "the history is one 'Read More'")

    def new_ticket(self):
        first_id, raw = make_mail(FIRST_MAIL)
        ticket = self.env["helpdesk.ticket"].browse(self.import_mail(raw))
        self.assertEqual(ticket.team_id, self.team)
        return ticket, first_id

    def reply(self, ticket, first_id, body, html=None, flag=True):
        message_id, raw = make_mail(body, html=html, reply_to_id=first_id)
        self.assertEqual(self.import_mail(raw, flag=flag), ticket.id)
        return message_id

    def test_description_keeps_the_first_mail_whole(self):
        ticket, first_id = self.new_ticket()
        description = " ".join(str(ticket.description).split())
        for text in (FIRST_NEW_TEXT, "Enviado: segunda-feira", FIRST_HISTORY):
            self.assertIn(text, description)
        self.assertNotIn(QUOTE_ATTR, description)
        # The chatter shows the new text and folds what was forwarded.
        self.assert_chatter(
            first_id, [FIRST_NEW_TEXT], ["De: Fornecedor", FIRST_HISTORY]
        )

    def test_outlook_text_replies_fold_their_history(self):
        ticket, first_id = self.new_ticket()
        reply_pt = self.reply(ticket, first_id, REPLY_PT_TEXT)
        self.assert_chatter(
            reply_pt,
            ["Segue o comprovante de pagamento.", "Enviado do meu iPhone"],
            ["Enviado: terça-feira", "Pode nos enviar o comprovante?"],
        )
        reply_en = self.reply(ticket, first_id, REPLY_EN_TEXT)
        self.assert_chatter(
            reply_en,
            ["Thanks, the printer prints again.", "Carlos"],
            ["-----Original Message-----", "Please restart the printer"],
        )
        self.assertIn(FIRST_HISTORY, str(ticket.description))

    def test_outlook_html_replies_fold_their_history(self):
        ticket, first_id = self.new_ticket()
        reply_pt = self.reply(ticket, first_id, "texto", html=REPLY_PT_HTML)
        self.assert_chatter(
            reply_pt,
            ["O pagamento foi feito hoje cedo."],
            ["Enviado: terça-feira", "Confirma se o pagamento foi feito?"],
        )
        reply_en = self.reply(ticket, first_id, "text", html=REPLY_EN_HTML)
        self.assert_chatter(
            reply_en,
            ["Payment confirmed by our bank."],
            ["Sent: Tuesday", "Has your bank confirmed the payment?"],
        )

    def test_mail_imported_otherwise_is_left_as_odoo_stores_it(self):
        ticket, first_id = self.new_ticket()
        reply_id = self.reply(ticket, first_id, REPLY_PT_TEXT, flag=False)
        view = self.chatter_view(reply_id)
        self.assertIn("Pode nos enviar o comprovante?", view.shown)
        self.assertEqual(view.folds, 0)

    def test_a_body_folding_cannot_handle_is_imported_as_it_is(self):
        ticket, first_id = self.new_ticket()

        def cannot_handle(source):
            raise ValueError("unexpected markup")

        self.patch(mail_thread, "mark_quoted_history", cannot_handle)
        with self.assertLogs(mail_thread.__name__, "WARNING") as logs:
            reply_id = self.reply(ticket, first_id, REPLY_PT_TEXT)
        self.assertIn("Could not fold", logs.output[0])
        view = self.chatter_view(reply_id)
        self.assertIn("Segue o comprovante de pagamento.", view.shown)
        self.assertIn("Pode nos enviar o comprovante?", view.shown)

    def test_odoo_own_examples(self):
        """Odoo's own sample mails (base/tests/test_mail_examples.py): what Odoo
        folds stays folded, and Outlook's history that Odoo shows is folded."""
        ticket, first_id = self.new_ticket()
        cases = [
            (
                test_mail_examples.MSOFFICE_1,
                test_mail_examples.MSOFFICE_1_IN,
                test_mail_examples.MSOFFICE_1_OUT,
            ),
            (
                test_mail_examples.QUOTE_OUTLOOK_HTML,
                ["Reply from outlook"],
                ["Parent email body"],
            ),
            (
                test_mail_examples.HOTMAIL_1,
                ["I have an amazing company"],
                ["I noticed you recently created an OpenERP.com account"],
            ),
        ]
        for html, shown, folded in cases:
            with self.subTest(shown=shown[0]):
                reply_id = self.reply(ticket, first_id, "text", html=html)
                self.assert_chatter(reply_id, shown, folded)
