"""``raphe gui [SESSION] [--sim [--animals N] | --rig RIG ...]``: the window — run protocols,
watch the live 5-HT trace and time course, replay sessions. ``--animals N`` puts N animals on
the simulated HPLC; ``--rig`` given more than once opens each rig in its own tab.

Qt is imported inside ``run()`` only, so ``raphe --help`` never loads it. Without
a display the window can still be drawn offscreen for ``--screenshot PNG
--quit-after SECONDS`` (documentation, tests).
"""

from __future__ import annotations

import argparse

NAME = "gui"
HELP = "open the window: run protocols, monitor the live trace and time course, replay sessions"
ORDER = 4


def add_window_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("window")
    group.add_argument("--screenshot", metavar="PNG",
                       help="save the window as PNG when --quit-after elapses")
    group.add_argument("--quit-after", type=float, metavar="SECONDS",
                       help="close the window after SECONDS (a run still going is aborted to "
                            "its safe state first)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", nargs="?", metavar="SESSION",
                        help="a recorded session to replay (.h5); also by File ▸ Open or by "
                             "dropping it on the window")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--sim", action="store_true",
                        help="run protocols on the simulated rig (the default)")
    source.add_argument("--rig", metavar="RIG", action="append",
                        help="run protocols on the rig of this rig file; more than once: each "
                             "rig in its own tab, each with its own run")
    parser.add_argument("--animals", type=int, metavar="N",
                        help="N animals (2–4) on the simulated HPLC, each with its own pump, "
                             "stream and file (a rig file declares its own [[animals]])")
    parser.add_argument("--set", dest="assignments", action="append", default=[],
                        metavar="NAME=VALUE",
                        help="fill the protocol's form: NAME=VALUE for every animal, "
                             "A2:NAME=VALUE for one (repeatable)")
    parser.add_argument("--protocol", metavar="PROTOCOL",
                        help="protocol to show (bundled name or .py file)")
    parser.add_argument("--method", metavar="METHOD",
                        help="analysis method (bundled name or TOML file; default "
                             "simulated-5ht on the simulated rig, none on a rig)")
    parser.add_argument("--speed", type=float, default=60.0, metavar="N",
                        help="simulated clock N× real time (default 60)")
    add_window_options(parser)
    from raphe.gui.cli.commands._remote import add_remote_options

    add_remote_options(parser)


def check_window_options(args: argparse.Namespace, command: str) -> None:
    """Refuse bad window options (before Qt loads); render offscreen when there is no
    display but the window is only drawn for a screenshot."""
    import math
    from pathlib import Path

    from raphe.errors import InputError
    from raphe.gui.app.display import has_display, platform, render_offscreen

    if args.quit_after is not None and not (math.isfinite(args.quit_after)
                                            and args.quit_after > 0):
        raise InputError(f"--quit-after must be > 0 seconds, got {args.quit_after:g}")
    if args.screenshot:
        if args.quit_after is None:
            raise InputError("--screenshot needs --quit-after SECONDS (when to take it)")
        shot = Path(args.screenshot)
        if shot.suffix.lower() != ".png":
            raise InputError(f"--screenshot {shot}: give a .png file")
        if not shot.parent.is_dir():
            raise InputError(f"--screenshot {shot}: folder {shot.parent} does not exist")
    if not has_display():
        if args.quit_after is None:
            why = f"QT_QPA_PLATFORM={platform()}" if platform() else \
                "no DISPLAY or WAYLAND_DISPLAY"
            raise InputError(f"the window needs a display ({why}); draw it offscreen with "
                             f"--screenshot PNG --quit-after SECONDS, or run {command} "
                             "headless")
        render_offscreen()


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from raphe.clock import MAX_SPEED, MIN_SPEED
    from raphe.errors import InputError
    from raphe.protocols.animals import MAX_ANIMALS

    rigs = list(args.rig or [])
    for rig in rigs:
        if not Path(rig).is_file():
            raise InputError(f"--rig {rig}: no such file")
    if args.animals is not None:
        if rigs:
            raise InputError("--animals is for the simulated rig; a rig file declares its own "
                             "[[animals]]")
        if not 1 <= args.animals <= MAX_ANIMALS:
            raise InputError(f"--animals must be from 1 to {MAX_ANIMALS}, got {args.animals}")
    if rigs and args.session:
        raise InputError("a recorded session opens in one rig's window: give one --rig or "
                         "none")
    if not MIN_SPEED <= args.speed <= MAX_SPEED:
        raise InputError(f"--speed must be from {MIN_SPEED:g} to {MAX_SPEED:g}, got "
                         f"{args.speed:g}")
    if args.method:
        from raphe.gui.app.live_run import load_method

        load_method(args.method)
    if args.session:
        from raphe.acquisition.reader import SessionReader

        SessionReader(args.session).close()  # one clear error before any window opens
    check_window_options(args, "raphe run")

    from raphe.gui.app.app import application, run_window
    from raphe.gui.app.window import MainWindow

    application()
    if len(rigs) > 1:
        from raphe.gui.app.rig_tabs import RigTabs

        window = RigTabs(rigs)
        tabs = window.windows
    else:
        window = MainWindow()
        tabs = [window]
    for tab, rig in zip(tabs, rigs or [None], strict=True):
        _prepare(tab.protocol_panel, args, rig)
    if args.session and window.open_session(args.session) is None:
        raise InputError(window.errors[-1])
    server = _remote(tabs, args)
    try:
        return run_window(window, screenshot=args.screenshot, quit_after=args.quit_after)
    finally:
        if server is not None:
            server.close()


def _prepare(panel, args: argparse.Namespace, rig: str | None) -> None:
    """A protocol panel set as the options say: its rig, animals, method, protocol, form."""
    from raphe.errors import InputError
    from raphe.protocols.rig_spec import simulated_methods

    if rig:
        panel.set_rig(rig)
        panel.set_method(args.method)
    else:
        panel.set_rig(None, speed=args.speed)
        panel.set_method(args.method or simulated_methods()["standard"])
        if args.animals:
            panel.set_animals(args.animals)
    if args.protocol and not panel.load(args.protocol):
        raise InputError(panel.problem)
    if args.assignments:
        if panel.protocol is None:
            raise InputError("--set needs a protocol (--protocol)")
        panel.apply_assignments(args.assignments)
        panel.check()


def _remote(windows: list, args: argparse.Namespace):
    """The status page (``--serve``) and notifications follow each run a window starts."""
    from raphe.gui.remote import settings

    server, page_url = None, ""
    if args.serve:
        from raphe.gui.remote.server import StatusServer
        from raphe.gui.remote.source import FollowingSource

        source = FollowingSource()
        server = StatusServer(source, args.serve)
        server.start()
        page_url = server.url
        print(f"status page: {page_url}", flush=True)
        for window in windows:
            window.run_hooks.append(lambda run: source.follow(run.engine))
    urls = [] if args.no_notify else settings.notify_urls()
    if urls:
        from raphe.gui.remote.notify import Notifier

        def notify(run) -> None:
            notifier = Notifier(urls, run.engine, page_url)
            run.finished.connect(lambda _outcome: notifier.close(timeout=0.0))

        for window in windows:
            window.run_hooks.append(notify)
    return server
