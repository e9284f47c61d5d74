"""A layout that never breaks, state that is never stale, numbers as people type them: the
window at 1366 × 768, a long prompt and a long alarm that leave its width alone, the themes,
the decimal comma, the plots' y range, and the panels' small promises."""

from __future__ import annotations

import math
import time
from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from raphe.drivers.units import decimal_point
from raphe.gui.app import theme
from raphe.gui.app.history import LiveHistory
from raphe.gui.app.model import SessionModel
from raphe.gui.app.next_strip import NextStrip
from raphe.gui.app.panels.protocol import ProtocolPanel
from raphe.gui.app.panels.rig_status import RigPanel
from raphe.gui.app.panels.timecourse import UNITS, TimeCoursePanel, y_range
from raphe.gui.app.panels.trace import TracePanel
from raphe.gui.app.pump_readings import UNKNOWN
from raphe.gui.app.widgets import ElidedLabel, NoWheelSpinBox, clock
from raphe.protocols.states import Status
from raphe.records import DetectorBlock, Event, Injection, PumpState, SampleResult

LONG = ("Check the probe's inlet and outlet tubing for air bubbles, confirm that the animal is "
        "awake and moving normally, then give fluoxetine 10 mg/kg i.p. from the syringe "
        "labelled F-12 and note the exact time on the sheet " * 6)


def settle(window, rounds: int = 5) -> None:
    for _ in range(rounds):
        QApplication.processEvents()


def at_laptop_size(window) -> None:
    window.resize(1366, 768)
    settle(window)
    window._default_sizes()
    settle(window)


# -- the window at 1366 × 768 --------------------------------------------------------------

def test_the_window_fits_a_laptop_screen_with_every_panel_readable(qtbot, window):
    at_laptop_size(window)
    assert window.width() <= 1366 and window.height() <= 768
    hint = window.minimumSizeHint()
    assert hint.width() <= 1366 and hint.height() <= 768
    for key, dock in window.docks.items():
        if not dock.isVisible() or dock.visibleRegion().isEmpty():
            continue  # a tab behind another
        inner, least = dock.widget().size(), dock.widget().minimumSizeHint()
        assert inner.width() >= least.width() and inner.height() >= least.height(), key
    for plot in (window.trace_panel.plot, window.timecourse_panel.plot,
                 window.chromatogram_panel.plot):
        assert plot.width() >= 300 and plot.height() >= 110, plot.name
    # the protocol form gets real room
    form = window.protocol_panel.form
    assert form.visibleRegion().boundingRect().height() >= 200
    # the status bar is on screen
    assert window.statusBar().isVisible() and \
        window.statusBar().geometry().bottom() <= window.height()


def test_a_long_prompt_and_a_long_alarm_leave_the_window_width_alone(qtbot, window):
    at_laptop_size(window)
    width = window.width()
    prompt = SimpleNamespace(id=1, text=LONG, t=3600.0, wall=time.time())
    window._on_prompt(prompt)
    settle(window)
    assert window.protocol_panel.prompt_banner.isVisible()
    assert window.protocol_panel.prompt_banner.text().endswith("click to answer")
    assert window.width() == width and window.minimumSizeHint().width() <= 1366
    window.protocol_panel.step_label.setText(LONG)
    window.alarms.raise_alarm(f"perfusion stopped: {LONG}", 60.0)
    window.next_strip.values["now"].setText(LONG)
    settle(window)
    assert window.bars["alarms"].isVisible()
    assert window.width() == width and window.minimumSizeHint().width() <= 1366
    assert window.alarm_banner.height() < 120  # as tall as its lines, not a wall of red
    window._on_prompt_closed(prompt)
    window.alarms.take()
    settle(window)
    assert window.width() == width and not window.bars["alarms"].isVisible()
    for dialog in list(window.prompt_dialogs.values()):
        dialog.close()


def test_elided_labels_keep_the_whole_text_on_hover(qtbot):
    label = ElidedLabel(LONG)
    qtbot.addWidget(label)
    label.resize(200, 20)
    label.show()
    assert label.text() == LONG and label.elided
    assert label.toolTip().startswith(LONG[:60])
    assert label.minimumSizeHint().width() <= 200


# -- numbers as people type them -----------------------------------------------------------

