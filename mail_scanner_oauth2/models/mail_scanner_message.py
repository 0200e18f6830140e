# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The scanner's ledger: one row per Graph message of a mailbox, and the admin's log.

The ledger keeps rows and their states. How and when a mail is imported is decided
by ``sync/protocol.py``, which calls the few methods below (record, lock, start,
finish, set aside).
"""

import logging

from odoo import api, fields, models

from .. import texts
from ..graph.errors import first_line
from ..tools.storable import storable, storable_params

_logger = logging.getLogger(__name__)

# Failed mail is tried again on the regular schedule this many times in all.
MAX_AUTO_ATTEMPTS = 5
# An import that never finished (the worker was killed: memory or time limit, a
# restart) is tried again this many times, then set aside. Odoo gives up a job
# killed three times in a row without progress; the set-aside happens before.
MAX_INTERRUPTIONS = 2
# Longest values kept from Graph: ids stay under PostgreSQL's index row limit.
ID_LIMIT = 500
TEXT_LIMIT = 1000


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
    reason_key = fields.Char(readonly=True)
    reason_params = fields.Json(readonly=True)
    # Char, not Text: the log's list shows it on one line (the full sentence in the
    # cell's tooltip and on the form) instead of rows that grow tall.
    reason = fields.Char(
        compute="_compute_reason", help="Why the mail has this state, in your language."
    )
    attempts = fields.Integer(readonly=True)
    interruptions = fields.Integer(
        readonly=True,
        help="Imports of this mail that never finished (the worker was stopped).",
    )
    retry_automatically = fields.Boolean(
        default=True,
        readonly=True,
        copy=False,
        help="Failed mail is tried again on the schedule, unless trying again "
        "cannot help (the reason says why): then only Retry imports it.",
    )
    import_started = fields.Datetime(
        readonly=True,
        copy=False,
        help="Set while an import is under way; still set afterwards means the "
        "import was interrupted.",
    )
    processed_date = fields.Datetime(readonly=True, index=True)
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

    @api.depends("reason_key", "reason_params")
    @api.depends_context("lang")  # stored as a key, worded for the reader
    def _compute_reason(self):
        for row in self:
            row.reason = row.reason_key and texts.render(
                self.env, row.reason_key, row.reason_params
            )

    # ---------------------------------------------------------------- ledger
    @api.model
    def _record_refs(self, mailbox, refs):
        """Adds the messages not seen before as pending rows.

        Every value is made storable first. Should the page still be refused,
        rows are written one by one, and a row that cannot be written becomes a
        failed row that holds only the Graph id: one odd value never costs the
        other mails, nor the delta link.
        """
        refs = [ref for ref in refs if not ref.removed]
        if not refs:
            return
        ids = [storable(ref.id, ID_LIMIT) for ref in refs]
        known = set(
            self.search(
                [("mailbox_id", "=", mailbox.id), ("graph_id", "in", ids)]
            ).mapped("graph_id")
        )
        vals_list = []
        for graph_id, ref in zip(ids, refs, strict=True):
            if graph_id in known:
                continue  # Graph may deliver the same change twice
            known.add(graph_id)
            vals_list.append(self._values_of_ref(mailbox, graph_id, ref))
        try:
            with self.env.cr.savepoint():
                self.create(vals_list)
        except Exception:  # pylint: disable=broad-except
            _logger.warning("Mail Scanner: a page of %s was refused", mailbox.address)
            for vals in vals_list:
                self._record_one(vals)

    @staticmethod
    def _values_of_ref(mailbox, graph_id, ref):
        received = ref.received and ref.received.replace(tzinfo=None)
        return {
            "mailbox_id": mailbox.id,
            "graph_id": graph_id,
            "internet_message_id": storable(ref.internet_message_id, ID_LIMIT),
            "conversation_id": storable(ref.conversation_id, ID_LIMIT),
            "received_date": received,
            "sender": storable((ref.sender or "").lower(), TEXT_LIMIT),
            "subject": storable(ref.subject, TEXT_LIMIT),
            "size": ref.size or 0,
        }

    @api.model
    def _record_one(self, vals):
        try:
            with self.env.cr.savepoint():
                self.create(vals)
            return
        except Exception as exc:  # pylint: disable=broad-except
            error = storable(first_line(str(exc)), TEXT_LIMIT)
        with self.env.cr.savepoint():
            self.create(
                {
                    "mailbox_id": vals["mailbox_id"],
                    "graph_id": vals["graph_id"],
                    "state": "failed",
                    "reason_key": "unstorable_row",
                    "reason_params": {"error": error},
                }
            )

    @api.model
    def _importable(self, mailbox, limit):
        """Rows to import next: new mail, then failed mail with attempts left."""
        return self.search(
            [
                ("mailbox_id", "=", mailbox.id),
                "|",
                ("state", "=", "pending"),
                "&",
                "&",
                ("state", "=", "failed"),
                ("retry_automatically", "=", True),
                ("attempts", "<", MAX_AUTO_ATTEMPTS),
            ],
            order="received_date, id",
            limit=max(limit, 1),
        )

    def _lock_for_import(self):
        """Locks this row; False when another run holds it or finished it."""
        self.ensure_one()
        self.env.cr.execute(
            """SELECT id FROM mail_scanner_message
                WHERE id = %s AND state IN ('pending', 'failed')
                FOR NO KEY UPDATE SKIP LOCKED""",
            (self.id,),
        )
        locked = bool(self.env.cr.fetchone())
        self.invalidate_recordset(["state"])
        return locked

    def _lock_and_count_attempt(self):
        """Locks this row and counts the attempt before it runs (the caller
        commits it, so an import that kills the worker is still counted), in one
        statement. Returns (interruptions, attempts), both this one included (an
        attempt that started and never recorded an outcome was interrupted); None
        when another run holds the row or finished it.

        The commit of the attempt does not wait for the disk (it would double the
        disk flushes of an import): PostgreSQL has it the moment it answers, so a
        worker killed afterwards cannot undo it; only a crash of the database
        server itself within a fraction of a second could, and then the mail is
        simply tried once more."""
        self.ensure_one()
        self.flush_recordset()
        self.env.cr.execute(
            """SET LOCAL synchronous_commit TO OFF;
               UPDATE mail_scanner_message m
                  SET attempts = COALESCE(m.attempts, 0) + 1,
                      interruptions = COALESCE(m.interruptions, 0)
                          + (m.import_started IS NOT NULL)::int,
                      import_started = %s, write_date = %s, write_uid = %s
                 FROM (SELECT id FROM mail_scanner_message
                        WHERE id = %s AND state IN ('pending', 'failed')
                          FOR NO KEY UPDATE SKIP LOCKED) free
                WHERE m.id = free.id
            RETURNING m.interruptions, m.attempts""",
            (
                fields.Datetime.now(),
                fields.Datetime.now(),
                self.env.uid,
                self.id,
            ),
        )
        found = self.env.cr.fetchone()
        self.invalidate_recordset(
            [
                "state",
                "attempts",
                "interruptions",
                "import_started",
                "write_date",
                "write_uid",
            ]
        )
        return tuple(found) if found else None

    def _finish(self, state, key=None, params=None, **values):
        """Records the outcome of the attempt (in the import's own transaction)."""
        self.write(
            dict(
                values,
                state=state,
                reason_key=key or False,
                reason_params=storable_params(params) if key else False,
                processed_date=fields.Datetime.now(),
                import_started=False,
            )
        )

    def _set_aside(self, key, params=None, **values):
        """Gives up on this mail until an administrator uses Retry."""
        self._finish("failed", key, params, retry_automatically=False, **values)

    def _size_mb(self):
        return round((self.size or 0) / 1024 / 1024, 1)

    # ---------------------------------------------------------------- actions
    def action_retry(self):
        retryable = self.filtered(lambda m: m.state in ("failed", "ignored", "skipped"))
        retryable.write(
            {
                "state": "pending",
                "attempts": 0,
                "interruptions": 0,
                "retry_automatically": True,
                "import_started": False,
                "reason_key": False,
                "reason_params": False,
            }
        )
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
