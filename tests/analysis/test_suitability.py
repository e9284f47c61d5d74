"""System suitability from a session's standards: replicate RSD, r², LOD/LOQ from S/N,
bracketing drift — hand-computed cases, then real standards from the simulated HPLC."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from raphe.acquisition.analysis import suitability as su
from raphe.acquisition.analysis.method import load_method
from raphe.acquisition.analysis.quantifier import merge_stream, replay
from raphe.errors import InputError
from raphe.records import DetectorBlock, Event, Injection, SampleResult, SuitabilityTest


class Session:
    """Injections and 5-HT results made up one at a time, 16 min apart."""

    def __init__(self) -> None:
        self.injections: list[Injection] = []
        self.results: list[SampleResult] = []
        self.t = 600.0

    def standard(self, conc: float, area: float, sid: str = "", sn: float = 50.0,
                 flags: str = "", volume: float = 20.0, analyte: str = "5-HT") -> Injection:
        sid = sid or f"STD-{conc:g}nM-{len(self.injections) + 1}"
        return self._add(sid, f"standard:{conc:g}", area, sn, flags, volume, analyte)

    def sample(self, sid: str, area: float = 1.0) -> Injection:
        return self._add(sid, "sample", area, 20.0, "", 20.0, "5-HT")

    def _add(self, sid, kind, area, sn, flags, volume, analyte) -> Injection:
        inj = Injection(self.t, sid, volume, "B", kind)
        self.injections.append(inj)
        self.results.append(SampleResult(
            sample_id=sid, inject_t=self.t, analyte=analyte, rt_s=600.0, area=area,
            height=area / 20, sn=sn, conc_nM=math.nan, amount_fmol=math.nan,
            pct_baseline=math.nan, flags=flags))
        self.t += 960.0
        return inj

    def evaluate(self, fits=(), **kw) -> dict[str, SuitabilityTest]:
        rows = su.evaluate(self.injections, self.results, list(fits), self.t, **kw)
        assert [r.test for r in rows] == list(su.TESTS)
        assert all(r.t == self.t and r.analyte == "5-HT" for r in rows)
        assert all(len(r.detail.encode()) <= su.DETAIL_BYTES for r in rows)
        return {r.test: r for r in rows}


def fit_entry(t: float, r2: float | None, error: str = "", n: int = 8) -> dict:
    fit = {"model": "linear", "weighting": "1/x", "n": n, "slope": 0.11, "intercept": 0.002,
           "r_squared": r2, "residual_sd": 0.01, "lod_fmol": 0.3, "loq_fmol": 0.9,
           "source": "this session", "error": error, "standards": []}
    if error:
        fit.update(slope=None, intercept=None, r_squared=None)
    return {"t": t, "analyte": "5-HT", "fit": fit}


# -- limits --------------------------------------------------------------------------------

def test_limits_default_and_validation():
    assert su.Limits() == su.Limits(rsd_max_pct=3.0, r2_min=0.998, drift_max_pct=10.0)
    assert su.Limits(r2_min=1.0).r2_min == 1.0
    for bad in ({"rsd_max_pct": 0.0}, {"rsd_max_pct": -1.0}, {"drift_max_pct": math.nan},
                {"drift_max_pct": math.inf}, {"r2_min": 0.0}, {"r2_min": 1.5},
                {"rsd_max_pct": "3"}, {"r2_min": True}):
        with pytest.raises(InputError, match=next(iter(bad))):
            su.Limits(**bad)


# -- replicate RSD -------------------------------------------------------------------------

def test_replicate_rsd_reports_the_worst_level():
    s = Session()
    for area in (9.8, 10.0, 10.2):  # mean 10, SD 0.2: RSD 2.0 %
        s.standard(1.0, area)
    for area in (30.0, 30.6):  # mean 30.3, SD 0.6/√2: RSD 1.400 %
        s.standard(3.0, area)
    s.standard(0.3, 3.0)  # one injection: no RSD of its own
    rows = s.evaluate()
    rsd = rows["rsd"]
    assert rsd.value == pytest.approx(2.0, rel=1e-9)
    assert (rsd.limit, rsd.unit, rsd.passed) == (3.0, "%", 1)
    assert rsd.detail.startswith("1 nM: n=3, areas mean 10 nA·s")
    assert "3 nM 1.4 % (n=2)" in rsd.detail
    strict = s.evaluate(limits=su.Limits(rsd_max_pct=1.5))["rsd"]
    assert strict.passed == 0 and strict.limit == 1.5
    assert not su.passed(s.evaluate(limits=su.Limits(rsd_max_pct=1.5)).values())


def test_excluded_results_are_left_out_and_said_so():
    s = Session()
    for area in (9.8, 10.0, 10.2):
        s.standard(1.0, area)
    s.standard(1.0, 55.0, sid="STD-sat", flags="saturated")  # would wreck the RSD
    s.standard(1.0, 10.0, sid="STD-late", flags="below_loq,drift")  # qualifies, kept
    rows = s.evaluate()
    # areas 9.8, 10.0, 10.2, 10.0: mean 10, SD sqrt(0.08/3)
    assert rows["rsd"].value == pytest.approx(100 * math.sqrt(0.08 / 3) / 10.0, rel=1e-9)
    assert "n=4" in rows["rsd"].detail
    assert "left out: STD-sat (saturated)" in rows["rsd"].detail
    assert "STD-late" not in rows["rsd"].detail


def test_results_are_matched_by_sample_id_and_injection_time():
    s = Session()
    s.standard(1.0, 10.0, sid="STD-1")
    s.standard(1.0, 10.0, sid="STD-1")  # the same id injected again: its own result
    s.results[1] = replace(s.results[1], area=10.4)
    assert s.evaluate()["rsd"].value == pytest.approx(100 * math.sqrt(0.08) / 10.2)
    s.results.pop()  # the second injection's result is missing: not the first's
    rows = s.evaluate()
    assert rows["rsd"].passed == -1 and "left out: STD-1 (no result)" in rows["rsd"].detail


# -- r² -------------------------------------------------------------------------------------

def test_a_perfect_line_fitted_here_without_a_calibration_in_force():
    s = Session()
    for conc in (0.5, 1.0, 2.0, 4.0):
        s.standard(conc, 0.11 * conc * 20.0)  # area = 0.11 nA·s per fmol, exactly
    r2 = s.evaluate()["r_squared"]
    assert r2.value == pytest.approx(1.0, abs=1e-12)
    assert (r2.limit, r2.passed) == (0.998, 1)
    assert "fitted here to 4 standards at 4 levels (linear, none)" in r2.detail


def test_r_squared_of_a_bent_line_fails():
    s = Session()
    for conc, area in ((1.0, 1.0), (2.0, 2.0), (3.0, 3.6)):
        s.standard(conc, area)
    r2 = s.evaluate()["r_squared"]
    # by hand: x̄ 2, ȳ 2.2, Sxy 2.6, Sxx 2 → y = 1.3x − 0.4; residuals 0.1, −0.2, 0.1 →
    # SSres 0.06; SStot 1.44 + 0.04 + 1.96 = 3.44; r² = 1 − 0.06/3.44 = 0.98256
    assert r2.value == pytest.approx(1 - 0.06 / 3.44, rel=1e-9)
    assert r2.passed == 0


def test_the_fit_in_force_gives_r_squared():
    s = Session()
    for conc in (0.5, 1.0, 2.0):
        s.standard(conc, 0.11 * conc * 20.0)
    fits = [fit_entry(100.0, 0.9950), fit_entry(3000.0, 0.9991),
            fit_entry(5000.0, None, error="a linear fit needs at least 3 standards")]
    r2 = s.evaluate(fits)["r_squared"]  # the failed refit left the previous one in force
    assert r2.value == pytest.approx(0.9991) and r2.passed == 1
    assert r2.detail == "calibration in force from 50.0 min: linear, 1/x, n=8, this session"
    low = s.evaluate([fit_entry(100.0, 0.9950)])["r_squared"]
    assert low.value == pytest.approx(0.995) and low.passed == 0


def test_too_few_standards_are_not_judged():
    s = Session()
    s.standard(1.0, 2.2)
    s.standard(1.0, 2.25)
    rows = s.evaluate()
    assert rows["r_squared"].passed == -1 and math.isnan(rows["r_squared"].value)
    assert "too few standards to fit one: 2 at 1 level(s)" in rows["r_squared"].detail
    assert rows["drift"].passed == -1 and "no bracketing standards" in rows["drift"].detail
    assert rows["rsd"].passed == 1  # the two replicates still give an RSD
    one = Session()
    one.standard(1.0, 2.2)
    rows = one.evaluate()
    assert [rows[k].passed for k in su.TESTS] == [-1] * 5
    assert "no level with 2 or more replicates (1 nM n=1)" == rows["rsd"].detail
    assert su.passed(rows.values())  # nothing judged, nothing failed


# -- LOD / LOQ -----------------------------------------------------------------------------

def test_lod_and_loq_from_the_lowest_level_s_n():
    s = Session()
    s.standard(0.1, 0.22, sn=10.0)
    s.standard(0.1, 0.23, sn=14.0)  # mean S/N 12
    s.standard(1.0, 2.2, sn=120.0)
    rows = s.evaluate()
    assert rows["lod_nM"].value == pytest.approx(0.1 * 3 / 12)
    assert rows["loq_nM"].value == pytest.approx(0.1 * 10 / 12)
    for key in ("lod_nM", "loq_nM"):
        assert rows[key].unit == "nM" and rows[key].passed == -1
        assert math.isnan(rows[key].limit)
        assert "from 0.1 nM (n=2, mean S/N 12)" in rows[key].detail
        assert "EP 2.2.46" in rows[key].detail


# -- drift ----------------------------------------------------------------------------------

def test_a_drifting_bracket_fails_and_replicates_are_no_bracket():
    s = Session()
    s.standard(1.0, 2.20, sid="STD-before")
    for k in range(3):
        s.sample(f"S{k + 1}")
    s.standard(1.0, 2.09, sid="STD-after")
    rows = s.evaluate()
    assert rows["drift"].value == pytest.approx(-5.0)
    assert (rows["drift"].limit, rows["drift"].unit, rows["drift"].passed) == (10.0, "%", 1)
    assert rows["drift"].detail == "1 nM: STD-before 2.2 → STD-after 2.09 nA·s, 64 min apart"
    # a bracket is not a replicate series: no RSD from it
    assert rows["rsd"].passed == -1
    assert rows["rsd"].detail == ("no level with 2 or more replicates (1 nM n=1); standards "
                                  "with a sample between them are a bracket: see drift")
    worse = Session()
    worse.standard(1.0, 2.20, sid="STD-before")
    worse.sample("S1")
    worse.standard(1.0, 2.53, sid="STD-after")  # +15 %
    drift = worse.evaluate()["drift"]
    assert drift.value == pytest.approx(15.0) and drift.passed == 0
    assert worse.evaluate(limits=su.Limits(drift_max_pct=20))["drift"].passed == 1
    # replicates with nothing else between them are not a bracket
    reps = Session()
    for area in (2.2, 2.0, 2.4):
        reps.standard(1.0, area)
    assert reps.evaluate()["drift"].passed == -1


def test_an_excluded_bracketing_standard_is_left_out_of_the_drift():
    s = Session()
    s.standard(1.0, 2.20, sid="STD-before")
    s.sample("S1")
    s.standard(1.0, 2.15, sid="STD-mid")
    s.sample("S2")
    s.standard(1.0, math.nan, sid="STD-after", flags="not_found")
    drift = s.evaluate()["drift"]
    assert drift.value == pytest.approx(100 * (2.15 - 2.20) / 2.20)
    assert "STD-before 2.2 → STD-mid 2.15" in drift.detail
    assert "left out: STD-after (not_found)" in drift.detail


# -- analytes, passed, summary ---------------------------------------------------------------

def test_analytes_default_to_those_with_a_peak_or_a_fit():
    s = Session()
    for area in (2.2, 2.25, 2.18):
        inj = s.standard(1.0, area)
        s.results.append(SampleResult(  # a peak the standard does not hold
            sample_id=inj.sample_id, inject_t=inj.t, analyte="NA", rt_s=math.nan,
            area=math.nan, height=math.nan, sn=math.nan, conc_nM=math.nan,
            amount_fmol=math.nan, pct_baseline=math.nan, flags="not_found"))
    rows = su.evaluate(s.injections, s.results, [], s.t)
    assert {r.analyte for r in rows} == {"5-HT"}
    rows = su.evaluate(s.injections, s.results, [], s.t, analytes=("NA", "5-HT"))
    assert [r.analyte for r in rows] == ["NA"] * 5 + ["5-HT"] * 5
    assert rows[0].passed == -1 and "left out: STD-1nM-1 (not_found)" in rows[0].detail
    assert su.evaluate([], [], [], 0.0) == []


def test_passed_and_summary():
    s = Session()
    s.standard(1.0, 2.20, sid="STD-a")
    s.standard(1.0, 2.22, sid="STD-b")
    s.standard(3.0, 6.60)
    s.standard(0.3, 0.66, sn=30.0)
    s.sample("S1")
    s.standard(1.0, 2.112, sid="STD-after")  # −4.0 % from STD-a
    rows = su.evaluate(s.injections, s.results, [fit_entry(100.0, 0.9991)], s.t)
    assert su.passed(rows)
    assert su.summary(rows) == ("5-HT: RSD 0.6 % (≤ 3), R² 0.9991 (≥ 0.998), "
                                "drift −4.0 % (≤ 10): passed")
    failed = su.evaluate(s.injections, s.results, [fit_entry(100.0, 0.99)], s.t)
    assert not su.passed(failed)
    assert su.summary(failed).endswith("R² 0.9900 (≥ 0.998), drift −4.0 % (≤ 10): FAILED (R²)")
    lone = Session()
    lone.standard(1.0, 2.2)
    assert su.summary(su.evaluate(lone.injections, lone.results, [], lone.t)) == (
        "5-HT: RSD n/a (not judged), R² n/a (not judged), drift n/a (not judged): not judged")
    assert su.summary([]) == "system suitability: no standards to judge"
    assert su.passed([])


def test_details_fit_the_session_column():
    s = Session()
    for k in range(40):
        s.standard(1.0, math.nan, sid=f"STANDARD-WITH-A-LONG-NAME-{k:03d}", flags="not_found")
    for area in (2.2, 2.3):
        s.standard(1.0, area)
    rows = s.evaluate()
    assert rows["rsd"].detail.endswith("…")


# -- real standards from the simulated HPLC ------------------------------------------------

hplc = pytest.importorskip("raphe.simulators.hplc")


def simulated_session(seed: int, after_nM: float = 1.0):
    """5 replicates at 0.3, 1 and 3 nM and a refit; STD-before (1 nM), three samples,
    STD-after (``after_nM`` of 5-HT in a vial labelled 1 nM); quantified as live analysis
    does. Returns (injections, results, fits, end time)."""
    model = hplc.HPLCECD(seed=seed)
    injections, events, t = [], [], 60.0
    sample = {"NA": 10.0, "DA": 8.0, "5-HIAA": 200.0, "5-HT": 8.0}

    def inject(sid: str, kind: str, amounts: dict) -> None:
        nonlocal t
        model.inject(t, amounts, kind=kind)
        injections.append(Injection(t, sid, 20.0, "B", kind))
        t += 960.0

    for conc in (0.3, 1.0, 3.0):
        for k in range(5):
            inject(f"STD-{conc:g}nM-{k + 1}", f"standard:{conc:g}", {"5-HT": conc * 20.0})
    events.append(Event(t - 940.0, "calibration", "refit", "protocol"))
    inject("STD-before", "standard:1", {"5-HT": 20.0})
    for k in range(3):
        inject(f"S{k + 1}", "sample", sample)
    inject("STD-after", "standard:1", {"5-HT": after_nM * 20.0})
    times = np.arange(0.0, t + 60.0, 0.1)
    values = model.nA(times)
    blocks = [DetectorBlock(i, times[i], 0.1, values[i:i + 600])
              for i in range(0, len(values), 600)]
    q = replay(merge_stream(blocks, injections, events), load_method("simulated-5ht"))
    fits = [{"t": ft, "analyte": a, "fit": rec} for ft, a, rec in q.refits]
    return injections, q.results, fits, t


@pytest.mark.parametrize("seed", [2, 3])
def test_simulated_standards_pass(seed):
    injections, results, fits, t = simulated_session(seed)
    rows = su.evaluate(injections, results, fits, t)
    by = {r.test: r for r in rows}
    assert {r.analyte for r in rows} == {"5-HT"}  # the only analyte in the standards
    assert 0.5 <= by["rsd"].value <= 3.0 and by["rsd"].passed == 1
    assert by["r_squared"].value >= 0.998 and "calibration in force" in by["r_squared"].detail
    # LOD ≈ 0.6 fmol on column (the simulator's design) = 0.03 nM in 20 µL
    assert 0.015 <= by["lod_nM"].value <= 0.06
    assert by["loq_nM"].value == pytest.approx(by["lod_nM"].value * 10 / 3)
    assert "from 0.3 nM (n=5" in by["lod_nM"].detail
    assert abs(by["drift"].value) < 6.0 and by["drift"].passed == 1
    assert "→ STD-after" in by["drift"].detail
    assert su.passed(rows) and su.summary(rows).endswith(": passed")


def test_a_weaker_bracketing_standard_fails_the_drift():
    injections, results, fits, t = simulated_session(2, after_nM=0.8)  # a −20 % response
    rows = {r.test: r for r in su.evaluate(injections, results, fits, t)}
    assert rows["drift"].value == pytest.approx(-20.0, abs=5.0)
    assert rows["drift"].passed == 0
    assert "FAILED (drift)" in su.summary(list(rows.values()))
