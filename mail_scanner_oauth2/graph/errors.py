"""Exceptions raised by the Graph mail client.

Every exception's ``str()`` is a sentence an administrator can act on. None of them ever
carries a client secret, a certificate key or an access token: messages are built only
from the AADSTS / Graph error code, the first line of the service's description, and
names the admin typed (tenant, application id, mailbox, folder).
"""

APP_REGISTRATION_HINT = "Azure portal > Microsoft Entra ID > App registrations"


class GraphError(Exception):
    """Base class. ``transient``: trying again later may help."""

    transient = False

    def __init__(self, message, code=None, status=None, request_id=None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.request_id = request_id

    def __str__(self):
        return self.message

    def __repr__(self):
        name = type(self).__name__
        return f"{name}({self.message!r}, code={self.code!r}, status={self.status!r})"


# --- identity platform (token endpoint)
# ------------------------------------------------


class AuthenticationError(GraphError):
    """The identity platform refused to issue a token."""


class InvalidClientSecret(AuthenticationError):
    pass


class ExpiredClientSecret(AuthenticationError):
    pass


class ApplicationNotFound(AuthenticationError):
    pass


class TenantNotFound(AuthenticationError):
    pass


class MissingCredential(AuthenticationError):
    pass


class InvalidScope(AuthenticationError):
    pass


class ConsentRequired(AuthenticationError):
    pass


# --- Microsoft Graph -----------------------------------------------------------------


class TokenRejected(GraphError):
    """Graph answered 401 even with a freshly issued token."""


class AccessDenied(GraphError):
    pass


class MissingWritePermission(GraphError):
    """The token works but lacks the Mail.ReadWrite application role."""


class MailboxNotFound(GraphError):
    pass


class FolderNotFound(GraphError):
    pass


class ItemNotFound(GraphError):
    pass


class FolderExists(GraphError):
    """create_folder handles it; exposed so callers can recognise it elsewhere."""


class SyncStateNotFound(GraphError):
    """A delta link is no longer valid (410); DeltaRound restarts the sync itself."""


class Throttled(GraphError):
    transient = True

    def __init__(
        self, message, code=None, status=None, request_id=None, retry_after=None
    ):
        super().__init__(message, code=code, status=status, request_id=request_id)
        self.retry_after = retry_after


class ServiceUnavailable(GraphError):
    transient = True


class GraphConnectionError(GraphError):
    transient = True


# --- token errors
# ----------------------------------------------------------------------


def _first_line(text):
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def from_token_error(result, tenant_id=None, client_id=None):
    """Exception for an error dict returned by msal's acquire_token_* calls."""
    codes = result.get("error_codes") or []
    code = codes[0] if codes else None
    status = result.get("status_code") or result.get("http_status")
    app = f"application {client_id}" if client_id else "the application"
    tenant = f"tenant {tenant_id}" if tenant_id else "the tenant"
    factory = _TOKEN_ERRORS.get(code)
    if factory:
        cls, message = factory(app, tenant)
        return cls(f"AADSTS{code}: {message}", code=f"AADSTS{code}", status=status)
    description = (
        _first_line(result.get("error_description"))
        or result.get("error")
        or "unknown error"
    )
    label = f"AADSTS{code}" if code else (result.get("error") or "token error")
    return AuthenticationError(
        f"Microsoft refused to issue a token for {app} in {tenant} ({label}): "
        f"{description}",
        code=label,
        status=status,
    )


_TOKEN_ERRORS = {
    7000215: lambda app, tenant: (
        InvalidClientSecret,
        f"The client secret of {app} is wrong. In {APP_REGISTRATION_HINT} > "
        "Certificates & secrets, "
        "copy the secret's VALUE (shown only once, right after creation), not its "
        "Secret ID.",
    ),
    7000222: lambda app, tenant: (
        ExpiredClientSecret,
        f"The client secret of {app} has expired. Create a new secret in "
        f"{APP_REGISTRATION_HINT} > "
        "Certificates & secrets and paste its value here.",
    ),
    700016: lambda app, tenant: (
        ApplicationNotFound,
        f"{app.capitalize()} was not found in {tenant}. Check the Application "
        "(client) ID and the "
        "Directory (tenant) ID on the app registration's overview page, and that an "
        "administrator "
        "of this tenant has consented to it.",
    ),
    90002: lambda app, tenant: (
        TenantNotFound,
        f"{tenant.capitalize()} does not exist. Copy the Directory (tenant) ID from "
        "the app "
        "registration's overview page.",
    ),
    7000218: lambda app, tenant: (
        MissingCredential,
        f"No credential was sent for {app}: enter a client secret or a certificate.",
    ),
    70011: lambda app, tenant: (
        InvalidScope,
        "The requested scope is invalid: app-only access to Microsoft Graph must "
        "request "
        "https://graph.microsoft.com/.default.",
    ),
    65001: lambda app, tenant: (
        ConsentRequired,
        f"An administrator of {tenant} has not consented to {app}. In "
        f"{APP_REGISTRATION_HINT} > "
        "API permissions, click 'Grant admin consent'.",
    ),
}


def tenant_not_found(tenant_id):
    """MSAL could not read the tenant's OpenID configuration (unknown tenant)."""
    return TenantNotFound(
        f"Tenant {tenant_id} does not exist or its sign-in configuration cannot be "
        "read. Copy the "
        "Directory (tenant) ID from the app registration's overview page.",
        code="AADSTS90002",
    )


# --- Graph errors
# ----------------------------------------------------------------------

MAILBOX_MISSING_CODES = {
    "ErrorInvalidUser",
    "MailboxNotEnabledForRESTAPI",
    "ResourceNotFound",
    "ErrorNonExistentMailbox",
    "MailboxNotFound",
}


def _graph_error_parts(json_body):
    error = (json_body or {}).get("error") if isinstance(json_body, dict) else None
    if not isinstance(error, dict):
        return None, "", None
    inner = error.get("innerError") or error.get("innererror") or {}
    return error.get("code"), _first_line(error.get("message")), inner.get("request-id")


def from_graph_response(
    status, json_body, mailbox=None, *, folder=None, retry_after=None, request_id=None
):
    """Exception for a Graph error answer (a whole response or one $batch entry)."""
    code, text, body_request_id = _graph_error_parts(json_body)
    request_id = request_id or body_request_id
    where = f"mailbox {mailbox}" if mailbox else "the mailbox"
    kwargs = {"code": code, "status": status, "request_id": request_id}
    detail = f" (Graph said: {code}: {text})" if code else ""

    if status == 401:
        return TokenRejected(
            "Microsoft Graph rejected a freshly issued access token"
            + detail
            + ". Check that the "
            "app registration is in the mailbox's tenant and that its permissions are "
            "application "
            "permissions with admin consent.",
            **kwargs,
        )
    if status == 403:
        return AccessDenied(
            f"The app may not open {where}: grant the application permission "
            "Mail.ReadWrite with "
            "admin consent, and if an application access policy (or RBAC for "
            "Applications) "
            "restricts the app, include this mailbox" + detail + ".",
            **kwargs,
        )
    if status == 404 and code == "ErrorFolderNotFound":
        name = f"Folder {folder}" if folder else "The folder"
        return FolderNotFound(
            f"{name} does not exist in {where}: it may have been deleted or renamed; "
            "choose the "
            "folder again.",
            **kwargs,
        )
    if status == 404 and code == "ErrorItemNotFound":
        return ItemNotFound(
            f"The message no longer exists in {where} (moved or deleted by someone "
            "else).",
            **kwargs,
        )
    if status == 404 and (code in MAILBOX_MISSING_CODES or code is None):
        return MailboxNotFound(
            f"{where.capitalize()} does not exist or has no Exchange Online mailbox"
            + detail
            + ". Check the address, and that the user or shared mailbox has an "
            "Exchange Online licence.",
            **kwargs,
        )
    if status == 410:
        return SyncStateNotFound(
            f"The saved synchronisation state of {where} expired; a full "
            "resynchronisation is "
            "needed.",
            **kwargs,
        )
    if status == 429:
        return Throttled(
            f"Microsoft Graph is throttling requests to {where}"
            + detail
            + "; the client will "
            "try again on the next run.",
            retry_after=retry_after,
            **kwargs,
        )
    if status is not None and status >= 500:
        return ServiceUnavailable(
            f"Microsoft Graph is unavailable (HTTP {status}) for {where}"
            + detail
            + "; the "
            "client will try again on the next run.",
            **kwargs,
        )
    if code == "ErrorFolderExists":
        return FolderExists(
            f"A folder with this name already exists in {where}.", **kwargs
        )
    return GraphError(
        f"Microsoft Graph answered HTTP {status} for {where}" + detail + ".", **kwargs
    )


def connection_error(host, exc):
    """Exception for a DNS / TLS / connection failure once retries are spent."""
    reason = type(exc).__name__
    text = str(exc)[:500]
    if "CA certificate bundle" in text:
        hint = "the configured CA bundle file does not exist"
    elif "SSL" in reason or "SSL" in text:
        hint = "the TLS certificate could not be verified: check the CA bundle setting"
    else:
        hint = "check the network, DNS and firewall (outbound HTTPS)"
    return GraphConnectionError(
        f"Could not reach {host} ({reason}): {hint}.", code=reason
    )


# --- change notifications (subscriptions) ----------------------------------------
# Appended block, used by graph/subscriptions.py. Written to work with both shapes of
# GraphError (message-first, and key + params): it sets its own attributes instead of
# relying on GraphError.__init__. ``key`` and ``params`` let the Odoo side word it;
# ``str()`` is an English sentence that quotes Graph.


class SubscriptionError(GraphError):
    """Graph refused a subscription call (params: action, endpoint, detail).
    ``graph_message``: Graph's own words, unchanged."""

    key = "subscription_refused"
    transient = False

    def __init__(
        self, message, params=None, *, code=None, status=None, request_id=None
    ):
        Exception.__init__(self, message)
        self.message = message
        self.params = {k: v for k, v in (params or {}).items() if v is not None}
        self.graph_message = self.params.get("detail") or ""
        self.code, self.status, self.request_id = code, status, request_id

    def __str__(self):
        return self.message

    def summary(self):
        return self.message


class SubscriptionValidationFailed(SubscriptionError):
    """The notification (or lifecycle) URL did not pass Graph's validation handshake."""

    key = "subscription_validation_failed"


class SubscriptionNotFound(SubscriptionError):
    """The subscription expired, was removed by Graph, or was deleted."""

    key = "subscription_not_found"


class InvalidNotification(ValueError):
    """A body POSTed to the notification endpoint is not a Graph notification we
    accept (too large, not JSON, wrong shape). The text never quotes the body."""


def graph_words(exc):
    """Graph's own message (first line) carried by a GraphError, or ""."""
    params = getattr(exc, "params", None)
    detail = params.get("detail") if isinstance(params, dict) else None
    if detail is None:  # message-first GraphError: "... (Graph said: code: text)."
        text = getattr(exc, "message", "") or str(exc)
        start = text.find("(Graph said: ")
        if start < 0:
            return ""
        said = text[start + len("(Graph said: ") : text.rfind(")")]
        return said.split(": ", 1)[1] if ": " in said else said
    prefix = f"{exc.code}: " if exc.code else ""
    return detail[len(prefix) :] if prefix and detail.startswith(prefix) else detail


def subscription_error(exc, action, endpoint=None):
    """The exception for a failed subscription call, keeping Graph's words.

    exc: the GraphError raised by GraphMailClient.request; action: what was attempted
    ("create", "renew", ...); endpoint: the notification URL without its query.
    Transient, authentication and permission errors are returned unchanged: they mean
    the same here as for any other call."""
    said = graph_words(exc)
    kwargs = {"code": exc.code, "status": exc.status, "request_id": exc.request_id}
    params = {"action": action, "endpoint": endpoint, "detail": said or None}
    if exc.status == 400 and (
        exc.code == "ValidationError" or said.startswith("Subscription validation")
    ):
        where = f" {endpoint}" if endpoint else ""
        return SubscriptionValidationFailed(
            f"Microsoft Graph could not validate the notification URL{where}: "
            f'"{said}" The URL must be reachable from the internet over HTTPS with a '
            "publicly trusted certificate, and answer Graph's validation request "
            "within 10 seconds.",
            params,
            **kwargs,
        )
    if exc.status == 404 and action != "create":
        return SubscriptionNotFound(
            "The change-notification subscription no longer exists (it expired or "
            "Microsoft Graph removed it); create a new one." + _said(said),
            params,
            **kwargs,
        )
    if exc.status in (400, 404):
        return SubscriptionError(
            f"Microsoft Graph refused to {action} the change-notification "
            f"subscription ({exc.code or f'HTTP {exc.status}'}).{_said(said)}",
            params,
            **kwargs,
        )
    return exc


def _said(graph_message):
    return f' Graph said: "{graph_message}"' if graph_message else ""