@pytest.mark.parametrize(("typed", "read"), [
    ("2,5", "2.5"), ("2,5 h", "2.5 h"), ("-0,75", "-0.75"), ("2.5", "2.5"), ("1,2,3", "1,2,3"),
    ("90 uL/h", "90 uL/h"),
])
def test_a_decimal_comma_is_a_decimal_point(typed, read):
    assert decimal_point(typed) == read


def test_the_parameter_form_takes_a_decimal_comma_and_asks_about_a_thousands_one(qtbot,
                                                                               tmp_path):
    panel = ProtocolPanel(folder=tmp_path)
    qtbot.addWidget(panel)
    assert panel.protocol.name == "Systemic drug"  # not a calibration: the classic experiment
    panel.form.editors["dose_mg_kg"].setText("2,5")
    assert panel.form.errors() == {}
    assert panel.form.values()["dose_mg_kg"] == "2.5"
    plan = panel.check()
    assert plan.ok and plan.parameters["dose_mg_kg"] == 2.5
    panel.form.editors["interval_min"].setText("0,5 h")
    assert panel.check().parameters["interval_min"] == 30.0
    panel.form.editors["dose_mg_kg"].setText("1,000")
    assert "decimal comma or a thousands separator" in panel.form.errors()["dose_mg_kg"]
    panel.check()
    assert not panel.start_button.isEnabled()
    # the reason is next to Start, not below the fold
    assert panel.start_problem.isVisibleTo(panel) and "dose_mg_kg" in panel.start_problem.text()


def test_the_flow_field_takes_a_decimal_comma(qtbot):
    box = NoWheelSpinBox()
    qtbot.addWidget(box)
    box.setRange(0.01, 100.0)
    box.setDecimals(2)
    box.setSuffix(" µL/min")
    box.lineEdit().selectAll()
    qtbot.keyClicks(box, "2,5")
    box.interpretText()
    assert box.value() == pytest.approx(2.5)


def test_switching_protocols_keeps_what_was_typed(qtbot, tmp_path):
    panel = ProtocolPanel(folder=tmp_path)
    qtbot.addWidget(panel)
    panel.form.editors["baseline_samples"].setText("6")
    panel.form.editors["flow_ul_min"].setText("1.5")
    panel.protocol_box.setCurrentText("online-monitoring")
    flow = panel.form.editors.get("flow_ul_min")
    if flow is not None:  # a field of the same name and unit takes the value typed
        assert flow.text() == "1.5"
    panel.protocol_box.setCurrentText("systemic-drug")
    assert panel.form.editors["baseline_samples"].text() == "6"
    assert panel.form.editors["flow_ul_min"].text() == "1.5"


# -- plots a scientist would draw ----------------------------------------------------------

def test_the_time_course_includes_zero_and_never_magnifies_a_hair(qtbot):
    low, high = y_range([0.45895, 0.45935], UNITS[0])
    assert low == 0.0 and 0.459 < high < 0.6
    low, high = y_range([98.0, 103.0], UNITS[1])
    assert low <= 98.0 - 20 and high >= 103.0 + 20 and low < 100 < high
    assert y_range([], UNITS[0]) == (0.0, 1.0)

    model = SessionModel()
    model.reset(None, None)
    panel = TimeCoursePanel(model)
    qtbot.addWidget(panel)
    panel.resize(700, 400)
    panel.show()
    records = []
    for i, conc in enumerate((0.45895, 0.45935)):
        t = 1200.0 * (i + 1)
        records.append(("injections", Injection(t, f"S{i}", 20.0, probe_start_s=t - 1200,
                                                probe_end_s=t - 300)))
        records.append(("results", SampleResult(f"S{i}", t, "5-HT", 600.0, 1.0, 0.05, 20.0,
                                                conc, conc * 20, math.nan, "")))
    model.add(records)
    (_x0, _x1), (y0, y1) = panel.view.viewRange()
    assert y0 <= 0.0 and 0.45935 < y1 < 0.7
    # the axis made room for its ticks: its label is never overlapped
    assert panel.plot.getPlotItem().getAxis("left").width() >= panel.plot.axis_fit.needed()
    # a zoom by the user is theirs until Auto range
    panel.view.setYRange(0.458, 0.460, padding=0)
    panel.view.sigRangeChangedManually.emit([False, True])
    panel.redraw()
    assert panel.view.viewRange()[1][0] == pytest.approx(0.458, abs=1e-4)
    panel.auto_range()
    assert panel.view.viewRange()[1][0] <= 0.0
    # a new session: its own axes, not the last one's
    model.reset(None, None)
    assert panel.view.viewRange()[1] == pytest.approx([0.0, 1.0], abs=0.05)


