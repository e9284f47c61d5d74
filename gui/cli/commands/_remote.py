"""``--serve`` and notifications for the commands that run an experiment (run, record)."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from typing import Any


def add_remote_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("unattended")
    group.add_argument("--serve", metavar="[HOST:]PORT",
                       help="serve a read-only status page for a phone or another computer "
                            "(this machine only unless HOST says otherwise, which needs the "
                            "access token of `raphe serve --new-token`)")
    group.add_argument("--no-notify", action="store_true",
                       help="send no notification for this run (see `raphe notify`)")


@contextlib.contextmanager
def remote(engine: Any, args: argparse.Namespace, console: Any) -> Iterator[None]:
    """The status page and the notifications of ``engine`` for the ``with`` block."""
    from raphe.gui.remote import settings

    server = notifier = None
    page_url = ""
    if getattr(args, "serve", None):
        from raphe.gui.remote.server import StatusServer
        from raphe.gui.remote.source import LiveSource

        server = StatusServer(LiveSource(engine), args.serve,
                              on_failure=lambda text: engine.record_event("alarm", text,
                                                                          "instrument"))
        server.start()
        page_url = server.url
        console.print(f"status page: {page_url}", markup=False, highlight=False)
    urls = [] if getattr(args, "no_notify", False) else settings.notify_urls()
    if urls:
        from raphe.gui.remote.notify import Notifier

        notifier = Notifier(urls, engine, page_url)
        console.print(f"notifications: {len(urls)} destination(s) (raphe notify --list)",
                      markup=False, highlight=False)
    try:
        yield
    finally:
        if notifier is not None:
            notifier.close()
        if server is not None:
            server.close()
