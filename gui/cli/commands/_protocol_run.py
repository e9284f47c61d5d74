"""Shared by ``raphe run``, ``record`` and ``demo``: build an engine from the options, run it
with a live progress display, Ctrl-C and operator prompts on the console, print a summary.

Imported by the commands inside ``run()`` only (it imports the engine)."""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from raphe.errors import InputError


def format_result(r) -> str:
    """One line of the console's results table."""
    conc = "     n/a" if math.isnan(r.conc_nM) else f"{r.conc_nM:8.3f}"
    amount = "    n/a" if math.isnan(r.amount_fmol) else f"{r.amount_fmol:7.2f}"
    pct = "     n/a" if math.isnan(r.pct_baseline) else f"{r.pct_baseline:7.1f}%"
    rt = "   n/a" if math.isnan(r.rt_s) else f"{r.rt_s:6.1f}"
    flags = f"  [{r.flags}]" if r.flags else ""
    corrected = getattr(r, "conc_corrected_nM", math.nan)
    extra = f"  {corrected:.3f} nM recovery-corrected" if math.isfinite(corrected) else ""
    return (f"{r.sample_id:>10}  {r.inject_t / 60:7.1f}  {r.analyte:>6}  {rt}  {conc}  {amount}"
            f"  {pct}{flags}{extra}")


RESULT_HEADER = "    sample  inj min  analyte  RT s   conc nM  amt fmol  % basal  flags"


def add_session_options(parser: argparse.ArgumentParser, *, method_help: str,
                        analysis: bool = False) -> None:
    """The session's options; with ``analysis`` also ``--no-analysis``, ``--calibration``
    and ``--recovery`` (``raphe run`` and ``raphe record``)."""
    parser.add_argument("--method", metavar="METHOD", help=method_help)
    if analysis:
        parser.add_argument("--no-analysis", action="store_true",
                            help="record only: no chromatogram is quantified")
        parser.add_argument("--calibration", metavar="SESSION",
                            help="take the calibration from this session (the last good fit "
                                 "of each analyte the method calibrates); stored in the new "
                                 "session with its standards")
        parser.add_argument("--recovery", metavar="SESSION",
                            help="apply the probe recovery measured in this probe-recovery "
                                 "session: recovery-corrected concentrations beside the "
                                 "dialysate ones")
    parser.add_argument("--operator", default="", help="who runs the experiment")
    parser.add_argument("--animal", default="", help="animal ID")
    parser.add_argument("--notes", default="", help="free text stored in the session")


def check_out_path(out: str) -> Path:
    """The session path to create: refused (before anything starts) if it exists."""
    from raphe.files import new_file

    return new_file(out, "session")


def load_method_option(name: str | None, *, calibration: str | None = None,
                       recovery: str | None = None):
    from raphe.acquisition.analysis.method import load_live_method

    return load_live_method(name, calibration=calibration, recovery=recovery)


#: The simulated rig's own assay: its default method.
SIMULATED_METHOD = "simulated-5ht"


def rig_default_method(rig_file: str) -> str | None:
    """The analysis method a rig file names as its default: ``[rig] method = "..."`` (a
    bundled name, or a TOML file relative to the rig file), else ``simulated-5ht`` for a
    rig file of Raphe's simulators (``[rig] simulated = true``); None when it names none.
    A rig file that cannot be read is refused here with its own message."""
    from raphe.drivers.rig_file import load_rig

    path = Path(rig_file)
    rig = load_rig(path).rig
    method = str(rig.get("method", "")).strip()
    if method:
        if "/" in method or "\\" in method or method.endswith(".toml"):
            named = Path(method)
            return str(named if named.is_absolute() else path.parent / named)
        return method
    if rig.get("simulated"):
        return SIMULATED_METHOD
    return None


