"""The questions the window asks: modal where an answer must come first (abort, close during
a run, a flow change), non-modal for operator prompts (acquisition never waits on a dialog)."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from raphe.gui.app.widgets import clock

ABORT, KEEP = "abort", "keep"
#: ``ask_abort_animals``'s answer for every animal
ALL = "all"


def confirm_abort(parent: QWidget | None) -> bool:
    box = QMessageBox(QMessageBox.Icon.Warning, "Abort the run?",
                      "Abort the run now?\n\nEvery instrument goes to its safe state (pump "
                      "stopped, collector to drain, valve to LOAD) and the session file is "
                      "closed complete.", parent=parent)
    abort = box.addButton("Abort run", QMessageBox.ButtonRole.DestructiveRole)
    keep = box.addButton("Keep running", QMessageBox.ButtonRole.RejectRole)
    # Enter (or Escape) keeps the run: aborting takes a deliberate click, as closing does.
    box.setDefaultButton(keep)
    box.setEscapeButton(keep)
    box.exec()
    return box.clickedButton() is abort


def ask_abort_animals(parent: QWidget | None, animals: list[str]) -> str | None:
    """Several animals on one HPLC: take ONE animal off the rig (its pump stopped, its file
    closed complete; the others go on), or abort ``ALL``; None keeps the run (Enter and
    Escape too)."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Abort?",
                      "Take one animal off the rig — its pump is stopped and its session file "
                      "closed complete; the other animals go on — or abort the whole run "
                      "(every instrument to its safe state, every file closed complete)?",
                      parent=parent)
    buttons = {box.addButton(f"Abort {a} only", QMessageBox.ButtonRole.DestructiveRole): a
               for a in animals}
    every = box.addButton("Abort all animals", QMessageBox.ButtonRole.DestructiveRole)
    keep = box.addButton("Keep running", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(keep)
    box.setEscapeButton(keep)
    box.exec()
    clicked = box.clickedButton()
    if clicked is every:
        return ALL
    return buttons.get(clicked)


def ask_close_during_run(parent: QWidget | None, runs: int = 1) -> str:
    """``ABORT`` (safe state, then close) or ``KEEP`` (the window stays open, the run goes on).
    ``runs``: how many runs (rigs) are in progress."""
    what = "A protocol is running" if runs <= 1 else f"{runs} rigs are running a protocol"
    them = "the run" if runs <= 1 else "every run"
    box = QMessageBox(QMessageBox.Icon.Question, "A run is in progress",
                      f"{what}. Closing the window must not leave a rig in an unknown state."
                      f"\n\nAbort {them} (instruments to their safe state, sessions closed "
                      "complete) and close, or keep going?", parent=parent)
    abort = box.addButton("Abort and close", QMessageBox.ButtonRole.DestructiveRole)
    keep = box.addButton("Keep running", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(keep)
    box.setEscapeButton(keep)
    box.exec()
    return ABORT if box.clickedButton() is abort else KEEP


def confirm_flow(parent: QWidget | None, old: float | None, new: float) -> bool:
    was = f"from {old:g} " if old else ""
    box = QMessageBox(QMessageBox.Icon.Question, "Change the flow?",
                      f"Change the perfusion flow {was}to {new:g} µL/min now?\n\nThe change is "
                      "recorded in the session's audit log; samples collected across it have "
                      "a mixed flow.", parent=parent)
    change = box.addButton("Change flow", QMessageBox.ButtonRole.AcceptRole)
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(cancel)
    box.setEscapeButton(cancel)
    box.exec()
    return box.clickedButton() is change


def show_error(parent: QWidget | None, title: str, text: str) -> QMessageBox:
    """A non-modal error box (the run goes on behind it)."""
    box = QMessageBox(QMessageBox.Icon.Critical, title, text, parent=parent)
    box.setWindowModality(Qt.WindowModality.NonModal)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.show()
    return box


class PromptDialog(QDialog):
    """An operator prompt: non-modal, with the time it was raised; ``answered(id, text)``."""

    answered = Signal(int, str)

    def __init__(self, prompt, parent: QWidget | None = None, animal: str = "",
                 color: str = "") -> None:
        super().__init__(parent)
        self.prompt = prompt
        self.animal = animal
        self.setWindowTitle(f"Operator: action needed for {animal}" if animal else
                            "Operator: action needed")
        self.setModal(False)
        self.setWindowModality(Qt.WindowModality.NonModal)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        text = QLabel(prompt.text)
        text.setWordWrap(True)
        text.setStyleSheet("font-size: 15pt; font-weight: bold;")
        raised = QLabel(f"Raised at {prompt.t / 60:.1f} min of the session ({clock(prompt.wall)}); "
                        "the schedule waits, perfusion and acquisition go on.")
        raised.setWordWrap(True)
        self.since = QLabel("")
        self.answer = QLineEdit("yes")
        self.answer.selectAll()
        buttons = QDialogButtonBox()
        self.confirm = buttons.addButton("Confirm", QDialogButtonBox.ButtonRole.AcceptRole)
        self.confirm.clicked.connect(self._confirm)
        layout = QVBoxLayout(self)
        if animal:  # several animals: whose it is, in its colour
            who = QLabel(f"Animal {animal}")
            who.setStyleSheet(f"color: #fff; background: {color or '#555'}; font-size: 13pt; "
                              "font-weight: bold; padding: 3px 8px; border-radius: 3px;")
            layout.addWidget(who)
        layout.addWidget(text)
        layout.addWidget(raised)
        layout.addWidget(self.since)
        layout.addWidget(QLabel("Answer (Enter confirms):"))
        layout.addWidget(self.answer)
        layout.addWidget(buttons)
        self.answer.returnPressed.connect(self._confirm)
        self._flash = False
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._tick)
        self._timer.start(700)
        self._tick()

    def _tick(self) -> None:
        """A visual alert: the dialog blinks and the window asks for attention."""
        self._flash = not self._flash
        self.setStyleSheet("QDialog { background: #fff3b0; }" if self._flash else "")
        waited = max(0.0, time.time() - self.prompt.wall)
        self.since.setText(f"Waiting for {int(waited // 60)} min {int(waited % 60):02d} s")
        if self._flash and self.parent() is not None:
            QApplication.alert(self.parent().window(), 1000)

    def _confirm(self) -> None:
        self._timer.stop()
        self.answered.emit(self.prompt.id, self.answer.text().strip() or "yes")
        self.accept()
