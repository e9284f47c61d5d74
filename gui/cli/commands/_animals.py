"""``raphe check`` and ``raphe run`` with several animals on one HPLC (``--animals N``, or a
rig file's ``[[animals]]``): the options, each animal's timeline, the run and its summary.

Imported by the commands inside ``run()`` only (it imports the engine)."""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
import time
from pathlib import Path

from raphe.errors import InputError


def add_animal_options(parser: argparse.ArgumentParser, *, run: bool) -> None:
    group = parser.add_argument_group("several animals on one HPLC")
    group.add_argument("--animals", type=int, default=None, metavar="N",
                       help="N animals (2–4) share the HPLC through a stream selector, each "
                            "with its own pump and file (--sim: N virtual animals; a rig file "
                            "declares its own [[animals]]); --set A2:NAME=VALUE sets one "
                            "animal's parameter")
    if run:
        group.add_argument("--out-dir", metavar="DIR",
                           help="folder for the animals' session files (<animal>.h5) and the "
                                "run's log (run.json); never overwritten")


def wanted(args: argparse.Namespace) -> list[str] | None:
    """The animals' ids when this is a run of several animals, else None."""
    from raphe.protocols.animals import animal_ids

    declared: list[str] = []
    if getattr(args, "rig", None):
        from raphe.drivers.rig_file import load_rig

        declared = [a.id for a in load_rig(args.rig).animals]
    n = args.animals
    if n is None and not declared:
        return None
    if declared and n is not None and n != len(declared):
        raise InputError(f"--animals {n}: the rig file {args.rig} declares {len(declared)} "
                         f"animals ({', '.join(declared)})")
    if not declared and getattr(args, "rig", None):
        raise InputError(f"--animals: the rig file {args.rig} declares no [[animals]] (each "
                         "animal's pump and selector stream)")
    return animal_ids(n or len(declared), declared or None)


def build(args: argparse.Namespace, ids: list[str], method, *, out_dir: Path, sim=None):
    from raphe.protocols.animals import split_assignments
    from raphe.protocols.engine import Settings
    from raphe.protocols.protocol import load_protocol
    from raphe.protocols.shared_run import SharedEngine

    protocol = load_protocol(args.protocol)
    given = split_assignments(args.assignments, ids)
    on_alarm = getattr(args, "on_alarm", None) or ("continue" if getattr(args, "yes", False)
                                                   else "pause")
    return SharedEngine(protocol, given, Settings(
        out=out_dir, rig_file=getattr(args, "rig", None), sim=sim, method=method,
        operator=getattr(args, "operator", ""), notes=getattr(args, "notes", ""),
        auto_answer=getattr(args, "yes", False), on_alarm=on_alarm,
        syringe_filled_uL=getattr(args, "syringe_filled", None)))


def print_plan(shared, out=print) -> None:
    """Each animal's timeline in the run's time: slot, drug, injections."""
    plan = shared.plan
    run = plan.run_length_s
    out(f"animals     {len(plan.animals)} on one HPLC: a chromatogram runs "
        f"{(run or 0) / 60:g} min, one slot is {plan.slot_s / 60:g} min")
    duration = plan.duration_s
    if math.isfinite(duration):
        out(f"duration    {duration / 60:.0f} min ({duration / 3600:.2f} h)")
    for part in plan.animals:
        a = shared.animal(part.animal)
        p = part.plan
        params = a.engine.params or {}
        what = ", ".join(f"{k}={params[k]}" for k in ("drug", "dose_mg_kg", "route", "region")
                         if k in params)
        out(f"\n  {part.animal}  stream {a.config.stream}, {a.config.pump}; starts "
            f"{part.offset_s / 60:g} min after the first" + (f"; {what}" if what else ""))
        for item in p.drugs:
            out(f"    drug      {item.text} at {item.t / 60:.1f} min")
        injections = [s for s in p.samples if s.inject_t is not None]
        if injections:
            times = ", ".join(f"{s.label} {s.inject_t / 60:.1f}" for s in injections[:8])
            more = f" … ({len(injections)} in all)" if len(injections) > 8 else ""
            out(f"    injects   {times}{more} min")
    for w in plan.warnings:
        out(f"warning: {w}")


