"""Helpers for tests that talk to the emulator with plain requests (no Graph client).

Import what you need; nothing here registers fixtures by itself:

    from graph_emulator.pytest_fixtures import Graph, new_session
"""

import datetime

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


def new_session(emu) -> requests.Session:
    """A session that trusts only the emulator's CA (REQUESTS_CA_BUNDLE is ignored)."""
    session = requests.Session()
    session.trust_env = False
    session.verify = emu.ca_path
    return session


def token_request(emu, tenant, session=None, **form):
    """POST the token endpoint with client-credentials form fields."""
    session = session or new_session(emu)
    tenant_segment = getattr(tenant, "id", tenant)
    data = {"grant_type": "client_credentials", "scope": GRAPH_SCOPE}
    data.update(form)
    return session.post(f"{emu.url}/{tenant_segment}/oauth2/v2.0/token", data=data)


def get_token(emu, tenant, app, session=None) -> str:
    resp = token_request(
        emu, tenant, session, client_id=app.client_id, client_secret=app.secret
    )
    resp.raise_for_status()
    return resp.json()["access_token"]


class Graph:
    """requests to emu.graph_url with a bearer token; paths like "/users/..."."""

    def __init__(self, emu, token, session=None, immutable=False):
        self.emu, self.token = emu, token
        self.session = session or new_session(emu)
        self.immutable = immutable

    def headers(self, extra=None):
        headers = {"Authorization": f"Bearer {self.token}"}
        if self.immutable:
            headers["Prefer"] = 'IdType="ImmutableId"'
        headers.update(extra or {})
        return headers

    def url(self, path):
        return path if path.startswith("https://") else self.emu.graph_url + path

    def request(self, method, path, headers=None, **kwargs):
        return self.session.request(
            method, self.url(path), headers=self.headers(headers), **kwargs
        )

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)

    def patch(self, path, **kwargs):
        return self.request("PATCH", path, **kwargs)

    def all_pages(self, path, **kwargs):
        """Follow @odata.nextLink; returns (items, last page body)."""
        items, body = [], {}
        url = path
        while url:
            resp = self.get(url, **kwargs)
            assert resp.status_code == 200, resp.text
            body = resp.json()
            items += body["value"]
            url = body.get("@odata.nextLink")
        return items, body


def self_signed_certificate(common_name="graph-emulator-test"):
    """(private_key_pem, certificate_pem, sha1_thumbprint_hex) for msal."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    return key_pem, cert_pem, cert.fingerprint(hashes.SHA1()).hex().upper()
