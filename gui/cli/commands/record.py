"""``raphe record``: online monitoring — the bundled ``online-monitoring`` protocol, headless."""

from __future__ import annotations

import argparse

NAME = "record"
HELP = "record a session from a rig (or the simulated rig), injecting and quantifying live"
ORDER = 10

#: Record's options → the online-monitoring protocol's parameters.
PARAMETERS = {"flow": "flow_ul_min", "inject_every": "inject_every_min",
              "equilibrate": "equilibrate_min", "minutes": "minutes"}
FLAGS = {"flow_ul_min": "--flow", "inject_every_min": "--inject-every",
         "equilibrate_min": "--equilibrate", "minutes": "--minutes"}


def add_experiment_arguments(parser: argparse.ArgumentParser, *, minutes: float | None,
                             inject_every: float | None) -> None:
    parser.add_argument("--minutes", type=float, default=minutes, metavar="N",
                        help="session length in (clock) minutes"
                        + (" (default: until Ctrl-C)" if minutes is None else f" (default {minutes:g})"))
    parser.add_argument("--inject-every", type=float, default=inject_every, metavar="MIN",
                        help="switch the valve to inject every MIN minutes")
    parser.add_argument("--equilibrate", type=float, default=0.0, metavar="MIN",
                        help="perfuse MIN minutes before the first sample (default 0)")
    parser.add_argument("--flow", type=float, default=1.0, metavar="UL_MIN",
                        help="perfusion flow, µL/min (default 1.0)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from raphe.gui.cli.commands._protocol_run import add_session_options
    from raphe.gui.cli.commands._remote import add_remote_options
    from raphe.gui.cli.commands._sim_options import add_sim_options

    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--sim", action="store_true", help="use the simulated rig")
    source.add_argument("--rig", metavar="RIG", help="rig file (rig.toml) of the real instruments")
    parser.add_argument("--out", required=True, metavar="SESSION",
                        help="session file to create (.h5); never overwritten")
    add_experiment_arguments(parser, minutes=None, inject_every=None)
    add_session_options(parser, method_help="analysis method: a bundled name (simulated-5ht) "
                                            "or a TOML file; default: the rig's (simulated-5ht "
                                            "on --sim, a rig file's method key)",
                        analysis=True)
    add_sim_options(parser)
    add_remote_options(parser)


def check_options(args: argparse.Namespace) -> None:
    """The experiment options, named as typed, before anything starts."""
    import math

    from raphe.errors import InputError

    if args.minutes is not None and not (math.isfinite(args.minutes) and args.minutes > 0):
        raise InputError(f"--minutes must be > 0, got {args.minutes:g}")
    if not (math.isfinite(args.equilibrate) and args.equilibrate >= 0):
        raise InputError(f"--equilibrate must be ≥ 0 minutes, got {args.equilibrate:g}")
    if args.inject_every is not None and not (math.isfinite(args.inject_every)
                                              and args.inject_every > 0):
        raise InputError(f"--inject-every must be > 0 minutes, got {args.inject_every:g}")
    if not (math.isfinite(args.flow) and args.flow > 0):
        raise InputError(f"--flow must be > 0 µL/min, got {args.flow:g}")


def parameters(args: argparse.Namespace) -> dict:
    return {"flow_ul_min": args.flow, "inject_every_min": args.inject_every or 0.0,
            "equilibrate_min": args.equilibrate, "minutes": args.minutes or 0.0}


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rich.console import Console

    from raphe.errors import InputError
    from raphe.gui.cli.commands._protocol_run import (
        check_out_path,
        checked,
        choose_method,
        follow,
        recovery_warnings,
        sim_options,
    )
    from raphe.gui.cli.commands._remote import remote
    from raphe.protocols.engine import Engine, Settings
    from raphe.protocols.protocol import load_protocol
    from raphe.records import Event

    if args.rig and (args.sim_dose or args.sim_history or args.speed != 1.0):
        raise InputError("--sim-dose, --sim-history and --speed apply to --sim only "
                         "(a simulated rig file carries its own speed)")
    check_options(args)
    out = check_out_path(args.out)
    console = Console(highlight=False, soft_wrap=True)
    method = choose_method(args, console)
    recovery_warnings(method, args.flow, "record")
    sim = sim_options(args) if args.sim else None
    scheduled = [Event(d.time_s, "drug", d.describe(), "simulator") for d in sim.doses] \
        if sim else []
    engine = Engine(load_protocol("online-monitoring"), parameters(args), Settings(
        out=out, rig_file=args.rig, sim=sim, method=method, operator=args.operator,
        animal_id=args.animal, notes=args.notes, on_alarm="continue", scheduled=scheduled,
        stop_is_normal=True))
    checked(engine, console, FLAGS)  # the schedule's own errors first
    run_s = getattr(method, "run_length_s", None) or 0.0
    if args.inject_every is not None and args.inject_every * 60.0 < run_s:
        raise InputError(
            f"--inject-every {args.inject_every:g} min is shorter than the chromatogram run "
            f"of method {method.name!r} ({run_s / 60:g} min): every run would be cut short")
    with remote(engine, args, console):
        outcome = follow(engine, console, "record", stop_is_normal=True)
    if outcome.exit_code == 0 and Path(out).exists():
        from raphe.acquisition.reader import SessionReader

        with SessionReader(out) as reader:
            if reader.n_samples == 0:
                console.print("[red]no detector sample was recorded[/red]")
                return 4
    return outcome.exit_code
