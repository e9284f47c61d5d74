"""A recorded session in the window: everything at once, or played back, scrubbed, reanalysed.

The session's tables are small and read at once; the signal is read through
the file's display pyramid as the trace panel needs it. Each record becomes
visible at the session time it was known (an injection at its time, a result
when its chromatogram ended), so playing moves a cursor and the panels show
the session as it was at that moment; scrubbing back re-shows the records up
to the cursor. The chromatograms and their integration come from the same
analysis core fed with the recorded stream
(:func:`~raphe.acquisition.replay.closed_runs`: each closed run published as
the live analysis did) on a worker thread. Reanalysis writes a
new session file, never the original.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from raphe.acquisition.reader import SessionReader
from raphe.errors import InputError
from raphe.gui.app.bridge import Bridge
from raphe.gui.app.history import FileHistory

log = logging.getLogger(__name__)

SPEEDS = (1.0, 10.0, 60.0, 300.0, 1000.0)


def stored_method(reader: SessionReader, path: Path):
    """The analysis method stored in the session, or None."""
    from raphe.acquisition.analysis.method import parse_method

    text = reader.metadata.get("method_toml", "")
    if not text.strip():
        return None
    try:
        return parse_method(text, source=f"{path}:/analysis/method")
    except InputError as exc:
        log.warning("%s", exc)
        return None


class ReplaySession(QObject):
    """See the module docstring. Raises :class:`InputError` when the file cannot be read."""

    cursor_moved = Signal(float)
    playing_changed = Signal(bool)
    analysed = Signal()
    reanalysed = Signal(object)  # Path of the new session
    failed = Signal(str)

    def __init__(self, path: str | Path, model, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.path = Path(path)
        self.model = model
        self.reader = SessionReader(self.path)
        self.meta = self.reader.metadata
        self.method = stored_method(self.reader, self.path)
        self.t_start, self.t_end = self.reader.t_range
        self.speed = 60.0
        self.playing = False
        self.cursor = self.t_end
        self.chromatograms: list = []
        self._items: list[tuple[float, int, str, Any]] = []
        self._load_items()
        self._times = [item[0] for item in self._items]
        self._shown = 0
        self._stop = threading.Event()
        self.bridge = Bridge(self)
        self.bridge.records.connect(self._on_worker_records)
        self.bridge.engine_event.connect(self._on_worker_event)
        self._timer = QTimer(self)
        self._timer.setInterval(50)
        self._timer.timeout.connect(self._tick)
        self._last_tick = 0.0
        self._worker: threading.Thread | None = None
        self._reanalysis: threading.Thread | None = None
        model.reset(FileHistory(self.reader), self.method,
                    {**self.meta, "path": str(self.path)}, live=False)
        self.seek(self.t_end)
        if self.method is not None and self.method.run_length_s:
            self._worker = threading.Thread(target=self._analyse, name="raphe-replay-analysis",
                                            daemon=True)
            self._worker.start()

    @property
    def status(self) -> str:
        return self.reader.status

    def _load_items(self) -> None:
        r = self.reader
        run = float(getattr(self.method, "run_length_s", None) or 0.0)
        rows: list[tuple[float, str, Any]] = []
        rows += [(i.t, "injections", i) for i in r.injections()]
        rows += [(e.t, "events", e) for e in r.events()]
        rows += [(f.t_end, "fractions", f) for f in r.fractions()]
        rows += [(p.t, "pump", p) for p in r.pump()]
        rows += [(min(res.inject_t + run, self.t_end), "results", res) for res in r.results()]
        rows += [(ref.t if ref.t == ref.t else self.t_end, "baseline", ref)
                 for ref in r.baseline_references()]
        rows += [(c.t, "calibration", c) for c in r.records("calibration")]
        rows += [(x.t, "suitability", x) for x in r.records("suitability")]
        # What was recorded after the last sample (the instruments' final states, the end of
        # the run) shows at the end of the replay.
        self._items = sorted((min(t, self.t_end), i, kind, rec)
                             for i, (t, kind, rec) in enumerate(rows))

    # -- the cursor ------------------------------------------------------------------------

    def seek(self, t: float) -> None:
        """Show the session as it was at session time ``t``."""
        t = min(max(float(t), self.t_start), self.t_end)
        upto = bisect.bisect_right(self._times, t)
        if upto < self._shown or t < self.cursor:
            self.model.clear_records()
            self._shown = 0
        self.cursor = t
        self.model.add([(kind, rec) for _, _, kind, rec in self._items[self._shown:upto]])
        self._shown = upto
        self._add_chromatograms()
        self.model.set_now(t, None if t >= self.t_end else t)
        self.cursor_moved.emit(t)

    def _add_chromatograms(self) -> None:
        shown = len(self.model.chromatograms)
        ready = [v for v in self.chromatograms if v.end_t <= self.cursor + 1e-9]
        if len(ready) > shown:
            self.model.add([("chromatograms", v) for v in ready[shown:]])

    def play(self) -> None:
        if self.cursor >= self.t_end:
            self.seek(self.t_start)
        self.playing = True
        self._last_tick = time.monotonic()
        self._timer.start()
        self.playing_changed.emit(True)

    def pause(self) -> None:
        self.playing = False
        self._timer.stop()
        self.playing_changed.emit(False)

    def toggle(self) -> None:
        self.pause() if self.playing else self.play()

    def set_speed(self, speed: float) -> None:
        if not speed > 0:
            raise InputError(f"replay speed must be > 0, got {speed:g}")
        self.speed = float(speed)

    def _tick(self) -> None:
        now = time.monotonic()
        step, self._last_tick = (now - self._last_tick) * self.speed, now
        target = self.cursor + step
        self.seek(target)
        if target >= self.t_end:
            self.pause()

    # -- the analysis pass (worker thread) -------------------------------------------------

    def _analyse(self) -> None:
        from raphe.acquisition.replay import closed_runs

        try:
            closed_runs(self.path, self.method,
                        lambda c: self.bridge.post("chromatograms", c), self._stop)
            self.bridge.post_engine("analysed")
        except Exception as exc:
            log.exception("replay analysis")
            self.bridge.post_engine("failed", f"chromatograms of {self.path.name}: {exc}")

    def _on_worker_records(self, batch) -> None:
        for kind, record in batch:
            if kind == "chromatograms":
                self.chromatograms.append(record)
        self._add_chromatograms()

    def _on_worker_event(self, kind: str, payload: Any) -> None:
        if kind == "analysed":
            self.analysed.emit()
        elif kind == "reanalysed":
            self.reanalysed.emit(payload)
        elif kind == "failed":
            self.failed.emit(str(payload))

    def wait_analysed(self, timeout: float | None = None) -> bool:
        """Block until the chromatograms are ready (tests, the summary figure)."""
        if self._worker is None:
            return True
        self._worker.join(timeout)
        return not self._worker.is_alive()

    # -- reanalysis ------------------------------------------------------------------------

    def reanalyse(self, method: str, out: str | Path) -> None:
        """Quantify the session again with ``method`` into the NEW session ``out`` (a worker
        thread; ``reanalysed(out)`` or ``failed(message)`` when done)."""
        out = Path(out)
        if out.exists() or out.resolve() == self.path.resolve():
            raise InputError(f"{out} already exists; a session is never overwritten")

        def work() -> None:
            from raphe.acquisition.reanalysis import reanalyse

            try:
                reanalyse(self.path, method, out)
                self.bridge.post_engine("reanalysed", out)
            except Exception as exc:
                log.debug("reanalysis failed", exc_info=True)
                self.bridge.post_engine("failed", f"reanalysis: {exc}")

        self._reanalysis = threading.Thread(target=work, name="raphe-reanalyse", daemon=True)
        self._reanalysis.start()

    def close(self) -> None:
        self.pause()
        self._stop.set()
        if self._worker is not None:
            self._worker.join(10)
        if self._reanalysis is not None:  # a new file is being written: let it finish
            self._reanalysis.join()
        self.bridge.stop()
        self.reader.close()
