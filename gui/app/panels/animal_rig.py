"""The Rig panel's rows of a run of several animals on one HPLC: each animal (in its colour),
its stream on the selector, its state, its own pump's readings and the sample it collects
(its tube when it has a collector); which stream the selector feeds the injection loop now.

Each row reads that animal's own session model (its pump states and link alarms), so a
stalled or unplugged pump shows on its animal's row only.
"""

from __future__ import annotations

import re

from PySide6.QtWidgets import QGridLayout, QGroupBox, QLabel, QWidget

from raphe.gui.app import theme
from raphe.gui.app.pump_readings import PumpReadings
from raphe.gui.app.widgets import ALARM, ElidedLabel, minutes

COLUMNS = ("animal", "stream", "state", "pump", "rate", "syringe", "sample")
_COLLECT = re.compile(r"^collect .* as (\S+)")
#: How an animal's engine state reads in its row.
STATES = {"checking": "starting", "running": "running", "paused": "PAUSED",
          "stopping": "off the rig", "done": "done", "failed": "failed", "idle": "–"}


def collecting(model, tubes: dict[str, int | None], short: bool = False) -> str:
    """What a session collects now: ``tube 5 (B2)``, ``collecting B2`` (no collector),
    ``drain`` between samples, ``–`` before the first. ``short``: ``5 (B2)``, ``B2``."""
    return collecting_texts(model, tubes)[0 if short else 1]


def collecting_texts(model, tubes: dict[str, int | None]) -> tuple[str, str]:
    """:func:`collecting`, short and long, from one scan of the events."""
    filled = {f.sample_id for f in model.fractions}
    label = None
    for event in reversed(model.events):
        if event.kind == "step":
            match = _COLLECT.match(event.text)
            if match:
                label = match.group(1)
                break
    if label is None or label in filled:
        idle = "drain" if model.fractions or label else "–"
        return idle, idle
    tube = tubes.get(label)
    if tube:
        return f"{tube} ({label})", f"tube {tube} ({label})"
    return label, f"collecting {label}"


class AnimalRow:
    """One animal's labels in the group."""

    def __init__(self, view) -> None:
        self.view = view
        self.name = QLabel(view.id)
        self.name.setStyleSheet(f"color: {view.color}; font-weight: bold;")
        self.name.setToolTip(f"{view.title}: pump {view.pump}, stream {view.stream}")
        self.stream = QLabel("–" if view.stream is None else str(view.stream))
        self.state = ElidedLabel("–", min_width=30)
        self.pump = PumpReadings()
        self.tube = ElidedLabel("–", min_width=30)

    def widgets(self) -> list[QWidget]:
        return [self.name, self.stream, self.state, self.pump.status, self.pump.rate,
                self.pump.remaining, self.tube]

    def update(self, syringe_uL: float | None) -> None:
        model = self.view.model
        self.pump.update(model, syringe_uL, short=True)
        short, long = collecting_texts(model, self.view.tubes)
        self.tube.setText(short)
        self.tube.setToolTip(long)
        lost = model.lost.get("pump")
        if lost is not None and model.live:
            self.pump.status.setToolTip(f"link lost since {minutes(lost)}, reconnecting")

    def set_state(self, state: str) -> None:
        self.state.setText(STATES.get(state, state))
        alarm = state in ("paused", "failed")
        self.state.setStyleSheet(f"color: {ALARM}; font-weight: bold;" if alarm else "")


class AnimalsGroup(QGroupBox):
    """See the module docstring."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Animals (one pump each, one HPLC)", parent)
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(6, 2, 6, 2)
        self.grid.setHorizontalSpacing(8)
        self.grid.setVerticalSpacing(1)
        self.rows: dict[str, AnimalRow] = {}
        self.selector = ElidedLabel("–")
        self.syringe_uL: float | None = None
        self._slots: list[tuple] = []

    def set_animals(self, views: list, syringe_uL: float | None = None) -> None:
        for model, slot in self._slots:
            try:
                model.changed.disconnect(slot)
            except (RuntimeError, TypeError):  # the model is gone
                pass
        self._slots = []
        while self.grid.count():
            item = self.grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.rows = {}
        self.syringe_uL = syringe_uL
        for c, text in enumerate(COLUMNS):
            header = QLabel(text)
            theme.mute(header)
            self.grid.addWidget(header, 0, c)
        for r, view in enumerate(views, start=1):
            row = AnimalRow(view)
            for c, widget in enumerate(row.widgets()):
                self.grid.addWidget(widget, r, c)
            self.rows[view.id] = row
            slot = (lambda kinds, row=row: self._on_model(row, kinds))
            view.model.changed.connect(slot)
            self._slots.append((view.model, slot))
            row.update(syringe_uL)
        self.selector = ElidedLabel("–")
        caption = QLabel("selector")
        theme.mute(caption)
        last = len(views) + 1
        self.grid.addWidget(caption, last, 0)
        self.grid.addWidget(self.selector, last, 1, 1, len(COLUMNS) - 1)
        for c in range(len(COLUMNS)):
            self.grid.setColumnStretch(c, 0 if c in (0, 1) else 2)

    def _on_model(self, row: AnimalRow, kinds) -> None:
        if "reset" in kinds:
            row.pump.reset()
        if kinds & {"reset", "pump", "events", "fractions"}:
            row.update(self.syringe_uL)

    def set_states(self, states: dict[str, str]) -> None:
        """Each animal's engine state (running, paused, off the rig …)."""
        for animal, state in states.items():
            row = self.rows.get(animal)
            if row is not None:
                row.set_state(state)

    def set_selector(self, stream: int | None) -> None:
        """The stream the selector feeds the loop with now, and whose it is."""
        if stream is None:
            self.selector.setText("–")
            self.selector.setStyleSheet("")
            return
        owner = next((row.view for row in self.rows.values() if row.view.stream == stream),
                     None)
        self.selector.setText(f"stream {stream}" + (f" ({owner.id})" if owner else ""))
        self.selector.setStyleSheet(f"color: {owner.color}; font-weight: bold;" if owner
                                    else "")

    def safe_state(self, pump_failed: bool) -> None:
        """The run ended: every pump in its safe state (unless that failed)."""
        if not pump_failed:
            for row in self.rows.values():
                row.pump.stopped()
