"""DB-less test tier: the Graph client against the local Graph + identity emulator.

The client package is loaded as `mail_scanner_graph` straight from its folder, so the
addon's __init__ (which imports Odoo) never runs.
"""

import uuid
from pathlib import Path

import pytest
from addon_loader import load_addon_module

TESTS_DIR = Path(__file__).resolve().parent
GRAPH_DIR = TESTS_DIR.parent / "mail_scanner_oauth2" / "graph"


mail_scanner_graph = load_addon_module("mail_scanner_graph", GRAPH_DIR)


# Emulator knobs of the send side (tests/test_send.py) put back after each test.
SEND_KNOBS = (
    "max_request_body",
    "request_too_large_status",
    "max_message_size",
    "upload_session_min_size",
    "upload_session_lifetime",
    "upload_range_error_status",
    "upload_rejects_bearer",
    "replace_message_id",
)


@pytest.fixture(scope="session")
def emulator():
    from graph_emulator import Emulator  # noqa: PLC0415

    with Emulator() as emu:
        yield emu


@pytest.fixture(autouse=True)
def _reset_emulator(request):
    """Faults, limits and the request log never leak from one test into the next."""
    if "emulator" not in request.fixturenames:
        yield
        return
    emu = request.getfixturevalue("emulator")
    limits = (
        emu.max_in_flight,
        emu.request_budget,
        emu.faults.retry_after,
        emu.faults.slow_seconds,
    )
    send_knobs = {name: getattr(emu, name) for name in SEND_KNOBS}
    yield
    for name, value in send_knobs.items():
        setattr(emu, name, value)
    emu.undeliverable.clear()
    emu.outbound.clear()
    emu.faults.clear()
    (
        emu.max_in_flight,
        emu.request_budget,
        emu.faults.retry_after,
        emu.faults.slow_seconds,
    ) = limits
    emu.faults.counts.clear()
    emu.faults.injected = 0
    emu.reset_throttling()
    emu.log.clear()


@pytest.fixture
def tenant(emulator):
    return emulator.add_tenant(domain=f"t{uuid.uuid4().hex[:8]}.onmicrosoft.com")


@pytest.fixture
def app_secret():
    return f"secret-{uuid.uuid4().hex}"


@pytest.fixture
def app(tenant, app_secret):
    return tenant.add_app(secret=app_secret)


@pytest.fixture
def mailbox(tenant):
    return tenant.add_mailbox(f"support@{tenant.domain}")


def make_client(emulator, tenant, app, **overrides):
    """A client pointed at the emulator, tuned so retries take milliseconds."""
    options = {
        "client_secret": app.secret,
        "authority_host": emulator.url,
        "graph_url": emulator.graph_url,
        "verify": emulator.ca_path,
        "timeout": (5, 10),
        "max_attempts": 6,
        "max_retry_seconds": 30,
        "backoff_factor": 0.01,
        "max_retry_after": 0.2,
    }
    options.update(overrides)
    return mail_scanner_graph.GraphMailClient(tenant.id, app.client_id, **options)


@pytest.fixture
def client(emulator, tenant, app):
    graph_client = make_client(emulator, tenant, app)
    yield graph_client
    graph_client.close()
