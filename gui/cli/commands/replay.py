"""``raphe replay``: reanalyse a recorded session without touching it."""

from __future__ import annotations

import argparse

NAME = "replay"
HELP = "reanalyse a recorded session through the live analysis (optionally into a new file)"
ORDER = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", metavar="SESSION", help="recorded session (.h5)")
    parser.add_argument("--method", metavar="METHOD",
                        help="analysis method (bundled name or TOML file); "
                             "default: the one stored in the session")
    parser.add_argument("--out", metavar="NEW",
                        help="write a new session with the replayed stream and the new results")
    parser.add_argument("--speed", type=float, metavar="N",
                        help="replay at N× real time (default: as fast as possible)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def run(args: argparse.Namespace) -> int:
    import json
    import math

    from raphe.acquisition.reanalysis import reanalyse
    from raphe.errors import InputError
    from raphe.gui.cli.commands._experiment_run import RESULT_HEADER, format_result

    if args.speed is not None and not args.speed > 0:
        raise InputError(f"--speed must be > 0, got {args.speed:g}")
    results = reanalyse(args.session, args.method, args.out, args.speed)
    if args.json:
        def clean(v):
            return None if isinstance(v, float) and math.isnan(v) else v

        print(json.dumps({"results": [
            {"sample_id": r.sample_id, "inject_t": r.inject_t, "analyte": r.analyte,
             "rt_s": clean(r.rt_s), "area": clean(r.area), "height": clean(r.height),
             "sn": clean(r.sn), "conc_nM": clean(r.conc_nM),
             "amount_fmol": clean(r.amount_fmol), "pct_baseline": clean(r.pct_baseline),
             "flags": [f for f in r.flags.split(",") if f]} for r in results]}, indent=2))
    else:
        print(RESULT_HEADER)
        for r in results:
            print(format_result(r))
        if args.out:
            print(f"new session written: {args.out}")
    return 0
