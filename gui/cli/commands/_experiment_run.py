"""Shared by ``raphe record`` and ``raphe demo``: open the rig (or the simulated one),
run an ``Experiment`` with a live progress display, and always clean up."""

from __future__ import annotations

import argparse
import math
import sys


def format_result(r) -> str:
    conc = "     n/a" if math.isnan(r.conc_nM) else f"{r.conc_nM:8.3f}"
    amount = "    n/a" if math.isnan(r.amount_fmol) else f"{r.amount_fmol:7.2f}"
    pct = "     n/a" if math.isnan(r.pct_baseline) else f"{r.pct_baseline:7.1f}%"
    rt = "   n/a" if math.isnan(r.rt_s) else f"{r.rt_s:6.1f}"
    flags = f"  [{r.flags}]" if r.flags else ""
    return (f"{r.sample_id:>6}  {r.inject_t / 60:7.1f}  {r.analyte:>6}  {rt}  {conc}  {amount}"
            f"  {pct}{flags}")


RESULT_HEADER = ("sample  inj min  analyte  RT s   conc nM  amt fmol  % basal  flags")


def run_experiment(args: argparse.Namespace, *, sim: bool, rig_path: str | None,
                   scheduled_from_sim: bool = True) -> int:
    """Open the rig, run the experiment described by ``args``, print progress and a summary."""
    from pathlib import Path

    from rich.console import Console

    from raphe.acquisition.experiment import Experiment, ExperimentSettings
    from raphe.clock import Clock
    from raphe.drivers.rig import load_rig
    from raphe.errors import InputError
    from raphe.records import Event

    console = Console(highlight=False)
    out = Path(args.out)
    if out.exists():
        raise InputError(f"{out} already exists; a session is never overwritten — choose a new name")
    if not out.parent.exists():
        raise InputError(f"folder {out.parent} does not exist")
    if args.minutes is not None and not args.minutes > 0:
        raise InputError(f"--minutes must be > 0, got {args.minutes:g}")
    if args.equilibrate < 0:
        raise InputError(f"--equilibrate must be ≥ 0 minutes, got {args.equilibrate:g}")
    if args.inject_every is not None and not args.inject_every > 0:
        raise InputError(f"--inject-every must be > 0 minutes, got {args.inject_every:g}")
    if not args.flow > 0:
        raise InputError(f"--flow must be > 0 µL/min, got {args.flow:g}")
    method = None
    if args.method:
        from raphe.acquisition.analysis.method import load_method

        method = load_method(args.method)
        run_s = method.run_length_s or 0.0
        if args.inject_every is not None and args.inject_every * 60.0 < run_s:
            raise InputError(
                f"--inject-every {args.inject_every:g} min is shorter than the chromatogram run "
                f"of method {method.name!r} ({run_s / 60:g} min): every run would be cut short")

    sim_rig = None
    scheduled: list[Event] = []
    try:
        if sim:
            from raphe.gui.cli.commands._sim_options import rig_options
            from raphe.simulators.rig import SimulatedRig

            sim_rig = SimulatedRig(rig_options(args)).start()
            config = load_rig(sim_rig.rig_toml(), source="simulated rig")
            clock = sim_rig.clock
            if scheduled_from_sim:
                for dose in sim_rig.options.doses:
                    scheduled.append(Event(dose.time_s, "drug", dose.describe(), "simulator"))
        else:
            config = load_rig(rig_path)
            clock = Clock(config.speed)
        if "detector" not in config.roles:
            raise InputError(f"{config.source}: the rig has no [detector]: nothing to record")
        if args.inject_every is not None and "valve" not in config.roles:
            raise InputError(f"{config.source}: --inject-every needs a [valve] in the rig file")
        rig = config.connect(session_clock=clock.now)
        try:
            settings = ExperimentSettings(
                out=out, minutes=args.minutes, inject_every_min=args.inject_every,
                flow_uL_min=args.flow, method=method, equilibrate_min=args.equilibrate, operator=args.operator,
                animal_id=args.animal, notes=args.notes, scheduled=scheduled,
                on_start=sim_rig.begin_session if sim_rig is not None else None,
            )
            experiment = Experiment(rig, clock, settings, rig_text=config.text)
            _install_stop(experiment)
            status = _run_with_progress(console, experiment, args)
        finally:
            rig.close()
    finally:
        if sim_rig is not None:
            sim_rig.close()
    console.print(f"session written: {out} ({status.samples} samples, "
                  f"{status.injections} injections, {status.t / 60:.1f} min)")
    if status.samples == 0 and not status.error:
        status.error = "no sample was recorded"
    if status.error:
        console.print(f"[red]recording stopped early: {status.error}[/red]")
        return 1
    return 0


def _install_stop(experiment) -> None:
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, experiment.request_stop)
        signal.signal(signal.SIGTERM, experiment.request_stop)


def _run_with_progress(console, experiment, args):
    from rich.progress import BarColumn, Progress, TextColumn

    total_s = args.minutes * 60.0 if args.minutes else None
    printed = 0
    drugs_seen = 0

    def emit_new(status) -> None:
        nonlocal printed, drugs_seen
        drugs = [e for e in status.events if e.kind in ("drug", "alarm")]
        for ev in drugs[drugs_seen:]:
            console.print(f"  {ev.t / 60:7.1f} min  {ev.kind}: {ev.text}", markup=False)
        drugs_seen = len(drugs)
        for r in status.results[printed:]:
            if printed == 0:
                console.print(RESULT_HEADER)
            console.print(format_result(r), markup=False)
            printed += 1

    interactive = console.is_terminal and sys.stdout.isatty()
    if interactive:
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                      TextColumn("{task.fields[info]}"), console=console,
                      transient=True) as bar:
            task = bar.add_task("recording", total=total_s or None, info="")

            def show(status) -> None:
                emit_new(status)
                bar.update(task, completed=status.t,
                           info=f"{status.t / 60:6.1f} min  {status.samples} samples  "
                                f"{status.injections} injections")

            status = experiment.run(show)
    else:
        last = [-1.0]

        def show(status) -> None:
            emit_new(status)
            if status.t - last[0] >= 600.0:  # a line every 10 session minutes
                console.print(f"  {status.t / 60:7.1f} min  {status.samples} samples  "
                              f"{status.injections} injections")
                last[0] = status.t

        status = experiment.run(show)
    emit_new(status)
    return status
