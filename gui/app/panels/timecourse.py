"""Time course: one analyte per sample, in nM or % of baseline, against probe time.

Each point is a sample at the midpoint of its probe-time window (when its
dialysate left the probe). The panel decides nothing: which samples form the
baseline, the reference (mean ± SD, n, provisional or final) and every % of
baseline come from the analysis core (results' ``baseline`` column, the
session's ``baseline`` reference records). Every flag has a look: a sample
that a flag leaves out of % of baseline stays on the plot in both units, as a
hollow orange symbol of its own shape per flag (at its would-be % against the
reference in the % view), off the line; a peak not found is a grey cross on
the axis; a point below the LOQ (or LOD) is hollow blue; a point with a flag
that qualifies it (drift, fit mismatch, no calibration) is filled orange. The
legend lists every flag the session's results hold, with its documented
meaning on hover. Drugs, flow changes and markers are vertical lines; pauses
and lost readings shaded spans.

A run of several animals overlays them (:meth:`TimeCoursePanel.set_animals`): one curve per
animal in its colour, from its own model (its own reference and % of baseline), each shown
or hidden by its check box above the plot; the flags keep their looks.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from raphe.acquisition.analysis import flags as fl
from raphe.gui.app import theme
from raphe.gui.app.animals import sample_name
from raphe.gui.app.plots import Markers, plot_widget, settle
from raphe.gui.app.widgets import (
    ALARM,
    BASELINE_BAND,
    DRUG,
    FLOW,
    INJECTION,
    PAUSE_SPAN,
    ElidedLabel,
    NoWheelComboBox,
    Throttle,
)
from raphe.records import percent

UNITS = ("nM", "% of baseline")
#: New results redraw the panel at most this often (ms).
REDRAW_MS = 250
LOW = ("below_loq", "below_lod")
MISSING = ("not_found", "no_noise")
#: The shape of a sample left out of % of baseline, by the flag that leaves it out (the
#: first in registry order when it has several); pyqtgraph symbol and its character.
EXCLUDED_LOOK: dict[str, tuple[str, str]] = {
    "perfusion_stopped": ("t", "▽"),
    "unfilled": ("t1", "△"),
    "flow_changed": ("s", "□"),
    "gap": ("d", "◇"),
    "incomplete": ("p", "⬠"),
    "saturated": ("star", "☆"),
    "baseline_step": ("h", "⬡"),
    "unresolved": ("crosshair", "⊕"),
    "implausible": ("t2", "▷"),
    "rt_window": ("t2", "▷"),
    "out_of_range": ("t2", "▷"),
    "rt_reference": ("t2", "▷"),
}
DEFAULT_EXCLUDED = ("t3", "◁")
MISSING_LOOK = ("x", "×")
#: The y range shown unless the user zooms: a concentration (or area) from zero; % of
#: baseline around 100. At least this share of the largest value is always in view, so two
#: points a hair apart are not stretched across the plot.
MIN_SPAN = 0.5
EMPTY_RANGE = {UNITS[0]: (0.0, 1.0), UNITS[1]: (0.0, 150.0)}


def y_range(values: list[float], unit: str) -> tuple[float, float]:
    """The y range a scientist would draw: zero included for a concentration (or area), 100 %
    included for % of baseline, and never narrower than ``MIN_SPAN`` of the largest |value|."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return EMPTY_RANGE.get(unit, (0.0, 1.0))
    low, high = min(finite), max(finite)
    if unit == UNITS[1]:
        low, high = min(low, 100.0), max(high, 100.0)
    else:
        low, high = min(low, 0.0), max(high, 0.0)
    size = max(abs(low), abs(high)) or 1.0
    span = max(high - low, MIN_SPAN * size)
    middle = (low + high) / 2
    low, high = (middle - span / 2, middle + span / 2) if high - low < span else (low, high)
    if unit != UNITS[1] and min(finite) >= 0:
        low = 0.0
    pad = 0.06 * (high - low)
    return (low - (pad if low != 0.0 else 0.0), high + pad)


