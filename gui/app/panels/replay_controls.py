"""Replay: play, pause, speed and scrub through a recorded session; reanalyse it into a new
session file."""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from raphe.gui.app.replay_session import SPEEDS
from raphe.gui.app.widgets import ElidedLabel, NoWheelComboBox


class ReplayPanel(QWidget):
    """Controls bound to a :class:`~raphe.gui.app.replay_session.ReplaySession` (``bind``)."""

    reanalyse_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = None
        self.play_button = QPushButton("Play")
        self.play_button.setToolTip("Play / pause the replay (Space)")
        self.speed_box = NoWheelComboBox()
        for s in SPEEDS:
            self.speed_box.addItem(f"{s:g}×", s)
        self.speed_box.setCurrentIndex(SPEEDS.index(60.0))
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("Scrub: the panels show the session as it was at this time")
        self.time_label = QLabel("")
        self.file_label = ElidedLabel("")
        self.reanalyse_button = QPushButton("Reanalyse…")
        self.reanalyse_button.setToolTip("Quantify again with another method into a NEW session "
                                         "file (the original is never changed)")
        row = QHBoxLayout()
        row.addWidget(self.play_button)
        row.addWidget(self.speed_box)
        row.addWidget(self.slider, 1)
        row.addWidget(self.time_label)
        row.addWidget(self.reanalyse_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.addLayout(row)
        layout.addWidget(self.file_label)
        layout.addStretch(1)
        self.play_button.clicked.connect(self._toggle)
        self.speed_box.currentIndexChanged.connect(self._speed)
        self.slider.valueChanged.connect(self._scrub)
        self.reanalyse_button.clicked.connect(self.reanalyse_requested)
        self.bind(None)

    def bind(self, session) -> None:
        self.session = session
        on = session is not None
        for w in (self.play_button, self.speed_box, self.slider, self.reanalyse_button):
            w.setEnabled(on)
        if not on:
            self.time_label.setText("")
            self.file_label.setText("no session open (File ▸ Open session…, or drop a .h5 "
                                    "file on the window)")
            return
        self.slider.blockSignals(True)
        self.slider.setRange(math.floor(session.t_start),
                             max(math.floor(session.t_start) + 1, math.ceil(session.t_end)))
        self.slider.setValue(round(session.cursor))
        self.slider.blockSignals(False)
        meta = session.meta
        who = ", ".join(x for x in (meta.get("animal_id", ""), meta.get("operator", "")) if x)
        status = session.status
        self.file_label.setText(f"{session.path}  ·  {status}" + (f"  ·  {who}" if who else "")
                                + ("" if session.method else "  ·  no analysis method stored"))
        session.set_speed(self.speed_box.currentData())
        session.cursor_moved.connect(self._moved)
        session.playing_changed.connect(
            lambda playing: self.play_button.setText("Pause" if playing else "Play"))
        self._moved(session.cursor)

    def _toggle(self) -> None:
        if self.session is not None:
            self.session.toggle()

    def _speed(self, _index: int) -> None:
        if self.session is not None:
            self.session.set_speed(self.speed_box.currentData())

    def _scrub(self, value: int) -> None:
        """The slider's ends are the session's: its right end shows everything."""
        if self.session is None:
            return
        t = (self.session.t_end if value >= self.slider.maximum()
             else self.session.t_start if value <= self.slider.minimum() else float(value))
        if abs(t - self.session.cursor) >= 1 or t in (self.session.t_start, self.session.t_end):
            self.session.seek(t)

    def _moved(self, t: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(round(t))
        self.slider.blockSignals(False)
        end = self.session.t_end if self.session else t
        self.time_label.setText(f"{t / 60:.1f} / {end / 60:.1f} min")


class ReanalyseDialog(QDialog):
    """Which method, and which new file."""

    def __init__(self, session_path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from raphe.acquisition.analysis.method import bundled_methods

        self.setWindowTitle("Reanalyse into a new session")
        self.session_path = Path(session_path)
        self.setMinimumWidth(min(760, max(520, 9 * len(str(self.default_out())))))
        self.method_box = NoWheelComboBox()
        self.method_box.addItems(bundled_methods())
        browse = QPushButton("Method file…")
        browse.clicked.connect(self._browse_method)
        self.out_edit = QLineEdit(str(self.default_out()))
        self.out_edit.setToolTip(self.out_edit.text())
        self.out_edit.textChanged.connect(self.out_edit.setToolTip)
        self.out_edit.setCursorPosition(len(self.out_edit.text()))  # the file's name in view
        out_browse = QPushButton("…")
        out_browse.clicked.connect(self._browse_out)
        form = QFormLayout()
        m = QHBoxLayout()
        m.addWidget(self.method_box, 1)
        m.addWidget(browse)
        o = QHBoxLayout()
        o.addWidget(self.out_edit, 1)
        o.addWidget(out_browse)
        form.addRow("method", m)
        form.addRow("new session", o)
        heading = QLabel(f"<b>Reanalyse {self.session_path.name}</b>")
        heading.setWordWrap(True)
        note = QLabel(f"{self.session_path} is only read; the new session holds the same "
                      "signal and events with the new results.")
        note.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)

    def default_out(self) -> Path:
        stem = self.session_path.with_suffix("")
        for i in range(1, 1000):
            candidate = Path(f"{stem}-reanalysed{'' if i == 1 else f'-{i}'}.h5")
            if not candidate.exists():
                return candidate
        return Path(f"{stem}-reanalysed-new.h5")

    def _browse_method(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Analysis method",
                                              str(self.session_path.parent), "Methods (*.toml)")
        if path:
            self.method_box.addItem(path)
            self.method_box.setCurrentText(path)

    def _browse_out(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "New session", self.out_edit.text(),
                                              "Sessions (*.h5)")
        if path:
            self.out_edit.setText(path)

    @property
    def method(self) -> str:
        return self.method_box.currentText()

    @property
    def out(self) -> Path:
        return Path(self.out_edit.text().strip())