def choose_method(args: argparse.Namespace, console=None):
    """The method ``raphe run``/``record`` quantify with (None: ``--no-analysis``):
    ``--method``, else the rig's default (``simulated-5ht`` on ``--sim``; a rig file's
    ``method`` key), else refused in one line: nothing is started, no file is created."""
    calibration, recovery = getattr(args, "calibration", None), getattr(args, "recovery", None)
    if getattr(args, "no_analysis", False):
        given = [flag for flag, value in (("--method", args.method),
                                          ("--calibration", calibration),
                                          ("--recovery", recovery)) if value]
        if given:
            raise InputError(f"--no-analysis records without quantifying: {given[0]} "
                             "does not go with it")
        if console is not None:
            console.print("no analysis (--no-analysis): chromatograms are recorded, "
                          "not quantified")
        return None
    name, default = args.method, None
    if not name:
        if getattr(args, "sim", False):
            from raphe.gui.cli.commands._sim_options import sim_method

            name = default = sim_method(args)
        else:
            name = default = rig_default_method(args.rig)
            if name is None:
                _check_rig_first(args.rig)
                raise InputError(
                    f"{args.rig} names no analysis method: pass --method METHOD (a bundled "
                    "name or a TOML file), or --no-analysis to record without quantifying "
                    "(a rig file can name its default: [rig] method = \"...\")")
    method = load_method_option(name, calibration=calibration, recovery=recovery)
    if default is not None and console is not None:
        console.print(f"method: {method.name} (the rig's default; --method to choose another)")
    return method


def _check_rig_first(rig_file: str) -> None:
    """A rig file's own errors (unknown key, no detector …) before the missing method."""
    from raphe.protocols.rig_spec import spec_for

    spec, config = spec_for(rig_file, None)
    if "detector" not in spec.roles:
        raise InputError(f"{config.source}: the rig has no [detector]: nothing to record")


def recovery_warnings(method, flow_uL_min, command: str) -> None:
    """One line on stderr when the method's probe recovery was measured at another flow."""
    from raphe.acquisition.analysis.recovery import flow_warnings

    recovery = getattr(method, "recovery", None) or {}
    try:
        flow = float(flow_uL_min)
    except (TypeError, ValueError):
        return
    for line in flow_warnings(recovery, flow):
        print(f"raphe {command}: warning: {line}", file=sys.stderr, flush=True)


def sim_options(args: argparse.Namespace):
    """``SimOptions`` from the simulated-rig options; bad values become one InputError."""
    from raphe.gui.cli.commands._sim_options import rig_options
    from raphe.protocols.rig_spec import SimOptions

    o = rig_options(args)
    return SimOptions(speed=o.speed, seed=o.seed, region=o.region, doses=o.doses,
                      history=o.history, ground_truth_path=o.ground_truth_path,
                      assay=o.assay)


def checked(engine, console, flags: dict[str, str] | None = None):
    """The dry run: its first error as one InputError (``flags`` rename parameters to the
    options that set them), its warnings on the console; returns the plan."""
    plan = engine.check()
    if not plan.ok:
        message = str(plan.errors[0])
        for name, flag in (flags or {}).items():
            message = message.replace(f"parameter {name}", flag)
        raise InputError(message)
    from rich.text import Text

    for w in plan.warnings:  # a warning quotes the protocol (labels, names): as it is
        console.print(Text.assemble(("warning:", "yellow"), f" {w}"), highlight=False)
    return plan


def follow(engine, console, command: str, *, stop_is_normal: bool = False):
    """Run the checked engine in the foreground and print how it ended; returns the outcome
    (a run refused when opening the rig is one InputError)."""
    from raphe.protocols.engine import EXIT_REFUSED

    started = time.monotonic()
    outcome = execute(engine, console, stop_is_normal=stop_is_normal)
    if outcome.exit_code == EXIT_REFUSED:
        raise InputError(outcome.message)
    summary(outcome, console, started, command)
    return outcome


#: How a pause is resumed, and a prompt answered, when the run has no terminal to ask on
#: (``raphe control``, the control channel for headless runs, is to be named here once it
#: is in place).
RESUME_ELSEWHERE = "resume from another shell: raphe control {session} resume (or abort)"
ANSWER_ELSEWHERE = "answer from another shell: raphe control {session} answer [TEXT]"
#: What an operator may lift at a pause (a lost link resumes by itself once it is back).
_RESUMABLE = ("operator", "perfusion")


