"""pyqtgraph set-up shared by the plots: the theme's background, labelled axes that make room
for their ticks, wheel zoom on time only, a right-click menu (export, zoom), event markers
and the spans of pauses (one in progress included)."""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable

import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QAction, QBrush, QColor, QFontMetrics, QPen
from PySide6.QtWidgets import QMenu

from raphe.gui.app import theme
from raphe.gui.app.widgets import ALARM, DRUG, FLOW, INJECTION, MARKER, PAUSE_SPAN
from raphe.records import parse_flow

_configured = False

#: Event kinds drawn as markers, and how.
EVENT_STYLE = {
    "drug": (DRUG, Qt.PenStyle.SolidLine, 2),
    "marker": (MARKER, Qt.PenStyle.DashLine, 1),
    "prompt": (MARKER, Qt.PenStyle.DotLine, 1),
    "alarm": (ALARM, Qt.PenStyle.DashLine, 1),
    "perfusion": (ALARM, Qt.PenStyle.DashDotLine, 1),
    "flow": (FLOW, Qt.PenStyle.SolidLine, 1),
}


def configure() -> None:
    """Global pyqtgraph options (once)."""
    global _configured
    if not _configured:
        pg.setConfigOptions(background="w", foreground="k", antialias=True)
        _configured = True


class ViewItem(pg.GraphicsObject):
    """An item that paints over the whole view and repaints when the view moves."""

    def viewRangeChanged(self) -> None:
        self.prepareGeometryChange()
        self.update()

    def boundingRect(self) -> QRectF:
        vb = self.getViewBox()
        return QRectF(vb.viewRect()) if vb is not None else QRectF()


class Grid(ViewItem):
    """Light grid lines at the axes' major ticks, in one cheap item (pyqtgraph's own grid
    extends every tick across the plot inside the axis picture, ~15 ms a paint)."""

    PEN = QPen(QColor(225, 225, 225), 0)

    def __init__(self, plot: pg.PlotItem) -> None:
        super().__init__()
        self.plot = plot
        self.pen = QPen(self.PEN)
        self.setZValue(-100)

    def _ticks(self, axis: str, low: float, high: float, pixels: float) -> list[float]:
        levels = self.plot.getAxis(axis).tickValues(low, high, max(pixels, 1.0))
        return list(levels[0][1]) + (list(levels[1][1]) if len(levels) > 1 else []) \
            if levels else []

    def paint(self, p, *args) -> None:
        vb = self.getViewBox()
        if vb is None:
            return
        rect = vb.viewRect()
        size = vb.size()
        p.setRenderHint(p.RenderHint.Antialiasing, False)
        p.setPen(self.pen)
        for x in self._ticks("bottom", rect.left(), rect.right(), size.width()):
            p.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
        for y in self._ticks("left", rect.top(), rect.bottom(), size.height()):
            p.drawLine(QPointF(rect.left(), y), QPointF(rect.right(), y))


class TimeViewBox(pg.ViewBox):
    """A view whose mouse wheel zooms time (x) only — the curve never leaves the plot for a
    wheel turn; Ctrl+wheel zooms the values (y). A right click opens the plot's menu."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.menu_requested: Callable[[QPointF], None] | None = None

    def wheelEvent(self, ev, axis=None) -> None:
        if axis is None:
            modifiers = ev.modifiers() if hasattr(ev, "modifiers") else Qt.KeyboardModifier(0)
            axis = 1 if modifiers & Qt.KeyboardModifier.ControlModifier else 0
        super().wheelEvent(ev, axis=axis)

    def mouseClickEvent(self, ev) -> None:
        if ev.button() == Qt.MouseButton.RightButton and self.menu_requested is not None:
            ev.accept()
            self.menu_requested(ev.screenPos())
            return
        super().mouseClickEvent(ev)


class PlotWidget(pg.PlotWidget):
    """A plot of the window: the right-click menu's entries are ``menu_actions`` (text,
    callable) — the panel's exports, the zoom — and ``name`` names its exported files."""

    def __init__(self, name: str = "plot") -> None:
        self.view_box = TimeViewBox()
        super().__init__(viewBox=self.view_box)
        self.name = name
        self.menu_actions: list[tuple[str, Callable[[], None]]] = []
        self.view_box.menu_requested = self.show_menu
        self.menu: QMenu | None = None

    def build_menu(self) -> QMenu:
        menu = QMenu(self)
        for text, fn in self.menu_actions:
            if text == "-":
                menu.addSeparator()
                continue
            action = QAction(text, menu)
            action.triggered.connect(lambda _=False, f=fn: f())
            menu.addAction(action)
        return menu

    def show_menu(self, at) -> None:
        self.menu = self.build_menu()
        self.menu.popup(at.toPoint() if hasattr(at, "toPoint") else at)


