"""What the session stream tells the live analysis besides the signal: probe time,
perfusion, lost readings, calibration refits, and which samples make the baseline.

Every decision must be the same live and on replay, whatever the block boundaries."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from raphe.acquisition.analysis import flags as fl
from raphe.acquisition.analysis import synthetic as sy
from raphe.acquisition.analysis.method import load_method, parse_method
from raphe.acquisition.analysis.percent_of_baseline import BaselineRule, PercentOfBaseline
from raphe.acquisition.analysis.quantifier import merge_stream, replay
from raphe.records import DetectorBlock, Event, Injection, SampleResult

DT = 0.1
METHOD = load_method("simulated-5ht")
RUN = METHOD.run_length_s


def _signal(plan, duration, seed=3):
    return sy.assay_session(plan, duration, np.random.default_rng(seed), DT)


def _blocks(y, size, skip=()):
    """Blocks of ``size`` samples; blocks starting in a ``skip`` (t0, t1) span are lost."""
    out = []
    for i in range(0, len(y), size):
        t0 = i * DT
        if any(a <= t0 < b for a, b in skip):
            continue
        out.append(DetectorBlock(i, t0, DT, y[i:i + size].copy()))
    return out


def _run(plan, injections, events, duration, size=100, method=METHOD, skip=(), **kw):
    _, y = _signal(plan, duration)
    calibrations = []
    q = replay(merge_stream(_blocks(y, size, skip), injections, events), method,
               on_calibration=lambda t, a, fit: calibrations.append((t, a, fit)), **kw)
    return q, calibrations


def _ht(q):
    return {r.sample_id: r for r in q.results if r.analyte == "5-HT"}


def _plan(n, start=30.0, every=1000.0, fmol=10.0, kind="sample", prefix="S"):
    return [sy.PlannedInjection(start + every * k, f"{prefix}{k + 1}", kind, 20.0, fmol)
            for k in range(n)]


def _injections(plan, windows=None):
    windows = windows or {}
    return [Injection(p.t, p.sample_id, p.volume_uL, "B", p.kind,
                      *windows.get(p.sample_id, (math.nan, math.nan))) for p in plan]


# -- probe time ------------------------------------------------------------------------

def test_probe_time_is_copied_into_every_result():
    plan = _plan(2)
    inj = _injections(plan, {"S1": (-600.0, 0.0)})
    q, _ = _run(plan, inj, [], 2100.0)
    s1 = [r for r in q.results if r.sample_id == "S1"]
    assert s1 and all(r.probe_t == -300.0 for r in s1)
    assert all(math.isnan(r.probe_t) for r in q.results if r.sample_id == "S2")


# -- perfusion ---------------------------------------------------------------------------

PERFUSION_PLAN = _plan(4)
#: probe windows: S1 before perfusion started, S2 and S4 perfused, S3 across a stall
WINDOWS = {"S1": (-900.0, -300.0), "S2": (200.0, 800.0), "S3": (1200.0, 1800.0),
           "S4": (2300.0, 2900.0)}
PERFUSION = [Event(0.0, "perfusion", "started at 1.25 µL/min", "instrument"),
             Event(1500.0, "perfusion", "stopped: pump stalled", "instrument"),
             Event(1600.0, "perfusion", "restored", "instrument")]


def test_unfilled_and_perfusion_stopped_flags():
    q, _ = _run(PERFUSION_PLAN, _injections(PERFUSION_PLAN, WINDOWS), PERFUSION, 4100.0)
    ht = _ht(q)
    assert fl.parse(ht["S1"].flags) == ("unfilled",)
    assert ht["S2"].flags == "" and ht["S4"].flags == ""
    assert fl.parse(ht["S3"].flags) == ("perfusion_stopped",)
    # excluded: no %, and not in the baseline mean (S2 and S4 form the baseline)
    assert math.isnan(ht["S1"].pct_baseline) and math.isnan(ht["S3"].pct_baseline)
    mean = (ht["S2"].conc_nM + ht["S4"].conc_nM) / 2
    assert ht["S2"].pct_baseline == pytest.approx(100 * ht["S2"].conc_nM / mean)
    assert ht["S4"].pct_baseline == pytest.approx(100 * ht["S4"].conc_nM / mean)
    (ref,) = {(r.mean, r.n, r.samples, r.final) for r in q.references[-1:]}
    assert ref == (pytest.approx(mean), 2, "S2,S4", 1)  # final at the end of the session
    # every analyte of the sample carries the flag, and the area is still measured
    assert all("perfusion_stopped" in r.flags for r in q.results if r.sample_id == "S3")
    assert math.isfinite(ht["S3"].area)


def test_no_perfusion_flags_without_events_or_windows():
    q, _ = _run(PERFUSION_PLAN, _injections(PERFUSION_PLAN, WINDOWS), [], 4100.0)
    assert all(r.flags == "" for r in _ht(q).values())
    q, _ = _run(PERFUSION_PLAN, _injections(PERFUSION_PLAN), PERFUSION, 4100.0)
    assert all(r.flags == "" for r in _ht(q).values())  # windows unknown


def test_perfusion_lost_until_the_session_ends():
    events = PERFUSION[:1] + [Event(2000.0, "perfusion", "stopped: syringe empty", "instrument")]
    q, _ = _run(PERFUSION_PLAN, _injections(PERFUSION_PLAN, WINDOWS), events, 4100.0)
    ht = _ht(q)
    assert ht["S3"].flags == "" and fl.parse(ht["S4"].flags) == ("perfusion_stopped",)


def test_a_stop_before_the_first_start_is_unfilled():
    events = [Event(-1000.0, "perfusion", "stopped: pump unreachable", "instrument"),
              Event(100.0, "perfusion", "started", "instrument")]
    q, _ = _run(PERFUSION_PLAN, _injections(PERFUSION_PLAN, WINDOWS), events, 4100.0)
    ht = _ht(q)
    assert fl.parse(ht["S1"].flags) == ("unfilled",)
    assert ht["S2"].flags == ""  # 200–800 s: perfused since 100 s


# -- lost readings -----------------------------------------------------------------------

def test_gap_event_flags_the_run_it_falls_in():
    plan = _plan(3)
    gap = Event(1300.0, "gap", "detector unreachable", "instrument", t_end=1320.0)
    q, _ = _run(plan, _injections(plan), [gap], 3100.0)
    ht = _ht(q)
    assert fl.parse(ht["S2"].flags) == ("gap",)
    assert ht["S1"].flags == "" and ht["S3"].flags == ""
    assert math.isnan(ht["S2"].pct_baseline)
    mean = (ht["S1"].conc_nM + ht["S3"].conc_nM) / 2
    assert ht["S3"].pct_baseline == pytest.approx(100 * ht["S3"].conc_nM / mean)


def test_readings_missing_from_the_stream_are_a_gap():
    plan = _plan(3)
    q, _ = _run(plan, _injections(plan), [], 3100.0, size=100, skip=[(2400.0, 2420.0)])
    ht = _ht(q)
    assert fl.parse(ht["S3"].flags) == ("gap",)
    assert ht["S1"].flags == "" and ht["S2"].flags == ""


# -- calibration refits ------------------------------------------------------------------

def _refit_method(calibration_text: str):
    head, _, _ = METHOD.text.partition("[peaks.calibration]")
    return parse_method(head + calibration_text, "refit.toml")


def test_refit_from_session_standards_is_used_for_later_results():
    method = _refit_method('[peaks.calibration]\nmodel = "linear"\nweighting = "1/x"\n')
    levels = [2.0, 5.0, 10.0, 20.0]
    plan = [sy.PlannedInjection(30.0 + 1000 * k, f"STD{k + 1}", f"standard:{f / 20:g}", 20.0, f)
            for k, f in enumerate(levels)]
    plan += [sy.PlannedInjection(4030.0, "S1", "sample", 20.0, 8.0),
             sy.PlannedInjection(5030.0, "S2", "sample", 20.0, 12.0)]
    refit_at = 3500.0  # after the last standard's injection, before its run closes
    events = [Event(refit_at, "calibration", "refit", "protocol")]
    q, fits = _run(plan, _injections(plan), events, 6100.0, method=method)
    ht = _ht(q)
    # before the refit there is no calibration: uncalibrated, no amount
    assert "uncalibrated" in ht["STD1"].flags and math.isnan(ht["STD1"].amount_fmol)
    (t, analyte, fit), = [f for f in fits if f[1] == "5-HT"]
    assert (t, analyte) == (refit_at, "5-HT")
    json.dumps(fit)  # JSON-ready
    assert fit["n"] == 4 and fit["weighting"] == "1/x" and fit["model"] == "linear"
    assert fit["slope"] == pytest.approx(0.11, rel=0.03)
    assert fit["r_squared"] > 0.99 and fit["lod_fmol"] < fit["loq_fmol"]
    assert [s["sample_id"] for s in fit["standards"] if s["used"]] == [
        "STD1", "STD2", "STD3", "STD4"]
    assert ht["S1"].amount_fmol == pytest.approx(8.0, rel=0.05)
    assert ht["S2"].conc_nM == pytest.approx(12.0 / 20.0, rel=0.05)
    assert "uncalibrated" not in ht["S1"].flags
    assert {f[1] for f in fits} == {p.name for p in method.peaks if p.calibrated}


def test_refit_replaces_the_method_calibration_and_waits_for_open_runs():
    head, _, _ = METHOD.text.partition("[peaks.calibration]")
    # the method's own standards say twice the true response: amounts come out halved
    method = parse_method(head + '[peaks.calibration]\nmodel = "origin"\nstandards = [\n'
                          '  { conc_nM = 0.5, volume_uL = 20.0, area = 2.2 },\n'
                          '  { conc_nM = 1.0, volume_uL = 20.0, area = 4.4 },\n]\n', "m.toml")
    plan = [sy.PlannedInjection(30.0, "S0", "sample", 20.0, 10.0),
            sy.PlannedInjection(1030.0, "STD1", "standard:0.25", 20.0, 5.0),
            sy.PlannedInjection(2030.0, "STD2", "standard:1", 20.0, 20.0),
            sy.PlannedInjection(3030.0, "S1", "sample", 20.0, 10.0)]
    # the refit comes right after STD2 is injected: its run is still open
    events = [Event(2040.0, "calibration", "refit", "operator")]
    results = {}
    for size in (100, 777):
        q, fits = _run(plan, _injections(plan), events, 4100.0, size=size, method=method)
        results[size] = ([repr(r) for r in q.results], repr(fits))
        ht = _ht(q)
        assert ht["S0"].amount_fmol == pytest.approx(5.0, rel=0.05)  # old calibration
        assert ht["STD2"].amount_fmol == pytest.approx(10.0, rel=0.05)  # still the old one
        assert ht["S1"].amount_fmol == pytest.approx(10.0, rel=0.05)  # the refit
        (_, _, fit), = [f for f in fits if f[1] == "5-HT"]
        assert fit["n"] == 2 and fit["slope"] == pytest.approx(0.11, rel=0.03)
    assert results[100] == results[777]  # identical whatever the block boundaries


def test_refit_that_cannot_fit_keeps_the_old_calibration_and_says_why():
    plan = [sy.PlannedInjection(30.0, "STD1", "standard:0.5", 20.0, 10.0),
            sy.PlannedInjection(1030.0, "S1", "sample", 20.0, 10.0)]
    events = [Event(500.0, "calibration", "refit", "operator")]
    q, fits = _run(plan, _injections(plan), events, 2100.0)
    (_, _, fit), = [f for f in fits if f[1] == "5-HT"]
    assert "error" in fit and "slope" not in fit and fit["n"] == 1
    assert _ht(q)["S1"].amount_fmol == pytest.approx(10.0, rel=0.05)  # the method's fit


def test_standards_with_excluding_flags_are_left_out_of_a_refit():
    plan = [sy.PlannedInjection(30.0, "STD1", "standard:0.25", 20.0, 5.0),
            sy.PlannedInjection(1030.0, "STD2", "standard:0.5", 20.0, 10.0),
            sy.PlannedInjection(2030.0, "STD3", "standard:1", 20.0, 20.0)]
    gap = Event(1640.0, "gap", "lost", "instrument", t_end=1650.0)  # during STD2's 5-HT
    events = [gap, Event(2500.0, "calibration", "refit", "operator")]
    _, fits = _run(plan, _injections(plan), events, 3100.0)
    (_, _, fit), = [f for f in fits if f[1] == "5-HT"]
    assert [s["sample_id"] for s in fit["standards"] if s["used"]] == ["STD1", "STD3"]
    assert [(s["sample_id"], s["reason"]) for s in fit["standards"] if not s["used"]] == [
        ("STD2", "gap")]


# -- % of baseline -----------------------------------------------------------------------

def _inj(sample_id, t, window=(math.nan, math.nan)):
    return Injection(t, sample_id, 20.0, "B", "sample", *window)


def test_baseline_by_probe_window_against_the_first_drug():
    b = BaselineRule()
    b.on_event(Event(3000.0, "drug", "fluoxetine 10 mg/kg i.p."))
    assert b.is_baseline(_inj("A", 3200.0, (2000.0, 2900.0)))  # left the probe before the drug
    assert not b.is_baseline(_inj("B", 3200.0, (2500.0, 3100.0)))  # reaches past it
    assert b.is_baseline(_inj("C", 2900.0))  # window unknown: injection time
    assert not b.is_baseline(_inj("D", 3100.0))


def test_baseline_by_the_phase_the_sample_was_collected_in():
    b = BaselineRule()
    b.on_event(Event(0.0, "phase", "equilibration"))
    b.on_event(Event(1000.0, "phase", "baseline"))
    b.on_event(Event(3000.0, "phase", "post-drug"))
    b.on_event(Event(3000.0, "drug", "ipsapirone"))
    assert not b.is_baseline(_inj("A", 1000.0, (400.0, 900.0)))  # collected in equilibration
    # Collected from 1000 s in the baseline phase; its dialysate left the probe earlier (the
    # dead volume): still the first baseline sample.
    assert b.is_baseline(_inj("A2", 1500.0, (900.0, 1400.0)))
    assert b.is_baseline(_inj("B", 3050.0, (1500.0, 2900.0)))  # injected after: still baseline
    assert not b.is_baseline(_inj("C", 3300.0, (2800.0, 3200.0)))  # reaches past the drug
    assert b.is_baseline(_inj("D", 1200.0))  # window unknown: phase at injection
    explicit = BaselineRule(("C",))
    assert explicit.is_baseline(_inj("C", 3300.0, (2800.0, 3200.0)))
    assert not explicit.is_baseline(_inj("B", 3050.0, (1500.0, 2900.0)))


def _result(sample_id, t):
    return SampleResult(sample_id, t, "5-HT", 300.0, 1.0, 0.1, 20.0, math.nan, math.nan,
                        math.nan, "")


def test_every_sample_is_against_the_whole_baseline_and_excluded_ones_add_nothing():
    reported, references = {}, []
    p = PercentOfBaseline(emit=lambda r: reported.__setitem__(r.sample_id, r),
                          on_reference=references.append)
    p.report(_result("A", 10.0), _inj("A", 10.0), 2.0, "nM", False, 100.0)
    assert reported["A"].pct_baseline == 100.0 and reported["A"].baseline == 1
    p.report(_result("B", 20.0), _inj("B", 20.0), 100.0, "nM", True, 200.0)  # excluded
    assert math.isnan(reported["B"].pct_baseline) and reported["B"].baseline == 1
    p.report(_result("C", 30.0), _inj("C", 30.0), 4.0, "nM", False, 300.0)
    # A is revised against the mean of A and C: the baseline averages 100 %
    assert reported["A"].pct_baseline == pytest.approx(100 * 2 / 3)
    assert reported["C"].pct_baseline == pytest.approx(100 * 4 / 3)
    ref = references[-1]
    assert (ref.mean, ref.n, ref.samples, ref.final) == (3.0, 2, "A,C", 0)
    assert ref.sd == pytest.approx(math.sqrt(2.0))
    p.on_event(Event(400.0, "drug", "fluoxetine"))
    p.report(_result("D", 500.0), _inj("D", 500.0), 6.0, "nM", False, 600.0)
    assert reported["D"].pct_baseline == pytest.approx(200.0) and reported["D"].baseline == 0
    assert references[-1].final == 1 and references[-1].mean == 3.0


def test_live_decisions_equal_replay_when_events_arrive_mid_run():
    plan = PERFUSION_PLAN
    inj = _injections(plan, WINDOWS)
    events = PERFUSION + [Event(2500.0, "drug", "fluoxetine"),
                          Event(3300.0, "gap", "lost", "instrument", t_end=3305.0)]
    _, y = _signal(plan, 4100.0)
    emitted = []
    replay(merge_stream(_blocks(y, 333), inj, events), METHOD, on_result=emitted.append)
    again, _ = _run(plan, inj, events, 4100.0, size=50)
    assert [repr(r) for r in emitted] == [repr(r) for r in again.results]
    ht = _ht(again)
    assert fl.parse(ht["S4"].flags) == ("gap",)