def test_the_wheel_zooms_time_only(qtbot):
    from raphe.gui.app.plots import TimeViewBox

    model = SessionModel()
    model.reset(LiveHistory(), None, live=True)
    panel = TracePanel(model)
    qtbot.addWidget(panel)
    assert isinstance(panel.view, TimeViewBox)
    panel.view.setRange(xRange=(0, 10), yRange=(0, 1), padding=0)
    calls = []
    original = panel.view.scaleBy
    panel.view.scaleBy = lambda s=None, center=None, **kw: (calls.append(s),
                                                           original(s, center, **kw))
    event = SimpleNamespace(modifiers=lambda: Qt.KeyboardModifier.NoModifier, delta=lambda: 120,
                            pos=lambda: panel.view.mapFromScene(0, 0), accept=lambda: None,
                            ignore=lambda: None)
    panel.view.wheelEvent(event)
    assert calls and calls[-1][1] is None and calls[-1][0] is not None  # x only


# -- state that is never stale -------------------------------------------------------------

def test_an_unplugged_instrument_reads_unknown_not_its_last_value(qtbot):
    model = SessionModel()
    model.reset(LiveHistory(), None, live=True)
    rig = RigPanel(model)
    trace = TracePanel(model)
    for w in (rig, trace):
        qtbot.addWidget(w)
    model.add([("pump", PumpState(600.0, 1.0, 10.0, "infusing")),
               ("blocks", DetectorBlock(0, 0.0, 0.1, np.full(6000, 2.25)))])
    assert rig.pump_status.text() == "infusing" and rig.signal.text() == "2.250 nA"
    assert trace.reading.text() == "2.250 nA"
    model.add([("events", Event(610.0, "alarm", "pump: Disconnected: unplugged; reconnecting",
                                "instrument")),
               ("events", Event(611.0, "alarm", "detector: Disconnected: unplugged; "
                                               "reconnecting", "instrument"))])
    assert rig.pump_status.text() == UNKNOWN and rig.rate.text() == UNKNOWN
    assert "no reading" in rig.signal.text() and "no reading" in trace.reading.text()
    model.add([("events", Event(700.0, "alarm", "pump: reconnected", "instrument")),
               ("events", Event(701.0, "alarm", "detector: reconnected", "instrument")),
               ("pump", PumpState(705.0, 1.0, 11.0, "infusing")),
               ("blocks", DetectorBlock(6000, 705.0, 0.1, np.full(10, 2.5)))])
    assert rig.pump_status.text() == "infusing" and rig.signal.text() == "2.500 nA"
    # overload / no value at the end: no reading, never "nan nA"
    model.add([("blocks", DetectorBlock(6010, 706.0, 0.1, np.full(10, np.nan)))])
    qtbot.waitUntil(lambda: "no reading" in trace.reading.text(), timeout=5000)
    assert "nan" not in trace.reading.text()


def test_the_flow_field_follows_the_pump_until_edited(qtbot):
    model = SessionModel()
    model.reset(LiveHistory(), None, live=True)
    rig = RigPanel(model)
    qtbot.addWidget(rig)
    rig.set_rig(1000.0, None, (0.1, 50.0), flow=1.0)
    model.add([("pump", PumpState(60.0, 1.5, 1.0, "infusing"))])
    assert rig.flow.value() == pytest.approx(1.5)
    rig.flow_edited = True
    rig.flow.setValue(2.0)
    model.add([("pump", PumpState(120.0, 1.5, 2.0, "infusing"))])
    assert rig.flow.value() == pytest.approx(2.0)
    rig.set_rig(1000.0, None, (0.1, 50.0), flow=1.0)  # the next run
    assert rig.flow.value() == pytest.approx(1.0) and not rig.flow_edited


def test_abort_asks_with_keep_running_as_the_default(qtbot):
    from raphe.gui.app import dialogs

    seen = {}

    def look() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):
            QTimer.singleShot(20, look)
            return
        seen["default"] = box.defaultButton().text()
        seen["escape"] = box.escapeButton().text()
        qtbot.keyClick(box, Qt.Key.Key_Return)  # Enter: the default

    QTimer.singleShot(20, look)
    assert dialogs.confirm_abort(None) is False
    assert seen == {"default": "Keep running", "escape": "Keep running"}
    QTimer.singleShot(20, look)
    assert dialogs.ask_close_during_run(None) == dialogs.KEEP


