"""The ``raphe`` command line.

Each subcommand is a module in ``gui/cli/commands/`` defining ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``. Those modules import only
the standard library at top level, so ``raphe --help`` stays fast and never
loads Qt; the work is imported inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from raphe import __version__
from raphe.errors import RapheError
from raphe.gui.cli import commands


def _command_modules() -> list:
    modules = []
    for info in pkgutil.iter_modules(commands.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"raphe.gui.cli.commands.{info.name}")
        if hasattr(module, "NAME") and hasattr(module, "run"):
            modules.append(module)
    return sorted(modules, key=lambda m: getattr(m, "ORDER", 50))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="raphe",
        description="Run in vivo microdialysis experiments: drive the rig, stream the ECD, "
        "quantify serotonin live, replay and reanalyse sessions.",
    )
    parser.add_argument("--version", action="version", version=f"raphe {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0,
        help="more log output (-v info, -vv debug incl. instrument traffic)",
    )
    parser.add_argument("--log-file", metavar="FILE", help="also write the full debug log to FILE")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    code = _main(argv)
    session = sys.modules.get("raphe.acquisition.session")
    if session is not None and session.UNCLEAN:
        # HDF5 could not close a session file after a write error (disk full): leave at once,
        # before Python's teardown hands the library that file again (it would crash).
        sys.stdout.flush()
        sys.stderr.flush()
        import os

        os._exit(code)
    return code


def _main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    from raphe.gui.cli import log

    _tolerant_output()
    try:
        if args.log_file:
            log.check_log_file(args.log_file)
        log.configure(args.verbose, args.log_file)
        return int(args._run(args) or 0)
    except RapheError as exc:
        print(f"raphe {args.command}: error: {exc}", file=sys.stderr)
        # 1 by default; an error may carry its own (5: a new file could not be written)
        return int(getattr(exc, "exit_code", 1))
    except KeyboardInterrupt:
        print(f"raphe {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `raphe inspect s.h5 | head`
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _tolerant_output() -> None:
    """Never fail on a character the terminal's encoding lacks (µ, ², █): replace it."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="replace")
            except (ValueError, OSError):
                pass


if __name__ == "__main__":
    sys.exit(main())
