"""A day at the bench, in the window, on the simulated rig: a pump stall is a loud alarm
until acknowledged (and the acknowledgement is in the file, with its time); the next strip's
clock times stay true across a pause; a second run after an aborted one starts with every
panel reset."""

from __future__ import annotations

import math
import time

import pytest
from PySide6.QtCore import Qt

from raphe.acquisition.reader import SessionReader
from raphe.gui.app.widgets import ALARM, clock
from raphe.protocols.engine import EXIT_ABORTED, State
from raphe.severity import LOUD, severity
from raphe.simulators.faults import apply_fault

from gui_helpers import WAIT_MS, prepare, short_drug_parameters, start

pytestmark = pytest.mark.slow  # simulated rig runs (on a scaled clock)


def abort(qtbot, window, dialogs, run) -> None:
    dialogs.answer("Abort run")
    qtbot.mouseClick(window.protocol_panel.abort_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: run.done, timeout=WAIT_MS)


def test_a_pump_stall_is_a_loud_alarm_until_acknowledged_and_that_is_in_the_file(
        qtbot, window, dialogs):
    panel = prepare(window, "systemic-drug", short_drug_parameters(post_samples=8))
    run = start(qtbot, window, panel)
    assert not window.bars["alarms"].isVisible()
    qtbot.waitUntil(lambda: window.model.pump is not None
                    and window.model.pump.status == "infusing", timeout=WAIT_MS)
    apply_fault(run.engine.opened.sim, "pump stall")

    # as loud as a prompt: the red banner across the window, the dock title, the bell
    qtbot.waitUntil(lambda: bool(window.alarms.pending), timeout=WAIT_MS)
    alarm = window.alarms.pending[0]
    assert severity(alarm.text) == LOUD and alarm.kind == "perfusion"
    assert window.bars["alarms"].isVisible() and window.alarm_banner.isVisible()
    assert "perfusion stopped" in window.alarm_banner.text()
    assert window.docks["rig"].windowTitle() == "Rig — ⚠ alarm"
    assert window.alarms.bells >= 1  # the sound is on by default
    # the schedule waits (perfusion stopped: the probe is not perfused)
    qtbot.waitUntil(lambda: panel.state_label.text() == "paused", timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "PAUSED" in window.next_strip.values["now"].text(),
                    timeout=WAIT_MS)
    # it stays: a second later it is still there
    qtbot.wait(1000)
    assert window.alarms.pending and window.bars["alarms"].isVisible()
    loud = [window.rig_panel.alarms.item(i) for i in range(window.rig_panel.alarms.count())]
    assert any(item.font().bold() and item.foreground().color().name() == ALARM
               for item in loud)

    before = time.time()
    qtbot.mouseClick(window.alarm_banner.button, Qt.MouseButton.LeftButton)
    assert not window.alarms.pending and not window.bars["alarms"].isVisible()
    assert window.docks["rig"].windowTitle() == "Rig"
    qtbot.waitUntil(lambda: any(e.kind == "alarm" and e.text.startswith("acknowledged by the "
                                                                        "operator")
                                for e in window.model.events), timeout=WAIT_MS)
    (acknowledged, when, recorded), = window.alarms.acknowledged
    assert recorded and acknowledged.text == alarm.text and when >= before

    abort(qtbot, window, dialogs, run)
    with SessionReader(run.setup.out) as reader:
        events = reader.events()
        audit = reader.audit()
    ack = [e for e in events if e.kind == "alarm" and e.text.startswith("acknowledged")]
    assert len(ack) == 1 and alarm.text in ack[0].text
    stopped = next(e for e in events if e.kind == "perfusion" and e.text.startswith("stopped"))
    assert ack[0].t >= stopped.t  # when: after the alarm, in session time
    entry = next(a for a in audit if a["what"].startswith("acknowledged alarm"))
    assert alarm.text in entry["what"] and entry["who"] == "operator"
    assert before - 1 <= entry["wall_time"] <= time.time()


