"""The read-ahead that overlaps Graph downloads with Odoo's parsing."""

import threading
import time

import pytest
from mail_scanner_graph.prefetch import prefetched


def test_yields_every_item_in_order():
    assert list(prefetched(iter(range(50)), depth=3)) == list(range(50))


def test_producer_runs_ahead_while_consumer_works():
    produced = []

    def slow_source():
        for n in range(4):
            time.sleep(0.2)  # a download
            produced.append(n)
            yield n

    started = time.monotonic()
    for _item in prefetched(slow_source(), depth=2):
        time.sleep(0.2)  # parsing
    elapsed = time.monotonic() - started
    # Serial would take 1.6 s; overlapped about 1.0 s.
    assert elapsed < 1.4
    assert produced == [0, 1, 2, 3]


def test_producer_error_reaches_consumer_after_good_items():
    def source():
        yield 1
        yield 2
        raise ValueError("batch failed")

    seen = []
    with pytest.raises(ValueError, match="batch failed"):
        for item in prefetched(source()):
            seen.append(item)
    assert seen == [1, 2]


def test_early_stop_stops_the_producer():
    produced = []

    def endless():
        n = 0
        while True:
            produced.append(n)
            yield n
            n += 1

    for item in prefetched(endless(), depth=2):
        if item == 3:
            break
    time.sleep(0.3)
    count = len(produced)
    time.sleep(0.3)
    assert len(produced) == count, "the producer must stop once the consumer stops"
    assert count <= 3 + 2 + 2
    assert not [t for t in threading.enumerate() if t.name == "graph-prefetch"]
