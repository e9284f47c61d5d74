"""The one way into the GUI thread: a queue any thread appends to, drained by a ``QTimer``.

Engine callbacks and session subscriptions run on their own threads; they
``post`` here and return at once (a ``deque`` append: no lock held by the GUI,
no wait on the GUI). The timer, on the GUI thread, takes everything queued and
emits it in arrival order: stream records in batches (``records``), engine
events one by one (``engine_event``), so a panel redraws once per tick however
fast the detector streams.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

#: Items taken per tick at most, so a backlog never freezes the window.
MAX_PER_TICK = 20_000


class Bridge(QObject):
    """Thread-safe hand-over to the GUI thread (see the module docstring)."""

    #: (kind, payload) of an engine observation: state, status, step, prompt, alarm, done …
    engine_event = Signal(str, object)
    #: list of (kind, record) from the session stream, in order
    records = Signal(object)

    def __init__(self, parent: QObject | None = None, interval_ms: int = 30) -> None:
        super().__init__(parent)
        self._queue: deque[tuple[bool, str, Any]] = deque()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.drain)
        self._timer.start()

    # -- any thread ------------------------------------------------------------------------

    def post(self, kind: str, record: Any) -> None:
        """A stream record (blocks, injections, events, pump, fractions, results, …)."""
        self._queue.append((False, kind, record))

    def post_engine(self, kind: str, payload: Any = None) -> None:
        """An engine observation (the signature of ``Engine.subscribe``)."""
        self._queue.append((True, kind, payload))

    # -- GUI thread ------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        return len(self._queue)

    def drain(self) -> None:
        batch: list[tuple[str, Any]] = []
        queue = self._queue
        for _ in range(MAX_PER_TICK):
            try:
                engine, kind, payload = queue.popleft()
            except IndexError:
                break
            if engine:
                if batch:
                    self.records.emit(batch)
                    batch = []
                self.engine_event.emit(kind, payload)
            else:
                batch.append((kind, payload))
        if batch:
            self.records.emit(batch)

    def stop(self) -> None:
        """Deliver what is queued, then stop the timer."""
        self.drain()
        self._timer.stop()
