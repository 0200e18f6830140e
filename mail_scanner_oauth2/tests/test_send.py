# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Answers leave through the scanned mailbox: Odoo's mail queue, the mailbox's
outgoing server and Microsoft Graph (the emulator), exactly once, threaded back."""

import email
import random
from email import policy

from graph_emulator.samples import make_eml

from odoo.tests import new_test_user, tagged
from odoo.tools import email_normalize, mute_logger

from ..graph.errors import SEND_ROLE
from ..sync.health import ALERT_SUBTYPE
from ..sync.outgoing import GRAPH_AUTHENTICATION, recipients_key
from .common import MailScannerCase

MB = 1024 * 1024
CUSTOMER = "ana@customer.example"
MAIL_LOGGERS = (
    "odoo.addons.mail.models.mail_mail",
    "odoo.addons.mail_scanner_oauth2.sync.outgoing",
    "odoo.addons.mail_scanner_oauth2.graph.send",
)


def blob(size, seed=1):
    """Incompressible, reproducible bytes."""
    return random.Random(seed).randbytes(size)


def parse(raw):
    return email.message_from_bytes(raw, policy=policy.default)


def address_of(header):
    return email_normalize(str(header or ""))


class SendCase(MailScannerCase):
    """A mailbox whose app has Mail.Send, a ticket from a customer, an agent."""

    def setUp(self):
        super().setUp()
        self.graph_app.roles = ["Mail.ReadWrite", SEND_ROLE]
        # The send ledger is written in a transaction of its own (registry.cursor());
        # in test mode that cursor is the test's, so nothing is really committed.
        self.registry.enter_test_mode(self.cr)
        self.addCleanup(self.registry.leave_test_mode)
        self.agent = new_test_user(
            self.env,
            login="send_agent",
            name="Marta Agent",
            email="marta@staff.example",
            groups="base.group_user,helpdesk_mgmt.group_helpdesk_user",
        )
        self.mailbox = self.create_mailbox()
        self.addCleanup(self._restore_emulator)

    def _restore_emulator(self):
        self.emu.replace_message_id = False
        self.emu.undeliverable.clear()

    # ---------------------------------------------------------------- helpers
    def ask(self, message_id="<question-1@customer.example>", **kwargs):
        """The customer's first mail, imported: its ticket."""
        with self.emu.temporarily("tidy"):
            msg = self.deliver(
                sender=f"Ana Souza <{CUSTOMER}>", message_id=message_id, **kwargs
            )
            self.sync(self.mailbox)
        ticket = self.tickets_of(msg)
        self.assertEqual(len(ticket), 1)
        return ticket

    def answer(self, ticket, body="We replaced the printer.", attachments=()):
        """The agent's answer in the chatter, to the customer the chatter suggests
        (who then follows the ticket); sent at once, as Odoo does in test mode."""
        attachment_ids = [
            self.env["ir.attachment"]
            .with_user(self.agent)
            .create({"name": name, "raw": content, "res_model": "mail.compose.message"})
            .id
            for name, content in attachments
        ]
        return (
            ticket.with_user(self.agent)
            .with_context(mail_post_autofollow=True)
            .message_post(
                body=body,
                message_type="comment",
                subtype_xmlid="mail.mt_comment",
                partner_ids=ticket.partner_id.ids,
                attachment_ids=attachment_ids,
            )
        )

    def sent_items(self, message_id=None):
        items = self.graph_mailbox.messages(folder="sentitems")
        if message_id:
            items = [m for m in items if m.internet_message_id == message_id]
        return items

    def outbound(self, message_id):
        return [m for m in self.emu.outbound if m.internet_message_id == message_id]

    def mails_of(self, message):
        return (
            self.env["mail.mail"]
            .sudo()
            .with_context(active_test=False)
            .search([("mail_message_id", "=", message.id)])
        )

    def ledger_of(self, message):
        return self.env["mail.scanner.outgoing"].search(
            [("message_id", "=", message.message_id)]
        )


