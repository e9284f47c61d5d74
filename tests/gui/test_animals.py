"""Several animals on one HPLC in the window, and several rigs as tabs: a real three-animal
run on the simulated rig (a scaled clock), each animal in its colour everywhere, one animal
taken off the rig; the form's per-animal values; alarms and prompts that name their animal."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from raphe.gui.app import dialogs as dialog_module
from raphe.gui.app.animals import Merge, SharedAlarms, describe, split_animal
from raphe.gui.app.panels.timecourse import DEFAULT_EXCLUDED, EXCLUDED_LOOK, MISSING, Point
from raphe.gui.app.shared_live_run import SharedLiveRun, aggregate
from raphe.protocols.states import State
from raphe.records import Event, Injection

from gui_helpers import SPEED, WAIT_MS

SHORT = ["equilibration_min=5", "baseline_samples=2", "post_samples=2"]
DRUGS = ["A1:drug=vehicle", "A2:drug=ipsapirone", "A2:route=sc", "A2:dose_mg_kg=1",
         "A2:region=ventral-hippocampus", "A3:drug=fluoxetine"]


def three_animals(window, speed=SPEED):
    panel = window.protocol_panel
    panel.set_rig(None, speed=speed)
    panel.set_animals(3)
    assert panel.load("systemic-drug")
    panel.apply_assignments(SHORT + DRUGS)
    panel.check()
    assert panel.can_start, panel.problem
    return panel


def test_the_form_sets_parameters_per_animal_and_the_fast_assay_for_several(qtbot, window):
    panel = three_animals(window)
    assert panel.animal_ids == ["A1", "A2", "A3"]
    assert panel.method == "simulated-5ht-fast"  # several animals share the fast assay
    assert panel.out_label.text() == "output folder"
    setup = panel.setup()
    assert setup.shared and setup.assay == "fast"
    assert setup.animals["A2"]["drug"] == "ipsapirone"
    assert setup.animals["A2"]["route"] == "sc"
    assert setup.animals["A1"]["drug"] == "vehicle"
    assert str(setup.animals["A3"]["baseline_samples"]) == "2"  # what every animal shares
    assert "A1" in panel.summary.text() and "A3" in panel.summary.text()
    panel.form.animal_editors["dose_mg_kg"]["A2"].setText("-1")  # one animal's bad value
    assert "A2:" in panel.form.errors()["dose_mg_kg"]
    panel.check()
    assert not panel.can_start
    panel.set_animals(1)  # back to one animal: one form, one file, the standard assay
    assert panel.animal_ids == [] and panel.method == "simulated-5ht"
    assert not panel.setup().shared


@pytest.mark.slow
def test_three_animals_run_in_their_colours_and_one_is_taken_off_the_rig(qtbot, window,
                                                                          dialogs, tmp_path):
    panel = three_animals(window)
    out = tmp_path / "three"
    panel.out_edit.setText(str(out))
    run = window.start_run()
    assert isinstance(run, SharedLiveRun), window.errors
    colors = {v.id: v.color for v in run.views}
    assert len(set(colors.values())) == 3
    rows = window.rig_panel.animals.rows
    assert list(rows) == ["A1", "A2", "A3"] and window.rig_panel.several
    assert [s.animal for s in window.timecourse_panel.series[1:]] == ["A1", "A2", "A3"]
    assert window.timecourse_panel.unit == "% of baseline"
    qtbot.waitUntil(lambda: all(r.state.text() == "running" for r in rows.values()),
                    timeout=WAIT_MS)
    # every animal's first sample quantified; each curve from its own model
    qtbot.waitUntil(lambda: all(any(r.analyte == "5-HT" for r in v.model.results)
                                for v in run.views), timeout=WAIT_MS)
    course = window.timecourse_panel
    course.redraw()
    assert all(course.curves()[a] for a in colors)
    course.show_animal("A2", False)  # a toggle hides one animal
    assert not course.curves()["A2"] and course.curves()["A1"]
    course.show_animal("A2", True)
    # the trace labels each injection with its animal, in its colour
    trace = window.trace_panel.markers
    labels = [text for _, kind, text in trace.lines if kind == "injection"]
    assert labels and all(split_animal(label.replace(" ", ": ", 1), colors)[0]
                          for label in labels)
    assert trace.animal_colors == colors
    # the Rig panel: each animal's own pump
    assert all(r.pump.status.text() == "infusing" for r in rows.values())
    # Abort: one animal off the rig, the others go on
    dialogs.answer("Abort A3 only")
    window.ask_abort()
    qtbot.waitUntil(lambda: rows["A3"].state.text() == "off the rig", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: rows["A3"].pump.status.text() != "infusing", timeout=WAIT_MS)
    assert run.shared.animal("A1").engine.state is State.RUNNING
    assert rows["A1"].pump.status.text() == "infusing"
    assert run.active_animals() == ["A1", "A2"]
    qtbot.waitUntil(lambda: run.done, timeout=WAIT_MS)
    outcome = run.outcome
    assert outcome.session == out
    assert outcome.animals["A1"].exit_code == 0 and outcome.animals["A2"].exit_code == 0
    assert "abort" in outcome.animals["A3"].message
    assert rows["A3"].state.text() != "running"
    log = json.loads((out / "run.json").read_text())
    assert [a["id"] for a in log["animals"]] == ["A1", "A2", "A3"]
    for a in colors:
        assert (out / f"{a}.h5").is_file()
    # the merged events say whose they are; the shared instruments' once
    texts = [e.text for e in window.model.events]
    assert any(t.startswith("A2: ") for t in texts)
    assert "files written in" in panel.step_label.text()


def test_alarms_and_prompts_name_their_animal(qtbot, window):
    alarm = window.alarms.raise_alarm("perfusion stopped: pump stalled", 60.0, "A2")
    assert alarm is not None and alarm.said.startswith("A2: ")
    assert "A2: perfusion stopped" in alarm.describe()
    window.alarms.recovered(alarm.kind, 90.0, "A1")  # another animal's recovery: not this one
    assert not alarm.recovered
    window.alarms.clear()

    class Prompt:
        id, text, t, wall = 1, "A2: Give ipsapirone 1 mg/kg sc now", 600.0, 0.0

    dialog = dialog_module.PromptDialog(Prompt(), window, animal="A2", color="#cc79a7")
    assert "A2" in dialog.windowTitle()
    dialog.close()
    routes = SharedAlarms()  # a shared instrument's alarm, raised by every animal: once
    assert routes.route("A1", "detector: link lost") == ""
    assert routes.route("A2", "detector: link lost") is None
    assert routes.route("A2", "pump: stalled") == "A2"


def test_the_merged_session_names_each_sample_and_event_with_its_animal():
    merge = Merge(["A1", "A2"])
    inj = Injection(t=100.0, sample_id="P1", loop_volume_uL=5.0)
    (_, named), = merge.batch("A2", [("injections", inj)])
    assert named.sample_id == "A2 P1" and merge.animal_of("A2 P1") == "A2"
    event = Event(t=5.0, kind="drug", source="protocol", text="ipsapirone 1 mg/kg s.c.")
    (_, said), = merge.batch("A2", [("events", event)])
    assert said.text == "A2: ipsapirone 1 mg/kg s.c."
    shared = Event(t=5.0, kind="alarm", source="engine", text="detector: link lost")
    assert merge.batch("A2", [("events", shared)]) == []  # the first animal's file says it
    assert len(merge.batch("A1", [("events", shared)])) == 1
    assert describe("A2", {"drug": "ipsapirone", "dose_mg_kg": 1.0, "route": "sc"}) == \
        "A2 · ipsapirone 1 mg/kg sc"
    assert describe("A1", {"drug": "vehicle", "dose_mg_kg": 10.0}) == "A1 · vehicle"
    assert aggregate([State.RUNNING, State.PAUSED]) is State.PAUSED
    assert aggregate([State.DONE, State.RUNNING]) is State.RUNNING


def test_every_flag_that_excludes_a_sample_has_its_own_look():
    from raphe.acquisition.analysis import flags as fl

    reasons = set(fl.IMPLAUSIBLE_REASONS) | {"implausible"}  # one look: "cannot be trusted"
    own = sorted(fl.EXCLUDING - reasons - set(MISSING))
    looks = {name: EXCLUDED_LOOK.get(name, DEFAULT_EXCLUDED) for name in own}
    assert DEFAULT_EXCLUDED not in looks.values(), looks
    assert len(set(looks.values())) == len(looks), looks
    assert EXCLUDED_LOOK["unresolved"] == ("crosshair", "⊕")
    point = Point("P1", 40.0, 55.0, ("unresolved",), False, level=1.0)
    assert point.excluded and point.look() == ("crosshair", "⊕")
    assert math.isfinite(point.y)


@pytest.mark.slow
def test_several_rigs_open_as_tabs_each_with_its_own_run(qtbot, settings, tmp_path):
    from raphe.gui.app.rig_tabs import RigTabs

    from gui_helpers import short_drug_parameters

    tabs = RigTabs([None, None], settings=settings, folder=tmp_path)
    tabs.show()
    assert tabs.tabs.count() == 2 and tabs.names == ["simulated rig", "simulated rig (2)"]
    second = tabs.windows[1]
    panel = second.protocol_panel
    panel.set_rig(None, speed=SPEED)
    assert panel.load("systemic-drug", short_drug_parameters())
    panel.check()
    run = second.start_run()
    assert run is not None, second.errors
    qtbot.waitUntil(lambda: "running" in tabs.tabs.tabText(1), timeout=WAIT_MS)
    assert tabs.windows[0].run is None and tabs.tabs.tabText(0) == "simulated rig"
    assert tabs.running == [second]
    closed = []
    tabs.closed.connect(lambda: closed.append(True))
    tabs.quit_now()  # every run aborted to its safe state first, then the window closes
    qtbot.waitUntil(lambda: bool(closed), timeout=WAIT_MS)
    assert run.done and run.outcome.session is not None


def test_the_gui_command_opens_several_animals_or_several_rigs(tmp_path):
    from test_cli_gui import one_line_error, picture, raphe

    one_line_error(raphe("gui", "--animals", "5", "--screenshot", "x.png", "--quit-after", "1",
                         tmp_path=tmp_path), "--animals", "1 to 4")
    shot = tmp_path / "animals.png"
    result = raphe("gui", "--sim", "--animals", "3", "--set", "A2:drug=ipsapirone",
                   "--set", "post_samples=2", "--screenshot", str(shot), "--quit-after", "1",
                   tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert picture(shot).width() > 0
    text = (Path(__file__).parents[2] / "docs" / "rig.example.toml").read_text()
    for name in ("bench-a.toml", "bench-b.toml"):
        (tmp_path / name).write_text(text)
    shot = tmp_path / "rigs.png"
    result = raphe("gui", "--rig", "bench-a.toml", "--rig", "bench-b.toml", "--screenshot",
                   str(shot), "--quit-after", "1", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert picture(shot).width() > 0
