"""The engine on the simulated rig: pause keeps perfusing and holds the schedule, abort makes
every instrument safe, a port pulled mid-run pauses and resumes with the tube and injection
sequence intact, prompts are answered, the flow can be changed. Scaled clock throughout."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from raphe.acquisition.reader import SessionReader
from raphe.errors import InputError
from raphe.protocols.engine import EXIT_ABORTED, EXIT_AFFECTED, EXIT_OK, Engine, Settings, State
from raphe.protocols.protocol import parse_protocol
from raphe.protocols.rig_spec import SimOptions
from raphe.simulators.faults import apply_fault

from session_helpers import held

pytestmark = pytest.mark.slow  # end-to-end runs of the simulated rig

SPEED = 300.0

FOUR_SAMPLES = """\
from raphe.protocols import Parameter

parameters = [Parameter("interval_min", 16.0, unit="min", range=(1, 60))]


def run(rig, params):
    rig.pump.infuse(1.25)
    rig.wait(5)
    for i in range(4):
        rig.collect(params.interval_min)
"""


def engine_for(tmp_path: Path, source: str = FOUR_SAMPLES, **settings) -> Engine:
    protocol = parse_protocol(source, str(tmp_path / "protocol.py"))
    settings.setdefault("sim", SimOptions(speed=SPEED))
    return Engine(protocol, settings.pop("given", {}),
                  Settings(out=tmp_path / "s.h5", **settings))


def when(engine: Engine, kind: str, action, *, after: int = 1) -> None:
    """Call ``action(engine)`` on its own thread at the ``after``-th engine event ``kind``."""
    seen = [0]

    def watch(k, payload):
        if k == kind:
            seen[0] += 1
            if seen[0] == after:
                threading.Thread(target=action, args=(engine,), daemon=True).start()

    engine.subscribe(watch)


def finish(engine: Engine, timeout: float = 240) -> object:
    engine.start()
    assert engine.wait(timeout), "the run did not end"
    return engine.outcome


def session_tables(path: Path) -> tuple[list, list, list]:
    with SessionReader(path) as r:
        assert r.complete and r.check()["problems"] == []
        return r.injections(), r.fractions(), r.events()


def test_pause_keeps_the_pump_infusing_and_holds_the_schedule(tmp_path):
    engine = engine_for(tmp_path)
    observed = {}

    def pause_then_resume(e: Engine) -> None:
        e.request_pause()
        sim = e.opened.sim
        t0 = e.session_time()
        time.sleep(1.0)  # 5 min of clock time
        observed["flow"] = sim.pump.flow_uL_min()
        observed["state"] = e.state
        observed["paused_for"] = e.session_time() - t0
        e.request_resume()

    when(engine, "injection", pause_then_resume)
    outcome = finish(engine)
    assert outcome.exit_code == EXIT_OK, outcome.message
    assert observed["flow"] == pytest.approx(1.25) and observed["state"] is State.PAUSED
    injections, fractions, events = session_tables(tmp_path / "s.h5")
    times = [i.t for i in injections]
    assert [i.sample_id for i in injections] == ["S001", "S002", "S003", "S004"]
    # never early; late only by what a busy host adds (60 s of this clock = 0.2 s real) and
    # by any hold a busy host caused itself (a link lost and reconnected holds the schedule)
    assert 21 * 60 <= times[0] < 21 * 60 + 60 + held(events, 0, times[0])
    # The sample being collected during the pause got longer by the pause: the schedule held.
    assert times[1] - times[0] >= 16 * 60 + observed["paused_for"] * 0.9
    assert times[2] - times[1] == pytest.approx(16 * 60 + held(events, times[1], times[2]),
                                                abs=60)
    assert [f.tube for f in fractions] == [1, 2, 3, 4]
    # what the pump delivered while the tube filled: the flow × the time (its counter)
    assert fractions[1].volume_uL == pytest.approx(1.25 * (fractions[1].t_end
                                                           - fractions[1].t_start) / 60,
                                                    rel=0.01)
    texts = [e.text for e in events if e.kind in ("step", "state")]
    assert "paused by the operator" in texts and "resumed by the operator" in texts


def test_abort_leaves_every_simulated_instrument_in_its_safe_state(tmp_path):
    engine = engine_for(tmp_path)

    def abort_mid_sample(e: Engine) -> None:
        time.sleep(1.0)  # 5 min of clock time into the second sample
        e.request_abort("test abort")

    when(engine, "injection", abort_mid_sample)
    sims = {}
    engine.subscribe(lambda k, p: sims.setdefault("sim", engine.opened.sim)
                     if k == "injection" else None)
    outcome = finish(engine)
    assert outcome.exit_code == EXIT_ABORTED and "test abort" in outcome.message
    sim = sims["sim"]
    assert sim.pump.flow_uL_min() == 0.0
    assert sim.valve.device.position() == "A"  # LOAD
    assert sim.collector.device.position() == 0  # the drain
    assert not sim.detector.device.running if hasattr(sim.detector, "device") else True
    injections, fractions, events = session_tables(tmp_path / "s.h5")
    assert len(injections) == 1
    assert [e.text for e in events if e.kind == "state"][-1].startswith("done: aborted")
    # the tube that was filling when the run was aborted is in the file, flagged partial
    assert [(f.tube, f.flags) for f in fractions] == [(1, ""), (2, "partial")]
    partial = fractions[-1]
    assert partial.sample_id == "S002" and partial.t_end - partial.t_start < 16 * 60
    assert partial.volume_uL == pytest.approx(1.25 * (partial.t_end - partial.t_start) / 60)
    # how the run ended, and each instrument's final, safe state
    with SessionReader(tmp_path / "s.h5") as r:
        meta = r.metadata
        assert (meta["end_reason"], meta["end_detail"]) == ("aborted", "test abort")
        assert [e.text for e in r.events() if e.kind == "end"] == ["aborted: test abort"]
        assert r.pump()[-1].status == "stopped"
        final = {x.role: (x.state, x.detail) for x in r.records("instruments")}
        assert final == {"valve": ("LOAD", "safe"), "collector": ("drain", "safe"),
                         "detector": ("stopped", "safe")}


@pytest.mark.parametrize("role", ["pump", "valve", "collector", "detector"])
def test_a_port_pulled_mid_run_pauses_alarms_and_resumes_with_the_sequence_intact(tmp_path,
                                                                                   role):
    engine = engine_for(tmp_path)
    states = []
    engine.subscribe(lambda k, p: states.append(p) if k == "state" else None)

    def pull(e: Engine) -> None:
        sim = e.opened.sim
        unplug = "unplug" if role != "detector" else "drop"
        apply_fault(sim, f"{role} {unplug}")
        time.sleep(1.5)  # 7.5 min of clock time
        if role != "detector":
            apply_fault(sim, f"{role} plug")

    when(engine, "injection", pull)
    outcome = finish(engine)
    injections, fractions, events = session_tables(tmp_path / "s.h5")
    # A drop that cuts a DATA:REM? reply in flight loses the readings the DMM had handed
    # over: a recorded gap, and the run ends "affected". Nothing else may.
    gaps = [e for e in events if e.kind == "gap"]
    expected = EXIT_AFFECTED if role == "detector" and gaps else EXIT_OK
    assert outcome.exit_code == expected, outcome.message
    assert [i.sample_id for i in injections] == ["S001", "S002", "S003", "S004"]
    assert [f.tube for f in fractions] == [1, 2, 3, 4]
    assert [f.sample_id for f in fractions] == ["S001", "S002", "S003", "S004"]
    alarms = [e.text for e in events if e.kind == "alarm"]
    assert any(a.startswith(f"{role}:") and "reconnecting" in a for a in alarms), alarms
    assert f"{role}: reconnected" in alarms
    assert State.PAUSED in states
    assert states.index(State.PAUSED) < len(states) - 1 - states[::-1].index(State.RUNNING)


PROMPTING = """\
def run(rig, params):
    rig.pump.infuse(1.0)
    answer = rig.prompt("Is the animal awake?")
    rig.mark(f"answer {answer}")
    rig.collect(20)