@tagged("post_install", "-at_install")
class TestSendThroughMailbox(SendCase):
    def test_sending_is_offered_and_on_once_the_app_has_mail_send(self):
        self.assertTrue(self.mailbox.send_role_granted)
        self.assertTrue(self.mailbox.send_answers)
        server = self.mailbox.mail_server_id
        self.assertEqual(server.smtp_authentication, GRAPH_AUTHENTICATION)
        self.assertEqual(server.from_filter, self.mailbox_address)
        self.assertEqual(server.max_email_size, 35)
        found, _from = self.env["ir.mail_server"]._find_mail_server(
            f"Support <{self.mailbox_address}>"
        )
        self.assertEqual(found, server, "chosen by Odoo's From matching")
        self.assertIn(SEND_ROLE, self.mailbox.app_id._roles_needed())

        self.mailbox.send_answers = False
        self.assertFalse(server.active)
        self.assertNotIn(SEND_ROLE, self.mailbox.app_id._roles_needed())
        self.mailbox.send_answers = True
        self.assertTrue(server.active)

    def test_without_mail_send_it_is_not_offered(self):
        self.graph_app.roles = ["Mail.ReadWrite"]
        self.emu.expire_tokens()
        self.tenant.add_mailbox("other@contoso.example")
        mailbox = self.create_mailbox(
            address="other@contoso.example",
            company_id=self.env["res.company"].create({"name": "Filial"}).id,
        )
        self.assertFalse(mailbox.send_role_granted)
        self.assertFalse(mailbox.send_answers)
        self.assertFalse(mailbox.mail_server_id)

    def test_agent_answer_leaves_through_the_mailbox_once(self):
        ticket = self.ask()
        attachment = blob(50_000)
        message = self.answer(ticket, attachments=[("invoice.pdf", attachment)])
        [copy] = self.sent_items(message.message_id)
        sent = parse(copy.raw)
        self.assertEqual(address_of(sent["From"]), self.mailbox_address)
        self.assertIn("Marta Agent", str(sent["From"]), "the agent's name is kept")
        self.assertEqual(address_of(sent["To"]), CUSTOMER)
        self.assertEqual(str(sent["In-Reply-To"]), "<question-1@customer.example>")
        self.assertIn("<question-1@customer.example>", str(sent["References"]))
        [part] = [p for p in sent.iter_attachments() if p.get_filename()]
        self.assertEqual(part.get_filename(), "invoice.pdf")
        self.assertEqual(part.get_payload(decode=True), attachment)
        self.assertEqual(len(self.outbound(message.message_id)), 1)
        # Odoo's bookkeeping, as for any outgoing server.
        notification = message.notification_ids.filtered(
            lambda n: n.res_partner_id.email_normalized == CUSTOMER
        )
        self.assertEqual(notification.notification_status, "sent")
        [row] = self.ledger_of(message)
        self.assertEqual(row.state, "sent")
        self.assertEqual(row.internet_message_id, message.message_id)
        self.assertEqual(row.model, "helpdesk.ticket")
        self.assertEqual(row.res_id, ticket.id)
        self.assertTrue(row.conversation_id)

    def test_customer_answer_lands_in_the_same_ticket(self):
        for replaced in (False, True):
            with self.subTest(exchange_replaces_message_id=replaced):
                self.emu.replace_message_id = replaced
                ticket = self.ask(f"<question-{replaced}@customer.example>")
                message = self.answer(ticket)
                [copy] = self.sent_items()[-1:]
                exchange_id = copy.internet_message_id
                self.assertEqual(exchange_id != message.message_id, replaced)
                self.assertEqual(
                    self.ledger_of(message).internet_message_id, exchange_id
                )
                with self.emu.temporarily("tidy"):
                    # A mail client that keeps only the last reference.
                    reply = self.deliver(
                        subject="Re: Printer on fire",
                        sender=f"Ana Souza <{CUSTOMER}>",
                        in_reply_to=exchange_id,
                        references=[exchange_id],
                        body="Thank you, it works.",
                    )
                    self.sync(self.mailbox)
                self.assertEqual(self.tickets_of(reply), ticket)
                self.assertEqual(self.row_of(self.mailbox, reply).outcome, "reply")

    def test_own_sent_copy_is_never_a_ticket(self):
        self.emu.replace_message_id = True
        ticket = self.ask()
        message = self.answer(ticket)
        [copy] = self.sent_items()[-1:]
        tickets = self.env["helpdesk.ticket"].search_count([])
        # A copy in the scanned folder (a rule moved it there, the mailbox was Cc'd).
        with self.emu.temporarily("tidy"):
            row_msg = self.deliver_raw(copy.raw)
            self.sync(self.mailbox)
        row = self.row_of(self.mailbox, row_msg)
        self.assertEqual(row.state, "ignored")
        self.assertEqual(row.reason_key, "own_sent_mail")
        self.assertEqual(self.env["helpdesk.ticket"].search_count([]), tickets)
        self.assertTrue(message)

    def test_large_attachment_goes_through_an_upload_session(self):
        ticket = self.ask()
        content = blob(10 * MB, seed=7)
        self.emu.log.clear()
        message = self.answer(ticket, attachments=[("scan.tiff", content)])
        sessions = self.emu.log.select(path_contains="createUploadSession")
        self.assertEqual(len(sessions), 1)
        [copy] = self.sent_items(message.message_id)
        [part] = [p for p in parse(copy.raw).iter_attachments() if p.get_filename()]
        self.assertEqual(part.get_payload(decode=True), content)
        self.assertEqual(self.mails_of(message).state or "sent", "sent")

    def test_over_the_send_limit_the_mail_fails_saying_so(self):
        ticket = self.ask()
        # A document a template attaches (owned by the mail's message): Odoo never
        # turns such an attachment into a link, whatever its size.
        archive = self.env["ir.attachment"].create(
            {"name": "archive.zip", "raw": blob(36 * MB, seed=3)}
        )
        mail = self.env["mail.mail"].create(
            {
                "email_from": f"Support <{self.mailbox_address}>",
                "email_to": CUSTOMER,
                "subject": "Your archive",
                "body_html": "<p>Here is the whole archive.</p>",
                "model": ticket._name,
                "res_id": ticket.id,
                "attachment_ids": [(4, archive.id)],
            }
        )
        with mute_logger(*MAIL_LOGGERS):
            mail.send()
        self.assertEqual(mail.state, "exception")
        self.assertIn("too large", mail.failure_reason)
        self.assertIn("35", mail.failure_reason)
        self.assertFalse(self.sent_items(mail.message_id))
        self.assertFalse(self.graph_mailbox.messages(folder="drafts"))
        self.assertFalse(self.mailbox.send_alerted, "one mail's problem: no alert")

    def test_throttled_then_accepted_one_copy(self):
        ticket = self.ask()
        self.emu.faults.script(["429"], path_contains="/send")
        message = self.answer(ticket)
        self.assertFalse(self.emu.faults.pending, "Graph said 429 first")
        self.assertEqual(len(self.sent_items(message.message_id)), 1)
        self.assertEqual(len(self.outbound(message.message_id)), 1)

    def test_throttled_mail_stays_in_the_queue(self):
        self.env["ir.config_parameter"].sudo().set_param(
            "mail_scanner_oauth2.max_attempts", "1"
        )
        ticket = self.ask()
        self.emu.faults.script(["429"] * 3, path_contains="/send")
        with mute_logger(*MAIL_LOGGERS):
            message = self.answer(
                ticket.with_context(mail_notify_force_send=False), body="Answer"
            )
            mail = self.mails_of(message)
            mail.send()
        self.assertEqual(mail.state, "outgoing", "left in Odoo's queue")
        self.assertIn("HTTP 429", mail.failure_reason)
        self.assertFalse(self.sent_items(message.message_id))
        self.emu.faults.clear()
        self.env["mail.mail"].process_email_queue(ids=mail.ids)
        self.assertEqual(len(self.sent_items(message.message_id)), 1)
        self.assertEqual(len(self.outbound(message.message_id)), 1)

    def test_answer_lost_after_acceptance_then_queue_again_one_copy(self):
        self.env["ir.config_parameter"].sudo().set_param(
            "mail_scanner_oauth2.max_attempts", "1"
        )
        ticket = self.ask()
        # The send is done but its answer lost; the check that follows fails too.
        self.emu.faults.script(["lost", "drop"], path_contains="/messages/")
        with mute_logger(*MAIL_LOGGERS):
            message = self.answer(ticket)
        mail = self.mails_of(message)
        self.assertEqual(mail.state, "outgoing")
        [row] = self.ledger_of(message)
        self.assertEqual(row.state, "draft", "the draft was recorded before the send")
        self.assertEqual(len(self.outbound(message.message_id)), 1, "it went")
        self.env["mail.mail"].process_email_queue(ids=mail.ids)
        self.assertFalse(mail.exists() and mail.state != "sent")
        self.assertEqual(len(self.sent_items(message.message_id)), 1)
        self.assertEqual(len(self.outbound(message.message_id)), 1, "never twice")
        row.invalidate_recordset()
        self.assertEqual(row.state, "sent")

    def test_draft_of_an_attempt_that_died_is_deleted_never_sent(self):
        ticket = self.ask()
        message = self.answer(ticket.with_context(mail_notify_force_send=False))
        mail = self.mails_of(message)
        # A worker died while it built the draft: the ledger row says started,
        # and the half-built draft sits in the mailbox's Drafts.
        self.env["mail.scanner.outgoing"].create(
            {
                "mailbox_id": self.mailbox.id,
                "mail_id": mail.id,
                "message_id": message.message_id,
                "recipients_key": recipients_key([CUSTOMER]),
                "state": "started",
            }
        )
        with self.emu.temporarily("tidy"):
            half_built = self.graph_mailbox.deliver(
                make_eml(
                    "Re: Printer on fire",
                    self.mailbox_address,
                    CUSTOMER,
                    "half",
                    message_id=message.message_id,
                ),
                folder="drafts",
            )
        half_built.is_draft = True
        mail.send()
        self.assertEqual(self.graph_mailbox.messages(folder="drafts"), [])
        [copy] = self.sent_items(message.message_id)
        self.assertNotEqual(copy.immutable_id, half_built.immutable_id)
        self.assertNotIn(b"half", copy.raw)
        self.assertEqual(len(self.outbound(message.message_id)), 1)

    def test_without_mail_send_the_mail_fails_and_health_is_told_once(self):
        ticket = self.ask()
        self.graph_app.roles = ["Mail.ReadWrite"]
        self.emu.expire_tokens()
        with mute_logger(*MAIL_LOGGERS):
            first = self.answer(ticket, body="First answer")
            second = self.answer(ticket, body="Second answer")
        for message in (first, second):
            mail = self.mails_of(message)
            self.assertEqual(mail.state, "exception")
            self.assertIn("Mail.Send", mail.failure_reason)
            self.assertIn("Grant admin consent", mail.failure_reason)
            self.assertNotIn(self.graph_app.secret, mail.failure_reason)
            self.assertEqual(mail.failure_type, "mail_smtp")
            self.assertEqual(
                message.notification_ids.mapped("notification_status"), ["exception"]
            )
        self.assertFalse(self.sent_items())
        alerts = self.mailbox.message_ids.filtered(
            lambda m: "cannot send as" in (m.body or "")
        )
        self.assertEqual(len(alerts), 1, "told once")
        self.assertEqual(alerts.subtype_id, self.env.ref(ALERT_SUBTYPE))
        self.assertIn("Mail.Send", self.mailbox.send_error)
        self.assertEqual(self.mailbox.state, "running", "scanning goes on")
        # Test connection now says exactly what to add.
        app = self.mailbox.app_id
        app.action_test_connection()
        self.assertFalse(app.last_check_ok)
        self.assertIn("Mail.Send", app.last_check_message)

        self.graph_app.roles = ["Mail.ReadWrite", SEND_ROLE]  # granted in Azure
        mail = self.mails_of(second)
        mail.mark_outgoing()
        mail.send()
        self.assertEqual(len(self.sent_items(second.message_id)), 1)
        self.assertFalse(self.mailbox.send_alerted)
        self.assertEqual(
            len(self.mailbox.message_ids.filtered(lambda m: "sends again" in m.body)), 1
        )

    def test_send_ledger_is_kept_as_long_as_the_log(self):
        ticket = self.ask()
        old, recent = self.answer(ticket, "Old answer"), self.answer(ticket, "New")
        old_row = self.ledger_of(old)
        self.env.cr.execute(
            "UPDATE mail_scanner_outgoing SET create_date = now() - interval '200 days'"
            " WHERE id = %s",
            (old_row.id,),
        )
        self.env["mail.scanner.mailbox"]._cron_purge_ledger()
        self.assertFalse(old_row.exists())
        self.assertTrue(self.ledger_of(recent))

    def test_bounce_of_a_sent_answer_is_shown_on_its_ticket(self):
        for replaced in (False, True):
            with self.subTest(exchange_replaces_message_id=replaced):
                self.emu.replace_message_id = replaced
                ticket = self.ask(f"<bounce-{replaced}@customer.example>")
                customer = ticket.partner_id
                bounces = customer.message_bounce
                self.emu.undeliverable.add(CUSTOMER)
                message = self.answer(ticket)
                self.emu.undeliverable.clear()
                tickets = self.env["helpdesk.ticket"].search_count([])
                [ndr] = [
                    m
                    for m in self.graph_mailbox.messages(folder="inbox")
                    if "Undeliverable" in (m.subject or "")
                    and not self.row_of(self.mailbox, m)
                ]
                self.sync(self.mailbox)
                row = self.row_of(self.mailbox, ndr)
                self.assertEqual(row.state, "ignored")
                self.assertEqual(row.reason_key, "bounce_shown")
                self.assertEqual(row.ticket_id, ticket)
                self.assertEqual(self.env["helpdesk.ticket"].search_count([]), tickets)
                notification = message.notification_ids.filtered(
                    lambda n, partner=customer: n.res_partner_id == partner
                )
                self.assertEqual(notification.notification_status, "bounce")
                self.assertEqual(customer.message_bounce, bounces + 1)


