"""Rig: each instrument's link and key readings, alarms in red with when they started,
and the perfusion flow.

Readings come from the session stream (pump states, fractions, injections,
events, detector blocks) and the engine's status: the window never asks an
instrument. A run of several animals on one HPLC shows a row per animal instead of the
one pump (:mod:`raphe.gui.app.panels.animal_rig`) and the stream selector's stream. An instrument whose link is lost shows its readings as unknown, never
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

from raphe.drivers.base import stream_of
from raphe.gui.app import dialogs
from raphe.gui.app.animals import split_animal
from raphe.gui.app.panels.animal_rig import AnimalsGroup, collecting
from raphe.gui.app.panels.trace import reading
from raphe.gui.app.pump_readings import PumpReadings
from raphe.gui.app.widgets import ALARM, OK, ElidedLabel, NoWheelSpinBox, clock, minutes
from raphe.protocols.protocol_run import INJECT_HOLD_S
from raphe.severity import LOUD, severity

ROLES = ("pump", "collector", "valve", "detector")
DEFAULT_FLOW = 1.0
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
        self.pump = PumpReadings()
        self.pump_status, self.rate = self.pump.status, self.pump.rate
        self.dispensed, self.remaining = self.pump.dispensed, self.pump.remaining
        self.tube = ElidedLabel("–")
        self.filled = ElidedLabel("–")
        self.position = ElidedLabel("–")
        self.last_injection = ElidedLabel("–")
        self.selector = ElidedLabel("–")
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
        self.groups = {
            "pump": self._group("Syringe pump", [
                ("link", self.links["pump"]), ("status", self.pump_status),
                ("rate", self.rate), ("dispensed", self.dispensed),
                ("remaining", self.remaining)], self._flow_row()),
            "collector": self._group("Fraction collector", [
                ("link", self.links["collector"]), ("tube", self.tube),
                ("filled", self.filled)]),
            "valve": self._group("Injection valve", [
                ("link", self.links["valve"]), ("position", self.position),
                ("last", self.last_injection), ("selector", self.selector)]),
            "detector": self._group("Detector (ECD)", [
                ("link", self.links["detector"]), ("signal", self.signal)]),
        }
        self.valve_form: QFormLayout = self.groups["valve"].layout()
        self.valve_form.setRowVisible(self.selector, False)
        alarms = QGroupBox("Alarms")
        box = QVBoxLayout(alarms)
        box.setContentsMargins(2, 2, 2, 2)
        box.addWidget(self.alarms)
        self.groups["alarms"] = alarms
        #: a run of several animals: a row per animal (its pump, its stream)
        self.animals = AnimalsGroup()
        self.groups["animals"] = self.animals
        self.grid = QGridLayout()
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(4)
        self.several = False
        self._arrange()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        layout.addLayout(self.grid, 1)
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

    def _arrange(self) -> None:
        """One animal: the pump and the collector left, the valve and detector right; several:
        the animals' rows across the top, valve and detector under them."""
        g = self.groups
        for group in g.values():
            self.grid.removeWidget(group)
        several = self.several
        places = {"animals": (0, 0, 1, 2), "valve": (1, 0, 1, 1), "detector": (1, 1, 1, 1),
                  "alarms": (2, 0, 1, 2)} if several else {
            "pump": (0, 0, 2, 1), "collector": (0, 1, 1, 1), "valve": (1, 1, 1, 1),
            "detector": (2, 1, 1, 1), "alarms": (2, 0, 1, 1)}
        for key, group in g.items():
            group.setVisible(key in places)
            if key in places:
                self.grid.addWidget(group, *places[key])
        for c in range(2):
            self.grid.setColumnStretch(c, 1)
        for r in range(3):
            self.grid.setRowStretch(r, 1 if r == 2 else 0)
        self.valve_form.setRowVisible(self.selector, several)

    def set_animals(self, views: list | None) -> None:
        """A run of several animals (``raphe.gui.app.animals.AnimalView``: a row each, the
        selector's stream), or None: one animal's pump and collector."""
        self.several = bool(views)
        if views:
            self.animals.set_animals(views, self.syringe_uL)
        self._arrange()

    def set_animal_states(self, states: dict[str, str]) -> None:
        self.animals.set_states(states)

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
            self.pump.stopped()
        if self.several:
            self.animals.safe_state(any("pump" in p for p in problems))
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
            for label in (*self.pump.labels, self.tube, self.filled, self.position,
                          self.last_injection, self.signal, self.selector):
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
        if kinds & {"reset", "instruments"} and self.several:
            self._selector()
        if kinds & {"reset", "blocks", "now", "events"} and m.live:
            text = reading(m) or "–"
            self.signal.setText(text.replace("detector: ", ""))
            known = text.endswith("nA") or text == "–"
            self.signal.setStyleSheet("font-size: 12pt;" + ("" if known else
                                                            f" color: {ALARM};"))

    def _pump(self) -> None:
        """The pump's last reported state; unknown while its link is lost. The flow field
        follows its rate until the operator edits it."""
        p = self.pump.update(self.model, self.syringe_uL)
        if p is not None and math.isfinite(p.rate_uL_min) and p.rate_uL_min > 0 \
                and not self.flow_edited and not self.flow.hasFocus():
            self.flow.setValue(p.rate_uL_min)

    def _events(self) -> None:
        m = self.model
        animals = list(self.animals.rows) if self.several else []
        for event, wall in zip(m.events[self._alarm_events:], m.event_walls[self._alarm_events:]):
            animal, text = split_animal(event.text, animals)  # several animals: whose
            alarm = event.kind in ("alarm", "gap") or (
                event.kind == "perfusion" and not text.startswith("started"))
            if not alarm:
                continue
            recovered = "reconnected" in text or text.startswith(("restored", "acknowledged"))
            when = minutes(event.t) + (f" ({clock(wall)})" if wall else "")
            item = QListWidgetItem(f"{when}  {animal + ' · ' if animal else ''}"
                                   f"{event.kind}: {text}")
            item.setForeground(QBrush(QColor(OK if recovered else ALARM)))
            if not recovered and LOUD in (severity(text), severity(f"{event.kind} {text}")):
                font = item.font()
                font.setBold(True)
                item.setFont(font)
            self.alarms.addItem(item)
            self.alarms.scrollToBottom()
            match = _ROLE_ALARM.match(text)
            if match and m.live and not animal:  # an animal's pump: its own row says it
                role, rest = match.groups()
                if "reconnected" in rest:
                    self._link(self.links[role], "connected", True)
                elif "reconnecting" in rest:
                    self._link(self.links[role], f"link lost since {minutes(event.t)}, "
                                                 "reconnecting", False)
        self._alarm_events = len(m.events)

    def _collector(self) -> None:
        m = self.model
        filled = {f.sample_id for f in m.fractions}
        self.filled.setText(f"{len(filled)} tube(s)" if m.fractions else "none")
        self.tube.setText(collecting(m, self.tubes))

    def _valve(self) -> None:
        m = self.model
        if not m.injections:
            return
        inj = m.injections[-1]
        now = m.now if m.limit is None else m.limit
        inject = now < inj.t + INJECT_HOLD_S
        self.position.setText("INJECT" if inject else "LOAD")
        self.last_injection.setText(f"{inj.sample_id} at {minutes(inj.t)}")

    def _selector(self) -> None:
        """The stream the selector feeds the injection loop with (several animals)."""
        state = self.model.instruments.get("selector")
        stream = stream_of(state.state) if state is not None else None
        self.animals.set_selector(stream)
        self.selector.setText(self.animals.selector.text())
        self.selector.setStyleSheet(self.animals.selector.styleSheet())
