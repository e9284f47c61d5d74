"""Rig: each instrument's link and key readings, alarms in red with when they started,
and the perfusion flow.

Readings come from the session stream (pump states, fractions, injections,
events, detector blocks) and the engine's status: the window never asks an
instrument. A flow change goes to the engine after a confirmation; the flow
field ignores the mouse wheel.
"""

from __future__ import annotations

import math
import re

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QFormLayout,
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
from raphe.gui.app.widgets import ALARM, OK, NoWheelSpinBox, clock, minutes, number
from raphe.protocols.protocol_run import INJECT_HOLD_S

ROLES = ("pump", "collector", "valve", "detector")
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
        self.links = {role: QLabel("–") for role in ROLES}
        self.pump_status = QLabel("–")
        self.rate = QLabel("–")
        self.dispensed = QLabel("–")
        self.remaining = QLabel("–")
        self.tube = QLabel("–")
        self.filled = QLabel("–")
        self.position = QLabel("–")
        self.last_injection = QLabel("–")
        self.signal = QLabel("–")
        self.signal.setStyleSheet("font-size: 13pt;")
        self.flow = NoWheelSpinBox()
        self.flow.setRange(0.01, 100.0)
        self.flow.setDecimals(2)
        self.flow.setSingleStep(0.1)
        self.flow.setSuffix(" µL/min")
        self.flow.setValue(1.0)
        self.flow.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.flow_button = QPushButton("Set flow…")
        self.flow_button.setToolTip("Change the perfusion flow now (asks first)")
        self.flow_button.clicked.connect(self._ask_flow)
        self.alarms = QListWidget()
        self.alarms.setMinimumHeight(60)
        self._alarm_events = 0
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self._group("Syringe pump", [
            ("link", self.links["pump"]), ("status", self.pump_status), ("rate", self.rate),
            ("dispensed", self.dispensed), ("remaining", self.remaining)], self._flow_row()))
        layout.addWidget(self._group("Fraction collector", [
            ("link", self.links["collector"]), ("tube", self.tube), ("filled", self.filled)]))
        layout.addWidget(self._group("Injection valve", [
            ("link", self.links["valve"]), ("position", self.position),
            ("last injection", self.last_injection)]))
        layout.addWidget(self._group("Detector (ECD)", [
            ("link", self.links["detector"]), ("signal", self.signal)]))
        layout.addWidget(QLabel("Alarms"))
        layout.addWidget(self.alarms, 1)
        self.set_can_change_flow(False)
        model.changed.connect(self._on_model)
        self._on_model(frozenset({"reset"}))  # what the model holds already

    def _group(self, title: str, rows, extra=None) -> QGroupBox:
        box = QGroupBox(title)
        form = QFormLayout(box)
        form.setContentsMargins(6, 4, 6, 4)
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

    def set_rig(self, syringe_uL: float | None, plan=None, rate_limits=None) -> None:
        """What the run knows about the rig before it starts: syringe volume, the dry run's
        tubes, the pump's flow range."""
        self.syringe_uL = syringe_uL
        self.tubes = {s.label: s.tube for s in getattr(plan, "samples", [])}
        if rate_limits:
            self.flow.setRange(float(rate_limits[0]), float(rate_limits[1]))

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
        new = float(self.flow.value())
        if dialogs.confirm_flow(self, old, new):
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
        if kinds & {"reset", "pump"} and m.pump is not None:
            p = m.pump
            self.pump_status.setText(p.status)
            self.pump_status.setStyleSheet(f"color: {OK};" if p.status == "infusing" else "")
            self.rate.setText(number(p.rate_uL_min, "µL/min"))
            self.dispensed.setText(f"{p.dispensed_uL:.1f} µL")
            if self.syringe_uL:
                left = self.syringe_uL - p.dispensed_uL
                self.remaining.setText(f"{left:.0f} µL of {self.syringe_uL:g} µL")
                low = left < 0.1 * self.syringe_uL
                self.remaining.setStyleSheet(f"color: {ALARM};" if low else "")
        if kinds & {"reset", "events"}:
            self._events()
        if kinds & {"reset", "fractions", "events"}:
            self._collector()
        if kinds & {"reset", "injections", "blocks", "now"}:
            self._valve()
        if kinds & {"reset", "blocks", "now"}:
            value = getattr(m.history, "last_value", math.nan) if m.live else math.nan
            if math.isfinite(value):
                self.signal.setText(f"{value:.3f} nA")

    def _events(self) -> None:
        m = self.model
        for event, wall in zip(m.events[self._alarm_events:], m.event_walls[self._alarm_events:]):
            alarm = event.kind in ("alarm", "gap") or (
                event.kind == "perfusion" and not event.text.startswith("started"))
            if not alarm:
                continue
            recovered = "reconnected" in event.text or event.text.startswith("restored")
            when = minutes(event.t) + (f" ({clock(wall)})" if wall else "")
            item = QListWidgetItem(f"{when}  {event.kind}: {event.text}")
            item.setForeground(QBrush(QColor(OK if recovered else ALARM)))
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
