"""``raphe demo``: a whole fluoxetine experiment on the simulated rig in about two minutes.

Runs the bundled systemic-drug protocol on the simulated rig at high speed:
equilibration, baseline samples, the drug, post-drug samples, 5-HT quantified
as each chromatogram ends. ``--sim-dose DRUG:DOSE:ROUTE@MINUTE`` chooses the
drug and when it is given; ``--minutes`` the length of the experiment.

With a display the run opens in the window (``raphe gui``); ``--headless``, or
no display, runs it in the terminal and saves a summary figure (PNG) beside the
session. ``--screenshot PNG --quit-after SECONDS`` draws the window (offscreen
if there is no display), saves it and exits.
"""

from __future__ import annotations

import argparse

NAME = "demo"
HELP = ("run a simulated experiment: a virtual rat, fluoxetine after the baseline, "
        "5-HT quantified live (about 1.5 minutes)")
ORDER = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from raphe.gui.cli.commands._protocol_run import add_session_options
    from raphe.gui.cli.commands._sim_options import add_sim_options
    from raphe.gui.cli.commands.record import add_experiment_arguments

    parser.add_argument("--out", metavar="SESSION",
                        help="session file to create (default: raphe-demo-<time>.h5 here)")
    add_experiment_arguments(parser, minutes=220.0, inject_every=20.0)
    add_session_options(parser, method_help="analysis method (default simulated-5ht)")
    add_sim_options(parser, speed_default=150.0)
    parser.add_argument("--headless", action="store_true",
                        help="run in the terminal (also without a display) and save a summary "
                             "figure (PNG) beside the session")
    from raphe.gui.cli.commands.gui import add_window_options

    add_window_options(parser)
    parser.set_defaults(method="simulated-5ht", sim_dose=None, animal="demo-rat-1",
                        operator="raphe demo", equilibrate=20.0)


def protocol_parameters(args: argparse.Namespace, dose) -> dict:
    """The systemic-drug parameters that give the experiment the demo options describe."""
    import math

    interval = args.inject_every
    before = max(1, math.floor((dose.minute - args.equilibrate) / interval + 1e-9))
    after = max(1, math.floor((args.minutes - args.equilibrate) / interval + 1e-9) - before)
    return {"drug": dose.drug, "dose_mg_kg": dose.amount, "route": dose.route,
            "region": args.sim_region, "flow_ul_min": args.flow, "interval_min": interval,
            "equilibration_min": args.equilibrate, "baseline_samples": before,
            "post_samples": after}


def wants_window(args: argparse.Namespace) -> bool:
    """The window unless ``--headless``; without a display only to draw a screenshot."""
    from raphe.errors import InputError
    from raphe.gui.app.display import has_display

    if args.headless:
        if args.screenshot or args.quit_after is not None:
            raise InputError("--screenshot and --quit-after draw the window: drop --headless")
        return False
    return has_display() or args.quit_after is not None


