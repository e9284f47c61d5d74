"""The simulated world: valve switches inject the loop, ground truth is recorded."""

from __future__ import annotations

import enum
import json
import math
from dataclasses import replace

import numpy as np
import pytest

from raphe.simulators.drugs import Dose, parse_dose_spec, parse_regimen_spec
from raphe.simulators.hplc import HPLCParams
from raphe.simulators.world import SimulatedWorld

QUIET = replace(HPLCParams(), white_noise_pA=0.0, pink_noise_pA=0.0, injection_cv=0.0, clean=True)


class Position(enum.Enum):  # shaped like raphe.drivers.base.ValvePosition
    LOAD = "A"
    INJECT = "B"


def run_online(world: SimulatedWorld, n: int, interval_s: float = 1200.0) -> None:
    for k in range(1, n + 1):
        world.on_valve("inject", k * interval_s, sample_id=f"S{k:02d}")
        world.on_valve("load", k * interval_s + 120.0)


def area_5ht(world: SimulatedWorld, t_inj: float) -> float:
    s = world.hplc.shape("5-HT")
    x = np.arange(s.rt_s - 80, s.rt_s + 200, 0.1)
    y = world.nA(t_inj + x)
    line = np.interp(x, [x[0], x[-1]], [y[0], y[-1]])
    return float(np.trapezoid(y - line, x))


def test_injection_puts_the_loop_on_column_and_records_truth():
    world = SimulatedWorld(lambda t: 1.0, seed=1, hplc_params=QUIET)
    run_online(world, 6)
    assert [g.sample_id for g in world.ground_truth] == [f"S{k:02d}" for k in range(1, 7)]
    for g in world.ground_truth[2:]:
        assert g.kind == "sample"
        assert g.fmol == pytest.approx(g.nM * 20.0)
        assert g.probe_t_end == pytest.approx(g.t_inject - 300.0)  # 5 µL dead volume
        assert area_5ht(world, g.t_inject) == pytest.approx(0.11 * g.fmol, rel=0.01)


def test_basal_samples_land_in_the_literature_range():
    for seed in range(10):
        world = SimulatedWorld(lambda t: 1.2, seed=seed, hplc_params=QUIET)
        run_online(world, 5)
        for g in world.ground_truth[1:]:
            assert 0.2 < g.nM < 1.0
            assert 2.0 < g.fmol < 20.0
            assert 10.0 < 0.09 * g.amount_fmol["5-HIAA"] < 100.0  # tens of nA·s


def test_only_a_load_to_inject_switch_injects():
    world = SimulatedWorld(lambda t: 1.0, hplc_params=QUIET)
    assert world.on_valve(Position.LOAD, 100.0) is None
    first = world.on_valve(Position.INJECT, 1500.0)
    assert first is not None and first.index == 1
    assert world.on_valve("B", 1600.0) is None  # already injecting
    assert world.on_valve("A", 1700.0) is None
    assert world.on_valve("INJECT", 2500.0).index == 2
    assert len(world.hplc.injections) == 2
    with pytest.raises(ValueError, match="unknown valve position 'C'"):
        world.on_valve("C", 3000.0)


def test_a_loaded_standard_is_injected_once():
    world = SimulatedWorld(lambda t: 1.0, hplc_params=QUIET)
    world.load_standard(2.0)
    std = world.on_valve("inject", 1000.0)
    world.on_valve("load", 1100.0)
    sample = world.on_valve("inject", 3000.0)
    assert std.kind == "standard:5-HT=2nM"
    assert std.fmol == pytest.approx(40.0)
    assert math.isnan(std.probe_t_start)
    assert sample.kind == "sample"
    assert area_5ht(world, 1000.0) == pytest.approx(0.11 * 40.0, rel=0.01)
    with pytest.raises(ValueError, match="standard concentration"):
        world.load_standard(-1.0)


def test_drug_moves_the_ground_truth():
    world = SimulatedWorld(lambda t: 1.0, seed=2, hplc_params=QUIET)
    world.administer(parse_dose_spec("fluoxetine:10:ip@0"), t=80 * 60.0)
    run_online(world, 12)
    base = np.mean([g.nM for g in world.ground_truth[1:4]])
    peak = max(g.nM for g in world.ground_truth[4:])
    assert 1.5 < peak / base < 4.0
    assert world.animal.doses[0].minute == pytest.approx(80.0)


def test_same_seed_same_world():
    def build(seed):
        world = SimulatedWorld(lambda t: 1.0, region="ventral_hippocampus", seed=seed)
        world.administer(Dose("ipsapirone", 1.0, "sc", 60.0))
        run_online(world, 8)
        return world

    a, b, c = build(7), build(7), build(8)
    t = np.arange(0, 10000, 0.5)
    def key(world):
        return [(g.t_inject, g.nM, g.fmol, g.amount_fmol, g.probe_t_end) for g in world.ground_truth]

    assert key(a) == key(b)
    assert np.array_equal(a.volts(t), b.volts(t))
    assert not np.allclose(a.volts(t), c.volts(t))
    assert [g.nM for g in a.ground_truth] != [g.nM for g in c.ground_truth]


def test_fractions_and_the_jsonl_log(tmp_path):
    log = tmp_path / "truth.jsonl"
    world = SimulatedWorld(lambda t: 1.5, seed=3, log_path=log)
    world.administer(Dose("citalopram", 10.0, "ip", 40.0))
    tube = world.on_fraction(1, 1200.0, 2400.0)
    world.on_valve("inject", 60.0)  # before the tubing is flushed: blank perfusate part
    world.close()
    assert tube.volume_uL == pytest.approx(30.0)
    assert tube.fmol == pytest.approx(tube.nM * 30.0)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["event"] for r in rows] == ["dose", "fraction", "injection"]
    assert rows[0]["dose"] == "citalopram:10:ip@40"
    assert rows[1]["fmol"] == pytest.approx(tube.fmol)
    assert rows[2]["probe_t_start"] is None  # NaN is written as null
    assert rows[2]["fmol"] == pytest.approx(world.ground_truth[0].fmol)


def test_a_dosing_history_reaches_the_animal_and_the_log(tmp_path):
    log = tmp_path / "truth.jsonl"
    history = [parse_regimen_spec("citalopram:10:ip:2x14")]
    world = SimulatedWorld(lambda t: 1.0, seed=1, log_path=log, history=history)
    world.close()
    assert world.animal.history == tuple(history)
    assert world.animal.desensitisation > 0.2
    (row,) = [json.loads(line) for line in log.read_text().splitlines()]
    assert row["event"] == "history" and row["regimen"] == "citalopram:10:ip:2x14"


def test_reverse_dialysis_as_a_protocol_gives_it(tmp_path):
    """administer(Dose, t) with route rd and the perfusate switched back later."""
    log = tmp_path / "truth.jsonl"
    world = SimulatedWorld(lambda t: 1.0, region="prefrontal-cortex", seed=4, log_path=log,
                           hplc_params=QUIET)
    base = world.animal.extracellular_nM(3000.0)
    world.administer(Dose("citalopram", 1.0, "rd", 0.0), t=3600.0)
    assert world.animal.extracellular_nM(2 * 3600.0) > 2.0 * base
    assert world.animal.firing(2 * 3600.0) == pytest.approx(world.animal.firing(3000.0), rel=0.05)
    world.end_reverse_dialysis("citalopram", 2 * 3600.0)
    assert world.animal.extracellular_nM(4 * 3600.0) == pytest.approx(base, rel=0.15)
    world.close()
    events = [json.loads(line)["event"] for line in log.read_text().splitlines()]
    assert events == ["dose", "end_reverse_dialysis"]
