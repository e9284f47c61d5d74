"""The trace's histories: the live one (ring + in-memory pyramid) draws what the store's
display pyramid draws, keeps its memory bounded, and keeps gaps as gaps."""

from __future__ import annotations

import numpy as np
import pytest

from raphe.acquisition.reader import SessionReader
from raphe.acquisition.session import Session
from raphe.gui.app.history import FileHistory, LiveHistory
from raphe.records import DetectorBlock

DT = 0.1


def blocks(n_blocks: int, size: int, seed: int = 1, t0: float = 0.0, index0: int = 0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_blocks):
        values = rng.normal(2.0, 0.1, size)
        values[rng.integers(0, size)] += rng.normal(0, 3)  # spikes the envelope must keep
        out.append(DetectorBlock(index0 + i * size, t0 + i * size * DT, DT, values))
    return out


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    data = blocks(600, 137)  # 82,200 samples: 2.3 h at 10 Hz, in uneven blocks
    path = tmp_path_factory.mktemp("history") / "s.h5"
    with Session.create(path, signal_dt=DT) as session:
        for b in data:
            session.add_block(b)
    return data, path


@pytest.mark.parametrize(("t0", "t1", "n"), [
    (1000.0, 1060.0, 800), (3333.3, 7000.0, 300), (100.0, 5000.0, 4000), (0.0, 8000.0, 1500)])
def test_live_history_draws_what_the_store_pyramid_draws(stream, t0, t1, n):
    data, path = stream
    live = LiveHistory(ring_samples=1 << 17)
    for b in data:
        live.append(b)
    with SessionReader(path) as reader:
        expected = FileHistory(reader).display(t0, t1, n)
        assert live.t_range == pytest.approx(reader.t_range)
    got = live.display(t0, t1, n)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)
    assert len(got[0]) <= n


def test_the_live_edge_is_drawn_as_finely_as_it_can_be(stream):
    """The store closes its last partial bins at the end; live, the newest samples are not
    in a complete bin yet and come from finer levels, down to the raw ring."""
    data, path = stream
    live = LiveHistory()
    for b in data:
        live.append(b)
    values = np.concatenate([b.values for b in data])
    with SessionReader(path) as reader:
        t_end = reader.t_range[1]
        expected = FileHistory(reader).display(0.0, t_end, 1500)
    got = live.display(0.0, t_end, 1500)
    assert len(got[0]) <= 1500 and np.all(np.diff(got[0]) > 0)
    assert got[1].min() == expected[1].min() == values.min()
    assert got[2].max() == expected[2].max() == values.max()
    same = len(expected[0]) - 4
    np.testing.assert_array_equal(got[1][:same], expected[1][:same])


def test_old_samples_leave_the_ring_but_keep_their_envelope(stream):
    data, _ = stream
    live = LiveHistory(ring_samples=4096)
    for b in data:
        live.append(b)
    values = np.concatenate([b.values for b in data])
    times = np.concatenate([b.times for b in data])
    # zoomed in on an old stretch: no raw samples left, the finest envelope level answers
    t, mins, maxs = live.display(500.0, 560.0, 2000)
    inside = (times >= 500.0) & (times <= 560.0)
    assert 0 < len(t) < inside.sum()
    assert mins.min() == pytest.approx(values[inside].min(), abs=0.3)
    assert maxs.max() >= values[inside].max() - 1e-9
    # the newest samples are still drawn one by one
    t, mins, maxs = live.display(times[-200], times[-1], 2000)
    np.testing.assert_array_equal(mins, values[-200:])
    assert live.ring_samples == 4096  # bounded: the ring does not grow


def test_a_gap_in_the_stream_stays_a_gap():
    live = LiveHistory()
    first = blocks(10, 100)
    later = blocks(10, 100, seed=2, t0=500.0, index0=5000)  # 400 s missing
    for b in first + later:
        live.append(b)
    t, _mins, _ = live.display(0.0, 700.0, 5000)
    assert np.all(np.diff(t) > 0)
    assert not np.any((t > 100.0) & (t < 500.0))
    assert t[-1] == pytest.approx(500.0 + 999 * DT)
    assert live.last_value == later[-1].values[-1]


def test_overloaded_samples_are_not_drawn():
    values = np.full(50, 2.0)
    overload = np.zeros(50, bool)
    overload[10:20] = True
    live = LiveHistory()
    live.append(DetectorBlock(0, 0.0, DT, values, overload))
    _, mins, _ = live.display(0.0, 5.0, 1000)
    assert np.isnan(mins[10:20]).all() and np.isfinite(mins[:10]).all()
