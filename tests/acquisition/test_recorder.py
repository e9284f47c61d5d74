"""The recorder loop on a scaled clock, with in-test instruments."""

from __future__ import annotations

import os
import signal
import threading

import numpy as np
import pytest

from raphe.acquisition.reader import SessionReader
from raphe.acquisition.recorder import Recorder
from raphe.acquisition.session import Session
from raphe.clock import Clock
from raphe.drivers.base import (
    Detector,
    DetectorBlock,
    InjectionValve,
    PumpStatus,
    Syringe,
    SyringePump,
    ValvePosition,
)
from raphe.errors import Disconnected, InputError, InstrumentTimeout

DT = 0.1


class ClockDetector(Detector):
    """Produces sample i (value i) at clock time start + i*DT; can fail after some reads."""

    model = "test-dmm"

    def __init__(self, clock: Clock, fail_after: int | None = None) -> None:
        self.clock = clock
        self.fail_after = fail_after
        self.reads = 0
        self.next = 0
        self.t_start = None
        self.calls: list[str] = []

    def identity(self):
        return {"model": self.model, "serial": "0", "firmware": "0"}

    def reconnect(self):
        self.calls.append("reconnect")

    def close(self):
        pass

    def configure(self, interval_s, scale_nA_per_V):
        pass

    def start(self, session_time=0.0):
        self.t_start = session_time
        self.calls.append("start")

    def stop(self):
        self.calls.append("stop")

    def to_safe_state(self):
        self.calls.append("safe")

    def read_block(self):
        self.reads += 1
        if self.fail_after is not None and self.reads > self.fail_after:
            raise Disconnected("socket closed", "detector")
        upto = int((self.clock.now() - self.t_start) / DT) + 1
        if upto <= self.next:
            return None
        i0, self.next = self.next, upto
        return DetectorBlock(i0, self.t_start + i0 * DT, DT, np.arange(i0, upto, dtype=float))


class Valve(InjectionValve):
    def __init__(self, clock):
        self.clock = clock
        self.pos = ValvePosition.LOAD
        self.log: list[tuple[str, float]] = []

    def identity(self):
        return {"model": "test-valve"}

    def reconnect(self):
        pass

    def close(self):
        pass

    def load(self):
        self.pos = ValvePosition.LOAD
        self.log.append(("load", self.clock.now()))

    def inject(self):
        self.log.append(("inject", self.clock.now()))
        self.pos = ValvePosition.INJECT

    def position(self):
        return self.pos

    def timed_inject(self, seconds):
        raise NotImplementedError


class Pump(SyringePump):
    def __init__(self, stall_after: int | None = None):
        self.polls = 0
        self.stall_after = stall_after
        self.stopped = False

    def identity(self):
        return {"model": "test-pump"}

    def reconnect(self):
        pass

    def close(self):
        pass

    def set_syringe(self, syringe: Syringe):
        pass

    def set_rate(self, rate):
        pass

    def rate_uL_min(self):
        return 1.5

    def infuse(self):
        pass

    def withdraw(self):
        pass

    def pause(self):
        pass

    def stop(self):
        self.stopped = True

    def dispensed_uL(self):
        self.polls += 1
        if self.stall_after is not None and self.polls > self.stall_after:
            raise InstrumentTimeout("no reply", "pump")
        return (0.025 * self.polls, 0.0)

    def status(self):
        return PumpStatus.INFUSING


def test_records_signal_injections_and_pump_state(tmp_path):
    clock = Clock(speed=200)
    det, valve, pump = ClockDetector(clock), Valve(clock), Pump()
    path = tmp_path / "r.h5"
    with Session.create(path, signal_dt=DT) as s:
        rec = Recorder(det, s, clock=clock, valve=valve, pump=pump, inject_every_s=20,
                       inject_hold_s=5, loop_volume_uL=20.0, poll_s=0.5, pump_every_s=10)
        rec.run_for(65)
        assert rec.error is None and not rec.running
    assert det.calls == ["start", "stop"]
    with SessionReader(path) as r:
        n = r.n_samples
        t, v = r.signal()
        np.testing.assert_array_equal(v, np.arange(n, dtype=float))  # nothing lost or doubled
        assert t[-1] >= 64  # drained up to the stop
        inj = r.injections()
        switched = [t for what, t in valve.log if what == "inject"]
        assert [i.sample_id for i in inj] == ["S001", "S002", "S003"]
        assert [i.loop_volume_uL for i in inj] == [20.0] * 3
        for i, ts in zip(inj, switched):
            assert ts <= i.t  # recorded once the valve confirmed the switch
        assert [w for w, _ in valve.log] == ["inject", "load"] * 3
        pump_rows = r.pump()
        assert len(pump_rows) >= 6 and pump_rows[0].status == "infusing"
        assert all(p.rate_uL_min == 1.5 for p in pump_rows)


