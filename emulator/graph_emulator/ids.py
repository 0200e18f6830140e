"""Identifiers that look like the ones Exchange Online hands out through Graph.

Clients must treat ids as opaque strings, so the emulator only needs ids that *look*
real: long url-safe base64 strings with the usual prefixes ("AAMkAG..." for REST ids,
"AAkALg..." for immutable ids, "AAQkAG..." for conversation ids).  A counter is mixed
in so two ids never collide, even with a seeded random source.
"""

import base64
import itertools
import secrets
import uuid

_counter = itertools.count(1)

# Byte prefixes chosen so that base64 starts like the real ids.
_REST_PREFIX = b"\x00\x03\x24\x00"  # -> "AAMkA" + the mailbox guid
_CONVERSATION_PREFIX = b"\x00\x04\x24\x00"  # -> "AAQkA"
_IMMUTABLE_PREFIX = b"\x00\x09\x00\x2e\x00\x00\x00\x00\x00"  # -> "AAkALgAAAAAA"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _unique(n: int) -> bytes:
    return secrets.token_bytes(n) + next(_counter).to_bytes(4, "big")


def new_guid() -> str:
    return str(uuid.uuid4())


def mailbox_guid() -> str:
    """A guid starting with a-f: ids built from it start "AAMkAG" like real ones."""
    while True:
        guid = new_guid()
        if guid[0] in "abcdef":
            return guid


def rest_message_id(mailbox_guid: str) -> str:
    return _b64(
        _REST_PREFIX
        + mailbox_guid.encode()
        + b"\x00\x46\x00\x00\x00\x00"
        + _unique(62)
        + b"\x00\x00"
    )


def immutable_message_id() -> str:
    return _b64(_IMMUTABLE_PREFIX + _unique(58) + b"\x00\x00")


def folder_id(mailbox_guid: str) -> str:
    return _b64(
        _REST_PREFIX
        + mailbox_guid.encode()
        + b"\x00\x2e\x00\x00\x00\x00\x00"
        + _unique(22)
        + b"\x01\x00"
    )


def conversation_id(mailbox_guid: str) -> str:
    return _b64(
        _CONVERSATION_PREFIX + mailbox_guid.encode() + b"\x00\x10\x00" + _unique(16)
    )


def change_key() -> str:
    return _b64(b"\x09\x00\x00\x00\x16\x00\x00\x00" + secrets.token_bytes(16))
