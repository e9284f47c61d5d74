"""``raphe record --sim`` end to end: the virtual rat on the simulated rig, quantified live.

One recording (fluoxetine 10 mg/kg i.p. at 50 min, 16-min samples, a 300× clock) is
shared by the tests below: live results equal a replay's, record by record; the
quantified 5-HT tracks the simulator's ground truth; the effect shows; the file is
complete and consistent.
"""

from __future__ import annotations

import json
import math

import pytest

from raphe.acquisition.analysis.method import load_method
from raphe.acquisition.reader import SessionReader
from raphe.acquisition.reanalysis import reanalyse

from session_helpers import held
from tests_e2e_helpers import raphe

pytestmark = pytest.mark.slow  # end-to-end runs of the simulated rig

DOSE_MIN = 50.0
SPEED = 300


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    folder = tmp_path_factory.mktemp("record")
    out, truth = folder / "rat1.h5", folder / "truth.jsonl"
    result = raphe(
        "record", "--sim", "--out", str(out), "--speed", str(SPEED), "--minutes", "130",
        "--flow", "1.25", "--inject-every", "16", "--method", "simulated-5ht",
        "--sim-dose", f"fluoxetine:10:ip@{DOSE_MIN:g}", "--ground-truth", str(truth),
        "--animal", "rat-1", "--operator", "test",
    )
    assert result.returncode == 0, result.stderr + result.stdout
    return out, truth, result.stdout


def ground_truth(path):
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    (start,) = [r["t"] for r in rows if r.get("event") == "session_start"]
    return [(r["t_inject"] - start, r["nM"]) for r in rows if r.get("event") == "injection"]


def test_session_is_complete_with_the_schedule_and_the_drug_event(recording):
    out, _, stdout = recording
    with SessionReader(out) as r:
        assert r.complete and r.check()["problems"] == []
        injections = r.injections()
        assert [i.sample_id for i in injections] == [f"S{k:03d}" for k in range(1, 9)]
        # On schedule: never early; late by the time the run was held (a link lost and
        # reconnected on a busy machine holds the schedule, and says so in "state" events)
        # and by at most 5 min of the 300× clock more (1 s of real time), then stamped when
        # the valve really switched.
        events = r.events()
        late = [(i.t - held(events, 0, i.t)) / 60 - 16 * k
                for k, i in enumerate(injections, start=1)]
        assert all(-0.01 <= x < 5 for x in late), (late, [e for e in events if e.kind == "state"])
        drugs = [e for e in r.events() if e.kind == "drug"]
        assert len(drugs) == 1 and drugs[0].t == DOSE_MIN * 60 and "fluoxetine" in drugs[0].text
        assert r.duration_s >= 128 * 60 + 900  # the last chromatogram ran to its end
        assert r.metadata["animal_id"] == "rat-1"
        assert "ne1000" in r.metadata["rig"]["text"]
    assert "S008" in stdout and "5-HT" in stdout


def test_live_results_equal_replay_record_by_record(recording):
    out, _, _ = recording
    with SessionReader(out) as r:
        live = r.results()
    replayed = reanalyse(out)
    assert len(live) == 8 * len(load_method("simulated-5ht").analytes)
    assert [repr(x) for x in replayed] == [repr(x) for x in live]


def test_quantified_5ht_tracks_ground_truth_within_5_percent(recording):
    out, truth, _ = recording
    method = load_method("simulated-5ht")
    (spec,) = [p for p in method.peaks if p.name == "5-HT"]
    (front,) = [p for p in method.peaks if p.name == spec.rt_reference]
    with SessionReader(out) as r:
        results = [x for x in r.results() if x.analyte == "5-HT"]
        injections = r.injections()
    expected = ground_truth(truth)
    assert len(expected) == len(injections) == len(results)
    checked = 0
    for inj, res, (t_true, nM_true) in zip(injections, results, expected):
        # The valve's switch is the chromatogram's zero; the recorder stamps it when GO leaves
        # the host, the simulator switches when it reads it: milliseconds of real time, but
        # seconds of a 300x clock on a busy machine. The analytes' windows follow the solvent
        # front, which moves with the real switch: any offset within its window is absorbed.
        assert abs(inj.t - t_true) < front.window_s
        if nM_true * inj.loop_volume_uL > spec.calibration.loq_fmol:
            assert res.conc_nM == pytest.approx(nM_true, rel=0.05), res
            checked += 1
    assert checked >= 6


def test_time_course_shows_the_ssri_rise(recording):
    out, _, _ = recording
    with SessionReader(out) as r:
        five_ht = [x for x in r.results() if x.analyte == "5-HT"]
    # Before and after the drug by when the dialysate left the probe, not by injection time.
    before = [x for x in five_ht if x.probe_t < DOSE_MIN * 60]
    after = [x.pct_baseline for x in five_ht if x.probe_t > DOSE_MIN * 60]
    assert len(before) == 3
    # The first sample left the probe before perfusion had filled the fluid path: flagged,
    # not a baseline; the others are.
    assert "unfilled" in before[0].flags and math.isnan(before[0].pct_baseline)
    assert all(80 < x.pct_baseline < 120 for x in before[1:])
    assert max(after) > 150 and not any(math.isnan(p) for p in after)


def test_inspect_and_export_read_it(recording, tmp_path):
    out, _, _ = recording
    result = raphe("inspect", str(out), "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["complete"] is True and info["injections"] == 8
    assert {r["analyte"] for r in info["results"]} >= {"5-HT"}
    result = raphe("export", str(out), "--format", "csv", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    header = next(p for p in tmp_path.glob("*results*.csv")).read_text().splitlines()[0]
    assert "nM" in header