def plot_widget(x: tuple[str, str], y: tuple[str, str], grid: bool = True,
                name: str = "plot") -> PlotWidget:
    """A plot with labelled axes: ``x``/``y`` are (label, unit)."""
    configure()
    widget = PlotWidget(name)
    item = widget.getPlotItem()
    item.setLabel("bottom", x[0], units=x[1])
    item.setLabel("left", y[0], units=y[1])
    for axis in ("bottom", "left"):
        item.getAxis(axis).enableAutoSIPrefix(False)
    # A fixed width: new tick labels never re-lay the plot out (a second paint each time);
    # it grows when the ticks need more room (AxisFit), never on every range change.
    item.getAxis("left").setWidth(62)
    widget.axis_fit = AxisFit(item)
    if grid:
        widget.grid = Grid(item)
        item.addItem(widget.grid, ignoreBounds=True)
    item.setMenuEnabled(False)
    style(widget)
    theme.notifier().changed.connect(widget_restyler(widget))
    return widget


def widget_restyler(widget: pg.PlotWidget):
    """A slot that restyles ``widget`` and dies with it."""
    def restyle(_theme=None) -> None:
        try:
            style(widget)
        except RuntimeError:  # the widget is gone
            pass
    widget.destroyed.connect(lambda *_: _disconnect(restyle))
    return restyle


def _disconnect(slot) -> None:
    try:
        theme.notifier().changed.disconnect(slot)
    except (RuntimeError, TypeError):
        pass


def style(widget: pg.PlotWidget, t: theme.Theme | None = None) -> None:
    """The plot in theme ``t`` (the current one by default): background, axes, grid."""
    t = t or theme.current()
    widget.setBackground(t.background)
    item = widget.getPlotItem()
    for name in ("bottom", "left"):
        axis = item.getAxis(name)
        axis.setPen(pg.mkPen(t.foreground))
        axis.setTextPen(pg.mkPen(t.foreground))
        axis.labelStyle = {**axis.labelStyle, "color": t.foreground}
        axis._updateLabel()
    grid = getattr(widget, "grid", None)
    if grid is not None:
        grid.pen = QPen(QColor(*t.grid), 0)
        grid.update()


class AxisFit:
    """Widens the left axis when its tick labels need more room than it has (the label is
    never overlapped), narrows it again when they need much less; a relayout only then."""

    PAD = 30  # the axis label's line and the gap to the ticks

    def __init__(self, item: pg.PlotItem) -> None:
        self.item = item
        self.axis = item.getAxis("left")
        self.min_width = 62
        item.getViewBox().sigYRangeChanged.connect(self.fit)

    def needed(self) -> int:
        axis = self.axis
        low, high = self.item.getViewBox().viewRange()[1]
        size = max(1.0, self.item.getViewBox().height())
        if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
            return self.min_width
        levels = axis.tickValues(low, high, size)
        metrics = QFontMetrics(axis.style.get("tickFont") or axis.font())
        widest = 0
        for spacing, values in levels[:2]:
            for text in axis.tickStrings(values, axis.scale, spacing):
                widest = max(widest, metrics.horizontalAdvance(text))
        return max(self.min_width, widest + self.PAD)

    def fit(self, *_) -> None:
        need = self.needed()
        width = self.axis.width()
        if need > width or need < width - 24:
            self.axis.setWidth(need)


def settle(plot: pg.PlotItem) -> None:
    """Resolve the auto range and the view transform now, after new data, so the next paint
    does not change them again (which would cost a second paint of every item)."""
    view = plot.getViewBox()
    view.updateAutoRange()
    view.updateMatrix()


def wanted(event) -> bool:
    """Events worth a marker on a time axis."""
    if event.kind == "perfusion":
        return not event.text.startswith("started")
    if event.kind == "alarm":  # not a recovery, nor an operator's acknowledgement
        return "reconnected" not in event.text and not event.text.startswith("acknowledged")
    if event.kind == "flow":  # a change of the flow; the first start is not one
        rates = parse_flow(event.text)
        return rates is not None and rates[0] > 0 and rates[0] != rates[1]
    return event.kind in EVENT_STYLE


