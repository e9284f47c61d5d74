"""Small widgets and formats shared by the panels."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QLabel, QSizePolicy

#: Colours, one meaning each (also used by the plots).
DRUG = "#c0392b"
MARKER = "#2c7fb8"
INJECTION = "#8c8c8c"
ALARM = "#d35400"
SIGNAL = "#1f3b73"
OK = "#1e8449"
FLOW = "#7d3c98"
PAUSE_SPAN = (44, 127, 184, 35)
BASELINE_BAND = (120, 120, 120, 45)


class _NoWheel:
    """Hardware settings never change when the mouse wheel scrolls over them."""

    def wheelEvent(self, event) -> None:
        event.ignore()


class NoWheelSpinBox(_NoWheel, QDoubleSpinBox):
    pass


class NoWheelComboBox(_NoWheel, QComboBox):
    pass


class Throttle(QObject):
    """Call ``fn`` at once, then at most once per ``interval_ms``: calls in between are
    merged into one at the end of the interval (a burst of records, one redraw)."""

    def __init__(self, fn: Callable[[], None], interval_ms: int, parent: QObject) -> None:
        super().__init__(parent)
        self.fn = fn
        self.pending = False
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._due)

    def __call__(self, *_) -> None:
        if self.timer.isActive():
            self.pending = True
            return
        self.fn()
        self.timer.start()

    def _due(self) -> None:
        if self.pending:
            self.pending = False
            self.fn()
            self.timer.start()


def fixed_width(label: QLabel) -> QLabel:
    """A label whose changing text never re-lays its panel out (nor resizes a plot beside
    it, which would cost a repaint of the plot)."""
    policy = label.sizePolicy()
    policy.setHorizontalPolicy(QSizePolicy.Policy.Ignored)
    label.setSizePolicy(policy)
    label.setMinimumWidth(80)
    label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return label


def minutes(t: float | None) -> str:
    """Session time as minutes for labels: ``93.2 min``."""
    if t is None or not math.isfinite(t):
        return "–"
    return f"{t / 60:.1f} min"


def clock(wall: float | None) -> str:
    """A wall time as the bench clock shows it: ``14:32:10``."""
    if wall is None or not math.isfinite(wall):
        return ""
    return time.strftime("%H:%M:%S", time.localtime(wall))


def duration(seconds: float | None) -> str:
    """``2 h 05 min`` / ``12 min`` / ``until stopped``."""
    if seconds is None:
        return "–"
    if not math.isfinite(seconds):
        return "until stopped"
    m = round(seconds / 60)
    return f"{m // 60} h {m % 60:02d} min" if m >= 60 else f"{m} min"


def number(value: float, unit: str = "", digits: int = 3) -> str:
    """``value`` with ``digits`` significant digits, never in exponent form below 10⁶."""
    if value is None or not math.isfinite(value):
        return "n/a"
    size = abs(value)
    if size >= 10 ** digits and size < 1e6:
        text = f"{value:.0f}"
    else:
        text = f"{value:.{digits}g}"
    return text + (f" {unit}" if unit else "")
