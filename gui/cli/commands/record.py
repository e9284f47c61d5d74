"""``raphe record``: online monitoring without a protocol, headless, with progress."""

from __future__ import annotations

import argparse

NAME = "record"
HELP = "record a session from a rig (or the simulated rig), injecting and quantifying live"
ORDER = 10


def add_experiment_arguments(parser: argparse.ArgumentParser, *, minutes: float | None,
                             inject_every: float | None) -> None:
    parser.add_argument("--minutes", type=float, default=minutes, metavar="N",
                        help="session length in (clock) minutes"
                        + (" (default: until Ctrl-C)" if minutes is None else f" (default {minutes:g})"))
    parser.add_argument("--inject-every", type=float, default=inject_every, metavar="MIN",
                        help="switch the valve to inject every MIN minutes")
    parser.add_argument("--equilibrate", type=float, default=0.0, metavar="MIN",
                        help="perfuse MIN minutes before the first sample (default 0)")
    parser.add_argument("--method", metavar="METHOD",
                        help="analysis method: a bundled name (simulated-5ht) or a TOML file")
    parser.add_argument("--flow", type=float, default=1.0, metavar="UL_MIN",
                        help="perfusion flow, µL/min (default 1.0)")
    parser.add_argument("--operator", default="", help="who runs the experiment")
    parser.add_argument("--animal", default="", help="animal ID")
    parser.add_argument("--notes", default="", help="free text stored in the session")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from raphe.gui.cli.commands._sim_options import add_sim_options

    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--sim", action="store_true", help="use the simulated rig")
    source.add_argument("--rig", metavar="RIG", help="rig file (rig.toml) of the real instruments")
    parser.add_argument("--out", required=True, metavar="SESSION",
                        help="session file to create (.h5); never overwritten")
    add_experiment_arguments(parser, minutes=None, inject_every=None)
    add_sim_options(parser)


def run(args: argparse.Namespace) -> int:
    from raphe.errors import InputError
    from raphe.gui.cli.commands._experiment_run import run_experiment

    if args.rig and (args.sim_dose or args.speed != 1.0):
        raise InputError("--sim-dose and --speed apply to --sim only "
                         "(a simulated rig file carries its own speed)")
    return run_experiment(args, sim=args.sim, rig_path=args.rig)
