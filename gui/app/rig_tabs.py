"""Several rigs from one window: one tab per rig (each its own HPLC), each tab a whole
:class:`~raphe.gui.app.window.MainWindow` — its panels, menus, engine and session — so the
rigs run side by side and apart. A tab's title says its rig and its run's state (⚠ while it
has a loud alarm or a prompt waiting). Closing the window during runs asks once; every run
is then aborted to its safe state and the window closes when all have stopped.
"""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import QMainWindow, QTabWidget, QWidget

from raphe.gui.app import dialogs
from raphe.gui.app.window import DEFAULT_SIZE, MainWindow, default_settings


def rig_name(rig_file: str | None) -> str:
    """A tab's name: the rig file's stem, or the simulated rig."""
    return Path(rig_file).stem if rig_file else "simulated rig"


class RigTabs(QMainWindow):
    """See the module docstring. ``rigs``: rig files (None: the simulated rig)."""

    closed = Signal()

    def __init__(self, rigs: list[str | None], settings: QSettings | None = None,
                 folder: str | Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Raphe — {len(rigs)} rigs")
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.setCentralWidget(self.tabs)
        self.settings = settings if settings is not None else default_settings()
        self.windows: list[MainWindow] = []
        self.names: list[str] = []
        self._closing = False
        self._stopping: list[MainWindow] = []
        self._force_close = False
        for rig in rigs:
            window = MainWindow(settings=self.settings, folder=folder)
            window.setWindowFlags(Qt.WindowType.Widget)  # a page of the tabs, not a window
            window.protocol_panel.set_rig(rig)
            self.windows.append(window)
            self.names.append(self._unique(rig_name(rig)))
            window.protocol_panel.name_tag = re.sub(r"[^\w.-]+", "-", self.names[-1]).strip("-")
            self.tabs.addTab(window, self.names[-1])
            window.run_hooks.append(lambda run, w=window: self._follow(w, run))
            window.alarms.changed.connect(lambda w=window: self._title(w))
        self.resize(*DEFAULT_SIZE)

    def _unique(self, name: str) -> str:
        k, out = 2, name
        while out in self.names:
            out, k = f"{name} ({k})", k + 1
        return out

    # -- each tab's title ------------------------------------------------------------------

    def _follow(self, window: MainWindow, run) -> None:
        run.state_changed.connect(lambda *_: self._title(window))
        run.finished.connect(lambda *_: self._title(window))
        for link in run.links:
            link.prompt_raised.connect(lambda *_: self._title(window))
            link.prompt_closed.connect(lambda *_: self._title(window))

    def state_of(self, window: MainWindow) -> str:
        """The run's state as its tab says it (empty: no run)."""
        run = window.run
        if run is None:
            return ""
        if run.done:
            outcome = run.outcome
            return outcome.state.value if outcome is not None else "done"
        state = getattr(run, "state", None) or run.engine.state  # several animals: the run's
        return state.value

    def _title(self, window: MainWindow) -> None:
        i = self.windows.index(window)
        state = self.state_of(window)
        attention = bool(window.alarms.pending) or bool(window.prompt_dialogs)
        text = self.names[i] + (f" · {state}" if state else "") + (" ⚠" if attention else "")
        self.tabs.setTabText(i, text)

    # -- closing ---------------------------------------------------------------------------

    @property
    def running(self) -> list[MainWindow]:
        return [w for w in self.windows if w.running]

    def quit_now(self) -> None:
        """Close without asking (``--quit-after``): runs still going are aborted first."""
        self._force_close = True
        self.close()

    def closeEvent(self, event) -> None:
        running = self.running
        if running or self._stopping:
            event.ignore()
            if self._closing:
                return
            choice = dialogs.ABORT if self._force_close else \
                dialogs.ask_close_during_run(self, runs=len(running))
            if choice == dialogs.KEEP:
                return
            self._closing = True
            self._stopping = running
            self.statusBar().showMessage("Stopping: every instrument to its safe state…")
            for window in running:
                window.run.finished.connect(lambda *_: self._stopped())
                window.run.abort("the window was closed")
            return
        for window in reversed(self.windows):  # the last one's error hook is undone first
            window.quit_now()
        event.accept()
        self.closed.emit()

    def _stopped(self) -> None:
        """A run being stopped has ended: the window closes once every one has."""
        if self._closing and all(w.run is None or w.run.done for w in self._stopping):
            self._stopping = []
            self.close()
