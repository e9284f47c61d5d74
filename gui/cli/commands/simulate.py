"""``raphe simulate``: serve simulated instruments on real transports until stopped.

``raphe simulate study`` records virtual animals per group (``commands/study.py``);
``raphe simulate binding`` writes a binding file from the seed's Ki table
(``commands/binding.py``)."""

from __future__ import annotations

import argparse

NAME = "simulate"
HELP = "serve simulated instruments (serial ptys, DMM on 127.0.0.1) until Ctrl-C"
ORDER = 40

TARGETS = ("rig", "ne1000", "fc203b", "vici", "dmm34465a", "study", "binding")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from raphe.gui.cli.commands._sim_options import add_sim_options

    parser.add_argument("what", choices=TARGETS, help="the whole rig or one instrument; "
                        "study: virtual animals per group; binding: a simulated binding file")
    add_sim_options(parser)
    parser.add_argument(
        "--rig-out", metavar="FILE",
        help="write the rig file that opens these simulators (for raphe record --rig FILE)",
    )
    parser.add_argument(
        "--faults", action="store_true",
        help="read fault commands from standard input, one per line: ROLE ACTION [ARG] "
        "(e.g. 'pump stall', 'collector rack_end', 'detector unplug'; 'help' lists them all)",
    )
    from raphe.gui.cli.commands.study import add_simulate_arguments

    add_simulate_arguments(parser)


def run(args: argparse.Namespace) -> int:
    if args.what == "study":
        from raphe.gui.cli.commands.study import run_simulate

        return run_simulate(args)
    if args.what == "binding":
        return _simulate_binding(args)
    import signal
    import sys
    import threading

    from raphe.gui.cli.commands._sim_options import rig_options
    from raphe.simulators.faults import HELP as FAULT_HELP
    from raphe.simulators.faults import apply_fault
    from raphe.simulators.simulated_rig import INSTRUMENTS, SimulatedRig

    if args.rig_out:
        from raphe.files import new_file

        new_file(args.rig_out, "--rig-out")
    roles = INSTRUMENTS if args.what == "rig" else [
        role for role, (_, name) in INSTRUMENTS.items() if name == args.what
    ]
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with SimulatedRig(rig_options(args), roles=roles) as rig:
        rig.begin_session(rig.clock.now())  # --sim-dose minutes count from now
        for role, model, address in rig.addresses():
            print(f"{role} {model} {address}")
        if args.rig_out:
            with open(args.rig_out, "x", encoding="utf-8") as fh:  # never over another file
                fh.write(rig.rig_toml())
        sys.stdout.flush()
        if args.faults:
            print(FAULT_HELP, file=sys.stderr, flush=True)

            def console() -> None:
                for line in sys.stdin:
                    if not line.strip():
                        continue
                    if line.strip() == "help":
                        print(FAULT_HELP, file=sys.stderr, flush=True)
                        continue
                    try:
                        print(f"fault: {apply_fault(rig, line)}", file=sys.stderr, flush=True)
                    except ValueError as exc:
                        print(f"fault: {exc}", file=sys.stderr, flush=True)

            threading.Thread(target=console, daemon=True).start()
        while not stop.wait(0.2):
            pass
    return 0


def _simulate_binding(args: argparse.Namespace) -> int:
    """The seed's Ki table from the virtual animal's drug table: 5-HT1A with [3H]8-OH-DPAT
    (K_D its Ki there) for ipsapirone, SERT with [3H]paroxetine (K_D its Ki) for the SSRIs."""
    from raphe.acquisition.study.binding import AssaySpec
    from raphe.gui.cli.commands.binding import run_simulate
    from raphe.simulators.drugs import DRUGS, HT1A, SERT

    assays = [AssaySpec("5-HT1A", "[3H]8-OH-DPAT", 1.0, DRUGS["8-oh-dpat"].ki_nM,
                        displacer="5-HT"),
              AssaySpec("SERT", "[3H]paroxetine", 0.1, DRUGS["paroxetine"].ki_nM,
                        displacer="fluoxetine")]
    table = [("5-HT1A", "ipsapirone", DRUGS["ipsapirone"].ki_nM)]
    table += [("SERT", d.name, d.ki_nM) for d in DRUGS.values()
              if d.target == SERT and d.name in ("paroxetine", "sertraline", "fluoxetine",
                                                 "citalopram", "fluvoxamine")]
    assert DRUGS["ipsapirone"].target == HT1A
    return run_simulate(args, table, assays)
