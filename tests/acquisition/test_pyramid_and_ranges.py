"""Pyramid levels and time-range reads, checked against plain numpy on random streams."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raphe.acquisition.pyramid import PyramidBuilder, query
from raphe.acquisition.reader import SessionReader
from raphe.acquisition.session import Session

from session_helpers import blocks


def one_shot(values: np.ndarray, factor: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    size = factor ** k
    full = len(values) - len(values) % size
    v = values[:full].reshape(-1, size)
    return np.fmin.reduce(v, axis=1), np.fmax.reduce(v, axis=1)


@given(st.lists(st.integers(0, 300), max_size=40), st.integers(0, 2**32 - 1))
def test_incremental_levels_equal_one_shot(chunks, seed):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=sum(chunks))
    values[rng.random(len(values)) < 0.1] = np.nan
    builder = PyramidBuilder(4, 3)
    got = [([], []) for _ in range(3)]
    start = 0
    for n in chunks:
        for k, (mins, maxs) in enumerate(builder.feed(values[start:start + n])):
            got[k][0].append(mins)
            got[k][1].append(maxs)
        start += n
    for k in range(3):
        want_min, want_max = one_shot(values, 4, k + 1)
        np.testing.assert_array_equal(np.concatenate(got[k][0] or [np.empty(0)]), want_min)
        np.testing.assert_array_equal(np.concatenate(got[k][1] or [np.empty(0)]), want_max)
    tails = builder.finish()
    for k, (mins, maxs) in enumerate(tails):
        rest = values[len(one_shot(values, 4, k + 1)[0]) * 4 ** (k + 1):]
        if len(rest):
            assert mins[0] == np.fmin.reduce(rest) or np.isnan(rest).all()
            assert maxs[0] == np.fmax.reduce(rest) or np.isnan(rest).all()
        else:
            assert len(mins) == 0


@given(st.integers(1, 5000), st.integers(0, 5000), st.integers(0, 5000), st.integers(1, 300),
       st.integers(0, 2**32 - 1))
def test_query_envelopes_the_range_in_at_most_n_points(n, a, b, n_points, seed):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=n)
    builder = PyramidBuilder(4, 4)
    levels = [(np.concatenate([m]), np.concatenate([x])) for m, x in builder.feed(values)]
    p0, p1 = sorted((min(a, n), min(b, n)))
    pos, mins, maxs = query(levels, values, n, p0, p1, n_points, 4)
    if p1 == p0:
        assert len(pos) == 0
        return
    assert 1 <= len(pos) <= n_points
    assert np.all(np.diff(pos) > 0) and pos[0] == p0 and pos[-1] < p1
    # Every sample in the range lies inside the envelope of the bin holding it.
    which = np.searchsorted(pos, np.arange(p0, p1), side="right") - 1
    assert np.all(mins[which] <= values[p0:p1]) and np.all(values[p0:p1] <= maxs[which])
    # Bins never stray further than one coarse bin outside the range.
    assert mins.min() >= values[max(0, p0 - 4**4):p1 + 4**4].min()
    if p1 - p0 <= n_points:  # full resolution: exact samples
        np.testing.assert_array_equal(mins, values[p0:p1])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.integers(1, 60), min_size=1, max_size=15), st.floats(-1, 40),
       st.floats(-1, 40))
def test_signal_time_ranges_match_numpy(tmp_path_factory, sizes, ta, tb):
    path = tmp_path_factory.mktemp("r") / "s.h5"
    bl = blocks(sizes, dt=0.05, t_start=3.0)
    with Session.create(path, signal_dt=0.05) as s:
        for b in bl:
            s.add_block(b)
    all_t = np.concatenate([b.times for b in bl])
    all_v = np.concatenate([b.values for b in bl])
    t_start, t_end = sorted((ta, tb))
    with SessionReader(path) as r:
        t, v = r.signal(t_start, t_end)
        keep = (all_t >= t_start - 1e-9) & (all_t <= t_end + 1e-9)
        np.testing.assert_allclose(t, all_t[keep], atol=1e-9)
        np.testing.assert_array_equal(v, all_v[keep])
        td, mins, maxs = r.signal_display(t_start, t_end, n_points=7)
        assert len(td) <= 7
        if keep.any() and not np.isnan(all_v[keep]).all():
            assert np.nanmin(mins) <= np.nanmin(all_v[keep])
            assert np.nanmax(maxs) >= np.nanmax(all_v[keep])


def test_day_long_trace_at_display_resolution(tmp_path):
    """A 24 h, 10 Hz trace: ~2,000 bins whose envelope is the trace's own min and max."""
    path = tmp_path / "day.h5"
    n = 864_000
    rng = np.random.default_rng(1)
    values = rng.normal(size=n)
    values[123_456] = 50.0
    values[700_001] = -50.0
    with Session.create(path, signal_dt=0.1) as s:
        step = 36_000
        for i in range(0, n, step):
            from raphe.records import DetectorBlock

            s.add_block(DetectorBlock(i, i * 0.1, 0.1, values[i:i + step]))
    with SessionReader(path) as r:
        t, mins, maxs = r.signal_display(None, None, n_points=2000)
        assert 1000 <= len(t) <= 2000
        assert mins.min() == -50.0 and maxs.max() == 50.0
        assert t[0] == 0.0 and t[-1] < 86_400
        t, mins, maxs = r.signal_display(12_345.0, 12_400.0, n_points=2000)
        np.testing.assert_array_equal(mins, values[123_450:124_001])
