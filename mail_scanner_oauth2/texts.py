# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Every sentence the scanner shows an administrator, once, translatable.

What happened is stored as a stable key and its parameters (a Graph error, a ledger
row's reason, a mailbox's last error); the sentence is made from them when it is
shown, in the reader's language. The Graph client and the sync code never write
sentences themselves.
"""

import logging

from .graph.errors import GraphError, first_line

_logger = logging.getLogger(__name__)


class _Params(dict):
    """Parameters for a template: a missing one reads as an empty string, so a
    template never fails on a row stored before it gained a parameter."""

    def __missing__(self, key):
        return ""


def describe(exc):
    """(key, params) for any exception; never empty words."""
    if isinstance(exc, GraphError):
        return exc.key, dict(exc.params)
    if isinstance(exc, MemoryError):
        return "out_of_memory_plain", {}
    return "unexpected_error", {
        "exc_type": type(exc).__name__,
        "detail": first_line(str(exc)) or repr(exc),
    }


def render(env, key, params=None):
    """The sentence for `key` in env's language."""
    params = _Params(params or {})
    for name, value in list(params.items()):
        if isinstance(value, dict) and "key" in value:
            params[name] = render(env, value["key"], value.get("params"))
    template = _templates(env._).get(key)
    if template is None:
        _logger.warning("Mail Scanner: no text for %r", key)
        details = ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
        return f"{key}: {details}" if details else key
    return template % params


def _templates(_):
    return dict(
        _graph_templates(_),
        **_ledger_templates(_),
        **_mailbox_templates(_),
        **_notification_templates(_),
    )


