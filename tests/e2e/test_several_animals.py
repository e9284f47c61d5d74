"""Several animals on one HPLC, end to end on the simulated rig (its pumps, stream selector,
valve and DMM on real ptys and loopback TCP): one file per animal with its drug's effect, no
two chromatograms overlapping, a pump stall that pauses only its animal, one animal taken
off the rig while the others go on, and a garbled selector reply retried."""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from raphe.acquisition.analysis.method import load_method
from raphe.acquisition.reader import SessionReader
from raphe.protocols.animals import split_assignments
from raphe.protocols.engine import Settings
from raphe.protocols.protocol import load_protocol
from raphe.protocols.rig_spec import SimOptions
from raphe.protocols.shared_run import SharedEngine
from raphe.simulators.faults import apply_fault

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
FAST = "simulated-5ht-fast"
SHORT = ["equilibration_min=20", "baseline_samples=3", "post_samples=4"]


def _five_ht(path: Path) -> dict[str, float]:
    with SessionReader(path) as r:
        assert r.complete
        return {r.sample_id: r.pct_baseline for r in r.results() if r.analyte == "5-HT"}


def _injections(paths) -> list[float]:
    times = []
    for path in paths:
        with SessionReader(path) as r:
            times += [i.t for i in r.injections()]
    return sorted(times)


def test_three_animals_from_the_command_line_each_show_their_drug(tmp_path):
    out = tmp_path / "D"
    command = [sys.executable, "-m", "raphe", "run", "systemic-drug", "--sim", "--animals", "3",
               "--speed", "300", "--out-dir", str(out), "--method", FAST,
               "--set", "A1:drug=vehicle", "--set", "A2:drug=ipsapirone",
               "--set", "A2:route=sc", "--set", "A2:dose_mg_kg=1",
               "--set", "A2:region=ventral-hippocampus", "--set", "A3:drug=fluoxetine",
               "--yes"] + [a for s in SHORT for a in ("--set", s)]
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=600, cwd=tmp_path,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])
    assert "Traceback" not in done.stderr
    files = [out / f"A{k}.h5" for k in (1, 2, 3)]
    log = json.loads((out / "run.json").read_text())
    assert [a["file"] for a in log["animals"]] == ["A1.h5", "A2.h5", "A3.h5"]
    assert log["exit_code"] == 0 and log["status"] == "ended"
    vehicle, ipsa, fluox = (_five_ht(f) for f in files)
    post = [f"P{k}" for k in range(1, 5)]
    assert all(80 < vehicle[s] < 120 for s in post), vehicle
    assert min(ipsa[s] for s in post) < 70, ipsa
    assert max(fluox[s] for s in post) > 150, fluox
    # one HPLC: no two injections of any animals closer than a chromatogram runs
    times = _injections(files)
    assert len(times) == 3 * 7
    assert min(b - a for a, b in itertools.pairwise(times)) >= 330.0
    with SessionReader(files[1]) as r:
        params = r.metadata["protocol"]["parameters"]
        shared = r.metadata["rig"]["shared"]
    assert params["drug"]["value"] == "ipsapirone"
    assert shared["animal"] == "A2" and [a["file"] for a in shared["animals"]] == [
        "A1.h5", "A2.h5", "A3.h5"]


def _engine(tmp_path: Path, n: int, extra: list[str], **settings) -> SharedEngine:
    ids = [f"A{k + 1}" for k in range(n)]
    return SharedEngine(load_protocol("systemic-drug"), split_assignments(SHORT + extra, ids),
                        Settings(out=tmp_path / "D", sim=SimOptions(speed=300.0, assay="fast"),
                                 method=load_method(FAST), **settings))


def _wait(predicate, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_pump_stall_pauses_only_its_animal_and_one_animal_can_leave(tmp_path):
    shared = _engine(tmp_path, 2, ["drug=vehicle", "equilibration_min=10"], auto_answer=True)
    assert shared.check().ok
    a1, a2 = shared.animals
    shared.start()
    try:
        _wait(lambda: a2.engine.run_state is not None and a2.engine.run_state.perfusing
              and a1.engine.run_state.plan.injections >= 1)
        apply_fault(shared.opened.sim, "pump_2 stall")
        _wait(lambda: a2.engine.state.value == "paused")
        assert a1.engine.state.value == "running"
        injected = a1.engine.run_state.plan.injections
        _wait(lambda: a1.engine.run_state.plan.injections >= injected + 2)  # A1 goes on
        assert a2.engine.state.value == "paused"
        shared.request_abort("the probe leaked", animal="A2")  # A2 off the rig
        _wait(lambda: shared.opened.sim.pumps["pump_2"].flow_uL_min() == 0.0)
        assert a1.engine.state.value == "running"
        assert shared.opened.sim.pumps["pump"].flow_uL_min() > 0
    finally:
        while not shared.wait(0.2):
            pass
    outcome = shared.outcome
    assert outcome.animals["A1"].exit_code == 0, outcome.animals["A1"].message
    assert outcome.animals["A2"].exit_code == 4
    with SessionReader(tmp_path / "D" / "A2.h5") as r:
        texts = [e.text for e in r.events()]
        assert any("perfusion stopped" in t for t in texts)
        assert r.attrs()["end_reason"] == "aborted"
    with SessionReader(tmp_path / "D" / "A1.h5") as r:
        assert not any("perfusion" in e.text and "stopped" in e.text for e in r.events())
        assert not [e for e in r.events() if e.kind == "pause"]
        assert r.attrs()["end_reason"] == "completed"
        results = [x for x in r.results() if x.analyte == "5-HT"]
        assert len(results) == 7 and all(math.isfinite(x.pct_baseline) for x in results)


def test_a_garbled_selector_reply_is_retried(tmp_path):
    shared = _engine(tmp_path, 2, ["drug=vehicle", "equilibration_min=5", "post_samples=1",
                                   "baseline_samples=2"], auto_answer=True)
    assert shared.check().ok
    shared.start()
    _wait(lambda: shared.hplc is not None and shared.hplc.last_inject is not None)
    apply_fault(shared.opened.sim, "selector garbage 2")
    while not shared.wait(0.2):
        pass
    assert shared.outcome.exit_code in (0, 3), shared.outcome.message
    files = [tmp_path / "D" / f"A{k}.h5" for k in (1, 2)]
    assert len(_injections(files)) == 2 * 3
    with SessionReader(files[1]) as r:
        streams = [x for x in r.table("instruments") if x["role"] in (b"selector", "selector")]
        alarms = [e.text for e in r.events() if e.kind == "alarm"]
    assert len(streams) >= 5  # every turn was made
    assert any("selector" in a for a in alarms), alarms  # the garbage was seen and got over
