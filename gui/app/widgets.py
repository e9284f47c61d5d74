"""Small widgets and formats shared by the panels."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
)

from raphe.drivers.units import decimal_point

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
#: The animals of a run of several on one HPLC, one colour each, used everywhere they are
#: told apart (time course, trace, rig, form, prompts); none is a colour above.
ANIMAL_COLORS = ("#009e73", "#cc79a7", "#0072b2", "#a6761d")


class _NoWheel:
    """Hardware settings never change when the mouse wheel scrolls over them."""

    def wheelEvent(self, event) -> None:
        event.ignore()


class NoWheelSpinBox(_NoWheel, QDoubleSpinBox):
    """A number field that ignores the wheel and takes a decimal comma as well as a point."""

    def validate(self, text: str, pos: int):
        state, fixed, pos = super().validate(decimal_point(text), pos)
        if state == QValidator.State.Acceptable or text == fixed:
            return state, fixed, pos
        return state, text, pos

    def valueFromText(self, text: str) -> float:
        return super().valueFromText(decimal_point(text))


class NoWheelComboBox(_NoWheel, QComboBox):
    pass


class NoWheelIntBox(_NoWheel, QSpinBox):
    """A whole number field that ignores the wheel."""


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


class ElidedLabel(QLabel):
    """A one-line (or few-line) label that never widens its panel: a text longer than the
    room is cut with "…" and shown whole on hover. ``text()`` is the whole text."""

    def __init__(self, text: str = "", parent=None, min_width: int = 40) -> None:
        super().__init__(parent)
        self._full = ""
        self._tip = ""
        policy = self.sizePolicy()
        policy.setHorizontalPolicy(QSizePolicy.Policy.Ignored)
        self.setSizePolicy(policy)
        self.setMinimumWidth(min_width)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setText(text)

    def setText(self, text: str) -> None:
        self._full = text or ""
        self._refresh()

    def text(self) -> str:
        return self._full

    def setToolTip(self, tip: str) -> None:
        self._tip = tip
        self._refresh()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._refresh()

    def _refresh(self) -> None:
        metrics = self.fontMetrics()
        width = max(0, self.contentsRect().width())
        lines = [metrics.elidedText(line, Qt.TextElideMode.ElideRight, width)
                 for line in self._full.split("\n")]
        shown = "\n".join(lines)
        QLabel.setText(self, shown)
        whole = self._full if shown != self._full else ""
        tip = "\n\n".join(t for t in (whole, self._tip) if t)
        QLabel.setToolTip(self, tip)

    @property
    def elided(self) -> bool:
        return QLabel.text(self) != self._full


class Banner(QFrame):
    """A coloured, clickable notice whose text wraps: however long the text, it never
    widens its panel (the whole text is also its tooltip)."""

    clicked = Signal()

    def __init__(self, background: str, foreground: str = "#000", parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.label = QLabel("")
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        policy = self.label.sizePolicy()
        policy.setHorizontalPolicy(QSizePolicy.Policy.Ignored)
        self.label.setSizePolicy(policy)
        self.label.setMinimumWidth(60)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addWidget(self.label)
        policy = self.sizePolicy()
        policy.setHorizontalPolicy(QSizePolicy.Policy.Ignored)
        self.setSizePolicy(policy)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.set_colors(background, foreground)

    def set_colors(self, background: str, foreground: str = "#000") -> None:
        self.setStyleSheet(f"QFrame#banner {{ background: {background}; border-radius: 3px; }}"
                           f" QLabel {{ color: {foreground}; font-weight: bold; }}")

    def setText(self, text: str) -> None:
        self.label.setText(text)
        self.setToolTip(text)

    def text(self) -> str:
        return self.label.text()

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()
        super().mousePressEvent(event)


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
