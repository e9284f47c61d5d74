"""Replay: feed a recorded session to a stream callback exactly as acquisition fed it.

Blocks (with their recorded boundaries), injections and events are re-emitted
in the order of their sequence numbers, i.e. the order the live session
received them, so the analysis core sees the same stream and gives the same
results. ``speed=None`` replays as fast as possible; ``speed=N`` paces the
stream at N× real time using the session times (a block is due when its last
sample was acquired).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

import numpy as np

from raphe.acquisition.reader import SessionReader
from raphe.errors import InputError

_BLOCK, _INJECTION, _EVENT = 0, 1, 2


class Replay:
    """Re-emit ``path_or_reader``'s stream to a callback ``(kind, record)`` — the signature of
    a session subscription (kinds ``blocks``, ``injections``, ``events``)."""

    def __init__(self, path_or_reader: str | Path | SessionReader,
                 speed: float | None = None) -> None:
        if speed is not None and not speed > 0:
            raise InputError(f"replay speed must be > 0 (or None for as fast as possible), "
                             f"got {speed!r}")
        self.speed = speed
        if isinstance(path_or_reader, SessionReader):
            self.reader, self._owned = path_or_reader, False
        else:
            self.reader, self._owned = SessionReader(path_or_reader), True

    def close(self) -> None:
        if self._owned:
            self.reader.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def schedule(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(kind, row, due time) of every item, in recorded order."""
        r = self.reader
        b = r.table("blocks")
        inj = r.table("injections")
        ev = r.table("events")
        seq = np.concatenate((b["seq"], inj["seq"], ev["seq"]))
        kind = np.concatenate((np.full(len(b), _BLOCK), np.full(len(inj), _INJECTION),
                               np.full(len(ev), _EVENT)))
        row = np.concatenate((np.arange(len(b)), np.arange(len(inj)), np.arange(len(ev))))
        due = np.concatenate((b["t0"] + (b["n"] - 1) * b["dt"], inj["t"], ev["t"]))
        order = np.argsort(seq, kind="stable")
        return kind[order], row[order], due[order]

    def run(self, feed: Callable[[str, Any], None],
            stop_event: threading.Event | None = None) -> int:
        """Call ``feed(kind, record)`` for everything; returns the number of items emitted.

        Stops early (returning the count so far) when ``stop_event`` is set.
        """
        kinds, rows, due = self.schedule()
        injections = self.reader.injections()
        events = self.reader.events()
        blocks = self.reader.blocks()
        paced = self.speed is not None
        if paced and len(due):
            # Never wait backwards: an item is due no earlier than the one before it.
            due = np.maximum.accumulate(np.nan_to_num(due, nan=-np.inf))
            t_first = float(np.min(due[np.isfinite(due)], initial=0.0))
            start = time.monotonic()
        emitted = 0
        for kind, row, t in zip(kinds.tolist(), rows.tolist(), due.tolist()):
            if stop_event is not None and stop_event.is_set():
                break
            if paced:
                wait = start + (t - t_first) / self.speed - time.monotonic()
                if wait > 0:
                    if stop_event is not None:
                        if stop_event.wait(wait):
                            break
                    else:
                        time.sleep(wait)
            if kind == _BLOCK:
                feed("blocks", next(blocks))
            elif kind == _INJECTION:
                feed("injections", injections[row])
            else:
                feed("events", events[row])
            emitted += 1
        return emitted


def closed_runs(path_or_reader: str | Path | SessionReader, method: Any,
                on_run: Callable[[Any], None],
                stop_event: threading.Event | None = None) -> None:
    """Replay a session through the analysis core and hand ``on_run`` each chromatogram as
    the live analysis closed it (:class:`~raphe.acquisition.analysis.quantifier.ClosedRun`) — what
    a window draws in a replay, from the same code as live."""
    from raphe.acquisition.analysis.quantifier import LiveQuantifier

    quantifier = LiveQuantifier(method, on_chromatogram=on_run)
    with Replay(path_or_reader) as replay:
        replay.run(quantifier.feed, stop_event=stop_event)
    if stop_event is None or not stop_event.is_set():
        quantifier.finish()
