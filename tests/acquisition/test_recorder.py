"""The acquisition loop on a scaled clock, with in-test instruments: draining, polling,
actions on the loop thread, faults (link loss, reconnect, gaps, perfusion loss)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from raphe.acquisition.reader import SessionReader
from raphe.acquisition.recorder import Aborted, Recorder
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
from raphe.errors import Disconnected, InputError, InstrumentAlarm, InstrumentTimeout

DT = 0.1


class ClockDetector(Detector):
    """Produces sample i (value i) at clock time start + i*DT; can fail after some reads
    (``fail_after``) for ``fail_reads`` reads (forever by default); ``lose`` drops the
    readings taken while it was failing."""

    model = "test-dmm"

    def __init__(self, clock: Clock, fail_after: int | None = None,
                 fail_reads: int | None = None, lose: bool = False) -> None:
        self.clock = clock
        self.fail_after = fail_after
        self.fail_reads = fail_reads
        self.lose = lose
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
        if self.fail_after is not None and self.reads > self.fail_after and (
                self.fail_reads is None or self.reads <= self.fail_after + self.fail_reads):
            raise Disconnected("socket closed", "detector")
        upto = int((self.clock.now() - self.t_start) / DT) + 1
        if self.lose and self.fail_after is not None and self.reads == self.fail_after + (
                self.fail_reads or 0) + 1:
            self.next = upto - 1  # the readings taken meanwhile are gone
        if upto <= self.next:
            return None
        i0, self.next = self.next, upto
        return DetectorBlock(i0, self.t_start + i0 * DT, DT, np.arange(i0, upto, dtype=float))


class Valve(InjectionValve):
    """A valve whose ``inject`` can fail once with a timeout after switching (``flaky``)."""

    def __init__(self, clock, flaky: bool = False):
        self.clock = clock
        self.flaky = flaky
        self.pos = ValvePosition.LOAD
        self.log: list[tuple[str, float]] = []
        self.reconnects = 0

    def identity(self):
        return {"model": "test-valve"}

    def reconnect(self):
        self.reconnects += 1

    def close(self):
        pass

    def load(self):
        self.pos = ValvePosition.LOAD
        self.log.append(("load", self.clock.now()))

    def inject(self):
        self.log.append(("inject", self.clock.now()))
        self.pos = ValvePosition.INJECT
        if self.flaky:
            self.flaky = False
            raise InstrumentTimeout("no reply after GO", "valve")

    def position(self):
        return self.pos

    def timed_inject(self, seconds):
        raise NotImplementedError


class Pump(SyringePump):
    """Infusing; after ``stall_after`` polls it stops answering (``mute``) or stalls."""

    def __init__(self, stall_after: int | None = None, mute: bool = True):
        self.polls = 0
        self.stall_after = stall_after
        self.mute = mute
        self.stopped = False

    def identity(self):
        return {"model": "test-pump"}

    def reconnect(self):
        if self.mute and self.stall_after is not None and self.polls > self.stall_after:
            raise InstrumentTimeout("no reply to the handshake", "pump")

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
            if self.mute:
                raise InstrumentTimeout("no reply", "pump")
            if self.polls == self.stall_after + 1:
                raise InstrumentAlarm("A?S", "motor stalled", "pump")
        return (0.025 * self.polls, 0.0)

    def status(self):
        if self.stall_after is not None and self.polls > self.stall_after and not self.mute:
            return PumpStatus.STOPPED
        return PumpStatus.INFUSING


def record(tmp_path, seconds, **instruments):
    """Run the loop for ``seconds`` of a 200× clock; returns the recorder and the file."""
    clock = instruments.pop("clock")
    path = tmp_path / "r.h5"
    with Session.create(path, signal_dt=DT) as s:
        rec = Recorder(s, clock, instruments, poll_s=0.5, pump_every_s=5, retry_every_s=0.01,
                       min_real_pump_s=0.01)
        rec.run_for(seconds)
    return rec, path


def test_records_signal_and_pump_state_and_runs_actions_on_its_thread(tmp_path):
    clock = Clock(speed=200)
    det, valve, pump = ClockDetector(clock), Valve(clock), Pump()
    path = tmp_path / "r.h5"
    threads = []
    with Session.create(path, signal_dt=DT) as s:
        rec = Recorder(s, clock, {"detector": det, "valve": valve, "pump": pump}, poll_s=0.5,
                       pump_every_s=10, min_real_pump_s=0.01)
        rec.start()
        clock.sleep(5)
        rec.do(lambda: (threads.append(threading.current_thread().name), valve.inject()),
               "valve")
        t_inject = clock.now()
        done = rec.at(t_inject + 5, valve.load, "valve")
        done.result(timeout=30)
        clock.sleep(50)
        rec.stop()
        assert rec.error is None and not rec.running
    assert det.calls == ["start", "stop"]
    assert threads == ["raphe-acquisition"]
    assert [w for w, _ in valve.log] == ["inject", "load"]
    assert valve.log[1][1] >= t_inject + 5  # the timed action waited for its time
    with SessionReader(path) as r:
        n = r.n_samples
        t, v = r.signal()
        np.testing.assert_array_equal(v, np.arange(n, dtype=float))  # nothing lost or doubled
        assert t[-1] >= 59  # drained up to the stop
        pump_rows = r.pump()
        assert len(pump_rows) >= 5 and pump_rows[0].status == "infusing"
        assert all(p.rate_uL_min == 1.5 for p in pump_rows)
        assert [e for e in r.events() if e.kind in ("alarm", "gap")] == []


def test_a_detector_link_failure_is_an_alarm_then_a_reconnect_without_loss(tmp_path):
    clock = Clock(speed=200)
    det = ClockDetector(clock, fail_after=2, fail_reads=1)  # reconnect() works
    faults = []
    path = tmp_path / "r.h5"
    with Session.create(path, signal_dt=DT) as s:
        rec = Recorder(s, clock, {"detector": det}, poll_s=0.5, retry_every_s=0.01,
                       listener=lambda kind, role, text: faults.append((kind, role)))
        rec.run_for(120)
    assert "reconnect" in det.calls
    assert faults == [("fault", "detector"), ("recovered", "detector")]
    with SessionReader(path) as r:
        alarms = [e.text for e in r.events() if e.kind == "alarm"]
        assert "socket closed" in alarms[0] and "reconnecting" in alarms[0]
        assert alarms[1] == "detector: reconnected"
        _, v = r.signal()
        np.testing.assert_array_equal(v, np.arange(r.n_samples, dtype=float))
        assert [e for e in r.events() if e.kind == "gap"] == []


def test_lost_detector_readings_are_a_gap_event_with_their_span(tmp_path):
    clock = Clock(speed=200)
    det = ClockDetector(clock, fail_after=2, fail_reads=3, lose=True)
    _, path = record(tmp_path, 200, clock=clock, detector=det)
    with SessionReader(path) as r:
        (gap,) = [e for e in r.events() if e.kind == "gap"]
        assert gap.t_end > gap.t and "lost" in gap.text
        t, _ = r.signal()
        missing = np.diff(t).max()
        assert missing == pytest.approx(gap.t_end - gap.t + DT, rel=1e-6)
        check = r.check()  # the file is consistent; the integrity check names the gap
        assert check["problems"] == [] and check["gaps"] == [(gap.t, gap.t_end)]


def test_a_detector_that_never_comes_back_keeps_being_retried_and_stops_cleanly(tmp_path):
    clock = Clock(speed=200)
    det = ClockDetector(clock, fail_after=1)  # reconnect() succeeds, reads keep failing
    rec, path = record(tmp_path, 100, clock=clock, detector=det)
    assert rec.error is None and det.calls.count("reconnect") >= 2
    with SessionReader(path) as r:
        assert r.complete
        alarms = [e.text for e in r.events() if e.kind == "alarm"]
        assert alarms and "reconnecting" in alarms[0]


def test_an_unreachable_pump_is_an_alarm_and_then_lost_perfusion(tmp_path):
    clock = Clock(speed=200)
    det, pump = ClockDetector(clock), Pump(stall_after=2)
    path = tmp_path / "r.h5"
    with Session.create(path, signal_dt=DT) as s:
        rec = Recorder(s, clock, {"detector": det, "pump": pump}, poll_s=0.5, pump_every_s=5,
                       retry_every_s=0.01, pump_lost_after_s=0.05, min_real_pump_s=0.01)
        rec.start()
        rec.perfusion_started()
        clock.sleep(40)
        rec.stop()
    with SessionReader(path) as r:
        assert len(r.pump()) == 2
        alarms = [e.text for e in r.events() if e.kind == "alarm"]
        assert any("pump: InstrumentTimeout" in a and "reconnecting" in a for a in alarms)
        perfusion = [e.text for e in r.events() if e.kind == "perfusion"]
        assert perfusion[0] == "started" and perfusion[1] == "stopped: pump unreachable"
        assert r.duration_s >= 39  # acquisition went on


def test_a_pump_alarm_stops_perfusion_and_its_recovery_restores_it(tmp_path):
    clock = Clock(speed=200)
    det, pump = ClockDetector(clock), Pump(stall_after=2, mute=False)
    faults = []
    path = tmp_path / "r.h5"
    with Session.create(path, signal_dt=DT) as s:
        rec = Recorder(s, clock, {"detector": det, "pump": pump}, poll_s=0.5, pump_every_s=5,
                       min_real_pump_s=0.01,
                       listener=lambda kind, role, text: faults.append(kind))
        rec.start()
        rec.perfusion_started()
        clock.sleep(30)
        pump.stall_after = None  # the operator cleared the line and restarted the pump
        clock.sleep(15)
        rec.stop()
    assert faults == ["perfusion_stopped", "perfusion_restored"]
    with SessionReader(path) as r:
        perfusion = [e.text for e in r.events() if e.kind == "perfusion"]
        assert perfusion == ["started", "stopped: alarm A?S: motor stalled", "restored"]


def test_an_action_failing_on_a_link_fault_is_completed_once_after_the_reconnect(tmp_path):
    clock = Clock(speed=200)
    det, valve = ClockDetector(clock), Valve(clock, flaky=True)
    path = tmp_path / "r.h5"
    with Session.create(path, signal_dt=DT) as s:
        rec = Recorder(s, clock, {"detector": det, "valve": valve}, poll_s=0.5,
                       retry_every_s=0.01)
        rec.start()
        rec.do(valve.inject, "valve", lambda: valve.position() is ValvePosition.INJECT,
               "inject S001")
        rec.stop()
    assert valve.reconnects == 1
    assert [w for w, _ in valve.log] == ["inject"]  # switched once: verify saw INJECT
    with SessionReader(path) as r:
        alarms = [e.text for e in r.events() if e.kind == "alarm"]
        assert "while doing inject S001" in alarms[0] and alarms[1] == "valve: reconnected"


def test_an_action_after_the_loop_stopped_is_refused(tmp_path):
    clock = Clock(speed=200)
    with Session.create(tmp_path / "r.h5", signal_dt=DT) as s:
        rec = Recorder(s, clock, {"detector": ClockDetector(clock)}, poll_s=0.5)
        rec.start()
        rec.stop()
        with pytest.raises(Aborted):
            rec.do(lambda: None)


def test_bad_configuration_is_an_input_error(tmp_path):
    clock = Clock(speed=10)
    with Session.create(tmp_path / "r.h5", signal_dt=DT) as s:
        with pytest.raises(InputError, match="detector"):
            Recorder(s, clock, {"valve": Valve(clock)})
        with pytest.raises(InputError, match="poll_s"):
            Recorder(s, clock, {"detector": ClockDetector(clock)}, poll_s=0)
