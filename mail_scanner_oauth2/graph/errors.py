# Over 400 lines because it is a catalogue: one small class per error key and the
# mapping of Graph's and the identity platform's answers onto them, in one place
# that texts.py words and every caller reaches as `errors.`.
"""Exceptions raised by the Graph mail client.

Each exception carries a stable ``key`` and ``params``; the words an administrator reads
are written once, on the Odoo side (``mail_scanner_oauth2/texts.py``, translatable),
from that key. ``str()`` is a technical one-line summary for logs. Params are built only
from error codes, the service's own first line of description, and names the admin
typed (tenant, application id, mailbox, folder): never a client secret, a certificate
key or an access token.
"""

APP_REGISTRATION_HINT = "Azure portal > Microsoft Entra ID > App registrations"

# HTTP statuses after which the same request may succeed later: urllib3 retries them
# for plain calls, the $batch loop for entries, and the scanner only counts them.
TRANSIENT_STATUSES = (429, 500, 502, 503, 504)
# Answers saying the server did NOT carry out the request: the only retries a
# request that must not run twice (sending mail) may get.
REFUSED_STATUSES = (429, 503)


class GraphError(Exception):
    """Base class. ``transient``: trying again later may help."""

    key = "graph_error"
    transient = False

    def __init__(
        self, params=None, *, key=None, code=None, status=None, request_id=None
    ):
        self.key = key or type(self).key
        self.params = {k: v for k, v in (params or {}).items() if v is not None}
        self.code = code
        self.status = status
        self.request_id = request_id
        super().__init__(self.summary())

    def summary(self):
        details = ", ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        code = f" [{self.code}]" if self.code else ""
        return f"{self.key}{code}" + (f": {details}" if details else "")

    def __str__(self):
        return self.summary()

    def __repr__(self):
        return f"{type(self).__name__}({self.summary()!r}, status={self.status!r})"


# --- identity platform (token endpoint) ---------------------------------------------


class AuthenticationError(GraphError):
    """The identity platform refused to issue a token (params: app, tenant, code,
    detail)."""

    key = "token_refused"


class InvalidClientSecret(AuthenticationError):
    key = "invalid_client_secret"


class ExpiredClientSecret(AuthenticationError):
    key = "expired_client_secret"


class ApplicationNotFound(AuthenticationError):
    key = "application_not_found"


class TenantNotFound(AuthenticationError):
    key = "tenant_not_found"


class MissingCredential(AuthenticationError):
    key = "missing_credential"


class InvalidScope(AuthenticationError):
    key = "invalid_scope"


class ConsentRequired(AuthenticationError):
    key = "consent_required"


class InvalidSettings(AuthenticationError):
    """msal refused the sign-in settings themselves (params: app, detail)."""

    key = "invalid_settings"


class UnusableCredential(AuthenticationError):
    """The secret or certificate cannot even be used to build a request (params:
    app, kind, exc_type)."""

    key = "unusable_credential"


# --- Microsoft Graph -----------------------------------------------------------------


class TokenRejected(GraphError):
    """Graph answered 401 even with a freshly issued token."""

    key = "token_rejected"


class AccessDenied(GraphError):
    key = "access_denied"


class MissingRole(GraphError):
    """The token works but lacks an application role (params: app, role, granted)."""

    key = "missing_role"


# The name the scanner used when Mail.ReadWrite was the only role it checked.
MissingWritePermission = MissingRole


class MailboxNotFound(GraphError):
    key = "mailbox_not_found"


class FolderNotFound(GraphError):
    key = "folder_not_found"


class ItemNotFound(GraphError):
    key = "item_not_found"


class FolderExists(GraphError):
    """create_folder handles it; exposed so callers can recognise it elsewhere."""

    key = "folder_exists"


class SyncStateNotFound(GraphError):
    """A delta link is no longer valid (410); DeltaRound restarts the sync itself."""

    key = "sync_state_not_found"


class ForeignLink(GraphError):
    """A next/delta link points away from Graph: the token must not follow it."""

    key = "foreign_link"


class IncompleteDelta(GraphError):
    key = "delta_incomplete"


class UnreadableBody(GraphError):
    key = "unreadable_body"