def test_the_next_strip_clock_times_stay_true_across_a_pause(qtbot, window, dialogs):
    panel = prepare(window, "systemic-drug", short_drug_parameters(post_samples=8))
    run = start(qtbot, window, panel)
    strip = window.next_strip
    qtbot.waitUntil(lambda: strip.ends_at is not None and "inject" in strip.due, timeout=WAIT_MS)
    assert clock(strip.ends_at) in strip.values["end"].text()
    assert strip.values["inject"].text().endswith(clock(strip.due["inject"].wall))
    assert math.isfinite(run.engine.status().ends_at)

    qtbot.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.state_label.text() == "paused"
                    and run.engine.status().state == "paused", timeout=WAIT_MS)
    qtbot.wait(600)  # a status poll or two in the pause
    end0, inject0, at0 = strip.ends_at, strip.due["inject"].wall, time.time()
    # the pause shows on the trace as it happens, a span growing to 'now'
    markers = window.trace_panel.markers
    qtbot.waitUntil(lambda: markers.item.open_span is not None, timeout=WAIT_MS)
    first_span = markers.item.open_span
    qtbot.wait(3000)
    held = time.time() - at0
    end1, inject1 = strip.ends_at, strip.due["inject"].wall
    # while paused, the end and the next injection move later with the clock
    assert held - 1.0 <= end1 - end0 <= held + 1.0
    assert held - 1.0 <= inject1 - inject0 <= held + 1.0
    assert clock(end1) in strip.values["end"].text() and "later while paused" in \
        strip.values["end"].text()
    assert markers.item.open_span[1] > first_span[1]  # it grew

    qtbot.mouseClick(panel.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.state_label.text() == "running", timeout=WAIT_MS)
    qtbot.wait(1500)
    # running again: the end stays where the pause put it (it does not jump back)
    assert abs(strip.ends_at - end1) <= 1.5 + (time.time() - at0 - held)
    assert strip.ends_at - end0 >= held - 1.0
    # the pause is a closed span now
    qtbot.waitUntil(lambda: any(kind == "pause" for _, kind, _ in markers.lines),
                    timeout=WAIT_MS)
    assert markers.paused_since is None and markers.item.open_span is None

    abort(qtbot, window, dialogs, run)
    assert strip.ends_at is None and strip.values["end"].text().startswith("ended ")
    assert "aborted" in strip.values["now"].text()
    assert "ETA" not in panel.eta_label.text() and panel.eta_label.text().startswith("ended")


def test_a_second_run_after_an_aborted_one_starts_with_every_panel_reset(qtbot, window,
                                                                        dialogs):
    params = short_drug_parameters(post_samples=8)
    panel = prepare(window, "systemic-drug", params)
    run = start(qtbot, window, panel)
    first_out = run.setup.out
    # let the first run fill the panels: a quantified sample, a stall alarm, a typed flow
    qtbot.waitUntil(lambda: len(window.timecourse_panel.points) >= 1, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.chromatogram_panel.shown is not None, timeout=WAIT_MS)
    apply_fault(run.engine.opened.sim, "pump stall")
    qtbot.waitUntil(lambda: bool(window.alarms.pending), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: window.rig_panel.alarms.count() > 0, timeout=WAIT_MS)
    window.rig_panel.flow.setValue(2.5)
    window.rig_panel.flow_edited = True
    abort(qtbot, window, dialogs, run)
    assert run.outcome.exit_code == EXIT_ABORTED
    assert panel.step_label.styleSheet() == f"color: {ALARM};"  # the abort, in its colour
    assert window.model.events and window.trace_panel.markers.lines

    second = window.start_run()
    assert second is not None and second is not run and second.setup.out != first_out
    # before the new run's first record: nothing of the last run is on screen
    assert panel.step_label.styleSheet() == "" and panel.step_label.text() == ""
    assert panel.eta_label.text() == "" and panel.progress.value() == 0
    assert not panel.prompt_banner.isVisible()
    assert not window.alarms.pending and not window.bars["alarms"].isVisible()
    assert window.docks["rig"].windowTitle() == "Rig"
    assert window.next_strip.ends_at is None and window.next_strip.due == {}
    assert window.timecourse_panel.points == [] and \
        window.timecourse_panel.summary.text() == "baseline: not yet known"
    assert window.timecourse_panel.view.viewRange()[0] == pytest.approx([0.0, 60.0], abs=0.5)
    assert window.chromatogram_panel.shown is None
    assert window.chromatogram_panel.title.text() == "no chromatogram yet"
    assert window.trace_panel.markers.lines == [] and window.trace_panel.reading.text() == ""
    assert window.events_panel.proxy.rowCount() == 0
    rig = window.rig_panel
    assert rig.alarms.count() == 0
    assert rig.pump_status.text() == "–" and rig.signal.text() == "–"
    assert all(label.text() == "opening…" for label in rig.links.values())
    assert rig.flow.value() == pytest.approx(params.get("flow_ul_min", 1.0)) \
        and not rig.flow_edited
    assert window.model.events == [] and len(window.model.results) == 0
    qtbot.waitUntil(lambda: panel.state_label.text() == "running", timeout=WAIT_MS)
    assert all(label.text() == "connected" for label in rig.links.values())
    abort(qtbot, window, dialogs, second)
    assert second.outcome.state is State.DONE
