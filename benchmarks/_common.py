"""What the benchmark scripts share without Odoo: the emulator, the Graph client and
the addon's sentences, each imported straight from this checkout.

    import _common                      # benchmarks/ is the script's own folder
    graph = _common.graph_client()      # mail_scanner_oauth2/graph, as a plain package
    from graph_emulator import Emulator, make_eml

The addon's ``__init__`` imports Odoo, so its Odoo-free parts (``graph/``,
``texts.py``, ``tools/``) are loaded under a stand-in parent package,
``mso_addon``, whose ``__init__`` never runs.
"""

import importlib
import os
import sys
import types
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ADDON_DIR = REPO_ROOT / "mail_scanner_oauth2"
EMULATOR_DIR = REPO_ROOT / "emulator"
ADDON_ALIAS = "mso_addon"


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


if __name__ != "__main__" and "odoo" not in sys.modules:
    _reexec_under_venv()

# This checkout's emulator first, even when the venv has another one installed.
if str(EMULATOR_DIR) not in sys.path:
    sys.path.insert(0, str(EMULATOR_DIR))


def addon_module(name):
    """``mail_scanner_oauth2.<name>`` (an Odoo-free submodule such as ``graph``,
    ``texts`` or ``tools.mail_facts``), imported without the addon's ``__init__``."""
    if ADDON_ALIAS not in sys.modules:
        parent = types.ModuleType(ADDON_ALIAS)
        parent.__path__ = [str(ADDON_DIR)]
        sys.modules[ADDON_ALIAS] = parent
    return importlib.import_module(f"{ADDON_ALIAS}.{name}")


def graph_client():
    """The package mail_scanner_oauth2/graph (no Odoo import)."""
    return addon_module("graph")


class _EnglishEnv:
    """Just enough of an Odoo environment for ``texts.render``: untranslated."""

    @staticmethod
    def _(text, *args, **kwargs):
        return text % (args or kwargs) if (args or kwargs) else text


def reason_text(key, params=None):
    """The English sentence a ledger row's ``reason_key``/``reason_params`` show."""
    if not key:
        return ""
    return addon_module("texts").render(_EnglishEnv(), key, params)


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