class Throttled(GraphError):
    key = "throttled"
    transient = True

    def __init__(self, params=None, *, retry_after=None, **kwargs):
        super().__init__(params, **kwargs)
        self.retry_after = retry_after


class ServiceUnavailable(GraphError):
    key = "service_unavailable"
    transient = True


class SignInUnavailable(ServiceUnavailable):
    """The identity platform answered 5xx (params: tenant, exc_type)."""

    key = "signin_unavailable"


class GraphConnectionError(GraphError):
    """DNS, TCP or TLS failure (params: host, exc_type, hint)."""

    key = "connection_failed"
    transient = True


# --- token errors --------------------------------------------------------------------


def first_line(text):
    text = (text or "").strip()
    return text.splitlines()[0] if text else ""


_TOKEN_ERRORS = {
    7000215: InvalidClientSecret,
    7000222: ExpiredClientSecret,
    700016: ApplicationNotFound,
    90002: TenantNotFound,
    7000218: MissingCredential,
    70011: InvalidScope,
    65001: ConsentRequired,
}


def from_token_error(result, tenant_id=None, client_id=None):
    """Exception for an error dict returned by msal's acquire_token_* calls."""
    codes = result.get("error_codes") or []
    code = codes[0] if codes else None
    status = result.get("status_code") or result.get("http_status")
    label = f"AADSTS{code}" if code else (result.get("error") or "token_error")
    cls = _TOKEN_ERRORS.get(code, AuthenticationError)
    detail = None
    if cls is AuthenticationError:
        # Microsoft's own words, first line only: later lines carry trace ids.
        detail = first_line(result.get("error_description")) or result.get("error")
    params = {"app": client_id, "tenant": tenant_id, "code": label, "detail": detail}
    return cls(params, code=label, status=status)


def tenant_not_found(tenant_id):
    """MSAL could not read the tenant's OpenID configuration (unknown tenant)."""
    return TenantNotFound({"tenant": tenant_id}, code="AADSTS90002")


# --- Graph errors --------------------------------------------------------------------

MAILBOX_MISSING_CODES = {
    "ErrorInvalidUser",
    "MailboxNotEnabledForRESTAPI",
    "ResourceNotFound",
    "ErrorNonExistentMailbox",
    "MailboxNotFound",
}


def graph_error_parts(json_body):
    """(code, first line of message, request id) of a Graph error body."""
    error = (json_body or {}).get("error") if isinstance(json_body, dict) else None
    if not isinstance(error, dict):
        return None, "", None
    inner = error.get("innerError") or error.get("innererror") or {}
    request_id = inner.get("request-id") if isinstance(inner, dict) else None
    return error.get("code"), first_line(error.get("message")), request_id


def _status_class(status, code):
    if status == 401:
        return TokenRejected
    if status == 403:
        return AccessDenied
    if status == 404 and code == "ErrorFolderNotFound":
        return FolderNotFound
    if status == 404 and code == "ErrorItemNotFound":
        return ItemNotFound
    if status == 404 and (code in MAILBOX_MISSING_CODES or code is None):
        return MailboxNotFound
    if status == 410:
        return SyncStateNotFound
    if status == 429:
        return Throttled
    if status is not None and status >= 500:
        return ServiceUnavailable
    if code == "ErrorFolderExists":
        return FolderExists
    return GraphError


def from_graph_response(
    status, json_body, mailbox=None, *, folder=None, retry_after=None, request_id=None
):
    """Exception for a Graph error answer (a whole response or one $batch entry)."""
    code, text, body_request_id = graph_error_parts(json_body)
    cls = _status_class(status, code)
    params = {
        "mailbox": mailbox,
        "folder": folder,
        "status": status,
        # Graph's own words stay as they are (an admin can search for them).
        "detail": f"{code}: {text}" if code else None,
    }
    kwargs = {
        "code": code,
        "status": status,
        "request_id": request_id or body_request_id,
    }
    if cls is Throttled:
        kwargs["retry_after"] = retry_after
    return cls(params, **kwargs)


