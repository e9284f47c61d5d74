"""``raphe notify``: where notifications go when a run needs a person (Apprise URLs)."""

from __future__ import annotations

import argparse

NAME = "notify"
HELP = "set where notifications go when a run needs a person (email, Slack, ntfy…)"
ORDER = 6


def add_arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--add", metavar="URL",
                      help="an Apprise URL, e.g. mailto://user:pass@example.org, "
                           "slack://TOKEN_A/TOKEN_B/TOKEN_C, ntfy://topic (see apprise docs)")
    what.add_argument("--remove", metavar="N", type=int, help="remove destination N (--list)")
    what.add_argument("--list", action="store_true", help="list the destinations")
    what.add_argument("--test", action="store_true", help="send a test message to every one")


def run(args: argparse.Namespace) -> int:
    import sys

    from raphe.errors import InputError
    from raphe.gui.remote import settings

    urls = settings.notify_urls()
    if args.add:
        import apprise

        if not apprise.Apprise().add(args.add):
            raise InputError(f"raphe notify: {args.add!r} is not an Apprise URL this Raphe "
                             "can send to")
        settings.set_notify_urls([*urls, args.add])
        print(f"added destination {len(urls) + 1}")
    elif args.remove is not None:
        if not 1 <= args.remove <= len(urls):
            raise InputError(f"raphe notify: no destination {args.remove} (there are "
                             f"{len(urls)})")
        del urls[args.remove - 1]
        settings.set_notify_urls(urls)
        print(f"removed destination {args.remove}")
    elif args.list:
        for i, url in enumerate(urls, 1):
            print(f"{i}  {url}")
        if not urls:
            print("no destination: raphe notify --add URL")
    else:
        from raphe.gui.remote.notify import send_test

        if not urls:
            raise InputError("raphe notify --test: no destination yet (raphe notify --add URL)")
        if not send_test(urls):
            print("raphe notify: the test message was not delivered", file=sys.stderr)
            return 1
        print(f"test message sent to {len(urls)} destination(s)")
    return 0
