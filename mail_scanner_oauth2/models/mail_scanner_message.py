# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The scanner's ledger: one row per Graph message, and the admin's log."""

import hashlib
import logging
import re
from datetime import timedelta

from markupsafe import Markup, escape

from odoo import api, fields, models, tools

from ..tools.mail_facts import MailFacts, split_head
from ..tools.protections import auto_reply_reason, delivery_failure_reason

_logger = logging.getLogger(__name__)

# Ticket references as helpdesk_mgmt numbers them (HT00042), or any other
# prefix a company gave its sequence: letters then at least three digits.
TICKET_REFERENCE_RE = re.compile(r"\b([A-Za-z]{0,10}[-/]?\d{3,})\b")
MAX_REASON_LENGTH = 2000


class MailScannerMessage(models.Model):
    _name = "mail.scanner.message"
    _description = "Mail Scanner Message"
    _order = "received_date desc, id desc"
    _rec_name = "subject"

    mailbox_id = fields.Many2one(
        "mail.scanner.mailbox", required=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one(related="mailbox_id.company_id", store=True)
    graph_id = fields.Char(string="Graph ID", required=True, readonly=True)
    internet_message_id = fields.Char(string="Message-ID", readonly=True, index=True)
    conversation_id = fields.Char(readonly=True, index=True)
    received_date = fields.Datetime(string="Received", readonly=True, index=True)
    sender = fields.Char(readonly=True)
    subject = fields.Char(readonly=True)
    size = fields.Integer(readonly=True, help="Size in bytes, when Graph told it.")
    state = fields.Selection(
        [
            ("pending", "Pending"),
            ("done", "Imported"),
            ("duplicate", "Already known"),
            ("ignored", "Ignored"),
            ("skipped", "Too large"),
            ("failed", "Failed"),
        ],
        required=True,
        default="pending",
        readonly=True,
        index=True,
    )
    outcome = fields.Selection(
        [("ticket", "New ticket"), ("reply", "Reply"), ("record", "Other record")],
        readonly=True,
    )
    reason = fields.Text(readonly=True)
    attempts = fields.Integer(readonly=True)
    processed_date = fields.Datetime(readonly=True)
    ticket_id = fields.Many2one("helpdesk.ticket", readonly=True, index=True)
    mail_message_id = fields.Many2one("mail.message", readonly=True)
    record_model = fields.Char(related="mail_message_id.model", string="Record type")
    record_id = fields.Many2oneReference(
        related="mail_message_id.res_id", model_field="record_model", string="Record"
    )
    after_import_done = fields.Boolean(
        readonly=True,
        help="The mail was marked as read or moved in the mailbox, as the "
        "mailbox is set up to do.",
    )

    _sql_constraints = [
        (
            "graph_id_uniq",
            "unique(mailbox_id, graph_id)",
            "A Graph message is recorded once per mailbox.",
        )
    ]

    # ---------------------------------------------------------------- ledger
    @api.model
    def _record_refs(self, mailbox, refs):
        """Adds the messages not seen before as pending rows."""
        if not refs:
            return self.browse()
        known = set(
            self.search(
                [
                    ("mailbox_id", "=", mailbox.id),
                    ("graph_id", "in", [r.id for r in refs]),
                ]
            ).mapped("graph_id")
        )
        vals_list = []
        for ref in refs:
            if ref.id in known:
                continue  # Graph may deliver the same change twice
            known.add(ref.id)
            vals_list.append(
                {
                    "mailbox_id": mailbox.id,
                    "graph_id": ref.id,
                    "internet_message_id": _no_nul(ref.internet_message_id),
                    "conversation_id": _no_nul(ref.conversation_id),
                    "received_date": ref.received and ref.received.replace(tzinfo=None),
                    "sender": _no_nul((ref.sender or "").lower()),
                    "subject": _no_nul(ref.subject),
                    "size": ref.size or 0,
                }
            )
        return self.create(vals_list)

    def _lock_for_import(self):
        """Locks this row; False when another run holds it or finished it."""
        self.env.cr.execute(
            """SELECT id FROM mail_scanner_message
                WHERE id = %s AND state IN ('pending', 'failed')
                FOR NO KEY UPDATE SKIP LOCKED""",
            (self.id,),
        )
        locked = bool(self.env.cr.fetchone())
        self.invalidate_recordset(["state", "attempts"])
        return locked

    # ---------------------------------------------------------------- import
    def _import_mime(self, mime):
        """Hands one mail to Odoo's gateway and records the outcome: 1 if imported."""
        self.ensure_one()
        if not self._lock_for_import():
            return 0
        facts = MailFacts(self._with_message_id(mime))
        message_id = facts.header("Message-ID").strip()
        existing = self.env["mail.message"].search(
            [("message_id", "=", message_id)], order="id", limit=1
        )
        if existing:
            self._record_duplicate(existing)
            return 0
        try:
            with self.env.cr.savepoint():
                outcome = self._import_facts(facts, message_id)
        except Exception as exc:  # pylint: disable=broad-except
            # Whatever the gateway chokes on stays retryable and never blocks
            # the next mail.
            _logger.info(
                "Mail Scanner could not import %s", self.graph_id, exc_info=True
            )
            self._record_failure(self.env._("Odoo could not import this mail: %s", exc))
            return 0
        self.write(dict(outcome, attempts=self.attempts + 1))
        return 1 if outcome["state"] == "done" else 0

    def _import_facts(self, facts, message_id):
        """Protections first, then the supervisor's rules, then the gateway."""
        reason = self._protection_reason(facts)
        if reason:
            return self._ignored(reason)
        thread_id, is_reply = self._find_thread(facts)
        decision = self.mailbox_id.rule_ids._decide(facts, is_reply)
        if decision.ignore_rule:
            return self._ignored(
                self.env._("Ignored by the rule '%s'.", decision.ignore_rule.name)
            )
        return self._route_to_gateway(facts, message_id, thread_id, decision)

    def _ignored(self, reason):
        return {
            "state": "ignored",
            "processed_date": fields.Datetime.now(),
            "reason": reason,
        }

    def _route_to_gateway(self, facts, message_id, thread_id, decision):
        mailbox = self.mailbox_id
        model = decision.target_model or "helpdesk.ticket"
        self._ensure_partners(facts)
        custom_values = dict(
            mailbox._new_record_values(model), **decision.values_for(model)
        )
        last_ticket_before = self._last_ticket_id()
        thread = (
            self.env["mail.thread"]
            .with_company(mailbox.company_id)
            # Followers' notifications go to the mail queue: a slow SMTP server
            # must not slow the import down, mail after mail.
            .with_context(mail_notify_force_send=False)
            .message_process(
                model,
                facts.raw,
                custom_values=custom_values,
                thread_id=thread_id if model == "helpdesk.ticket" else None,
            )
        )
        posted = self.env["mail.message"].search(
            [("message_id", "=", message_id)], order="id desc", limit=1
        )
        if not thread or not posted:
            return self._ignored(
                self.env._(
                    "Odoo's mail gateway ignored this mail: a bounce, a reply "
                    "to a bounce, or a mail loop from this sender."
                )
            )
        ticket = self._ticket_of(posted)
        is_new = bool(ticket) and ticket.id > last_ticket_before
        if is_new:
            self._subscribe_recipients(ticket, facts)
            self._fill_complementary_fields(ticket, facts)
        elif ticket and decision.matched:
            # Only rules that apply to replies were tried for a reply.
            ticket.write(decision.values_for("helpdesk.ticket"))
        return {
            "state": "done",
            "processed_date": fields.Datetime.now(),
            "reason": False,
            "mail_message_id": posted.id,
            "ticket_id": ticket.id,
            "outcome": "ticket" if is_new else ("reply" if ticket else "record"),
        }

    # ------------------------------------------------------------ protections
    def _protection_reason(self, facts):
        """Why this mail must not become a ticket nor be answered, or None."""
        mailbox = self.mailbox_id
        if facts.sender and facts.sender == (mailbox.address or "").lower():
            return self.env._("Sent by the scanned mailbox itself.")
        reason = delivery_failure_reason(facts)
        if reason:
            return self.env._("Delivery failure notification (%s).", reason)
        reason = auto_reply_reason(facts)
        if reason:
            return self.env._("Automatic reply (%s).", reason)
        return self._loop_reason(facts.sender)

    def _loop_reason(self, sender):
        mailbox = self.mailbox_id
        if not (sender and mailbox.loop_max_tickets and mailbox.loop_window_minutes):
            return None
        since = fields.Datetime.now() - timedelta(minutes=mailbox.loop_window_minutes)
        opened = self.search_count(
            [
                ("mailbox_id", "=", mailbox.id),
                ("sender", "=ilike", sender),
                ("outcome", "=", "ticket"),
                ("processed_date", ">=", since),
            ]
        )
        if opened < mailbox.loop_max_tickets:
            return None
        return self.env._(
            "Mail loop: %(sender)s opened %(count)s tickets in the last "
            "%(minutes)s minutes.",
            sender=sender,
            count=opened,
            minutes=mailbox.loop_window_minutes,
        )

    # ----------------------------------------------------- complementary fields
    def _fill_complementary_fields(self, ticket, facts):
        extractions = self.mailbox_id.extraction_ids
        if not extractions:
            return
        values, problems = self.env["mail.scanner.extraction"]._extract_all(
            extractions, facts
        )
        if values:
            try:
                with self.env.cr.savepoint():
                    ticket.write(values)
            except Exception as exc:  # pylint: disable=broad-except
                # A value the ticket refuses must not cost the customer's mail.
                problems.append(
                    self.env._("The extracted values were not written: %s", exc)
                )
        if problems:
            items = Markup("").join(
                Markup("<li>%s</li>") % problem for problem in problems
            )
            ticket.message_post(
                body=Markup("<p>%s</p><ul>%s</ul>")
                % (escape(self.env._("Complementary fields left empty:")), items),
                message_type="comment",
                subtype_xmlid="mail.mt_note",
            )

    def _last_ticket_id(self):
        # Tells a ticket created by this mail from one it replied to.
        self.env.cr.execute("SELECT COALESCE(MAX(id), 0) FROM helpdesk_ticket")
        return self.env.cr.fetchone()[0]

    def _with_message_id(self, mime):
        """Gives a mail without Message-ID a stable one derived from Graph's id.

        Odoo would invent a random one, and a retried mail could then never be
        recognised by the gateway as already imported.
        """
        if re.search(rb"(?im)^message-id:[ \t]*\S", split_head(mime)):
            return mime
        digest = hashlib.sha256(self.graph_id.encode()).hexdigest()[:32]
        return (
            b"Message-ID: <%s.mail-scanner@graph.invalid>\r\n" % digest.encode() + mime
        )

    def _ticket_of(self, message):
        if message.model != "helpdesk.ticket" or not message.res_id:
            return self.env["helpdesk.ticket"]
        return self.env["helpdesk.ticket"].browse(message.res_id).exists()

    # ------------------------------------------------------------- partners
    def _own_addresses(self):
        mailbox = self.mailbox_id
        return {mailbox.address.lower()} if mailbox.address else set()

    def _recipient_addresses(self, facts):
        own = self._own_addresses()
        addresses = []
        for name in ("To", "Cc"):
            for address in tools.email_split(facts.header(name)):
                if address.lower() not in own:
                    addresses.append(address)
        return addresses

    def _ensure_partners(self, facts):
        """The customer is matched or created, so every ticket has a contact."""
        sender = tools.email_split(facts.header("From"))
        if sender and sender[0].lower() not in self._own_addresses():
            self.env["mail.thread"]._mail_find_partner_from_emails(
                [facts.header("From")], force_create=True
            )

    def _subscribe_recipients(self, ticket, facts):
        """To and Cc people follow the new ticket, so replies reach them."""
        emails = self._recipient_addresses(facts)
        partners = self.env["mail.thread"]._mail_find_partner_from_emails(
            emails, records=ticket, force_create=True
        )
        ticket.message_subscribe([p.id for p in partners if p])

    # ------------------------------------------------------------ threading
    def _find_thread(self, facts):
        """(ticket id to force or None, whether the mail is a reply).

        Outlook mobile strips References and In-Reply-To. Then: a ticket
        reference in the subject, but only from that ticket's customer or a
        follower; otherwise Graph's conversationId of a known ticket.
        """
        if self._headers_link_a_thread(facts):
            return None, True  # the gateway threads it by References
        subject = facts.header("Subject")
        referenced = self._tickets_referenced(subject)
        if referenced:
            sender = tools.email_normalize(facts.header("From"))
            trusted = referenced.filtered(lambda t: sender in _ticket_people(t))
            # A stranger quoting a ticket number must not write into it.
            return trusted[:1].id or None, bool(trusted)
        ticket = self._ticket_of_conversation()
        return ticket.id or None, bool(ticket)

    def _headers_link_a_thread(self, facts):
        references = " ".join(
            facts.header(name) for name in ("References", "In-Reply-To")
        )
        ids = [ref.strip() for ref in tools.mail.unfold_references(references)]
        return bool(ids) and bool(
            self.env["mail.message"].search_count([("message_id", "in", ids[-32:])])
        )

    def _tickets_referenced(self, subject):
        tokens = {m.upper() for m in TICKET_REFERENCE_RE.findall(subject)}
        if not tokens:
            return self.env["helpdesk.ticket"]
        return self.env["helpdesk.ticket"].search([("number", "in", list(tokens))])

    def _ticket_of_conversation(self):
        if not self.conversation_id:
            return self.env["helpdesk.ticket"]
        earlier = self.search(
            [
                ("mailbox_id", "=", self.mailbox_id.id),
                ("conversation_id", "=", self.conversation_id),
                ("ticket_id", "!=", False),
                ("id", "!=", self.id),
            ],
            order="received_date, id",
            limit=1,
        )
        return earlier.ticket_id

    # -------------------------------------------------------------- outcomes
    def _record_duplicate(self, existing):
        self.write(
            {
                "state": "duplicate",
                "processed_date": fields.Datetime.now(),
                "mail_message_id": existing.id,
                "ticket_id": self._ticket_of(existing).id,
                "reason": self.env._(
                    "Odoo already had this mail (same Message-ID), for example "
                    "through an alias or another mailbox: nothing was created."
                ),
            }
        )

    def _record_failure(self, reason):
        self.write(
            {
                "state": "failed",
                "attempts": self.attempts + 1,
                "processed_date": fields.Datetime.now(),
                "reason": str(reason)[:MAX_REASON_LENGTH],
            }
        )

    def _record_fetch_failure(self, exc):
        self.ensure_one()
        if self._lock_for_import():
            self._record_failure(
                self.env._("The mail could not be downloaded: %s", exc)
            )

    # ---------------------------------------------------------------- actions
    def action_retry(self):
        retryable = self.filtered(lambda m: m.state in ("failed", "ignored", "skipped"))
        retryable.write({"state": "pending", "attempts": 0, "reason": False})
        for mailbox in retryable.mailbox_id:
            mailbox._trigger_sync()
        return True

    def action_open_ticket(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "helpdesk.ticket",
            "res_id": self.ticket_id.id,
            "view_mode": "form",
        }


def _ticket_people(ticket):
    emails = {tools.email_normalize(ticket.partner_email or "")}
    emails |= {
        p.email_normalized for p in ticket.partner_id | ticket.message_partner_ids
    }
    return emails - {False, None, ""}


def _no_nul(value):
    """PostgreSQL text cannot hold NUL: one such header must not stop the scan."""
    return value.replace("\x00", "") if isinstance(value, str) else value
