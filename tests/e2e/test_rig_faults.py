"""Faults during a recording on the simulated rig, in process: the experiment goes on."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from raphe.acquisition.experiment import Experiment, ExperimentSettings
from raphe.acquisition.reader import SessionReader
from raphe.drivers.rig import load_rig
from raphe.simulators.rig import RigOptions, SimulatedRig

pytestmark = pytest.mark.slow  # end-to-end runs of the simulated rig


def record_with_fault(tmp_path, fault, after_s: float = 1.5, minutes: float = 20.0):
    sim = SimulatedRig(RigOptions(speed=120)).start()
    try:
        config = load_rig(sim.rig_toml(), source="simulated rig")
        rig = config.connect(session_clock=sim.clock.now)
        try:
            settings = ExperimentSettings(out=tmp_path / "s.h5", minutes=minutes,
                                          inject_every_min=5.0)
            experiment = Experiment(rig, sim.clock, settings)
            timer = threading.Timer(after_s, fault, args=(sim, experiment))
            timer.start()
            status = experiment.run()
            timer.cancel()
        finally:
            rig.close()
    finally:
        sim.close()
    return status, tmp_path / "s.h5"


def test_detector_link_dropped_mid_run_is_reconnected_without_losing_samples(tmp_path):
    status, path = record_with_fault(tmp_path, lambda sim, _: sim.detector.drop_connection())
    assert status.error == ""
    with SessionReader(path) as r:
        alarms = [e.text for e in r.events() if e.kind == "alarm"]
        assert any("reconnecting" in a for a in alarms), alarms
        assert any("reconnected" in a for a in alarms), alarms
        blocks = r.block_table
        assert np.all(blocks["index0"][1:] == blocks["index0"][:-1] + blocks["n"][:-1])
        t, _ = r.signal()
        assert np.all(np.diff(t) > 0)
        assert t[-1] > 19 * 60  # acquisition went on to the end
        assert len(r.injections()) == 4
        assert r.check()["problems"] == []


def test_pump_stall_is_recorded_as_an_alarm_and_recording_goes_on(tmp_path):
    status, path = record_with_fault(tmp_path, lambda sim, _: sim.pump.device.stall())
    assert status.error == ""
    with SessionReader(path) as r:
        alarms = [e.text for e in r.events() if e.kind == "alarm"]
        assert any("A?S" in a for a in alarms), alarms
        assert r.duration_s > 19 * 60


def test_stop_request_mid_run_stops_cleanly_and_leaves_a_complete_file(tmp_path):
    """What Ctrl-C / SIGTERM do: ``request_stop`` from another thread."""
    status, path = record_with_fault(
        tmp_path, lambda sim, experiment: experiment.request_stop(), after_s=1.0, minutes=60.0
    )
    assert status.finished and status.error == ""
    assert status.t < 30 * 60  # stopped long before the planned hour
    with SessionReader(path) as r:
        assert r.complete and r.check()["problems"] == []
        assert r.n_samples > 0
