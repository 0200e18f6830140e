"""App-only tokens (client credentials) through msal."""

import base64
import binascii
import json
import logging
import threading

import msal

from . import errors

_logger = logging.getLogger(__name__)

DEFAULT_SCOPE = "https://graph.microsoft.com/.default"


class TokenProvider:
    """Keeps one msal ConfidentialClientApplication: its in-memory cache makes
    repeated acquire() calls free until the token is within 5 minutes of expiry."""

    def __init__(
        self,
        tenant_id,
        client_id,
        session,
        client_secret=None,
        certificate=None,
        authority_host="https://login.microsoftonline.com",
        scope=DEFAULT_SCOPE,
        timeout=None,
    ):
        self.tenant_id = tenant_id
        self.client_id = client_id
        self._credential = certificate if certificate else client_secret
        self._session = session
        # Always the tenant's own endpoint: /common and /organizations reject
        # single-tenant apps and cannot issue app-only tokens.
        self.authority = f"{authority_host.rstrip('/')}/{tenant_id}"
        self.scope = scope
        self._timeout = timeout
        self._app = None
        self._lock = threading.Lock()

    def __repr__(self):
        return f"<TokenProvider tenant={self.tenant_id} client_id={self.client_id}>"

    def acquire(self):
        """A valid access token (str), else raises an AuthenticationError subclass."""
        app = self._application()
        try:
            result = app.acquire_token_for_client(scopes=[self.scope])
        except msal.exceptions.MsalServiceError as exc:  # 5xx from the token endpoint
            raise errors.SignInUnavailable(
                {"tenant": self.tenant_id, "exc_type": type(exc).__name__},
                status=getattr(exc, "status_code", None),
            ) from None
        except OSError as exc:  # requests errors, and a missing CA bundle file
            raise errors.connection_error(self.authority.split("/")[2], exc) from None
        except Exception as exc:
            raise self._unusable_credential(exc) from None
        if "access_token" in result:
            _logger.debug(
                "token for %s from %s", self.client_id, result.get("token_source")
            )
            return result["access_token"]
        raise self._scrub(
            errors.from_token_error(result, self.tenant_id, self.client_id)
        )

    def _unusable_credential(self, exc):
        # Only the exception's type: its text may quote the key material.
        # A key, so that the Odoo side words it in the reader's language.
        kind = "certificate" if isinstance(self._credential, dict) else "secret"
        kind = {"key": f"credential_{kind}"}
        return errors.UnusableCredential(
            {"app": self.client_id, "kind": kind, "exc_type": type(exc).__name__},
            code=type(exc).__name__,
        )

    def invalidate(self):
        """Forget cached tokens, e.g. when Graph answered 401 (revoked early)."""
        with self._lock:
            if self._app is not None:
                self._app.remove_tokens_for_client()

    def _application(self):
        # Built lazily (its constructor already calls the tenant's discovery
        # endpoint) and kept, so its token cache lives as long as this provider.
        # A failed build is not kept: the next call tries again.
        with self._lock:
            if self._app is None:
                self._app = self._build_application()
            return self._app

    def _build_application(self):
        try:
            return msal.ConfidentialClientApplication(
                self.client_id,
                client_credential=self._credential,
                authority=self.authority,
                http_client=self._session,
                timeout=self._timeout,
                # No call to login.microsoftonline.com for instance discovery
                # (also lets the local emulator be the authority).
                instance_discovery=False,
                # False, not None: None lets the MSAL_FORCE_REGION environment
                # variable send token requests to a regional host.
                azure_region=False,
            )
        except ValueError as exc:
            if "Unable to get authority configuration" in str(exc):
                raise errors.tenant_not_found(self.tenant_id) from None
            raise self._scrub(
                errors.InvalidSettings(
                    {"app": self.client_id, "detail": errors.first_line(str(exc))}
                )
            ) from None
        except OSError as exc:  # requests errors, and a missing CA bundle file
            raise errors.connection_error(self.authority.split("/")[2], exc) from None

    def _scrub(self, exc):
        """Belt and braces: never let the secret through, even if a server echoed it."""
        secret = self._credential if isinstance(self._credential, str) else None
        if secret:
            exc.params = {
                key: value.replace(secret, "***") if isinstance(value, str) else value
                for key, value in exc.params.items()
            }
            exc.args = (exc.summary(),)
        return exc


def token_roles(access_token):
    """The `roles` claim of a JWT access token, read WITHOUT verifying the signature
    (only Graph can verify it; we just want to warn early about a missing
    permission). None when the token is not a readable JWT."""
    try:
        payload = access_token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (IndexError, ValueError, binascii.Error):
        return None
    roles = claims.get("roles") if isinstance(claims, dict) else None
    return list(roles) if isinstance(roles, list) else []
