"""Replay re-emits the recorded blocks and events, in order, at any speed."""

from __future__ import annotations

import threading
import time

import pytest

from raphe.acquisition.replay import Replay
from raphe.acquisition.session import Session
from raphe.errors import InputError
from raphe.records import Event, Injection

from session_helpers import Log, blocks, same_stream


def record(path, live=None):
    """Two minutes at 10 Hz in 1 s blocks, with injections and events in between."""
    with Session.create(path, signal_dt=0.1) as s:
        if live is not None:
            s.subscribe(live)
        for i, b in enumerate(blocks([10] * 120, dt=0.1)):
            s.add_block(b)
            if i % 30 == 5:
                s.add_injection(Injection(b.t0 + 0.5, f"S{i:03d}", 20.0))
            if i % 17 == 0:
                s.add_event(Event(b.t0 + 0.99, "marker", f"m{i}", "protocol"))


def test_replay_as_fast_as_possible_is_identical_to_live(tmp_path):
    live = Log()
    record(tmp_path / "s.h5", live)
    out = Log()
    with Replay(tmp_path / "s.h5") as rp:
        rp.run(out)
    same_stream(live.items, out.items)
    assert len(out.items) == 120 + 4 + 8


def test_paced_replay_keeps_order_and_takes_at_least_the_scaled_time(tmp_path):
    record(tmp_path / "s.h5")
    fast, paced = Log(), Log()
    with Replay(tmp_path / "s.h5") as rp:
        rp.run(fast)
    start = time.monotonic()
    with Replay(tmp_path / "s.h5", speed=400.0) as rp:
        rp.run(paced)
    elapsed = time.monotonic() - start
    same_stream(fast.items, paced.items)
    # Last block is due at 119.9 s: 0.2995 s at 400x. Pacing can only be late, never early.
    assert elapsed >= (119.9 - 0.9) / 400


def test_stop_event_ends_a_replay_early(tmp_path):
    record(tmp_path / "s.h5")
    stop = threading.Event()

    class StopAfterTen(Log):
        def __call__(self, kind, record):
            super().__call__(kind, record)
            if len(self.items) >= 10:
                stop.set()

    out = StopAfterTen()
    with Replay(tmp_path / "s.h5", speed=50.0) as rp:
        assert rp.run(out, stop_event=stop) == 10


def test_bad_speed_is_an_input_error(tmp_path):
    record(tmp_path / "s.h5")
    with pytest.raises(InputError, match="speed"):
        Replay(tmp_path / "s.h5", speed=0)
