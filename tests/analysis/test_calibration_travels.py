"""A calibration travels with the sessions it quantifies; a probe recovery is measured from
a probe-recovery session and attached to later ones; ``raphe export`` writes every table.

Sessions are written quickly with :class:`Session` from a synthetic HPLC-ECD stream
(``synthetic.assay_session``: 0.11 nA·s per fmol of 5-HT, as the simulated assay).
"""

from __future__ import annotations

import csv
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from raphe.acquisition.analysis import synthetic as sy
from raphe.acquisition.analysis.calibration import Standard, fit_record
from raphe.acquisition.analysis.method import load_method, parse_method
from raphe.acquisition.analysis.quantifier import merge_stream
from raphe.acquisition.analysis.recovery import (
    compute,
    flow_warnings,
    measure,
    media,
    parse_medium,
)
from raphe.acquisition.export import export_csv, headers
from raphe.acquisition.reader import SessionReader
from raphe.acquisition.reanalysis import reanalyse
from raphe.acquisition.session import Session
from raphe.errors import InputError
from raphe.gui.cli import main
from raphe.records import DetectorBlock, Event, Injection, ProbeRecovery, SampleResult

DT = 0.1
BUNDLED = load_method("simulated-5ht")
(HT,) = [p for p in BUNDLED.peaks if p.name == "5-HT"]
PLAN = [sy.PlannedInjection(30.0, "S1", "sample", 20.0, 10.0),
        sy.PlannedInjection(1030.0, "S2", "sample", 20.0, 5.0),
        sy.PlannedInjection(2030.0, "S3", "sample", 10.0, 2.5)]
DURATION = 3000.0


def method_text(calibration_lines: str) -> str:
    """The bundled method with 5-HT's standards replaced by ``calibration_lines``."""
    text = BUNDLED.text
    start = text.index("standards = [")
    end = text.index("]\n", start) + 2
    return text[:start] + calibration_lines + text[end:]


def standards_csv(path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["conc_nM", "volume_uL", "area"])
        w.writerows([[s.conc_nM, s.volume_uL, s.area] for s in HT.standards])


def write_stream(path: Path, method_toml: str, seed: int = 3, flow: float | None = None
                 ) -> None:
    """A recorded session: the synthetic stream of PLAN, stored with ``method_toml`` (and
    the protocol's ``flow``, when given)."""
    _, y = sy.assay_session(PLAN, DURATION, np.random.default_rng(seed), DT)
    blocks = [DetectorBlock(i, i * DT, DT, y[i:i + 500].copy()) for i in range(0, len(y), 500)]
    injections = [Injection(p.t, p.sample_id, p.volume_uL, "B", p.kind) for p in PLAN]
    protocol = None if flow is None else {
        "name": "Online monitoring", "source": "# online monitoring",
        "parameters": {"flow_ul_min": {"value": flow, "unit": "uL/min"}}}
    session = Session.create(path, method_toml=method_toml, signal_dt=DT, protocol=protocol)
    add = {DetectorBlock: session.add_block, Injection: session.add_injection,
           Event: session.add_event}
    for item in merge_stream(blocks, injections, []):
        add[type(item)](item)
    session.close()


def write_fits(path: Path, fits: list[tuple[float, str, dict]]) -> None:
    """A calibration session: only its fits (``Session.add_calibration``)."""
    session = Session.create(path, signal_dt=DT)
    for t, analyte, fit in fits:
        session.add_calibration(t, analyte, fit)
    session.close()


def ht_fit(t: float = 1800.0, weighting: str = "1/x") -> dict:
    used = [(f"STD{k + 1}", s) for k, s in enumerate(HT.standards)]
    return fit_record("5-HT", t, "linear", weighting, used,
                      [("STD99", "saturated", 10.0, 20.0)])[1]


def conc(results: list[SampleResult]) -> dict[str, float]:
    return {r.sample_id: r.conc_nM for r in results if r.analyte == "5-HT"}


@pytest.fixture(scope="module")
def folder_a(tmp_path_factory):
    """Folder A: a method naming cal.csv, and a session recorded with it."""
    a = tmp_path_factory.mktemp("A")
    standards_csv(a / "cal.csv")
    (a / "m.toml").write_text(method_text('file = "cal.csv"  # the lab\'s standards\n'))
    method = load_method(a / "m.toml")
    write_stream(a / "s.h5", method.text)
    return a, method


