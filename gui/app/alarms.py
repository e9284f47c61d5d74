"""Loud alarms: what needs a person now is as loud as an operator prompt, and stays until
someone acknowledges it.

How loud an alarm is is decided in ONE place, :mod:`raphe.severity` (the console, the
status page and the notifications use it too): the window only asks it. A loud alarm — the
animal unperfused, the data not acquired, the rig unsafe, the disk about to stop the run —
gets a red banner across the top of the window that blinks until it is acknowledged, the
desktop's attention request (the taskbar entry flashes), a message from the tray icon
where the desktop has one, and, if the operator wants it (View ▸ Sound for loud alarms),
the system bell every few seconds. **Acknowledge** records, for each alarm, who saw it and
when (an ``alarm`` event and an audit entry in the session, through the engine's
``acknowledge``). A recovery (the pump restarted, the detector back) is written into the
banner, but the alarm stays until acknowledged: someone has to have seen it. Notices (a
retry the driver recovered from, a gap) are listed in the Rig panel and the events, and in
the status bar.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QStyle,
    QSystemTrayIcon,
    QWidget,
)

from raphe.gui.app.widgets import clock, minutes
from raphe.severity import LOUD, kind, recovery_of, severity

log = logging.getLogger(__name__)

#: The banner blinks between these (background, text).
BLINK = (("#c0392b", "#ffffff"), ("#f5b7b1", "#641e16"))
BLINK_MS = 600
#: The bell rings this often while a loud alarm waits (when the sound is on).
BELL_MS = 5000


@dataclass
class Alarm:
    """One loud alarm waiting for (or given) an acknowledgement."""

    text: str
    kind: str
    t: float  # session time (s) it was raised, NaN when not known
    wall: float  # when the window got it
    recovered: str = ""  # e.g. "recovered at 93.2 min (14:03:10)"
    #: several animals on one HPLC: the animal it is about ("": every animal, a shared
    #: instrument); its acknowledgement goes to that animal's session (or every one)
    animal: str = ""

    @property
    def said(self) -> str:
        """The alarm with its animal: ``A2: perfusion stopped …``."""
        return f"{self.animal}: {self.text}" if self.animal else self.text

    def describe(self) -> str:
        when = minutes(self.t) + f" ({clock(self.wall)})" if math.isfinite(self.t) else \
            clock(self.wall)
        return f"{when}: {self.said}" + (f" — {self.recovered}" if self.recovered else "")


class LoudAlarms(QObject):
    """The loud alarms of the run on screen: raised, shown, acknowledged."""

    changed = Signal()

    def __init__(self, window: QWidget, sound: bool = True) -> None:
        super().__init__(window)
        self.window = window
        self.pending: list[Alarm] = []
        #: (alarm, wall time acknowledged, recorded in the session file)
        self.acknowledged: list[tuple[Alarm, float, bool]] = []
        self.sound = sound
        self.bells = 0
        self._bell = QTimer(self)
        self._bell.setInterval(BELL_MS)
        self._bell.timeout.connect(self._ring)
        self._tray: QSystemTrayIcon | None = None

    @staticmethod
    def is_loud(text: str) -> bool:
        return severity(text) == LOUD

    def raise_alarm(self, text: str, t: float = math.nan, animal: str = "") -> Alarm | None:
        """A new alarm (about ``animal``, in a run of several): shown and made loud if
        :mod:`raphe.severity` says so (returned), else None (a notice)."""
        gone = recovery_of(text)
        if gone is not None:
            self.recovered(gone, t, animal)
            return None
        if not self.is_loud(text):
            return None
        alarm = Alarm(text, kind(text) or "", t, time.time(), animal=animal)
        self.pending.append(alarm)
        self._attention(alarm)
        self.changed.emit()
        return alarm

    def recovered(self, name: str, t: float, animal: str = "") -> None:
        """The cause of ``name`` alarms (of ``animal``) went away: said in the banner (they
        stay until acknowledged)."""
        changed = False
        for alarm in self.pending:
            if alarm.kind == name and alarm.animal == animal and not alarm.recovered:
                alarm.recovered = f"recovered at {minutes(t)} ({clock(time.time())})"
                changed = True
        if changed:
            self.changed.emit()

    def take(self) -> list[Alarm]:
        """The alarms to acknowledge now (they leave the banner)."""
        alarms, self.pending = self.pending, []
        self._bell.stop()
        if alarms:
            self.changed.emit()
        return alarms

    def clear(self) -> None:
        """A new run: nothing of the last one is pending (acknowledged or not)."""
        self.pending = []
        self._bell.stop()
        self.changed.emit()

    def set_sound(self, on: bool) -> None:
        self.sound = bool(on)
        if not self.sound:
            self._bell.stop()
        elif self.pending:
            self._bell.start()

    # -- attention -------------------------------------------------------------------------

    def _attention(self, alarm: Alarm) -> None:
        """As loud as a prompt: the desktop's attention (the taskbar entry flashes until the
        window is looked at), the tray's message, the bell."""
        QApplication.alert(self.window.window(), 0)
        if QSystemTrayIcon.isSystemTrayAvailable():
            if self._tray is None:
                icon = self.window.windowIcon()
                if icon.isNull():
                    icon = self.window.style().standardIcon(
                        QStyle.StandardPixmap.SP_MessageBoxCritical)
                self._tray = QSystemTrayIcon(icon, self)
                self._tray.activated.connect(lambda *_: self._bring_up())
                self._tray.messageClicked.connect(self._bring_up)
            self._tray.show()
            self._tray.showMessage("Raphe: alarm", alarm.said,
                                   QSystemTrayIcon.MessageIcon.Critical, 15000)
        if self.sound:
            self._ring()
            self._bell.start()

    def _ring(self) -> None:
        if self.sound and self.pending:
            self.bells += 1
            QApplication.beep()

    def _bring_up(self) -> None:
        w = self.window.window()
        w.showNormal()
        w.raise_()
        w.activateWindow()