def execute(engine, console, *, stop_is_normal: bool = False) -> Any:
    """Run ``engine`` in the foreground: progress, prompts, Ctrl-C; returns the outcome.

    Ctrl-C once pauses the schedule (perfusion and acquisition go on) and asks what to do;
    twice aborts to the safe state. SIGTERM aborts. For an open-ended recording
    (``stop_is_normal``) Ctrl-C and SIGTERM end it normally. A pause the operator must lift
    (Ctrl-C, perfusion stopped with ``on_alarm="pause"``) asks resume or abort on a
    terminal; without one it says how it can end. Questions wait on a thread: the console
    goes on printing alarms and results meanwhile, and the question stays on screen.
    """
    from raphe.protocols.engine import State

    interactive = sys.stdin is not None and sys.stdin.isatty()
    presses = [0]

    def on_sigint(signum, frame):
        presses[0] += 1
        if stop_is_normal or presses[0] >= 2 or engine.state is State.PAUSED and not interactive:
            engine.request_abort("stopped by Ctrl-C" if stop_is_normal else "aborted by Ctrl-C")
            if presses[0] >= 2:
                raise KeyboardInterrupt
        else:
            engine.request_pause("operator (Ctrl-C)")

    def on_sigterm(signum, frame):
        engine.request_abort("stopped by SIGTERM" if stop_is_normal else "aborted by SIGTERM")

    saved = {}
    if threading.current_thread() is threading.main_thread():
        saved = {signal.SIGINT: signal.signal(signal.SIGINT, on_sigint),
                 signal.SIGTERM: signal.signal(signal.SIGTERM, on_sigterm)}
        if interactive and hasattr(signal, "SIGTTIN"):
            # A job moved to the background that reads its terminal gets an error, instead
            # of being stopped (acquisition with it).
            saved[signal.SIGTTIN] = signal.signal(signal.SIGTTIN, signal.SIG_IGN)
    display = _Display(console, engine)
    answers = _Answers(sys.stdin.fileno()) if interactive else None
    try:
        engine.start()
        asking: tuple | None = None  # ("prompt", id) or ("pause",): the open question
        told: tuple | None = None  # the pause or prompt already explained (no terminal)
        while True:
            try:  # a second Ctrl-C raises anywhere here: abort, then wait for the safe state
                if engine.wait(0.25):
                    break
                display.update()
                status = engine.status()
                causes = _resumable(engine) if engine.state is State.PAUSED else ()
                want = (("prompt", status.prompt.id) if status.prompt is not None
                        else ("pause",) if causes else None)
                if answers is None:  # no terminal: say once how this can end
                    if want is not None and want != told:
                        display.say(_headless_text(status, causes, stop_is_normal,
                                                   str(engine.settings.out)))
                    told = want
                    continue
                if asking is not None and want != asking:  # answered or lifted elsewhere
                    display.end_question("(no longer waiting for an answer)")
                    asking = None
                if asking is None and want is not None:
                    asking = want
                    answers.clear()
                    display.ask(_question(status, causes))
                if asking is None:
                    continue
                line = answers.get()
                if line is None:
                    continue
                if line is EOF:
                    raise EOFError
                display.end_question(answered=True)
                question, asking = asking, None
                choice = line.strip().lower()
                if question[0] == "prompt":
                    engine.answer(question[1], line.strip() or "yes")
                elif choice.startswith("a"):
                    engine.request_abort("aborted by the operator")
                elif not choice or choice.startswith("r"):
                    presses[0] = 0
                    engine.request_resume()
                else:  # asked again on the next pass: the pause goes on
                    display.say(f"{line.strip()!r}: type r to resume or a to abort")
            except (KeyboardInterrupt, EOFError) as exc:
                display.end_question()
                asking = None
                engine.request_abort("aborted by Ctrl-C" if isinstance(exc, KeyboardInterrupt)
                                     else "aborted (end of input on the terminal)")
        display.update()
        display.close()
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
    return engine.outcome


def _resumable(engine) -> tuple[str, ...]:
    """The causes of the pause the operator may lift (none while a lost link holds it
    alone: it resumes when the instrument is back)."""
    control = engine.control
    if control is None:
        return ()
    return tuple(c for c in _RESUMABLE if control.has(c))


def _pause_text(status, causes: tuple[str, ...]) -> str:
    why = "; ".join(status.paused_because) or "paused"
    goes_on = ("acquisition goes on" if "perfusion" in causes
               else "perfusion and acquisition go on")
    return f"{why if why.startswith('paused') else 'paused: ' + why}; {goes_on}"