# Over 50 lines because it is a table: one sentence per error key of graph/errors.py.
def _graph_templates(_):
    return {
        # --- identity platform
        "invalid_client_secret": _(
            "AADSTS7000215: the client secret of application %(app)s is wrong. "
            "In Azure > App registrations > Certificates & secrets, copy the "
            "secret's Value (shown only once, right after it is created), not its "
            "Secret ID."
        ),
        "expired_client_secret": _(
            "AADSTS7000222: the client secret of application %(app)s has expired. "
            "Create a new secret in Azure > App registrations > Certificates & "
            "secrets and paste its value here."
        ),
        "application_not_found": _(
            "AADSTS700016: application %(app)s was not found in tenant %(tenant)s. "
            "Check the application (client) ID and the directory (tenant) ID on the "
            "app's overview page, and that an administrator of the tenant consented "
            "to it."
        ),
        "tenant_not_found": _(
            "AADSTS90002: tenant %(tenant)s does not exist or its sign-in "
            "configuration cannot be read. Copy the directory (tenant) ID from the "
            "app's overview page."
        ),
        "missing_credential": _(
            "No credential was sent for application %(app)s: enter the client "
            "secret or a certificate."
        ),
        "invalid_scope": _(
            "The requested scope is invalid: app-only access to Microsoft Graph must "
            "request https://graph.microsoft.com/.default."
        ),
        "consent_required": _(
            "An administrator of tenant %(tenant)s has not consented to application "
            "%(app)s: in Azure > App registrations > API permissions, click 'Grant "
            "admin consent'."
        ),
        "token_refused": _(
            "Microsoft refused to issue a token for application %(app)s in tenant "
            "%(tenant)s (%(code)s): %(detail)s"
        ),
        "invalid_settings": _(
            "The sign-in settings of application %(app)s are invalid: %(detail)s"
        ),
        "unusable_credential": _(
            "The %(kind)s of application %(app)s cannot be used to sign in "
            "(%(exc_type)s). A certificate needs an RSA private key in PEM format "
            "and its certificate."
        ),
        "signin_unavailable": _(
            "The Microsoft sign-in service is unavailable for tenant %(tenant)s "
            "(%(exc_type)s); the scanner tries again on its next run."
        ),
        # --- Graph
        "token_rejected": _(
            "Microsoft Graph rejected the access token of application %(app)s "
            "(%(detail)s): check that the app belongs to the mailbox's tenant and "
            "that its permissions are application permissions with admin consent."
        ),
        "access_denied": _(
            "Application %(app)s may not open mailbox %(mailbox)s (%(detail)s): "
            "grant it the application permission Mail.ReadWrite with admin consent "
            "and, if an application access policy or RBAC for Applications "
            "restricts it, include this mailbox."
        ),
        "missing_role": _(
            "Application %(app)s lacks the application permission %(role)s "
            "(granted: %(granted)s): add it in Azure > App registrations > API "
            "permissions > Microsoft Graph > Application permissions, and click "
            "'Grant admin consent'."
        ),
        "mailbox_not_found": _(
            "Mailbox %(mailbox)s does not exist in tenant %(tenant)s or has no "
            "Exchange Online mailbox (%(detail)s): check the address, and that the "
            "user or shared mailbox has an Exchange Online licence."
        ),
        "folder_not_found": _(
            "The folder to scan no longer exists in mailbox %(mailbox)s: refresh "
            "the folders and choose another one."
        ),
        "item_not_found": _(
            "The mail no longer exists in mailbox %(mailbox)s (moved or deleted by "
            "someone else)."
        ),
        "folder_exists": _("A folder with this name already exists in %(mailbox)s."),
        "sync_state_not_found": _(
            "The saved synchronisation state of mailbox %(mailbox)s expired; the "
            "scanner starts the synchronisation over."
        ),
        "foreign_link": _(
            "Refused to send the access token to %(host)s: Microsoft Graph's links "
            "must point to %(graph_host)s."
        ),
        "delta_incomplete": _(
            "Microsoft Graph ended a page of changes of mailbox %(mailbox)s without "
            "a link to the next one; the scanner starts over on its next run."
        ),
        "unreadable_body": _(
            "Microsoft Graph returned an unreadable body for this mail of mailbox "
            "%(mailbox)s."
        ),
        "throttled": _(
            "Microsoft Graph is throttling application %(app)s for mailbox "
            "%(mailbox)s; the scanner tries again on its next run."
        ),
        "service_unavailable": _(
            "Microsoft Graph is unavailable right now (HTTP %(status)s %(detail)s); "
            "the scanner tries again on its next run."
        ),
        "connection_failed": _(
            "%(host)s could not be reached (%(exc_type)s): %(hint)s The scanner "
            "tries again on its next run."
        ),
        "ca_bundle_missing": _("the configured CA bundle file does not exist."),
        "tls": _(
            "the TLS certificate could not be verified; check the CA bundle setting."
        ),
        "network": _("check the network, DNS, proxy and firewall (outbound HTTPS)."),
        "credential_secret": _("client secret"),
        "credential_certificate": _("certificate"),
        "graph_error": _(
            "Microsoft Graph answered HTTP %(status)s for mailbox %(mailbox)s "
            "(%(detail)s)."
        ),
        # --- sending
        "missing_send_permission": _(
            "Application %(app)s may not send mail as %(mailbox)s (granted: "
            "%(granted)s). Add Microsoft Graph > Application permissions > Mail.Send "
            "in Azure and click 'Grant admin consent'; if an application access "
            "policy restricts the app, include this mailbox."
        ),
        "send_as_denied": _(
            "Mailbox %(mailbox)s may not send with this From address: use the "
            "mailbox's own address, or give the mailbox 'Send As' permission on the "
            "address (Exchange admin center > Recipients > Mailboxes > Delegation)."
        ),
        "message_too_large": _(
            "The mail (%(size_mb)s MB) is too large to send from %(mailbox)s: "
            "Exchange Online accepts %(limit_mb)s MB per message unless an "
            "administrator raised the mailbox's maximum send size (up to 150 MB). "
            "Send smaller attachments or a link."
        ),
        "text_too_large": _(
            "The text of the mail without its attachments (%(size_mb)s MB) is over "
            "the %(limit_mb)s MB Microsoft Graph accepts in one request: shorten it "
            "or send it as an attachment."
        ),
        "send_failed": _(
            "Microsoft Graph did not finish sending the mail from %(mailbox)s "
            "(%(detail)s); it is tried again."
        ),
        # --- change notifications
        "subscription_refused": _(
            "Microsoft Graph refused to %(action)s the change-notification "
            "subscription: %(detail)s"
        ),
        "subscription_create": _("create"),
        "subscription_renew": _("renew"),
        "subscription_read": _("read"),
        "subscription_delete": _("delete"),
        "subscription_reauthorize": _("reauthorize"),
        "subscription_validation_failed": _(
            "Microsoft Graph could not validate the notification URL %(endpoint)s: "
            '"%(detail)s" The URL must be reachable from the internet over HTTPS '
            "with a publicly trusted certificate, and answer Graph's validation "
            "request within 10 seconds. Until then the mailbox is polled."
        ),
        "subscription_not_found": _(
            "The change-notification subscription no longer exists (it expired or "
            "Microsoft Graph removed it); a new one is created."
        ),
    }


