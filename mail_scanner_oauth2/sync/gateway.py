# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""One mail into Odoo: protections, the supervisor's rules, threading, then Odoo's own
mail gateway (``mail.thread.message_process``), and what came of it.

``MailImporter.import_mail`` never raises for a mail's content: it returns an
``Outcome`` (the ledger state, a reason key, the records made). What the gateway
created is known for sure: helpdesk_mgmt's ``message_new``/``message_update`` report
the record through a context object (models/mail_thread.py), and the posted message
carries the Message-ID the scanner made sure the gateway would read.
"""

import email
import email.errors
import email.policy
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from markupsafe import Markup, escape

from odoo import fields, tools

from ..tools.mail_facts import MailFacts
from ..tools.protections import (
    auto_reply_reason,
    delivery_failure_reason,
    no_auto_answer_reason,
)
from .threads import ThreadFinder

_logger = logging.getLogger(__name__)

TICKET = "helpdesk.ticket"
# What Python's email package and Odoo's gateway raise on content they cannot read
# (an unknown charset, a malformed address or header): the same on every attempt.
CONTENT_ERRORS = (
    LookupError,  # unknown encoding; KeyError, IndexError
    UnicodeError,
    ValueError,
    TypeError,
    AttributeError,
    AssertionError,
    email.errors.MessageError,
)


@dataclass
class Outcome:
    state: str
    key: str = None
    params: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)
    # Trying again would give the same result: no automatic retry, only Retry.
    set_aside: bool = False

    @property
    def imported(self):
        return self.state == "done"


class GatewayCapture:
    """Handed to the gateway in the context; message_new / message_update of the
    target record tell it which record the mail created or landed in."""

    def __init__(self):
        self.created = None
        self.updated = None

    @property
    def record(self):
        return self.created or self.updated


class MailImporter:
    """Imports the mails of one mailbox; built once per run (rules, patterns and
    the mailbox's own addresses are read once)."""

    def __init__(self, mailbox):
        self.mailbox = mailbox
        self.env = mailbox.env
        self.own_addresses = {mailbox.address.lower()} if mailbox.address else set()
        self.rules = mailbox.rule_ids.filtered("active").sorted(
            lambda r: (r.sequence, r.id)
        )
        self.extractions = mailbox.extraction_ids.filtered("active")
        self.threads = ThreadFinder(mailbox)

    # ------------------------------------------------------------------ entry
    def import_mail(self, row, raw):
        """The outcome of one mail; the caller writes it on the row and commits."""
        if not raw:
            return Outcome("ignored", "empty_item")
        raw, facts = self._with_message_id(row, raw)
        existing = self.env["mail.message"].search(
            [("message_id", "=", facts.message_id)], order="id", limit=1
        )
        if existing:
            return self._duplicate(existing)
        try:
            with self.env.cr.savepoint():
                return self._import_facts(row, facts)
        except MemoryError:
            # The same mail would exhaust the same worker again: set aside at once.
            params = {"size_mb": row._size_mb()}
            return Outcome("failed", "out_of_memory", params, set_aside=True)
        except Exception as exc:  # pylint: disable=broad-except
            # Whatever the gateway chokes on never blocks the next mail.
            _logger.info(
                "Mail Scanner could not import %s", row.graph_id, exc_info=True
            )
            error = (str(exc).strip() or type(exc).__name__)[:1500]
            if isinstance(exc, CONTENT_ERRORS):
                # Odoo's parser gives the same error on the same bytes every time.
                return Outcome(
                    "failed", "unreadable_mail", {"error": error}, set_aside=True
                )
            return Outcome("failed", "import_failed", {"error": error})

    def _with_message_id(self, row, raw):
        """Gives a mail without a Message-ID (as the gateway will read it) a stable
        one derived from Graph's id: Odoo would invent a random one, and a retried
        mail could then never be recognised as already imported."""
        facts = MailFacts(raw)
        if facts.message_id:
            return raw, facts
        header = f"Message-ID: {stable_message_id(row.graph_id)}\r\n"
        raw = header.encode() + raw
        return raw, MailFacts(raw)

    def _duplicate(self, existing):
        record = self._ticket_of(existing)
        if record and record.company_id != self.mailbox.company_id:
            # Never link the log of one company to another company's record.
            return Outcome("duplicate", "duplicate_elsewhere")
        return Outcome(
            "duplicate",
            "duplicate",
            values={"mail_message_id": existing.id, "ticket_id": record.id},
        )

    # ------------------------------------------------------------ the stages
    def _import_facts(self, row, facts):
        """Protections first, then the supervisor's rules, then the gateway."""
        ignored = self._protection(facts)
        if ignored:
            return ignored
        thread_id, is_reply = self.threads.find(row, facts)
        decision = self.rules._decide(facts, is_reply)
        if decision.ignore_rule:
            return Outcome(
                "ignored", "ignored_rule", {"rule": decision.ignore_rule.name}
            )
        no_answer = no_auto_answer_reason(facts)
        outcome = self._route_to_gateway(facts, thread_id, decision, no_answer)
        if outcome.imported and no_answer:
            outcome.key, outcome.params = "no_auto_answer", {"detail": no_answer}
        return outcome

    def _protection(self, facts):
        """Why this mail must not become a ticket nor be answered, or None."""
        if self._is_own_sent_mail(facts):
            return Outcome("ignored", "own_sent_mail")
        if facts.sender and facts.sender in self.own_addresses:
            return Outcome("ignored", "own_mailbox")
        reason = delivery_failure_reason(facts)
        if reason:
            return self._bounce(facts, reason)
        reason = auto_reply_reason(facts)
        if reason:
            return Outcome("ignored", "auto_reply", {"detail": reason})
        return self._loop(facts.sender)

    def _is_own_sent_mail(self, facts):
        """A copy of a mail Odoo sent through this mailbox, under the Message-ID
        Exchange gave it (Odoo's own is recognised as a duplicate already)."""
        return bool(facts.message_id) and bool(
            self.env["mail.scanner.outgoing"].search_count(
                [
                    ("mailbox_id", "=", self.mailbox.id),
                    ("internet_message_id", "=", facts.message_id),
                ],
                limit=1,
            )
        )

    def _bounce(self, facts, reason):
        """A non-delivery report never becomes a ticket. Odoo's own bounce handling
        (as for the bounces its gateway receives) marks the failed delivery on the
        mail it bounces, which the chatter shows, and counts the bounce on the
        partner; the log row points at that mail's ticket."""
        Thread = self.env["mail.thread"].with_context(mail_scanner_import=True)
        message = email.message_from_bytes(facts.raw, policy=email.policy.SMTP)
        msg_dict = Thread.message_parse(message)
        if not msg_dict.get("is_bounce"):
            return Outcome("ignored", "delivery_failure", {"detail": reason})
        Thread._routing_handle_bounce(message, msg_dict)
        bounced = msg_dict.get("bounced_message") or self.env["mail.message"]
        if not bounced:
            return Outcome("ignored", "delivery_failure", {"detail": reason})
        params = {"detail": reason, "recipient": msg_dict.get("bounced_email") or ""}
        return Outcome(
            "ignored",
            "bounce_shown",
            params,
            values={"ticket_id": self._ticket_of(bounced[:1]).id},
        )

    def _loop(self, sender):
        mailbox = self.mailbox
        if not (sender and mailbox.loop_max_tickets and mailbox.loop_window_minutes):
            return None
        since = fields.Datetime.now() - timedelta(minutes=mailbox.loop_window_minutes)
        opened = self.env["mail.scanner.message"].search_count(
            [
                ("mailbox_id", "=", mailbox.id),
                ("sender", "=", sender),
                ("outcome", "=", "ticket"),
                ("processed_date", ">=", since),
            ]
        )
        if opened < mailbox.loop_max_tickets:
            return None
        params = {
            "sender": sender,
            "count": opened,
            "minutes": mailbox.loop_window_minutes,
        }
        return Outcome("ignored", "mail_loop", params)

    def _route_to_gateway(self, facts, thread_id, decision, no_answer):
        model = decision.target_model or TICKET
        self._ensure_partners(facts)
        custom_values = dict(
            self.mailbox._new_record_values(model), **decision.values_for(model)
        )
        capture = GatewayCapture()
        gateway = (
            self.env["mail.thread"]
            .with_company(self.mailbox.company_id)
            .with_context(
                mail_scanner_capture=capture,
                mail_scanner_import=True,
                mail_scanner_no_auto_answer=bool(no_answer),
                # Who has this mail already: Odoo sends them no copy of it.
                mail_scanner_recipients=self._holders(facts),
                # helpdesk_mgmt's own flag: tickets from mail get the email channel.
                fetchmail_cron_running=True,
                # Followers' notifications go to the mail queue: a slow SMTP server
                # must not slow the import down, mail after mail.
                mail_notify_force_send=False,
            )
        )
        gateway.message_process(
            model,
            facts.raw,
            custom_values=custom_values,
            thread_id=thread_id if model == TICKET else None,
        )
        record = capture.record
        posted = self.env["mail.message"].search(
            [("message_id", "=", facts.message_id)], order="id desc", limit=1
        )
        if not record or not posted:
            return Outcome("ignored", "gateway_loop")
        is_new = bool(capture.created)
        ticket = record if record._name == TICKET else self.env[TICKET]
        if is_new and ticket:
            self._subscribe_recipients(ticket, facts)
            self._fill_complementary_fields(ticket, facts)
        elif ticket and decision.matched:
            # Only rules that apply to replies were tried for a reply.
            ticket.write(decision.values_for(TICKET))
        outcome = "record"
        if ticket:
            outcome = "ticket" if is_new else "reply"
        values = {
            "mail_message_id": posted.id,
            "ticket_id": ticket.id,
            "outcome": outcome,
        }
        return Outcome("done", values=values)

    # ------------------------------------------------------------- partners
    def _holders(self, facts):
        """Normalised addresses that have this mail already: its sender, its To and
        Cc people, and the scanned mailbox."""
        addresses = [facts.sender, *facts.recipients, *self.own_addresses]
        return frozenset(
            filter(None, (tools.email_normalize(a or "") for a in addresses))
        )

    def _recipients(self, facts):
        """To and Cc people as (name, address), the scanned mailbox left out."""
        people = []
        for name in ("To", "Cc"):
            for person, address in tools.mail.email_split_tuples(facts.header(name)):
                if address and address.lower() not in self.own_addresses:
                    people.append((person, address))
        return people

    def _ensure_partners(self, facts):
        """The customer and the To/Cc people are matched or created, each with the
        display name of the mail; an existing contact is never renamed."""
        people = []
        sender = tools.mail.email_split_tuples(facts.header("From"))
        if sender and sender[0][1].lower() not in self.own_addresses:
            people.append(sender[0])
        people += self._recipients(facts)
        if people:
            self.env["mail.thread"]._mail_find_partner_from_emails(
                [tools.formataddr(person) for person in people], force_create=True
            )

    def _subscribe_recipients(self, ticket, facts):
        """To people follow the new ticket, so answers reach them (helpdesk_mgmt's
        message_new subscribes the Cc people)."""
        emails = [tools.formataddr(person) for person in self._recipients(facts)]
        partners = self.env["mail.thread"]._mail_find_partner_from_emails(
            emails, records=ticket, force_create=False
        )
        ticket.message_subscribe([p.id for p in partners if p])

    # ----------------------------------------------------- complementary fields
    def _fill_complementary_fields(self, ticket, facts):
        if not self.extractions:
            return
        values, problems = self.env["mail.scanner.extraction"]._extract_all(
            self.extractions, facts
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

    def _ticket_of(self, message):
        if message.model != TICKET or not message.res_id:
            return self.env[TICKET]
        return self.env[TICKET].browse(message.res_id).exists()


def stable_message_id(graph_id):
    """The Message-ID given to a mail that has none: the same for every retry."""
    digest = hashlib.sha256(graph_id.encode()).hexdigest()[:32]
    return f"<{digest}.mail-scanner@graph.invalid>"
