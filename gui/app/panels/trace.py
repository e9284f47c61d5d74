"""Live trace: the ECD signal against session time, scrolling, with injection, drug and event
markers; zoom and pan through hours of data stay smooth.

The curve is redrawn from the history's min/max envelope for exactly the
visible range at about one bin per pixel (the store's display pyramid in a
replay, the in-memory one live), so a frame costs the same for ten minutes or
a day of signal.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from raphe.gui.app import theme
from raphe.gui.app.plots import Markers, plot_widget, settle
from raphe.gui.app.widgets import NoWheelComboBox, Throttle, fixed_width

#: The view follows new samples at most this often (ms): smooth, and cheap at any speed.
FOLLOW_MS = 100
#: Width of the followed window, minutes.
WINDOWS = (("10 min", 10.0), ("30 min", 30.0), ("1 h", 60.0), ("3 h", 180.0), ("all", 0.0))


def reading(model) -> str:
    """The detector's latest reading, or why there is none (never a stale value)."""
    if "detector" in model.lost:
        return "detector: no reading (link lost)"
    if getattr(model.history, "n", 1) == 0:
        return ""  # nothing acquired yet
    value = getattr(model.history, "last_value", math.nan)
    latest = getattr(model.history, "latest_value", value)
    if value is None or not math.isfinite(value) or not math.isfinite(latest):
        return "no reading"
    return f"{value:.3f} nA"


