# Run by scripts/run inside `odoo-bin shell`: points the addon at the local emulator
# and creates (once) the sandbox's Azure app and mailbox.
import os
from datetime import datetime

env_ = os.environ
params = env["ir.config_parameter"].sudo()  # noqa: F821 (odoo shell global)
params.set_param("mail_scanner_oauth2.authority_host", env_["MSO_SANDBOX_URL"])
params.set_param("mail_scanner_oauth2.graph_url", env_["MSO_SANDBOX_URL"] + "/v1.0")
params.set_param("mail_scanner_oauth2.ca_bundle", env_["MSO_SANDBOX_CA"])
# The emulator (started with --notify-http) notifies this Odoo on 127.0.0.1 over http;
# Microsoft Graph would only call a public https address.
params.set_param("mail_scanner_oauth2.notification_allow_local", "1")
odoo_url = env_["MSO_SANDBOX_ODOO_URL"]
App = env["mail.scanner.azure.app"]  # noqa: F821
Mailbox = env["mail.scanner.mailbox"].with_context(active_test=False)  # noqa: F821
company = env.company  # noqa: F821
app = App.search([("client_id", "=", env_["MSO_SANDBOX_CLIENT"])], limit=1)
if not app:
    app = App.create(
        {
            "name": "Sandbox app (Graph emulator)",
            "tenant_id": env_["MSO_SANDBOX_TENANT"],
            "client_id": env_["MSO_SANDBOX_CLIENT"],
            "client_secret": env_["MSO_SANDBOX_SECRET"],
        }
    )
mailbox = Mailbox.search([("company_id", "=", company.id)], limit=1)
# Tickets go to a team named for the support mailbox (not to whichever demo team
# comes first).
address = env_["MSO_SANDBOX_MAILBOX"]
team_name = f"Suporte ({address})"
Team = env["helpdesk.ticket.team"]  # noqa: F821
team = Team.search([("name", "=", team_name)], limit=1) or Team.create(
    {"name": team_name, "company_id": company.id}
)
if not mailbox:
    mailbox = Mailbox.create(
        {
            "account_kind": "microsoft",
            "app_id": app.id,
            "address": env_["MSO_SANDBOX_MAILBOX"],
            "team_id": team.id,
            # The samples are dated November 2026: import them all.
            "cutoff_date": datetime(2026, 1, 1),
            "notification_address": odoo_url,
        }
    )
else:
    # A restarted emulator has new folder ids: scan its Inbox again. Writing the
    # folder checks the access and starts the mailbox, as an admin's edit would.
    # The secret is written again too: it is write-only, and an older database may
    # hold it elsewhere. The new subscription follows (the restarted emulator forgot
    # the old one).
    app.write({"client_secret": env_["MSO_SANDBOX_SECRET"]})
    mailbox.write(
        {
            "folder_id": False,
            "move_folder_id": False,
            "after_import": "mark_read",
            "team_id": team.id,
            "notification_address": odoo_url,
        }
    )
    if mailbox.state != "running":
        mailbox.action_check_and_start()
env.cr.commit()  # noqa: F821

# The first scan now, so the sample mail is already tickets when Odoo answers
# (instead of waiting for the scheduler's first minute).
for _run in range(10):  # bounded: a failing mailbox must not hold the start-up
    done, remaining = mailbox._sync_once()  # commits mail by mail
    print(f"first scan: {done} mails imported, {remaining} left")
    if not remaining:
        break
sending = "through the mailbox" if mailbox.send_answers else "off (no Mail.Send)"
print(
    f"mailbox {mailbox.address}: {mailbox.state}, tickets into team {team.name}; "
    f"answers: {sending}"
)