def test_detector_failure_records_an_alarm_and_makes_everything_safe(tmp_path):
    clock = Clock(speed=200)
    det, valve, pump = ClockDetector(clock, fail_after=20), Valve(clock), Pump()
    path = tmp_path / "r.h5"
    with Session.create(path, signal_dt=DT) as s:
        rec = Recorder(det, s, clock=clock, valve=valve, pump=pump, poll_s=0.5,
                       reconnect_attempts=0)
        rec.run_for(1e6)  # ends on the failure, not the duration
        assert isinstance(rec.error, Disconnected)
    assert det.calls[-1] == "safe" and pump.stopped and valve.position() == ValvePosition.LOAD
    with SessionReader(path) as r:
        assert r.complete
        alarms = [e for e in r.events() if e.kind == "alarm"]
        assert len(alarms) == 1 and "socket closed" in alarms[0].text
        assert alarms[0].source == "instrument"


def test_detector_that_keeps_failing_after_reconnects_ends_the_recording(tmp_path):
    clock = Clock(speed=200)
    det = ClockDetector(clock, fail_after=20)  # reconnect() succeeds, reads keep failing
    path = tmp_path / "r.h5"
    with Session.create(path, signal_dt=DT) as s:
        rec = Recorder(det, s, clock=clock, poll_s=0.5, reconnect_attempts=3,
                       reconnect_wait_s=0.01)
        rec.run_for(1e6)
        assert isinstance(rec.error, Disconnected)
    assert det.calls.count("reconnect") == 3
    with SessionReader(path) as r:
        alarms = [e.text for e in r.events() if e.kind == "alarm"]
    assert [a.split("(attempt ")[-1] for a in alarms if "reconnecting" in a] == [
        "1/3)", "2/3)", "3/3)"]
    assert sum("detector: reconnected" in a for a in alarms) == 3
    assert "recording stopped" in alarms[-1]


def test_pump_poll_failure_is_recorded_and_acquisition_goes_on(tmp_path):
    clock = Clock(speed=200)
    det, pump = ClockDetector(clock), Pump(stall_after=2)
    path = tmp_path / "r.h5"
    with Session.create(path, signal_dt=DT) as s:
        Recorder(det, s, clock=clock, pump=pump, poll_s=0.5, pump_every_s=5).run_for(30)
    with SessionReader(path) as r:
        assert len(r.pump()) == 2
        assert any("pump poll failed" in e.text for e in r.events() if e.kind == "alarm")
        assert r.duration_s >= 29


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly_and_the_file_is_complete(tmp_path, signum):
    clock = Clock(speed=100)
    det = ClockDetector(clock)
    path = tmp_path / "r.h5"
    saved = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        with Session.create(path, signal_dt=DT) as s:
            rec = Recorder(det, s, clock=clock, poll_s=0.5)
            rec.install_signal_handlers()
            rec.start()
            # Signal once the recorder has stored some samples.
            ready = threading.Event()
            s.subscribe(type("Watch", (), {"on_block": lambda self, b: ready.set()})())
            threading.Thread(target=lambda: ready.wait(60) and os.kill(os.getpid(), signum),
                             daemon=True).start()
            rec.run_for(1e6)
        assert det.calls == ["start", "stop"]
        assert signal.getsignal(signum) == saved[0 if signum == signal.SIGINT else 1]
    finally:
        signal.signal(signal.SIGINT, saved[0])
        signal.signal(signal.SIGTERM, saved[1])
    with SessionReader(path) as r:
        assert r.complete and r.n_samples > 0


def test_bad_configuration_is_an_input_error(tmp_path):
    clock = Clock(speed=10)
    with Session.create(tmp_path / "r.h5", signal_dt=DT) as s:
        with pytest.raises(InputError, match="valve"):
            Recorder(ClockDetector(clock), s, clock=clock, inject_every_s=10)
        with pytest.raises(InputError, match="poll_s"):
            Recorder(ClockDetector(clock), s, clock=clock, poll_s=0)


def test_inject_on_request_records_the_sample(tmp_path):
    clock = Clock(speed=100)
    det, valve = ClockDetector(clock), Valve(clock)
    path = tmp_path / "r.h5"
    with Session.create(path, signal_dt=DT) as s:
        rec = Recorder(det, s, clock=clock, valve=valve, inject_hold_s=1e6, poll_s=0.5)
        rec.start()
        inj = rec.inject("STD1", kind="standard:1.0")
        rec.stop()
    assert valve.log[0][0] == "inject" and valve.log[-1][0] == "load"  # LOAD again on stop
    with SessionReader(path) as r:
        assert r.injections() == [inj]
        assert inj.kind == "standard:1.0" and inj.sample_id == "STD1"
