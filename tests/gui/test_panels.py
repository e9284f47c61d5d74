"""Each panel on its own, fed by a session model: a recorded session replayed, or records
made up to reach a case (a flag, an alarm) a clean run does not."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from raphe.acquisition.analysis import flags as fl
from raphe.acquisition.analysis.method import load_method
from raphe.acquisition.reader import SessionReader
from raphe.gui.app.history import LiveHistory
from raphe.gui.app.model import SessionModel
from raphe.gui.app.panels.chromatogram import ChromatogramPanel
from raphe.gui.app.panels.events import EventsPanel
from raphe.gui.app.panels.rig_status import RigPanel
from raphe.gui.app.panels.timecourse import UNITS, TimeCoursePanel
from raphe.gui.app.panels.trace import TracePanel
from raphe.gui.app.replay_session import ReplaySession
from raphe.gui.app.widgets import ALARM, OK
from raphe.records import (
    BaselineReference,
    DetectorBlock,
    Event,
    Injection,
    PumpState,
    SampleResult,
)

from gui_helpers import WAIT_MS, DialogAnswerer


@pytest.fixture
def replayed(qtbot, recorded_session):
    model = SessionModel()
    replay = ReplaySession(recorded_session, model)
    with qtbot.waitSignal(replay.analysed, timeout=WAIT_MS):
        pass
    qtbot.waitUntil(lambda: len(model.chromatograms) == len(model.injections), timeout=WAIT_MS)
    yield model, replay
    replay.close()


def show(qtbot, widget):
    qtbot.addWidget(widget)
    widget.resize(900, 500)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def wheel(widget) -> None:
    event = QWheelEvent(QPointF(5, 5), QPointF(widget.mapToGlobal(QPoint(5, 5))), QPoint(0, 0),
                        QPoint(0, 120), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


# -- live trace ----------------------------------------------------------------------------

def test_trace_draws_the_whole_session_envelope_with_its_markers(qtbot, replayed,
                                                                 recorded_session):
    model, _replay = replayed
    panel = show(qtbot, TracePanel(model))
    panel.show_all()
    qtbot.waitUntil(lambda: panel.redraws > 0 and panel.curve.xData is not None
                    and len(panel.curve.xData) > 0)
    x, y = panel.curve.getData()
    with SessionReader(recorded_session) as reader:
        _t, values = reader.signal()
    assert np.nanmin(y) == pytest.approx(np.nanmin(values))
    assert np.nanmax(y) == pytest.approx(np.nanmax(values))
    assert len(x) <= 2 * max(panel.view.width(), 200) + 4  # about one bin per pixel
    lines = panel.markers.lines
    drugs = [x for x, kind, _ in lines if kind == "drug"]
    assert drugs == [pytest.approx(next(e.t for e in model.events if e.kind == "drug") / 60)]
    assert [text for _, kind, text in lines if kind == "injection"] == \
        [i.sample_id for i in model.injections]
    assert len(panel.markers.item) == len(lines)  # one item draws them all

    # zoom into ten minutes: redrawn from the pyramid at the finer resolution
    before = panel.redraws
    panel.view.setXRange(40.0, 50.0, padding=0)
    qtbot.waitUntil(lambda: panel.redraws > before)
    x, y = panel.curve.getData()
    assert x.min() >= 40.0 - 1e-6 and x.max() <= 50.0 + 1e-6
    bins = len(x) / 2
    assert 0.5 * panel.view.width() <= bins <= panel.view.width()


def test_trace_follows_the_live_edge_until_the_user_pans(qtbot):
    model = SessionModel()
    model.reset(LiveHistory(), None, live=True)
    panel = show(qtbot, TracePanel(model))
    rng = np.random.default_rng(0)
    for i in range(40):  # 40 min of signal in 1-minute blocks
        model.add([("blocks", DetectorBlock(i * 600, i * 60.0, 0.1, rng.normal(2, 0.01, 600)))])
    qtbot.waitUntil(lambda: panel.view.viewRange()[0][1] == pytest.approx(40.0, abs=0.01))
    left, right = panel.view.viewRange()[0]
    assert right - left == pytest.approx(30.0, abs=0.01)  # the 30 min window
    assert panel.reading.text().endswith("nA")
    panel.view.sigRangeChangedManually.emit([True, False])  # the user drags the plot
    assert not panel.follow and not panel.follow_button.isChecked()
    model.add([("blocks", DetectorBlock(40 * 600, 2400.0, 0.1, np.full(600, 2.0)))])
    assert panel.view.viewRange()[0][1] == pytest.approx(40.0, abs=0.01)  # stays put
    panel.follow_button.click()
    qtbot.waitUntil(lambda: panel.view.viewRange()[0][1] == pytest.approx(41.0, abs=0.01))


# -- time course ---------------------------------------------------------------------------

def test_time_course_shows_each_sample_in_nM_and_percent(qtbot, replayed, recorded_session):
    model, _ = replayed
    panel = show(qtbot, TimeCoursePanel(model))
    with SessionReader(recorded_session) as reader:
        stored = [r for r in reader.results() if r.analyte == "5-HT"]
        injections = {i.sample_id: i for i in reader.injections()}
    assert panel.analyte == "5-HT" and panel.unit == UNITS[0]
    assert [p.sample_id for p in panel.points] == [r.sample_id for r in stored]
    np.testing.assert_array_equal([p.y for p in panel.points], [r.conc_nM for r in stored])
    assert [p.x_min for p in panel.points] == [injections[r.sample_id].probe_t / 60
                                                for r in stored]
    assert panel.item.getAxis("left").labelText == "5-HT"
    # the baseline band: mean ± SD of the baseline samples (before the drug) that no flag
    # leaves out, as the analysis stored it
    base = [r.conc_nM for r in stored if r.sample_id.startswith("B")
            and not fl.excludes(fl.parse(r.flags))]
    assert panel.band.isVisible()
    low, high = panel.band.getRegion()
    assert (low + high) / 2 == pytest.approx(np.mean(base))
    sd = np.std(base, ddof=1) if len(base) > 1 else 0.0
    assert high - low == pytest.approx(2 * sd)
    assert [p.baseline for p in panel.points] == [r.sample_id.startswith("B") for r in stored]
    assert f"(n = {len(base)}, final)" in panel.summary.text()

    panel.unit_box.setCurrentText(UNITS[1])
    # what the analysis stored; an excluded sample (no stored %) is drawn at its value
    # against the reference
    mean = np.mean(base)
    np.testing.assert_allclose(
        [p.y for p in panel.points],
        [r.pct_baseline if np.isfinite(r.pct_baseline) else 100 * r.conc_nM / mean
         for r in stored])
    assert panel.mean_line.value() == 100.0
    # the baseline samples that count average 100 %
    assert np.mean([p.y for p in panel.points if p.baseline and not p.excluded]) == \
        pytest.approx(100.0)
    assert panel.points[-1].y > 130.0  # 5-HT up after fluoxetine

    panel.analyte_box.setCurrentText("DA")
    panel.unit_box.setCurrentText(UNITS[0])
    assert "not calibrated" in panel.item.getAxis("left").labelText
    np.testing.assert_array_equal([p.y for p in panel.points],
                                  [r.area for r in model.results if r.analyte == "DA"])


def _result(sample: str, t: float, conc: float, flags: str = "") -> SampleResult:
    return SampleResult(sample, t, "5-HT", 600.0, 1.0, 0.05, 20.0, conc, conc * 20, math.nan,
                        flags)


def test_flagged_points_look_different(qtbot):
    model = SessionModel()
    model.reset(None, load_method("simulated-5ht"))
    panel = show(qtbot, TimeCoursePanel(model))
    records = []
    for i, (flags, conc) in enumerate([("", 0.6), ("below_loq", 0.05), ("incomplete", 0.7),
                                       ("not_found", math.nan), ("drift", 0.65)]):
        t = 1200.0 * (i + 1)
        records.append(("injections", Injection(t, f"S{i}", 20.0, probe_start_s=t - 1200,
                                                probe_end_s=t - 300)))
        records.append(("results", _result(f"S{i}", t, conc, flags)))
    model.add(records)
    spots = {s.data().sample_id: s for s in panel.scatter.points()}
    assert set(spots) == {"S0", "S1", "S2", "S4"}
    assert spots["S0"].brush().style() != Qt.BrushStyle.NoBrush
    assert spots["S1"].brush().style() == Qt.BrushStyle.NoBrush  # hollow below the LOQ
    assert spots["S4"].brush().color().name() == ALARM  # qualified by a flag: filled orange
    # left out of % of baseline: hollow orange, its flag's own shape, off the line
    assert spots["S2"].pen().color().name() == ALARM and spots["S2"].symbol() == "p"
    assert spots["S2"].brush().color().name() == "#ffffff"
    _, line_y = panel.line.getData()
    assert np.isnan(line_y[2])
    x, y = panel.missing.getData()
    assert list(y) == [0.0] and x[0] == pytest.approx((3600.0 + 4500.0) / 2 / 60)
    # the legend lists every flag the results hold, each with its meaning on hover
    for name in ("below_loq", "incomplete", "not_found", "drift"):
        assert fl.BY_NAME[name].meaning in panel.legend.entries[name].toolTip()


def test_a_stalled_sample_is_drawn_marked_in_both_units(qtbot):
    """A sample flagged perfusion_stopped stays on the plot in nM and in % of baseline
    (where it has no stored value): its own symbol, and the legend says what it means."""
    model = SessionModel()
    model.reset(None, load_method("simulated-5ht"))
    panel = show(qtbot, TimeCoursePanel(model))
    records = []
    for i, (flags, conc, pct) in enumerate([("", 0.5, 100.0), ("perfusion_stopped", 0.3, math.nan),
                                            ("", 0.6, 120.0)]):
        t = 1200.0 * (i + 1)
        records.append(("injections", Injection(t, f"S{i}", 20.0, probe_start_s=t - 1200,
                                                probe_end_s=t - 300)))
        r = _result(f"S{i}", t, conc, flags)
        records.append(("results", SampleResult(**{**r.__dict__, "pct_baseline": pct,
                                                   "baseline": int(i == 0)})))
    records.append(("baseline", BaselineReference(1500.0, "5-HT", 0.5, math.nan, 1, "nM", "S0",
                                                  1)))
    model.add(records)
    for unit, expected in ((UNITS[0], 0.3), (UNITS[1], 60.0)):
        panel.unit_box.setCurrentText(unit)
        spots = {s.data().sample_id: s for s in panel.scatter.points()}
        stalled = spots["S1"]
        assert stalled.symbol() == "t" and stalled.pen().color().name() == ALARM
        assert stalled.pos().y() == pytest.approx(expected)
        assert "left out of % of baseline" in panel.legend.entries["perfusion_stopped"].toolTip()
    assert "(n = 1, final)" in panel.summary.text()


# -- chromatogram --------------------------------------------------------------------------

def test_chromatogram_draws_the_integration_and_overlays_on_demand(qtbot, replayed):
    model, _ = replayed
    panel = show(qtbot, ChromatogramPanel(model))
    view = panel.shown
    assert view is model.chromatograms[-1]
    _, y = panel.curve.getOriginalDataset()
    np.testing.assert_array_equal(y, view.values)
    # every integrated peak shaded between signal and baseline, its baseline drawn
    integrated = [p for p in view.result.peaks if p.end_s > p.start_s]
    assert len(panel.fill.path().toSubpathPolygons()) == len(integrated) >= 4
    bx, by = panel.baselines.getOriginalDataset()
    assert list(bx[::2]) == [p.baseline_start[0] / 60 for p in integrated]
    assert list(by[1::2]) == [p.baseline_end[1] for p in integrated]
    labels = {text for _, _, text, _ in panel.names.labels}
    assert {"NA", "DA", "5-HIAA", "5-HT"} <= labels
    # each analyte's RT window, around its peak
    spans = panel.windows._spans
    assert len(spans) == len(model.method.analytes) == 4
    five_ht = view.result.analytes["5-HT"].peak
    assert any(low < five_ht.rt_s / 60 < high for low, high, _ in spans)
    centres = sorted((low + high) / 2 * 60 for low, high, _ in spans)  # where each was sought
    assert centres == pytest.approx(sorted(view.result.analytes[s.name].expected_rt_s
                                           for s in model.method.analytes))
    assert panel.title.text().startswith(f"{view.sample_id} · 5-HT ") and "RT " in panel.title.text()

    panel.select("B1")
    assert panel.shown.sample_id == "B1" and "B1" in panel.title.text()
    panel.select(view.sample_id)
    assert panel.overlays == []
    panel.overlay_box.setChecked(True)
    earlier = [v for v in model.chromatograms if v.inject_t < view.inject_t]
    assert [c.getOriginalDataset()[1].tolist() for c in panel.overlays] == \
        [v.values.tolist() for v in earlier]


# -- events --------------------------------------------------------------------------------

def test_events_table_filter_and_marker(qtbot, replayed):
    model, _ = replayed
    panel = show(qtbot, EventsPanel(model))
    assert panel.proxy.rowCount() == len(model.events)
    assert not panel.marker_button.isEnabled()  # a replay never writes
    model.add([("events", Event(5000.0, "alarm", "pump: Disconnected: gone; reconnecting",
                                "instrument"))])
    panel.filter_box.setCurrentText("alarms and faults")
    faults = [e for e in model.events if e.kind in ("alarm", "perfusion", "gap")]
    assert panel.proxy.rowCount() == len(faults) >= 1
    panel.filter_box.setCurrentText("drugs, markers, prompts")
    kinds = {panel.proxy.index(r, 2).data() for r in range(panel.proxy.rowCount())}
    assert "drug" in kinds and kinds <= {"drug", "marker", "prompt", "phase"}

    panel.set_can_mark(True)
    with qtbot.waitSignal(panel.mark_requested) as sent:
        qtbot.keyClicks(panel.marker_edit, "tail pinch")
        qtbot.mouseClick(panel.marker_button, Qt.MouseButton.LeftButton)
    assert sent.args == ["tail pinch"] and panel.marker_edit.text() == ""


# -- rig -----------------------------------------------------------------------------------

def test_rig_readings_alarms_and_links(qtbot):
    from raphe.protocols.plan import Plan, Sample

    model = SessionModel()
    model.reset(LiveHistory(), None, live=True)
    panel = show(qtbot, RigPanel(model))
    plan = Plan("p", samples=[Sample("B1", 0, 1200, 0, 1200, tube=1)])
    panel.set_rig(1000.0, plan, (0.1, 50.0))
    panel.set_links("connected")
    model.add([("pump", PumpState(600.0, 1.0, 120.0, "infusing")),
               ("events", Event(610.0, "step", "collect 20.0 min as B1 (line 52)", "protocol")),
               ("injections", Injection(650.0, "B0", 20.0)),
               ("blocks", DetectorBlock(0, 0.0, 0.1, np.full(6800, 2.25)))])
    assert panel.pump_status.text() == "infusing" and panel.rate.text() == "1 µL/min"
    assert panel.remaining.text() == "880 µL of 1000 µL"
    assert panel.tube.text() == "tube 1 (B1)"
    assert panel.position.text() == "INJECT"  # within the hold after the injection
    assert panel.signal.text() == "2.250 nA"
    model.add([("events", Event(700.0, "alarm", "pump: Disconnected: no reply; reconnecting",
                                "instrument"))])
    item = panel.alarms.item(0)
    assert item.text().startswith("11.7 min (") and "pump: Disconnected" in item.text()
    assert item.foreground().color().name() == ALARM
    assert "link lost since 11.7 min" in panel.links["pump"].text()
    model.add([("events", Event(720.0, "alarm", "pump: reconnected", "instrument")),
               ("fractions", __import__("raphe.records", fromlist=["Fraction"]).Fraction(
                   1, 0, 1200, 20.0, "B1")),
               ("blocks", DetectorBlock(6800, 680.0, 0.1, np.full(600, 2.25)))])
    assert panel.links["pump"].text() == "connected"
    assert panel.alarms.item(1).foreground().color().name() == OK
    assert panel.tube.text() == "drain" and panel.position.text() == "LOAD"


def test_the_flow_asks_first_and_ignores_the_wheel(qtbot):
    model = SessionModel()
    panel = show(qtbot, RigPanel(model))
    panel.set_can_change_flow(True)
    panel.flow.setValue(1.2)
    wheel(panel.flow)
    assert panel.flow.value() == 1.2
    sent = []
    panel.flow_requested.connect(sent.append)
    answers = DialogAnswerer()
    answers.answer("Cancel")
    panel.flow_button.click()
    assert sent == []
    answers.answer("Change flow")
    panel.flow_button.click()
    assert sent == [1.2]
    answers.stop()
