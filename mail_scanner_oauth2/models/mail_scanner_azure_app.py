# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
import hashlib
import logging
import re
import threading

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from .. import texts
from ..graph import DEFAULT_AUTHORITY_HOST, DEFAULT_GRAPH_URL, GraphMailClient
from ..graph import errors as graph_errors
from ..graph.errors import SEND_ROLE
from ..sync.sending import MailboxSending

_logger = logging.getLogger(__name__)

GUID_RE = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE
)
# A tenant is named by its directory ID or by one of its domains.
TENANT_DOMAIN_RE = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$", re.IGNORECASE)

# Where the identity platform and Graph live (the client's defaults). System
# parameters override them so that the sandbox and the tests can point the addon at
# the local emulator.
PARAM_AUTHORITY_HOST = "mail_scanner_oauth2.authority_host"
PARAM_GRAPH_URL = "mail_scanner_oauth2.graph_url"
PARAM_CA_BUNDLE = "mail_scanner_oauth2.ca_bundle"
# Tuning knobs: attempts per request (throttling, outages) and the longest
# wait a Retry-After may impose.
PARAM_MAX_ATTEMPTS = "mail_scanner_oauth2.max_attempts"
PARAM_MAX_RETRY_AFTER = "mail_scanner_oauth2.max_retry_after"
# A group that no user belongs to: the stored credentials are readable only by the
# scanner itself, running as superuser.
SECRET_STORAGE_GROUP = "mail_scanner_oauth2.group_mail_scanner_secret_storage"

# Exchange Online PowerShell that closes every other mailbox of the tenant to the
# app (README: "Restrict the app to the one mailbox"). Commands, not sentences: never
# translated.
ACCESS_POLICY_COMMANDS = (
    'New-DistributionGroup -Name "Mail Scanner mailboxes" -Type Security '
    "-Members {address}\n"
    'New-ApplicationAccessPolicy -AppId {client} -PolicyScopeGroupId "Mail Scanner '
    'mailboxes" -AccessRight RestrictAccess -Description "Mail Scanner"\n'
    "Test-ApplicationAccessPolicy -AppId {client} -Identity {address}"
)

# One client per credential set and process: msal keeps its token cache on the
# client, so cron runs in the same worker reuse the token instead of asking
# the identity platform every minute.
_CLIENTS = {}
_CLIENTS_LOCK = threading.Lock()


