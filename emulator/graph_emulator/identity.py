"""Microsoft identity platform: tenant discovery and the client-credentials token
endpoint.

Error bodies use the flat AADSTS shape and texts of login.microsoftonline.com, so the
client under test can map them to admin-actionable messages.
"""

import base64
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import parse_qsl

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

from . import ids
from .wire import json_resp

GRAPH_AUDIENCE = "https://graph.microsoft.com"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class AadError(Exception):
    def __init__(self, code, error, status, text):
        super().__init__(text)
        self.code, self.error, self.status, self.text = code, error, status, text


def _b64url_nopad(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


class Identity:
    def __init__(self, emu):
        self.emu = emu
        # Emulator-private key that signs access tokens (Graph validates them;
        # clients may
        # only decode them unverified, as with the real service).
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = ids.new_guid().replace("-", "")[:27]
        self._expired_utis = set()
        self._issued_utis = set()

    # -- helpers -----------------------------------------------------------
    def _tenant(self, segment):
        with self.emu.lock:
            return next(
                (t for t in self.emu.tenants.values() if t.matches(segment)), None
            )

    def error(self, err: AadError, extra=None):
        trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = datetime.now(timezone.utc)
        body = {
            "error": err.error,
            "error_description": (
                f"AADSTS{err.code}: {err.text}\r\nTrace ID: {trace_id}\r\n"
                f"Correlation ID: {correlation_id}\r\nTimestamp: "
                f"{stamp.strftime('%Y-%m-%d %H:%M:%SZ')}"
            ),
            "error_codes": [err.code],
            "timestamp": stamp.strftime("%Y-%m-%d %H:%M:%SZ"),
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"{self.emu.url}/error?code={err.code}",
        }
        body.update(extra or {})
        return json_resp(
            err.status,
            body,
            {
                "Cache-Control": "no-store, no-cache",
                "Pragma": "no-cache",
                "x-ms-request-id": trace_id,
            },
        )

    def _tenant_not_found(self, segment):
        return AadError(
            90002,
            "invalid_tenant",
            400,
            f"Tenant '{segment}' not found. Check to make sure you have the correct "
            "tenant ID and are signing "
            "into the correct cloud. Check with your subscription administrator, "
            "this may happen if there are "
            "no active subscriptions for the tenant.",
        )

    def token_endpoint(self, tenant):
        return f"{self.emu.url}/{tenant.id}/oauth2/v2.0/token"

    # -- discovery ---------------------------------------------------------
    def discovery(self, segment):
        tenant = self._tenant(segment)
        if tenant is None:
            return self.error(self._tenant_not_found(segment))
        base = f"{self.emu.url}/{tenant.id}"
        config = {
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{self.emu.url}/{tenant.id}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": [
                "code",
                "id_token",
                "code id_token",
                "id_token token",
            ],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "nonce",
                "tid",
                "ver",
                "oid",
            ],
            "kerberos_endpoint": f"{base}/kerberos",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }
        return json_resp(200, config, {"Cache-Control": "max-age=86400, private"})

    def jwks(self, segment):
        numbers = self._key.public_key().public_numbers()
        key = {
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": _b64url_nopad(numbers.n.to_bytes(256, "big")),
            "e": "AQAB",
        }
        return json_resp(200, {"keys": [key]})

    # -- token endpoint ----------------------------------------------------
    def token(self, segment, req):
        form = dict(
            parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True)
        )
        self._basic_auth(req, form)
        try:
            tenant = self._tenant(segment)
            if tenant is None:
                raise self._tenant_not_found(segment)
            app, how = self._authenticate(tenant, form)
            return self._issue(tenant, app, how)
        except AadError as err:
            return self.error(err)

    @staticmethod
    def _basic_auth(req, form):
        # client_secret_basic: credentials in the Authorization header
        header = req.header("authorization") or ""
        if header.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return
            form.setdefault("client_id", user)
            form.setdefault("client_secret", password)

    def _authenticate(self, tenant, form):
        grant = form.get("grant_type")
        if not grant:
            raise AadError(
                900144,
                "invalid_request",
                400,
                "The request body must contain the following parameter: 'grant_type'.",
            )
        if grant != "client_credentials":
            raise AadError(
                70003,
                "unsupported_grant_type",
                400,
                f"The app requested an unsupported grant type '{grant}'.",
            )
        client_id = form.get("client_id", "")
        if not client_id:
            raise AadError(
                900144,
                "invalid_request",
                400,
                "The request body must contain the following parameter: 'client_id'.",
            )
        with self.emu.lock:
            app = tenant.apps.get(client_id) or tenant.apps.get(client_id.lower())
        if app is None:
            raise AadError(
                700016,
                "unauthorized_client",
                self.emu.app_not_found_status,
                f"Application with identifier '{client_id}' was not found in the "
                f"directory '{tenant.domain}'. "
                "This can happen if the application has not been installed by the "
                "administrator of the tenant "
                "or consented to by any user in the tenant. You may have sent your "
                "authentication request to "
                "the wrong tenant.",
            )
        if form.get("client_assertion"):
            self._check_assertion(tenant, app, form)
            how = "2"
        elif form.get("client_secret"):
            self._check_secret(app, form["client_secret"])
            how = "1"
        else:
            raise AadError(
                7000218,
                "invalid_client",
                401,
                "The request body must contain the following parameter: "
                "'client_assertion' or "
                "'client_secret'.",
            )
        self._check_scope(form.get("scope", ""))
        return app, how

    @staticmethod
    def _check_scope(scope):
        if not scope:
            raise AadError(
                900144,
                "invalid_request",
                400,
                "The request body must contain the following parameter: 'scope'.",
            )
        scopes = scope.split()
        if scopes != [GRAPH_SCOPE]:
            bad = next((s for s in scopes if s != GRAPH_SCOPE), scope)
            raise AadError(
                70011,
                "invalid_scope",
                400,
                "The provided request must include a 'scope' input parameter. The "
                "provided value for "
                f"the input parameter 'scope' is not valid. The scope {bad} is not "
                "valid.",
            )

    @staticmethod
    def _check_secret(app, secret):
        """Any of the app's secrets is accepted; a known but expired one answers
        AADSTS7000222, an unknown one AADSTS7000215."""
        with app.tenant.lock:
            found = app.find_secret(secret)
            expired = found is not None and found.expired
        if found is None:
            raise AadError(
                7000215,
                "invalid_client",
                401,
                "Invalid client secret provided. Ensure the secret being sent in the "
                "request is the client "
                "secret value, not the client secret ID, for a secret added to app "
                f"'{app.client_id}'.",
            )
        if expired:
            raise AadError(
                7000222,
                "invalid_client",
                401,
                f"The provided client secret keys for app '{app.client_id}' are "
                "expired. Visit the Azure portal "
                "to create new keys for your app: https://aka.ms/NewClientSecret, or "
                "consider using certificate "
                "credentials for added security: https://aka.ms/certCreds.",
            )

    def _check_assertion(self, tenant, app, form):
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise AadError(
                50027, "invalid_request", 400, "JWT token is invalid or malformed."
            )
        assertion = form["client_assertion"]
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            raise AadError(
                50027, "invalid_request", 400, "JWT token is invalid or malformed."
            ) from None
        cert = self._load_cert(app)
        thumb = header.get("x5t#S256") or header.get("x5t") or ""
        expected = set()
        if cert is not None:
            expected = {
                _b64url_nopad(cert.fingerprint(hashes.SHA1())),
                _b64url_nopad(cert.fingerprint(hashes.SHA256())),
            }
        if thumb.rstrip("=") not in expected:
            raise AadError(
                700027,
                "invalid_client",
                401,
                "The certificate with identifier used to sign the client assertion "
                "is not registered on "
                "application. [Reason - The key was not found., Thumbprint of key "
                f"used by client: '{thumb}']",
            )
        try:
            claims = jwt.decode(
                assertion,
                cert.public_key(),
                algorithms=["RS256", "PS256"],
                options={
                    "verify_aud": False,
                    "verify_exp": False,
                    "require": ["exp", "aud", "iss", "sub"],
                },
            )
        except jwt.PyJWTError:
            raise AadError(
                700027,
                "invalid_client",
                401,
                "Client assertion failed signature validation.",
            ) from None
        if claims.get("aud") != self.token_endpoint(tenant):
            raise AadError(
                50012,
                "invalid_client",
                401,
                "Client assertion audience claim does not match Realm issuer.",
            )
        if float(claims["exp"]) <= time.time():
            raise AadError(
                700024,
                "invalid_client",
                401,
                "Client assertion is not within its valid time range.",
            )
        if not (claims.get("iss") == claims.get("sub") == app.client_id):
            raise AadError(
                700021,
                "invalid_client",
                401,
                "Client assertion application identifier doesn't match 'client_id' "
                "parameter.",
            )

    @staticmethod
    def _load_cert(app):
        pem = app.certificate_pem
        if not pem:
            return None
        return x509.load_pem_x509_certificate(
            pem.encode() if isinstance(pem, str) else pem
        )

    def _issue(self, tenant, app, how):
        now = int(time.time())
        lifetime = int(self.emu.token_lifetime)
        uti = _b64url_nopad(uuid.uuid4().bytes)
        issuer = f"https://sts.windows.net/{tenant.id}/"
        claims = {
            "aud": GRAPH_AUDIENCE,
            "iss": issuer,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "aio": _b64url_nopad(uuid.uuid4().bytes),
            "app_displayname": app.display_name,
            "appid": app.client_id,
            "appidacr": how,
            "idp": issuer,
            "idtyp": "app",
            "oid": app.service_principal_id,
            "rh": "0.AAAA.",
            "roles": list(app.roles),
            "sub": app.service_principal_id,
            "tenant_region_scope": "EU",
            "tid": tenant.id,
            "uti": uti,
            "ver": "1.0",
            "wids": ["0997a1d0-0d1d-4acb-b408-d5ca73121e90"],
        }
        token = jwt.encode(
            claims,
            self._key,
            algorithm="RS256",
            headers={"kid": self.kid, "x5t": self.kid},
        )
        with self.emu.lock:
            self._issued_utis.add(uti)
        body = {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": token,
        }
        return json_resp(
            200, body, {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}
        )

    # -- used by Graph -----------------------------------------------------
    def expire_all(self):
        with self.emu.lock:
            self._expired_utis |= self._issued_utis
            self._issued_utis = set()

    def validate(self, token):
        """(claims, None) or (None, message) worded the way Graph words it."""
        if not token:
            return None, "Access token is empty."
        try:
            claims = jwt.decode(
                token,
                self._key.public_key(),
                algorithms=["RS256"],
                audience=GRAPH_AUDIENCE,
                options={"verify_exp": False, "verify_nbf": False},
            )
        except jwt.InvalidAudienceError:
            return None, "Access token validation failure. Invalid audience."
        except jwt.PyJWTError:
            return (
                None,
                "IDX14100: JWT is not well formed, there are no dots (.).\nThe token "
                "needs to be in JWS or JWE Compact Serialization Format."
                if token.count(".") < 2
                else "Access token validation failure.",
            )
        with self.emu.lock:
            revoked = claims.get("uti") in self._expired_utis
        if revoked or claims.get("exp", 0) <= time.time():
            return None, "Lifetime validation failed, the token is expired."
        return claims, None
