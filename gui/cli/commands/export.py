"""``raphe export SESSION --format csv [--out DIR]``: a session as CSV files with units."""

from __future__ import annotations

import argparse

NAME = "export"
HELP = ("export a session's signal, events, fractions, results, baseline reference, "
        "calibration, recovery, suitability and instrument states as CSV (units in headers)")
ORDER = 62


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", help="session file (.h5)")
    parser.add_argument("--format", choices=["csv"], default="csv", help="output format")
    parser.add_argument("--out", metavar="DIR", help="output folder (default SESSION_csv/)")


def run(args: argparse.Namespace) -> int:
    from raphe.acquisition.export import export_csv

    for path in export_csv(args.session, args.out):
        print(path)
    return 0
