"""Overlap network waits with processing: read an iterator ahead in a thread."""

import queue
import threading

_DONE = object()


class _Failure:
    def __init__(self, exc):
        self.exc = exc


class _Budget:
    """Bytes produced and not yet taken by the consumer. The producer waits while
    the next item would exceed ``limit``, unless nothing is waiting (so one item
    larger than the limit still passes, alone)."""

    def __init__(self, limit):
        self.limit = limit
        self.held = 0
        self.changed = threading.Condition()

    def reserve(self, size, stop):
        with self.changed:
            while self.held and self.held + size > self.limit and not stop.is_set():
                self.changed.wait(0.1)
            self.held += size

    def release(self, size):
        with self.changed:
            self.held -= size
            self.changed.notify_all()


# About 55 lines because put() and produce() are closures over the queue, the stop
# event and the byte budget: the hand-over between the threads reads in one place.
def prefetched(iterable, depth=2, max_bytes=None, size_of=None):
    """Yields the items of ``iterable``, produced by a background thread that
    stays at most ``depth`` items ahead of the consumer, and with ``max_bytes``
    (``size_of(item)`` each) at most that many bytes ahead.

    While the consumer (Odoo parsing one batch of mail) works, the next batch
    is already downloading. Exceptions of the producer reach the consumer at
    the point where they happened; a consumer that stops early stops the
    producer at its next item.
    """
    items = queue.Queue(maxsize=max(depth, 1))
    stop = threading.Event()
    budget = _Budget(max_bytes) if max_bytes and size_of else None

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
                if budget:
                    budget.reserve(size_of(item), stop)
                delivered = put(item)
                # The consumer holds the item now: no reference stays here while
                # the next one downloads.
                del item
                if not delivered:
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
            if budget:
                budget.release(size_of(item))
            yield item
            item = None  # not held here while the next one downloads
    finally:
        stop.set()
        producer.join(timeout=5)
