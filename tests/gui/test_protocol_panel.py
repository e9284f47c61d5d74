"""The protocol panel: a form from the protocol's typed parameters, checked as typed; the dry
run shown before Start, with the script's line when the protocol cannot run."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication, QCheckBox, QLineEdit

from raphe.gui.app.panels.protocol import ProtocolPanel
from raphe.gui.app.widgets import NoWheelComboBox
from raphe.protocols.protocol import load_protocol


@pytest.fixture
def panel(qtbot, tmp_path):
    p = ProtocolPanel(folder=tmp_path)
    qtbot.addWidget(p)
    p.show()
    assert p.load("systemic-drug")
    return p


def test_the_form_follows_the_declared_parameters(panel):
    protocol = load_protocol("systemic-drug")
    assert list(panel.form.editors) == [p.name for p in protocol.parameters]
    flow = panel.form.editors["flow_ul_min"]
    assert isinstance(flow, QLineEdit) and flow.text() == "1"
    assert "perfusion flow" in flow.toolTip() and "0.1–5 uL/min" in flow.toolTip()
    assert isinstance(panel.form.editors["route"], NoWheelComboBox)
    assert [panel.form.editors["route"].itemText(i) for i in range(2)] == ["ip", "sc"]
    assert panel.plan is not None and panel.plan.ok and panel.can_start
    assert panel.start_button.isEnabled()
    assert "Systemic drug" in panel.description.text()
    summary = panel.summary.text()
    assert "duration" in summary and "fluoxetine 10 mg/kg i.p." in summary


def test_a_value_out_of_range_is_named_and_blocks_start(qtbot, panel):
    panel.form.editors["interval_min"].setText("90")
    message = panel.form.messages["interval_min"]
    assert message.isVisibleTo(panel) and "outside 5–60 min" in message.text()
    panel.check()
    assert not panel.start_button.isEnabled()
    assert "interval_min" in panel.summary.text()
    # a value with another unit is converted, as --set does
    panel.form.editors["interval_min"].setText("0.5 h")
    assert not message.isVisibleTo(panel)
    plan = panel.check()
    assert plan.ok and plan.parameters["interval_min"] == 30.0
    assert panel.start_button.isEnabled()


def test_the_dry_run_follows_every_edit(qtbot, panel):
    before = panel.plan.duration_s
    panel.form.editors["baseline_samples"].setText("6")
    qtbot.waitUntil(lambda: panel.plan is not None and panel.plan.duration_s != before)
    assert panel.plan.duration_s == pytest.approx(before + 2 * 20 * 60)
    assert len(panel.plan.samples) == 6 + 12


def test_a_protocol_that_cannot_run_shows_why_and_where(qtbot, panel, tmp_path):
    bad = tmp_path / "too_many.py"
    bad.write_text(
        "from raphe.protocols import Parameter\n"
        "metadata = {'name': 'Too many tubes'}\n"
        "parameters = [Parameter('samples', 200, range=(1, 500))]\n"
        "def run(rig, params):\n"
        "    rig.pump.infuse(1.0)\n"
        "    for i in range(params.samples):\n"
        "        rig.collect(20, inject=False)\n", encoding="utf-8")
    assert panel.load(str(bad))
    assert not panel.plan.ok and not panel.start_button.isEnabled()
    text = panel.summary.text()
    assert "Cannot run" in text and "line 7" in text and "rack" in text
    broken = tmp_path / "broken.py"
    broken.write_text("def run(rig, params):\n    rig.wait(\n", encoding="utf-8")
    assert not panel.load(str(broken))
    assert "syntax error" in panel.summary.text() and not panel.start_button.isEnabled()


def test_settings_fields_ignore_the_mouse_wheel(qtbot, panel):
    route = panel.form.editors["route"]
    speed = panel.speed
    before = (route.currentText(), speed.value())
    for widget in (route, speed, panel.method_box, panel.rig_box):
        event = QWheelEvent(QPointF(5, 5), QPointF(widget.mapToGlobal(QPoint(5, 5))),
                            QPoint(0, 0), QPoint(0, -120), Qt.MouseButton.NoButton,
                            Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(widget, event)
    assert (route.currentText(), speed.value()) == before


def test_a_rig_file_that_does_not_exist_is_refused(panel, tmp_path):
    panel.set_rig(str(tmp_path / "none.toml"))
    panel.check()
    assert "none.toml" in panel.summary.text() and not panel.start_button.isEnabled()
    panel.set_rig(None)
    panel.check()
    assert panel.start_button.isEnabled()


def test_booleans_are_checkboxes(qtbot, tmp_path):
    path = tmp_path / "flags.py"
    path.write_text(
        "from raphe.protocols import Parameter\n"
        "parameters = [Parameter('standard', True, help='inject a standard')]\n"
        "def run(rig, params):\n"
        "    rig.pump.infuse(1.0)\n"
        "    rig.collect(20)\n", encoding="utf-8")
    p = ProtocolPanel(folder=tmp_path)
    qtbot.addWidget(p)
    assert p.load(str(path))
    box = p.form.editors["standard"]
    assert isinstance(box, QCheckBox) and box.isChecked()
    box.setChecked(False)
    assert p.form.values()["standard"] is False