@tagged("post_install", "-at_install")
class TestNoCopiesToThoseWhoHaveTheMail(SendCase):
    """Importing a customer's mail queues no copy of it to its To and Cc people, nor
    to the customers following the ticket; agents keep their notifications."""

    def test_five_mail_thread_with_colleagues_in_cc(self):
        self.agent.notification_type = "email"
        people = {
            "ana": "Ana Souza <ana@customer.example>",
            "joao": "João Lima <joao@customer.example>",
            "paula": "Paula Reis <paula@customer.example>",
        }
        Mail = self.env["mail.mail"].sudo()
        before = Mail.search([]).ids

        def customer_mail(sender, cc, message_id, **kwargs):
            with self.emu.temporarily("tidy"):
                msg = self.deliver(
                    sender=people[sender],
                    cc=[people[c] for c in cc],
                    message_id=message_id,
                    **kwargs,
                )
                self.sync(self.mailbox)
            return msg

        def agent_answer(ticket, body):
            return self.answer(ticket.with_context(mail_notify_force_send=False), body)

        first = customer_mail("ana", ["joao"], "<t1@customer.example>")
        ticket = self.tickets_of(first)
        ticket.message_subscribe(self.agent.partner_id.ids)
        agent_answer(ticket, "Which printer?")
        customer_mail(
            "joao",
            ["ana"],
            "<t3@customer.example>",
            subject="Re: Printer on fire",
            in_reply_to="<t1@customer.example>",
        )
        customer_mail(
            "paula",
            ["ana", "joao"],
            "<t4@customer.example>",
            subject="Re: Printer on fire",
            in_reply_to="<t3@customer.example>",
        )
        agent_answer(ticket, "A technician is on the way.")

        queued = Mail.search([("id", "not in", before)])
        per_person = {}
        for mail in queued:
            for partner in mail.recipient_ids:
                kind = mail.mail_message_id.message_type
                key = (partner.email_normalized, kind)
                per_person[key] = per_person.get(key, 0) + 1
        for name in ("ana", "joao"):
            address = email_normalize(people[name])
            self.assertEqual(
                per_person.get((address, "comment"), 0), 2, f"{name}: both answers"
            )
            self.assertEqual(
                per_person.get((address, "email"), 0), 0, f"{name}: no customer mail"
            )
        paula = email_normalize(people["paula"])
        self.assertEqual(per_person.get((paula, "email"), 0), 0)
        # The agent still hears of the customers' replies, as Odoo does.
        self.assertEqual(per_person.get(("marta@staff.example", "email"), 0), 2)
        self.assertEqual(per_person.get(("marta@staff.example", "comment"), 0), 0)
