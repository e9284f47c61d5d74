"""Time course: one analyte per sample, in nM or % of baseline, against probe time.

Each point is a sample at the midpoint of its probe-time window (when its
dialysate left the probe). The baseline band is the mean ± SD of the baseline
samples — chosen by the analysis core's own rule
(:class:`~raphe.acquisition.analysis.baseline_pct.BaselineTracker`: the method's
list, else the ``baseline`` phase, else before the first drug). Drugs and
markers are vertical lines. Points below the LOQ (or LOD) are hollow, points
with another flag (incomplete run, drift, saturation, outside the RT window)
are orange, and a peak not found is a grey cross on the axis.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from raphe.acquisition.analysis.baseline_pct import BaselineTracker
from raphe.gui.app.plots import Markers, plot_widget, settle
from raphe.gui.app.widgets import (
    ALARM,
    BASELINE_BAND,
    DRUG,
    INJECTION,
    SIGNAL,
    NoWheelComboBox,
    Throttle,
    fixed_width,
)
from raphe.records import Injection

UNITS = ("nM", "% of baseline")
#: New results redraw the panel at most this often (ms).
REDRAW_MS = 250
LOW = ("below_loq", "below_lod")
LEGEND = (f"<span style='color:{SIGNAL}'>●</span> quantified &nbsp; "
          f"<span style='color:{SIGNAL}'>○</span> below LOQ &nbsp; "
          f"<span style='color:{ALARM}'>●</span> flagged (incomplete run, drift, saturated, "
          "RT window) &nbsp; <span style='color:#888'>×</span> peak not found &nbsp; "
          "<span style='background:#ddd'>&nbsp;&nbsp;&nbsp;</span> baseline mean ± SD &nbsp; "
          f"<span style='color:{DRUG}'>|</span> drug")
OTHER = ("incomplete", "drift", "saturated", "rt_window")


@dataclass
class Point:
    """One plotted sample."""

    sample_id: str
    x_min: float  # probe time, minutes
    y: float  # NaN when there is no value (peak not found, baseline not known yet)
    flags: tuple[str, ...]
    baseline: bool
    level: float = math.nan  # concentration (area when not calibrated): the baseline's unit

    @property
    def low(self) -> bool:
        return any(f in LOW for f in self.flags)

    @property
    def flagged(self) -> bool:
        return any(f in OTHER for f in self.flags)

    @property
    def missing(self) -> bool:
        return "not_found" in self.flags or not math.isfinite(self.y)


def calibrated(model, analyte: str) -> bool:
    """Whether the method converts the analyte's area to a concentration."""
    for spec in getattr(model.method, "peaks", ()) or ():
        if spec.name == analyte:
            return spec.calibration is not None
    return any(r.analyte == analyte and math.isfinite(r.conc_nM) for r in model.results)


def axis_label(model, analyte: str, unit: str) -> tuple[str, str]:
    if unit == UNITS[0] and not calibrated(model, analyte):
        return f"{analyte} peak area (not calibrated)", "nA·s"
    return analyte, unit


def value_of(result, unit: str, is_calibrated: bool = True) -> float:
    if unit == UNITS[1]:
        return result.pct_baseline
    return result.conc_nM if is_calibrated else result.area


def _baseline_rule(tracker):
    """``is_baseline(injection)`` of the analysis core's tracker (older cores took the
    sample id and the injection time)."""
    if len(inspect.signature(tracker.is_baseline).parameters) == 1:
        return tracker.is_baseline
    return lambda inj: tracker.is_baseline(inj.sample_id, inj.t)


def points(model, analyte: str, unit: str) -> list[Point]:
    """The analyte's samples as plotted (dialysate samples only; standards are not)."""
    tracker = BaselineTracker(getattr(model.method, "baseline_samples", None))
    is_calibrated = calibrated(model, analyte)
    for event in model.events:
        tracker.on_event(event)
    is_baseline = _baseline_rule(tracker)
    out = []
    for r in model.results:
        if r.analyte != analyte:
            continue
        inj = model.injection(r.sample_id)
        if inj is not None and inj.kind != "sample":
            continue
        if inj is None:  # its injection not (yet) seen: its time stands in
            inj = Injection(r.inject_t, r.sample_id, math.nan)
        flags = tuple(f for f in r.flags.split(",") if f)
        level = r.conc_nM if math.isfinite(r.conc_nM) else r.area
        out.append(Point(r.sample_id, model.probe_t(r) / 60.0, value_of(r, unit, is_calibrated), flags,
                         is_baseline(inj), level))
    return out


def baseline_band(pts: list[Point], unit: str) -> tuple[float, float, float] | None:
    """(mean, low, high) of the baseline samples in ``unit``: mean ± SD of their
    concentrations (areas when not calibrated); None before there are any."""
    values = [p.level for p in pts if p.baseline and "not_found" not in p.flags
              and math.isfinite(p.level)]
    if not values:
        return None
    mean = float(np.mean(values))
    sd = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    if unit == UNITS[1]:
        if mean == 0:
            return None
        return 100.0, 100.0 * (1 - sd / mean), 100.0 * (1 + sd / mean)
    return mean, mean - sd, mean + sd


