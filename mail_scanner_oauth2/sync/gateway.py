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

Its parts: the protections (sync/protection.py), the mail's people as contacts
(sync/contacts.py), the mail made ready (sync/prepared.py), the Outcome and the
gateway's capture (sync/outcome.py).
"""

import logging

from markupsafe import Markup, escape

from ..tools.protections import no_auto_answer_reason
from .contacts import ImporterContacts
from .lookups import RowInfo, SliceLookups
from .outcome import CONTENT_ERRORS, GatewayCapture, Outcome
from .prepared import PreparedMail
from .protection import ImporterProtections
from .threads import ThreadFinder

_logger = logging.getLogger(__name__)

TICKET = "helpdesk.ticket"


class MailImporter(ImporterProtections, ImporterContacts):
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
            for model in {TICKET, *(r.target_model for r in self.rules.rules)}
            - {None, False}
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

    def forget(self, graph_id):
        """This mail is no longer waiting (imported, set aside or taken by another
        run): its prepared copy leaves memory and the contacts read ahead."""
        self._prepared.pop(graph_id, None)

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
            params = {"size_mb": row._size_mb()}
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
    def _import_facts(self, row, facts, cut_parts):
        """Protections first, then the supervisor's rules, then the gateway."""
        ignored = self._protection(facts)
        if ignored:
            return ignored
        thread_id, is_reply = self.threads.find(row, facts)
        decision = self._decide(facts, is_reply)
        if decision.ignore_rule:
            return Outcome(
                "ignored", "ignored_rule", {"rule": decision.ignore_rule.name}
            )
        no_answer = facts.memo("no_auto_answer", no_auto_answer_reason)
        outcome = self._route_to_gateway(
            facts, thread_id, decision, no_answer, cut_parts
        )
        if outcome.imported and no_answer:
            outcome.key, outcome.params = "no_auto_answer", {"detail": no_answer}
        return outcome

    def _route_to_gateway(self, facts, thread_id, decision, no_answer, cut_parts):
        model = decision.target_model or TICKET
        self._ensure_partners(facts)
        custom_values = dict(
            self.new_record_values[model],
            **decision.values_for(model),
        )
        capture = GatewayCapture(facts.message_id)
        gateway = self._gateway(facts, capture, no_answer, cut_parts)
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
        return self._outcome_of(facts, capture, decision)

    def _gateway(self, facts, capture, no_answer, cut_parts):
        """mail.thread with the context the scanner's gateway hooks read."""
        return (
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

    def _outcome_of(self, facts, capture, decision):
        """The Outcome of a mail the gateway processed, from what it captured; a
        new ticket gets its followers and complementary fields."""
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
            self._decide(facts, is_reply).ignore_rule for is_reply in (False, True)
        )

    def _decide(self, facts, is_reply):
        """The rules' decision on this mail, once per mail and kind (the read-ahead
        asks before its import does)."""
        return facts.memo(
            ("decision", is_reply), lambda f: self.rules.decide(f, is_reply)
        )

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
