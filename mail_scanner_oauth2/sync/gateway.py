# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""One mail into Odoo: protections, the supervisor's rules, threading, then Odoo's own
mail gateway (``mail.thread.message_process``), and what came of it.

``MailImporter.import_mail`` never raises for a mail's content: it returns an
``Outcome`` (the ledger state, a reason key, the records made). What the gateway
created is known for sure: helpdesk_mgmt's ``message_new``/``message_update`` report
the record, and ``message_post`` the message it posted with the Message-ID the
scanner made sure the gateway would read, through a context object
(models/mail_thread.py).

Built once per run: the mailbox's settings, rules and complementary fields are read
once and their patterns compiled once; ``prepare(rows)`` reads what a slice of mail
needs in a few queries (sync/lookups.py); only the gateway call and the outcome are
per mail. Large attachments are cut out before the gateway parses the mail and
stored on its message directly (tools/large_parts.py).
"""

import email
import email.errors
import email.policy
import hashlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from markupsafe import Markup, escape

from odoo import fields, tools

from odoo.addons.base.models.res_partner import Partner as BasePartner

from ..tools.large_parts import cut_large_parts
from ..tools.mail_facts import MailFacts
from ..tools.protections import (
    auto_reply_reason,
    delivery_failure_reason,
    no_auto_answer_reason,
)
from .lookups import RowInfo, SliceLookups
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
    message_id: str = None  # of the message the gateway posted
    ticket_number: str = None  # of the ticket it created
    # Trying again would give the same result: no automatic retry, only Retry.
    set_aside: bool = False

    @property
    def imported(self):
        return self.state == "done"


class GatewayCapture:
    """Handed to the gateway in the context; message_new / message_update of the
    target record tell it which record the mail created or landed in, message_post
    the message posted with ``message_id``."""

    def __init__(self, message_id=None):
        self.message_id = message_id
        self.created = None
        self.updated = None
        self.posted = None

    @property
    def record(self):
        return self.created or self.updated


class MailImporter:
    """Imports the mails of one mailbox; built once per run."""

    def __init__(self, mailbox):
        self.mailbox = mailbox
        self.env = mailbox.env
        self.mailbox_id = mailbox.id
        self.company_id = mailbox.company_id.id
        self.own_addresses = {mailbox.address.lower()} if mailbox.address else set()
        self.loop_max_tickets = mailbox.loop_max_tickets
        self.loop_minutes = mailbox.loop_window_minutes
        self.rules = mailbox.rule_ids._compile()
        self.extractions = mailbox.extraction_ids._compile()
        # What of the mail beyond its headers the rules and extractions read: it is
        # then read in the download thread too.
        self.reads_body = self.rules.reads_body() or any(
            e.reads_body() for e in self.extractions
        )
        self.reads_parts = self.reads_body or self.rules.reads_parts()
        self.new_record_values = {
            model: mailbox._new_record_values(model)
            for model in {TICKET, *(r.target_model for r in self.rules.rules)} - {None}
        }
        self.lookups = SliceLookups(self.env, self.mailbox_id, self.company_id)
        # graph id -> PreparedMail, filled by the download thread
        self._prepared = {}
        self.threads = ThreadFinder(self.env, self.lookups)

    def prepare(self, rows):
        """Reads what the import of these rows needs, for all of them at once."""
        self.lookups.prepare(rows, loop_since=self._loop_since())

    def rolled_back(self):
        """The transaction was rolled back: the contacts it made are undone."""
        self.lookups.forget_since(0)

    def committed(self, info, outcome, processed):
        """The outcome of a mail is committed: later mails of the run know it."""
        self.lookups.transaction_committed()
        if outcome is None:
            return
        if outcome.imported and outcome.message_id:
            self.lookups.posted(outcome.message_id, outcome.values["mail_message_id"])
        if outcome.ticket_number:
            self.lookups.ticket_created(
                outcome.ticket_number, outcome.values["ticket_id"]
            )
        self.lookups.outcome_committed(
            info,
            outcome.values.get("outcome"),
            processed,
            outcome.values.get("ticket_id"),
        )

    # ------------------------------------------------------------ preparing
    def prepared(self, downloads):
        """Passes (graph id, MIME) downloads on, each mail prepared on the way:
        plain Python, no database, so it runs in the download thread."""
        for graph_id, mime in downloads:
            if isinstance(mime, bytes) and mime:
                try:
                    self._prepared[graph_id] = self._prepare(graph_id, mime)
                except Exception:  # pylint: disable=broad-except
                    # The import prepares it again, where its failure is recorded.
                    _logger.debug("Could not prepare %s", graph_id, exc_info=True)
            yield graph_id, mime

    def _prepare(self, graph_id, raw):
        prepared = PreparedMail(graph_id, raw)
        facts = prepared.facts
        if self.reads_parts:
            facts.read_parts(body=self.reads_body)
        # What the import asks of every mail, from its headers alone.
        self._what_it_is(facts)
        self._people(facts)
        facts.memo("no_auto_answer", no_auto_answer_reason)
        return prepared

    def _prepared_mail(self, info, raw):
        prepared = self._prepared.pop(info.graph_id, None)
        if prepared is None or prepared.source is not raw:
            prepared = self._prepare(info.graph_id, raw)
        return prepared

    # ------------------------------------------------------------------ entry
    def import_mail(self, row, raw):
        """The outcome of one mail; the caller writes it on the row and commits."""
        if not raw:
            return Outcome("ignored", "empty_item")
        info = self.lookups.rows.get(row.id) or RowInfo.of(row)
        prepared = self._prepared_mail(info, raw)
        facts, cut_parts = prepared.facts, prepared.cut_parts
        self._contacts_ahead(prepared)
        existing = self.lookups.existing_message(facts.message_id)
        if existing:
            return self._duplicate(existing)
        try:
            return self._import_in_savepoint(info, facts, cut_parts)
        except MemoryError:
            # The same mail would exhaust the same worker again: set aside at once.
            params = {"size_mb": info.size_mb()}
            return Outcome("failed", "out_of_memory", params, set_aside=True)
        except Exception as exc:  # pylint: disable=broad-except
            # Whatever the gateway chokes on never blocks the next mail.
            _logger.info(
                "Mail Scanner could not import %s", info.graph_id, exc_info=True
            )
            error = (str(exc).strip() or type(exc).__name__)[:1500]
            if isinstance(exc, CONTENT_ERRORS):
                # Odoo's parser gives the same error on the same bytes every time.
                return Outcome(
                    "failed", "unreadable_mail", {"error": error}, set_aside=True
                )
            return Outcome("failed", "import_failed", {"error": error})

    def _import_in_savepoint(self, info, facts, cut_parts):
        mark = self.lookups.mark()
        try:
            with self.env.cr.savepoint():
                return self._import_facts(info, facts, cut_parts)
        except BaseException:
            self.lookups.forget_since(mark)  # the contacts it made are undone
            raise

    def _duplicate(self, existing):
        record = self._ticket_of(existing)
        if record and record.company_id.id != self.company_id:
            # Never link the log of one company to another company's record.
            return Outcome("duplicate", "duplicate_elsewhere")
        return Outcome(
            "duplicate",
            "duplicate",
            values={"mail_message_id": existing.id, "ticket_id": record.id},
        )

    # ------------------------------------------------------------ the stages
    def _import_facts(self, row, facts, cut_parts=None):
        """Protections first, then the supervisor's rules, then the gateway."""
        ignored = self._protection(facts)
        if ignored:
            return ignored
        thread_id, is_reply = self.threads.find(row, facts)
        decision = self.rules.decide(facts, is_reply)
        if decision.ignore_rule:
            return Outcome(
                "ignored", "ignored_rule", {"rule": decision.ignore_rule.name}
            )
        no_answer = facts.memo("no_auto_answer", no_auto_answer_reason)
        outcome = self._route_to_gateway(
            facts, thread_id, decision, no_answer, cut_parts or {}
        )
        if outcome.imported and no_answer:
            outcome.key, outcome.params = "no_auto_answer", {"detail": no_answer}
        return outcome

    def _protection(self, facts):
        """Why this mail must not become a ticket nor be answered, or None."""
        if self._is_own_sent_mail(facts):
            return Outcome("ignored", "own_sent_mail")
        kind, reason = self._what_it_is(facts)
        if kind == "own_mailbox":
            return Outcome("ignored", "own_mailbox")
        if kind == "delivery_failure":
            return self._bounce(facts, reason)
        if kind == "auto_reply":
            return Outcome("ignored", "auto_reply", {"detail": reason})
        return self._loop(facts.sender)

    def _what_it_is(self, facts):
        """What the mail alone says it is (read in the download thread): sent by
        the scanned mailbox itself, a bounce, an automatic reply, with the reason;
        (None, None) for a person's mail."""
        return facts.memo("what_it_is", self._read_what_it_is)

    def _read_what_it_is(self, facts):
        if facts.sender and facts.sender in self.own_addresses:
            return "own_mailbox", None
        reason = delivery_failure_reason(facts)
        if reason:
            return "delivery_failure", reason
        reason = auto_reply_reason(facts)
        if reason:
            return "auto_reply", reason
        return None, None

    def _loop_since(self):
        if not (self.loop_max_tickets and self.loop_minutes):
            return None
        return fields.Datetime.now() - timedelta(minutes=self.loop_minutes)

    def _is_own_sent_mail(self, facts):
        """A copy of a mail Odoo sent through this mailbox, under the Message-ID
        Exchange gave it (Odoo's own is recognised as a duplicate already)."""
        return bool(facts.message_id) and self.lookups.sent_through_mailbox(
            facts.message_id
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
        since = self._loop_since()
        if not (sender and since):
            return None
        opened = self.lookups.tickets_opened(sender, since)
        if opened < self.loop_max_tickets:
            return None
        params = {"sender": sender, "count": opened, "minutes": self.loop_minutes}
        return Outcome("ignored", "mail_loop", params)

    def _route_to_gateway(self, facts, thread_id, decision, no_answer, cut_parts):
        model = decision.target_model or TICKET
        self._ensure_partners(facts)
        custom_values = dict(
            self.new_record_values.get(model) or self.mailbox._new_record_values(model),
            **decision.values_for(model),
        )
        capture = GatewayCapture(facts.message_id)
        gateway = (
            self.env["mail.thread"]
            .with_company(self.company_id)
            .with_context(
                mail_scanner_capture=capture,
                mail_scanner_import=True,
                mail_scanner_no_auto_answer=bool(no_answer),
                # The attachments cut out of the mail, by the token left in their
                # place (models/mail_thread.py stores them).
                mail_scanner_cut_parts=cut_parts,
                # Who has this mail already: Odoo sends them no copy of it.
                mail_scanner_recipients=self._holders(facts),
                # helpdesk_mgmt's own flag: tickets from mail get the email channel.
                fetchmail_cron_running=True,
                # Followers' notifications go to the mail queue: a slow SMTP server
                # must not slow the import down, mail after mail.
                mail_notify_force_send=False,
            )
        )
        result = gateway.message_process(
            model,
            facts.raw,
            custom_values=custom_values,
            thread_id=thread_id if model == TICKET else None,
        )
        if result is False:
            # The gateway's own duplicate check: the Message-ID reached Odoo by
            # another way since this run looked.
            existing = self.env["mail.message"].search(
                [("message_id", "=", facts.message_id)], order="id", limit=1
            )
            if existing:
                return self._duplicate(existing)
        record, posted = capture.record, capture.posted
        if record and not posted:
            # Posted by another path than message_post (message_notify).
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
        return Outcome(
            "done",
            values=values,
            message_id=facts.message_id,
            ticket_number=ticket.number if is_new and ticket else None,
        )

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

    def _people(self, facts):
        """{normalised address: "Name <address>"} of the customer and the To/Cc
        people, the first spelling of each address."""
        return facts.memo("people", self._read_people)

    def _read_people(self, facts):
        people = []
        sender = tools.mail.email_split_tuples(facts.header("From"))
        if sender and sender[0][1].lower() not in self.own_addresses:
            people.append(sender[0])
        people += self._recipients(facts)
        contacts = {}
        for person in people:
            contact = tools.formataddr(person)
            contacts.setdefault(tools.email_normalize(contact, strict=False), contact)
        contacts.pop(False, None)
        return contacts

    def _ensure_partners(self, facts):
        """The customer and the To/Cc people are matched or created, each with the
        display name of the mail; an existing contact is never renamed. Addresses
        already known to be contacts in this run are not looked up again."""
        contacts = self._people(facts)
        known = self.lookups.known_contacts(set(contacts))
        unknown = [c for address, c in contacts.items() if address not in known]
        if unknown:
            partners = self.env["mail.thread"]._mail_find_partner_from_emails(
                unknown, force_create=True
            )
            self.lookups.contacts_created(partners)

    def _contacts_ahead(self, current):
        """The contacts of this mail and of the mails downloaded after it, found
        and created together: a few queries for a batch of mails instead of a few
        for each. Only for mails whose import will reach the gateway whatever
        comes before them (not a known Message-ID, no protection, no sender near
        the loop limit, no rule that ignores it as a new mail or as a reply), as
        their contacts would be created anyway; the others are left to
        _ensure_partners when their turn comes."""
        if current.contacts_seen:
            return  # done with the batch it came in
        people = {}
        waiting = [current, *self._prepared.values()]
        senders = Counter(p.facts.sender for p in waiting)
        for prepared in waiting:
            if prepared.contacts_seen:
                continue
            prepared.contacts_seen = True
            if self._reaches_gateway(prepared.facts, senders):
                for address, contact in self._people(prepared.facts).items():
                    people.setdefault(address, contact)
        unknown = set(people) - self.lookups.known_contacts(set(people))
        if not unknown:
            return
        mark = self.lookups.mark()
        try:
            with self.env.cr.savepoint():
                self._find_or_create_contacts(people, unknown)
        except Exception:  # pylint: disable=broad-except
            # A saving, not a step: each mail still finds or creates its contacts
            # in its own import, where a failure is recorded on its row.
            self.lookups.forget_since(mark)
            _logger.info("Mail Scanner: contacts ahead not created", exc_info=True)

    def _find_or_create_contacts(self, people, unknown):
        Thread = self.env["mail.thread"]
        found = Thread._mail_find_partner_from_emails([people[a] for a in unknown])
        self.lookups.contacts_are(found)
        missing = unknown - self.lookups.known_contacts(unknown)
        aliases = (
            self.env["mail.alias"]
            .sudo()
            .search([("alias_full_name", "in", list(missing))])
        )
        missing -= set(aliases.mapped("alias_full_name"))
        contacts = [c for a, c in people.items() if a in missing]
        created = create_contacts(self.env["res.partner"], contacts)
        self.lookups.contacts_created(created)

    def _reaches_gateway(self, facts, senders):
        try:
            return self._certainly_imported(facts, senders)
        except Exception:  # pylint: disable=broad-except
            return False  # its own import will say what is wrong with it

    def _certainly_imported(self, facts, senders):
        if not self.lookups.known_new(facts.message_id):
            return False
        if self._what_it_is(facts)[0] or self._is_own_sent_mail(facts):
            return False
        since = self._loop_since()
        if since and facts.sender:
            opened = self.lookups.tickets_opened(facts.sender, since, ask=False)
            if (
                opened is None
                or opened + senders[facts.sender] >= self.loop_max_tickets
            ):
                return False
        return not any(
            self.rules.decide(facts, is_reply).ignore_rule for is_reply in (False, True)
        )

    def _subscribe_recipients(self, ticket, facts):
        """To people follow the new ticket, so answers reach them (helpdesk_mgmt's
        message_new subscribes the Cc people)."""
        emails = [tools.formataddr(person) for person in self._recipients(facts)]
        if not emails:
            return
        partners = self.env["mail.thread"]._mail_find_partner_from_emails(
            emails, records=ticket, force_create=False
        )
        # Those already following (the Cc people) need no second subscription.
        new = [p.id for p in partners if p and p not in ticket.message_partner_ids]
        if new:
            ticket.message_subscribe(new)

    # ----------------------------------------------------- complementary fields
    def _fill_complementary_fields(self, ticket, facts):
        if not self.extractions:
            return
        values, problems = self.env["mail.scanner.extraction"]._extract_compiled(
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


def create_contacts(Partner, contacts):
    """Partners for "Name <address>" strings, as _mail_find_partner_from_emails
    (force_create=True) makes them with name_create, in one create when
    name_create is Odoo's own (no module changed how it makes a contact)."""
    if type(Partner).name_create is not BasePartner.name_create:
        return Partner.browse([Partner.name_create(c)[0] for c in contacts])
    vals_list = []
    for contact in contacts:
        name, email = tools.parse_contact_from_email(contact)
        values = {Partner._rec_name: name or email}
        if email:
            values["email"] = email
        vals_list.append(values)
    return Partner.create(vals_list)


class PreparedMail:
    """A mail as the gateway will get it: its large attachments cut out (stored
    from the original bytes, tools/large_parts.py) and a Message-ID it can be
    recognised by."""

    def __init__(self, graph_id, raw):
        self.source = raw
        self.contacts_seen = False
        slim, self.cut_parts = cut_large_parts(raw)
        self.facts = with_message_id(graph_id, slim)


def with_message_id(graph_id, raw):
    """The facts of a mail, given a stable Message-ID derived from Graph's id when
    the gateway would read none: Odoo would invent a random one, and a retried mail
    could then never be recognised as already imported."""
    facts = MailFacts(raw)
    if facts.message_id:
        return facts
    header = f"Message-ID: {stable_message_id(graph_id)}\r\n"
    return MailFacts(header.encode() + raw)


def stable_message_id(graph_id):
    """The Message-ID given to a mail that has none: the same for every retry."""
    digest = hashlib.sha256(graph_id.encode()).hexdigest()[:32]
    return f"<{digest}.mail-scanner@graph.invalid>"