def label_of(event) -> str:
    """The short text drawn beside an event's line."""
    if event.kind == "flow":
        rates = parse_flow(event.text)
        if rates is not None:
            return f"{rates[0]:g}→{rates[1]:g} µL/min"
    return event.text if len(event.text) < 40 else event.text[:38] + "…"


class VerticalLines(ViewItem):
    """Any number of vertical lines, shaded spans and short labels as ONE plot item.

    It paints only what is in view, so hundreds of injection markers over a day cost one
    paint per frame (an ``InfiniteLine`` each would cost a transform update per frame).
    Add it with ``ignoreBounds=True``: it never widens the auto range. x is in data units.
    """

    def __init__(self) -> None:
        super().__init__()
        self.clear()

    def clear(self) -> None:
        self._x: list[float] = []
        self._style: list[tuple] = []  # (pen, label, colour, at_top)
        self._spans: list[tuple[float, float, QBrush]] = []
        self.open_span: tuple[float, float, QBrush] | None = None  # a span still growing
        self.update()

    def set_open_span(self, x0: float | None, x1: float = 0.0, brush: QBrush | None = None
                      ) -> None:
        """A span in progress from ``x0`` to ``x1`` (None: none)."""
        self.open_span = None if x0 is None else (float(x0), float(max(x0, x1)),
                                                   brush or pg.mkBrush(*PAUSE_SPAN))
        self.update()

    def add_line(self, x: float, pen, label: str = "", color: str = "#000",
                 top: bool = True) -> None:
        i = bisect.bisect_right(self._x, x)
        self._x.insert(i, float(x))
        self._style.insert(i, (pen, label, QColor(color), top))
        self.update()

    def add_span(self, x0: float, x1: float, brush: QBrush) -> None:
        self._spans.append((float(x0), float(x1), brush))
        self.update()

    def __len__(self) -> int:
        return len(self._x)

    def paint(self, p, *args) -> None:
        vb = self.getViewBox()
        if vb is None:
            return
        rect = vb.viewRect()
        left, right, low, high = rect.left(), rect.right(), rect.top(), rect.bottom()
        p.setPen(Qt.PenStyle.NoPen)
        spans = self._spans if self.open_span is None else [*self._spans, self.open_span]
        for x0, x1, brush in spans:
            if x1 >= left and x0 <= right:
                p.fillRect(QRectF(QPointF(x0, low), QPointF(x1, high)), brush)
        i0 = bisect.bisect_left(self._x, left)
        i1 = bisect.bisect_right(self._x, right)
        for x, (pen, _, _, _) in zip(self._x[i0:i1], self._style[i0:i1]):
            p.setPen(pen)
            p.drawLine(QPointF(x, low), QPointF(x, high))
        labelled = [(x, st) for x, st in zip(self._x[i0:i1], self._style[i0:i1]) if st[1]]
        if not labelled:
            return
        transform = p.transform()
        p.resetTransform()
        metrics = p.fontMetrics()
        edge = transform.map(QPointF(right, high)).x()
        free = {True: -1e9, False: -1e9}  # the first free pixel of each row (top, bottom)
        for x, (_, label, color, top) in labelled:
            at = transform.map(QPointF(x, high if top else low))
            width = metrics.horizontalAdvance(label)
            start = at.x() + 3
            if start + width > edge:  # no room on the right of the line: on its left
                start = at.x() - 3 - width
            if start < free[top]:
                continue  # it would overlap the label before: the line alone says enough
            y = at.y() + metrics.ascent() + 2 if top else at.y() - metrics.descent() - 2
            p.setPen(color)
            p.drawText(QPointF(start, y), label)
            free[top] = start + width + 6
        p.setTransform(transform)


