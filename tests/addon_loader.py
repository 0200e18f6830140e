"""Plain-Python pieces of the addon loaded without the addon's __init__ (which
imports Odoo): a file or a package, under a name of the test's choosing."""

import importlib.util
import sys
from pathlib import Path


def load_addon_module(name, path):
    """The module at ``path`` (a .py file, or a package folder) as ``name``;
    loaded once, later calls return the same module."""
    if name in sys.modules:
        return sys.modules[name]
    path = Path(path)
    if path.is_dir():
        spec = importlib.util.spec_from_file_location(
            name, path / "__init__.py", submodule_search_locations=[str(path)]
        )
    else:
        spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