class AlarmBanner(QFrame):
    """The red banner across the window while a loud alarm waits: what, since when, and
    **Acknowledge**. Its text wraps (never widens the window)."""

    acknowledge_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("alarmBanner")
        self.icon = QLabel("⚠")
        self.icon.setStyleSheet("font-size: 18pt; font-weight: bold;")
        self.label = QLabel("")
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        policy = self.label.sizePolicy()
        policy.setHorizontalPolicy(QSizePolicy.Policy.Ignored)
        self.label.setSizePolicy(policy)
        self.label.setMinimumWidth(120)
        self.button = QPushButton("Acknowledge")
        self.button.setToolTip("I have seen it: recorded in the session with the time")
        self.button.clicked.connect(self.acknowledge_requested)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 8, 4)
        row.addWidget(self.icon)
        row.addWidget(self.label, 1)
        row.addWidget(self.button)
        policy = self.sizePolicy()
        policy.setHorizontalPolicy(QSizePolicy.Policy.Ignored)
        self.setSizePolicy(policy)
        self._phase = 0
        self._blink = QTimer(self)
        self._blink.setInterval(BLINK_MS)
        self._blink.timeout.connect(self._toggle)
        self._paint()

    def show_alarms(self, alarms: list[Alarm]) -> None:
        if not alarms:
            self._blink.stop()
            self.label.setText("")
            self.setToolTip("")
            return
        head = "LOUD ALARM — needs you now" if len(alarms) == 1 else \
            f"{len(alarms)} LOUD ALARMS — need you now"
        text = head + "\n" + "\n".join(a.describe() for a in alarms[-4:])
        if len(alarms) > 4:
            text += f"\n… and {len(alarms) - 4} earlier"
        self.label.setText(text)
        self.setToolTip("\n".join(a.describe() for a in alarms))
        # As tall as its lines (a wrapped label in a tool bar would ask for much more); a
        # line too long for the window is cut, and whole in the tooltip.
        lines = text.count("\n") + 1
        self.setFixedHeight(lines * self.label.fontMetrics().lineSpacing() + 14)
        if not self._blink.isActive():
            self._blink.start()

    def text(self) -> str:
        return self.label.text()

    def _toggle(self) -> None:
        self._phase ^= 1
        self._paint()

    def _paint(self) -> None:
        background, foreground = BLINK[self._phase]
        self.setStyleSheet(f"QFrame#alarmBanner {{ background: {background}; }} "
                           f"QFrame#alarmBanner QLabel {{ color: {foreground}; "
                           "font-weight: bold; }")
