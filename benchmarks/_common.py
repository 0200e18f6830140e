"""What the DB-less benchmark scripts share: the emulator and the Graph client,
imported exactly as the DB-less test tier imports them (no Odoo).

    import _common                      # benchmarks/ is the script's own folder
    graph = _common.graph_client()      # the client package, as `mail_scanner_graph`
    from graph_emulator import Emulator, make_eml
"""

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TESTS_DIR = REPO_ROOT / "tests"


def _reexec_under_venv():
    """Re-runs the script under the project's venv when its packages are missing
    here (``python3 benchmarks/graph_requests.py`` works after ``scripts/setup``)."""
    try:
        import msal  # noqa: F401, PLC0415
        import trustme  # noqa: F401, PLC0415
    except ImportError:
        pass
    else:
        return
    default_cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    cache = Path(os.environ.get("MSO_CACHE") or default_cache / "mail_scanner_oauth2")
    for flavour in ("venv-odoo", "venv-plain"):
        python = cache / flavour / "bin" / "python"
        if python.exists() and not os.environ.get("MSO_BENCH_REEXEC"):
            env = dict(os.environ, MSO_BENCH_REEXEC="1")
            os.execve(str(python), [str(python), *sys.argv], env)
    raise SystemExit("no virtual environment with the test packages: run scripts/setup")


_reexec_under_venv()

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
