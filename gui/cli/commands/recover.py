"""``raphe recover SESSION``: a complete copy of a crashed session, written beside it."""

from __future__ import annotations

import argparse

NAME = "recover"
HELP = "rebuild a crashed session as a complete file beside it (the original is not modified)"
ORDER = 61


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", help="session file left open by a crash (.h5)")
    parser.add_argument("--out", metavar="FILE",
                        help="where to write the copy (default SESSION.recovered.h5)")


def run(args: argparse.Namespace) -> int:
    from raphe.acquisition.recover import recover

    report = recover(args.session, args.out)
    print("\n".join(report.lines()))
    return 0
