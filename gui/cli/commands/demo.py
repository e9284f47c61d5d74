"""``raphe demo``: a whole fluoxetine experiment on the simulated rig in about two minutes."""

from __future__ import annotations

import argparse

NAME = "demo"
HELP = ("record a simulated experiment: a virtual rat, fluoxetine at 90 min, "
        "5-HT quantified live (about 1.5 minutes)")
ORDER = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from raphe.gui.cli.commands._sim_options import add_sim_options
    from raphe.gui.cli.commands.record import add_experiment_arguments

    parser.add_argument("--out", metavar="SESSION",
                        help="session file to create (default: raphe-demo-<time>.h5 here)")
    add_experiment_arguments(parser, minutes=220.0, inject_every=20.0)
    add_sim_options(parser, speed_default=150.0)
    parser.set_defaults(method="simulated-5ht", sim_dose=None, animal="demo-rat-1",
                        operator="raphe demo", equilibrate=20.0)


def run(args: argparse.Namespace) -> int:
    import math
    import time

    from rich.console import Console

    from raphe.gui.cli.commands._experiment_run import run_experiment

    if args.sim_dose is None:
        args.sim_dose = ["fluoxetine:10:ip@90"]
    if not args.out:
        args.out = time.strftime("raphe-demo-%Y%m%d-%H%M%S.h5")
    console = Console(highlight=False)
    console.print(
        f"Simulated rig at {args.speed:g}× speed: perfusion {args.flow:g} µL/min, "
        f"{args.equilibrate:g} min equilibration, then an injection every "
        f"{args.inject_every:g} min; {', '.join(args.sim_dose)}; "
        f"{args.minutes:g} min of experiment in about "
        f"{args.minutes * 60 / args.speed / 60:.1f} min.\n"
    )
    code = run_experiment(args, sim=True, rig_path=None)
    if code != 0:
        return code
    from raphe.acquisition.reader import SessionReader

    with SessionReader(args.out) as reader:
        results = [r for r in reader.results() if r.analyte == "5-HT"]
        events = [e for e in reader.events() if e.kind == "drug"]
    if results:
        drug_t = events[0].t if events else math.inf
        console.print("\n5-HT, % of this animal's baseline (one bar per sample):")
        for r in results:
            pct = r.pct_baseline
            bar = "" if math.isnan(pct) else "█" * max(0, round(pct / 10))
            value = "   n/a" if math.isnan(pct) else f"{pct:5.0f}%"
            phase = "baseline" if r.inject_t < drug_t else "after drug"
            console.print(f"  {r.inject_t / 60:6.0f} min  {phase:<10} {value} {bar}",
                          markup=False)
    console.print(f"\nNext: raphe inspect {args.out}   ·   raphe export {args.out} --format csv"
                  f"   ·   raphe replay {args.out}")
    return 0
