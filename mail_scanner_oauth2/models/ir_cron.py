# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
from odoo import models

from ..sync.scheduling import WorkerRound


class IrCron(models.Model):
    _inherit = "ir.cron"

    @classmethod
    def _process_job(cls, db, cron_cr, job):
        # A cron worker's pass over the ready jobs shares one time budget: the
        # mailboxes' jobs read its deadline (sync/scheduling.py).
        WorkerRound.begin(cron_cr)
        return super()._process_job(db, cron_cr, job)