class PointLabels(ViewItem):
    """Short texts centred just above data points, as ONE item drawn in pixels (a
    ``TextItem`` each would re-transform itself during the paint and cost a second one)."""

    def __init__(self) -> None:
        super().__init__()
        self.labels: list[tuple[float, float, str, QColor]] = []

    def set_labels(self, labels: list[tuple[float, float, str, str]]) -> None:
        self.labels = [(x, y, text, QColor(color)) for x, y, text, color in labels]
        self.update()

    def paint(self, p, *args) -> None:
        if not self.labels:
            return
        transform = p.transform()
        p.resetTransform()
        metrics = p.fontMetrics()
        for x, y, text, color in self.labels:
            at = transform.map(QPointF(x, y))
            p.setPen(color)
            p.drawText(QPointF(at.x() - metrics.horizontalAdvance(text) / 2,
                               at.y() - metrics.descent() - 3), text)
        p.setTransform(transform)


class Markers:
    """Drugs, markers, prompts, alarms, flow changes (and injections, gaps, pauses) on a
    plot whose x axis is minutes, in one :class:`VerticalLines` item; added incrementally,
    cleared on reset. ``lines`` lists what is drawn: (minutes, kind, text)."""

    def __init__(self, plot: pg.PlotItem, injections: bool = False, labels: bool = True) -> None:
        self.plot = plot
        self.injections = injections
        self.labels = labels
        #: several animals: animal → colour; an injection (``A2 P1``) and an event said of an
        #: animal (``A2: …``) are drawn in its colour
        self.animal_colors: dict[str, str] = {}
        self.item = VerticalLines()
        self.item.setZValue(-5)
        plot.addItem(self.item, ignoreBounds=True)
        self.lines: list[tuple[float, str, str]] = []
        #: session time (s) a pause in progress began (None: the schedule runs)
        self.paused_since: float | None = None
        self._pause_starts: list[float] = []
        self._events = 0
        self._injections = 0

    def _animal_color(self, text: str, sep: str) -> str | None:
        """The colour of the animal ``text`` begins with (``A2`` then ``sep``), if any."""
        head, found, _ = text.partition(sep)
        return self.animal_colors.get(head) if found else None

    def clear(self) -> None:
        self.item.clear()
        self.lines.clear()
        self.paused_since = None
        self._pause_starts = []
        self._events = self._injections = 0

    def extend(self, model) -> None:
        """A pause in progress grows to the session's 'now'."""
        if self.paused_since is None:
            if self.item.open_span is not None:
                self.item.set_open_span(None)
            return
        now = model.now if model.limit is None else model.limit
        self.item.set_open_span(self.paused_since / 60, max(now, self.paused_since) / 60)

    def _state(self, event) -> None:
        """The engine's state events open and close the span of a pause in progress (its
        ``pause`` event, with both ends, comes when it is over)."""
        if event.text.startswith("paused"):
            if self.paused_since is None and not any(abs(event.t - t0) < 5.0
                                                     for t0 in self._pause_starts):
                self.paused_since = event.t
        elif event.text.startswith(("running", "stopping", "done", "failed")):
            self.paused_since = None

    def update(self, model) -> None:
        for event in model.events[self._events:]:
            if event.kind == "state":
                self._state(event)
            elif event.kind == "gap":
                self.item.add_span(event.t / 60, event.t_end / 60, pg.mkBrush(211, 84, 0, 50))
                self.lines.append((event.t / 60, "gap", event.text))
            elif event.kind == "pause" and event.t_end == event.t_end:
                self.item.add_span(event.t / 60, event.t_end / 60, pg.mkBrush(*PAUSE_SPAN))
                self.lines.append((event.t / 60, "pause", event.text))
                self._pause_starts.append(event.t)
                if self.paused_since is not None and abs(event.t - self.paused_since) < 5.0:
                    self.paused_since = None  # the span is drawn whole now
            elif wanted(event):
                color, style, width = EVENT_STYLE[event.kind]
                color = self._animal_color(event.text, ": ") or color
                label = label_of(event)
                show = self.labels and event.kind in ("drug", "marker", "flow")
                self.item.add_line(event.t / 60, pg.mkPen(color, width=width, style=style),
                                   label if show else "", color)
                self.lines.append((event.t / 60, event.kind, event.text))
        self._events = len(model.events)
        if self.injections:
            for inj in model.injections[self._injections:]:
                color = self._animal_color(inj.sample_id, " ") or INJECTION
                self.item.add_line(inj.t / 60, pg.mkPen(color, width=1),
                                   inj.sample_id if self.labels else "", color, top=False)
                self.lines.append((inj.t / 60, "injection", inj.sample_id))
        self._injections = len(model.injections)
        self.extend(model)
