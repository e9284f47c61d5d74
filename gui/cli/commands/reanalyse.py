"""``raphe reanalyse SOURCES… --method M --out DIR [--scheduler ADDRESS] [--workers N]``:
reanalyse an archive of sessions into new files on Dask (the originals are only read)."""

from __future__ import annotations

import argparse

NAME = "reanalyse"
HELP = ("reanalyse many sessions with a method into new files, on a local Dask cluster or a "
        "lab's scheduler; resumable, a failing session does not stop the others")
ORDER = 21


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sources", nargs="+", metavar="SOURCE",
                        help="sessions: files, folders (every .h5 in them) or globs")
    parser.add_argument("--method", required=True, metavar="METHOD",
                        help="analysis method (bundled name or TOML file)")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="folder for the new sessions (<stem>.<method hash>.h5, the "
                             "sources' folders kept); must be visible to the workers")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="a Dask scheduler, e.g. tcp://10.0.0.5:8786 (default: a local "
                             "cluster on this computer)")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="local cluster: worker processes (default: one per core); "
                             "0 = in this process, without Dask")
    parser.add_argument("--json", action="store_true",
                        help="print every session's outcome and the totals as JSON")


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    from dataclasses import asdict
    from pathlib import Path

    from raphe.acquisition.study.batch import reanalyse_many, totals
    from raphe.acquisition.study.table import expand_sources
    from raphe.errors import InputError

    if args.workers is not None and not 0 <= args.workers <= 256:
        raise InputError(f"--workers must be 0-256, got {args.workers}")
    if args.scheduler is not None and args.workers is not None:
        raise InputError("--workers sizes the local cluster; a --scheduler has its own workers")
    sources = expand_sources(args.sources, what="reanalyse")
    from raphe.acquisition.analysis.method import load_method

    load_method(args.method)  # a bad method is refused before any work
    if not Path(args.out).parent.is_dir():
        raise InputError(f"--out {args.out}: folder {Path(args.out).parent} does not exist")
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    failures = []
    with Progress(TextColumn("reanalysing"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), TextColumn("{task.description}"), console=console,
                  transient=False, disable=args.json and not sys.stderr.isatty()) as bar:
        task = bar.add_task("", total=len(sources))

        def progress(done: int, total: int, outcome) -> None:
            bar.update(task, completed=done, total=total,
                       description=f"{Path(outcome.source).name}: {outcome.status}")
            if outcome.status == "failed":
                failures.append(outcome)
                bar.console.print(f"raphe reanalyse: {outcome.source}: failed: {outcome.error}",
                                  markup=False, highlight=False)

        outcomes = reanalyse_many(sources, args.method, Path(args.out),
                                  scheduler=args.scheduler, workers=args.workers,
                                  progress=progress)
    summary = totals(outcomes)
    if args.json:
        print(json.dumps({"totals": summary, "sessions": [asdict(o) for o in outcomes]},
                         indent=2))
    else:
        print(f"{summary['sessions']} sessions: {summary['done']} reanalysed, "
              f"{summary['skipped']} skipped (already reanalysed with this method), "
              f"{summary['failed']} failed")
        if summary["done"]:
            print(f"what changed: {summary['sessions_changed']} of {summary['done']} sessions; "
                  f"{summary['concentration_changed']} concentrations, "
                  f"{summary['flags_changed']} flags; {summary['peaks_found']} peaks found and "
                  f"{summary['peaks_lost']} lost; % of baseline moved by at most "
                  f"{summary['max_pct_baseline_change']:.2f} points")
            for o in outcomes:
                c = o.changes
                if o.status == "done" and (c.get("concentration_changed")
                                           or c.get("flags_changed")):
                    print(f"  {Path(o.source).name}: {c['concentration_changed']} "
                          f"concentrations, {c['flags_changed']} flags changed, % of baseline "
                          f"by up to {c['max_pct_baseline_change']:.2f} points")
        print(f"new sessions in {args.out}/")
    return 1 if failures else 0
