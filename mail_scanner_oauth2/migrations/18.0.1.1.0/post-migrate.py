# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""One scheduled job per mailbox: the existing mailboxes get theirs, and the single
job that scanned them all (kept by noupdate) becomes the upkeep job."""

from odoo import SUPERUSER_ID, api

from odoo.addons.mail_scanner_oauth2.sync.scheduling import MailboxJobs


def migrate(cr, version):
    if not version:
        return
    env = api.Environment(cr, SUPERUSER_ID, {})
    old = env.ref("mail_scanner_oauth2.ir_cron_mail_scanner_sync", False)
    if old:
        old.write(
            {
                "name": "Mail Scanner: keep each mailbox's import job in step",
                "code": "model._cron_upkeep()",
                "interval_number": 10,
                "interval_type": "minutes",
            }
        )
    mailboxes = env["mail.scanner.mailbox"].with_context(active_test=False).search([])
    MailboxJobs(mailboxes).follow()
