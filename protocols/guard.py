"""A guard around a protocol's own code: bounded in the dry run, stoppable in a live run.

A protocol is Python; a loop in it that never calls the Rig API (``while True:
pass``) would hang ``raphe check`` and make ``raphe run`` deaf to abort. The
guard traces the lines of the protocol's file only (the Rig API and the
libraries run untraced, at full speed) and, every ``CHECK_EVERY`` lines:

* in the dry run, stops the script when it has used more than ``cpu_s`` seconds
  of its thread's CPU time, raising :class:`Endless` with the line it was on;
* in a live run, raises the engine's stop (:class:`~raphe.protocols.protocol_run.Stopped`)
  as soon as an abort is requested, wherever the script is looping.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, Self

#: Lines of the protocol between two checks (a check costs a clock read).
CHECK_EVERY = 1000
#: CPU seconds the dry run allows a protocol's own code (a day's protocol needs milliseconds).
DRY_RUN_CPU_S = 5.0


class Endless(BaseException):
    """The protocol's own code ran longer than the dry run allows (an endless loop?).

    A ``BaseException``: a protocol's ``except Exception`` cannot swallow it."""

    def __init__(self, line: int, cpu_s: float) -> None:
        self.line, self.cpu_s = line, cpu_s
        super().__init__(f"the protocol computed for more than {cpu_s:g} s of CPU time without "
                         "finishing (an endless loop?): stopped here")


class ScriptGuard:
    """Trace the lines of ``path`` while the ``with`` block runs on this thread."""

    def __init__(self, path: str, *, cpu_s: float | None = None,
                 stop: Callable[[], BaseException | None] | None = None) -> None:
        self.path = path
        self.cpu_s = cpu_s
        self.stop = stop
        self.lines = 0
        self._start = 0.0
        self._previous: Any = None

    def __enter__(self) -> Self:
        self._start = time.thread_time()
        self._previous = sys.gettrace()
        sys.settrace(self._call)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.settrace(self._previous)

    def _call(self, frame: FrameType, event: str, arg: Any):
        """Trace only the frames of the protocol's file."""
        if frame.f_code.co_filename == self.path:
            return self._line
        return None

    def _line(self, frame: FrameType, event: str, arg: Any):
        if event == "line":
            self.lines += 1
            if self.lines % CHECK_EVERY == 0:
                self._check(frame)
        return self._line

    def _check(self, frame: FrameType) -> None:
        if self.stop is not None:
            stop = self.stop()
            if stop is not None:
                raise stop
        if self.cpu_s is not None and time.thread_time() - self._start > self.cpu_s:
            raise Endless(frame.f_lineno, self.cpu_s)