"""


def test_a_prompt_waits_for_its_answer_while_acquisition_goes_on(tmp_path):
    engine = engine_for(tmp_path, PROMPTING)
    asked = []

    def answer(e: Engine) -> None:
        time.sleep(0.5)
        prompt = e.status().prompt
        asked.append(prompt.text)
        assert e.answer(prompt.id, "yes, grooming")

    when(engine, "prompt", answer)
    outcome = finish(engine)
    assert outcome.exit_code == EXIT_OK, outcome.message
    assert asked == ["Is the animal awake?"]
    with SessionReader(tmp_path / "s.h5") as r:
        markers = [e.text for e in r.events() if e.kind == "marker"]
        assert markers == ["answer yes, grooming"]
        assert any("answered prompt 1" in a["what"] for a in r.audit())
        assert r.duration_s > 20 * 60


def test_yes_answers_prompts_on_the_simulated_rig_only(tmp_path):
    outcome = finish(engine_for(tmp_path, PROMPTING, auto_answer=True))
    assert outcome.exit_code == EXIT_OK
    rig = tmp_path / "rig.toml"
    rig.write_text('[pump]\ndriver = "ne1000"\nport = "/dev/serial/by-id/absent"\n'
                   "syringe_diameter_mm = 4.61\nsyringe_volume_uL = 1000.0\n"
                   '[collector]\ndriver = "fc203b"\nport = "/dev/serial/by-id/absent-fc"\n'
                   "rack_size = 48\n"
                   '[detector]\ndriver = "dmm34465a"\nresource = "TCPIP::127.0.0.1::9::SOCKET"\n'
                   "scale_nA_per_V = 10.0\n")
    (tmp_path / "s.h5").unlink()
    with pytest.raises(InputError, match="simulated rig only"):
        engine_for(tmp_path, PROMPTING, auto_answer=True, sim=None, rig_file=str(rig)).start()


def test_a_flow_change_during_the_run_is_applied_audited_recorded_and_flagged(tmp_path):
    from raphe.acquisition.analysis.method import load_method
    from raphe.acquisition.export import export_csv

    engine = engine_for(tmp_path, method=load_method("simulated-5ht"))
    when(engine, "injection", lambda e: e.request_flow(2.0))
    outcome = finish(engine)
    assert outcome.exit_code == EXIT_OK, outcome.message
    with SessionReader(tmp_path / "s.h5") as r:
        assert any(a["what"] == "flow set to 2 µL/min" and a["previous"] == "1.25 µL/min"
                   for a in r.audit())
        assert r.pump()[-1].rate_uL_min == pytest.approx(2.0)
        fractions = r.fractions()
        flows = [e for e in r.events() if e.kind == "flow"]
        injections = r.injections()
        flagged = {x.sample_id for x in r.results() if "flow_changed" in x.flags}
    assert fractions[-1].volume_uL == pytest.approx(
        2.0 * (fractions[-1].t_end - fractions[-1].t_start) / 60, rel=0.02)
    # every change is an event naming who: the protocol's start, then the operator's
    assert [(f.text, f.source) for f in flows] == [
        ("0 -> 1.25 uL/min; protocol", "protocol"),
        ("1.25 -> 2 uL/min; operator: changed during the run", "operator")]
    # the sample whose probe window spans the change, and those after it (another flow than
    # the baseline's), are flagged; the first is not
    change = flows[-1].t
    spans = {i.sample_id for i in injections if i.probe_start_s < change < i.probe_end_s}
    assert spans and spans <= flagged and "S001" not in flagged
    assert flagged == {i.sample_id for i in injections if i.probe_end_s > change}
    files = export_csv(tmp_path / "s.h5", tmp_path / "csv")
    events_csv = next(f for f in files if f.name == "events.csv").read_text()
    assert "1.25 -> 2 uL/min; operator: changed during the run" in events_csv



TWO_SAMPLES = """\
def run(rig, params):
    rig.pump.infuse(1.0)
    for i in range(2):
        rig.collect(6)