def check(args: argparse.Namespace, ids: list[str], method) -> int:
    import json

    shared = build(args, ids, method, out_dir=Path("."))
    plan = shared.check()
    if args.json:
        print(json.dumps(plan.as_json(), indent=2, default=str))
        return 0 if plan.ok else 1
    print_plan(shared)
    if not plan.ok:
        errors = plan.first_errors
        for e in errors:
            print(f"raphe check: error: {e}", file=sys.stderr)
        return 1
    print("\nok: the animals' injections never overlap")
    return 0


def run(args: argparse.Namespace, ids: list[str], method, sim, console) -> int:
    """Run every animal; Ctrl-C aborts them all (instruments to their safe state); one
    animal is taken off the rig with ``raphe control DIR/<animal>.h5 abort``."""
    if not args.out_dir:
        raise InputError("several animals write one file each: give --out-dir DIR")
    if args.out:
        raise InputError("--out names one session file; several animals need --out-dir DIR")
    out_dir = Path(args.out_dir)
    shared = build(args, ids, method, out_dir=out_dir, sim=sim)
    plan = shared.check()
    if not plan.ok:
        errors = plan.first_errors
        raise InputError(str(errors[0]))
    print_plan(shared, lambda text: console.print(text, markup=False, highlight=False))
    speed = f" (about {plan.duration_s / sim.speed / 60:.1f} min at {sim.speed:g}×)" if sim else ""
    console.print(f"\n{len(ids)} animals → {out_dir}/ ({', '.join(f'{a}.h5' for a in ids)}, "
                  f"run.json){speed}", markup=False, highlight=False)
    started = time.monotonic()
    outcome = _follow(shared, console)
    for animal, o in (outcome.animals or {}).items():
        console.print(f"{animal}: {o.message}; {o.injections} injections → {o.session}",
                      markup=False, highlight=False)
    console.print(f"run log: {out_dir / 'run.json'} ({time.monotonic() - started:.0f} s)",
                  markup=False, highlight=False)
    if outcome.exit_code:
        level = "warning" if outcome.exit_code == 3 else "error"
        print(f"raphe run: {level}: {outcome.message}", file=sys.stderr, flush=True)
    return outcome.exit_code


def _follow(shared, console):
    """Start the run and print its alarms, prompts and results, each with its animal."""
    from raphe.protocols.states import EXIT_REFUSED

    lines: list[str] = []
    lock = threading.Lock()
    shown: set[tuple[str, str]] = set()  # a baseline's revisions are not printed again

    def listener(animal: str):
        def on(kind: str, payload) -> None:
            text = None
            if kind == "alarm":
                text = f"  alarm  {animal}: {payload}"
            elif kind == "prompt":
                text = (f"  {payload.text} -- answer: raphe control "
                        f"{shared.animal(animal).engine.settings.out} answer [TEXT]")
            elif kind == "result" and payload.analyte == "5-HT" and (
                    (animal, payload.sample_id) not in shown):
                shown.add((animal, payload.sample_id))
                pct = payload.pct_baseline
                text = (f"  {animal}  {payload.sample_id:>6}  {payload.inject_t / 60:7.1f} min  "
                        + (f"{pct:6.1f} % of baseline" if math.isfinite(pct) else "     -")
                        + (f"  [{payload.flags}]" if payload.flags else ""))
            if text:
                with lock:
                    lines.append(text)
        return on

    for a in shared.animals:
        a.engine.subscribe(listener(a.id))

    def on_signal(signum, frame):
        shared.request_abort("aborted by Ctrl-C" if signum == signal.SIGINT
                             else "aborted by SIGTERM")

    saved = {}
    if threading.current_thread() is threading.main_thread():
        saved = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        shared.start()
        while not shared.wait(0.25):
            with lock:
                pending, lines[:] = list(lines), []
            for text in pending:
                console.print(text, markup=False, highlight=False)
        for text in lines:
            console.print(text, markup=False, highlight=False)
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
    outcome = shared.outcome
    if outcome.exit_code == EXIT_REFUSED and not outcome.animals:
        raise InputError(outcome.message)
    return outcome