@pytest.fixture(scope="module")
def inline_results(folder_a):
    """The same stream quantified with the standards typed into the method."""
    a, _ = folder_a
    return reanalyse(a / "s.h5", "simulated-5ht")


# -- (a) the stored method is self-contained ---------------------------------------------------


def test_the_stored_text_holds_the_standards_not_the_file(folder_a):
    a, method = folder_a
    assert method.source == str(a / "m.toml")
    assert method.portable_text() == method.text
    assert "file =" not in method.text and "standards = [" in method.text
    assert 'source = "cal.csv"' in method.text
    assert "# the lab's standards" not in method.text  # the replaced line goes
    assert "solvent front" in method.text and "# Every analyte's window" in method.text
    stored = parse_method(method.text, "stored")
    (ht,) = [p for p in stored.peaks if p.name == "5-HT"]
    assert ht.calibration == HT.calibration
    assert stored.text == method.text  # already self-contained: nothing to change


def test_a_session_replays_from_another_folder_without_the_csv(folder_a, inline_results,
                                                              tmp_path, monkeypatch):
    a, _ = folder_a
    here = reanalyse(a / "s.h5")
    assert len(conc(here)) == 3 and all(math.isfinite(c) for c in conc(here).values())
    b = tmp_path / "B"
    b.mkdir()
    shutil.copy(a / "s.h5", b / "s.h5")
    moved = tmp_path / "A-elsewhere"
    shutil.copytree(a, moved, ignore=shutil.ignore_patterns("*.h5"))
    (moved / "cal.csv").unlink()
    monkeypatch.chdir(b)
    there = reanalyse("s.h5", out="new.h5")
    assert [repr(r) for r in there] == [repr(r) for r in here]
    assert conc(there) == conc(inline_results)
    with SessionReader(b / "new.h5") as r:
        text = r.metadata["method_toml"]
        fits = r.calibration()
    assert "standards = [" in text and "cal.csv" in text and "file =" not in text
    (first, *_) = fits
    assert first["t"] == 0.0 and first["analyte"] == "5-HT"
    assert first["fit"]["source"] == "cal.csv"
    assert first["fit"]["slope"] == pytest.approx(HT.calibration.slope)
    assert len(first["fit"]["standards"]) == len(HT.standards)
    # ... and that new session replays as well
    assert conc(reanalyse(b / "new.h5")) == conc(here)


def test_an_old_session_storing_the_file_name_fails_in_one_line_and_can_be_given_one(
        folder_a, tmp_path, monkeypatch):
    old = tmp_path / "old.h5"
    write_stream(old, method_text('file = "cal.csv"\n'))  # as sessions used to store it
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as err:
        reanalyse(old)
    message = str(err.value)
    assert "\n" not in message and "cal.csv" in message and "--calibration" in message
    cal = tmp_path / "cal.h5"
    write_fits(cal, [(1800.0, "5-HT", ht_fit())])
    rescued = reanalyse(old, calibration=cal)
    assert len(conc(rescued)) == 3 and all(math.isfinite(c) for c in conc(rescued).values())


# -- (b) a calibration session as the calibration ----------------------------------------------


