"""Rig: each instrument's link and key readings, alarms in red with when they started,
and the perfusion flow.

Readings come from the session stream (pump states, fractions, injections,
events, detector blocks) and the engine's status: the window never asks an
instrument. An instrument whose link is lost shows its readings as unknown, never
its last ones. A flow change goes to the engine after a confirmation; the flow
field follows the pump's rate until the operator edits it, and ignores the mouse
wheel. Loud alarms (:mod:`raphe.severity`) are in bold.
"""

from __future__ import annotations

import math
import re

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from raphe.gui.app import dialogs
from raphe.gui.app.panels.trace import reading
from raphe.gui.app.widgets import ALARM, OK, ElidedLabel, NoWheelSpinBox, clock, minutes, number
from raphe.protocols.protocol_run import INJECT_HOLD_S
from raphe.severity import LOUD, severity

ROLES = ("pump", "collector", "valve", "detector")
UNKNOWN = "unknown (link lost)"
DEFAULT_FLOW = 1.0
_COLLECT = re.compile(r"^collect .* as (\S+)")
_ROLE_ALARM = re.compile(r"^(pump|collector|valve|detector): (.*)$")


class RigPanel(QWidget):
    """See the module docstring. ``flow_requested(rate)`` after the operator confirmed."""

    flow_requested = Signal(float)

    def __init__(self, model, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.syringe_uL: float | None = None
        self.tubes: dict[str, int | None] = {}  # sample label → tube (from the dry run)
        self.links = {role: ElidedLabel("–") for role in ROLES}
        self.pump_status = ElidedLabel("–")
        self.rate = ElidedLabel("–")
        self.dispensed = ElidedLabel("–")
        self.remaining = ElidedLabel("–")
        self.tube = ElidedLabel("–")
        self.filled = ElidedLabel("–")
        self.position = ElidedLabel("–")
        self.last_injection = ElidedLabel("–")
        self.signal = ElidedLabel("–")
        self.signal.setStyleSheet("font-size: 12pt;")
        self.flow = NoWheelSpinBox()
        self.flow.setRange(0.01, 100.0)
        self.flow.setDecimals(2)
        self.flow.setSingleStep(0.1)
        self.flow.setSuffix(" µL/min")
        self.flow.setValue(DEFAULT_FLOW)
        self.flow.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.flow.setToolTip("The perfusion flow to set (it follows the pump's rate until you "
                             "edit it); a decimal comma is fine")
        #: the operator typed a flow not yet sent: the field stops following the pump
        self.flow_edited = False
        self.flow.lineEdit().textEdited.connect(lambda *_: setattr(self, "flow_edited", True))
        self.flow_button = QPushButton("Set flow…")
        self.flow_button.setToolTip("Change the perfusion flow now (asks first)")
        self.flow_button.clicked.connect(self._ask_flow)
        self.alarms = QListWidget()
        self.alarms.setMinimumHeight(2 * self.fontMetrics().height() + 8)
        self.alarms.setWordWrap(True)
        self._alarm_events = 0
        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        grid.addWidget(self._group("Syringe pump", [
            ("link", self.links["pump"]), ("status", self.pump_status), ("rate", self.rate),
            ("dispensed", self.dispensed), ("remaining", self.remaining)], self._flow_row()),
            0, 0, 2, 1)
        grid.addWidget(self._group("Fraction collector", [
            ("link", self.links["collector"]), ("tube", self.tube), ("filled", self.filled)]),
            0, 1)
        grid.addWidget(self._group("Injection valve", [
            ("link", self.links["valve"]), ("position", self.position),
            ("last", self.last_injection)]), 1, 1)
        grid.addWidget(self._group("Detector (ECD)", [
            ("link", self.links["detector"]), ("signal", self.signal)]), 2, 1)
        alarms = QGroupBox("Alarms")
        box = QVBoxLayout(alarms)
        box.setContentsMargins(2, 2, 2, 2)
        box.addWidget(self.alarms)
        grid.addWidget(alarms, 2, 0)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        grid.setRowStretch(2, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        layout.addLayout(grid, 1)
        self.set_can_change_flow(False)
        model.changed.connect(self._on_model)
        self._on_model(frozenset({"reset"}))  # what the model holds already

    def _group(self, title: str, rows, extra=None) -> QGroupBox:
        box = QGroupBox(title)
        form = QFormLayout(box)
        form.setContentsMargins(6, 2, 6, 2)
        form.setVerticalSpacing(1)
        for name, widget in rows:
            form.addRow(name, widget)
        if extra is not None:
            form.addRow(extra)
        return box

    def _flow_row(self) -> QWidget:
        row = QWidget()
        h = QHBoxLayout(row)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(self.flow, 1)
        h.addWidget(self.flow_button)
        return row

    # -- set by the window -----------------------------------------------------------------

    def set_can_change_flow(self, on: bool) -> None:
        self.flow.setEnabled(on)
        self.flow_button.setEnabled(on)

    def set_rig(self, syringe_uL: float | None, plan=None, rate_limits=None,
                flow: float | None = None) -> None:
        """What the run knows about the rig before it starts: syringe volume, the dry run's
        tubes, the pump's flow range, the protocol's flow (the field shows it until the pump
        reports its rate)."""
        self.syringe_uL = syringe_uL
        self.tubes = {s.label: s.tube for s in getattr(plan, "samples", [])}
        if rate_limits:
            self.flow.setRange(float(rate_limits[0]), float(rate_limits[1]))
        self.flow_edited = False
        self.flow.setValue(float(flow) if flow else DEFAULT_FLOW)

    def set_links(self, text: str, ok: bool = True) -> None:
        """Every link at once: connected, closed, recorded …"""
        for label in self.links.values():
            self._link(label, text, ok)

    def safe_state(self, problems: list[str]) -> None:
        """The run ended: every instrument was put in its safe state (``problems``: the
        engine's ``safe state: …`` alarms for those that could not be)."""
        for role, label in self.links.items():
            failed = [p for p in problems if role in p]
            self._link(label, "closed (safe state)" if not failed else
                       f"closed; safe state failed: {failed[0]}", not failed)
        if not any("pump" in p for p in problems):
            self.pump_status.setText("stopped (safe state)")
            self.pump_status.setStyleSheet("")
        if not any("valve" in p for p in problems) and self.model.injections:
            self.position.setText("LOAD")
        if not any("collector" in p for p in problems) and self.model.fractions:
            self.tube.setText("drain")

    def _link(self, label: QLabel, text: str, ok: bool) -> None:
        label.setText(text)
        label.setStyleSheet("" if ok else f"color: {ALARM}; font-weight: bold;")

    # -- flow ------------------------------------------------------------------------------

    def _ask_flow(self) -> None:
        pump = self.model.pump
        old = pump.rate_uL_min if pump is not None else None
        self.flow.interpretText()
        new = float(self.flow.value())
        if dialogs.confirm_flow(self, old, new):
            self.flow_edited = False  # the pump's rate will say whether it took
            self.flow_requested.emit(new)

    # -- readings --------------------------------------------------------------------------

    def _on_model(self, kinds) -> None:
        m = self.model
        if "reset" in kinds:
            self.alarms.clear()
            self._alarm_events = 0
            for label in (self.pump_status, self.rate, self.dispensed, self.remaining,
                          self.tube, self.filled, self.position, self.last_injection,
                          self.signal):
                label.setText("–")
                label.setStyleSheet("")
            self.signal.setStyleSheet("font-size: 12pt;")
            for label in self.links.values():
                self._link(label, "–", True)
            self.flow_edited = False
        if kinds & {"reset", "events"}:
            self._events()
        if kinds & {"reset", "pump", "events"}:
            self._pump()
        if kinds & {"reset", "fractions", "events"}:
            self._collector()
        if kinds & {"reset", "injections", "blocks", "now"}:
            self._valve()
        if kinds & {"reset", "blocks", "now", "events"} and m.live:
            text = reading(m) or "–"
            self.signal.setText(text.replace("detector: ", ""))
            known = text.endswith("nA") or text == "–"
            self.signal.setStyleSheet("font-size: 12pt;" + ("" if known else
                                                            f" color: {ALARM};"))

    def _pump(self) -> None:
        """The pump's last reported state; unknown while its link is lost (a reading from
        before the loss is not shown as current)."""
        m = self.model
        p = m.pump
        lost = m.lost.get("pump")
        if lost is not None and m.live and (p is None or p.t <= lost):
            for label in (self.pump_status, self.rate):
                label.setText(UNKNOWN)
                label.setStyleSheet(f"color: {ALARM};")
            return
        if p is None:
            return
        self.pump_status.setText(p.status)
        self.pump_status.setStyleSheet(f"color: {OK};" if p.status == "infusing" else "")
        self.rate.setText(number(p.rate_uL_min, "µL/min"))
        self.rate.setStyleSheet("")
        if math.isfinite(p.rate_uL_min) and p.rate_uL_min > 0 and not self.flow_edited \
                and not self.flow.hasFocus():
            self.flow.setValue(p.rate_uL_min)
        self.dispensed.setText(f"{p.dispensed_uL:.1f} µL" if math.isfinite(p.dispensed_uL)
                               else "unknown")
        if self.syringe_uL and math.isfinite(p.dispensed_uL):
            left = self.syringe_uL - p.dispensed_uL
            self.remaining.setText(f"{left:.0f} µL of {self.syringe_uL:g} µL")
            low = left < 0.1 * self.syringe_uL
            self.remaining.setStyleSheet(f"color: {ALARM};" if low else "")

    def _events(self) -> None:
        m = self.model
        for event, wall in zip(m.events[self._alarm_events:], m.event_walls[self._alarm_events:]):
            alarm = event.kind in ("alarm", "gap") or (
                event.kind == "perfusion" and not event.text.startswith("started"))
            if not alarm:
                continue
            recovered = "reconnected" in event.text or event.text.startswith("restored") \
                or event.text.startswith("acknowledged")
            when = minutes(event.t) + (f" ({clock(wall)})" if wall else "")
            item = QListWidgetItem(f"{when}  {event.kind}: {event.text}")
            item.setForeground(QBrush(QColor(OK if recovered else ALARM)))
            if not recovered and LOUD in (severity(event.text),
                                          severity(f"{event.kind} {event.text}")):
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            self.alarms.addItem(item)
            self.alarms.scrollToBottom()
            match = _ROLE_ALARM.match(event.text)
            if match and m.live:
                role, rest = match.groups()
                if "reconnected" in rest:
                    self._link(self.links[role], "connected", True)
                elif "reconnecting" in rest:
                    self._link(self.links[role], f"link lost since {minutes(event.t)}, "
                                                 "reconnecting", False)
        self._alarm_events = len(m.events)

    def _collector(self) -> None:
        m = self.model
        filled = {f.sample_id: f.tube for f in m.fractions}
        self.filled.setText(f"{len(filled)} tube(s)" if m.fractions else "none")
        label = None
        for event in reversed(m.events):
            if event.kind == "step":
                match = _COLLECT.match(event.text)
                if match:
                    label = match.group(1)
                    break
        if label is None or label in filled:
            self.tube.setText("drain" if m.fractions or label else "–")
            return
        tube = self.tubes.get(label)
        self.tube.setText(f"tube {tube} ({label})" if tube else f"collecting {label}")

    def _valve(self) -> None:
        m = self.model
        if not m.injections:
            return
        inj = m.injections[-1]
        now = m.now if m.limit is None else m.limit
        inject = now < inj.t + INJECT_HOLD_S
        self.position.setText("INJECT" if inject else "LOAD")
        self.last_injection.setText(f"{inj.sample_id} at {minutes(inj.t)}")