@dataclass
class Point:
    """One plotted sample."""

    sample_id: str
    x_min: float  # probe time, minutes
    y: float  # NaN when there is no value to draw (peak not found, no reference yet)
    flags: tuple[str, ...]
    baseline: bool
    level: float = math.nan  # concentration (area when not calibrated): the baseline's unit
    animal: str = ""  # whose, in a run of several animals

    @property
    def name(self) -> str:
        return sample_name(self.animal, self.sample_id) if self.animal else self.sample_id

    @property
    def low(self) -> bool:
        return any(f in LOW for f in self.flags)

    @property
    def missing(self) -> bool:
        """No peak to report: drawn as a cross on the axis."""
        return any(f in MISSING for f in self.flags) or not math.isfinite(self.level)

    @property
    def excluded(self) -> bool:
        """Left out of % of baseline by a flag (drawn, marked, off the line)."""
        return fl.excludes(self.flags)

    @property
    def flagged(self) -> bool:
        """Qualified by a flag that does not exclude it (drift, fit mismatch …)."""
        return not self.excluded and any(f not in LOW for f in self.flags)

    def look(self) -> tuple[str, str]:
        """(pyqtgraph symbol, legend character) of this point."""
        if self.missing:
            return MISSING_LOOK
        if self.excluded:
            first = next(f for f in self.flags if f in fl.EXCLUDING)
            return EXCLUDED_LOOK.get(first, DEFAULT_EXCLUDED)
        return ("o", "○" if self.low else "●")


def calibrated(model, analyte: str) -> bool:
    """Whether the method converts the analyte's area to a concentration."""
    for spec in getattr(model.method, "peaks", ()) or ():
        if spec.name == analyte:
            return spec.calibration is not None
    mine = [r for r in model.results if r.analyte == analyte]
    return not mine or any(math.isfinite(r.conc_nM) for r in mine)


def axis_label(model, analyte: str, unit: str) -> tuple[str, str]:
    if unit == UNITS[0] and not calibrated(model, analyte):
        return f"{analyte} peak area (not calibrated)", "nA·s"
    return analyte, unit


def points(model, analyte: str, unit: str) -> list[Point]:
    """The analyte's samples as plotted (dialysate samples only; standards are not)."""
    is_calibrated = calibrated(model, analyte)
    ref = model.reference(analyte)
    out = []
    for r in model.results:
        if r.analyte != analyte:
            continue
        inj = model.injection(r.sample_id)
        if inj is not None and inj.kind != "sample":
            continue
        flags = fl.parse(r.flags)
        level = r.conc_nM if math.isfinite(r.conc_nM) else r.area
        if unit == UNITS[0]:
            y = r.conc_nM if is_calibrated else r.area
        elif math.isfinite(r.pct_baseline):
            y = r.pct_baseline
        else:  # left out of % of baseline: where it would be against the reference
            y = percent(level, ref.mean) if ref is not None else math.nan
        out.append(Point(r.sample_id, model.probe_t(r) / 60.0, y, flags, bool(r.baseline),
                         level))
    return out


def baseline_band(model, analyte: str, unit: str) -> tuple[float, float, float] | None:
    """(mean, low, high) in ``unit``: the analysis' reference, mean ± SD of the baseline
    samples; None before there is one."""
    ref = model.reference(analyte)
    if ref is None or not ref.n or not math.isfinite(ref.mean):
        return None
    sd = ref.sd if math.isfinite(ref.sd) else 0.0
    if unit == UNITS[1]:
        if ref.mean == 0:
            return None
        return 100.0, 100.0 * (1 - sd / ref.mean), 100.0 * (1 + sd / ref.mean)
    return ref.mean, ref.mean - sd, ref.mean + sd


