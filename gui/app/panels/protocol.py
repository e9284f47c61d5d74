"""Protocol: choose a protocol and its parameters, see the dry run, start and steer the run.

A bundled protocol or a file; a form generated from its typed parameters; the
rig (simulated, or a rig file), the analysis method and the session file. Every
edit re-runs the dry run (milliseconds) and shows what the protocol will do or
why it cannot run, with the script's line; Start is enabled only when it can
run. Several animals on one HPLC (2–4 on the simulated rig, or a rig file's
``[[animals]]``): each parameter can be set per animal, the output is a folder
(one file per animal), and the dry run proves the animals' injections never overlap. During the run: Pause / Resume / Abort, the phase, progress and ETA, and
a banner while an operator prompt waits.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from raphe.errors import InputError
from raphe.gui.app import theme
from raphe.gui.app.animals import color
from raphe.gui.app.live_run import RunSetup, load_method
from raphe.gui.app.parameter_form import ParameterForm
from raphe.gui.app.plan_view import plan_html, shared_plan_html
from raphe.gui.app.widgets import (
    ALARM,
    Banner,
    ElidedLabel,
    NoWheelComboBox,
    NoWheelIntBox,
    NoWheelSpinBox,
    clock,
    duration,
)
from raphe.protocols.rig_spec import simulated_methods

SIMULATED = "Simulated rig"
NO_METHOD = "none (record only)"
#: The protocol shown first (when bundled): the classic experiment, not a calibration.
DEFAULT_PROTOCOL = "systemic-drug"
PROMPT_COLORS = ("#f7dc6f", "#000")
#: Animals one simulated HPLC serves at most (``raphe.protocols.animals.MAX_ANIMALS``).
MAX_SIM_ANIMALS = 4


class ProtocolPanel(QWidget):
    """See the module docstring."""

    start_requested = Signal()
    pause_requested = Signal()
    resume_requested = Signal()
    abort_requested = Signal()
    answer_requested = Signal()  # reopen the open prompt's dialog

    def __init__(self, parent: QWidget | None = None, folder: str | Path | None = None) -> None:
        super().__init__(parent)
        from raphe.acquisition.analysis.method import bundled_methods
        from raphe.protocols.protocol import bundled_protocols

        self.folder = Path(folder or os.getcwd())
        self.protocol = None
        self.plan = None
        self.problem = ""
        self.running = False
        self.extra: dict = {}  # RunSetup fields a command presets (auto_answer, on_alarm, seed)
        #: the simulated HPLC's assays → the method that quantifies each: several animals
        #: switch to the fast assay's method
        self.sim_methods: dict[str, str] = simulated_methods()
        #: the animals a rig file declares (its ``[[animals]]``)
        self.rig_animals: list[str] = []
        #: put in new sessions' names (several rigs in one window: the rig's, so two runs
        #: started in the same second never take the same name)
        self.name_tag = ""
        #: what was typed in each protocol's form (restored when it is chosen again), and the
        #: latest value typed for each parameter name (carried to another protocol's field of
        #: the same name and unit)
        self._typed: dict[str, dict] = {}
        self._last: dict[tuple[str, str], object] = {}
        self._key = ""
        # -- protocol
        self.protocol_box = NoWheelComboBox()
        self.protocol_box.addItems(bundled_protocols())
        if self.protocol_box.findText(DEFAULT_PROTOCOL) >= 0:
            self.protocol_box.setCurrentText(DEFAULT_PROTOCOL)
        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("Open a protocol file (.py) (Ctrl+Shift+O)")
        self.description = QLabel("")
        self.description.setWordWrap(True)
        theme.mute(self.description)
        self.form = ParameterForm()
        # -- rig, method, session
        self.rig_box = NoWheelComboBox()
        self.rig_box.addItem(SIMULATED)
        self.rig_button = QPushButton("Rig file…")
        self.speed = NoWheelSpinBox()
        self.speed.setRange(1.0, 1000.0)
        self.speed.setDecimals(0)
        self.speed.setValue(60.0)
        self.speed.setSuffix("× real time")
        self.speed.setToolTip("The simulated rig's clock runs this many times faster")
        self.animals_box = NoWheelIntBox()
        self.animals_box.setRange(1, MAX_SIM_ANIMALS)
        self.animals_box.setSpecialValueText("1 (one animal)")
        self.animals_box.setToolTip("Animals sharing the simulated HPLC through a stream "
                                    "selector, each with its own pump and file (a rig file "
                                    "declares its own [[animals]])")
        self.method_box = NoWheelComboBox()
        self.method_box.addItems([*bundled_methods(), NO_METHOD])
        self.method_button = QPushButton("Method…")
        self.out_edit = QLineEdit()
        self.out_button = QPushButton("…")
        self.operator = QLineEdit()
        self.animal = QLineEdit()
        self.notes = QLineEdit()
        # -- dry run and controls
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("Start the run (Ctrl+R)")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip("Hold the schedule; perfusion and acquisition go on "
                                     "(Ctrl+P)")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Resume the schedule (Ctrl+P)")
        self.abort_button = QPushButton("Abort…")
        self.abort_button.setToolTip("Stop now: every instrument to its safe state (asks first)")
        self.abort_button.setStyleSheet(
            f"QPushButton:enabled {{ color: {ALARM}; font-weight: bold; }}")
        #: why Start is disabled, next to it (the dry run's details are further down)
        self.start_problem = QLabel("")
        self.start_problem.setWordWrap(True)
        self.start_problem.setTextFormat(Qt.TextFormat.PlainText)
        self.start_problem.setStyleSheet(f"color: {ALARM};")
        self.start_problem.setMinimumWidth(60)
        self.start_problem.setVisible(False)
        self.state_label = QLabel("idle")
        self.state_label.setStyleSheet("font-weight: bold;")
        self.phase_label = ElidedLabel("")
        self.step_label = ElidedLabel("")
        self.progress = QProgressBar()
        self.progress.setFormat("sample %v of %m")
        self.eta_label = ElidedLabel("", min_width=60)
        self.eta_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.prompt_banner = Banner(*PROMPT_COLORS)
        self.prompt_banner.setVisible(False)
        self._ends_at: float | None = None
        self._layout()
        self._check_timer = QTimer(self)
        self._check_timer.setSingleShot(True)
        self._check_timer.setInterval(150)
        self._check_timer.timeout.connect(self.check)
        self.protocol_box.currentTextChanged.connect(lambda name: self.load(name))
        self.form.changed.connect(self._remember)
        self.open_button.clicked.connect(self.open_protocol)
        self.rig_button.clicked.connect(self.open_rig)
        self.method_button.clicked.connect(self.open_method)
        self.out_button.clicked.connect(self.choose_out)
        self.rig_box.currentTextChanged.connect(self._rig_changed)
        self.animals_box.valueChanged.connect(lambda _: self._animals_changed())
        for signal in (self.form.changed, self.method_box.currentTextChanged,
                       self.speed.valueChanged):
            signal.connect(self.schedule_check)
        self.start_button.clicked.connect(self.start_requested)
        self.pause_button.clicked.connect(self.pause_requested)
        self.resume_button.clicked.connect(self.resume_requested)
        self.abort_button.clicked.connect(self.abort_requested)
        self.prompt_banner.clicked.connect(self.answer_requested)
        theme.notifier().changed.connect(self._restyle)
        self.set_state("idle")
        if self.protocol_box.count():
            self.load(self.protocol_box.currentText())

    def _layout(self) -> None:
        inner = QWidget()
        v = QVBoxLayout(inner)
        v.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        row.addWidget(self.protocol_box, 1)
        row.addWidget(self.open_button)
        v.addLayout(row)
        v.addWidget(self.description)
        params = QGroupBox("Parameters")
        QVBoxLayout(params).addWidget(self.form)
        v.addWidget(params)
        setup = QGroupBox("Rig and session")
        form = QFormLayout(setup)
        form.addRow("rig", self._pair(self.rig_box, self.rig_button))
        form.addRow("clock", self.speed)
        form.addRow("animals", self.animals_box)
        form.addRow("analysis", self._pair(self.method_box, self.method_button))
        self.out_label = QLabel("session file")
        form.addRow(self.out_label, self._pair(self.out_edit, self.out_button))
        form.addRow("operator", self.operator)
        form.addRow("animal ID", self.animal)
        form.addRow("notes", self.notes)
        v.addWidget(setup)
        plan = QGroupBox("Dry run")
        QVBoxLayout(plan).addWidget(self.summary)
        v.addWidget(plan)
        v.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        controls = QGroupBox("Run")
        c = QVBoxLayout(controls)
        c.setContentsMargins(6, 4, 6, 4)
        c.setSpacing(3)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.pause_button, self.resume_button, self.abort_button):
            buttons.addWidget(b)
        c.addLayout(buttons)
        c.addWidget(self.start_problem)
        status = QHBoxLayout()
        status.addWidget(self.state_label)
        status.addWidget(self.phase_label, 1)
        status.addWidget(self.eta_label, 1)
        c.addLayout(status)
        c.addWidget(self.progress)
        c.addWidget(self.step_label)
        c.addWidget(self.prompt_banner)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(controls)
        outer.addWidget(scroll, 1)

    @staticmethod
    def _pair(a: QWidget, b: QWidget) -> QWidget:
        w = QWidget()
        h = QHBoxLayout(w)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(a, 1)
        h.addWidget(b)
        return w

    # -- choosing --------------------------------------------------------------------------

    def load(self, name_or_path: str | Path, values: dict | None = None) -> bool:
        """Load a protocol (bundled name or file) into the form; False (and the error shown)
        when it cannot be loaded."""
        from raphe.protocols.protocol import load_protocol

        try:
            protocol = load_protocol(name_or_path)
        except InputError as exc:
            self.protocol = None
            self.plan = None
            self.problem = str(exc)
            self.description.setText("")
            self.form.set_parameters([])
            self.summary.setText(f"<p style='color:{ALARM}'>{exc}</p>")
            self._enable()
            return False
        self.protocol = protocol
        text = str(name_or_path)
        if values is None:
            values = self._remembered(text, protocol.parameters)
        if self.protocol_box.findText(text) < 0:
            self.protocol_box.blockSignals(True)
            self.protocol_box.addItem(text)
            self.protocol_box.blockSignals(False)
        self.protocol_box.blockSignals(True)
        self.protocol_box.setCurrentText(text)
        self.protocol_box.blockSignals(False)
        doc = protocol.doc.split("\n\n")[0].replace("\n", " ")
        self.description.setText(f"<b>{protocol.name}</b> — {doc}")
        self._key = ""  # nothing to remember while the form is being filled
        self.form.set_parameters(protocol.parameters, values)
        self._key = text
        self.check()
        return True

    def _restyle(self, _theme=None) -> None:
        """The dry run's colours and the state's, in the new theme."""
        if self.plan is not None:
            self.summary.setText(self._plan_text())
        self._color_state()

    def _remembered(self, key: str, parameters) -> dict:
        """The values to fill a protocol's form with: what was typed in it before, else what
        was typed for a parameter of the same name and unit in another protocol."""
        own = self._typed.get(key, {})
        out = {}
        for p in parameters:
            if p.name in own:
                out[p.name] = own[p.name]
            elif (p.name, p.unit) in self._last:
                out[p.name] = self._last[(p.name, p.unit)]
        return out

    def _remember(self) -> None:
        if not self._key or self.protocol is None:
            return
        raw = self.form.raw_values()
        self._typed[self._key] = raw
        defaults = {p.name: p for p in self.protocol.parameters}
        for name, value in raw.items():
            p = defaults.get(name)
            if p is None:
                continue
            if isinstance(value, str) and value.strip() in ("", str(p.default),
                                                            f"{p.default:g}" if isinstance(
                                                                p.default, float) else ""):
                self._last.pop((name, p.unit), None)  # back to the default: carry nothing
            elif value != p.default:
                self._last[(name, p.unit)] = value

    def open_protocol(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a protocol", str(self.folder),
                                              "Protocols (*.py)")
        if path:
            self.load(path)

    def open_rig(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a rig file", str(self.folder),
                                              "Rig files (*.toml)")
        if path:
            self.set_rig(path)

    def open_method(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open an analysis method", str(self.folder),
                                              "Methods (*.toml)")
        if path:
            self.set_method(path)

    def choose_out(self) -> None:
        if self.animal_ids:
            path, _ = QFileDialog.getSaveFileName(self, "New folder for the animals' files",
                                                  str(self.folder / self.default_name()))
        else:
            path, _ = QFileDialog.getSaveFileName(self, "New session file",
                                                  str(self.folder / self.default_name()),
                                                  "Sessions (*.h5)")
        if path:
            self.out_edit.setText(path)

    def set_rig(self, rig_file: str | None, speed: float | None = None) -> None:
        """The simulated rig (``None``) or a rig file."""
        text = SIMULATED if rig_file is None else str(rig_file)
        if self.rig_box.findText(text) < 0:
            self.rig_box.addItem(text)
        self.rig_box.setCurrentText(text)
        if speed is not None:
            self.speed.setValue(float(speed))
        self._rig_changed(text)

    def set_method(self, method: str | None) -> None:
        text = method or NO_METHOD
        if self.method_box.findText(text) < 0:
            self.method_box.addItem(text)
        self.method_box.setCurrentText(text)

    def _rig_changed(self, text: str) -> None:
        self.speed.setEnabled(text == SIMULATED)
        self.rig_animals = []
        if text != SIMULATED:
            from raphe.drivers.rig_file import load_rig

            try:
                self.rig_animals = [a.id for a in load_rig(text).animals]
            except (InputError, OSError):  # the dry run says what is wrong with it
                self.rig_animals = []
        self._animals_changed()

    # -- several animals -------------------------------------------------------------------

    @property
    def animal_ids(self) -> list[str]:
        """The animals of a run of several on one HPLC (``[]``: one animal): the rig file's,
        or A1 … An on the simulated rig."""
        if self.rig_file is not None:
            return list(self.rig_animals)
        n = int(self.animals_box.value())
        return [f"A{k + 1}" for k in range(n)] if n > 1 else []

    def set_animals(self, n: int) -> None:
        """``n`` animals on the simulated HPLC."""
        self.animals_box.setValue(int(n))
        self._animals_changed()

    def apply_assignments(self, items: list[str]) -> None:
        """Fill the form as ``--set`` does: ``NAME=VALUE`` for every animal,
        ``A2:NAME=VALUE`` for one (its field set apart). Raises :class:`InputError`."""
        from raphe.protocols.animals import split_assignments

        ids = self.animal_ids
        for item in items:
            given = split_assignments([item], ids or ["this animal"])
            named = {a: v for a, v in given.items() if v}
            (name, value), = next(iter(named.values())).items()
            try:
                if len(named) == len(given):  # every animal's
                    self.form.set_value(name, value)
                else:
                    self.form.set_animal_value(next(iter(named)), name, value)
            except KeyError:
                raise InputError(f"--set {item!r}: {self.protocol.name if self.protocol else ''}"
                                 f" has no parameter {name!r}") from None
        self.schedule_check()

    @property
    def sim_assay(self) -> str:
        """The simulated HPLC's assay: the one the method quantifies, else fast for several
        animals."""
        chosen = {m: a for a, m in self.sim_methods.items()}.get(self.method or "")
        return chosen or ("fast" if self.animal_ids else "standard")

    def _animals_changed(self) -> None:
        ids = self.animal_ids
        self.form.set_animals([(a, color(k)) for k, a in enumerate(ids)])
        self.out_label.setText("output folder" if ids else "session file")
        self.out_edit.setPlaceholderText("<protocol>-<date>-<time>/ (one file per animal)"
                                         if ids else "")
        if self.rig_file is None and self.sim_methods:  # the assay several animals share
            want = self.sim_methods.get("fast" if ids else "standard")
            if want and self.method in self.sim_methods.values() and self.method != want:
                self.set_method(want)
        self._enable()
        self.schedule_check()

    @property
    def rig_file(self) -> str | None:
        text = self.rig_box.currentText()
        return None if text == SIMULATED else text

    @property
    def method(self) -> str | None:
        text = self.method_box.currentText()
        return None if text == NO_METHOD else text

    def default_name(self) -> str:
        """A new session file's name — or, for several animals, their folder's."""
        stem = Path(self.protocol.path).stem if self.protocol else "session"
        if self.name_tag:
            stem = f"{stem}-{self.name_tag}"
        return time.strftime(f"{stem}-%Y%m%d-%H%M%S" + ("" if self.animal_ids else ".h5"))

    # -- the dry run -----------------------------------------------------------------------

    def schedule_check(self, *_) -> None:
        self._check_timer.start()

    def setup(self, out: Path | None = None) -> RunSetup:
        """The run the panel describes (raises :class:`InputError` when it cannot start)."""
        if self.protocol is None:
            raise InputError(self.problem or "choose a protocol first")
        errors = self.form.errors()
        if errors:
            name, message = next(iter(errors.items()))
            raise InputError(f"parameter {name}: {message}")
        if out is None:
            text = self.out_edit.text().strip()
            out = Path(text) if text else self.folder / self.default_name()
        fields = {"seed": 0, "auto_answer": False, "on_alarm": "pause", **self.extra}
        ids = self.animal_ids
        animals = None
        if ids:
            values = self.form.animal_values()
            animals = {a: values.get(a, self.form.values()) for a in ids}
        return RunSetup(protocol=self.protocol, given=self.form.values(), out=Path(out),
                        rig_file=self.rig_file, speed=float(self.speed.value()),
                        method=self.method, operator=self.operator.text().strip(),
                        animal_id="" if ids else self.animal.text().strip(),
                        notes=self.notes.text().strip(), animals=animals,
                        assay=self.sim_assay, **fields)

    def check(self):
        """Run the dry run for the form as it is; show and return the plan (None: refused).
        Several animals: every animal's, in its slot on the one HPLC."""
        from raphe.protocols.engine import Engine
        from raphe.protocols.shared_run import SharedEngine

        self.plan = None
        self.problem = ""
        try:
            setup = self.setup(out=Path(os.devnull))
            settings = setup.settings(load_method(setup.method))
            if setup.shared:
                self.plan = SharedEngine(setup.protocol, setup.animals, settings).check()
            else:
                self.plan = Engine(setup.protocol, setup.given, settings).check()
        except InputError as exc:
            self.problem = str(exc)
        if self.plan is not None:
            self.summary.setText(self._plan_text())
            if not self.plan.ok:
                errors = self.plan.first_errors
                self.problem = str(errors[0]) if errors else "see the dry run below"
        else:
            self.summary.setText(f"<p style='color:{ALARM}'>{self.problem}</p>")
        self._enable()
        return self.plan

    def _plan_text(self) -> str:
        speed = self.speed.value() if self.rig_file is None else None
        if hasattr(self.plan, "animals"):
            colors = {a: color(k) for k, a in enumerate(self.animal_ids)}
            return shared_plan_html(self.plan, colors, speed)
        return plan_html(self.plan, speed)

    def why_not(self) -> str:
        """Why Start is disabled, in one line (empty when it is not)."""
        if self.protocol is None:
            return f"Cannot start: {self.problem or 'choose a protocol'}"
        if self.problem:
            return f"Cannot start: {self.problem}"
        if self.plan is None or not self.plan.ok:
            return "Cannot start: see the dry run below"
        return ""

    @property
    def can_start(self) -> bool:
        return not self.running and self.plan is not None and self.plan.ok and not self.problem

    # -- the run ---------------------------------------------------------------------------

    def set_state(self, state: str) -> None:
        """Buttons and the form follow the engine's state."""
        self.running = state in ("checking", "running", "paused", "stopping")
        if state == "checking":  # a new run: nothing of the last one stays
            self.reset_run()
        self.state_label.setText(state)
        self._color_state()
        self._enable(state)

    def _color_state(self) -> None:
        color = {"running": "#1e8449", "paused": "#b9770e", "stopping": ALARM,
                 "failed": ALARM}.get(self.state_label.text(), theme.current().text)
        self.state_label.setStyleSheet(f"font-weight: bold; color: {color};")

    def _enable(self, state: str | None = None) -> None:
        state = state or self.state_label.text()
        self.start_button.setEnabled(self.can_start)
        why = "" if self.running or self.can_start else self.why_not()
        self.start_problem.setText(why)
        self.start_problem.setToolTip(why)
        self.start_problem.setVisible(bool(why))
        self.pause_button.setEnabled(state == "running")
        self.resume_button.setEnabled(state == "paused")
        self.abort_button.setEnabled(state in ("running", "paused"))
        for w in (self.protocol_box, self.open_button, self.form, self.rig_box, self.rig_button,
                  self.speed, self.method_box, self.method_button, self.out_edit,
                  self.out_button, self.operator, self.animal, self.notes, self.animals_box):
            w.setEnabled(not self.running)
        if not self.running:
            self.speed.setEnabled(self.rig_file is None)
            self.animals_box.setEnabled(self.rig_file is None)
            self.animal.setEnabled(not self.animal_ids)

    def reset_run(self) -> None:
        """Forget the last run's progress, step, end and colours."""
        self.phase_label.setText("")
        self.eta_label.setText("")
        self.step_label.setText("")
        self.step_label.setStyleSheet("")
        self.progress.setMaximum(1)
        self.progress.setValue(0)
        self._ends_at = None
        self.set_prompt(None)

    def set_status(self, s) -> None:
        """A ``raphe.protocols.engine.Status`` snapshot."""
        if not self.running:
            return  # a late snapshot of a run that has ended says nothing new
        self.phase_label.setText(f"phase {s.phase}" if s.phase else "")
        total = max(s.samples_total, s.samples_done)
        self.progress.setMaximum(max(total, 1))
        self.progress.setValue(min(s.samples_done, max(total, 1)))
        # the end as a clock time, true through pauses (the engine adds the pause so far)
        self._ends_at = s.ends_at
        end = ""
        if s.ends_at is not None:
            left = max(0.0, s.ends_at - time.time())
            end = f" · ends {clock(s.ends_at)} (in " + \
                (f"{left:.0f} s)" if left < 90 else f"{duration(left)})")
        elif s.eta_s is None and s.state in ("running", "paused") and s.duration_s == float("inf"):
            end = " · until stopped"
        self.eta_label.setText(f"{s.t / 60:.1f} min{end}")
        why = "; ".join(s.paused_because)
        self.step_label.setText(s.step + (f"\n{why}" if why else ""))

    def set_prompt(self, prompt) -> None:
        """Show (or, with None, hide) the banner of an open operator prompt."""
        if prompt is None:
            self.prompt_banner.setVisible(False)
            return
        self.prompt_banner.setText(f"⚠ Waiting for the operator since {clock(prompt.wall)} "
                                   f"({prompt.t / 60:.1f} min): {prompt.text} — click to answer")
        self.prompt_banner.setVisible(True)

    def finished(self, outcome) -> None:
        ok = outcome is not None and outcome.exit_code == 0
        text = outcome.message if outcome is not None else "stopped"
        if outcome is not None and outcome.session is not None and outcome.session.exists():
            what = "files written in" if outcome.session.is_dir() else "session written:"
            text += f" — {what} {outcome.session}"
        self.step_label.setText(text)
        self.step_label.setStyleSheet("" if ok else f"color: {ALARM};")
        self.eta_label.setText(f"ended {clock(time.time())}")
        self._ends_at = None
        self.set_prompt(None)
        self.out_edit.clear()  # a session is never overwritten: the next run gets a new name
        self.check()
