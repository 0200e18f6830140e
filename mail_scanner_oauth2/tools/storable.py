# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Strings from the outside world made storable in PostgreSQL text columns.

Graph's JSON and mail headers can carry what PostgreSQL refuses or chokes on: NUL,
lone UTF-16 surrogates (an escaped ``\\ud800`` in JSON, or bytes Python decoded with
``surrogateescape``), other control characters, and values longer than an index row
may hold. One such value must never cost the other mails of a page.
"""

import re

# C0 controls and DEL, except TAB, LF and CR, which text legitimately holds.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATES = re.compile("[\ud800-\udfff]")
ELLIPSIS = "\u2026"


def storable(value, limit=None):
    """`value` as a str PostgreSQL stores as is, cut to `limit` characters with a
    mark; None stays None, other types become their str()."""
    if value is None:
        return None
    if not isinstance(value, str):
        value = str(value)
    if _SURROGATES.search(value):
        value = _join_surrogate_pairs(value)
    value = _CONTROLS.sub("", value)
    if limit and len(value) > limit:
        value = value[: limit - 1] + ELLIPSIS
    return value


def _join_surrogate_pairs(value):
    # A valid high+low pair written as two code units is one character (JSON
    # escapes non-BMP characters so); what is left alone becomes U+FFFD.
    joined = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return _SURROGATES.sub("\ufffd", joined)


def storable_params(params):
    """A JSON-able dict of storable strings (for reason and error parameters)."""
    clean = {}
    for key, value in (params or {}).items():
        if isinstance(value, dict):
            clean[key] = storable_params(value)
        elif isinstance(value, bool | int | float) or value is None:
            clean[key] = value
        else:
            clean[key] = storable(value, 2000)
    return clean