@pytest.fixture(scope="module")
def cal_session(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cal")
    path = folder / "cal-2026-12-01.h5"
    failed = fit_record("5-HT", 3600.0, "linear", "1/x", [("STD1", HT.standards[0])], [])[1]
    # an early fit, the good one, then a failed refit: the good one stays in force
    write_fits(path, [(600.0, "5-HT", ht_fit(600.0, "none")), (1800.0, "5-HT", ht_fit()),
                      (3600.0, "5-HT", failed)])
    with SessionReader(path) as r:
        created = r.metadata["created"]
    return path, created


def test_the_method_key_and_the_option_give_the_inline_concentrations(
        folder_a, inline_results, cal_session, tmp_path):
    a, _ = folder_a
    path, created = cal_session
    (path.parent / "m.toml").write_text(
        method_text('session = "cal-2026-12-01.h5"\n').replace('weighting = "1/x"\n', ""))
    keyed = load_method(path.parent / "m.toml")
    (ht,) = [p for p in keyed.peaks if p.name == "5-HT"]
    assert ht.cal_weighting == "1/x"  # the fit's, as the method says none
    assert ht.standard_ids == tuple(f"STD{k + 1}" for k in range(len(HT.standards)))
    assert ht.calibration == HT.calibration
    assert "session =" not in keyed.text and 'sample_id = "STD1"' in keyed.text
    by_key = reanalyse(a / "s.h5", str(path.parent / "m.toml"), out=tmp_path / "k.h5")
    by_option = reanalyse(a / "s.h5", calibration=path, out=tmp_path / "o.h5")
    assert conc(by_key) == conc(by_option) == conc(inline_results)
    for out in ("k.h5", "o.h5"):
        with SessionReader(tmp_path / out) as r:
            (fit,) = [f for f in r.calibration() if f["t"] == 0.0]
            stored = parse_method(r.metadata["method_toml"], "stored")
        assert fit["fit"]["source"] == f"session cal-2026-12-01.h5 ({created})"
        assert [s["sample_id"] for s in fit["fit"]["standards"]][:2] == ["STD1", "STD2"]
        assert stored.initial_fits()[0][1]["source"] == fit["fit"]["source"]


def test_replay_command_takes_the_calibration_session(folder_a, inline_results, cal_session,
                                                     capsys):
    a, _ = folder_a
    path, _ = cal_session
    assert main(["replay", str(a / "s.h5"), "--calibration", str(path), "--json"]) == 0
    import json

    rows = json.loads(capsys.readouterr().out)["results"]
    got = {r["sample_id"]: r["conc_nM"] for r in rows if r["analyte"] == "5-HT"}
    assert got == pytest.approx(conc(inline_results), rel=1e-12)


def _one_line(exc: pytest.ExceptionInfo, *fragments: str) -> None:
    message = str(exc.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message


def test_bad_calibration_sessions_are_one_line_errors(tmp_path, capsys):
    no_ht = tmp_path / "da-only.h5"
    da = fit_record("DA", 100.0, "linear", "none",
                    [("S", Standard(c, 20.0, 0.1 * c * 20)) for c in (1.0, 2.0, 4.0)], [])[1]
    write_fits(no_ht, [(100.0, "DA", da)])
    failed = tmp_path / "failed.h5"
    write_fits(failed, [(100.0, "5-HT", fit_record("5-HT", 100.0, "linear", "none",
                                                   [("S", HT.standards[0])], [])[1])])
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not a session at all")
    cases = [(tmp_path / "none.h5", "no such file"), (no_ht, "no calibration fit for 5-HT"),
             (failed, "failed"), (junk, "cannot read")]
    for path, why in cases:
        with pytest.raises(InputError) as err:
            load_method("simulated-5ht", calibration=path)
        _one_line(err, str(path), "5-HT", why)
        (tmp_path / "m.toml").write_text(method_text(f'session = "{path.name}"\n'))
        with pytest.raises(InputError) as err:
            load_method(tmp_path / "m.toml")
        _one_line(err, "m.toml", "peaks[5].calibration.session", path.name, "5-HT", why)
    (tmp_path / "m.toml").write_text(method_text('file = "missing.csv"\n'))
    with pytest.raises(InputError) as err:
        load_method(tmp_path / "m.toml")
    _one_line(err, "missing.csv", "cannot read the calibration file")
    assert main(["replay", str(junk), "--calibration", str(no_ht)]) == 1
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


# -- probe recovery ----------------------------------------------------------------------------

SOLUTION = "standard solution; 10 nM 5-HT"


def _result(sample: str, t: float, value: float, flags: str = "", area: float = math.nan):
    return SampleResult(sample_id=sample, inject_t=t, analyte="5-HT", rt_s=600.0, area=area,
                        height=0.01, sn=30.0, conc_nM=value, amount_fmol=value * 20.0,
                        pct_baseline=math.nan, flags=flags)


def recovery_stream(old_style: bool = False, calibrated: bool = True):
    """A probe-recovery session: 30 min in a 10 nM solution at 1 µL/min, three 20-min
    samples at 2.0, 2.1 and 1.9 nM (one more, saturated, at 5 nM, left out), then the probe
    back in the animal (a sample there at 3 nM, left out)."""
    if old_style:
        events = [Event(0.0, "step", "probe into standard solution (line 27)", "protocol"),
                  Event(0.5, "step", "probe in standard solution (10 nM 5-HT)", "simulator"),
                  Event(9000.0, "step", "probe in animal", "simulator")]
    else:
        events = [Event(0.5, "medium", SOLUTION, "simulator"),
                  Event(1.0, "flow", "0 -> 1 uL/min; protocol", "protocol"),
                  Event(9000.0, "medium", "animal", "simulator")]
    windows = [(1800.0, 3000.0), (3000.0, 4200.0), (4200.0, 5400.0), (5400.0, 6600.0),
               (9000.0, 10200.0)]
    values = [2.0, 2.1, 1.9, 5.0, 3.0]
    flags = ["", "below_loq", "", "saturated", ""]
    injections, results = [], []
    for k, ((a, b), v, f) in enumerate(zip(windows, values, flags, strict=True)):
        inj = Injection(b + 60.0, f"S{k + 1}", 20.0, "B", "sample", a, b)
        injections.append(inj)
        area = 0.11 * v * 20.0
        results.append(_result(inj.sample_id, inj.t, v if calibrated else math.nan, f, area))
    std = Injection(7000.0, "STD", 20.0, "B", "standard:10")
    injections.append(std)
    results.append(_result("STD", std.t, 10.0 if calibrated else math.nan, "", 0.11 * 200.0))
    return events, injections, results


def write_recovery(path: Path, old_style: bool = False, calibrated: bool = True,
                   flow: float = 1.0) -> None:
    events, injections, results = recovery_stream(old_style, calibrated)
    session = Session.create(path, signal_dt=DT, protocol={
        "name": "Probe recovery (in vitro)", "source": "# probe recovery",
        "parameters": {"flow_ul_min": {"value": flow, "unit": "uL/min"},
                       "standard_nM": {"value": 10.0, "unit": "nM"}}})
    for item in sorted([*events, *injections], key=lambda x: x.t):
        (session.add_event if isinstance(item, Event) else session.add_injection)(item)
    for r in results:
        session.add_result(r)
    session.close()


def test_the_medium_texts_are_read():
    assert parse_medium(SOLUTION) == ("standard solution", {"5-HT": 10.0})
    assert parse_medium("animal") is None
    assert parse_medium("mix; 10 nM 5-HT, 5 nM DA") == ("mix", {"5-HT": 10.0, "DA": 5.0})
    events, _, _ = recovery_stream(old_style=True)
    (medium,) = media(events)
    assert (medium.t_start, medium.t_end, medium.name) == (0.5, 9000.0, "standard solution")
    assert medium.conc_nM == {"5-HT": 10.0}


@pytest.mark.parametrize("old_style", [False, True])
def test_recovery_is_dialysate_over_the_solution(tmp_path, old_style):
    path = tmp_path / "rec.h5"
    write_recovery(path, old_style=old_style, flow=1.0)
    with SessionReader(path) as r:
        (rec,) = measure(r)
    assert rec.analyte == "5-HT" and rec.source == "this session"
    assert rec.recovery_pct == pytest.approx(20.0)  # (2.0 + 2.1 + 1.9) / 3 of 10 nM
    assert rec.n == 3 and rec.flow_uL_min == 1.0  # the flow event, or the protocol's


def test_an_uncalibrated_recovery_session_uses_its_standard():
    events, injections, results = recovery_stream(calibrated=False)
    (rec,) = compute(injections, results, events)
    assert rec.recovery_pct == pytest.approx(20.0)
    assert rec.flow_uL_min == 1.0
    events = [e for e in events if e.kind != "flow"]
    (rec,) = compute(injections, results, events)
    assert math.isnan(rec.flow_uL_min)  # no flow event, no protocol: unknown


def test_recovery_attached_by_method_key_option_and_number(folder_a, tmp_path):
    a, _ = folder_a
    rec = tmp_path / "recovery.h5"
    write_recovery(rec)
    with SessionReader(rec) as r:
        created = r.metadata["created"]
    (tmp_path / "m.toml").write_text(BUNDLED.text + '\n[recovery]\nsession = "recovery.h5"\n')
    keyed = load_method(tmp_path / "m.toml")
    by_option = load_method("simulated-5ht", recovery=rec)
    for method in (keyed, by_option):
        (r,) = method.recovery.values()
        assert r == ProbeRecovery(0.0, "5-HT", pytest.approx(20.0), 1.0, 3,
                                  f"session recovery.h5 ({created})")
        assert "recovery.h5" in method.text and "session =" not in method.text
        again = parse_method(method.text, "stored").recovery["5-HT"]
        assert again == method.recovery["5-HT"]
    numbers = parse_method(BUNDLED.text + "\n[recovery]\npercent = 20.0\nflow_uL_min = 1.0\n",
                           "m.toml")
    assert numbers.recovery["5-HT"].recovery_pct == 20.0
    assert numbers.recovery["5-HT"].source == "method simulated-5ht"
    assert list(numbers.recovery) == ["5-HT"]  # percent: the calibrated analytes
    per = parse_method(BUNDLED.text + '\n[recovery]\n"5-HT" = 25.0\n', "m.toml")
    assert per.recovery["5-HT"].recovery_pct == 25.0
    with pytest.raises(InputError, match="line .*recovery.5-HIA: neither"):
        parse_method(BUNDLED.text + '\n[recovery]\n"5-HIA" = 25.0\n', "m.toml")
    # a replay with the recovery: corrected concentrations, and the recovery at t = 0
    results = reanalyse(a / "s.h5", recovery=rec, out=tmp_path / "corr.h5")
    with SessionReader(tmp_path / "corr.h5") as r:
        (stored,) = r.records("recovery")
    assert stored.recovery_pct == pytest.approx(20.0) and stored.t == 0.0
    ht = [x for x in results if x.analyte == "5-HT"]
    if any(math.isfinite(x.conc_corrected_nM) for x in ht):  # applied by the live analysis
        assert all(x.conc_corrected_nM == pytest.approx(x.conc_nM / 0.2) for x in ht)


def test_bad_recovery_sessions_are_one_line_errors(tmp_path):
    empty = tmp_path / "empty.h5"
    write_fits(empty, [])
    for path, why in ((tmp_path / "none.h5", "no such file"), (empty, "holds no results")):
        with pytest.raises(InputError) as err:
            load_method("simulated-5ht", recovery=path)
        _one_line(err, str(path), why)


def test_a_recovery_at_another_flow_warns_in_one_line(tmp_path):
    rec = {"5-HT": ProbeRecovery(0.0, "5-HT", 20.0, 1.0, 3, "x")}
    assert flow_warnings(rec, 1.0) == []
    (line,) = flow_warnings(rec, 2.0)
    assert "5-HT" in line and "2 uL/min" in line and "\n" not in line
    path = tmp_path / "rec.h5"
    write_recovery(path, flow=1.0)
    for flow, expected in ((2.0, 1), (1.0, 0)):
        session = tmp_path / f"at-{flow:g}.h5"
        write_stream(session, BUNDLED.text, flow=flow)
        warnings: list[str] = []
        reanalyse(session, recovery=path, on_warning=warnings.append)
        assert len(warnings) == expected, warnings
    assert "measured at another flow" in line


# -- export ------------------------------------------------------------------------------------


def test_export_writes_the_analysis_tables(cal_session, tmp_path, folder_a):
    a, _ = folder_a
    rec = tmp_path / "recovery.h5"
    write_recovery(rec)
    new = tmp_path / "new.h5"
    reanalyse(a / "s.h5", calibration=cal_session[0], recovery=rec, out=new)
    files = export_csv(new, tmp_path / "csv")
    names = {f.name for f in files}
    assert {"calibration.csv", "calibration_standards.csv", "baseline.csv", "recovery.csv",
            "suitability.csv", "instruments.csv", "results.csv", "signal.csv"} <= names
    for table, name in (("calibration", "calibration.csv"),
                        ("standards", "calibration_standards.csv"), ("baseline", "baseline.csv"),
                        ("recovery", "recovery.csv"), ("suitability", "suitability.csv"),
                        ("instruments", "instruments.csv")):
        with open(tmp_path / "csv" / name, newline="") as fh:
            rows = list(csv.reader(fh))
        assert rows[0] == headers(table)
    with open(tmp_path / "csv" / "calibration.csv", newline="") as fh:
        fits = list(csv.DictReader(fh))
    assert "slope_nA_s_fmol" in fits[0] and fits[0]["t_s"] == "0.0"
    assert re.match(r"session cal-2026-12-01\.h5 \(", fits[0]["source"])
    with open(tmp_path / "csv" / "recovery.csv", newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    assert float(row["recovery_pct"]) == pytest.approx(20.0)
    with pytest.raises(InputError, match="already exists"):  # never overwritten
        export_csv(new, tmp_path / "csv")
