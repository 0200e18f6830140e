"""Microsoft Graph (mail) + Microsoft identity platform emulator for tests.

    from graph_emulator import Emulator
    with Emulator() as emu:                 # realistic; Emulator(realism="tidy")
        tenant = emu.add_tenant()
        ...

Realistic by default: $value is the MIME Exchange regenerates, changes come more than
once, rounds start with empty pages, delta links expire, links name
microsoft.graph.delta(), conversations join by subject. graph_emulator.realism lists
the knobs; docs/architecture.md (Emulator API) the full surface.
"""

from .faults import Faults
from .log import LoggedRequest, RequestLog
from .samples import make_eml
from .server import Emulator
from .store import App, ClientSecret, Folder, FolderExists, Mailbox, Message, Tenant

__all__ = [
    "App",
    "ClientSecret",
    "Emulator",
    "Faults",
    "Folder",
    "FolderExists",
    "LoggedRequest",
    "Mailbox",
    "Message",
    "RequestLog",
    "Tenant",
    "make_eml",
]
