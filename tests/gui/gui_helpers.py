"""Helpers of the window tests (``tests/gui`` is put on the path by its conftest)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QAbstractButton, QApplication

DATA = Path(__file__).parent / "data"
#: Generous: the machine may be busy; no test depends on its speed.
WAIT_MS = 180_000


def short_drug_parameters(**extra) -> dict:
    """The systemic-drug protocol, shortened: about 100 min of session. Like the bundled
    defaults it leaves a minute between one chromatogram's end (15 min) and the next
    injection, so a late injection on a busy machine never cuts a run."""
    return {"equilibration_min": 5, "baseline_samples": 2, "post_samples": 3,
            "interval_min": 16, **extra}


class DialogAnswerer:
    """Answers the next modal dialogs by clicking the buttons with the given texts, in order;
    keeps the dialogs' texts for assertions."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self._answers: list[str] = []
        self._timer = QTimer()
        self._timer.setInterval(30)
        self._timer.timeout.connect(self._poll)

    def answer(self, button_text: str) -> None:
        self._answers.append(button_text)
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _poll(self) -> None:
        dialog = QApplication.activeModalWidget()
        if dialog is None or not self._answers:
            return
        for button in dialog.findChildren(QAbstractButton):
            if button.text() == self._answers[0]:
                self._answers.pop(0)
                self.texts.append(getattr(dialog, "text", lambda: "")())
                button.click()
                break
        if not self._answers:
            self._timer.stop()
