# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Odoo's outgoing mail through the scanned mailbox, exactly once.

Odoo sends mail through an outgoing mail server (``ir.mail_server``): ``connect()``
opens a session, ``send_email()`` hands it one MIME message at a time, and
``mail.mail._send`` records the outcome on the mail. The mailbox's outgoing server
(models/ir_mail_server.py) returns a ``GraphSession`` instead of an SMTP connection,
and the session sends the MIME Odoo built, as it is, through Microsoft Graph as the
mailbox (graph/send.py: a draft, then its send).

Guarantees:

1. **Exactly once.** Before a draft is sent, its id is written to the send ledger
   (``mail.scanner.outgoing``) in a transaction of its own and committed. A worker
   killed mid-send, or an answer lost on the way back, leaves the mail in Odoo's
   queue with that row: the next run resumes the same draft (Graph tells whether it
   went) and never sends a second copy. A row marked sent is never sent again.
2. **Passing problems wait.** Throttling, an unavailable Graph or network trouble
   leave the mail in Odoo's queue (``SendDeferred``); the queue's job is asked to run
   again once Graph's Retry-After has passed.
3. **Refusals are told.** A permanent refusal (no Mail.Send, a From the mailbox may
   not use, a mailbox that is gone, a mail that is too large) fails the mail with a
   sentence from texts.py in the administrators' language (``SendRefused``); a
   mailbox-wide refusal also reaches the mailbox's health alerts, once.
4. **Threaded back.** The row keeps what Exchange called the mail
   (internetMessageId, conversationId) for the answers and the bounces to come.