def connection_error(host, exc):
    """Exception for a DNS / TLS / connection failure once retries are spent."""
    reason = type(exc).__name__
    text = str(exc)[:500]
    if "CA certificate bundle" in text:
        hint = "ca_bundle_missing"
    elif "SSL" in reason or "SSL" in text:
        hint = "tls"
    else:
        hint = "network"
    # The hint is itself a key: the Odoo side words it.
    return GraphConnectionError(
        {"host": host, "exc_type": reason, "hint": {"key": hint}}, code=reason
    )


# --- sending mail (Mail.Send): graph/send.py ------------------------------------------
# Kept in one block at the end of the file on purpose (see graph/send.py).

SEND_ROLE = "Mail.Send"


class MissingSendPermission(AccessDenied):
    """The app may not send from this mailbox: no Mail.Send application permission
    (checked on the token before anything is created), or Graph answered 403
    ErrorAccessDenied to a send (permission missing, or an access policy).
    Params: app, mailbox, granted (when read from the token)."""

    key = "missing_send_permission"


class SendAsDenied(AccessDenied):
    """403 ErrorSendAsDenied: the From address is not one the mailbox may send as."""

    key = "send_as_denied"


class MessageTooLarge(GraphError):
    """The message is over the maximum message size (Exchange Online: 35 MB unless
    an administrator raised it), or Graph refused it as too large. Params: mailbox,
    size_mb, limit_mb."""

    key = "message_too_large"


class SendFailed(GraphError):
    """Graph's answers left a send unfinished (params: mailbox, detail)."""

    key = "send_failed"


def missing_send_permission(client_id, mailbox, granted=None):
    params = {"app": client_id, "mailbox": mailbox}
    if granted is not None:
        params["granted"] = ", ".join(sorted(granted)) or "-"
    return MissingSendPermission(
        params,
        code="ErrorAccessDenied" if granted is None else "MissingSendPermission",
        status=403 if granted is None else None,
    )


def _megabytes(size):
    return round(size / 1024 / 1024, 1) if size else None


def message_too_large(mailbox, size=None, limit=None, status=None, code=None):
    params = {
        "mailbox": mailbox,
        "size_mb": _megabytes(size),
        "limit_mb": _megabytes(limit),
    }
    return MessageTooLarge(
        params, code=code or "ErrorMessageSizeExceeded", status=status
    )


def for_send(error, mailbox, client_id=None, sending=False):
    """The send-specific exception for a GraphError raised while sending (or
    preparing a send) from `mailbox`; other errors come back unchanged.

    sending: the call was sendMail or messages/{id}/send, where 403 ErrorAccessDenied
    means Mail.Send is missing (elsewhere it is Mail.ReadWrite or a policy)."""
    kwargs = {
        "code": error.code,
        "status": error.status,
        "request_id": error.request_id,
    }
    if error.code == "ErrorSendAsDenied":
        return SendAsDenied({"mailbox": mailbox, **error.params}, **kwargs)
    if error.code == "ErrorMessageSizeExceeded" or error.status == 413:
        return message_too_large(mailbox, status=error.status, code=error.code)
    if sending and error.status == 403 and not isinstance(error, MissingSendPermission):
        exc = missing_send_permission(client_id or "the application", mailbox)
        exc.code, exc.status, exc.request_id = error.code, 403, error.request_id
        return exc
    return error


# --- change notifications (subscriptions): graph/subscriptions.py -------------------


class SubscriptionError(GraphError):
    """Graph refused a subscription call (params: action, endpoint, detail = Graph's
    own words, unchanged)."""

    key = "subscription_refused"

    @property
    def graph_message(self):
        return self.params.get("detail") or ""


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
    detail = exc.params.get("detail") or ""
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
    # The action is a key too: the Odoo side words it in the reader's language.
    params = {
        "action": {"key": f"subscription_{action}"},
        "endpoint": endpoint,
        "detail": said or None,
    }
    if exc.status == 400 and (
        exc.code == "ValidationError" or said.startswith("Subscription validation")
    ):
        return SubscriptionValidationFailed(params, **kwargs)
    if exc.status == 404 and action != "create":
        return SubscriptionNotFound(params, **kwargs)
    if exc.status in (400, 404):
        return SubscriptionError(params, **kwargs)
    return exc