def reference_text(model, analyte: str) -> str:
    """The reference in words, for the panel's summary line."""
    ref = model.reference(analyte)
    if ref is None or not ref.n:
        return "baseline: not yet known"
    unit = "nM" if ref.unit == "nM" else "nA·s"
    sd = f" ± {ref.sd:.3g}" if math.isfinite(ref.sd) else ""
    state = "final" if ref.final else "provisional"
    return f"baseline {ref.mean:.3g}{sd} {unit} (n = {ref.n}, {state})"


@dataclass
class Series:
    """One curve of the plot: a session's (or an animal's) samples."""

    animal: str  # "" for the session on screen
    model: Any  # its SessionModel
    color: str | None  # None: the theme's signal colour
    line: pg.PlotDataItem
    scatter: pg.ScatterPlotItem
    visible: bool = True
    box: QCheckBox | None = None  # its toggle, in a run of several animals

    def pen_color(self) -> str:
        return self.color or theme.current().signal


class FlagLegend(QWidget):
    """What each look means: the point kinds drawn, every flag the session holds (its
    meaning on hover), the baseline band and the lines."""

    COLUMNS = 4

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(2, 0, 2, 0)
        self.grid.setHorizontalSpacing(14)
        self.grid.setVerticalSpacing(1)
        self.entries: dict[str, QLabel] = {}
        self._shown: tuple[str, ...] | None = None

    def show_flags(self, flags: tuple[str, ...]) -> None:
        if flags == self._shown:
            return
        self._shown = flags
        while self.grid.count():
            item = self.grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.entries = {}
        dot = f"<span style='color:{theme.current().signal}'>●</span> quantified"
        rows = [("quantified", dot, "a value used for % of baseline")]
        for name in flags:
            meaning = fl.BY_NAME[name].meaning if name in fl.BY_NAME else name
            if name in MISSING:
                text = f"<span style='color:{INJECTION}'>{MISSING_LOOK[1]}</span> {name}"
            elif name in LOW:
                text = (f"<span style='color:{theme.current().signal}'>○</span> "
                        f"{name.replace('_', ' ')}")
            elif name in fl.EXCLUDING:
                mark = EXCLUDED_LOOK.get(name, DEFAULT_EXCLUDED)[1]
                text = f"<span style='color:{ALARM}'>{mark}</span> {name}"
                meaning += " — left out of % of baseline"
            else:
                text = f"<span style='color:{ALARM}'>●</span> {name}"
            rows.append((name, text, meaning))
        rows += [("baseline", ("<span style='background:#ddd'>&nbsp;&nbsp;&nbsp;</span> "
                               "baseline mean ± SD"),
                  ("the reference of % of baseline: mean ± SD of the baseline samples no "
                   "flag leaves out")),
                 ("drug", f"<span style='color:{DRUG}'>|</span> drug", "a drug given"),
                 ("flow", f"<span style='color:{FLOW}'>|</span> flow change",
                  "the perfusion flow changed"),
                 ("pause", ("<span style='background:rgba({},{},{},0.35)'>&nbsp;&nbsp;"
                            "&nbsp;</span> paused").format(*PAUSE_SPAN[:3]),
                  "the schedule was held")]
        for i, (name, text, tip) in enumerate(rows):
            label = QLabel(text)
            label.setTextFormat(Qt.TextFormat.RichText)
            label.setToolTip(tip)
            self.grid.addWidget(label, i // self.COLUMNS, i % self.COLUMNS)
            self.entries[name] = label


class TimeCoursePanel(QWidget):
    """See the module docstring."""

    def __init__(self, model, parent: QWidget | None = None, controls: bool = True) -> None:
        super().__init__(parent)
        self.model = model
        self.analyte_box = NoWheelComboBox()
        self.unit_box = NoWheelComboBox()
        self.unit_box.addItems(UNITS)
        self.plot = plot_widget(("probe time", "min"), ("5-HT", "nM"), name="time course")
        self.item = self.plot.getPlotItem()
        self.view = self.item.getViewBox()
        #: the y range follows the values (zero included), the x range the samples, until
        #: the user zooms
        self.auto_y = self.auto_x = True
        self.view.disableAutoRange(axis=pg.ViewBox.YAxis)
        self.view.sigRangeChangedManually.connect(self._manual)
        self.plot.menu_actions = [("Export figure (PNG, SVG, PDF)…", self.export_figure),
                                  ("Export table (CSV)…", self.export_table), ("-", None),
                                  ("Auto range (zero included)", self.auto_range)]
        self.band = pg.LinearRegionItem((0, 0), orientation="horizontal", movable=False,
                                        brush=pg.mkBrush(*BASELINE_BAND), pen=pg.mkPen(None))
        self.band.setZValue(-20)
        self.band.setVisible(False)
        self.item.addItem(self.band)
        self.mean_line = pg.InfiniteLine(0, angle=0, movable=False,
                                         pen=pg.mkPen("#666", style=Qt.PenStyle.DashLine))
        self.mean_line.setVisible(False)
        self.item.addItem(self.mean_line)
        self.line = pg.PlotDataItem(pen=pg.mkPen(theme.current().signal, width=1),
                                    connect="finite")
        self.item.addItem(self.line)
        self.scatter = pg.ScatterPlotItem(hoverable=True, tip=self._tip)
        self.item.addItem(self.scatter)
        self.missing = pg.ScatterPlotItem(symbol="x", size=9, pen=pg.mkPen(INJECTION),
                                          brush=pg.mkBrush(INJECTION), hoverable=True,
                                          tip=self._tip)
        self.item.addItem(self.missing)
        self.single = Series("", model, None, self.line, self.scatter)
        self.series: list[Series] = [self.single]
        #: the animals' toggles (a run of several animals), above the plot
        self.animals_bar = QHBoxLayout()
        self.animals_bar.setContentsMargins(2, 0, 2, 0)
        self.legend = FlagLegend()
        self.markers = Markers(self.item)
        self.summary = ElidedLabel("", min_width=80)
        self.summary.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
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
        layout.addLayout(self.animals_bar)
        layout.addWidget(self.plot)
        layout.addWidget(self.legend)
        self.points: list[Point] = []
        self._redraw_soon = Throttle(self.redraw, REDRAW_MS, self)
        self.analyte_box.currentTextChanged.connect(lambda _: self.redraw())
        self.unit_box.currentTextChanged.connect(lambda _: self.redraw())
        model.changed.connect(self._on_model)
        theme.notifier().changed.connect(self._restyle)
        self._on_model(frozenset({"reset"}))  # what the model holds already

    def _restyle(self, t) -> None:
        for series in self.series:
            series.line.setPen(pg.mkPen(series.pen_color(), width=1.6 if series.animal else 1))
        self.legend._shown = None  # its colours too
        self.redraw()

    # -- several animals -------------------------------------------------------------------

    def set_animals(self, views: list | None) -> None:
        """Overlay the animals of a run of several (``raphe.gui.app.animals.AnimalView``:
        id, model, colour, title), in % of baseline, each toggled by its check box; None:
        the one session of the panel's model again."""
        for series in self.series[1:]:
            self.item.removeItem(series.line)
            self.item.removeItem(series.scatter)
            series.model.changed.disconnect(self._on_series_model)
            if series.box is not None:
                series.box.deleteLater()
        while self.animals_bar.count():
            self.animals_bar.takeAt(0)
        self.series = [self.single]
        several = bool(views)
        self.single.visible = not several
        self.line.setVisible(not several)
        self.scatter.setVisible(not several)
        for view in views or ():
            line = pg.PlotDataItem(pen=pg.mkPen(view.color, width=1.6), connect="finite")
            scatter = pg.ScatterPlotItem(hoverable=True, tip=self._tip)
            self.item.addItem(line)
            self.item.addItem(scatter)
            box = QCheckBox(view.title)
            box.setChecked(view.visible)
            box.setStyleSheet(f"QCheckBox {{ color: {view.color}; font-weight: bold; }}")
            box.setToolTip(f"show or hide {view.id}'s time course")
            series = Series(view.id, view.model, view.color, line, scatter, view.visible, box)
            box.toggled.connect(lambda on, s=series: self.show_animal(s.animal, on))
            view.model.changed.connect(self._on_series_model)
            self.animals_bar.addWidget(box)
            self.series.append(series)
        if several:
            self.animals_bar.addStretch(1)
            self.unit_box.setCurrentText(UNITS[1])
        self.markers.animal_colors = {v.id: v.color for v in views or ()}
        self.markers.clear()
        self.markers.update(self.model)
        self.redraw()

    def show_animal(self, animal: str, on: bool) -> None:
        """Show or hide one animal's curve."""
        for series in self.series:
            if series.animal == animal:
                series.visible = bool(on)
                series.line.setVisible(series.visible)
                series.scatter.setVisible(series.visible)
                if series.box is not None and series.box.isChecked() != series.visible:
                    series.box.setChecked(series.visible)
        self.redraw()

    def curves(self) -> dict[str, list[Point]]:
        """What each animal's curve shows now (hidden animals: none)."""
        return {s.animal: [p for p in self.points if p.animal == s.animal]
                for s in self.series[1:]}

    def _on_series_model(self, kinds) -> None:
        if kinds & {"reset", "results", "baseline"}:
            self._redraw_soon() if self.model.live else self.redraw()

    def _shown(self) -> list[Series]:
        return [s for s in self.series if s.visible]

    def _band(self, analyte: str, unit: str):
        """The reference band of the one curve shown (none when several are overlaid)."""
        shown = self._shown()
        return baseline_band(shown[0].model, analyte, unit) if len(shown) == 1 else None

    # -- zoom and export -------------------------------------------------------------------

    def _manual(self, mask) -> None:
        """The user zoomed or panned: the range is theirs until Auto range."""
        if mask is None or (len(mask) > 1 and mask[1]):
            self.auto_y = False
        if mask is None or mask[0]:
            self.auto_x = False

    def auto_range(self) -> None:
        self.auto_y = self.auto_x = True
        self.view.enableAutoRange(axis=pg.ViewBox.XAxis)
        self._fit_y()

    def _fit_y(self) -> None:
        """The ranges a scientist would draw (unless the user zoomed): y from zero (or around
        100 %), x over the samples."""
        if self.auto_y:
            values = [p.y for p in self.points if not p.missing and math.isfinite(p.y)]
            band = self._band(self.analyte, self.unit)
            if band is not None:
                values += [band[1], band[2]]
            low, high = y_range(values, self.unit)
            self.view.setYRange(low, high, padding=0.0)
        if not self.auto_x:
            return
        if not self.points:  # empty: an hour of axes, not the last session's
            self.view.setXRange(0.0, 60.0, padding=0.0)
        elif not self.view.autoRangeEnabled()[0]:
            self.view.enableAutoRange(axis=pg.ViewBox.XAxis)

    def export_figure(self):
        from raphe.gui.app.export import ask_plot

        return ask_plot(self, self.plot, self.model)

    def export_table(self):
        from raphe.gui.app.export import ask_table

        return ask_table(self, self.model)

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
            self.auto_y = self.auto_x = True  # a new session: its own axes
            self.view.enableAutoRange(axis=pg.ViewBox.XAxis)
        if kinds & {"reset", "results"}:
            self._fill_analytes()
        if kinds & {"reset", "events"}:
            self.markers.update(self.model)
        elif kinds & {"blocks", "now"} and self.markers.paused_since is not None:
            self.markers.extend(self.model)  # a pause in progress grows
        if "reset" in kinds:
            self.redraw()
        elif kinds & {"results", "baseline"}:
            self._redraw_soon() if self.model.live else self.redraw()

    def redraw(self) -> None:
        analyte, unit = self.analyte, self.unit
        label, units = axis_label(self.model, analyte, unit)
        self.item.setLabel("left", label, units=units)
        everything: list[Point] = []
        for series in self.series:
            pts = points(series.model, analyte, unit) if series.visible else []
            if series.animal:
                pts = [dataclasses.replace(p, animal=series.animal) for p in pts]
            self._draw(series, pts)
            everything += pts
        self.points = everything
        gone = [p for p in everything if p.missing]
        self.missing.setData([p.x_min for p in gone], [0.0] * len(gone), data=gone)
        band = self._band(analyte, unit)
        self.band.setVisible(band is not None)
        self.mean_line.setVisible(band is not None or len(self.series) > 1)
        if band is not None:
            mean, low, high = band
            self.band.setRegion((low, high))
            self.mean_line.setPos(mean)
        elif len(self.series) > 1:  # several animals: each one's 100 %
            self.mean_line.setPos(100.0 if unit == UNITS[1] else 0.0)
            self.mean_line.setVisible(unit == UNITS[1])
        order = [x.name for x in fl.FLAGS]
        held = sorted({f for s in self._shown() for r in s.model.results if r.analyte == analyte
                       for f in fl.parse(r.flags)},
                      key=lambda f: order.index(f) if f in fl.BY_NAME else 99)
        self.legend.show_flags(tuple(held))
        self.summary.setText(self._summary(analyte, units))
        self._fit_y()
        settle(self.item)

    def _draw(self, series: Series, pts: list[Point]) -> None:
        """One curve: the line joins the values used; an excluded sample breaks it (drawn,
        not joined); every point in its look."""
        drawn = [p for p in pts if not p.missing and math.isfinite(p.y)]
        line = [(p.x_min, p.y if not p.excluded else math.nan) for p in drawn]
        series.line.setData(np.array([x for x, _ in line]), np.array([y for _, y in line]))
        spots = []
        signal, background = series.pen_color(), theme.current().background
        for p in drawn:
            symbol, _ = p.look()
            if p.excluded:
                pen, brush = pg.mkPen(ALARM, width=1.8), pg.mkBrush(background)
            elif p.flagged:
                pen, brush = pg.mkPen(ALARM, width=1.8), pg.mkBrush(ALARM)
            else:
                pen = pg.mkPen(signal, width=1.8)
                brush = pg.mkBrush(None) if p.low else pg.mkBrush(signal)
            spots.append({"pos": (p.x_min, p.y), "data": p, "size": 11 if p.excluded else 10,
                          "symbol": symbol, "pen": pen, "brush": brush})
        series.scatter.setData(spots)

    def _summary(self, analyte: str, units: str) -> str:
        """The line above the plot: the last value and the reference (each animal's last
        value when several are overlaid)."""
        def last(animal: str) -> Point | None:
            used = [p for p in self.points if p.animal == animal and not p.missing
                    and math.isfinite(p.y) and not p.excluded]
            return used[-1] if used else None

        if len(self.series) > 1:
            lasts = [(s, last(s.animal)) for s in self._shown()]
            return "   ".join(f"{p.name} {p.y:.3g} {units}" for _, p in lasts if p) or \
                "no sample quantified yet"
        p = last("")
        text = reference_text(self.model, analyte)
        return f"last: {p.sample_id} {p.y:.3g} {units}   {text}" if p is not None else text

    def _tip(self, x: float, y: float, data) -> str:
        p: Point = data
        units = axis_label(self.model, self.analyte, self.unit)[1]
        lines = [f"{p.name}  {x:.1f} min" + ("  (baseline sample)" if p.baseline else "")]
        if p.missing:
            lines.append("no value")
        else:
            lines.append(f"{y:.3g} {units}")
        if p.excluded:
            lines.append("left out of % of baseline" + (
                " (drawn at its value against the reference)" if self.unit == UNITS[1] else ""))
        lines += fl.describe(p.flags)
        return "\n".join(lines)
