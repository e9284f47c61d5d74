"""The main window: dockable panels over one session — a live run or a replay.

Panels: Protocol, Rig, Live trace, Chromatogram, Time course, Events, QC, Replay.
Their layout is remembered (``QSettings``) and can be reset (View ▸ Reset
layout). Closing the window during a run asks whether to abort (every
instrument to its safe state, the session closed complete) or keep going; the
window closes only once the engine has stopped. A recorded session opens from
the File menu, the command line, or by dropping it on the window.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox, QWidget

from raphe.errors import InputError
from raphe.gui.app import dialogs, faults
from raphe.gui.app.live_run import LiveRun, RunSetup
from raphe.gui.app.model import SessionModel
from raphe.gui.app.panels.chromatogram import ChromatogramPanel
from raphe.gui.app.panels.events import EventsPanel
from raphe.gui.app.panels.protocol import ProtocolPanel
from raphe.gui.app.panels.quality import QualityPanel
from raphe.gui.app.panels.replay_controls import ReanalyseDialog, ReplayPanel
from raphe.gui.app.panels.rig_status import RigPanel
from raphe.gui.app.panels.timecourse import TimeCoursePanel
from raphe.gui.app.panels.trace import TracePanel
from raphe.gui.app.replay_session import ReplaySession
from raphe.protocols.engine import State

log = logging.getLogger(__name__)

#: Bump when the docks change, so an old saved layout is not applied.
LAYOUT_VERSION = 2
SESSION_SUFFIXES = (".h5", ".hdf5")

#: (keys, what) — the Help menu and docs/gui.md list these.
SHORTCUTS = (
    ("Ctrl+R", "start the run"),
    ("Ctrl+P", "pause / resume the run"),
    ("Ctrl+M", "add a marker (focus the marker field)"),
    ("Ctrl+Return", "answer the open operator prompt"),
    ("Ctrl+O", "open a recorded session"),
    ("Ctrl+Shift+O", "open a protocol file"),
    ("Space", "replay: play / pause"),
    ("F", "live trace: follow the latest signal"),
    ("Ctrl+0", "live trace: show the whole session"),
    ("Ctrl+Shift+R", "reset the panel layout"),
    ("Ctrl+Q", "quit (asks first during a run)"),
)


def default_settings() -> QSettings:
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "Raphe", "raphe-gui")


class MainWindow(QMainWindow):
    """See the module docstring."""

    closed = Signal()

    def __init__(self, settings: QSettings | None = None, folder: str | Path | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        #: called with each LiveRun before it starts (the status page, notifications)
        self.run_hooks: list = []
        self.setWindowTitle("Raphe")
        self.setAcceptDrops(True)
        self.setDockNestingEnabled(True)
        # The left column runs the full height; the events sit under the plots only.
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.settings = settings if settings is not None else default_settings()
        self.model = SessionModel(self)
        self.run: LiveRun | None = None
        self.replay: ReplaySession | None = None
        self.errors: list[str] = []
        self.prompt_dialogs: dict[int, dialogs.PromptDialog] = {}
        self._close_when_stopped = False
        self._force_close = False
        self.protocol_panel = ProtocolPanel(folder=folder)
        self.rig_panel = RigPanel(self.model)
        self.trace_panel = TracePanel(self.model)
        self.chromatogram_panel = ChromatogramPanel(self.model)
        self.timecourse_panel = TimeCoursePanel(self.model)
        self.events_panel = EventsPanel(self.model)
        self.quality_panel = QualityPanel(self.model)
        self.replay_panel = ReplayPanel()
        self.docks: dict[str, QDockWidget] = {}
        self._build_docks()
        self._default_state = self.saveState(LAYOUT_VERSION)
        self._build_menus()
        self.mode_label = QLabel("no session")
        self.statusBar().addPermanentWidget(self.mode_label)
        self._wire()
        self._sized = False
        self._restored = self.restore_layout()
        self._undo_hook = faults.install(self.report_error)

    # -- layout ----------------------------------------------------------------------------

    def _dock(self, key: str, title: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{key}")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        self.docks[key] = dock
        return dock

    def _build_docks(self) -> None:
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        bottom = Qt.DockWidgetArea.BottomDockWidgetArea
        protocol = self._dock("protocol", "Protocol", self.protocol_panel, left)
        rig = self._dock("rig", "Rig", self.rig_panel, left)
        trace = self._dock("trace", "Live trace", self.trace_panel, right)
        course = self._dock("timecourse", "Time course", self.timecourse_panel, right)
        chrom = self._dock("chromatogram", "Chromatogram", self.chromatogram_panel, right)
        events = self._dock("events", "Events", self.events_panel, bottom)
        qc = self._dock("qc", "QC", self.quality_panel, bottom)
        replay = self._dock("replay", "Replay", self.replay_panel, bottom)
        self.splitDockWidget(protocol, rig, Qt.Orientation.Vertical)
        self.splitDockWidget(trace, course, Qt.Orientation.Vertical)
        self.splitDockWidget(course, chrom, Qt.Orientation.Horizontal)
        self.tabifyDockWidget(events, qc)
        self.tabifyDockWidget(qc, replay)
        events.raise_()
        self.resize(1600, 1000)
        self._default_sizes()

    def _default_sizes(self) -> None:
        d = self.docks
        self.resizeDocks([d["protocol"], d["trace"]], [430, 1170], Qt.Orientation.Horizontal)
        self.resizeDocks([d["protocol"], d["rig"]], [500, 440], Qt.Orientation.Vertical)
        self.resizeDocks([d["trace"], d["timecourse"]], [330, 430], Qt.Orientation.Vertical)
        self.resizeDocks([d["timecourse"], d["chromatogram"]], [540, 630],
                         Qt.Orientation.Horizontal)
        self.resizeDocks([d["events"]], [160], Qt.Orientation.Vertical)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._sized:
            self._sized = True
            if not self._restored:
                self._default_sizes()
                self._default_state = self.saveState(LAYOUT_VERSION)

    def restore_layout(self) -> bool:
        geometry = self.settings.value("window/geometry")
        state = self.settings.value("window/state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            return bool(self.restoreState(state, LAYOUT_VERSION))
        return False

    def save_layout(self) -> None:
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState(LAYOUT_VERSION))
        self.settings.sync()

    def reset_layout(self) -> None:
        for dock in self.docks.values():
            dock.setFloating(False)
            dock.show()
        self.restoreState(self._default_state, LAYOUT_VERSION)
        self.docks["events"].raise_()

    # -- menus and shortcuts ---------------------------------------------------------------

    def _action(self, menu, text: str, slot, keys: str | None = None) -> QAction:
        action = QAction(text, self)
        if keys:
            action.setShortcut(QKeySequence(keys))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        f = bar.addMenu("&File")
        self._action(f, "Open session…", self.choose_session, "Ctrl+O")
        self._action(f, "Open protocol…", self.protocol_panel.open_protocol, "Ctrl+Shift+O")
        self.reanalyse_action = self._action(f, "Reanalyse session…", self.ask_reanalyse)
        f.addSeparator()
        self._action(f, "Quit", self.close, "Ctrl+Q")
        r = bar.addMenu("&Run")
        self._action(r, "Start", self.start_run, "Ctrl+R")
        self._action(r, "Pause / resume", self.toggle_pause, "Ctrl+P")
        self._action(r, "Abort…", self.ask_abort)
        self._action(r, "Answer the operator prompt", self.show_prompt, "Ctrl+Return")
        self._action(r, "Add marker", self.focus_marker, "Ctrl+M")
        v = bar.addMenu("&View")
        for dock in self.docks.values():
            v.addAction(dock.toggleViewAction())
        v.addSeparator()
        self._action(v, "Follow the latest signal", lambda: self.trace_panel.set_follow(True),
                     "F")
        self._action(v, "Show the whole session", self.trace_panel.show_all, "Ctrl+0")
        self._action(v, "Reset layout", self.reset_layout, "Ctrl+Shift+R")
        h = bar.addMenu("&Help")
        self._action(h, "Keyboard shortcuts", self.show_shortcuts)
        space = QShortcut(QKeySequence("Space"), self)
        space.activated.connect(self.toggle_replay)

    def show_shortcuts(self) -> None:
        rows = "".join(f"<tr><td><b>{k}</b></td><td>{w}</td></tr>" for k, w in SHORTCUTS)
        QMessageBox.information(self, "Keyboard shortcuts", f"<table>{rows}</table>")

    # -- wiring ----------------------------------------------------------------------------

    def _wire(self) -> None:
        p = self.protocol_panel
        p.start_requested.connect(self.start_run)
        p.pause_requested.connect(lambda: self.run and self.run.pause())
        p.resume_requested.connect(lambda: self.run and self.run.resume())
        p.abort_requested.connect(self.ask_abort)
        p.answer_requested.connect(self.show_prompt)
        self.events_panel.mark_requested.connect(self.mark)
        self.rig_panel.flow_requested.connect(self.set_flow)
        self.replay_panel.reanalyse_requested.connect(self.ask_reanalyse)

    # -- live runs -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.run is not None and self.run.active

    def start_run(self, setup: RunSetup | None = None) -> LiveRun | None:
        """Start the protocol panel's run (or ``setup``); errors are shown, None returned."""
        if self.running:
            return None
        try:
            setup = setup if isinstance(setup, RunSetup) else self.protocol_panel.setup()
            self._close_replay()
            self._close_run()
            run = LiveRun(setup, self.model, self)
        except InputError as exc:
            self.report_problem("Cannot start the run", str(exc))
            return None
        run.state_changed.connect(self._on_state)
        run.status_changed.connect(self.protocol_panel.set_status)
        run.prompt_raised.connect(self._on_prompt)
        run.prompt_closed.connect(self._on_prompt_closed)
        run.alarm_raised.connect(lambda text: self.statusBar().showMessage(f"alarm: {text}",
                                                                            15000))
        run.refused.connect(lambda text: self.report_problem("Request refused", text))
        run.finished.connect(self._on_finished)
        for hook in self.run_hooks:  # e.g. the status page and notifications follow it
            hook(run)
        spec = run.spec
        self.rig_panel.set_rig(getattr(spec, "syringe_volume_uL", None), run.plan,
                               getattr(spec, "rate_limits_uL_min", None))
        self.rig_panel.set_links("opening…")
        try:
            run.start()
        except InputError as exc:
            run.close()
            self.report_problem("Cannot start the run", str(exc))
            return None
        self.run = run
        self.protocol_panel.set_state("checking")
        self.events_panel.set_can_mark(True)
        self.rig_panel.set_can_change_flow(True)
        self.trace_panel.set_follow(True)
        where = "simulated rig" if setup.simulated else setup.rig_file
        self.mode_label.setText(f"live · {setup.protocol.name} on the {where} → {setup.out}")
        self.setWindowTitle(f"Raphe — {setup.protocol.name} → {Path(setup.out).name}")
        return run

    def _on_state(self, state: State) -> None:
        self.protocol_panel.set_state(state.value)
        if state is State.RUNNING and self.rig_panel.links["pump"].text() == "opening…":
            self.rig_panel.set_links("connected")
        self.statusBar().showMessage(f"run {state.value}", 5000)

    def _on_finished(self, outcome) -> None:
        self.protocol_panel.set_state(outcome.state.value if outcome else "done")
        self.protocol_panel.finished(outcome)
        self.rig_panel.safe_state([a for a in getattr(outcome, "alarms", [])
                                   if a.startswith("safe state")])
        self.events_panel.set_can_mark(False)
        self.rig_panel.set_can_change_flow(False)
        for dialog in list(self.prompt_dialogs.values()):
            dialog.close()
        self.prompt_dialogs.clear()
        if outcome is not None:
            self.statusBar().showMessage(f"run {outcome.state.value}: {outcome.message}")
            if outcome.state is State.FAILED and not self._close_when_stopped:
                self.report_problem("The run failed", outcome.message)
        if self._close_when_stopped:
            self.close()

    def toggle_pause(self) -> None:
        if self.run is None or not self.run.active:
            return
        if self.run.engine.state is State.PAUSED:
            self.run.resume()
        else:
            self.run.pause()

    def ask_abort(self) -> None:
        if self.running and dialogs.confirm_abort(self):
            self.run.abort("by the operator")

    def mark(self, text: str) -> None:
        if self.running:
            self.run.mark(text)

    def focus_marker(self) -> None:
        self.docks["events"].show()
        self.docks["events"].raise_()
        self.events_panel.focus_marker()

    def set_flow(self, rate: float) -> None:
        if not self.running:
            return
        self.run.request_flow(rate)
        self.statusBar().showMessage(f"flow change to {rate:g} µL/min requested", 10000)

    # -- operator prompts ------------------------------------------------------------------

    def _on_prompt(self, prompt) -> None:
        if prompt.id in self.prompt_dialogs:
            return
        dialog = dialogs.PromptDialog(prompt, self)
        dialog.answered.connect(self._answer)
        dialog.destroyed.connect(lambda *_, i=prompt.id: self.prompt_dialogs.pop(i, None))
        self.prompt_dialogs[prompt.id] = dialog
        self.protocol_panel.set_prompt(prompt)
        self.docks["protocol"].setWindowTitle("Protocol — ⚠ operator prompt")
        dialog.show()
        dialog.raise_()

    def _answer(self, prompt_id: int, text: str) -> None:
        if self.run is not None:
            self.run.answer(prompt_id, text)

    def _on_prompt_closed(self, prompt) -> None:
        dialog = self.prompt_dialogs.pop(prompt.id, None)
        if dialog is not None:
            dialog.close()
        self.protocol_panel.set_prompt(None)
        self.docks["protocol"].setWindowTitle("Protocol")

    def show_prompt(self) -> None:
        """Bring the open prompt's dialog back (it may have been closed without answering)."""
        if self.run is None:
            return
        prompt = self.run.engine.status().prompt
        if prompt is None:
            return
        dialog = self.prompt_dialogs.get(prompt.id)
        if dialog is None:
            self._on_prompt(prompt)
        else:
            dialog.show()
            dialog.raise_()
            dialog.activateWindow()

    # -- replay ----------------------------------------------------------------------------

    def choose_session(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a recorded session",
                                              str(self.protocol_panel.folder),
                                              "Sessions (*.h5 *.hdf5)")
        if path:
            self.open_session(path)

    def open_session(self, path: str | Path) -> ReplaySession | None:
        if self.running:
            self.report_problem("A run is in progress",
                                "Open the session once the run has ended.")
            return None
        self._close_run()
        self._close_replay()
        try:
            replay = ReplaySession(path, self.model, self)
        except InputError as exc:
            self.report_problem("Cannot open the session", str(exc))
            return None
        self.replay = replay
        replay.failed.connect(lambda text: self.report_problem("Replay", text))
        replay.reanalysed.connect(self._on_reanalysed)
        self.replay_panel.bind(replay)
        self.docks["replay"].show()
        self.docks["replay"].raise_()
        self.rig_panel.set_links("recorded", True)
        self.rig_panel.set_rig(None)
        self.trace_panel.show_all()
        meta = replay.meta
        name = meta.get("protocol", {}).get("name") or "session"
        self.mode_label.setText(f"replay · {name} · {replay.path} ({replay.status})")
        self.setWindowTitle(f"Raphe — replay {replay.path.name}")
        return replay

    def toggle_replay(self) -> None:
        if self.replay is not None:
            self.replay.toggle()

    def ask_reanalyse(self) -> None:
        if self.replay is None:
            self.report_problem("Reanalyse", "Open a recorded session first.")
            return
        dialog = ReanalyseDialog(self.replay.path, self)
        if dialog.exec() != ReanalyseDialog.DialogCode.Accepted:
            return
        self.reanalyse(dialog.method, dialog.out)

    def reanalyse(self, method: str, out: str | Path) -> None:
        try:
            self.replay.reanalyse(method, out)
        except InputError as exc:
            self.report_problem("Reanalyse", str(exc))
            return
        self.statusBar().showMessage(f"reanalysing into {out}…")

    def _on_reanalysed(self, out) -> None:
        self.statusBar().showMessage(f"new session written: {out}", 15000)
        self.open_session(out)

    # -- closing ---------------------------------------------------------------------------

    def _close_run(self) -> None:
        if self.run is not None and not self.run.active:
            self.run.close()
            self.run.deleteLater()
            self.run = None

    def _close_replay(self) -> None:
        if self.replay is not None:
            self.replay_panel.bind(None)
            self.replay.close()
            self.replay.deleteLater()
            self.replay = None

    def quit_now(self) -> None:
        """Close without asking (``--quit-after``): a run still going is aborted first."""
        self._force_close = True
        self.close()

    def closeEvent(self, event) -> None:
        if self.running:
            event.ignore()
            if self._close_when_stopped:
                return  # already stopping; the window closes when the engine has stopped
            choice = dialogs.ABORT if self._force_close else dialogs.ask_close_during_run(self)
            if choice == dialogs.KEEP:
                return
            self._close_when_stopped = True
            self.statusBar().showMessage("Stopping: every instrument to its safe state…")
            self.run.abort("the window was closed")
            return
        self.save_layout()
        self._close_replay()
        if self.run is not None:
            self.run.close()
        self._undo_hook()
        event.accept()
        self.closed.emit()

    # -- drag and drop ---------------------------------------------------------------------

    @staticmethod
    def _dropped(event) -> list[Path]:
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        return [Path(u.toLocalFile()) for u in urls if u.isLocalFile()]

    def dragEnterEvent(self, event) -> None:
        if any(p.suffix.lower() in (*SESSION_SUFFIXES, ".py") for p in self._dropped(event)):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        for path in self._dropped(event):
            if path.suffix.lower() in SESSION_SUFFIXES:
                self.open_session(path)
                break
            if path.suffix.lower() == ".py" and not self.running:
                self.protocol_panel.load(str(path))
                break
        event.acceptProposedAction()

    # -- problems --------------------------------------------------------------------------

    def report_problem(self, title: str, text: str) -> None:
        """A refused request or a bad file: one clear message, the window goes on."""
        log.warning("%s: %s", title, text)
        self.errors.append(f"{title}: {text}")
        self.statusBar().showMessage(f"{title}: {text}", 15000)
        dialogs.show_error(self, title, text)

    def report_error(self, summary: str, details: str) -> None:
        """An unhandled exception (from the hook): logged there, shown here."""
        self.errors.append(summary)
        box = dialogs.show_error(
            self, "Error in the window",
            f"{summary}\n\nIt was logged. The run goes on; the session file stays complete "
            "(or recoverable with raphe recover).")
        box.setDetailedText(details)
