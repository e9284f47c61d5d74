"""Records that say what the instruments did, not what was planned: a late injection keeps
its real time and the probe window of the dialysate really in the loop; a tube's row has
the time the arm was there and the volume the pump delivered; a refused tube move asks the
operator and the run goes on. Simulated rig on a scaled clock."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from raphe.acquisition.analysis.method import load_method
from raphe.acquisition.reader import SessionReader
from raphe.protocols.engine import Engine, Settings
from raphe.protocols.protocol import parse_protocol
from raphe.protocols.rig_spec import SimOptions
from raphe.simulators.faults import apply_fault

pytestmark = pytest.mark.slow

SPEED = 300.0
REAL_MIN = 60.0 / SPEED  # real seconds per session minute

TWO_SAMPLES = """\
def run(rig, params):
    rig.pump.infuse(1.0)
    rig.wait(5)
    rig.collect(16, label="S1")
    rig.collect(16, label="S2")
"""


def engine_for(tmp_path: Path, **settings) -> Engine:
    protocol = parse_protocol(TWO_SAMPLES, str(tmp_path / "protocol.py"))
    settings.setdefault("on_alarm", "pause")
    return Engine(protocol, {}, Settings(out=tmp_path / "s.h5", sim=SimOptions(speed=SPEED),
                                         method=load_method("simulated-5ht"), **settings))


def at_first_injection(engine: Engine, action) -> None:
    def watch(kind, payload):
        if kind == "injection" and payload == "S1":
            threading.Thread(target=action, daemon=True).start()
    engine.subscribe(watch)


def test_a_late_injection_records_its_real_time_and_the_dialysate_in_the_loop(tmp_path):
    engine = engine_for(tmp_path)

    def valve_out_over_s2s_injection() -> None:
        time.sleep(13 * REAL_MIN)  # 3 min before S2 is due
        apply_fault(engine.opened.sim, "valve unplug")
        time.sleep(15 * REAL_MIN)
        apply_fault(engine.opened.sim, "valve plug")

    at_first_injection(engine, valve_out_over_s2s_injection)
    outcome = engine.run()
    assert outcome.exit_code == 0, outcome.message
    with SessionReader(tmp_path / "s.h5") as r:
        s1, s2 = r.injections()
        fractions = {f.sample_id: f for f in r.fractions()}
        results = {x.sample_id: x for x in r.results() if x.analyte == "5-HT"}
    planned = s1.t + 16 * 60
    assert s2.t - planned > 8 * 60  # the valve came back about 12 min after S2 was due
    assert s1.flags == "" and s2.flags == "late_injection"
    # the loop (20 µL at 1 µL/min) held the 20 min of dialysate before the real switch,
    # shifted back by the outlet dead volume (5 µL: 5 min)
    assert s2.probe_end_s == pytest.approx(s2.t - 5 * 60, abs=30)
    assert s2.probe_end_s - s2.probe_start_s == pytest.approx(20 * 60, abs=30)
    assert "late_injection" in results["S2"].flags and results["S2"].flags.count(",") == 0
    # the tube kept filling until the arm left it, after the late injection
    assert fractions["S2"].t_end >= s2.t
    assert fractions["S2"].volume_uL == pytest.approx(
        (fractions["S2"].t_end - fractions["S2"].t_start) / 60, rel=0.02)


def test_a_stall_shortens_the_fraction_to_what_the_pump_delivered(tmp_path):
    engine = engine_for(tmp_path)

    def stall_then_resume() -> None:
        time.sleep(4 * REAL_MIN)  # S2's tube is filling
        apply_fault(engine.opened.sim, "pump stall")
        time.sleep(6 * REAL_MIN)  # the operator comes back after about 6 min
        engine.request_resume()

    at_first_injection(engine, stall_then_resume)
    outcome = engine.run()
    assert outcome.exit_code == 3, outcome.message  # a fault affected samples
    with SessionReader(tmp_path / "s.h5") as r:
        fractions = {f.sample_id: f for f in r.fractions()}
    s1, s2 = fractions["S1"], fractions["S2"]
    assert s1.flags == "" and s2.flags == "volume_short"
    filled_min = (s2.t_end - s2.t_start) / 60
    assert filled_min > 20  # the schedule held while the probe was not perfused
    assert s2.volume_uL < filled_min - 4  # the pump delivered nothing during the stall


def test_a_refused_tube_move_asks_the_operator_and_the_run_goes_on(tmp_path):
    engine = engine_for(tmp_path)
    asked = []

    def rack_end() -> None:
        apply_fault(engine.opened.sim, "collector rack_end")

    def answer(kind, payload):
        if kind == "prompt":
            asked.append(payload.text)
            threading.Thread(target=engine.answer, args=(payload.id, "skip"),
                             daemon=True).start()

    at_first_injection(engine, rack_end)
    engine.subscribe(answer)
    outcome = engine.run()
    assert outcome.exit_code == 0, outcome.message
    assert len(asked) == 1 and "move to tube 2" in asked[0] and "retry, skip" in asked[0]
    with SessionReader(tmp_path / "s.h5") as r:
        assert [f.sample_id for f in r.fractions()] == ["S1"]
        assert [i.sample_id for i in r.injections()] == ["S1", "S2"]  # still injected
        steps = [e.text for e in r.events() if e.kind == "step"]
    assert any("move to tube 2: skip (operator)" in t for t in steps)
