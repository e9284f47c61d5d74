"""An unhandled exception in the window is logged and shown; the run goes on.

Qt calls ``sys.excepthook`` for an exception escaping a slot. The hook logs it
with its traceback and shows a non-modal message: the protocol engine runs on
its own thread and the session file is written by its own writer, so the
file stays complete (or recoverable, if the process then dies).
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable

log = logging.getLogger(__name__)


def install(report: Callable[[str, str], None]) -> Callable[[], None]:
    """Route unhandled exceptions to ``report(summary, details)``; returns the undo."""
    previous = sys.excepthook

    def hook(kind, value, tb) -> None:
        if issubclass(kind, KeyboardInterrupt):
            previous(kind, value, tb)
            return
        log.error("unhandled error in the window", exc_info=(kind, value, tb))
        details = "".join(traceback.format_exception(kind, value, tb))
        try:
            report(f"{kind.__name__}: {value}", details)
        except Exception:
            log.exception("reporting the error failed")

    sys.excepthook = hook

    def undo() -> None:
        if sys.excepthook is hook:
            sys.excepthook = previous

    return undo