"""

import hashlib
import logging
import smtplib
from email.utils import getaddresses

from odoo import fields
from odoo.exceptions import UserError
from odoo.tools import email_normalize, formataddr
from odoo.tools.mail import encapsulate_email, unfold_references

from .. import texts
from ..graph import errors as graph_errors
from ..graph.send import MailSender
from .health import MailboxHealth, describe_refusal

_logger = logging.getLogger(__name__)

GRAPH_AUTHENTICATION = "mail_scanner_graph"
MB = 1024 * 1024
# When Graph gives no Retry-After, the queue tries again after this many seconds.
DEFAULT_RETRY_SECONDS = 60
# Refusals that are about one mail, not about the mailbox: no health alert.
MAIL_ONLY_KEYS = {"message_too_large", "text_too_large"}


class SendDeferred(smtplib.SMTPServerDisconnected):
    """Graph is throttling, unavailable or unreachable: the mail stays in Odoo's
    queue. An SMTPServerDisconnected because mail.mail._send lets that one through
    without marking the mail as failed (as for an SMTP server that went away)."""

    def __init__(self, text, retry_after=None):
        super().__init__(text)
        self.retry_after = retry_after


class SendRefused(Exception):
    """Graph refused the mail for good; str() is the reason Odoo shows on it."""

    def __init__(self, text, failure_type="mail_smtp"):
        super().__init__(text)
        self.failure_type = failure_type


class _QuietDeferral(logging.Filter):
    """mail.mail._send logs a session that went away with a traceback at ERROR level;
    waiting for a throttled Graph is no error: one warning line instead."""

    def filter(self, record):
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, SendDeferred):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg, record.args = "Mail kept in the queue: %s", (exc,)
            record.exc_info = record.exc_text = None
        return True


logging.getLogger("odoo.addons.mail.models.mail_mail").addFilter(_QuietDeferral())


class GraphSession:
    """What ``ir.mail_server.connect`` returns for a mailbox's outgoing server.

    Odoo's mail code reads ``from_filter`` and ``smtp_from`` from it and calls
    ``quit()``; ``mail.mail._send`` names the mail being sent (``begin``), and
    ``ir.mail_server.send_email`` hands it each message (``send``)."""

    def __init__(self, server, smtp_from=None):
        self.server = server.sudo()
        self.mailbox = self.server.mail_scanner_mailbox_id
        self.env = self.server.env
        self.from_filter = self.server.from_filter or self.mailbox.address
        self.smtp_from = smtp_from
        self.mail = None
        self.refusal = None
        self._sender = None

    # ------------------------------------------------------------- session
    def begin(self, mail):
        """mail.mail._send is about to send `mail` (its messages follow)."""
        self.mail = mail
        self.refusal = None

    def quit(self):
        if self._sender is not None:
            self._sender.close()
            self._sender = None

    close = quit

    @property
    def sender(self):
        if self._sender is None:
            client = self.mailbox.app_id._graph_client()
            limit = int(self.server._get_max_email_size() * MB)
            self._sender = MailSender(client, max_message_size=limit)
        return self._sender

    # ------------------------------------------------------------- headers
    def adapt_headers(self, message):
        """Exchange sends only as the mailbox (or the addresses it may send as):
        a From the server's filter does not cover becomes "Name <mailbox>", as Odoo
        writes its notification address. A Reply-To that only repeated that From,
        or names the company's catchall (which no one reads here), becomes the
        mailbox as well, so that the answer comes back into the scanned mailbox.
        And Odoo names the mails a mail answers in References only: Exchange (its
        conversations) and the customer's mail program thread by In-Reply-To too,
        which gets the newest of them."""
        if not message["In-Reply-To"]:
            answered = _answered_message_id(message)
            if answered:
                message["In-Reply-To"] = answered
        address = self.mailbox.address
        original = message["From"] or ""
        server = self.env["ir.mail_server"]
        rewritten = not server._match_from_filter(original, self.from_filter)
        if rewritten:
            del message["From"]
            message["From"] = encapsulate_email(original, address) or address
        reply_to = message["Reply-To"] or ""
        replies_to = email_normalize(reply_to)
        catchalls = set(
            self.env["mail.alias.domain"].sudo().search([]).mapped("catchall_email")
        )
        if (rewritten and replies_to == email_normalize(original)) or (
            replies_to and replies_to in catchalls
        ):
            name = (getaddresses([reply_to]) or [("", "")])[0][0]
            del message["Reply-To"]
            message["Reply-To"] = formataddr((name, address))

    # ---------------------------------------------------------------- send
    def send(self, message, smtp_to_list):
        """Send one message (Odoo's EmailMessage, prepared for sending) exactly once;
        returns its Message-ID. Raises SendDeferred or SendRefused."""
        message_id = (message["Message-Id"] or "").strip()
        ledger = SendLedger(self, message_id, smtp_to_list)
        earlier = ledger.start()
        if earlier.get("state") == "sent":
            _logger.info("%s was sent before: not sent again", message_id)
            return message_id
        mime = mime_of(message, smtp_to_list)
        try:
            if earlier and not earlier.get("draft_id"):
                self._discard_unrecorded_drafts(ledger, message_id)
            result = self.sender.send_mime(
                self.mailbox.address,
                mime,
                draft_id=earlier.get("draft_id") or None,
                on_draft=ledger.draft_created,
            )
        except graph_errors.GraphError as exc:
            raise self._failure(ledger, exc) from None
        except UserError as exc:  # the app has no secret or certificate
            raise self._failure(ledger, exc) from None
        ledger.sent(result)
        MailboxHealth(self.mailbox).send_succeeded()
        return message_id

    def _discard_unrecorded_drafts(self, ledger, message_id):
        """An earlier attempt died while it built its draft (before the draft was
        recorded): that draft was never sent, and is deleted rather than left
        half-built in the mailbox's Drafts. Drafts the ledger knows are kept."""
        address = self.mailbox.address
        recorded = set(ledger.recorded_drafts())
        for copy in self.sender.find_copies(address, message_id):
            if copy.get("isDraft") and copy.get("id") not in recorded:
                self.sender.discard_draft(address, copy["id"])

    def _failure(self, ledger, exc):
        key, params = describe_refusal(exc)
        health = MailboxHealth(self.mailbox)
        params = dict(health.context_params(), **params)
        if getattr(exc, "transient", False) or isinstance(exc, graph_errors.SendFailed):
            text = texts.render(
                health.admin_env(), "send_deferred", {"reason": _short_reason(exc)}
            )
            return SendDeferred(text, getattr(exc, "retry_after", None))
        text = texts.render(health.admin_env(), key, params)
        ledger.failed(key, params)
        if key not in MAIL_ONLY_KEYS:
            health.send_failed(key, params)
        failure_type = (
            "mail_from_invalid"
            if isinstance(exc, graph_errors.SendAsDenied)
            else "unknown"
            if key in MAIL_ONLY_KEYS
            else "mail_smtp"
        )
        self.refusal = SendRefused(text, failure_type)
        return self.refusal


def _answered_message_id(message):
    """The newest Message-ID in References other than the mail's own (Odoo lists
    the mail's recent ancestors oldest first, and the mail itself last)."""
    own = (message["Message-Id"] or "").strip()
    references = [
        ref.strip() for ref in unfold_references(str(message["References"] or ""))
    ]
    answered = [ref for ref in references if ref and ref != own]
    return answered[-1] if answered else None


def _short_reason(exc):
    """'HTTP 429 TooManyRequests', 'ConnectTimeout': what an admin can search for."""
    parts = [f"HTTP {exc.status}" if exc.status else None, exc.code]
    return " ".join(part for part in parts if part) or exc.key


def mime_of(message, smtp_to_list):
    """The bytes Graph gets: the message as Odoo built it. Odoo removed its Bcc
    header to give those addresses to SMTP apart; Graph reads every recipient
    from the MIME (and Exchange removes Bcc before delivery), so it is put back."""
    shown = {
        email_normalize(address) or address
        for _name, address in getaddresses(
            [message.get("To") or "", message.get("Cc") or ""]
        )
    }
    hidden = [a for a in smtp_to_list if (email_normalize(a) or a) not in shown]
    if hidden:
        del message["Bcc"]
        message["Bcc"] = ", ".join(dict.fromkeys(hidden))
    return message.as_bytes(policy=message.policy)


def recipients_key(addresses):
    """What tells apart the sends of one mail (Odoo sends a copy per recipient
    partner, all under the same Message-ID)."""
    normalized = sorted({email_normalize(a) or a for a in addresses})
    return hashlib.sha256("\n".join(normalized).encode()).hexdigest()


class SendLedger:
    """The send-ledger row of one message to one set of recipients, each change
    committed in a transaction of its own (the sending transaction may be killed or
    rolled back; what was done in the mailbox must stay known)."""

    def __init__(self, session, message_id, recipients):
        self.env = session.env
        mail = session.mail
        normalized = sorted({email_normalize(a) or a for a in recipients})
        self.identity = {
            "mailbox_id": session.mailbox.id,
            "mail_id": mail.id if mail else 0,
            "message_id": message_id,
            "recipients_key": recipients_key(normalized),
        }
        self.details = {
            "recipients": ", ".join(normalized),
            "model": (mail.model or False) if mail else False,
            "res_id": (mail.res_id or 0) if mail else 0,
        }

    def _domain(self):
        return [(name, "=", value) for name, value in self.identity.items()]

    def _in_own_transaction(self, action):
        with self.env.registry.cursor() as cr:
            env = self.env(cr=cr, su=True)
            return action(env["mail.scanner.outgoing"])

    def start(self):
        """{"state", "draft_id"} of an earlier attempt, or {} when this is the
        first, which is then recorded as started."""

        def read_or_start(Outgoing):
            row = Outgoing.search(self._domain(), limit=1)
            if row:
                return {"state": row.state, "draft_id": row.draft_id}
            Outgoing.create(dict(self.identity, **self.details, state="started"))
            return {}

        return self._in_own_transaction(read_or_start)

    def recorded_drafts(self):
        """Draft ids the ledger holds for this Message-ID (any recipients)."""

        def read(Outgoing):
            rows = Outgoing.search(
                [
                    ("mailbox_id", "=", self.identity["mailbox_id"]),
                    ("message_id", "=", self.identity["message_id"]),
                    ("draft_id", "!=", False),
                ]
            )
            return rows.mapped("draft_id")

        return self._in_own_transaction(read)

    def _write(self, values):
        def write(Outgoing):
            row = Outgoing.search(self._domain(), limit=1)
            if row:
                row.write(values)
            else:
                Outgoing.create(dict(self.identity, **self.details, **values))

        self._in_own_transaction(write)

    def draft_created(self, draft):
        """Called by MailSender once the draft is complete, before it is sent."""
        self._write(
            {
                "state": "draft",
                "draft_id": draft.id,
                "internet_message_id": draft.internet_message_id,
                "conversation_id": draft.conversation_id,
                "reason_key": False,
                "reason_params": False,
            }
        )

    def sent(self, result):
        values = {
            "state": "sent",
            "sent_date": fields.Datetime.now(),
            "reason_key": False,
            "reason_params": False,
        }
        if result.id:
            values["draft_id"] = result.id
        if result.internet_message_id:
            values["internet_message_id"] = result.internet_message_id
        if result.conversation_id:
            values["conversation_id"] = result.conversation_id
        self._write(values)

    def failed(self, key, params):
        self._write({"state": "failed", "reason_key": key, "reason_params": params})
