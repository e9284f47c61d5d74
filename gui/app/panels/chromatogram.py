"""Chromatogram: the latest run with its integration, earlier runs overlaid on demand.

Drawn from a :class:`~raphe.gui.app.chromatograms.ChromatogramView`: the
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
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from raphe.gui.app.plots import plot_widget
from raphe.gui.app.widgets import DRUG, SIGNAL, NoWheelComboBox, number

LATEST = "latest"
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
        self.title = QLabel("")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.plot = plot_widget(("time from injection", "min"), ("ECD signal", "nA"))
        self.item = self.plot.getPlotItem()
        self.items: list = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        bar = QHBoxLayout()
        if controls:
            bar.addWidget(QLabel("sample"))
            bar.addWidget(self.sample_box)
            bar.addWidget(self.overlay_box)
        bar.addStretch(1)
        bar.addWidget(self.title)
        layout.addLayout(bar)
        layout.addWidget(self.plot)
        self.shown = None  # the ChromatogramView drawn
        self.sample_box.currentIndexChanged.connect(lambda _: self.redraw())
        self.overlay_box.toggled.connect(lambda _: self.redraw())
        model.changed.connect(self._on_model)
        self._on_model(frozenset({"reset"}))  # what the model holds already

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
        if kinds & {"reset", "chromatograms"}:
            self._fill_samples()
            self.redraw()

    # -- drawing ---------------------------------------------------------------------------

    def _add(self, item) -> None:
        self.item.addItem(item)
        self.items.append(item)

    def redraw(self) -> None:
        for item in self.items:
            self.item.removeItem(item)
        self.items.clear()
        view = self.current()
        self.shown = view
        if view is None:
            self.title.setText("")
            return
        if self.overlay_box.isChecked():
            self._overlay(view)
        self._windows(view)
        curve = pg.PlotDataItem(view.t / 60.0, view.values, pen=pg.mkPen(SIGNAL, width=1.2),
                                connect="finite")
        self._add(curve)
        for peak in view.result.peaks:
            self._peak(view, peak)
        self.title.setText(self._title(view))

    def _overlay(self, view) -> None:
        earlier = [v for v in self.views() if v.inject_t < view.inject_t
                   and v.injection.kind == "sample"]
        for i, v in enumerate(earlier):
            shade = int(150 + 80 * i / max(1, len(earlier)))
            curve = pg.PlotDataItem(v.t / 60.0, v.values, pen=pg.mkPen((shade, shade, shade)),
                                    connect="finite", antialias=False)
            curve.setZValue(-10)
            self._add(curve)
            curve.setDownsampling(auto=True, method="peak")
            curve.setClipToView(True)

    def _windows(self, view) -> None:
        method = self.model.method
        finite = view.values[np.isfinite(view.values)]
        if not len(finite):
            return
        bottom = float(finite.min())
        for spec in getattr(method, "analytes", ()) or ():
            rt = spec.rt_s + view.shifts.get(spec.name, 0.0)
            region = pg.LinearRegionItem(((rt - spec.window_s) / 60, (rt + spec.window_s) / 60),
                                         movable=False, brush=pg.mkBrush(*WINDOW_FILL),
                                         pen=pg.mkPen(None))
            region.setZValue(-15)
            region.setToolTip(f"{spec.name}: RT window {rt:.0f} ± {spec.window_s:.0f} s")
            self._add(region)
            label = pg.TextItem(spec.name, color="#2c7fb8", anchor=(0.5, 1.0))
            label.setPos(rt / 60, bottom)
            label.setZValue(-14)
            self._add(label)

    def _peak(self, view, peak) -> None:
        (tb0, yb0), (tb1, yb1) = peak.baseline_start, peak.baseline_end
        mask = (view.t >= peak.start_s) & (view.t <= peak.end_s)
        t = view.t[mask].astype(np.float64)
        if len(t) < 2 or not (math.isfinite(tb0) and math.isfinite(tb1)) or tb1 == tb0:
            return
        base = yb0 + (t - tb0) * (yb1 - yb0) / (tb1 - tb0)
        top = pg.PlotDataItem(t / 60, view.values[mask], pen=pg.mkPen(None))
        bottom = pg.PlotDataItem(t / 60, base, pen=pg.mkPen(BASELINE, width=1.2,
                                                               style=Qt.PenStyle.DashLine))
        self._add(top)
        self._add(bottom)
        fill = pg.FillBetweenItem(top, bottom, brush=pg.mkBrush(*PEAK_FILL))
        self._add(fill)
        if peak.name:
            apex = float(np.nanmax(view.values[mask])) if mask.any() else peak.height
            label = pg.TextItem(peak.name, color=DRUG if peak.name == "5-HT" else "#333",
                                anchor=(0.5, 1.1))
            label.setPos(peak.rt_s / 60, apex)
            self._add(label)

    def _title(self, view) -> str:
        inj = view.injection
        text = f"{inj.sample_id} · injected at {inj.t / 60:.1f} min"
        a = view.result.analytes.get("5-HT")
        if a is not None and a.peak is not None:
            text += (f" · 5-HT RT {a.peak.rt_s / 60:.2f} min, area {number(a.peak.area)} nA·s, "
                     f"S/N {number(a.peak.sn, digits=2)}, {number(a.conc_nM, 'nM')}")
            if a.flags:
                text += f" [{', '.join(a.flags)}]"
        elif a is not None:
            text += " · 5-HT not found"
        return text
