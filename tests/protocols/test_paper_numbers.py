"""Numbers a paper carries, through the whole path: % of baseline against the whole baseline
(live, replayed, reanalysed and exported alike), the system-suitability gate before the drug,
and a large calibration that reads back whole. Simulated rig on a scaled clock."""

from __future__ import annotations

import csv
import math
import threading
from pathlib import Path

import numpy as np
import pytest

from raphe.acquisition.analysis import flags as fl
from raphe.acquisition.analysis.method import load_method
from raphe.acquisition.analysis.quantifier import LiveQuantifier
from raphe.acquisition.export import export_csv
from raphe.acquisition.reader import SessionReader
from raphe.acquisition.reanalysis import reanalyse
from raphe.acquisition.replay import Replay
from raphe.acquisition.session import Session
from raphe.gui.cli.commands.inspect import summary
from raphe.protocols.engine import EXIT_ABORTED, Engine, Settings
from raphe.protocols.protocol import load_protocol
from raphe.protocols.rig_spec import SimOptions

pytestmark = pytest.mark.slow

SPEED = 300.0
SHORT = {"equilibration_min": 20, "baseline_samples": 3, "post_samples": 2,
         "interval_min": 16, "standard_nM": 1.0, "standard_replicates": 2}


def _run(out: Path, answer: str | None = None, **given) -> object:
    """The systemic-drug protocol on the simulated rig; a failing suitability test is
    answered ``answer`` (None: --yes, which continues)."""
    engine = Engine(load_protocol("systemic-drug"), {**SHORT, **given}, Settings(
        out=out, sim=SimOptions(speed=SPEED), method=load_method("simulated-5ht"),
        auto_answer=answer is None, on_alarm="continue"))
    if answer is not None:
        def on(kind, payload):
            if kind == "prompt":
                threading.Thread(target=engine.answer, args=(payload.id, answer),
                                 daemon=True).start()
        engine.subscribe(on)
    return engine.run()


def _baseline(results, analyte="5-HT"):
    return {r.sample_id: r.pct_baseline for r in results
            if r.analyte == analyte and r.baseline and not fl.excludes(fl.parse(r.flags))}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    folder = tmp_path_factory.mktemp("numbers")
    out = folder / "rat.h5"
    # a limit no real assay meets: the check fails, --yes continues, and says so
    outcome = _run(out, rsd_max_pct=0.1)
    assert outcome.exit_code == 0, outcome.message
    return out, outcome


def test_the_baseline_averages_100_percent_live_replayed_reanalysed_and_exported(finished,
                                                                                   tmp_path):
    out, outcome = finished
    live = _baseline(outcome.results)
    assert len(live) >= 2
    assert np.mean(list(live.values())) == pytest.approx(100.0, abs=1e-9)

    with SessionReader(out) as r:
        stored = _baseline(r.results())
        refs = [x for x in r.baseline_references() if x.analyte == "5-HT"]
        method = r.metadata["method_toml"]
    assert stored == live
    assert refs[-1].final == 1 and refs[-1].n == len(live)
    assert refs[0].final == 0  # provisional while the baseline went on
    assert sorted(refs[-1].samples.split(",")) == sorted(live)

    q = LiveQuantifier(load_method("simulated-5ht"))
    Replay(out).run(q.feed)
    q.finish()
    assert _baseline(q.results) == live

    again = tmp_path / "again.h5"
    reanalyse(out, None, again)
    with SessionReader(again) as r:
        assert _baseline(r.results()) == live
        assert [x.mean for x in r.baseline_references()][-1] == refs[-1].mean
    assert method  # the stored method was used

    files = export_csv(out, tmp_path / "csv")
    with open(next(f for f in files if f.name == "results.csv"), newline="") as fh:
        rows = [row for row in csv.DictReader(fh) if row["analyte"] == "5-HT"
                and row["baseline"] == "1" and row["pct_baseline_pct"]]
    exported = {row["sample_id"]: float(row["pct_baseline_pct"]) for row in rows}
    assert exported == pytest.approx(live, abs=1e-12)


