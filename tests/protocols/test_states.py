"""The engine's states and fault policy without any rig: the transition table refuses every
illegal transition, and ``on_alarm`` pause, continue and abort each do what they say. Fast:
no simulated rig, no thread that waits."""

from __future__ import annotations

import itertools

import pytest

from raphe.protocols.engine import Engine, Settings
from raphe.protocols.fault_policy import FaultPolicy
from raphe.protocols.live_backend import Control
from raphe.protocols.protocol import parse_protocol
from raphe.protocols.states import TRANSITIONS, State, allowed

PROTOCOL = "def run(rig, params):\n    rig.pump.infuse(1.0)\n    rig.collect(20)\n"


class FakeClock:
    speed = 1.0

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t


@pytest.fixture
def engine(tmp_path):
    return Engine(parse_protocol(PROTOCOL, str(tmp_path / "p.py")), {},
                  Settings(out=tmp_path / "s.h5"))


@pytest.mark.parametrize(("before", "after"), list(itertools.product(State, State)))
def test_every_transition_is_allowed_or_refused_by_the_table(engine, before, after):
    engine.state = before
    seen = []
    engine.subscribe(lambda kind, payload: seen.append(payload) if kind == "state" else None)
    changed = engine._set_state(after, "test")
    legal = after in TRANSITIONS[before]
    assert changed is legal
    assert engine.state is (after if legal else before)
    assert seen == ([after] if legal else [])
    assert allowed(before, after) is (legal or before is after)


def test_the_table_ends_in_done_or_failed():
    assert TRANSITIONS[State.DONE] == frozenset()
    assert TRANSITIONS[State.STOPPING] == {State.DONE, State.FAILED}
    for state in State:  # every state can reach an end
        reached, frontier = {state}, [state]
        while frontier:
            for nxt in TRANSITIONS[frontier.pop()]:
                if nxt not in reached:
                    reached.add(nxt)
                    frontier.append(nxt)
        assert reached & {State.DONE, State.FAILED}


class Recorded:
    """What the fault policy did: states set, alarms raised, restarts and aborts asked."""

    def __init__(self, on_alarm: str) -> None:
        self.control = Control(FakeClock())
        self.states: list[State] = []
        self.alarms: list[str] = []
        self.restarts = 0
        self.aborts: list[str] = []
        self.policy = FaultPolicy(on_alarm, control=lambda: self.control,
                                  set_state=lambda s, why="": self.states.append(s),
                                  alarm=self.alarms.append, restart_pump=self._restart,
                                  abort=self.aborts.append)

    def _restart(self) -> None:
        self.restarts += 1


def test_on_alarm_pause_holds_the_schedule_until_the_operator_resumes():
    r = Recorded("pause")
    r.policy("perfusion_stopped", "pump", "alarm A?S: motor stalled")
    assert r.control.paused and r.control.has("perfusion")
    assert "check the syringe" in r.control.pause_reasons[0]
    assert r.states == [State.PAUSED] and r.restarts == 0 and r.aborts == []
    assert r.alarms == ["perfusion stopped: alarm A?S: motor stalled"]
    assert r.policy.counts.perfusion_lost


def test_on_alarm_continue_restarts_the_pump_and_goes_on():
    r = Recorded("continue")
    r.policy("perfusion_stopped", "pump", "alarm A?S: motor stalled")
    assert not r.control.paused and r.states == [] and r.restarts == 1 and r.aborts == []
    assert r.policy.counts.perfusion_lost


def test_on_alarm_abort_stops_the_run():
    r = Recorded("abort")
    r.policy("perfusion_stopped", "pump", "pump unreachable")
    assert r.aborts == ["perfusion stopped: pump unreachable"]
    assert not r.control.paused and r.restarts == 0


def test_a_link_fault_holds_the_schedule_until_the_instrument_is_back():
    r = Recorded("pause")
    r.policy("fault", "valve", "valve: Disconnected: port closed")
    assert r.control.has("fault valve") and r.states == [State.PAUSED]
    assert r.alarms == ["valve: Disconnected: port closed; reconnecting"]  # named once
    r.policy("recovered", "valve", "reconnected")
    assert not r.control.paused and r.states == [State.PAUSED, State.RUNNING]
    r.policy("gap", "detector", "detector readings lost for 3.0 s")
    assert r.policy.counts.gaps == 1 and r.alarms[-1] == "detector readings lost for 3.0 s"


def test_a_fault_while_stopping_cannot_pause_the_run(engine):
    engine.state = State.STOPPING
    engine.faults("fault", "collector", "collector: InstrumentTimeout: still busy")
    assert engine.state is State.STOPPING
    assert engine.alarms == ["collector: InstrumentTimeout: still busy; reconnecting"]


def test_an_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="on_alarm must be one of pause, continue, abort"):
        FaultPolicy("ignore", control=lambda: None, set_state=print, alarm=print,
                    restart_pump=print, abort=print)
