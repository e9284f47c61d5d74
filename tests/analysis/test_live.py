"""LiveQuantifier: incremental, bounded, and identical whatever the block boundaries."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raphe.acquisition.analysis import synthetic as sy
from raphe.acquisition.analysis.method import load_method
from raphe.acquisition.analysis.quantifier import (
    LiveQuantifier,
    merge_stream,
    quantify_session_stream,
)
from raphe.records import DetectorBlock, Event, Injection

DT = 0.1
METHOD = load_method("simulated-5ht")
PLAN = [
    sy.PlannedInjection(30.0, "STD1", "standard:0.5", 20.0, 10.0),
    sy.PlannedInjection(1030.0, "B1", "sample", 20.0, 12.0),
    sy.PlannedInjection(2030.0, "B2", "sample", 20.0, 10.0),
    sy.PlannedInjection(3030.0, "B3", "sample", 20.0, 8.0),
    sy.PlannedInjection(4030.0, "P1", "sample", 20.0, 5.0),
    sy.PlannedInjection(5030.0, "P2", "sample", 10.0, 2.5),  # half the loop, same conc
]
DRUG = Event(3500.0, "drug", "ipsapirone 1 mg/kg s.c.", "operator")
DURATION = 6000.0


def _session(shift=0.0, plan=PLAN, duration=DURATION, seed=3):
    t, y = sy.assay_session(plan, duration, np.random.default_rng(seed), DT, rt_shift_s=shift)
    injections = [Injection(p.t, p.sample_id, p.volume_uL, "B", p.kind) for p in plan]
    return t, y, injections


def _blocks(y, sizes, overload=None):
    out, i, k = [], 0, 0
    while i < len(y):
        n = sizes[k % len(sizes)]
        mask = None if overload is None else overload[i:i + n]
        out.append(DetectorBlock(i, i * DT, DT, y[i:i + n].copy(), mask))
        i += n
        k += 1
    return out


@pytest.fixture(scope="module")
def session():
    return _session()


@pytest.fixture(scope="module")
def reference(session):
    _, y, injections = session
    return quantify_session_stream(_blocks(y, [10]), injections, [DRUG], METHOD)


def _key(results):
    return [repr(r) for r in results]  # repr round-trips floats: exact, NaN-safe comparison


def test_results_per_analyte_per_injection(reference):
    assert len(reference) == len(PLAN) * len(METHOD.analytes)
    ht = [r for r in reference if r.analyte == "5-HT"]
    assert [r.sample_id for r in ht] == [p.sample_id for p in PLAN]
    for r, p in zip(ht, PLAN, strict=True):
        assert r.amount_fmol == pytest.approx(p.ht_fmol, rel=0.05)
        assert r.conc_nM == pytest.approx(p.ht_fmol / p.volume_uL, rel=0.05)
        assert r.rt_s == pytest.approx(602.6, abs=1.0)
        assert r.sn > 10 and r.flags == ""


def test_percent_of_baseline(reference):
    ht = {r.sample_id: r for r in reference if r.analyte == "5-HT"}
    assert math.isnan(ht["STD1"].pct_baseline)  # standards take no part
    c = [ht[s].conc_nM for s in ("B1", "B2", "B3")]
    # every baseline sample against the mean of the whole baseline: they average 100 %
    for sid, conc in zip(("B1", "B2", "B3"), c):
        assert ht[sid].pct_baseline == pytest.approx(100 * conc / np.mean(c))
        assert ht[sid].baseline == 1
    assert np.mean([ht[s].pct_baseline for s in ("B1", "B2", "B3")]) == pytest.approx(100.0)
    assert ht["P1"].pct_baseline == pytest.approx(100 * ht["P1"].conc_nM / np.mean(c))
    # truth: P1 and P2 (10 µL loop) are both 0.25 nM against a 0.5 nM baseline
    assert ht["P1"].pct_baseline == pytest.approx(50, abs=4)
    assert ht["P2"].pct_baseline == pytest.approx(50, abs=4)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(1, 4000), min_size=1, max_size=6))
def test_identical_whatever_the_block_boundaries(session, reference, sizes):
    _, y, injections = session
    results = quantify_session_stream(_blocks(y, sizes), injections, [DRUG], METHOD)
    assert _key(results) == _key(reference)


def test_emitted_when_run_closes_and_memory_bounded(session, reference):
    _, y, injections = session
    emitted = []
    q = LiveQuantifier(METHOD, on_result=emitted.append)
    most = 0
    first_ht_at = None
    for item in merge_stream(_blocks(y, [37]), injections, [DRUG]):
        if isinstance(item, DetectorBlock):
            q.on_block(item)
            end = item.t0 + (len(item) - 1) * DT
            most = max(most, q.buffered_samples)
            if emitted and first_ht_at is None:
                first_ht_at = end
        elif isinstance(item, Injection):
            q.on_injection(item)
        else:
            q.on_event(item)
    # the first run closes with the first block reaching inject_t + 900 s, not before
    assert 930.0 <= first_ht_at < 930.0 + 37 * DT
    assert most * DT <= METHOD.run_length_s + q.pre_s + 2 * 37 * DT
    q.finish()
    assert _key(q.results) == _key(reference)
    # a baseline result is reported again each time the reference changes: the last
    # report of each result is the final one
    last = {}
    for r in emitted:
        last[(r.sample_id, r.inject_t, r.analyte)] = r
    assert _key(list(last.values())) == _key(reference)
    assert len(emitted) > len(reference)


def test_an_injection_recorded_minutes_after_its_switch_gets_its_whole_chromatogram(session):
    """The record follows the switch once the valve confirms it: on a fast simulated clock
    and a busy machine that can be minutes of the experiment later. Results are the same as
    with every record on time."""
    _, y, injections = session

    def fed(lag_s: float) -> dict:
        out = {}
        q = LiveQuantifier(METHOD, on_result=lambda r: out.setdefault((r.sample_id, r.analyte),
                                                                      r.area))
        pending = list(injections)
        for block in _blocks(y, [50]):
            q.on_block(block)
            while pending and pending[0].t + lag_s <= block.t0:
                q.on_injection(pending.pop(0))
        for inj in pending:  # records still to come arrive as the session ends
            q.on_injection(inj)
        q.finish()
        return out

    on_time = fed(0.0)
    assert fed(0.9 * LiveQuantifier(METHOD).pre_s) == on_time
    assert fed(1.5 * LiveQuantifier(METHOD).pre_s) != on_time  # beyond it the start is gone


def test_run_cut_short_at_session_end():
    plan = PLAN[:2]
    _, y, injections = _session(plan=plan, duration=1030.0 + 700.0)
    results = quantify_session_stream(_blocks(y, [500]), injections, [], METHOD)
    last = next(r for r in results if r.sample_id == "B1" and r.analyte == "5-HT")
    assert "incomplete" in last.flags.split(",")
    assert math.isfinite(last.area)  # 5-HT at 600 s was inside the 700 s recorded
    first = next(r for r in results if r.sample_id == "STD1")
    assert "incomplete" not in first.flags


def test_a_run_cut_a_moment_before_its_end_is_whole_and_one_cut_earlier_is_not():
    """Injections every run length land a moment early or late: 0.5 s of 900 is not short."""
    plan = [sy.PlannedInjection(30.0, "S1", "sample", 20.0, 10.0),
            sy.PlannedInjection(929.5, "S2", "sample", 20.0, 10.0),
            sy.PlannedInjection(1700.0, "S3", "sample", 20.0, 10.0)]
    _, y, injections = _session(plan=plan, duration=2700.0)
    results = quantify_session_stream(_blocks(y, [3]), injections, [], METHOD)
    flags = {r.sample_id: r.flags.split(",") for r in results if r.analyte == "5-HT"}
    assert "incomplete" not in flags["S1"]  # cut 0.5 s before its end
    assert "incomplete" in flags["S2"]  # cut 129.5 s before its end


def test_rt_tracking_from_standards():
    # all peaks 35 s late: outside the ±25 s window, inside twice the window; without the
    # solvent front as a reference (as for a column's drift) the standards' shift follows it
    method = dataclasses.replace(METHOD, peaks=tuple(
        dataclasses.replace(p, rt_reference=None) for p in METHOD.peaks))
    plan = [sy.PlannedInjection(30.0, "S1", "sample", 20.0, 10.0),
            sy.PlannedInjection(1030.0, "STD", "standard:0.5", 20.0, 10.0),
            sy.PlannedInjection(2030.0, "S2", "sample", 20.0, 10.0)]
    _, y, injections = _session(35.0, plan, 3100.0)
    res = {r.sample_id: r for r in quantify_session_stream(_blocks(y, [100]), injections, [],
                                                           method) if r.analyte == "5-HT"}
    assert "rt_window" in res["S1"].flags  # before any standard: found, but flagged
    assert "rt_window" in res["STD"].flags  # the standard itself, then sets the shift
    assert res["S2"].flags == ""  # after the standard the window follows the drift
    assert res["S2"].rt_s == pytest.approx(602.6 + 35.0, abs=1.0)


@pytest.mark.parametrize("offset_s", [-25.0, 45.0, 90.0])
def test_an_injection_logged_early_or_late_is_followed_through_the_solvent_front(offset_s):
    """The valve switched ``offset_s`` after (or before) the logged injection: every peak,
    the solvent front too, is that much later. The analytes' windows move with the front,
    so nothing is lost or flagged and the areas are those of a punctual log."""
    plan = [sy.PlannedInjection(30.0, "S1", "sample", 20.0, 10.0),
            sy.PlannedInjection(1030.0, "S2", "sample", 20.0, 5.0)]
    punctual, shifted = ({r.sample_id + r.analyte: r for r in quantify_session_stream(
        _blocks(_session(shift, plan, 2100.0)[1], [100]), _session(shift, plan, 2100.0)[2],
        [], METHOD)} for shift in (0.0, offset_s))
    assert set(shifted) == set(punctual) and len(shifted) == 8
    for key, r in shifted.items():
        assert r.flags == punctual[key].flags == "", (key, r.flags)
        assert r.rt_s == pytest.approx(punctual[key].rt_s + offset_s, abs=1.5)
        assert r.area == pytest.approx(punctual[key].area, rel=0.03)  # the noise differs


def test_saturation_and_not_found_flags():
    plan = [sy.PlannedInjection(30.0, "S1", "sample", 20.0, 10.0),
            sy.PlannedInjection(1030.0, "S2", "sample", 20.0, 0.0)]
    t, y, injections = _session(0.0, plan, 2000.0)
    overload = np.zeros(len(y), dtype=bool)
    overload[(t > 30.0 + 600.0) & (t < 30.0 + 604.0)] = True
    results = quantify_session_stream(_blocks(y, [250], overload), injections, [], METHOD)
    ht = {r.sample_id: r for r in results if r.analyte == "5-HT"}
    assert "saturated" in ht["S1"].flags.split(",")
    assert ht["S2"].flags.split(",")[0] == "not_found"
    assert math.isnan(ht["S2"].area) and math.isnan(ht["S2"].pct_baseline)


def test_small_peak_flagged_below_loq():
    plan = [sy.PlannedInjection(30.0, "S1", "sample", 20.0, 1.2)]
    _, y, injections = _session(0.0, plan, 1000.0)
    ht = next(r for r in quantify_session_stream(_blocks(y, [64]), injections, [], METHOD)
              if r.analyte == "5-HT")
    cal = next(p for p in METHOD.peaks if p.name == "5-HT").calibration
    assert ht.amount_fmol < cal.loq_fmol
    assert ht.flags in ("below_lod", "below_loq")


def test_blank_injection_reports_not_found_without_false_peaks():
    _, y = sy.assay_session([], 1000.0, np.random.default_rng(5), DT)
    injections = [Injection(30.0, "BL", 20.0, "B", "blank")]
    closed = []
    q = LiveQuantifier(METHOD, on_chromatogram=closed.append)
    for b in _blocks(y, [128]):
        q.on_block(b)
        if b.t0 <= 30.0 < b.t0 + len(b) * DT:
            q.on_injection(injections[0])
    q.finish()
    assert closed[0].result.peaks == [] and q.closed == injections
    assert [r.flags for r in q.results] == ["not_found"] * len(METHOD.analytes)


def test_detector_restart_reanchors_sample_times(session, reference):
    # the read-out restarts its sample index mid-session; times follow each block's t0
    _, y, injections = session
    blocks = _blocks(y, [500])
    half = len(blocks) // 2
    restarted = blocks[:half] + [
        DetectorBlock(b.index0 - blocks[half].index0, b.t0, DT, b.values) for b in blocks[half:]]
    results = quantify_session_stream(restarted, injections, [DRUG], METHOD)
    assert len(results) == len(reference)
    for r, ref in zip(results, reference, strict=True):
        assert (r.sample_id, r.analyte, r.flags) == (ref.sample_id, ref.analyte, ref.flags)
        assert r.area == pytest.approx(ref.area, rel=1e-9, nan_ok=True)
        assert r.rt_s == pytest.approx(ref.rt_s, abs=1e-6, nan_ok=True)


def test_a_block_retimed_after_lost_readings_is_timed_as_the_file_has_it():
    """Readings lost while the detector's own count went on (a stalled ADC): the detector
    re-times the readings after the hole (contiguous index, a later ``t0``). The analysis
    times every sample as the file does: the run that spans the hole is flagged ``gap``,
    every later chromatogram starts at its injection with its peaks where they belong."""
    hole = 180.0  # s of readings never taken, in B2's run
    plan = [sy.PlannedInjection(30.0, "B1", "sample", 20.0, 10.0),
            sy.PlannedInjection(1030.0, "B2", "sample", 20.0, 10.0),
            sy.PlannedInjection(2030.0 + hole, "B3", "sample", 20.0, 10.0),
            sy.PlannedInjection(3030.0 + hole, "B4", "sample", 20.0, 10.0)]
    t, y, injections = _session(plan=plan, duration=4100.0 + hole)
    cut = int(1500.0 / DT)  # readings from 1500 s to 1680 s were never taken
    skip = int(hole / DT)
    kept_t = np.concatenate([t[:cut], t[cut + skip:]])
    kept_y = np.concatenate([y[:cut], y[cut + skip:]])
    blocks, i = [], 0
    while i < len(kept_y):  # the detector's index runs on over the hole; its t0 does not
        n = min(77, len(kept_y) - i)
        blocks.append(DetectorBlock(i, float(kept_t[i]), DT, kept_y[i:i + n].copy()))
        i += n
    closed = []
    q = LiveQuantifier(METHOD, on_chromatogram=closed.append)
    for item in merge_stream(blocks, injections, []):
        q.feed({DetectorBlock: "blocks", Injection: "injections"}[type(item)], item)
    q.finish()
    ht = {r.sample_id: r for r in q.results if r.analyte == "5-HT"}
    assert "gap" in ht["B2"].flags and ht["B1"].flags == ""
    for sid in ("B3", "B4"):
        assert ht[sid].flags == "" and ht[sid].rt_s == pytest.approx(602.6, abs=1.0)
        assert ht[sid].conc_nM == pytest.approx(0.5, rel=0.05)
    for run in closed:
        assert run.t[0] == pytest.approx(0.0, abs=DT)  # no chromatogram starts late
        assert run.t[-1] == pytest.approx(METHOD.run_length_s, abs=DT) or run.sample_id == "B2"
