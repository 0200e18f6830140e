# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
{
    "name": "Mail Scanner (Microsoft 365, OAuth2): import through queue_job",
    "summary": "Each mailbox's import runs as a queue job, spread over Odoo's "
    "workers by OCA's job runner",
    "version": "18.0.1.0.0",
    "category": "After-Sales",
    "license": "AGPL-3",
    "author": "mail_scanner_oauth2 developers,Odoo Community Association (OCA)",
    "website": "https://github.com/OCA/helpdesk",
    "depends": ["mail_scanner_oauth2", "queue_job"],
    "data": ["data/queue_job_data.xml"],
    "auto_install": True,
    "development_status": "Beta",
    "installable": True,
}
