"""pyqtgraph set-up shared by the plots: white background, labelled axes, event markers."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt

from raphe.gui.app.widgets import ALARM, DRUG, INJECTION, MARKER

_configured = False

#: Event kinds drawn as markers, and how.
EVENT_STYLE = {
    "drug": (DRUG, Qt.PenStyle.SolidLine, 2),
    "marker": (MARKER, Qt.PenStyle.DashLine, 1),
    "prompt": (MARKER, Qt.PenStyle.DotLine, 1),
    "alarm": (ALARM, Qt.PenStyle.DashLine, 1),
    "perfusion": (ALARM, Qt.PenStyle.DashDotLine, 1),
}


def configure() -> None:
    """Global pyqtgraph options (once)."""
    global _configured
    if not _configured:
        pg.setConfigOptions(background="w", foreground="k", antialias=True)
        _configured = True


def plot_widget(x: tuple[str, str], y: tuple[str, str]) -> pg.PlotWidget:
    """A plot with labelled axes: ``x``/``y`` are (label, unit)."""
    configure()
    widget = pg.PlotWidget()
    item = widget.getPlotItem()
    item.setLabel("bottom", x[0], units=x[1])
    item.setLabel("left", y[0], units=y[1])
    for axis in ("bottom", "left"):
        item.getAxis(axis).enableAutoSIPrefix(False)
    item.showGrid(x=True, y=True, alpha=0.15)
    item.setMenuEnabled(False)
    return widget


def wanted(event, with_steps: bool = False) -> bool:
    """Events worth a marker on a time axis."""
    if event.kind == "perfusion":
        return not event.text.startswith("started")
    if event.kind == "alarm":
        return "reconnected" not in event.text
    return event.kind in EVENT_STYLE


class Markers:
    """Vertical lines for drugs, markers, prompts and alarms (and injections, gaps) on a plot
    whose x axis is minutes; added incrementally, cleared on reset."""

    def __init__(self, plot: pg.PlotItem, injections: bool = False, labels: bool = True) -> None:
        self.plot = plot
        self.injections = injections
        self.labels = labels
        self.items: list = []
        self._events = 0
        self._injections = 0

    def clear(self) -> None:
        for item in self.items:
            self.plot.removeItem(item)
        self.items.clear()
        self._events = self._injections = 0

    def update(self, model) -> None:
        for event in model.events[self._events:]:
            if event.kind == "gap":
                self._gap(event)
            elif wanted(event):
                self._line(event.t, event.kind, event.text)
        self._events = len(model.events)
        if self.injections:
            for inj in model.injections[self._injections:]:
                line = pg.InfiniteLine(inj.t / 60, angle=90, movable=False,
                                       pen=pg.mkPen(INJECTION, width=1))
                if self.labels:
                    pg.InfLineLabel(line, inj.sample_id, position=0.04, color=INJECTION,
                                    anchors=[(0, 1), (0, 1)])
                line.setZValue(-5)
                self._add(line)
        self._injections = len(model.injections)

    def _line(self, t: float, kind: str, text: str) -> None:
        color, style, width = EVENT_STYLE[kind]
        line = pg.InfiniteLine(t / 60, angle=90, movable=False,
                               pen=pg.mkPen(color, width=width, style=style))
        if self.labels and kind in ("drug", "marker"):
            pg.InfLineLabel(line, text if len(text) < 40 else text[:38] + "…", position=0.93,
                            color=color, anchors=[(0, 0), (0, 0)])
        line.setToolTip(f"{kind}: {text}")
        self._add(line)

    def _gap(self, event) -> None:
        region = pg.LinearRegionItem((event.t / 60, event.t_end / 60), movable=False,
                                     brush=pg.mkBrush(211, 84, 0, 50),
                                     pen=pg.mkPen(None))
        region.setToolTip(event.text)
        self._add(region)

    def _add(self, item) -> None:
        self.plot.addItem(item)
        self.items.append(item)