"""


def test_the_last_run_waits_for_readings_that_come_late(tmp_path):
    """The detector falls quiet just before the last chromatogram ends and resumes a little
    later: the engine waits for its readings to cover that end before it stops acquiring,
    so the last sample is whole (its lost readings a gap), never cut short by the stop."""
    from raphe.acquisition.analysis.method import load_method

    method = load_method("simulated-5ht-fast")
    engine = engine_for(tmp_path, TWO_SAMPLES, method=method,
                        sim=SimOptions(speed=SPEED, assay="fast"), auto_answer=True)
    injected = []
    engine.subscribe_stream(lambda kind, record: injected.append(record), ("injections",))
    engine.start()
    deadline = time.monotonic() + 90
    while len(injected) < 2 or engine.opened is None:
        assert engine.state not in (State.FAILED, State.DONE), engine.outcome
        assert time.monotonic() < deadline, "the last sample was not injected"
        time.sleep(0.01)
    end = injected[-1].t + method.run_length_s
    while engine.session_time() < end - 60:
        time.sleep(0.005)
    apply_fault(engine.opened.sim, "detector stall")
    time.sleep(1.5)  # 7.5 min of the experiment at 300×: well past the run's end
    apply_fault(engine.opened.sim, "detector resume")
    assert engine.wait(120), "the run did not end"
    with SessionReader(tmp_path / "s.h5") as r:
        assert r.t_range[1] >= end
        last = [x for x in r.results() if x.analyte == "5-HT" and x.sample_id == "S002"]
        assert last and all("incomplete" not in x.flags for x in last), last
        assert any(e.kind == "gap" for e in r.events())
