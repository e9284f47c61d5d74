"""The main window: dockable panels over one session — a live run or a replay.

Panels: Protocol, Rig, Live trace, Chromatogram, Time course, Events, QC, Replay.
Above them, the red banner of a loud alarm (until acknowledged) and the "next"
strip (what the run does now and next, as clock times). Their layout is
remembered (``QSettings``) and can be reset (View ▸ Reset layout); the default
one fits the screen (a 1366 × 768 laptop included) and no panel can push the
window past it. Closing the window during a run asks whether to abort (every
instrument to its safe state, the session closed complete) or keep going; the
window closes only once the engine has stopped. A recorded session opens from
the File menu, the command line, or by dropping it on the window. File ▸ Export
and Print write each plot, the time course's table and the session's one-page
summary; View ▸ Theme switches to the dark theme (remembered).

A run of several animals on one HPLC (:class:`SharedLiveRun`) shows them in their colours:
the time course overlays them, the trace labels each injection with its animal, the Rig
panel has a row per animal, alarms and prompts name their animal, and Abort takes one
animal off the rig or all of them.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QSizePolicy,
    QToolBar,
    QWidget,
)

from raphe.errors import InputError
from raphe.gui.app import dialogs, export, faults, theme
from raphe.gui.app.alarms import AlarmBanner, LoudAlarms
from raphe.gui.app.live_run import LiveRun, RunSetup
from raphe.gui.app.model import SessionModel
from raphe.gui.app.next_strip import NextStrip
from raphe.gui.app.panels.chromatogram import ChromatogramPanel
from raphe.gui.app.panels.events import EventsPanel
from raphe.gui.app.panels.protocol import ProtocolPanel
from raphe.gui.app.panels.quality import QualityPanel
from raphe.gui.app.panels.replay_controls import ReanalyseDialog, ReplayPanel
from raphe.gui.app.panels.rig_status import RigPanel
from raphe.gui.app.panels.timecourse import TimeCoursePanel
from raphe.gui.app.panels.trace import TracePanel
from raphe.gui.app.replay_session import ReplaySession
from raphe.gui.app.shared_live_run import SharedLiveRun
from raphe.gui.app.widgets import ElidedLabel
from raphe.protocols.engine import State

log = logging.getLogger(__name__)

#: Bump when the docks change, so an old saved layout is not applied.
LAYOUT_VERSION = 3
#: The largest default window; a smaller screen gets a window that fits it.
DEFAULT_SIZE = (1600, 1000)
#: The smallest screen the default layout is made for (every panel readable).
SMALLEST_SCREEN = (1366, 768)
SESSION_SUFFIXES = (".h5", ".hdf5")

#: (keys, what) — the Help menu and docs/gui.md list these.
SHORTCUTS = (
    ("Ctrl+R", "start the run"),
    ("Ctrl+P", "pause / resume the run"),
    ("Ctrl+M", "add a marker (focus the marker field)"),
    ("Ctrl+Return", "answer the open operator prompt"),
    ("Ctrl+O", "open a recorded session"),
    ("Ctrl+Shift+O", "open a protocol file"),
    ("Ctrl+E", "export the time course figure"),
    ("Ctrl+Shift+P", "print the session's summary"),
    ("Ctrl+Shift+A", "acknowledge the loud alarms"),
    ("Space", "replay: play / pause"),
    ("F", "live trace: follow the latest signal"),
    ("Ctrl+0", "live trace: show the whole session"),
    ("Ctrl+Shift+R", "reset the panel layout"),
    ("Ctrl+Q", "quit (asks first during a run)"),
)


def _first_flow(plan) -> float | None:
    """The protocol's first perfusion flow (µL/min), from its dry run."""
    for item in getattr(plan, "timeline", ()) or ():
        if item.kind == "pump" and "µL/min" in item.text:
            try:
                return float(item.text.split(" at ", 1)[1].split()[0])
            except (IndexError, ValueError):
                return None
    return None


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
        self.run: LiveRun | SharedLiveRun | None = None
        self.replay: ReplaySession | None = None
        self.errors: list[str] = []
        #: open prompts' dialogs by (animal, prompt id): each animal's engine numbers its own
        self.prompt_dialogs: dict[tuple[str, int], dialogs.PromptDialog] = {}
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
        self.alarms = LoudAlarms(self, sound=self.settings.value("alarms/sound", True,
                                                                 type=bool))
        self.alarm_banner = AlarmBanner()
        self.next_strip = NextStrip()
        self.docks: dict[str, QDockWidget] = {}
        self.bars: dict[str, QToolBar] = {}
        self._build_bars()
        self._build_docks()
        self._default_state = self.saveState(LAYOUT_VERSION)
        self._build_menus()
        # what is on screen (a long path is cut, whole on hover); the messages keep the left
        self.mode_label = ElidedLabel("no session")
        self.mode_label.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
        self.mode_label.setFixedWidth(460)
        self.mode_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.statusBar().addPermanentWidget(self.mode_label)
        self._wire()
        self._sized = False
        self._restored = self.restore_layout()
        self.set_theme(str(self.settings.value("view/theme", "light")), save=False)
        self._undo_hook = faults.install(self.report_error)

    # -- layout ----------------------------------------------------------------------------

    def _build_bars(self) -> None:
        """The loud-alarm banner (shown only while an alarm waits) and the next strip, across
        the top of the window, each on its own row."""
        for key, title, widget in (("alarms", "Loud alarms", self.alarm_banner),
                                   ("next", "Next", self.next_strip)):
            bar = QToolBar(title, self)
            bar.setObjectName(f"bar-{key}")
            bar.setMovable(False)
            bar.setFloatable(False)
            bar.addWidget(widget)
            self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
            self.addToolBarBreak(Qt.ToolBarArea.TopToolBarArea)
            self.bars[key] = bar
        self.bars["alarms"].setVisible(False)
        self.bars["alarms"].toggleViewAction().setEnabled(False)  # it shows itself

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
        self.resize(*self.default_size())
        self._default_sizes()

    def default_size(self) -> tuple[int, int]:
        """1600 × 1000, or the screen's free area when it is smaller (a laptop's 1366 × 768)
        less the window's frame; without a screen (offscreen drawing) the largest."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is None or QGuiApplication.platformName() in ("offscreen", "minimal"):
            return DEFAULT_SIZE
        free = screen.availableGeometry()
        return (min(DEFAULT_SIZE[0], free.width() - 8), min(DEFAULT_SIZE[1], free.height() - 36))

    def _default_sizes(self) -> None:
        """The docks' default sizes, in proportion to the window: the protocol form gets the
        room it needs (the rig panel is compact), the plots the rest."""
        d = self.docks
        # the docks' area: the window less its menu, bars and status line
        used = self.menuBar().sizeHint().height() + self.statusBar().sizeHint().height() + \
            sum(bar.sizeHint().height() for bar in self.bars.values() if bar.isVisible())
        w, h = max(self.width(), 800), max(self.height() - used, 400)
        left = int(min(460, max(380, 0.28 * w)))
        self.resizeDocks([d["protocol"], d["trace"]], [left, w - left], Qt.Orientation.Horizontal)
        rig = int(min(330, max(230, 0.3 * h)))
        self.resizeDocks([d["protocol"], d["rig"]], [h - rig, rig], Qt.Orientation.Vertical)
        bottom = int(min(260, max(150, 0.27 * h)))
        plots = h - bottom
        self.resizeDocks([d["trace"], d["timecourse"], d["events"]],
                         [int(0.42 * plots), int(0.58 * plots), bottom], Qt.Orientation.Vertical)
        right = w - left
        self.resizeDocks([d["timecourse"], d["chromatogram"]],
                         [int(0.48 * right), int(0.52 * right)], Qt.Orientation.Horizontal)

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
        self._action(f, "Study of several sessions…", self.open_study)
        f.addSeparator()
        e = f.addMenu("Export")
        self._action(e, "Time course figure (PNG, SVG, PDF)…",
                     self.timecourse_panel.export_figure, "Ctrl+E")
        self._action(e, "Time course table (CSV)…", self.timecourse_panel.export_table)
        self._action(e, "Chromatogram figure…", self.chromatogram_panel.export_figure)
        self._action(e, "Live trace figure…", self.trace_panel.export_figure)
        e.addSeparator()
        self._action(e, "Session summary (PDF, PNG, SVG)…", self.export_summary)
        self._action(f, "Print summary…", self.print_summary, "Ctrl+Shift+P")
        f.addSeparator()
        self._action(f, "Quit", self.close, "Ctrl+Q")
        r = bar.addMenu("&Run")
        self._action(r, "Start", self.start_run, "Ctrl+R")
        self._action(r, "Pause / resume", self.toggle_pause, "Ctrl+P")
        self._action(r, "Abort…", self.ask_abort)
        self._action(r, "Answer the operator prompt", self.show_prompt, "Ctrl+Return")
        self._action(r, "Add marker", self.focus_marker, "Ctrl+M")
        self._action(r, "Acknowledge the loud alarms", self.acknowledge_alarms, "Ctrl+Shift+A")
        v = bar.addMenu("&View")
        for dock in self.docks.values():
            v.addAction(dock.toggleViewAction())
        v.addSeparator()
        self._action(v, "Follow the latest signal", lambda: self.trace_panel.set_follow(True),
                     "F")
        self._action(v, "Show the whole session", self.trace_panel.show_all, "Ctrl+0")
        self._action(v, "Reset layout", self.reset_layout, "Ctrl+Shift+R")
        v.addSeparator()
        v.addAction(self.bars["next"].toggleViewAction())
        themes = v.addMenu("Theme")
        group = QActionGroup(self)
        self.theme_actions: dict[str, QAction] = {}
        for name, text in (("light", "Light"), ("dark", "Dark (for a darkened room)")):
            action = QAction(text, self, checkable=True)
            action.triggered.connect(lambda _=False, n=name: self.set_theme(n))
            group.addAction(action)
            themes.addAction(action)
            self.theme_actions[name] = action
        self.sound_action = QAction("Sound for loud alarms", self, checkable=True)
        self.sound_action.setChecked(self.alarms.sound)
        self.sound_action.toggled.connect(self.set_sound)
        v.addAction(self.sound_action)
        h = bar.addMenu("&Help")
        self._action(h, "Keyboard shortcuts", self.show_shortcuts)
        space = QShortcut(QKeySequence("Space"), self)
        space.activated.connect(self.toggle_replay)

    def open_study(self):
        """The study dialog: several sessions as groups, their statistics and figure."""
        from raphe.gui.app.panels.study import StudyDialog

        return StudyDialog.show_for(self)

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
        self.alarm_banner.acknowledge_requested.connect(self.acknowledge_alarms)
        self.alarms.changed.connect(self._show_alarms)

    # -- live runs -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self.run is not None and self.run.active

    def start_run(self, setup: RunSetup | None = None) -> LiveRun | SharedLiveRun | None:
        """Start the protocol panel's run (or ``setup``): one animal, or several on one HPLC;
        errors are shown, None returned."""
        if self.running:
            return None
        try:
            setup = setup if isinstance(setup, RunSetup) else self.protocol_panel.setup()
            self._close_replay()
            self._close_run()
            run = SharedLiveRun(setup, self.model, self) if setup.shared else \
                LiveRun(setup, self.model, self)
        except InputError as exc:
            self.report_problem("Cannot start the run", str(exc))
            return None
        run.state_changed.connect(self._on_state)
        run.status_changed.connect(self._on_status)
        run.finished.connect(self._on_finished)
        for link in run.links:  # each animal's engine: its prompts and alarms name it
            link.prompt_raised.connect(lambda p, a=link.animal: self._on_prompt(p, a))
            link.prompt_closed.connect(lambda p, a=link.animal: self._on_prompt_closed(p, a))
            link.alarm_raised.connect(lambda text, a=link.animal: self._on_alarm(text, a))
            link.refused.connect(lambda text: self.report_problem("Request refused", text))
        for hook in self.run_hooks:  # e.g. the status page and notifications follow it
            hook(run)
        # a new run: nothing of the last one stays on screen (the model's reset empties the
        # plots, the rig's readings and the events when the run starts)
        self.alarms.clear()
        self.next_strip.set_plan(None if setup.shared else run.plan)
        self.protocol_panel.reset_run()
        spec = run.spec
        plan = run.lead_plan
        self.rig_panel.set_rig(getattr(spec, "syringe_volume_uL", None), plan,
                               getattr(spec, "rate_limits_uL_min", None),
                               flow=_first_flow(plan))
        self._show_animals(run if setup.shared else None)
        try:
            run.start()
            self.rig_panel.set_links("opening…")
        except InputError as exc:
            run.close()
            self.rig_panel.set_links("not opened", False)
            self.next_strip.clear("the run did not start")
            self.report_problem("Cannot start the run", str(exc))
            return None
        self.run = run
        self.protocol_panel.set_state("checking")
        self.events_panel.set_can_mark(True)
        self.rig_panel.set_can_change_flow(True)
        self.trace_panel.set_follow(True)
        where = "simulated rig" if setup.simulated else setup.rig_file
        animals = f" · {len(setup.animals)} animals" if setup.shared else ""
        self.mode_label.setText(f"live · {setup.protocol.name}{animals} on the {where} → "
                                f"{setup.out}")
        self.setWindowTitle(f"Raphe — {setup.protocol.name} → {Path(setup.out).name}")
        return run

    def _show_animals(self, run: SharedLiveRun | None) -> None:
        """The panels for a run of several animals (each in its colour), or for one."""
        views = run.views if run is not None else None
        self.rig_panel.set_animals(views)
        self.timecourse_panel.set_animals(views)
        self.trace_panel.set_animals({v.id: v.color for v in views} if views else None)
        if run is not None:
            run.animal_states.connect(self.rig_panel.set_animal_states)

    def _on_state(self, state: State) -> None:
        self.protocol_panel.set_state(state.value)
        if state is State.RUNNING and self.rig_panel.links["pump"].text() == "opening…":
            self.rig_panel.set_links("connected")
        self.statusBar().showMessage(f"run {state.value}", 5000)

    def _on_status(self, status) -> None:
        self.protocol_panel.set_status(status)
        self.next_strip.set_status(status)

    def _on_finished(self, outcome) -> None:
        self.protocol_panel.set_state(outcome.state.value if outcome else "done")
        self.protocol_panel.finished(outcome)
        self.next_strip.finished(outcome)
        if outcome is not None and outcome.state is State.FAILED and outcome.session is None:
            self.rig_panel.set_links("not opened", False)  # nothing was ever connected
        else:
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
        if self.run.paused:
            self.run.resume()
        else:
            self.run.pause()

    def ask_abort(self) -> None:
        """Abort after a confirmation; several animals: one animal off the rig, or all."""
        if not self.running:
            return
        animals = self.run.active_animals()
        choice = dialogs.ask_abort_animals(self, animals) if len(animals) > 1 else \
            (dialogs.ALL if dialogs.confirm_abort(self) else None)
        if choice == dialogs.ALL:
            self.run.abort("by the operator")
        elif choice is not None:
            self.abort_animal(choice)

    def abort_animal(self, animal: str) -> None:
        """Take ``animal`` off the rig (its pump stopped, its file closed); the others go on."""
        if self.running and animal in self.run.active_animals():
            self.run.abort(f"{animal} taken off the rig by the operator", animal=animal)
            self.statusBar().showMessage(f"{animal}: taken off the rig", 15000)

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

    # -- loud alarms -----------------------------------------------------------------------

    def _on_alarm(self, text: str, animal: str = "") -> None:
        """Every alarm goes to the status bar; a loud one (raphe.severity decides) also to the
        banner, the desktop's attention, the tray and the bell, until acknowledged. Several
        animals: an alarm about an animal's pump names it; one about a shared instrument,
        which every animal's engine raises, is shown once."""
        if self.run is not None:
            routed = self.run.route_alarm(animal, text)
            if routed is None:
                return
            animal = routed
        self.statusBar().showMessage(f"alarm: {animal + ': ' if animal else ''}{text}", 15000)
        t = self.run.session_time() if self.run is not None else float("nan")
        if self.alarms.raise_alarm(text, t, animal) is not None:
            log.warning("loud alarm: %s%s", f"{animal}: " if animal else "", text)

    def _show_alarms(self) -> None:
        pending = self.alarms.pending
        self.alarm_banner.show_alarms(pending)
        self.bars["alarms"].setVisible(bool(pending))
        self.docks["rig"].setWindowTitle("Rig — ⚠ alarm" if pending else "Rig")

    def acknowledge_alarms(self) -> None:
        """The operator saw the loud alarms: each is recorded in the session (an event and an
        audit entry, with the time) — or, once the session is closed, in the log."""
        alarms = self.alarms.take()
        if not alarms:
            return
        recorded = []
        for alarm in alarms:
            ok = self.run is not None and self.run.acknowledge(alarm.text, animal=alarm.animal)
            recorded.append(ok)
            self.alarms.acknowledged.append((alarm, time.time(), ok))
            log.warning("alarm acknowledged by the operator%s: %s",
                        "" if ok else " (the session was closed: not in its file)",
                        alarm.said)
        where = "recorded in the session" if all(recorded) else \
            "the session had closed: written in the log only"
        self.statusBar().showMessage(f"{len(alarms)} alarm(s) acknowledged ({where})", 15000)

    def set_sound(self, on: bool) -> None:
        self.alarms.set_sound(on)
        self.settings.setValue("alarms/sound", bool(on))

    # -- theme, export and print -----------------------------------------------------------

    def set_theme(self, name: str, save: bool = True) -> None:
        chosen = theme.apply(name)
        for key, action in self.theme_actions.items():
            action.setChecked(key == chosen.name)
        if save:
            self.settings.setValue("view/theme", chosen.name)

    def export_summary(self) -> None:
        from raphe.gui.app.summary import write_summary

        if self.model.history is None:
            self.report_problem("Export", "Start a run or open a session first.")
            return
        suggested = export.default_path(self.model, "summary", "pdf")
        path, selected = QFileDialog.getSaveFileName(
            self, "Export the session's summary", str(suggested),
            "PDF, one A4 page (*.pdf);;PNG image, 300 dpi (*.png);;SVG vector drawing (*.svg)")
        if not path:
            return
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix("." + selected.rsplit("*.", 1)[-1].rstrip(")"))
        try:
            write_summary(self.model, path, self.timecourse_panel.analyte)
        except (OSError, ValueError) as exc:
            self.report_problem("Export", f"{path}: {exc}")
            return
        self.statusBar().showMessage(f"summary written: {path}", 15000)

    def print_summary(self) -> None:
        from PySide6.QtPrintSupport import QPrintDialog, QPrinter

        from raphe.gui.app.summary import print_summary

        if self.model.history is None:
            self.report_problem("Print", "Start a run or open a session first.")
            return
        printer = QPrinter(QPrinter.PrinterMode.ScreenResolution)
        printer.setPageOrientation(printer.pageLayout().Orientation.Landscape)
        dialog = QPrintDialog(printer, self)
        dialog.setWindowTitle("Print the session's summary")
        if dialog.exec() != QPrintDialog.DialogCode.Accepted:
            return
        try:
            print_summary(self.model, printer, self.timecourse_panel.analyte)
        except OSError as exc:
            self.report_problem("Print", str(exc))

    # -- operator prompts ------------------------------------------------------------------

    def _on_prompt(self, prompt, animal: str = "") -> None:
        """An operator prompt (of ``animal``, in a run of several: said in its colour)."""
        key = (animal, prompt.id)
        if key in self.prompt_dialogs:
            return
        view = self.run.view(animal) if self.run is not None else None
        dialog = dialogs.PromptDialog(prompt, self, animal=animal,
                                      color=view.color if view is not None else "")
        dialog.answered.connect(lambda i, text, a=animal: self._answer(i, text, a))
        dialog.destroyed.connect(lambda *_, k=key: self.prompt_dialogs.pop(k, None))
        self.prompt_dialogs[key] = dialog
        self.protocol_panel.set_prompt(prompt)
        self.docks["protocol"].setWindowTitle("Protocol — ⚠ operator prompt")
        dialog.show()
        dialog.raise_()

    def _answer(self, prompt_id: int, text: str, animal: str = "") -> None:
        if self.run is not None:
            self.run.answer(prompt_id, text, animal)

    def _on_prompt_closed(self, prompt, animal: str = "") -> None:
        dialog = self.prompt_dialogs.pop((animal, prompt.id), None)
        if dialog is not None:
            dialog.close()
        waiting = self._open_prompts()
        self.protocol_panel.set_prompt(waiting[0][1] if waiting else None)
        if not waiting:
            self.docks["protocol"].setWindowTitle("Protocol")

    def _open_prompts(self) -> list[tuple[str, object]]:
        """The prompts waiting for the operator: (animal, prompt), oldest first."""
        if self.run is None:
            return []
        out = [(link.animal, link.engine.status().prompt) for link in self.run.links
               if not link.done]
        return sorted(((a, p) for a, p in out if p is not None), key=lambda x: x[1].wall)

    def show_prompt(self) -> None:
        """Bring the open prompt's dialog back (it may have been closed without answering);
        several animals: the oldest waiting."""
        waiting = self._open_prompts()
        if not waiting:
            return
        animal, prompt = waiting[0]
        dialog = self.prompt_dialogs.get((animal, prompt.id))
        if dialog is None:
            self._on_prompt(prompt, animal)
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
        self._show_animals(None)
        self.alarms.clear()
        self.next_strip.clear("replay (nothing scheduled)")
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
