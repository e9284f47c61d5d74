"""Synthetic streams for the session tests."""

from __future__ import annotations

import numpy as np

from raphe.records import DetectorBlock, Event, Fraction, Injection, PumpState, SampleResult


def blocks(sizes: list[int], dt: float = 0.1, seed: int = 0, t_start: float = 0.0):
    """Contiguous blocks of the given sizes with random values and some overloads."""
    rng = np.random.default_rng(seed)
    out, index = [], 0
    for n in sizes:
        values = rng.normal(5.0, 1.0, n)
        over = rng.random(n) < 0.05
        values[over] = np.nan
        out.append(DetectorBlock(index, t_start + index * dt, dt, values, over))
        index += n
    return out


_NAMES = {"blocks": "block", "injections": "injection", "events": "event"}


class Log:
    """A stream callback (a session subscription's or a replay's) that remembers everything,
    in order."""

    def __init__(self) -> None:
        self.items: list[tuple[str, object]] = []

    def __call__(self, kind, record):
        self.items.append((_NAMES.get(kind, kind), record))


def same_stream(a: list, b: list) -> None:
    """Assert two consumer logs are identical, blocks compared value by value."""
    assert [k for k, _ in a] == [k for k, _ in b]
    for (kind, x), (_, y) in zip(a, b):
        if kind == "block":
            assert (x.index0, x.t0, x.dt) == (y.index0, y.t0, y.dt)
            np.testing.assert_array_equal(x.values, y.values)
            np.testing.assert_array_equal(x.overload, y.overload)
        else:
            assert x == y


def sample_records():
    nan = float("nan")
    return {
        "events": [Event(1.5, "drug", "ipsapirone 0.3 mg/kg s.c.", "operator"),
                   Event(2.0, "phase", "baseline", "protocol"),
                   Event(3.25, "alarm", "pump stall A?S — été", "instrument")],
        "injections": [Injection(1.0, "S001", 20.0),
                       Injection(2.5, "STD1", 20.0, "B", "standard:1.0")],
        "fractions": [Fraction(1, 0.0, 1200.0, 25.0, "S001"),
                      Fraction(2, 1200.0, 2400.0, 25.0, "S002")],
        "pump": [PumpState(0.0, 1.25, 0.0, "infusing"), PumpState(10.0, 1.25, 0.208, "infusing")],
        "results": [SampleResult("S001", 1.0, "5-HT", 412.5, 3.2, 0.11, 25.0, 0.52, 10.4, 100.0,
                                 ""),
                    SampleResult("S002", 2.5, "5-HT", nan, 0.0, 0.0, 0.0, nan, nan, nan,
                                 "not_found")],
    }


def held(events, t0: float, t1: float) -> float:
    """Session seconds between ``t0`` and ``t1`` the run was held (paused), from its
    ``state`` events: a lost link holds the schedule until it is back."""
    total, since = 0.0, None
    for e in sorted((e for e in events if e.kind == "state"), key=lambda e: e.t):
        if e.text.startswith("paused") and since is None:
            since = e.t
        elif not e.text.startswith("paused") and since is not None:
            total += max(0.0, min(e.t, t1) - max(since, t0))
            since = None
    if since is not None:
        total += max(0.0, t1 - max(since, t0))
    return total
