"""Overlap network waits with processing: read an iterator ahead in a thread."""

import queue
import threading

_DONE = object()


class _Failure:
    def __init__(self, exc):
        self.exc = exc


def prefetched(iterable, depth=2):
    """Yields the items of ``iterable``, produced by a background thread that
    stays at most ``depth`` items ahead of the consumer.

    While the consumer (Odoo parsing one batch of mail) works, the next batch
    is already downloading. Exceptions of the producer reach the consumer at
    the point where they happened; a consumer that stops early stops the
    producer at its next item.
    """
    items = queue.Queue(maxsize=max(depth, 1))
    stop = threading.Event()

    def put(item):
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in iterable:
                if not put(item):
                    return
        except Exception as exc:  # handed over to the consumer
            put(_Failure(exc))
            return
        put(_DONE)

    producer = threading.Thread(target=produce, name="graph-prefetch", daemon=True)
    producer.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        producer.join(timeout=5)
