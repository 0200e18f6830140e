# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""How long the scanned mail's log and the send ledger are kept.

Old rows of imported, ignored and duplicate mail leave the log in bounded batches;
failed and too large mail stays until it is resolved. A removed row never makes its
mail importable again: the delta link does not bring it back, and a full
resynchronisation meets its Message-ID in Odoo. The send ledger is kept as long as
the log: answers to a mail whose Message-ID Exchange replaced are threaded through it.
"""

from datetime import timedelta

from odoo import fields

# Ledger rows removed per transaction.
PURGE_BATCH = 1000


def purge(Mailbox):
    """Removes what is past each mailbox's retention; returns the log rows removed.
    Commits each batch through ``Mailbox._purge_commit`` (a seam for tests)."""
    removed = 0
    Mailbox.env.flush_all()  # the rows are removed in SQL
    for mailbox in Mailbox.sudo().with_context(active_test=False).search([]):
        if mailbox.retention_days <= 0:
            continue
        horizon = fields.Datetime.now() - timedelta(days=mailbox.retention_days)
        removed += _purge_log(Mailbox, mailbox, horizon)
        Mailbox.env["mail.scanner.outgoing"].sudo().search(
            [("mailbox_id", "=", mailbox.id), ("create_date", "<", horizon)]
        ).unlink()
        Mailbox._purge_commit()
    Mailbox.env["mail.scanner.message"].invalidate_model()
    return removed


def _purge_log(Mailbox, mailbox, horizon):
    cr, removed = Mailbox.env.cr, 0
    while True:
        cr.execute(
            """DELETE FROM mail_scanner_message WHERE id IN (
                   SELECT id FROM mail_scanner_message
                    WHERE mailbox_id = %s
                      AND state IN ('done', 'ignored', 'duplicate')
                      AND (after_import_done OR state = 'duplicate')
                      AND processed_date < %s
                    LIMIT %s)""",
            (mailbox.id, horizon, PURGE_BATCH),
        )
        count = cr.rowcount
        removed += count
        Mailbox._purge_commit()
        if count < PURGE_BATCH:
            return removed