class TracePanel(QWidget):
    """See the module docstring."""

    def __init__(self, model, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.plot = plot_widget(("session time", "min"), ("ECD signal", "nA"), name="trace")
        self.plot.menu_actions = [("Export figure (PNG, SVG, PDF)…", self.export_figure),
                                  ("-", None), ("Follow the latest signal (F)",
                                                lambda: self.set_follow(True)),
                                  ("Show the whole session (Ctrl+0)", self.show_all)]
        self.item = self.plot.getPlotItem()
        self.view = self.item.getViewBox()
        self.curve = pg.PlotDataItem(pen=pg.mkPen(theme.current().signal, width=1),
                                     connect="finite", antialias=False)
        self.item.addItem(self.curve)
        self.cursor = pg.InfiniteLine(0, angle=90, movable=False,
                                      pen=pg.mkPen("#444", width=1, style=Qt.PenStyle.DashLine))
        self.cursor.setVisible(False)
        self.item.addItem(self.cursor)
        self.markers = Markers(self.item, injections=True)
        self.view.setAutoVisible(y=True)
        self.view.enableAutoRange(axis=pg.ViewBox.YAxis)
        self.follow_button = QPushButton("Follow")
        self.follow_button.setCheckable(True)
        self.follow_button.setChecked(True)
        self.follow_button.setToolTip("Keep the latest signal in view (F)")
        self.follow_button.toggled.connect(self.set_follow)
        self.window_box = NoWheelComboBox()
        for text, _ in WINDOWS:
            self.window_box.addItem(text)
        self.window_box.setCurrentIndex(1)
        self.window_box.currentIndexChanged.connect(lambda _: self.set_follow(True))
        self.reading = QLabel("")
        self.reading.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        fixed_width(self.reading)
        bar = QHBoxLayout()
        bar.addWidget(self.follow_button)
        bar.addWidget(QLabel("window"))
        bar.addWidget(self.window_box)
        bar.addWidget(self.reading, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addWidget(self.plot)
        self.follow = True
        self._dirty = False
        # New samples arrive with every bridge tick; the view follows them at most this often.
        self._catch_up_soon = Throttle(self._catch_up, FOLLOW_MS, self)
        self.redraws = 0
        self.view.sigXRangeChanged.connect(self.redraw)  # in the same frame: no lag on a drag
        self.view.sigResized.connect(self._schedule)
        self.view.sigRangeChangedManually.connect(self._manual)
        model.changed.connect(self._on_model)
        theme.notifier().changed.connect(
            lambda t: self.curve.setPen(pg.mkPen(t.signal, width=1)))
        self._on_model(frozenset({"reset"}))  # what the model holds already

    def set_animals(self, colors: dict[str, str] | None) -> None:
        """Several animals (animal → colour): each injection and each event of an animal in
        its colour; None: in their usual colours. Drawn again."""
        self.markers.animal_colors = dict(colors or {})
        self.markers.clear()
        self.markers.update(self.model)

    def export_figure(self):
        from raphe.gui.app.export import ask_plot

        return ask_plot(self, self.plot, self.model)

    # -- following -------------------------------------------------------------------------

    @property
    def window_s(self) -> float:
        return WINDOWS[self.window_box.currentIndex()][1] * 60.0

    def set_follow(self, on: bool) -> None:
        self.follow = bool(on)
        if self.follow_button.isChecked() != self.follow:
            self.follow_button.setChecked(self.follow)
        if self.follow:
            self.view.enableAutoRange(axis=pg.ViewBox.YAxis)
            self._follow_now()

    def _manual(self, *_) -> None:
        if self.follow:
            self.set_follow(False)

    def _edge(self) -> float:
        m = self.model
        edge = m.now if m.limit is None else m.limit
        if m.history is not None:
            _t0, t1 = m.history.t_range
            if m.limit is None:
                edge = max(edge, t1)
        return edge

    def _follow_now(self) -> None:
        """The followed window ending at the latest sample (from the start while shorter)."""
        history = self.model.history
        if history is None:
            return
        start, end = history.t_range[0], self._edge()
        if self.window_s:
            left = max(start, end - self.window_s)
            right = left + self.window_s
        else:
            left, right = start, max(end, start + 60.0)
        before = self.redraws
        self.view.setXRange(left / 60, right / 60, padding=0.0)
        if self.redraws == before:  # the same range: new samples inside it
            self._schedule()

    def show_all(self) -> None:
        """Zoom out to the whole session."""
        self.set_follow(False)
        history = self.model.history
        if history is not None:
            t0, t1 = history.t_range
            end = t1 if self.model.limit is None else self.model.limit
            self.view.setXRange(t0 / 60, max(end, t0 + 60) / 60, padding=0.02)
            self.view.enableAutoRange(axis=pg.ViewBox.YAxis)

    # -- model -----------------------------------------------------------------------------

    def _on_model(self, kinds) -> None:
        if "reset" in kinds:
            self.markers.clear()
            self.curve.setData([], [])
            self.cursor.setVisible(False)
            self.reading.setText("")
            self.view.enableAutoRange(axis=pg.ViewBox.YAxis)
            if self.model.history is None or self.model.history.t_range[1] <= 0:
                self.view.setXRange(0.0, max(self.window_s, 600.0) / 60, padding=0.0)
        if kinds & {"reset", "events", "injections"}:
            self.markers.update(self.model)
        if "events" in kinds and self.model.live:  # a link lost or back
            self.reading.setText(reading(self.model))
        if self.model.limit is not None:
            self.cursor.setPos(self.model.limit / 60)
            self.cursor.setVisible(True)
        if kinds & {"reset", "now"}:
            self._catch_up()
        elif "blocks" in kinds:
            self._catch_up_soon()

    def _catch_up(self) -> None:
        """Show what arrived: follow the edge, or redraw the range in view."""
        if self.follow:
            self._follow_now()
        else:
            self._schedule()
        if self.markers.paused_since is not None:
            self.markers.extend(self.model)  # a pause in progress grows
        if self.model.live:
            self.reading.setText(reading(self.model))

    def _schedule(self, *_) -> None:
        if not self._dirty:
            self._dirty = True
            QTimer.singleShot(0, self, self.redraw)  # dropped if the panel is gone

    def redraw(self, *_) -> None:
        """Draw the visible range from the history at about one bin per pixel."""
        self._dirty = False
        history = self.model.history
        if history is None:
            return
        (x0, x1), _ = self.view.viewRange()
        t0, t1 = x0 * 60, x1 * 60
        if self.model.limit is not None:
            t1 = min(t1, self.model.limit)
        n = max(200, int(self.view.width()) or 1000)
        t, mins, maxs = history.display(t0, t1, n)
        if len(t) == 0:
            self.curve.setData([], [])
        else:
            x = np.repeat(np.asarray(t) / 60.0, 2)
            y = np.column_stack((mins, maxs)).ravel()
            self.curve.setData(x, y)
        settle(self.item)
        self.redraws += 1