def run(args: argparse.Namespace) -> int:
    import math
    import time

    from rich.console import Console

    from raphe.errors import InputError
    from raphe.gui.cli.commands._protocol_run import (
        check_out_path,
        checked,
        follow,
        load_method_option,
        sim_options,
    )
    from raphe.gui.cli.commands.record import check_options
    from raphe.protocols.engine import Engine, Settings
    from raphe.protocols.protocol import load_protocol

    if args.sim_dose is None:
        args.sim_dose = ["fluoxetine:10:ip@90"]
    if len(args.sim_dose) != 1:
        raise InputError("the demo gives one drug: pass --sim-dose once")
    if args.inject_every is None or args.minutes is None:
        raise InputError("the demo needs --minutes and --inject-every")
    check_options(args)
    out = check_out_path(args.out or time.strftime("raphe-demo-%Y%m%d-%H%M%S.h5"))
    sim = sim_options(args)
    dose = sim.doses[0]
    if dose.route == "rd":
        raise InputError("the demo gives the drug i.p. or s.c.; for reverse dialysis run the "
                         "reverse-dialysis protocol")
    sim.doses = []  # the protocol gives the drug
    method = load_method_option(args.method)
    if wants_window(args):
        return run_in_window(args, protocol_parameters(args, dose), sim, out)
    console = Console(highlight=False, soft_wrap=True)
    engine = Engine(load_protocol("systemic-drug"), protocol_parameters(args, dose), Settings(
        out=out, sim=sim, method=method, operator=args.operator, animal_id=args.animal,
        notes=args.notes, auto_answer=True, on_alarm="continue"))
    plan = checked(engine, console)
    drug_at = plan.drugs[0].t / 60 if plan.drugs else math.nan
    console.print(
        f"Simulated rig at {sim.speed:g}× speed: perfusion {args.flow:g} µL/min, "
        f"{args.equilibrate:g} min equilibration, then a sample every {args.inject_every:g} "
        f"min; {dose.describe().rsplit(' at ', 1)[0]} at {drug_at:g} min; "
        f"{plan.duration_s / 60:.0f} min of experiment in about "
        f"{plan.duration_s / sim.speed / 60:.1f} min.\n")
    outcome = follow(engine, console, "demo")
    if outcome.exit_code != 0:
        return outcome.exit_code
    show_time_course(out, console)
    save_figure(out, console)
    console.print(f"\nNext: raphe inspect {out}   ·   raphe export {out} --format csv"
                  f"   ·   raphe replay {out}")
    return 0


def run_in_window(args: argparse.Namespace, parameters: dict, sim, out) -> int:
    """The demo in the window: the protocol preset and started; the window stays open at
    the end (or closes after ``--quit-after``)."""
    from raphe.errors import InputError
    from raphe.gui.cli.commands.gui import check_window_options

    check_window_options(args, "raphe demo --headless")
    from raphe.gui.app.app import application, run_window
    from raphe.gui.app.window import MainWindow

    application()
    window = MainWindow()
    panel = window.protocol_panel
    panel.set_rig(None, speed=sim.speed)
    panel.set_method(args.method)
    if not panel.load("systemic-drug", parameters):
        raise InputError(panel.problem)
    panel.out_edit.setText(str(out))
    panel.operator.setText(args.operator)
    panel.animal.setText(args.animal)
    panel.notes.setText(args.notes)
    panel.extra = {"seed": sim.seed, "auto_answer": True, "on_alarm": "continue"}
    if window.start_run() is None:
        raise InputError(window.errors[-1] if window.errors else "the demo could not start")
    code = run_window(window, screenshot=args.screenshot, quit_after=args.quit_after)
    outcome = window.run.outcome if window.run is not None else None
    if outcome is not None and outcome.session is not None and outcome.session.exists():
        print(f"session written: {outcome.session} ({outcome.message})")
    return code


def save_figure(session, console) -> None:
    """The summary figure beside the session (the window's panels, drawn offscreen)."""
    from raphe.gui.app.display import render_offscreen

    render_offscreen()
    from raphe.gui.app.summary import save_summary

    path = save_summary(session, session.with_name(f"{session.stem}-summary.png"))
    console.print(f"\nsummary figure: {path}")


def show_time_course(path, console) -> None:
    """5-HT as % of baseline, one bar per sample, before and after the drug."""
    import math

    from raphe.acquisition.reader import SessionReader

    with SessionReader(path) as reader:
        results = [r for r in reader.results() if r.analyte == "5-HT"]
        drugs = [e for e in reader.events() if e.kind == "drug"]
    if not results:
        return
    drug_t = drugs[0].t if drugs else math.inf
    console.print("\n5-HT, % of this animal's baseline (one bar per sample):")
    for r in results:
        pct = r.pct_baseline
        bar = "" if math.isnan(pct) else "█" * max(0, round(pct / 10))
        value = "   n/a" if math.isnan(pct) else f"{pct:5.0f}%"
        when = r.probe_t if math.isfinite(r.probe_t) else r.inject_t
        phase = "baseline" if when < drug_t else "after drug"
        console.print(f"  {r.inject_t / 60:6.0f} min  {phase:<10} {value} {bar}", markup=False)
