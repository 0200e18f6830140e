# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""What came of one mail's import: the Outcome the protocol writes on the ledger row,
and the GatewayCapture through which the gateway's hooks (models/mail_thread.py) say
which record and message it made."""

import email.errors
from dataclasses import dataclass, field

# What Python's email package and Odoo's gateway raise on content they cannot read
# (an unknown charset, a malformed address or header): the same on every attempt.
CONTENT_ERRORS = (
    LookupError,  # unknown encoding; KeyError, IndexError
    UnicodeError,
    ValueError,
    TypeError,
    AttributeError,
    AssertionError,
    email.errors.MessageError,
)


@dataclass
class Outcome:
    state: str
    key: str = None
    params: dict = field(default_factory=dict)
    values: dict = field(default_factory=dict)
    message_id: str = None  # of the message the gateway posted
    ticket_number: str = None  # of the ticket it created
    # Trying again would give the same result: no automatic retry, only Retry.
    set_aside: bool = False

    @property
    def imported(self):
        return self.state == "done"


class GatewayCapture:
    """Handed to the gateway in the context; message_new / message_update of the
    target record tell it which record the mail created or landed in, message_post
    the message posted with ``message_id``."""

    def __init__(self, message_id=None):
        self.message_id = message_id
        self.created = None
        self.updated = None
        self.posted = None

    @property
    def record(self):
        return self.created or self.updated
