"""A real rig, not the simulator: a rig file of Raphe's simulators has no virtual animal at
the operator's hands, so every operator step is a prompt — counted by the dry run as by the
run — and any compound is given as typed."""

from __future__ import annotations

import threading

import pytest

from raphe.acquisition.analysis.method import load_method
from raphe.acquisition.reader import SessionReader
from raphe.protocols.engine import Engine, Settings
from raphe.protocols.protocol import parse_protocol
from raphe.simulators.simulated_rig import RigOptions, SimulatedRig

pytestmark = pytest.mark.slow

NEW_COMPOUND = """\
def run(rig, params):
    rig.pump.infuse(1.0)
    rig.collect(16, label="B1")
    rig.administer("RX-2047 (batch 3)", 3, "sc")
    rig.collect(16, label="P1")
"""


def test_an_unknown_compound_on_a_real_rig_is_prompted_and_recorded_as_typed(tmp_path):
    with SimulatedRig(RigOptions(speed=300.0), directory=str(tmp_path)) as sim:
        rig_file = tmp_path / "rig.toml"
        rig_file.write_text(sim.rig_toml())
        engine = Engine(parse_protocol(NEW_COMPOUND, str(tmp_path / "p.py")), {}, Settings(
            out=tmp_path / "s.h5", rig_file=str(rig_file),
            method=load_method("simulated-5ht")))
        plan = engine.check()
        assert plan.ok, plan.errors
        assert plan.prompts == 1  # the operator gives it: one prompt, as the run will ask
        asked = []

        def confirm(kind, payload):
            if kind == "prompt":
                asked.append(payload.text)
                threading.Thread(target=engine.answer, args=(payload.id, "given"),
                                 daemon=True).start()

        engine.subscribe(confirm)
        outcome = engine.run()
    assert outcome.exit_code == 0, outcome.message
    assert asked == ["Give RX-2047 (batch 3) 3 mg/kg s.c. now, then confirm"]
    with SessionReader(tmp_path / "s.h5") as r:
        (drug,) = [e for e in r.events() if e.kind == "drug"]
    assert (drug.text, drug.source) == ("RX-2047 (batch 3) 3 mg/kg s.c.", "operator")


def test_a_run_after_a_kill_adopts_the_pump_still_perfusing_the_animal(tmp_path):
    """A run killed without stopping the pump leaves it perfusing (right for the animal):
    the next run opens the rig without stopping it and goes on."""
    from raphe.drivers.ne1000 import NE1000

    protocol = "def run(rig, params):\n    rig.pump.infuse(1.0)\n    rig.collect(16)\n"
    with SimulatedRig(RigOptions(speed=300.0), directory=str(tmp_path)) as sim:
        left = NE1000.from_settings(sim.pump.rig_settings())  # the killed run's last commands
        left.set_rate(1.0)
        left.infuse()
        left.close()
        rig_file = tmp_path / "rig.toml"
        rig_file.write_text(sim.rig_toml())
        engine = Engine(parse_protocol(protocol, str(tmp_path / "p.py")), {}, Settings(
            out=tmp_path / "s.h5", rig_file=str(rig_file),
            method=load_method("simulated-5ht")))
        assert engine.check().ok
        stopped = []
        engine.subscribe(lambda kind, payload: stopped.append(sim.pump.flow_uL_min())
                         if kind == "state" and payload.value == "running" else None)
        outcome = engine.run()
    assert outcome.exit_code == 0, outcome.message
    assert stopped == [pytest.approx(1.0)]  # still perfusing when the run began
    with SessionReader(tmp_path / "s.h5") as r:
        alarms = [e.text for e in r.events() if e.kind == "alarm"]
    assert any("found pumping at 1 µL/min: adopted without stopping it" in a for a in alarms)
