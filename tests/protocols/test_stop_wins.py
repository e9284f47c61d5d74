"""Stop always wins: whatever the protocol's own code does and whatever an instrument does
at start-up, an abort ends the run in the safe state with a complete file within seconds,
and a protocol that ends itself (``sys.exit()``) is an error with its line, never
"completed". Simulated rig on a scaled clock."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from raphe.acquisition.analysis.method import load_method
from raphe.acquisition.reader import SessionReader
from raphe.protocols.engine import EXIT_ABORTED, Engine, Settings, State
from raphe.protocols.protocol import parse_protocol
from raphe.protocols.rig_spec import SimOptions
from raphe.simulators.faults import apply_fault

pytestmark = pytest.mark.slow

SPEED = 300.0

# The dry run answers a prompt with "" and a --yes run with "yes": what follows the prompt
# runs only live.
SPIN = """\
def run(rig, params):
    rig.pump.infuse(1.0)
    if rig.prompt("go on?") == "yes":
        while True:
            pass
    rig.collect(20)
"""

SWALLOW = """\
def run(rig, params):
    rig.pump.infuse(1.0)
    live = rig.prompt("go on?") == "yes"
    rig.collect(20)
    while live:
        try:
            rig.wait(1)
        except Exception:
            continue
"""

EXITS = """\
import sys


def run(rig, params):
    rig.pump.infuse(1.0)
    rig.collect(16)
    if rig.prompt("go on?") == "yes":
        sys.exit()
    rig.collect(16)
"""


def engine_for(tmp_path: Path, source: str) -> Engine:
    protocol = parse_protocol(source, str(tmp_path / "protocol.py"))
    engine = Engine(protocol, {}, Settings(out=tmp_path / "s.h5", sim=SimOptions(speed=SPEED),
                                           method=load_method("simulated-5ht"),
                                           auto_answer=True))
    plan = engine.check()
    assert plan.ok, plan.errors
    return engine


def abort_after(engine: Engine, seconds: float) -> dict:
    """Request an abort ``seconds`` after the run starts; note when."""
    when = {}

    def later() -> None:
        time.sleep(seconds)
        when["abort"] = time.monotonic()
        engine.request_abort("test abort")

    threading.Thread(target=later, daemon=True).start()
    return when


def ended_safe(tmp_path: Path, engine: Engine, when: dict, limit_s: float = 10.0) -> None:
    assert engine.wait(60), "the run did not end"
    assert time.monotonic() - when["abort"] < limit_s
    outcome = engine.outcome
    assert outcome.exit_code == EXIT_ABORTED, outcome.message
    with SessionReader(tmp_path / "s.h5") as r:
        assert r.complete and r.metadata["end_reason"] == "aborted"
        assert r.pump()[-1].status == "stopped"
        final = {x.role: x.state for x in r.records("instruments") if x.detail == "safe"}
    assert final == {"valve": "LOAD", "collector": "drain", "detector": "stopped"}


def test_an_endless_loop_in_the_protocol_does_not_stop_an_abort(tmp_path):
    engine = engine_for(tmp_path, SPIN)
    engine.start()
    when = abort_after(engine, 2.0)
    ended_safe(tmp_path, engine, when)


def test_a_protocol_catching_exception_cannot_swallow_the_stop(tmp_path):
    engine = engine_for(tmp_path, SWALLOW)
    engine.start()
    when = abort_after(engine, 3.0)
    ended_safe(tmp_path, engine, when)


def test_a_collector_busy_for_ever_at_start_up_does_not_stop_an_abort(tmp_path):
    engine = engine_for(tmp_path, SPIN)

    def busy_at_start(kind, payload) -> None:  # on the engine's thread, before the moves
        if kind == "state" and payload is State.RUNNING:
            apply_fault(engine.opened.sim, "collector busy 1000000")

    engine.subscribe(busy_at_start)
    engine.start()
    when = abort_after(engine, 3.0)
    assert engine.wait(60), "the run did not end"
    assert time.monotonic() - when["abort"] < 40  # the collector's own busy wait is 30 s
    assert engine.outcome.exit_code == EXIT_ABORTED
    with SessionReader(tmp_path / "s.h5") as r:
        assert r.complete and r.metadata["end_reason"] == "aborted"
        final = {x.role: (x.state, x.detail) for x in r.records("instruments")}
    # the collector never came back: the file says so, the rest is safe
    assert final["valve"] == ("LOAD", "safe") and final["detector"] == ("stopped", "safe")
    assert final["collector"][1].startswith("NOT safe")
    assert "NOT in the safe state: collector" in engine.outcome.message


def test_sys_exit_in_a_protocol_is_an_error_with_its_line_and_the_sample_is_finished(tmp_path):
    engine = engine_for(tmp_path, EXITS)
    outcome = engine.run()
    assert outcome.exit_code == EXIT_ABORTED
    assert "protocol.py, line 8" in outcome.message and "sys.exit" in outcome.message
    with SessionReader(tmp_path / "s.h5") as r:
        assert r.metadata["end_reason"] == "ended on fault"
        (inj,) = r.injections()
        # the chromatogram of the sample injected before sys.exit() ran to its end
        assert r.t_range[1] >= inj.t + 15 * 60


def test_slow_instruments_during_an_abort_end_verified_safe(tmp_path):
    """Valve, collector and pump answering slowly while the run aborts: each is commanded,
    retried within its deadline and read back — all end safe, and the file says so. (One
    slower than its reply bound cannot be made safe: the report says which, as when the
    collector stays busy.)"""
    engine = engine_for(tmp_path, SPIN)
    engine.start()

    def slow_then_abort() -> None:
        time.sleep(2.0)
        # each slower than usual but within its own reply bound (the collector's GSIOC
        # bytes: 0.2 s; the valve's and the pump's replies: 1 s and 0.5 s)
        for role, delay in (("valve", 0.4), ("collector", 0.1), ("pump", 0.3)):
            apply_fault(engine.opened.sim, f"{role} slow {delay}")
        engine.request_abort("test abort")

    when: dict = {}
    threading.Thread(target=slow_then_abort, daemon=True).start()
    time.sleep(2.0)
    when["abort"] = time.monotonic()
    ended_safe(tmp_path, engine, when, limit_s=20.0)
