"""``raphe serve SESSION``: the status page of a session another process is writing (or a
finished one); ``raphe serve --new-token``: make the access token a non-loopback page needs."""

from __future__ import annotations

import argparse

NAME = "serve"
HELP = "serve a read-only status page of a session (for a phone), or make its access token"
ORDER = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", nargs="?", help="the session file (.h5), being written or not")
    parser.add_argument("--on", default="127.0.0.1:8765", metavar="[HOST:]PORT",
                        help="where to listen (default 127.0.0.1:8765: this machine only)")
    parser.add_argument("--new-token", action="store_true",
                        help="make a new access token (printed once, stored with your "
                             "settings); the old one stops working")


def run(args: argparse.Namespace) -> int:
    import time

    from raphe.errors import InputError
    from raphe.gui.remote import settings

    if args.new_token:
        token = settings.new_token()
        print(f"access token (shown once; stored in {settings.settings_path()}):\n{token}\n"
              f"open the page as http://HOST:PORT/?token={token}")
        if not args.session:
            return 0
    if not args.session:
        raise InputError("raphe serve: give the session file to serve (or --new-token)")
    from raphe.gui.remote.server import StatusServer
    from raphe.gui.remote.source import FileSource

    source = FileSource(args.session)
    server = StatusServer(source, args.on)
    server.start()
    print(f"status page of {args.session}: {server.url} (Ctrl-C stops it)", flush=True)
    try:
        while True:
            time.sleep(1.0)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        source.close()
    return 0
