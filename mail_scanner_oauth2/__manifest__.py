# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
{
    "name": "Mail Scanner (Microsoft 365, OAuth2)",
    "summary": "Turn a Microsoft 365 mailbox into helpdesk tickets through "
    "Microsoft Graph with app-only OAuth2",
    "version": "18.0.1.0.0",
    "category": "After-Sales",
    "license": "AGPL-3",
    "author": "mail_scanner_oauth2 developers,Odoo Community Association (OCA)",
    "website": "https://github.com/OCA/helpdesk",
    "depends": ["mail", "helpdesk_mgmt"],
    "external_dependencies": {"python": ["msal", "requests"]},
    "data": [
        "security/mail_scanner_security.xml",
        "security/ir.model.access.csv",
        "data/ir_cron_data.xml",
        "data/mail_message_subtype_data.xml",
        "wizards/mail_scanner_rule_test_views.xml",
        "wizards/mail_scanner_ticket_field_views.xml",
        "views/mail_scanner_azure_app_views.xml",
        "views/mail_scanner_folder_views.xml",
        "views/mail_scanner_mailbox_views.xml",
        "views/mail_scanner_mailbox_notify_views.xml",
        "views/mail_scanner_message_views.xml",
        "views/mail_scanner_rule_views.xml",
        "views/mail_scanner_extraction_views.xml",
        "views/res_config_settings_views.xml",
        "views/mail_scanner_menus.xml",
        "views/mail_scanner_send_views.xml",
    ],
    "assets": {
        "web.assets_tests": [
            "mail_scanner_oauth2/static/tests/tours/*.js",
        ],
    },
    "development_status": "Beta",
    "installable": True,
}