class MailScannerAzureApp(models.Model):
    _name = "mail.scanner.azure.app"
    _description = "Mail Scanner Azure App"
    _order = "name"

    name = fields.Char(
        required=True, default=lambda self: self.env._("Microsoft 365 app")
    )
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company
    )
    client_id = fields.Char(
        string="Application (client) ID",
        required=True,
        help="Azure portal > App registrations > your app > Overview > "
        "Application (client) ID.",
    )
    tenant_id = fields.Char(
        string="Directory (tenant) ID",
        required=True,
        help="Azure portal > App registrations > your app > Overview > "
        "Directory (tenant) ID. The tenant's own endpoint is always used, "
        "never /common.",
    )
    credential_kind = fields.Selection(
        [("secret", "Client secret"), ("certificate", "Certificate")],
        string="Credential",
        required=True,
        default="secret",
    )
    # Credentials are write-only for users: the form writes them through
    # `client_secret` / `certificate_private_key`, which always read as empty, and
    # they are stored in fields of a group no user belongs to. Only the scanner
    # itself reads them back, as superuser (_credential_kwargs).
    client_secret = fields.Char(
        string="Client secret value",
        compute="_compute_write_only",
        inverse="_inverse_client_secret",
        groups="base.group_system",
        copy=False,
        help="The secret's Value column in Azure > Certificates & secrets, "
        "not its Secret ID. It is stored but never shown again: type a new value "
        "to replace it.",
    )
    client_secret_value = fields.Char(groups=SECRET_STORAGE_GROUP, copy=False)
    client_secret_set = fields.Boolean(
        string="Client secret stored", compute="_compute_credential_set"
    )
    secret_id = fields.Char(
        string="Secret ID",
        copy=False,
        help="The Secret ID column next to the secret in Azure > Certificates & "
        "secrets (optional): it tells which secret is stored, and is not the "
        "secret itself.",
    )
    secret_expiration = fields.Date(
        string="Secret expires on",
        help="The Expires column in Azure > Certificates & secrets; the "
        "administrators are warned two weeks before this date.",
    )
    certificate_private_key = fields.Text(
        string="Certificate private key (PEM)",
        compute="_compute_write_only",
        inverse="_inverse_certificate_private_key",
        groups="base.group_system",
        copy=False,
        help="Stored but never shown again: paste a new key to replace it.",
    )
    certificate_private_key_value = fields.Text(groups=SECRET_STORAGE_GROUP, copy=False)
    certificate_key_set = fields.Boolean(
        string="Private key stored", compute="_compute_credential_set"
    )
    certificate_public = fields.Text(
        string="Certificate (PEM)",
        groups="base.group_system",
        copy=False,
        help="The public certificate uploaded to the app in Azure.",
    )
    mailbox_ids = fields.One2many("mail.scanner.mailbox", "app_id")
    access_policy_commands = fields.Text(
        compute="_compute_access_policy_commands",
        help="Exchange Online PowerShell commands that restrict the app to the "
        "scanned mailbox.",
    )
    last_check_key = fields.Char(readonly=True, copy=False)
    last_check_params = fields.Json(readonly=True, copy=False)
    last_check_message = fields.Char(compute="_compute_last_check_message")
    last_check_ok = fields.Boolean(readonly=True, copy=False)

    @api.depends("last_check_key", "last_check_params")
    @api.depends_context("lang")  # stored as a key, worded for the reader
    def _compute_last_check_message(self):
        for app in self:
            app.last_check_message = app.last_check_key and texts.render(
                self.env, app.last_check_key, app.last_check_params
            )

    @api.depends("client_id", "mailbox_ids.address")
    def _compute_access_policy_commands(self):
        for app in self:
            client = (app.client_id or "").strip() or "<client id>"
            address = app.mailbox_ids[:1].address or "support@example.com"
            app.access_policy_commands = ACCESS_POLICY_COMMANDS.format(
                client=client, address=address
            )

    def _compute_write_only(self):
        for app in self:
            app.client_secret = False
            app.certificate_private_key = False

    def _compute_credential_set(self):
        for app, stored in zip(self, self.sudo(), strict=True):
            app.client_secret_set = bool(stored.client_secret_value)
            app.certificate_key_set = bool(stored.certificate_private_key_value)

    def _inverse_client_secret(self):
        # An empty input keeps the stored secret: the form sends the field empty.
        for app in self.filtered("client_secret"):
            app.sudo().client_secret_value = app.client_secret.strip()
        # The typed value must not be read back from the cache (web_save answers
        # with a read of the form's fields).
        self.invalidate_recordset(["client_secret"])

    def _inverse_certificate_private_key(self):
        for app in self.filtered("certificate_private_key"):
            app.sudo().certificate_private_key_value = app.certificate_private_key
        self.invalidate_recordset(["certificate_private_key"])

    # ------------------------------------------------------------------ checks
    @api.constrains("client_id")
    def _check_client_id(self):
        for app in self:
            if not GUID_RE.match((app.client_id or "").strip()):
                raise ValidationError(
                    self.env._(
                        "The application (client) ID must be a GUID such as "
                        "00000000-0000-0000-0000-000000000000: copy it from the "
                        "app's Overview page in the Azure portal."
                    )
                )

    @api.constrains("secret_id")
    def _check_secret_id(self):
        for app in self:
            if app.secret_id and not GUID_RE.match(app.secret_id.strip()):
                raise ValidationError(
                    self.env._(
                        "The Secret ID is a GUID such as "
                        "00000000-0000-0000-0000-000000000000 (Azure > Certificates "
                        "& secrets, next to the secret's value)."
                    )
                )

    @api.constrains("tenant_id")
    def _check_tenant_id(self):
        for app in self:
            tenant = (app.tenant_id or "").strip().lower()
            if tenant in ("common", "organizations", "consumers"):
                raise ValidationError(
                    self.env._(
                        "Use your directory (tenant) ID, not '%s': single-tenant "
                        "apps are rejected by the shared endpoints.",
                        tenant,
                    )
                )
            if not (GUID_RE.match(tenant) or TENANT_DOMAIN_RE.match(tenant)):
                raise ValidationError(
                    self.env._(
                        "The directory (tenant) ID must be a GUID (or your "
                        "tenant's domain, such as contoso.onmicrosoft.com)."
                    )
                )

    @api.constrains(
        "credential_kind", "client_secret_value", "certificate_private_key_value"
    )
    def _check_credential(self):
        for app in self.sudo():
            if app.credential_kind == "secret" and app.client_secret_value:
                secret = app.client_secret_value.strip()
                if GUID_RE.match(secret):
                    raise ValidationError(
                        self.env._(
                            "This looks like the secret's ID. Paste the secret's "
                            "Value instead (Azure > Certificates & secrets; the "
                            "value is shown only once, right after it is created)."
                        )
                    )
            key = app.certificate_private_key_value
            if app.credential_kind == "certificate" and key:
                if "PRIVATE KEY" not in key:
                    raise ValidationError(
                        self.env._(
                            "The private key must be PEM text (BEGIN PRIVATE KEY)."
                        )
                    )

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._strip_values(vals)
        apps = super().create(vals_list)
        # "Edit App" on a mailbox without an app: the new app becomes its app.
        mailbox_id = self.env.context.get("mail_scanner_mailbox_id")
        if mailbox_id and len(apps) == 1:
            mailbox = self.env["mail.scanner.mailbox"].browse(mailbox_id).exists()
            if mailbox and not mailbox.app_id:
                mailbox.app_id = apps
        return apps

    def write(self, vals):
        self._strip_values(vals)
        return super().write(vals)

    @staticmethod
    def _strip_values(vals):
        # Values pasted from the Azure portal often carry stray blanks.
        for key in ("client_id", "tenant_id", "client_secret", "secret_id"):
            if isinstance(vals.get(key), str):
                vals[key] = vals[key].strip()

    # ------------------------------------------------------------ graph client
    def _graph_settings(self):
        params = self.env["ir.config_parameter"].sudo()
        ca_bundle = params.get_param(PARAM_CA_BUNDLE) or True
        settings = {
            "authority_host": params.get_param(PARAM_AUTHORITY_HOST)
            or DEFAULT_AUTHORITY_HOST,
            "graph_url": params.get_param(PARAM_GRAPH_URL) or DEFAULT_GRAPH_URL,
            "verify": ca_bundle,
        }
        for key, param in (
            ("max_attempts", PARAM_MAX_ATTEMPTS),
            ("max_retry_after", PARAM_MAX_RETRY_AFTER),
        ):
            value = params.get_param(param)
            if value and value.isdigit():
                settings[key] = int(value)
        return settings

    def _credential_kwargs(self):
        app = self.sudo()
        if app.credential_kind == "certificate":
            if not (app.certificate_private_key_value and app.certificate_public):
                raise UserError(
                    self.env._("Fill in the certificate's private key and certificate.")
                )
            return {
                "certificate": {
                    "private_key": app.certificate_private_key_value,
                    "public_certificate": app.certificate_public,
                }
            }
        if not app.client_secret_value:
            raise UserError(self.env._("Fill in the client secret value."))
        return {"client_secret": app.client_secret_value}

    def _graph_client(self):
        """The Graph client for this app, shared per process and credential."""
        self.ensure_one()
        kwargs = dict(self._graph_settings(), **self._credential_kwargs())
        kwargs.update(tenant_id=self.tenant_id, client_id=self.client_id)
        # The key is a digest: the secret itself is never kept outside the client.
        key = hashlib.sha256(repr(sorted(kwargs.items())).encode()).hexdigest()
        with _CLIENTS_LOCK:
            client = _CLIENTS.get(key)
            if client is None:
                client = _CLIENTS[key] = GraphMailClient(**kwargs)
        return client

    def _roles_needed(self):
        """The application permissions the app must have been granted: Mail.Send
        too while one of its mailboxes sends through Graph."""
        sending = self.env["mail.scanner.mailbox"].search_count(
            [("app_id", "in", self.ids), ("send_answers", "=", True)], limit=1
        )
        return ("Mail.ReadWrite", SEND_ROLE) if sending else ("Mail.ReadWrite",)

    # ------------------------------------------------------------------ actions
    def action_test_connection(self):
        """Proves token and application roles (and, when a mailbox is set, mailbox
        and folder access); stores the result, success or failure, on the app."""
        self.ensure_one()
        mailbox = self.mailbox_ids[:1]
        params = {"app": self.client_id, "tenant": self.tenant_id}
        try:
            client = self._graph_client()
            if mailbox.address:
                params["mailbox"] = mailbox.address
                client.check_access(
                    mailbox.address,
                    mailbox._folder_graph_id(),
                    roles=self._roles_needed(),
                )
            else:
                client.check_roles(self._roles_needed())
        except graph_errors.GraphError as exc:
            return self._check_failed(exc.key, dict(params, **exc.params))
        except UserError as exc:  # no secret or certificate entered
            return self._check_failed("user_error", {"text": exc.args[0]})
        self.write(
            {
                "last_check_ok": True,
                "last_check_key": "configured",
                "last_check_params": False,
            }
        )
        MailboxSending(self.mailbox_ids).note_send_role()
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Mail Scanner"),
                "message": self.last_check_message,
                "type": "success",
                "sticky": False,
                "next": {"type": "ir.actions.act_window_close"},
            },
        }

    def _check_failed(self, key, params):
        """Stores the failure (no exception: the transaction is kept), tells the
        user at once, and lets the form reload to show it."""
        self.write(
            {"last_check_ok": False, "last_check_key": key, "last_check_params": params}
        )
        self.env.user._bus_send(
            "simple_notification",
            {
                "type": "danger",
                "title": self.env._("Mail Scanner"),
                "message": self.last_check_message,
                "sticky": True,
            },
        )
        return False
