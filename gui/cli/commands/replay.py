"""``raphe replay``: reanalyse a recorded session without touching it."""

from __future__ import annotations

import argparse
from contextlib import contextmanager

NAME = "replay"
HELP = "reanalyse a recorded session through the live analysis (optionally into a new file)"
ORDER = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", metavar="SESSION", help="recorded session (.h5)")
    parser.add_argument("--method", metavar="METHOD",
                        help="analysis method (bundled name or TOML file); "
                             "default: the one stored in the session")
    parser.add_argument("--calibration", metavar="SESSION",
                        help="take the calibration from this session (the last good fit of "
                             "each analyte the method calibrates) instead of the method's")
    parser.add_argument("--recovery", metavar="SESSION",
                        help="apply the probe recovery measured in this probe-recovery "
                             "session (recovery-corrected concentrations)")
    parser.add_argument("--out", metavar="NEW",
                        help="write a new session with the replayed stream and the new results")
    parser.add_argument("--speed", type=float, metavar="N",
                        help="replay at N× real time (default: as fast as possible)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from raphe.acquisition.reanalysis import reanalyse
    from raphe.errors import InputError
    from raphe.gui.cli.commands._protocol_run import RESULT_HEADER, format_result
    from raphe.records import as_json

    if args.speed is not None and not args.speed > 0:
        raise InputError(f"--speed must be > 0, got {args.speed:g}")

    def warn(text: str) -> None:
        print(f"raphe replay: warning: {text}", file=sys.stderr, flush=True)

    with _write_errors_reported_once():
        results = reanalyse(args.session, args.method, args.out, args.speed,
                            calibration=args.calibration, recovery=args.recovery,
                            on_warning=warn)
    if args.json:
        rows = [as_json(r) | {"flags": [f for f in r.flags.split(",") if f]} for r in results]
        print(json.dumps({"results": rows}, indent=2))
    else:
        print(RESULT_HEADER)
        for r in results:
            print(format_result(r))
        if args.out:
            print(f"new session written: {args.out}")
    return 0


@contextmanager
def _write_errors_reported_once():
    """While replaying, the new session's writer logs its errors as info (shown with -v,
    kept in --log-file): a replay that cannot write its file says so in its one error line."""
    import logging

    def demote(record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True

    from raphe.acquisition.session import log as logger

    logger.addFilter(demote)
    try:
        yield
    finally:
        logger.removeFilter(demote)