def _question(status, causes: tuple[str, ...]):
    """The question a terminal is asked: the operator's prompt, or resume/abort."""
    from rich.text import Text

    if status.prompt is not None:
        return Text.assemble(("operator:", "bold"), " ", status.prompt.text,
                             "\n  (Enter to confirm, or type an answer) > ")
    return Text.assemble((_pause_text(status, causes), "bold"),
                         "\n  [r]esume or [a]bort? > ")


def _headless_text(status, causes: tuple[str, ...], stop_is_normal: bool,
                   session: str = "") -> str:
    """What a run without a terminal says at a pause or a prompt: how it can end."""
    ends = ("Ctrl-C stops the recording" if stop_is_normal
            else "Ctrl-C aborts (instruments to their safe state)")
    session = session or "SESSION"
    if status.prompt is not None:
        return (f"operator: {status.prompt.text} -- waiting for the answer (no terminal "
                f"here): {ANSWER_ELSEWHERE.format(session=session)}; {ends}")
    return f"{_pause_text(status, causes)}. {ends}; {RESUME_ELSEWHERE.format(session=session)}"


#: What :meth:`_Answers.get` returns when the terminal's input ended (Ctrl-D).
EOF = object()


class _Answers:
    """Lines typed on the terminal, read on a thread (from the file descriptor: no Python
    buffer a thread could hold at exit), so the console goes on while a question waits."""

    def __init__(self, fd: int) -> None:
        import queue

        self.fd = fd
        self.lines: queue.SimpleQueue = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self.ensure_reading()

    def ensure_reading(self) -> None:
        if self.thread is None or not self.thread.is_alive():
            self.thread = threading.Thread(target=self._read, name="raphe-answers",
                                           daemon=True)
            self.thread.start()

    def _foreground(self) -> bool:
        """Whether this process may read the terminal (a job put in the background with
        ``&`` or ``bg`` must not: the read would stop the whole process, acquisition too)."""
        import os

        pgrp = getattr(os, "tcgetpgrp", None)
        try:
            return pgrp is None or pgrp(self.fd) == os.getpgrp()
        except OSError:  # not this process's controlling terminal: no job control on it
            return True

    def _read(self) -> None:
        import os

        pending = b""
        while True:
            if not self._foreground():
                time.sleep(0.25)
                continue
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:  # moved to the background meanwhile (SIGTTIN is ignored)
                time.sleep(0.25)
                continue
            if not chunk:  # Ctrl-D, or the terminal is gone
                self.lines.put(EOF)
                return
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                self.lines.put(line.decode("utf-8", "replace").rstrip("\r"))

    def clear(self) -> None:
        """Forget what was typed before the question was asked."""
        import queue

        while True:
            try:
                self.lines.get_nowait()
            except queue.Empty:
                break
        self.ensure_reading()

    def get(self):
        """A line typed since the question was asked, ``EOF``, or None (nothing yet)."""
        import queue

        try:
            return self.lines.get_nowait()
        except queue.Empty:
            return None