# Over 50 lines because it is a table: one sentence per reason key of the ledger.
def _ledger_templates(_):
    return {
        "duplicate": _(
            "Odoo already had this mail (same Message-ID), for example through an "
            "alias or another mailbox: nothing was created."
        ),
        "duplicate_elsewhere": _(
            "Odoo already had this mail (same Message-ID) in a record this "
            "mailbox's company does not own: nothing was created."
        ),
        "ignored_rule": _("Ignored by the rule '%(rule)s'."),
        "own_mailbox": _("Sent by the scanned mailbox itself."),
        "delivery_failure": _("Delivery failure notification (%(detail)s)."),
        "bounce_shown": _(
            "Non-delivery report (%(detail)s) of a mail sent to %(recipient)s: shown "
            "on the mail it bounces, as a failed delivery."
        ),
        "own_sent_mail": _(
            "A copy of a mail Odoo sent through this mailbox: not imported again."
        ),
        "auto_reply": _("Automatic reply (%(detail)s)."),
        "mail_loop": _(
            "Mail loop: %(sender)s opened %(count)s tickets in the last %(minutes)s "
            "minutes."
        ),
        "gateway_loop": _(
            "Odoo's mail gateway ignored this mail: a reply to a bounce, or a mail "
            "loop from this sender."
        ),
        "no_auto_answer": _(
            "Imported without automatic answers: the sender asks for none (%(detail)s)."
        ),
        "empty_item": _(
            "Empty item: Microsoft Graph returned no content (0 bytes) for this "
            "mail, so there is nothing to import."
        ),
        "import_failed": _("Odoo could not import this mail: %(error)s"),
        "unreadable_mail": _(
            "Odoo's mail gateway cannot read this mail (%(error)s). Trying again "
            "gives the same result, so it is not retried automatically; the mail "
            "stays unread in the mailbox. Read it in Outlook, or use Retry after "
            "updating Odoo or this addon."
        ),
        "out_of_memory": _(
            "Odoo ran out of memory importing this %(size_mb)s MB mail, so it was "
            "set aside. Raise the workers' memory limit (--limit-memory-hard) or "
            "lower this mailbox's size limit, then use Retry."
        ),
        "import_interrupted": _(
            "The import of this %(size_mb)s MB mail was interrupted %(count)s times "
            "(the worker was stopped: memory or time limit, or a restart), so it was "
            "set aside. Raise the workers' limits (--limit-memory-hard, "
            "--limit-time-real-cron) or lower this mailbox's size limit, then use "
            "Retry."
        ),
        "download_failed": _("The mail could not be downloaded: %(error)s"),
        "too_large": _(
            "%(size_mb)s MB, over this mailbox's limit of %(limit_mb)s MB: the mail "
            "stays in the mailbox."
        ),
        "unstorable_row": _(
            "The details Microsoft Graph gave for this mail could not be stored "
            "(%(error)s); it is imported from its content alone."
        ),
        "out_of_memory_plain": _("Odoo ran out of memory (MemoryError)."),
        "unexpected_error": _("%(exc_type)s: %(detail)s"),
    }


def _mailbox_templates(_):
    return {
        "configured": _("Microsoft external API configured successfully"),
        "user_error": "%(text)s",
        "alert_stopped": _("Mail Scanner stopped: %(address)s"),
        "alert_repeated": _("Failed %(count)s times in a row: %(reason)s"),
        "alert_recovered": _("Mail Scanner works again for %(address)s."),
        "alert_secret_expiry": _("Client secret expires: %(address)s"),
        "alert_secret_expiry_note": _(
            "The client secret of the Azure app expires on %(date)s. Create a new "
            "secret in Azure > App registrations > Certificates & secrets, paste its "
            "value in the app and update the expiry date, or mail stops arriving."
        ),
        "alert_send_stopped": _("Mail Scanner cannot send as %(address)s"),
        "alert_send_recovered": _("Mail Scanner sends again through %(address)s."),
        "send_deferred": _(
            "Microsoft Graph cannot take the mail now (%(reason)s): it stays in "
            "Odoo's queue and is sent on a later run."
        ),
        "alert_large_mail": _(
            "These mails are larger than the limit and were not imported. Raise the "
            "limit and use Retry in the log to import them."
        ),
    }


def _notification_templates(_):
    """What the mailbox form says about change notifications (webhooks)."""
    return {
        "notification_live": _(
            "Live until %(until)s (renewed automatically): Microsoft Graph tells "
            "Odoo the moment mail arrives. The mailbox is also polled every "
            "%(minutes)s minutes, so a lost notification delays mail, never loses it."
        ),
        "notification_pending": _(
            "Being set up by the scheduler; until then the mailbox is polled every "
            "minute."
        ),
        "notification_off": _("Off while the mailbox is stopped."),
        "notification_no_public_address": _(
            "Polling every minute: Odoo has no public https address (%(url)s). "
            "Microsoft Graph only notifies an https address reachable from the "
            "internet with a publicly trusted certificate. Set the system parameter "
            "web.base.url, or this mailbox's public address (for an Odoo behind a "
            "reverse proxy), to that https address."
        ),
        "notification_failed": _(
            "Polling every minute: %(reason)s Setting up notifications is tried "
            "again every hour, or now with Retry."
        ),
        "notification_renewal_failed": _(
            "Live until %(until)s, but renewing failed: %(reason)s Renewal is tried "
            "again every hour; once it lapses the mailbox is polled every minute."
        ),
    }
