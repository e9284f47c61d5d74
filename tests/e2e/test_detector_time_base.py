"""The detector's time base on the simulated rig: readings lost to a stalled DMM are a gap,
never a shift of everything after them.

A systemic-drug-like schedule (two baseline and two post-drug samples, 15 min apart) runs
at 120×; the DMM stalls for three real seconds (six minutes of the experiment) inside the
second sample's chromatogram. The readings it never took are skipped in the index, so the
recorder records a ``gap`` of their span, the sample whose run it touches is flagged
``gap``, every later chromatogram is timed right (5-HT found, at its retention time), and
the run ends with exit code 3 (a fault affected samples).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from raphe.acquisition.analysis.method import load_method
from raphe.acquisition.reader import SessionReader
from raphe.protocols.engine import EXIT_AFFECTED, Engine, Settings, State
from raphe.protocols.protocol import load_protocol
from raphe.protocols.rig_spec import SimOptions
from raphe.simulators.faults import apply_fault

pytestmark = pytest.mark.slow  # end-to-end runs of the simulated rig

SPEED = 120.0
INTERVAL_MIN = 15.0
STALL_AT_MIN = 32.0  # inside B2's chromatogram (injected at 30 min, 15 min long)
STALL_REAL_S = 3.0  # six minutes of the experiment
FIVE_HT_RT_S, FIVE_HT_WINDOW_S = 600.0, 25.0


def run_with_stall(tmp_path) -> tuple[object, dict]:
    engine = Engine(
        load_protocol("systemic-drug"),
        {"equilibration_min": 0.0, "baseline_samples": 2, "post_samples": 2,
         "interval_min": INTERVAL_MIN, "drug": "vehicle"},
        Settings(out=tmp_path / "s.h5", sim=SimOptions(speed=SPEED),
                 method=load_method("simulated-5ht"), auto_answer=True, on_alarm="continue"))
    engine.start()
    deadline = time.monotonic() + 60
    while engine.state is not State.RUNNING:
        assert engine.state is not State.FAILED, engine.outcome and engine.outcome.message
        assert time.monotonic() < deadline, "the run did not start"
        time.sleep(0.01)
    while engine.session_time() < STALL_AT_MIN * 60:
        assert engine.state is not State.DONE and time.monotonic() < deadline + 60
        time.sleep(0.01)
    sim = engine.opened.sim
    stall = {"from": engine.session_time()}
    apply_fault(sim, "detector stall")
    time.sleep(STALL_REAL_S)
    apply_fault(sim, "detector resume")
    stall["to"] = engine.session_time()
    assert engine.wait(timeout=120), "the run did not end"
    return engine.outcome, stall


def test_a_detector_stall_is_a_gap_and_nothing_after_it_is_shifted(tmp_path):
    outcome, stall = run_with_stall(tmp_path)
    assert outcome.exit_code == EXIT_AFFECTED, outcome.message
    with SessionReader(tmp_path / "s.h5") as r:
        assert r.complete and r.check()["problems"] == []
        gaps = [e for e in r.events() if e.kind == "gap"]
        injections = {i.sample_id: i for i in r.injections()}
        results = [x for x in r.results() if x.analyte == "5-HT"]
        t, _ = r.signal()
        n_samples = r.n_samples
    # One gap, spanning the stall (to within a poll of the recorder: 6 s of session time).
    assert len(gaps) == 1, [(g.t, g.t_end, g.text) for g in gaps]
    gap = gaps[0]
    assert abs(gap.t - stall["from"]) < 15 and abs(gap.t_end - stall["to"]) < 15
    lost = (gap.t_end - gap.t) / 0.1
    assert lost > 0.8 * (stall["to"] - stall["from"]) / 0.1
    # Every reading is where it belongs: the count is the elapsed time less the hole.
    assert np.all(np.diff(t) > 0)
    expected = (t[-1] - t[0]) / 0.1 + 1 - lost
    assert abs(n_samples - expected) < 0.001 * expected, (n_samples, expected)
    # The sample whose chromatogram the gap touches is flagged; every later one is found.
    assert sorted(injections) == ["B1", "B2", "P1", "P2"]
    latest = {x.sample_id: x for x in results}  # the last report of each
    touched = {sid for sid, inj in injections.items()
               if inj.t < gap.t_end and inj.t + 900.0 > gap.t}
    assert touched == {"B2"}
    assert "gap" in latest["B2"].flags.split(",")
    later = [sid for sid, inj in injections.items() if inj.t >= gap.t_end]
    assert later == ["P1", "P2"]
    for sid in later + ["B1"]:
        x = latest[sid]
        assert "not_found" not in x.flags and "gap" not in x.flags, (sid, x.flags)
        assert abs(x.rt_s - FIVE_HT_RT_S) <= FIVE_HT_WINDOW_S, (sid, x.rt_s)