def test_a_failed_suitability_test_is_recorded_with_the_decision_before_the_drug(finished):
    out, _ = finished
    with SessionReader(out) as r:
        tests = r.records("suitability")
        events = r.events()
    before = [t for t in tests if t.t == tests[0].t and t.analyte == "5-HT"]
    by_test = {t.test: t for t in before}
    assert set(by_test) == {"rsd", "r_squared", "lod_nM", "loq_nM", "drift"}
    assert by_test["rsd"].passed == 0 and by_test["rsd"].limit == 0.1
    assert 0 < by_test["rsd"].value < 5  # the simulated injections' own scatter
    assert by_test["r_squared"].passed == 1 and by_test["lod_nM"].value > 0
    decision = next(e for e in events if e.kind == "suitability" and "operator" in e.text)
    drug = next(e for e in events if e.kind == "drug")
    assert "chose to continue" in decision.text and decision.t <= drug.t
    # the standard after the samples brackets them: drift is judged at the end
    after = {t.test: t for t in tests if t.t != tests[0].t and t.analyte == "5-HT"}
    assert after["drift"].passed in (0, 1) and math.isfinite(after["drift"].value)
    s = summary(str(out))
    assert any(x["test"] == "rsd" and x["passed"] == 0 for x in s["suitability"])
    assert s["end"] == {"reason": "completed", "detail": ""}


def test_an_operator_who_aborts_on_a_failed_check_stops_the_run_before_the_drug(tmp_path):
    out = tmp_path / "s.h5"
    outcome = _run(out, answer="abort", rsd_max_pct=0.1)
    assert outcome.exit_code == EXIT_ABORTED, outcome.message
    with SessionReader(out) as r:
        events = r.events()
        assert r.metadata["end_reason"] == "aborted"
    assert not [e for e in events if e.kind == "drug"]
    assert any(e.kind == "suitability" and "operator aborted" in e.text for e in events)


def test_a_seven_by_five_calibration_reads_back_whole(tmp_path):
    """35 standards and the fit: stored as columns and rows, nothing a size limit can cut;
    the integrity check reads it back, inspect prints it."""
    standards = [{"sample_id": f"STD-{c:g}nM-{k + 1}-with-a-long-label", "conc_nM": c,
                  "volume_uL": 20.0, "area": 0.11 * c * 20.0 * (1 + 0.01 * k), "used": 1,
                  "reason": ""}
                 for c in (0.05, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0) for k in range(5)]
    fit = {"model": "linear", "weighting": "1/x", "n": 35, "slope": 0.11, "intercept": 0.001,
           "r_squared": 0.9995, "residual_sd": 0.01, "lod_fmol": 0.3, "loq_fmol": 0.9,
           "source": "this session", "standards": standards}
    path = tmp_path / "cal.h5"
    with Session.create(path, signal_dt=0.1) as session:
        session.add_calibration(100.0, "5-HT", fit)
    with SessionReader(path) as r:
        (back,) = r.calibration()
        check = r.check()
    assert back["fit"]["n"] == 35 and back["fit"]["slope"] == 0.11
    assert [x["sample_id"] for x in back["fit"]["standards"]] == [
        x["sample_id"] for x in standards]
    assert [x["area"] for x in back["fit"]["standards"]] == [x["area"] for x in standards]
    assert check["tables_consistent"] and check["problems"] == []
    s = summary(str(path))
    assert s["calibration"][0]["n"] == 35 and len(s["calibration"][0]["standards"]) == 35


def test_the_calibration_protocol_reports_its_suitability(tmp_path):
    out = tmp_path / "cal.h5"
    engine = Engine(load_protocol("calibration"), {"concentrations_nM": "0.3, 3",
                                                   "replicates": 3}, Settings(
        out=out, sim=SimOptions(speed=SPEED), method=load_method("simulated-5ht"),
        auto_answer=True))
    outcome = engine.run()
    assert outcome.exit_code == 0, outcome.message
    with SessionReader(out) as r:
        tests = {t.test: t for t in r.records("suitability") if t.analyte == "5-HT"}
        fits = [f for f in r.calibration() if f["analyte"] == "5-HT"]
    assert set(tests) == {"rsd", "r_squared", "lod_nM", "loq_nM", "drift"}
    assert 0.2 < tests["rsd"].value < 5 and tests["rsd"].passed in (0, 1)
    # R² of the refit made from these standards, not the method's
    assert fits[-1]["fit"]["source"] == "this session" and fits[-1]["fit"]["n"] == 6
    assert tests["r_squared"].value == pytest.approx(fits[-1]["fit"]["r_squared"])
    assert 0 < tests["lod_nM"].value < tests["loq_nM"].value < 0.3
    assert tests["drift"].passed == -1  # no bracketing standards in a calibration series