def test_the_next_strip_gives_clock_times_and_the_end(qtbot):
    from raphe.protocols.plan import Item as PlanItem
    from raphe.protocols.plan import Plan, Sample

    strip = NextStrip()
    qtbot.addWidget(strip)
    plan = Plan("p", samples=[Sample("B1", 0, 1200, 0, 1200, tube=1, inject_t=1200.0),
                              Sample("B2", 1200, 2400, 1200, 2400, tube=2, inject_t=2400.0)])
    plan.timeline = [PlanItem(0.0, "collect", "collect 20.0 min as B1"),
                     PlanItem(1200.0, "collect", "collect 20.0 min as B2"),
                     PlanItem(1300.0, "drug", "administer fluoxetine 10.0 mg/kg ip"),
                     PlanItem(1250.0, "prompt", "give the drug")]
    plan.timeline.sort(key=lambda item: item.t)
    strip.set_plan(plan)
    wall = 1_000_000.0
    # 600 s into the run, 100 s of pauses so far, at 60x
    status = Status("running", t=600.0, step="collect 20.0 min as B1 (line 3)", duration_s=2400.0,
                    eta_s=2400.0 + 100.0 - 600.0, speed=60.0, step_left_s=700.0,
                    ends_at=wall + (2400.0 + 100.0 - 600.0) / 60.0)
    strip.set_status(status, wall)
    assert strip.due["inject"].text == "B1" and strip.due["inject"].t == pytest.approx(1300.0)
    assert strip.due["inject"].wall == pytest.approx(wall + 700.0 / 60.0)
    assert strip.due["tube"].text == "2 (B2)" and strip.due["tube"].t == pytest.approx(1300.0)
    assert strip.due["drug"].t == pytest.approx(1400.0)
    assert strip.due["prompt"].text == "give the drug"
    assert clock(strip.ends_at) in strip.values["end"].text()
    assert "11.7 min left" in strip.values["now"].text() and "(line" not in strip.text()
    strip.finished(SimpleNamespace(message="aborted: by the operator"))
    assert strip.ends_at is None and "aborted" in strip.values["now"].text()
    assert strip.values["end"].text().startswith("ended ")


def test_the_dark_theme_is_chosen_in_view_and_remembered(qtbot, settings, tmp_path):
    from raphe.gui.app.window import MainWindow

    first = MainWindow(settings=settings, folder=tmp_path)
    first.show()
    try:
        first.theme_actions["dark"].trigger()
        assert theme.current() is theme.DARK
        plot = first.trace_panel.plot
        assert plot.backgroundBrush().color().name() == theme.DARK.background
        assert QApplication.palette().window().color().lightness() < 80
    finally:
        first._force_close = True
        first.close()
    second = MainWindow(settings=settings, folder=tmp_path)
    second.show()
    try:
        assert theme.current() is theme.DARK and second.theme_actions["dark"].isChecked()
        second.set_theme("light")
        assert theme.current() is theme.LIGHT
        assert second.trace_panel.plot.backgroundBrush().color().name() == "#ffffff"
    finally:
        second._force_close = True
        second.close()


def test_a_replay_gives_each_event_its_clock_time(qtbot, recorded_session):
    from raphe.gui.app.panels.events import EventsPanel
    from raphe.gui.app.replay_session import ReplaySession

    model = SessionModel()
    replay = ReplaySession(recorded_session, model)
    try:
        panel = EventsPanel(model)
        qtbot.addWidget(panel)
        clocks = [panel.proxy.index(r, 1).data() for r in range(panel.proxy.rowCount())]
        assert clocks and all(clocks)
        start = model.meta["wall_start"]
        last = model.events[-1]
        assert model.wall_of(len(model.events) - 1) == pytest.approx(
            start + last.t / model.clock_speed())
        assert model.clock_speed() > 10  # a simulated session: its clock ran fast
    finally:
        replay.close()


def test_names_are_shown_as_users_spell_them(qtbot, tmp_path):
    panel = ProtocolPanel(folder=tmp_path)
    qtbot.addWidget(panel)
    assert panel.load("systemic-drug", {"region": "prefrontal_cortex"})
    assert panel.form.editors["region"].text() == "prefrontal-cortex"
