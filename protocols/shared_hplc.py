"""One HPLC for several animals: the stream selector ahead of the loop and the turn to inject.

Each animal's dialysate reaches the injection loop through its own port of a multiposition
stream selector; the loop fills from whichever stream the selector points at. After each
injection, once the valve is back in LOAD, the selector moves to the next animal in turn,
so that animal's loop fills from then until its injection. An injection takes the HPLC:
it waits until the previous chromatogram has run (a pause of one animal can never make two
runs overlap), moves the selector if it is not already at the animal's stream, and records
the probe window of what the loop really holds: the animal's dialysate since the selector
reached its stream.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

from raphe.protocols.animals import SELECTOR_DELAY_S
from raphe.protocols.protocol_run import INJECT_HOLD_S, Stopped


class SharedHPLC:
    """The HPLC's turn between animals; see the module docstring.

    ``streams``: animal → its selector position, in turn order. ``schedule(t, position,
    what)`` turns the selector to ``position`` on the acquisition thread at session time
    ``t`` (with its retry after a lost link), then calls :meth:`moved`; ``clock`` is the
    session clock.
    """

    def __init__(self, streams: dict[str, int], run_length_s: float | None, clock: Any,
                 schedule: Callable[[float, int, str], Any]) -> None:
        self.streams = dict(streams)
        self.order: list[str] = list(streams)
        self.active: list[str] = list(streams)
        self.run_length_s = float(run_length_s or 0.0)
        self.clock = clock
        self._schedule = schedule
        self._turn = threading.Lock()
        self._state = threading.Lock()
        self.last_inject: float | None = None
        self.position: int | None = None
        self.selected_at = 0.0  # session time the selector reached ``position``

    # -- the selector --------------------------------------------------------------------

    def moved(self, position: int, t: float) -> None:
        """The selector reached ``position`` at session time ``t``."""
        with self._state:
            if self.position != position:
                self.position, self.selected_at = position, t

    def next_after(self, animal: str) -> str | None:
        """The animal whose turn follows ``animal``'s (among those still running)."""
        with self._state:
            active = [a for a in self.order if a in self.active]
        if not active:
            return None
        if animal not in active:
            return active[0]
        return active[(active.index(animal) + 1) % len(active)]

    def leave(self, animal: str) -> None:
        """``animal`` is off the rig: its turn is skipped from now on."""
        with self._state:
            if animal in self.active:
                self.active.remove(animal)

    # -- injections ----------------------------------------------------------------------

    def take(self, animal: str, cancel: threading.Event,
             move: Callable[[int], None]) -> None:
        """Wait for the HPLC (another animal's injection, a chromatogram still running) and
        the selector at ``animal``'s stream (``move(position)`` turns it, then calls
        :meth:`moved`); hold it until :meth:`release`. Raises :class:`Stopped` when
        ``cancel`` is set."""
        while not self._turn.acquire(timeout=0.2):
            if cancel.is_set():
                raise Stopped("stopped")
        try:
            if self.last_inject is not None and self.run_length_s:
                free = self.last_inject + self.run_length_s
                while self.clock.now() < free:
                    if cancel.is_set():
                        raise Stopped("stopped")
                    step = min(free, self.clock.now() + 0.5 * getattr(self.clock, "speed", 1.0))
                    self.clock.sleep_until(step, cancel)
            if self.position != self.streams[animal]:
                move(self.streams[animal])
        except BaseException:
            self._turn.release()
            raise

    def loop_window(self, animal: str, t: float, probe: tuple[float, float]) -> tuple[float, float]:
        """``probe`` (when the dialysate of the sample left the probe) narrowed to what the
        loop holds at injection time ``t``: the animal's stream since the selector reached
        it."""
        start, end = probe
        if not (math.isfinite(start) and math.isfinite(end)):
            return probe
        with self._state:
            since = self.selected_at
        return (max(start, end - max(0.0, t - since)), end)

    def release(self, animal: str, injected_at: float | None) -> None:
        """The injection is done (at ``injected_at``; None: it was not made). After the
        valve's time in INJECT, the selector turns to the next animal's stream."""
        try:
            if injected_at is not None:
                self.last_inject = injected_at
                following = self.next_after(animal)
                if following is not None and following != animal:
                    position = self.streams[following]
                    self._schedule(injected_at + INJECT_HOLD_S + SELECTOR_DELAY_S, position,
                                   f"selector to {following}'s stream {position}")
        finally:
            self._turn.release()

