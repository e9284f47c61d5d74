"""One logging configuration for every command: ISO 8601 timestamps, optional file.

One rule for logger names: every module logs under its import name
(``raphe.acquisition.recorder``, ``raphe.protocols.engine`` …), and instrument
traffic under ``raphe.instrument.<name>``, the instrument's rig-file table (its
role: pump, collector, valve, detector). ``-v`` shows INFO, ``-vv`` shows DEBUG
(traffic included).
"""

from __future__ import annotations

import logging
import sys
import time

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class IsoFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        t = time.localtime(record.created)
        base = time.strftime("%Y-%m-%dT%H:%M:%S", t)
        tz = time.strftime("%z", t)
        return f"{base}.{int(record.msecs):03d}{tz[:3]}:{tz[3:]}"


class ConsoleHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record arrives, so a run that replaced
    stderr (a test's capture, an embedding application) never logs to a closed stream."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def check_log_file(path: str) -> None:
    """A log file must be new, in a folder that exists and can be written (an existing file
    — a session, a previous log — is never appended to)."""
    from raphe.files import new_file

    new_file(path, "--log-file")


def configure(verbose: int = 0, log_file: str | None = None) -> None:
    """Configure the root ``raphe`` logger for a command-line run.

    The log file is created when the first record is written, so a command refused for a
    bad option leaves no file behind.
    """
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    root = logging.getLogger("raphe")
    root.setLevel(logging.DEBUG if log_file else level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    console = ConsoleHandler()
    console.setLevel(level)
    console.setFormatter(IsoFormatter(FORMAT))
    root.addHandler(console)
    if log_file:
        fh = logging.FileHandler(log_file, encoding="utf-8", delay=True)
        fh.setLevel(logging.DEBUG)
        fh.setFormatter(IsoFormatter(FORMAT))
        root.addHandler(fh)
    root.propagate = False
