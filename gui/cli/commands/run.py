"""``raphe run PROTOCOL``: run a protocol on a rig or the simulated rig, headless."""

from __future__ import annotations

import argparse

NAME = "run"
HELP = "run a protocol (checked by a dry run first) on a rig or the simulated rig"
ORDER = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from raphe.gui.cli.commands._animals import add_animal_options
    from raphe.gui.cli.commands._protocol_run import add_session_options
    from raphe.gui.cli.commands._remote import add_remote_options
    from raphe.gui.cli.commands._sim_options import add_sim_options
    from raphe.gui.cli.commands.check import add_protocol_arguments

    add_protocol_arguments(parser)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--sim", action="store_true", help="use the simulated rig")
    source.add_argument("--rig", metavar="RIG", help="rig file (rig.toml) of the real instruments")
    parser.add_argument("--out", metavar="SESSION",
                        help="session file to create (default: PROTOCOL-DATE-TIME.h5 here); "
                             "never overwritten")
    parser.add_argument("--yes", action="store_true",
                        help="answer every operator prompt at once (simulated rig only)")
    parser.add_argument("--on-alarm", choices=("pause", "continue", "abort"), default=None,
                        help="when perfusion stops (pump stall, empty syringe): pause for the "
                             "operator (default), restart the pump and go on, or abort "
                             "(default with --yes: continue)")
    add_session_options(parser, method_help="analysis method (bundled name or TOML file); "
                                            "default: the rig's (simulated-5ht on --sim, a "
                                            "rig file's method key)", analysis=True)
    add_sim_options(parser, protocol=True)
    add_remote_options(parser)
    add_animal_options(parser, run=True)


def run(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from rich.console import Console

    from raphe.errors import InputError
    from raphe.gui.cli.commands._animals import run as run_animals
    from raphe.gui.cli.commands._animals import wanted as several_animals
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
    from raphe.protocols.parameters import parse_assignments
    from raphe.protocols.protocol import load_protocol

    if args.rig and (args.speed != 1.0 or args.sim_history):
        raise InputError("--speed and --sim-history apply to --sim only (a simulated rig file "
                         "carries its own speed)")
    console = Console(highlight=False, soft_wrap=True)
    animals = several_animals(args)
    if animals is not None:
        if getattr(args, "serve", None):
            raise InputError("--serve follows one session: with several animals, serve each "
                             "animal's file with raphe serve DIR/<animal>.h5")
        method = choose_method(args, console)
        return run_animals(args, animals, method, sim_options(args) if args.sim else None,
                           console)
    protocol = load_protocol(args.protocol)
    given = parse_assignments(args.assignments)
    out = args.out or time.strftime(f"{Path(protocol.path).stem}-%Y%m%d-%H%M%S.h5")
    out_path = check_out_path(out)
    method = choose_method(args, console)
    sim = sim_options(args) if args.sim else None
    on_alarm = args.on_alarm or ("continue" if args.yes else "pause")
    engine = Engine(protocol, given, Settings(
        out=out_path, rig_file=args.rig, sim=sim, method=method, operator=args.operator,
        animal_id=args.animal, notes=args.notes, auto_answer=args.yes, on_alarm=on_alarm,
        syringe_filled_uL=args.syringe_filled))
    plan = checked(engine, console)
    if engine.params is not None and "flow_ul_min" in engine.params:
        recovery_warnings(method, engine.params["flow_ul_min"], "run")
    if plan.prompts and not args.yes:
        import sys

        if not (sys.stdin and sys.stdin.isatty()):  # nobody types here: say who can answer
            console.print(f"the protocol asks the operator {plan.prompts} time(s) and waits "
                          f"for the answer: from another shell, raphe control {out_path} "
                          "status | answer [TEXT] | pause | resume | abort", markup=False)
    console.print(f"{protocol.name}: {len(plan.samples)} samples over "
                  f"{plan.duration_s / 60:.0f} min"
                  + (f" (about {plan.duration_s / sim.speed / 60:.1f} min at {sim.speed:g}×)"
                     if sim else "") + f" → {out_path}", markup=False)
    with remote(engine, args, console):
        return follow(engine, console, "run").exit_code
