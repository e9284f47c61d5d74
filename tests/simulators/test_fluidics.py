"""Fluid path: dead-volume delay at the current flow, loop and tube contents."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raphe.simulators.fluidics import Fluidics


def constant(nM: float):
    return lambda t, q: {"5-HT": np.full_like(np.asarray(t, dtype=float), nM)}


def step_at(ts: float, nM: float = 1.0):
    return lambda t, q: {"5-HT": np.where(np.asarray(t) >= ts, nM, 0.0)}


def test_constant_source_fills_loop_with_its_concentration():
    f = Fluidics(constant(0.5), lambda t: 1.0, dead_volume_uL=5.0)
    c = f.loop_content(3600.0, 20.0)
    assert c.nM == pytest.approx(0.5, rel=1e-9)
    assert c.fmol == pytest.approx(10.0, rel=1e-9)  # 0.5 nM × 20 µL
    assert c.volume_uL == 20.0
    assert c.t_start == pytest.approx(3600.0 - 1200.0)
    assert c.probe_t_end == pytest.approx(3600.0 - 300.0)  # 5 µL at 1 µL/min


def test_dead_volume_delays_a_step_by_volume_over_flow():
    f = Fluidics(step_at(1000.0), lambda t: 1.0, dead_volume_uL=5.0, step_s=1.0)
    # the front reaches the outlet 300 s later; 600 s after that the 20 µL loop is half new
    assert f.loop_content(1000.0 + 300.0 + 600.0, 20.0).nM == pytest.approx(0.5, abs=2e-3)
    assert f.loop_content(1000.0 + 300.0, 20.0).nM == pytest.approx(0.0, abs=2e-3)
    assert f.delay_s(2000.0) == pytest.approx(300.0)


def test_delay_follows_a_changing_flow():
    flow = lambda t: np.where(np.asarray(t) < 1800.0, 1.0, 2.0)
    f = Fluidics(constant(1.0), flow, dead_volume_uL=5.0, step_s=1.0)
    assert f.delay_s(1700.0) == pytest.approx(300.0, abs=1.0)
    assert f.delay_s(3000.0) == pytest.approx(150.0, abs=1.0)
    # across the change: 1 µL at 2 µL/min (30 s) after 4 µL at 1 µL/min (240 s)
    assert f.delay_s(1830.0) == pytest.approx(270.0, abs=1.5)


def test_tubing_holds_blank_perfusate_at_start():
    f = Fluidics(constant(1.0), lambda t: 1.0, dead_volume_uL=5.0)
    early = f.loop_content(600.0, 20.0)  # 10 µL pumped, 5 of them still blank
    assert early.fmol == pytest.approx(5.0, rel=1e-6)
    assert early.nM == pytest.approx(0.25, rel=1e-6)  # 5 fmol in the 20 µL loop
    assert np.isnan(early.probe_t_start)


def test_tube_holds_what_flowed_during_its_interval():
    f = Fluidics(constant(0.8), lambda t: 1.5, dead_volume_uL=3.0)
    tube = f.tube_content(3600.0, 3600.0 + 1200.0)
    assert tube.volume_uL == pytest.approx(30.0)
    assert tube.nM == pytest.approx(0.8)
    assert tube.fmol == pytest.approx(24.0)


def test_stopped_pump_collects_nothing():
    flow = lambda t: np.where((np.asarray(t) >= 1000) & (np.asarray(t) < 2000), 0.0, 1.0)
    f = Fluidics(constant(1.0), flow, step_s=1.0)
    tube = f.tube_content(1100.0, 1900.0)
    assert tube.volume_uL == pytest.approx(0.0, abs=1e-9)
    assert tube.fmol == pytest.approx(0.0, abs=1e-9)
    assert tube.nM == 0.0


def test_scalar_only_flow_callable_is_accepted():
    def rate(t: float) -> float:
        if t < 600.0:  # fails on arrays, like a pump's rate history lookup
            return 1.0
        return 2.0

    f = Fluidics(constant(1.0), rate, step_s=10.0)
    assert f.volume_uL(1200.0) == pytest.approx(10.0 + 20.0, abs=0.2)


def test_source_sees_the_flow():
    seen = []

    def source(t, q):
        seen.append(q.copy())
        return {"5-HT": 1.0 / q}  # recovery falling with flow

    f = Fluidics(source, lambda t: 2.0)
    assert f.tube_content(600.0, 1200.0).nM == pytest.approx(0.5)
    assert np.all(seen[-1] == 2.0)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="dead volume"):
        Fluidics(constant(1.0), lambda t: 1.0, dead_volume_uL=-1.0)
    f = Fluidics(constant(1.0), lambda t: 1.0)
    with pytest.raises(ValueError, match="loop volume"):
        f.loop_content(100.0, 0.0)
    with pytest.raises(ValueError, match="ends before it starts"):
        f.tube_content(200.0, 100.0)


@settings(max_examples=30, deadline=None)
@given(
    rates=st.lists(st.floats(0.0, 3.0), min_size=1, max_size=5),
    cut=st.floats(0.05, 0.95),
    dead=st.floats(0.0, 10.0),
)
def test_consecutive_tubes_add_up(rates, cut, dead):
    edges = np.linspace(0, 7200.0, len(rates) + 1)[1:-1]

    def flow(t):
        return np.asarray(rates)[np.searchsorted(edges, np.asarray(t), side="right")]

    source = lambda t, q: {"5-HT": 0.2 + np.asarray(t) / 3600.0}
    f = Fluidics(source, flow, dead_volume_uL=dead, step_s=5.0)
    a, c = 600.0, 7200.0
    b = a + cut * (c - a)
    whole, first, second = f.tube_content(a, c), f.tube_content(a, b), f.tube_content(b, c)
    assert first.volume_uL + second.volume_uL == pytest.approx(whole.volume_uL, abs=1e-6)
    assert first.fmol + second.fmol == pytest.approx(whole.fmol, abs=1e-6)
    assert whole.volume_uL >= 0 and whole.fmol >= 0
