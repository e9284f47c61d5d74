"""The bridge hands records from any thread to the GUI thread, in order, in batches."""

from __future__ import annotations

import threading

from raphe.gui.app.bridge import Bridge


def test_records_and_engine_events_arrive_in_order_from_many_threads(qtbot):
    bridge = Bridge(interval_ms=5)
    got, events, threads_seen = [], [], set()
    bridge.records.connect(lambda batch: (got.extend(batch),
                                          threads_seen.add(threading.get_ident())))
    bridge.engine_event.connect(lambda kind, payload: events.append((kind, payload, len(got))))

    def producer(name: str) -> None:
        for i in range(2000):
            bridge.post(name, i)
        bridge.post_engine("done", name)

    workers = [threading.Thread(target=producer, args=(f"p{k}",)) for k in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    qtbot.waitUntil(lambda: len(events) == 4, timeout=30_000)
    bridge.stop()
    assert threads_seen == {threading.get_ident()}  # delivered on the GUI thread
    for k in range(4):
        mine = [i for name, i in got if name == f"p{k}"]
        assert mine == list(range(2000))
        # an engine event comes after every record posted before it
        done_at = next(n for kind, payload, n in events if payload == f"p{k}")
        assert len([1 for name, _ in got[:done_at] if name == f"p{k}"]) == 2000
