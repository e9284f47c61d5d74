"""Benchmark: the session store — ingest, replay and display queries.

Figures, medians of repeated runs, each against a baseline measured in the same run:

* ingest: samples/s through ``Session`` (queue → writer thread → SWMR file with
  block table, overload mask and pyramid, flushed every 0.5 s) vs plain h5py
  chunked appends of the same blocks to one dataset (one resize + slice
  write per block). Target: ratio >= 0.5.
* replay: an 8 h, 10 Hz session (1 s blocks, events, injections) replayed as
  fast as possible into a consumer; speed as a multiple of real time, and
  its cost vs reading the same signal with plain h5py. Target: >= 10,000x.
* pyramid: ``signal_display`` of random ranges of a 24 h trace at 2,000
  points vs a plain read of those samples + numpy min/max decimation.
  Target: median <= 20 ms.

Run: python tests/benchmarks/bench_session.py [--repeats 3] [--rate 100]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from raphe.acquisition import store
from raphe.acquisition.reader import SessionReader
from raphe.acquisition.replay import Replay
from raphe.acquisition.session import Session
from raphe.records import DetectorBlock, Event, Injection


def make_blocks(n_blocks: int, block: int, dt: float) -> list[DetectorBlock]:
    rng = np.random.default_rng(0)
    data = rng.normal(size=block * 16)
    return [DetectorBlock(i * block, i * block * dt, dt, data[(i % 15) * block:
                                                               (i % 15 + 1) * block])
            for i in range(n_blocks)]


def ingest_session(path: Path, blocks: list[DetectorBlock], dt: float) -> float:
    t = time.perf_counter()
    with Session.create(path, signal_dt=dt) as s:
        for b in blocks:
            s.add_block(b)
    return time.perf_counter() - t


def ingest_plain(path: Path, blocks: list[DetectorBlock], dt: float) -> float:
    t = time.perf_counter()
    with h5py.File(path, "w", libver="latest") as f:
        ds = f.create_dataset("x", shape=(0,), maxshape=(None,), chunks=(store.signal_chunk(dt),),
                              dtype="<f8")
        n = 0
        for b in blocks:
            ds.resize((n + len(b),))
            ds[n:] = b.values
            n += len(b)
    return time.perf_counter() - t


class Counter:
    """A stream callback counting samples."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, kind, record):
        if kind == "blocks":
            self.n += len(record)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rate", type=float, default=100.0,
                    help="sample rate (Hz) of the 24 h trace for the pyramid benchmark")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="raphe-bench-"))

    # -- ingest: 10 kHz in 0.1 s blocks, 3 M samples ----------------------------------------
    dt = 1e-4
    blocks = make_blocks(3000, 1000, dt)
    n = sum(len(b) for b in blocks)
    plain, sess = [], []
    for r in range(args.repeats):
        plain.append(ingest_plain(tmp / f"plain{r}.h5", blocks, dt))
        sess.append(ingest_session(tmp / f"sess{r}.h5", blocks, dt))
    p, s = statistics.median(plain), statistics.median(sess)
    ratio = p / s
    print(f"ingest   {n:,} samples in {len(blocks):,} blocks (10 kHz, 0.1 s blocks)")
    print(f"         plain h5py appends {n / p / 1e6:8.2f} M samples/s (baseline 1.00x)")
    print(f"         Session            {n / s / 1e6:8.2f} M samples/s ({ratio:.2f}x)  "
          f"target >= 0.5x: {'PASS' if ratio >= 0.5 else 'FAIL'}")

    # -- replay: 8 h at 10 Hz ----------------------------------------------------------------
    dt = 0.1
    path = tmp / "eight_hours.h5"
    with Session.create(path, signal_dt=dt) as sess_w:
        for i, b in enumerate(make_blocks(8 * 3600, 10, dt)):
            sess_w.add_block(b)
            if i % 1200 == 600:
                sess_w.add_injection(Injection(b.t0, f"S{i // 1200:03d}", 20.0))
            if i % 600 == 0:
                sess_w.add_event(Event(b.t0, "marker", f"m{i}", "protocol"))
    replay_t, plain_t = [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        with h5py.File(path, "r") as f:
            f[store.SIGNAL][:]
        plain_t.append(time.perf_counter() - t)
        c = Counter()
        t = time.perf_counter()
        with Replay(path) as rp:
            rp.run(c)
        replay_t.append(time.perf_counter() - t)
        assert c.n == 8 * 3600 * 10
    rt, pt = statistics.median(replay_t), statistics.median(plain_t)
    speed = 8 * 3600 / rt
    print(f"replay   8 h at 10 Hz, 28,800 blocks + events: {rt * 1000:.0f} ms")
    print(f"         plain h5py read of the signal {pt * 1000:.1f} ms (baseline 1.00x); "
          f"replay {rt / pt:.0f}x its time")
    print(f"         replay speed {speed:,.0f}x real time  "
          f"target >= 10,000x: {'PASS' if speed >= 10_000 else 'FAIL'}")

    # -- pyramid: 24 h at --rate ------------------------------------------------------------
    dt = 1.0 / args.rate
    path = tmp / "day.h5"
    per_block = int(args.rate)
    with Session.create(path, signal_dt=dt) as sess_w:
        for b in make_blocks(86_400, per_block, dt):
            sess_w.add_block(b)
    rng = np.random.default_rng(1)
    ranges = [(0.0, 86_400.0)] + [tuple(sorted(rng.uniform(0, 86_400, 2))) for _ in range(49)]
    q_times, b_times = [], []
    with SessionReader(path) as r, h5py.File(path, "r") as f:
        sig = f[store.SIGNAL]
        for _ in range(args.repeats):
            for a, z in ranges:
                t = time.perf_counter()
                tt, _, _ = r.signal_display(a, z, 2000)
                q_times.append(time.perf_counter() - t)
                assert len(tt) <= 2000
                t = time.perf_counter()
                v = sig[int(a * args.rate):int(z * args.rate)]
                k = max(1, len(v) // 2000)
                v = v[: len(v) // k * k].reshape(-1, k)
                v.min(axis=1), v.max(axis=1)
                b_times.append(time.perf_counter() - t)
    q, b = statistics.median(q_times), statistics.median(b_times)
    print(f"pyramid  24 h at {args.rate:g} Hz ({86_400 * per_block:,} samples), "
          f"{len(ranges)} ranges x {args.repeats}, 2,000 points")
    print(f"         plain read + numpy min/max {b * 1000:8.2f} ms median (baseline 1.00x)")
    print(f"         signal_display             {q * 1000:8.2f} ms median ({b / q:.0f}x faster)"
          f"  target <= 20 ms: {'PASS' if q <= 0.020 else 'FAIL'}")
    for f in tmp.iterdir():
        f.unlink()
    tmp.rmdir()


if __name__ == "__main__":
    main()
