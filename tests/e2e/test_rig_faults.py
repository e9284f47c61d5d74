"""Faults during a run on the simulated rig, in process: the experiment goes on."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from raphe.acquisition.reader import SessionReader
from raphe.protocols.engine import EXIT_AFFECTED, EXIT_OK, Engine, Settings, State
from raphe.protocols.protocol import load_protocol
from raphe.protocols.rig_spec import SimOptions

pytestmark = pytest.mark.slow  # end-to-end runs of the simulated rig


def run_with_fault(tmp_path, fault, after_s: float = 1.5, minutes: float = 20.0):
    """Online monitoring (an injection every 5 min) with ``fault(sim, engine)`` ``after_s``
    real seconds into the run."""
    engine = Engine(load_protocol("online-monitoring"),
                    {"inject_every_min": 5, "minutes": minutes},
                    Settings(out=tmp_path / "s.h5", sim=SimOptions(speed=120),
                             on_alarm="continue"))
    engine.start()
    deadline = time.monotonic() + 60
    while engine.state is not State.RUNNING and engine.state is not State.FAILED:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    if engine.state is State.FAILED:
        engine.wait(timeout=60)
        pytest.fail(f"the run did not start: {engine.outcome and engine.outcome.message}")
    timer = threading.Timer(after_s, fault, args=(engine.opened.sim, engine))
    timer.start()
    assert engine.wait(timeout=240)
    timer.cancel()
    return engine.outcome, tmp_path / "s.h5"


def test_detector_link_dropped_mid_run_is_reconnected_and_nothing_is_lost_unsaid(tmp_path):
    """The DMM keeps sampling into its memory while the link is down, so nothing is lost —
    unless the drop cuts a transfer whose readings the instrument had already removed from
    its memory (``DATA:REM?``). Then those readings are a ``gap`` event with their span, and
    the run ends with exit code 3. Either way every injection is there exactly once."""
    outcome, path = run_with_fault(tmp_path, lambda sim, _: sim.detector.drop_connection())
    with SessionReader(path) as r:
        alarms = [e.text for e in r.events() if e.kind == "alarm"]
        assert any("reconnecting" in a for a in alarms), alarms
        assert any("reconnected" in a for a in alarms), alarms
        gaps = [e for e in r.events() if e.kind == "gap"]
        blocks = r.block_table
        jumps = np.flatnonzero(blocks["index0"][1:] != blocks["index0"][:-1] + blocks["n"][:-1])
        if gaps:
            assert outcome.exit_code == EXIT_AFFECTED, outcome.message
            assert len(jumps) <= len(gaps)
        else:
            assert outcome.exit_code == EXIT_OK, outcome.message
            assert len(jumps) == 0
        t, _ = r.signal()
        assert np.all(np.diff(t) > 0)
        assert t[-1] > 19 * 60  # acquisition went on to the end
        assert [i.sample_id for i in r.injections()] == ["S001", "S002", "S003", "S004"]
        assert r.check()["problems"] == []


def test_pump_stall_is_an_alarm_perfusion_loss_and_recording_goes_on(tmp_path):
    outcome, path = run_with_fault(tmp_path, lambda sim, _: sim.pump.device.stall())
    assert outcome.exit_code == EXIT_AFFECTED, outcome.message
    with SessionReader(path) as r:
        alarms = [e.text for e in r.events() if e.kind == "alarm"]
        assert any("A?S" in a for a in alarms), alarms
        perfusion = [e.text for e in r.events() if e.kind == "perfusion"]
        assert perfusion[0] == "started" and perfusion[1].startswith("stopped")
        assert r.duration_s > 19 * 60


def test_abort_mid_run_stops_cleanly_and_leaves_a_complete_file(tmp_path):
    """What Ctrl-C twice / SIGTERM do: ``request_abort`` from another thread."""
    outcome, path = run_with_fault(tmp_path, lambda sim, engine: engine.request_abort("test"),
                                   after_s=1.0, minutes=60.0)
    assert outcome.state is State.DONE and "aborted" in outcome.message
    with SessionReader(path) as r:
        assert r.complete and r.check()["problems"] == []
        assert r.n_samples > 0 and r.duration_s < 30 * 60
        states = [e.text for e in r.events() if e.kind == "state"]
        assert states[0] == "running" and states[-1].startswith("done")
