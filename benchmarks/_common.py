"""What the DB-less benchmark scripts share: the emulator and the Graph client,
imported exactly as the DB-less test tier imports them (no Odoo).

    import _common                      # benchmarks/ is the script's own folder
    graph = _common.graph_client()      # the client package, as `mail_scanner_graph`
    from graph_emulator import Emulator, make_eml
"""

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TESTS_DIR = REPO_ROOT / "tests"

if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))


def graph_client():
    """The package mail_scanner_oauth2/graph, loaded by tests/conftest.py under the name
    `mail_scanner_graph` (so the addon's __init__, which imports Odoo, never runs)."""
    import conftest  # noqa: PLC0415 (needs pytest, which the venv has)

    return conftest.mail_scanner_graph


def new_client(emu, tenant, app, **options):
    """A GraphMailClient with the addon's defaults, pointed at the emulator."""
    return graph_client().GraphMailClient(
        tenant.id,
        app.client_id,
        client_secret=app.secret,
        authority_host=emu.url,
        graph_url=emu.graph_url,
        verify=emu.ca_path,
        **options,
    )
