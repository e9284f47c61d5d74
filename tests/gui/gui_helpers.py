"""Helpers of the window tests (``tests/gui`` is put on the path by its conftest)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QAbstractButton, QApplication

DATA = Path(__file__).parent / "data"
#: Generous: the machine may be busy; no test depends on its speed.
WAIT_MS = 180_000


#: The simulated rig's speed in the window tests: 1 ms of a busy host is 0.3 s of experiment.
SPEED = 300


def short_drug_parameters(**extra) -> dict:
    """The systemic-drug protocol, shortened: about 2 h of session. It leaves 5 min between
    one chromatogram's end (15 min) and the next injection: a tube move and an injection that
    a busy host slows by a second (5 min at 300×) still never cut a run."""
    return {"equilibration_min": 5, "baseline_samples": 2, "post_samples": 3,
            "interval_min": 20, **extra}


def prepare(window, protocol, values=None, speed=SPEED):
    """The protocol panel set for a run of ``protocol`` on the simulated rig."""
    panel = window.protocol_panel
    assert panel.load(str(protocol) if not isinstance(protocol, str) else protocol, values)
    panel.set_rig(None, speed=speed)
    panel.set_method("simulated-5ht")
    panel.check()
    assert panel.can_start, panel.problem
    return panel


def start(qtbot, window, panel):
    """Start the run from the button; the run, once it is running."""
    from PySide6.QtCore import Qt

    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert window.run is not None, window.errors
    qtbot.waitUntil(lambda: panel.state_label.text() == "running", timeout=WAIT_MS)
    return window.run


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
