"""A second process follows a session while it is written; a day's writing stays small."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from raphe.acquisition.reader import SessionReader
from raphe.acquisition.session import Session
from raphe.records import DetectorBlock, Event

from session_helpers import blocks

ROOT = Path(__file__).resolve().parents[2]

FOLLOWER = """
import sys
from raphe.acquisition.reader import SessionReader
r = SessionReader(sys.argv[1])
for line in sys.stdin:            # one line per step of the writer
    r.refresh()
    print(r.status, r.n_samples, len(r.events()), r.complete, flush=True)
"""


def test_second_process_sees_the_session_grow(tmp_path):
    path = tmp_path / "live.h5"
    s = Session.create(path, signal_dt=0.1)
    follower = subprocess.Popen([sys.executable, "-c", FOLLOWER, str(path)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                env=dict(os.environ, PYTHONPATH=str(ROOT)))
    seen = []
    try:
        for step, b in enumerate(blocks([50, 50, 50], dt=0.1)):
            s.add_block(b)
            s.add_event(Event(b.t0, "marker", f"step {step}"))
            assert s.sync(timeout=30)
            follower.stdin.write("go\n")
            follower.stdin.flush()
            seen.append(follower.stdout.readline().split())
        s.close()
        follower.stdin.write("go\n")
        follower.stdin.flush()
        seen.append(follower.stdout.readline().split())
    finally:
        follower.stdin.close()
        follower.wait()
        if not s.closed:
            s.close()
    assert seen == [["open", "50", "1", "False"], ["open", "100", "2", "False"],
                    ["open", "150", "3", "False"], ["complete", "150", "3", "True"]]


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_a_day_at_10_hz_keeps_writer_memory_bounded(tmp_path):
    """24 h at 10 Hz in 1 s blocks (86,400 blocks): memory growth under 50 MB."""
    path = tmp_path / "day.h5"
    rng = np.random.default_rng(0)
    chunk = rng.normal(size=10)
    with Session.create(path, signal_dt=0.1) as s:
        hour_rss = None
        for second in range(86_400):
            s.add_block(DetectorBlock(second * 10, float(second), 0.1, chunk))
            if second % 600 == 0:
                s.add_event(Event(float(second), "info", "ten minutes"))
            if second % 3600 == 3599:
                s.sync()  # the detector's pace: the writer never falls hours behind
                if hour_rss is None:
                    hour_rss = rss_mb()
        growth = rss_mb() - hour_rss
    assert growth < 50, f"writer memory grew {growth:.1f} MB over 23 h"
    with SessionReader(path) as r:
        assert r.n_samples == 864_000 and len(r.events()) == 144
