"""Microsoft Graph (mail) + Microsoft identity platform emulator for tests.

    from graph_emulator import Emulator
    with Emulator() as emu:
        tenant = emu.add_tenant()
        ...

See docs/architecture.md (Emulator API) for the full surface.
"""

from .faults import Faults
from .log import LoggedRequest, RequestLog
from .samples import make_eml
from .server import Emulator
from .store import App, Folder, FolderExists, Mailbox, Message, Tenant

__all__ = [
    "App",
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
