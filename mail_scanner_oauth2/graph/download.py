"""How downloads of MIME are grouped: small mails by $batch, large ones streamed."""

import base64
import binascii

from .transport import BATCH_LIMIT

# Downloads are bounded by bytes, not only by count: inside a $batch answer a mail is
# base64 in JSON (4/3 of its size, then decoded again), so large mails are fetched
# alone, streamed from $value to a temporary file; small ones share a $batch whose
# MIME adds up to at most BATCH_BYTES. A mail of unknown size counts as large.
STREAM_ABOVE_BYTES = 2 * 1024 * 1024
BATCH_BYTES = 8 * 1024 * 1024
# Downloaded mail waiting to be imported, at most (one larger mail still passes).
READ_AHEAD_BYTES = 2 * BATCH_BYTES
# Bytes held in memory while streaming a download, beyond which it spills to disk.
SPOOL_BYTES = 1024 * 1024


def decode_mime_body(body):
    """$batch returns non-JSON bodies base64-encoded; be tolerant of a raw string."""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return body.encode("utf-8")
    raise ValueError("unexpected $value body type")


def download_plan(items, batch_size=BATCH_LIMIT):
    """Groups downloads: [(id, size)] lists of at most `batch_size` small mails
    adding up to at most BATCH_BYTES, and each large or unknown-size mail alone
    as [(id, None)] (streamed). The order of `items` is kept."""
    group, group_bytes = [], 0
    for item in items:
        mid, size = item if isinstance(item, tuple) else (item, None)
        if size is None or size > STREAM_ABOVE_BYTES:
            if group:
                yield group
                group, group_bytes = [], 0
            yield [(mid, None)]
            continue
        if group and (len(group) >= batch_size or group_bytes + size > BATCH_BYTES):
            yield group
            group, group_bytes = [], 0
        group.append((mid, size))
        group_bytes += size
    if group:
        yield group
