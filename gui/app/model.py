"""What the panels show: one session's records, live or replayed, on the GUI thread.

A live run adds the stream's records as the bridge delivers them; a replay
adds the recorded ones up to its play cursor. Panels read the lists and
redraw on ``changed``, which names the kinds that changed (``reset`` when the
model was emptied).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import QObject, Signal

from raphe.records import (
    BaselineReference,
    CalibrationFit,
    Event,
    Fraction,
    Injection,
    InstrumentState,
    LatestResults,
    PumpState,
    SampleResult,
    SuitabilityTest,
)

#: An instrument's link lost or back, as the engine words it in an ``alarm`` event.
_LINK = re.compile(r"^(pump|collector|valve|detector): (.*)$")


class SessionModel(QObject):
    """The records of the session on screen; see the module docstring."""

    changed = Signal(object)  # frozenset of kinds

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.history: Any = None
        self.method: Any = None
        self.meta: dict[str, Any] = {}
        self.live = False
        self._clear()

    def _clear(self) -> None:
        self.injections: list[Injection] = []
        self.events: list[Event] = []
        #: wall time each event reached the window (live runs), None in a replay
        self.event_walls: list[float | None] = []
        #: the last report of every result (a revision replaces the result it revises)
        self.results = LatestResults()
        self.fractions: list[Fraction] = []
        self.pump: PumpState | None = None
        #: closed runs as the analysis published them (raphe.acquisition.analysis.quantifier.ClosedRun)
        self.chromatograms: list[Any] = []
        #: every change of a % of baseline reference (the last per analyte is in force)
        self.references: list[BaselineReference] = []
        self.calibrations: list[CalibrationFit] = []
        self.suitability: list[SuitabilityTest] = []
        #: the last state each shared instrument reported (the stream selector's stream)
        self.instruments: dict[str, InstrumentState] = {}
        self.now = 0.0
        self.limit: float | None = None  # a replay's play cursor (session time)
        #: instruments whose link is lost now (role → session time it was lost): their
        #: readings are unknown, not their last values
        self.lost: dict[str, float] = {}
        self._by_sample: dict[str, Injection] = {}

    def reset(self, history: Any = None, method: Any = None, meta: dict | None = None,
              live: bool = False) -> None:
        """Start over with a new session (its trace history, analysis method, metadata)."""
        self.history, self.method, self.meta, self.live = history, method, dict(meta or {}), live
        self._clear()
        self.changed.emit(frozenset({"reset"}))

    def clear_records(self) -> None:
        """Forget the records (a replay seeking back), keep the session."""
        self._clear()
        self.changed.emit(frozenset({"reset"}))

    @property
    def run_length_s(self) -> float:
        return float(getattr(self.method, "run_length_s", None) or 0.0)

    def analytes(self) -> list[str]:
        """Analytes to offer: the method's reported peaks, else those in the results."""
        if self.method is not None and getattr(self.method, "analytes", None):
            return [p.name for p in self.method.analytes]
        return list(dict.fromkeys(r.analyte for r in self.results))

    def injection(self, sample_id: str) -> Injection | None:
        return self._by_sample.get(sample_id)

    def reference(self, analyte: str) -> BaselineReference | None:
        """The % of baseline reference in force for ``analyte`` (None before there is one)."""
        return next((r for r in reversed(self.references) if r.analyte == analyte), None)

    def probe_t(self, result: SampleResult) -> float:
        """When the sample's dialysate left the probe (s): the result's, its injection's
        probe window, else its injection time."""
        if math.isfinite(result.probe_t):
            return result.probe_t
        inj = self._by_sample.get(result.sample_id)
        if inj is not None and math.isfinite(inj.probe_t):
            return inj.probe_t
        return result.inject_t

    def add(self, batch: Iterable[tuple[str, Any]]) -> None:
        """Records from the stream (or a replay), in order; emits ``changed`` once."""
        kinds: set[str] = set()
        wall = time.time() if self.live else None
        for kind, record in batch:
            if kind == "blocks":
                if self.history is not None and hasattr(self.history, "append"):
                    self.history.append(record)
                self.now = max(self.now, record.t0 + len(record) * record.dt)
            elif kind == "injections":
                self.injections.append(record)
                self._by_sample[record.sample_id] = record
            elif kind == "events":
                self.events.append(record)
                self.event_walls.append(wall)
                if record.kind == "alarm":
                    self._link(record)
            elif kind == "results":
                self.results.add(record)
            elif kind == "baseline":
                self.references.append(record)
            elif kind == "calibration":
                self.calibrations.append(record)
            elif kind == "suitability":
                self.suitability.append(record)
            elif kind == "fractions":
                self.fractions.append(record)
            elif kind == "pump":
                self.pump = record
            elif kind == "chromatograms":
                self.chromatograms.append(record)
            elif kind == "instruments":
                self.instruments[record.role] = record
            else:
                continue
            kinds.add(kind)
        if kinds:
            self.changed.emit(frozenset(kinds))

    def _link(self, event: Event) -> None:
        match = _LINK.match(event.text)
        if match is None:
            return
        role, rest = match.groups()
        if "reconnected" in rest:
            self.lost.pop(role, None)
        elif rest.rstrip().endswith("reconnecting"):
            self.lost.setdefault(role, event.t)

    def wall_of(self, i: int) -> float | None:
        """The wall time of event ``i``: when the window got it (a live run), else when it
        happened by the recording's clock (its start plus session time at the session's
        clock speed); None when not known."""
        wall = self.event_walls[i] if i < len(self.event_walls) else None
        if wall is not None:
            return wall
        start = self.meta.get("wall_start")
        if not isinstance(start, (int, float)) or not math.isfinite(start):
            return None
        return start + self.events[i].t / self.clock_speed()

    def clock_speed(self) -> float:
        """Session seconds per wall second of the recording (1 on a real rig; a simulated
        rig's speed, from the span the file was open)."""
        meta = self.meta
        start, closed, length = meta.get("wall_start"), meta.get("closed"), \
            meta.get("duration_s")
        try:
            speed = float(length) / (float(closed) - float(start))
        except (TypeError, ValueError, ZeroDivisionError):
            return 1.0
        if not math.isfinite(speed) or speed <= 0 or abs(speed - 1.0) < 0.05:
            return 1.0
        return speed

    def set_now(self, t: float, limit: float | None = None) -> None:
        """Move the session's 'now' (and a replay's cursor)."""
        self.now, self.limit = t, limit
        self.changed.emit(frozenset({"now"}))