class TimeCoursePanel(QWidget):
    """See the module docstring."""

    def __init__(self, model, parent: QWidget | None = None, controls: bool = True) -> None:
        super().__init__(parent)
        self.model = model
        self.analyte_box = NoWheelComboBox()
        self.unit_box = NoWheelComboBox()
        self.unit_box.addItems(UNITS)
        self.plot = plot_widget(("probe time", "min"), ("5-HT", "nM"))
        self.item = self.plot.getPlotItem()
        self.band = pg.LinearRegionItem((0, 0), orientation="horizontal", movable=False,
                                        brush=pg.mkBrush(*BASELINE_BAND), pen=pg.mkPen(None))
        self.band.setZValue(-20)
        self.band.setVisible(False)
        self.item.addItem(self.band)
        self.mean_line = pg.InfiniteLine(0, angle=0, movable=False,
                                         pen=pg.mkPen("#666", style=Qt.PenStyle.DashLine))
        self.mean_line.setVisible(False)
        self.item.addItem(self.mean_line)
        self.line = pg.PlotDataItem(pen=pg.mkPen(SIGNAL, width=1), connect="finite")
        self.item.addItem(self.line)
        self.scatter = pg.ScatterPlotItem(hoverable=True, tip=self._tip)
        self.item.addItem(self.scatter)
        self.missing = pg.ScatterPlotItem(symbol="x", size=9, pen=pg.mkPen(INJECTION),
                                          brush=pg.mkBrush(INJECTION))
        self.item.addItem(self.missing)
        self.legend = QLabel(LEGEND)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        self.markers = Markers(self.item)
        self.summary = QLabel("")
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        fixed_width(self.summary)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        if controls:
            bar = QHBoxLayout()
            bar.addWidget(QLabel("analyte"))
            bar.addWidget(self.analyte_box)
            bar.addWidget(QLabel("as"))
            bar.addWidget(self.unit_box)
            bar.addWidget(self.summary, 1)
            layout.addLayout(bar)
        layout.addWidget(self.plot)
        layout.addWidget(self.legend)
        self.points: list[Point] = []
        self._events_seen = 0
        self._redraw_soon = Throttle(self.redraw, REDRAW_MS, self)
        self.analyte_box.currentTextChanged.connect(lambda _: self.redraw())
        self.unit_box.currentTextChanged.connect(lambda _: self.redraw())
        model.changed.connect(self._on_model)
        self._on_model(frozenset({"reset"}))  # what the model holds already

    @property
    def analyte(self) -> str:
        return self.analyte_box.currentText() or "5-HT"

    @property
    def unit(self) -> str:
        return self.unit_box.currentText()

    def _fill_analytes(self) -> None:
        names = self.model.analytes()
        current = [self.analyte_box.itemText(i) for i in range(self.analyte_box.count())]
        if names == current:
            return
        keep = self.analyte_box.currentText() or ("5-HT" if "5-HT" in names else "")
        self.analyte_box.blockSignals(True)
        self.analyte_box.clear()
        self.analyte_box.addItems(names)
        if keep in names:
            self.analyte_box.setCurrentText(keep)
        self.analyte_box.blockSignals(False)

    def _on_model(self, kinds) -> None:
        if "reset" in kinds:
            self.markers.clear()
        if kinds & {"reset", "results"}:
            self._fill_analytes()
        if "reset" in kinds:
            self._events_seen = 0
        if kinds & {"reset", "events"}:
            self.markers.update(self.model)
        if "reset" in kinds:
            self.redraw()
        elif "results" in kinds or ("events" in kinds and self._baseline_events()):
            self._redraw_soon() if self.model.live else self.redraw()

    def _baseline_events(self) -> bool:
        """Whether new events can change which samples are the baseline (drug, phase)."""
        seen, self._events_seen = self._events_seen, len(self.model.events)
        return any(e.kind in ("drug", "phase") for e in self.model.events[seen:])

    def redraw(self) -> None:
        analyte, unit = self.analyte, self.unit
        label, units = axis_label(self.model, analyte, unit)
        self.item.setLabel("left", label, units=units)
        pts = points(self.model, analyte, unit)
        self.points = pts
        shown = [p for p in pts if not p.missing]
        x = np.array([p.x_min for p in shown])
        y = np.array([p.y for p in shown])
        self.line.setData(x, y)
        spots = []
        for p in shown:
            color = ALARM if p.flagged else SIGNAL
            spots.append({"pos": (p.x_min, p.y), "data": p, "size": 10, "symbol": "o",
                          "pen": pg.mkPen(color, width=1.8),
                          "brush": pg.mkBrush(None) if p.low else pg.mkBrush(color)})
        self.scatter.setData(spots)
        gone = [p for p in pts if p.missing and "not_found" in p.flags]
        self.missing.setData([p.x_min for p in gone], [0.0] * len(gone), data=gone)
        band = baseline_band(pts, unit)
        self.band.setVisible(band is not None)
        self.mean_line.setVisible(band is not None)
        if band is not None:
            mean, low, high = band
            self.band.setRegion((low, high))
            self.mean_line.setPos(mean)
        last = shown[-1] if shown else None
        self.summary.setText("" if last is None else
                             f"last: {last.sample_id} {last.y:.3g} {units}")
        settle(self.item)

    def _tip(self, x: float, y: float, data) -> str:
        p: Point = data
        flags = f"\nflags: {', '.join(p.flags)}" if p.flags else ""
        units = axis_label(self.model, self.analyte, self.unit)[1]
        return f"{p.sample_id}  {x:.1f} min\n{y:.3g} {units}{flags}"