class _Display:
    """The console while a run goes on: a status line (terminal) and a line per result,
    drug and alarm. Every text that comes from the user or the protocol (prompts, alarms,
    phases, labels) is printed as it is, never read as Rich markup. While a question waits
    the status line is off (it would erase it); what is printed meanwhile goes above the
    question, which is printed again below it."""

    def __init__(self, console, engine) -> None:
        import collections

        self.console = console
        self.engine = engine
        self.printed = 0
        self.last_line = -1.0
        self.tty = console.is_terminal and sys.stdout.isatty()
        self.live = None
        self.asking = None  # the question on screen, if any
        self._below = False  # the cursor has left the question's line (printed below it)
        #: (session time, text) of every alarm, timed when the engine raised it
        self.alarms: collections.deque = collections.deque()
        engine.subscribe(self._on_engine)
        self._start_live()

    def _on_engine(self, kind: str, payload) -> None:
        if kind == "alarm":  # on the engine's threads: timed now, printed by update()
            self.alarms.append((self.engine.session_time(), str(payload)))

    def _start_live(self) -> None:
        if self.tty and self.live is None:
            from rich.live import Live

            self.live = Live("", console=self.console, transient=True, refresh_per_second=4)
            self.live.start()

    def _stop_live(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    def _print(self, renderable) -> None:
        """One line above the question (if one waits) or the status line."""
        if self.asking is not None and not self._below:
            self.console.print()  # the cursor waits after the question
            self._below = True
        if isinstance(renderable, str):
            self.console.print(renderable, markup=False, highlight=False)
        else:
            self.console.print(renderable, highlight=False)

    def say(self, text: str) -> None:
        """A line of the console's own, printed as it is."""
        self._print(text)
        self._repeat_question()

    def ask(self, question) -> None:
        """Put ``question`` on screen, the status line off until :meth:`end_question`."""
        self._stop_live()
        self.asking = question
        self._below = True
        self._repeat_question()

    def _repeat_question(self) -> None:
        if self.asking is not None and self._below:
            self.console.print(self.asking, end="", highlight=False)
            self._below = False

    def end_question(self, note: str = "", *, answered: bool = False) -> None:
        """The question was answered (the terminal echoed the Enter), or is no longer asked
        (the line is ended, with ``note``): the status line comes back."""
        if self.asking is None:
            return
        if not answered and not self._below:
            self.console.print()  # the cursor waited after the question
        if note:
            self.console.print(note, markup=False, highlight=False)
        self.asking = None
        self._start_live()

    def update(self) -> None:
        from rich.text import Text

        engine = self.engine
        status = engine.status()
        printed = False
        while self.alarms:
            t, text = self.alarms.popleft()
            self._print(Text.assemble(("  alarm", "red"), f" {t / 60:7.1f} min  ", text))
            printed = True
        results = engine.results
        for r in results[self.printed:]:
            if self.printed == 0:
                self._print(RESULT_HEADER)
            self._print(format_result(r))
            self.printed += 1
            printed = True
        if printed:
            self._repeat_question()
        line = self._status_line(status)
        if self.live is not None:
            self.live.update(Text(line))
        elif (not self.tty and status.t - self.last_line >= 600.0
              and status.state in ("running", "paused")):
            self.console.print(f"  {line}", markup=False, highlight=False)
            self.last_line = status.t

    @staticmethod
    def _status_line(s) -> str:
        parts = [f"{s.state:<8}", f"{s.t / 60:7.1f} min"]
        if s.phase:
            parts.append(f"phase {s.phase}")
        if s.samples_total:
            parts.append(f"sample {s.samples_done}/{s.samples_total}")
        if s.eta_s is not None:
            parts.append(f"ETA {s.eta_s / 60:.0f} min")
        if s.latest is not None and not math.isnan(s.latest.pct_baseline):
            parts.append(f"{s.latest.analyte} {s.latest.pct_baseline:.0f}% of baseline")
        if s.paused_because:
            parts.append("; ".join(s.paused_because))
        return "  ".join(parts)

    def close(self) -> None:
        self.end_question()
        self._stop_live()


def summary(outcome, console, started: float, command: str) -> None:
    """The closing lines: where the session is; what ended it, as one line on stderr."""
    if outcome is None:
        return
    if outcome.session is not None and outcome.session.exists():
        from raphe.acquisition.reader import SessionReader
        from raphe.gui.cli.commands.inspect import analysis_lines
        from raphe.gui.cli.commands.inspect import summary as inspect_summary

        extra: list[str] = []
        try:
            with SessionReader(outcome.session) as r:
                held = (f"{r.duration_s / 60:.1f} min, {r.n_samples} detector samples, "
                        f"{len(r.table('injections'))} injections, "
                        f"{len(r.table('fractions'))} fractions, "
                        f"{len(r.table('results'))} results")
            s = inspect_summary(str(outcome.session))
            extra = analysis_lines(s)
            extra += [f"partial fraction: tube {f['tube']} ({f['sample_id']}) was filling when "
                      "the run ended" for f in s["partial_fractions"]]
            end = s["end"]
            extra.append(f"run ended  {end['reason']}"
                         + (f" ({end['detail']})" if end["detail"] else ""))
        except InputError as exc:
            held = str(exc)
        for line in extra:
            console.print(line, highlight=False, markup=False)
        console.print(f"session written: {outcome.session} ({held}; "
                      f"{time.monotonic() - started:.0f} s)", highlight=False, markup=False)
    if outcome.exit_code != 0:
        level = "warning" if outcome.exit_code == 3 else "error"
        print(f"raphe {command}: {level}: {outcome.message}", file=sys.stderr, flush=True)
