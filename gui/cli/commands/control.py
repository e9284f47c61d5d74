"""``raphe control SESSION COMMAND [ARG]``: answer, pause, resume or abort a run from another
shell of the same user (a run started without a terminal, or one in another window)."""

from __future__ import annotations

import argparse

NAME = "control"
HELP = "answer a prompt, pause, resume or abort a running session from another shell"
ORDER = 4


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from raphe.protocols.control import COMMANDS

    parser.add_argument("session", help="the session file the run is writing (.h5)")
    parser.add_argument("command", choices=list(COMMANDS), metavar="COMMAND",
                        help="; ".join(f"{k}: {v}" for k, v in COMMANDS.items()))
    parser.add_argument("arg", nargs="?", default=None, metavar="ARG",
                        help="the answer's text, the marker's text, or the flow (µL/min)")


def run(args: argparse.Namespace) -> int:
    import sys

    from raphe.protocols.control import request

    reply = request(args.session, args.command, args.arg)
    if not reply.get("ok"):
        print(f"raphe control: error: {reply.get('error', 'refused')}", file=sys.stderr)
        return 1
    if args.command == "status":
        prompt = reply.get("prompt")
        print(f"state       {reply['state']}" + (f" ({'; '.join(reply['paused_because'])})"
                                                 if reply.get("paused_because") else ""))
        print(f"session     {reply['t_s'] / 60:.1f} min, phase {reply['phase'] or '-'}, "
              f"sample {reply['samples_done']}/{reply['samples_total']}")
        print(f"step        {reply['step'] or '-'}")
        if prompt:
            print(f"prompt      {prompt['text']}  (raised at {prompt['t_s'] / 60:.1f} min; "
                  f"answer: raphe control {args.session} answer [TEXT])")
        for alarm in reply.get("alarms", []):
            print(f"alarm       {alarm}")
    elif args.command == "answer":
        print(f"answered {reply['answered']!r}: {reply['with']}")
    else:
        print("ok")
    return 0
