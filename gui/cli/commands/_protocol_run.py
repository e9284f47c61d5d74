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
    from raphe.drivers.rig import load_rig

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
            name = default = SIMULATED_METHOD
        else:
            name = default = rig_default_method(args.rig)
            if name is None:
                _check_rig_first(args.rig)
                raise InputError(
                    f"{args.rig} names no analysis method: pass --method METHOD (a bundled "
                    "name or a TOML file), or --no-analysis to record without quantifying "
                    "(a rig file can name its default: method = \"...\")")
    method = load_method_option(name, calibration=calibration, recovery=recovery)
    if default is not None and console is not None:
        console.print(f"method: {method.name} (the rig's default; --method to choose another)")
    return method


def _check_rig_first(rig_file: str) -> None:
    """A rig file's own errors (unknown key, no detector …) before the missing method."""
    from raphe.protocols.rigs import spec_for

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
    from raphe.protocols.rigs import SimOptions

    o = rig_options(args)
    return SimOptions(speed=o.speed, seed=o.seed, region=o.region, doses=o.doses,
                      history=o.history, ground_truth_path=o.ground_truth_path)


def checked(engine, console, flags: dict[str, str] | None = None):
    """The dry run: its first error as one InputError (``flags`` rename parameters to the
    options that set them), its warnings on the console; returns the plan."""
    plan = engine.check()
    if not plan.ok:
        message = str(plan.errors[0])
        for name, flag in (flags or {}).items():
            message = message.replace(f"parameter {name}", flag)
        raise InputError(message)
    for w in plan.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}", highlight=False)
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


def execute(engine, console, *, stop_is_normal: bool = False) -> Any:
    """Run ``engine`` in the foreground: progress, prompts, Ctrl-C; returns the outcome.

    Ctrl-C once pauses the schedule (perfusion and acquisition go on) and asks what to do;
    twice aborts to the safe state. SIGTERM aborts. For an open-ended recording
    (``stop_is_normal``) Ctrl-C and SIGTERM end it normally.
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
    display = _Display(console, engine)
    try:
        engine.start()
        asked_pause = False
        while True:
            try:  # a second Ctrl-C raises anywhere here: abort, then wait for the safe state
                if engine.wait(0.25):
                    break
                display.update()
                status = engine.status()
                if status.prompt is not None and interactive:
                    display.pause_live()
                    answer = console.input(f"[bold]operator:[/bold] {status.prompt.text}\n"
                                           "  (Enter to confirm, or type an answer) > ")
                    engine.answer(status.prompt.id, answer.strip() or "yes")
                elif engine.state is State.PAUSED and presses[0] == 1 and not asked_pause:
                    asked_pause = True
                    display.pause_live()
                    if interactive:
                        choice = console.input("[bold]paused[/bold] (perfusion and acquisition go "
                                               "on): [r]esume or [a]bort? > ").strip().lower()
                        if choice.startswith("a"):
                            engine.request_abort("aborted by the operator")
                        else:
                            presses[0] = 0
                            asked_pause = False
                            engine.request_resume()
                    else:
                        console.print("paused by Ctrl-C: press Ctrl-C again to abort "
                                      "(instruments to their safe state)")
            except (KeyboardInterrupt, EOFError):
                engine.request_abort("aborted by Ctrl-C")
        display.update()
        display.close()
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
    return engine.outcome


class _Display:
    """The console while a run goes on: a status line (terminal) and a line per result,
    drug and alarm."""

    def __init__(self, console, engine) -> None:
        self.console = console
        self.engine = engine
        self.printed = 0
        self.alarms = 0
        self.last_line = -1.0
        self.tty = console.is_terminal and sys.stdout.isatty()
        self.live = None
        if self.tty:
            from rich.live import Live

            self.live = Live("", console=console, transient=True, refresh_per_second=4)
            self.live.start()

    def pause_live(self) -> None:
        if self.live is not None:
            self.live.update("")

    def update(self) -> None:
        engine, console = self.engine, self.console
        status = engine.status()
        for text in engine.alarms[self.alarms:]:
            console.print(f"  [red]alarm[/red] {status.t / 60:7.1f} min  {text}", highlight=False)
        self.alarms = len(engine.alarms)
        results = engine.results
        for r in results[self.printed:]:
            if self.printed == 0:
                console.print(RESULT_HEADER, highlight=False)
            console.print(format_result(r), markup=False, highlight=False)
            self.printed += 1
        line = self._status_line(status)
        if self.live is not None:
            self.live.update(line)
        elif status.t - self.last_line >= 600.0 and status.state in ("running", "paused"):
            console.print(f"  {line}", markup=False, highlight=False)
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
        if self.live is not None:
            self.live.stop()


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
                      f"{time.monotonic() - started:.0f} s)", highlight=False)
    if outcome.exit_code != 0:
        level = "warning" if outcome.exit_code == 3 else "error"
        print(f"raphe {command}: {level}: {outcome.message}", file=sys.stderr, flush=True)
