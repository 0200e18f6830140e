# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""What the import of a slice of mail asks the database once, not once per mail.

``SliceLookups.prepare(rows)`` reads, for every mail of the slice at once, what the
ledger and Graph already say about it (its Message-ID, sender, conversation):

- which of those Message-IDs Odoo already has (duplicates);
- the tickets each sender opened within the loop window (mail loops);
- the earliest ticket of each conversation (threading by Graph's conversationId);
- the tickets whose number a subject quotes (threading by ticket reference);
- which of those Message-IDs are of mail Odoo sent through the mailbox, and the
  ticket of the latest mail sent in each conversation (sync/outgoing.py's ledger);
- which senders already are contacts.

While the slice is imported, each committed outcome is added (the mails of one
mailbox are only ever imported by the run that holds its lock), so an answer is the
one a query made at that moment would give. A mail whose MIME says something else
than Graph did (another Message-ID, another sender, another subject) is looked up on
its own, as before. The gateway keeps its own duplicate check: a Message-ID that
arrives by another way meanwhile is still recognised. A ticket a mail can quote
existed before the mail was written, so before the slice was read, unless this run
made it (then it is added); the same holds for a mail sent through the mailbox that
a received mail is a copy of or answers.
"""

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from odoo import tools

from ..graph.batch import chunks

# Ticket references as helpdesk_mgmt numbers them (HT00042), or any other
# prefix a company gave its sequence: letters then at least three digits.
TICKET_REFERENCE_RE = re.compile(r"\b([A-Za-z]{0,10}[-/]?\d{3,})\b")
# Rows of one slice are read in chunks of this many ids (IN lists stay short).
CHUNK = 500


@dataclass(frozen=True)
class RowInfo:
    """The ledger values the import reads, read once for the slice: after each
    commit Odoo's cache is empty, and reading a field would ask again."""

    id: int
    graph_id: str
    internet_message_id: str
    conversation_id: str
    sender: str
    subject: str
    received_date: datetime
    size: int

    @classmethod
    def of(cls, row):
        return cls(
            id=row.id,
            graph_id=row.graph_id,
            internet_message_id=row.internet_message_id or "",
            conversation_id=row.conversation_id or "",
            sender=row.sender or "",
            subject=row.subject or "",
            received_date=row.received_date or None,
            size=row.size or 0,
        )


def _order_key(received_date, row_id):
    # The ledger's order "received_date, id": rows without a date come last.
    return (received_date is None, received_date or datetime.min, row_id)


def ticket_references(subject):
    """The ticket numbers a subject may quote (upper case)."""
    return {m.upper() for m in TICKET_REFERENCE_RE.findall(subject or "")}


class SliceLookups:
    def __init__(self, env, mailbox_id, company_id):
        self.env = env
        self.mailbox_id = mailbox_id
        self.company_id = company_id
        self.rows = {}
        # ticket number -> [ticket ids], for the numbers asked
        self._tickets_by_number = {}
        # Message-ID -> mail.message id (0: looked up, not in Odoo)
        self._messages = {}
        # sender -> [processed_date of each ticket it opened], for asked senders
        self._tickets_by_sender = {}
        # conversation id -> [(order key, row id, ticket id)], the two earliest
        self._conversation_tickets = {}
        # normalised e-mail addresses known to be contacts
        self._partner_emails = set()
        # those of them created in the current transaction, in order
        self._tentative = []
        # Exchange Message-ID -> sent through the mailbox (bool), for asked ones
        self._sent = {}
        # conversation id -> ticket id of the latest mail sent in it (0: none)
        self._sent_tickets = {}

    # --------------------------------------------------------------- prepare
    def prepare(self, rows, loop_since=None):
        """Reads what the slice's rows need, in a few queries."""
        self.rows.update({row.id: RowInfo.of(row) for row in rows})
        infos = [self.rows[row_id] for row_id in rows.ids]
        self._prepare_messages({i.internet_message_id for i in infos} - {""})
        self._prepare_sent({i.internet_message_id for i in infos} - {""})
        if loop_since is not None:
            self._prepare_loop({i.sender for i in infos} - {""}, loop_since)
        conversations = {i.conversation_id for i in infos} - {""}
        self._prepare_conversations(conversations)
        self._prepare_sent_tickets(conversations)
        self._prepare_references(
            set().union(*(ticket_references(i.subject) for i in infos))
        )
        self._prepare_partners({i.sender for i in infos} - {""})

    def _prepare_messages(self, message_ids):
        wanted = message_ids - set(self._messages)
        for chunk in chunks(list(wanted), CHUNK):
            self.env.cr.execute(
                """SELECT DISTINCT ON (message_id) message_id, id
                     FROM mail_message WHERE message_id IN %s
                    ORDER BY message_id, id""",
                (tuple(chunk),),
            )
            found = dict(self.env.cr.fetchall())
            for message_id in chunk:
                self._messages[message_id] = found.get(message_id, 0)

    def _prepare_sent(self, message_ids):
        wanted = message_ids - set(self._sent)
        for chunk in chunks(list(wanted), CHUNK):
            self.env.cr.execute(
                """SELECT DISTINCT internet_message_id FROM mail_scanner_outgoing
                    WHERE mailbox_id = %s AND internet_message_id IN %s""",
                (self.mailbox_id, tuple(chunk)),
            )
            found = {row[0] for row in self.env.cr.fetchall()}
            for message_id in chunk:
                self._sent[message_id] = message_id in found

    def _prepare_sent_tickets(self, conversation_ids):
        wanted = conversation_ids - set(self._sent_tickets)
        for chunk in chunks(list(wanted), CHUNK):
            self.env.cr.execute(
                """SELECT DISTINCT ON (conversation_id) conversation_id, res_id
                     FROM mail_scanner_outgoing
                    WHERE mailbox_id = %s AND conversation_id IN %s
                      AND model = 'helpdesk.ticket' AND state = 'sent'
                    ORDER BY conversation_id, id DESC""",
                (self.mailbox_id, tuple(chunk)),
            )
            found = dict(self.env.cr.fetchall())
            for conversation_id in chunk:
                self._sent_tickets[conversation_id] = found.get(conversation_id) or 0

    def _prepare_loop(self, senders, since):
        wanted = senders - set(self._tickets_by_sender)
        for chunk in chunks(list(wanted), CHUNK):
            self.env.cr.execute(
                """SELECT sender, processed_date FROM mail_scanner_message
                    WHERE mailbox_id = %s AND outcome = 'ticket'
                      AND processed_date >= %s AND sender IN %s""",
                (self.mailbox_id, since, tuple(chunk)),
            )
            dates = defaultdict(list)
            for sender, processed in self.env.cr.fetchall():
                dates[sender].append(processed)
            for sender in chunk:
                self._tickets_by_sender[sender] = dates[sender]

    def _prepare_conversations(self, conversation_ids):
        wanted = conversation_ids - set(self._conversation_tickets)
        for chunk in chunks(list(wanted), CHUNK):
            # The two earliest rows with a ticket: a mail's own row is never its
            # own hint.
            self.env.cr.execute(
                """SELECT conversation_id, received_date, id, ticket_id FROM (
                       SELECT conversation_id, received_date, id, ticket_id,
                              row_number() OVER (
                                  PARTITION BY conversation_id
                                  ORDER BY received_date ASC NULLS LAST, id
                              ) AS rank
                         FROM mail_scanner_message
                        WHERE mailbox_id = %s AND conversation_id IN %s
                          AND ticket_id IS NOT NULL) ranked
                    WHERE rank <= 2""",
                (self.mailbox_id, tuple(chunk)),
            )
            earliest = defaultdict(list)
            for conversation_id, received, row_id, ticket_id in self.env.cr.fetchall():
                earliest[conversation_id].append(
                    (_order_key(received, row_id), row_id, ticket_id)
                )
            for conversation_id in chunk:
                self._conversation_tickets[conversation_id] = sorted(
                    earliest[conversation_id]
                )

    def _prepare_references(self, numbers):
        wanted = numbers - set(self._tickets_by_number)
        for chunk in chunks(list(wanted), CHUNK):
            tickets = self.env["helpdesk.ticket"].search_read(
                [
                    ("number", "in", chunk),
                    ("company_id", "in", [False, self.company_id]),
                ],
                ["number"],
            )
            found = defaultdict(list)
            for ticket in tickets:
                found[ticket["number"]].append(ticket["id"])
            for number in chunk:
                self._tickets_by_number[number] = found[number]

    def _prepare_partners(self, addresses):
        normalized = {tools.email_normalize(a, strict=False) for a in addresses}
        wanted = sorted(normalized - self._partner_emails - {False, None, ""})
        if not wanted:
            return
        partners = self.env["mail.thread"]._mail_find_partner_from_emails(wanted)
        self._partner_emails.update(p.email_normalized for p in partners if p)

    # ------------------------------------------------------------ duplicates
    def existing_message(self, message_id):
        """The mail.message with this Message-ID, or an empty recordset."""
        Message = self.env["mail.message"]
        if message_id not in self._messages:
            return Message.search(
                [("message_id", "=", message_id)], order="id", limit=1
            )
        return Message.browse(self._messages[message_id] or [])

    def known_new(self, message_id):
        """Whether this Message-ID is known to be new to Odoo (looked up with the
        slice, not imported since)."""
        return self._messages.get(message_id, None) == 0

    def message_exists(self, message_ids):
        """Whether Odoo has a mail.message with one of these Message-IDs."""
        if any(self._messages.get(message_id) for message_id in message_ids):
            return True
        unknown = [m for m in message_ids if m not in self._messages]
        if not unknown:
            return False
        return bool(
            self.env["mail.message"].search_count([("message_id", "in", unknown)])
        )

    def posted(self, message_id, mail_message_id):
        if not self._messages.get(message_id):
            self._messages[message_id] = mail_message_id

    # ----------------------------------------------------- sent through it
    def sent_through_mailbox(self, message_id):
        """Whether Odoo sent a mail through the mailbox that Exchange knows
        under this Message-ID."""
        if message_id not in self._sent:
            self._prepare_sent({message_id})
        return self._sent[message_id]

    def ticket_sent_in(self, conversation_id):
        """Ticket id of the latest mail sent through the mailbox in this
        conversation, or None."""
        if conversation_id not in self._sent_tickets:
            self._prepare_sent_tickets({conversation_id})
        return self._sent_tickets[conversation_id] or None

    # --------------------------------------------------------------- loops
    def tickets_opened(self, sender, since, ask=True):
        """Tickets this sender opened in this mailbox since ``since`` (None when
        the slice did not read it and ``ask`` is false)."""
        if sender not in self._tickets_by_sender:
            if not ask:
                return None
            return self.env["mail.scanner.message"].search_count(
                [
                    ("mailbox_id", "=", self.mailbox_id),
                    ("sender", "=", sender),
                    ("outcome", "=", "ticket"),
                    ("processed_date", ">=", since),
                ]
            )
        return sum(1 for when in self._tickets_by_sender[sender] if when >= since)

    # ----------------------------------------------------- ticket references
    def tickets_referenced(self, numbers):
        """The tickets of this company (or none) numbered so, in the tickets'
        order (the first one a trusted sender may write into)."""
        Ticket = self.env["helpdesk.ticket"]
        if not numbers:
            return Ticket
        unknown = numbers - set(self._tickets_by_number)
        domain = [("company_id", "in", [False, self.company_id])]
        if unknown:
            return Ticket.search([("number", "in", list(numbers)), *domain])
        ids = {i for number in numbers for i in self._tickets_by_number[number]}
        if not ids:
            return Ticket
        return Ticket.search([("id", "in", list(ids)), *domain])

    # --------------------------------------------------------- conversations
    def earliest_ticket_of_conversation(self, conversation_id, row_id):
        """Ticket id of the conversation's earliest other mail with a ticket."""
        if conversation_id not in self._conversation_tickets:
            self._prepare_conversations({conversation_id})
        for _key, other_row, ticket_id in self._conversation_tickets[conversation_id]:
            if other_row != row_id:
                return ticket_id
        return None

    # -------------------------------------------------------------- partners
    def known_contacts(self, addresses):
        """The normalised addresses of ``addresses`` known to be contacts."""
        return {a for a in addresses if a in self._partner_emails}

    def contacts_are(self, partners):
        self._partner_emails.update(p.email_normalized for p in partners if p)

    def contacts_created(self, partners):
        """Contacts created in the current transaction: known only as long as it
        is not rolled back (forget_since)."""
        addresses = [p.email_normalized for p in partners if p.email_normalized]
        self._tentative += [a for a in addresses if a not in self._partner_emails]
        self._partner_emails.update(addresses)

    def mark(self):
        return len(self._tentative)

    def forget_since(self, mark):
        """The contacts created since ``mark`` were rolled back."""
        self._partner_emails.difference_update(self._tentative[mark:])
        del self._tentative[mark:]

    def transaction_committed(self):
        self._tentative.clear()

    # -------------------------------------------------------- after each mail
    def ticket_created(self, number, ticket_id):
        number = (number or "").upper()
        if number in self._tickets_by_number:
            self._tickets_by_number[number].append(ticket_id)

    def outcome_committed(self, info, outcome, processed, ticket_id):
        """Adds one imported mail to what is known (the caller committed it)."""
        if outcome == "ticket" and info.sender in self._tickets_by_sender:
            self._tickets_by_sender[info.sender].append(processed)
        if ticket_id and info.conversation_id in self._conversation_tickets:
            entries = self._conversation_tickets[info.conversation_id]
            entries = [e for e in entries if e[1] != info.id]
            entries.append(
                (_order_key(info.received_date, info.id), info.id, ticket_id)
            )
            self._conversation_tickets[info.conversation_id] = sorted(entries)[:2]
