"""Chromatogram: the latest run with its integration, earlier runs overlaid on demand.

Drawn from a :class:`~raphe.acquisition.analysis.quantifier.ClosedRun`: the
signal against time from injection; each analyte's retention-time window (the
method's RT plus the shift learnt from standards, ± its window) as a shaded
band named at the top; each integrated peak's straight baseline from its start
to its end, the area between signal and baseline shaded, and the analyte's
name at the apex.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import (
    QCheckBox,
    QGraphicsPathItem,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from raphe.gui.app import theme
from raphe.gui.app.plots import PointLabels, VerticalLines, plot_widget, settle
from raphe.gui.app.widgets import DRUG, ElidedLabel, NoWheelComboBox, Throttle, number

LATEST = "latest"
#: New chromatograms redraw the panel at most this often (ms).
REDRAW_MS = 250
PEAK_FILL = (31, 59, 115, 70)
WINDOW_FILL = (44, 127, 184, 22)
BASELINE = "#c0392b"


class ChromatogramPanel(QWidget):
    """See the module docstring."""

    def __init__(self, model, parent: QWidget | None = None, controls: bool = True) -> None:
        super().__init__(parent)
        self.model = model
        self.sample_box = NoWheelComboBox()
        self.sample_box.addItem(LATEST)
        self.overlay_box = QCheckBox("overlay earlier")
        self.overlay_box.setToolTip("Draw every earlier sample's chromatogram behind this one")
        #: the sample and its 5-HT result, the numbers first (cut with "…" when the panel is
        #: narrow; whole on hover)
        self.title = ElidedLabel("", min_width=60)
        self.plot = plot_widget(("time from injection", "min"), ("ECD signal", "nA"),
                                name="chromatogram")
        self.plot.menu_actions = [("Export figure (PNG, SVG, PDF)…", self.export_figure),
                                  ("-", None), ("Auto range", self.auto_range)]
        self.item = self.plot.getPlotItem()
        self._build_items()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.setSpacing(2)
        if controls:
            bar = QHBoxLayout()
            bar.addWidget(QLabel("sample"))
            bar.addWidget(self.sample_box)
            bar.addWidget(self.overlay_box)
            bar.addStretch(1)
            layout.addLayout(bar)
        layout.addWidget(self.title)
        layout.addWidget(self.plot)
        self.shown = None  # the ClosedRun drawn
        self._redraw_soon = Throttle(self.redraw, REDRAW_MS, self)
        self.sample_box.currentIndexChanged.connect(lambda _: self.redraw())
        self.overlay_box.toggled.connect(lambda _: self.redraw())
        model.changed.connect(self._on_model)
        theme.notifier().changed.connect(self._restyle)
        self._on_model(frozenset({"reset"}))  # what the model holds already

    def _restyle(self, t) -> None:
        self.curve.setPen(pg.mkPen(t.signal, width=1))
        self.redraw()

    def auto_range(self) -> None:
        self.item.getViewBox().enableAutoRange()
        self.redraw()

    def export_figure(self):
        from raphe.gui.app.export import ask_plot

        return ask_plot(self, self.plot, self.model)

    # -- choosing --------------------------------------------------------------------------

    def views(self) -> list:
        return list(self.model.chromatograms)

    def _fill_samples(self) -> None:
        ids = [LATEST] + [v.sample_id for v in self.views()]
        have = [self.sample_box.itemText(i) for i in range(self.sample_box.count())]
        if ids == have:
            return
        keep = self.sample_box.currentText()
        self.sample_box.blockSignals(True)
        self.sample_box.clear()
        self.sample_box.addItems(ids)
        self.sample_box.setCurrentText(keep if keep in ids else LATEST)
        self.sample_box.blockSignals(False)

    def select(self, sample_id: str) -> None:
        self.sample_box.setCurrentText(sample_id)

    def current(self):
        views = self.views()
        if not views:
            return None
        choice = self.sample_box.currentText()
        if choice and choice != LATEST:
            for v in views:
                if v.sample_id == choice:
                    return v
        return views[-1]

    def _on_model(self, kinds) -> None:
        if "reset" in kinds:
            self._fill_samples()
            self.redraw()
        elif "chromatograms" in kinds:
            self._fill_samples()
            self._redraw_soon() if self.model.live else self.redraw()

    # -- drawing ---------------------------------------------------------------------------
    # The items are made once and their data replaced on each redraw: a new chromatogram
    # every few seconds (at high simulated speed) costs a few milliseconds, not new items.

    def _build_items(self) -> None:
        item = self.item
        self.windows = VerticalLines()
        self.windows.setZValue(-15)
        item.addItem(self.windows, ignoreBounds=True)
        self.overlays: list[pg.PlotDataItem] = []
        self.curve = pg.PlotDataItem(pen=pg.mkPen(theme.current().signal, width=1),
                                     connect="finite")
        item.addItem(self.curve)
        self.curve.setDownsampling(auto=True, method="peak")  # ~2 points a pixel, peaks kept
        self.curve.setClipToView(True)
        self.fill = QGraphicsPathItem()
        self.fill.setPen(QPen(Qt.PenStyle.NoPen))
        self.fill.setBrush(pg.mkBrush(*PEAK_FILL))
        self.fill.setZValue(-1)
        item.addItem(self.fill, ignoreBounds=True)
        self.baselines = pg.PlotDataItem(pen=pg.mkPen(BASELINE, width=1,
                                                      style=Qt.PenStyle.DashLine),
                                         connect="pairs")
        item.addItem(self.baselines, ignoreBounds=True)
        self.names = PointLabels()
        item.addItem(self.names, ignoreBounds=True)

    def redraw(self) -> None:
        view = self.current()
        self.shown = view
        self.windows.clear()
        for curve in self.overlays:
            self.item.removeItem(curve)
        self.overlays.clear()
        if view is None:  # nothing yet: empty axes over one run, not the last session's
            self.curve.setData([], [])
            self.fill.setPath(QPainterPath())
            self.baselines.setData([], [])
            self.names.set_labels([])
            self.title.setText("no chromatogram yet")
            run = self.model.run_length_s or 900.0
            self.item.setXRange(0.0, run / 60.0, padding=0.02)
            self.item.setYRange(0.0, 1.0, padding=0.02)
            self.item.getViewBox().enableAutoRange(axis=pg.ViewBox.YAxis)
            return
        if self.overlay_box.isChecked():
            self._overlay(view)
        self._windows(view)
        self.curve.setData(view.t / 60.0, view.values)
        run = self.model.run_length_s or (float(view.t[-1]) if len(view.t) else 60.0)
        self.item.setXRange(0.0, run / 60.0, padding=0.02)  # the run, whatever was drawn
        self._peaks(view)
        self.title.setText(self._title(view))
        settle(self.item)

    def _overlay(self, view) -> None:
        earlier = [v for v in self.views() if v.inject_t < view.inject_t
                   and v.injection.kind == "sample"]
        for i, v in enumerate(earlier):
            shade = int(150 + 80 * i / max(1, len(earlier)))
            curve = pg.PlotDataItem(v.t / 60.0, v.values, pen=pg.mkPen((shade, shade, shade)),
                                    connect="finite", antialias=False)
            curve.setZValue(-10)
            self.item.addItem(curve)
            curve.setDownsampling(auto=True, method="peak")
            curve.setClipToView(True)
            self.overlays.append(curve)

    def _windows(self, view) -> None:
        """Each analyte's RT window, where it was looked for (method RT + learnt shift, moved
        with its reference peak) ± window, named at the bottom."""
        for spec in getattr(self.model.method, "analytes", ()) or ():
            a = view.result.analytes.get(spec.name)
            rt = a.expected_rt_s if a is not None and math.isfinite(a.expected_rt_s) \
                else spec.rt_s + view.shifts.get(spec.name, 0.0)
            self.windows.add_span((rt - spec.window_s) / 60, (rt + spec.window_s) / 60,
                                  pg.mkBrush(*WINDOW_FILL))
            self.windows.add_line((rt - spec.window_s) / 60, pg.mkPen(None), spec.name,
                                  "#2c7fb8", top=False)

    def _peaks(self, view) -> None:
        """Every integrated peak: the area between signal and baseline shaded, the straight
        baseline dashed, the analyte's name at the apex."""
        path = QPainterPath()
        bx, by = [], []
        names = []
        for peak in view.result.peaks:
            (tb0, yb0), (tb1, yb1) = peak.baseline_start, peak.baseline_end
            mask = (view.t >= peak.start_s) & (view.t <= peak.end_s)
            t = view.t[mask].astype(np.float64)
            y = view.values[mask].astype(np.float64)
            if len(t) < 2 or not (math.isfinite(tb0) and math.isfinite(tb1)) or tb1 == tb0:
                continue
            base = yb0 + (t - tb0) * (yb1 - yb0) / (tb1 - tb0)
            ok = np.isfinite(y)
            if ok.sum() >= 2:
                polygon = QPolygonF([QPointF(a / 60, b) for a, b in zip(t[ok], y[ok])]
                                    + [QPointF(a / 60, b) for a, b in
                                       zip(t[ok][::-1], base[ok][::-1])])
                path.addPolygon(polygon)
                path.closeSubpath()
            bx += [tb0 / 60, tb1 / 60]
            by += [yb0, yb1]
            if peak.name:
                apex = float(np.nanmax(y)) if ok.any() else peak.height
                names.append((peak.rt_s / 60, apex, peak.name,
                               DRUG if peak.name == "5-HT" else theme.current().text))
        self.fill.setPath(path)
        self.baselines.setData(bx, by)
        self.names.set_labels(names)

    def _title(self, view) -> str:
        """The sample and its 5-HT result, the numbers a reader wants first."""
        inj = view.injection
        text = inj.sample_id
        a = view.result.analytes.get("5-HT")
        if a is not None and a.peak is not None:
            text += (f" · 5-HT {number(a.conc_nM, 'nM')}"
                     + (f" [{', '.join(a.flags)}]" if a.flags else "")
                     + f" · RT {a.peak.rt_s / 60:.2f} min, area {number(a.peak.area)} nA·s, "
                     f"S/N {number(a.peak.sn, digits=2)}")
        elif a is not None:
            text += " · 5-HT not found"
        return text + f" · injected at {inj.t / 60:.1f} min"
