"""Each chromatogram with its integration, from the stream, for the chromatogram panel.

The analysis core reports results (:class:`~raphe.records.SampleResult`); to
draw a chromatogram the panel also needs its trace and every peak's
integration (start, end, baseline). :class:`ChromatogramFeed` feeds the same
stream to its own :class:`~raphe.acquisition.analysis.live.LiveQuantifier`
(the one analysis path, so its peaks are those the results came from) and
keeps just enough of the signal to cut out each run when it closes. It runs on
the thread that feeds it (a session subscription, or a replay), never on the
GUI thread.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from raphe.acquisition.analysis.live import LiveQuantifier
from raphe.acquisition.analysis.method import AnalysisMethod
from raphe.acquisition.analysis.quantify import ChromatogramResult
from raphe.records import DetectorBlock, Injection


@dataclass
class ChromatogramView:
    """One injection's run: time from injection (s), signal (nA), integration, RT shifts."""

    injection: Injection
    t: np.ndarray
    values: np.ndarray
    result: ChromatogramResult
    shifts: dict[str, float] = field(default_factory=dict)

    @property
    def sample_id(self) -> str:
        return self.injection.sample_id

    @property
    def inject_t(self) -> float:
        return self.injection.t

    @property
    def end_t(self) -> float:
        """Session time the run closed (its last sample)."""
        return self.injection.t + (float(self.t[-1]) if len(self.t) else 0.0)


class ChromatogramFeed:
    """A stream callback (``feed(kind, record)``) that hands each closed run to
    ``on_chromatogram`` as a :class:`ChromatogramView`."""

    def __init__(self, method: AnalysisMethod,
                 on_chromatogram: Callable[[ChromatogramView], None]) -> None:
        self.method = method
        self.quantifier = LiveQuantifier(method)
        self.on_chromatogram = on_chromatogram
        self.keep_s = float(method.run_length_s) + self.quantifier.pre_s + 60.0
        self._chunks: deque[tuple[np.ndarray, np.ndarray]] = deque()
        self._inject_times: deque[float] = deque(maxlen=64)

    def feed(self, kind: str, record: object) -> None:
        if kind == "blocks":
            self._keep(record)
        elif kind == "injections":
            self._inject_times.append(record.t)
        shifts = dict(self.quantifier.shifts)
        self.quantifier.feed(kind, record)
        self._emit(shifts)

    def finish(self) -> None:
        """Close the open runs with the signal there is (as the live analysis does)."""
        shifts = dict(self.quantifier.shifts)
        self.quantifier.finish()
        self._emit(shifts)

    def _keep(self, block: DetectorBlock) -> None:
        values = np.asarray(block.values, dtype=np.float64)
        if block.overload is not None and block.overload.any():
            values = np.where(block.overload, np.nan, values)
        times = block.times
        self._chunks.append((times, values))
        horizon = times[-1] - self.keep_s
        while self._chunks and self._chunks[0][0][-1] < horizon:
            self._chunks.popleft()

    def _segment(self, start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
        parts = [(t[(t >= start) & (t <= end)], v[(t >= start) & (t <= end)])
                 for t, v in self._chunks if t[-1] >= start and t[0] <= end]
        if not parts:
            return np.empty(0), np.empty(0)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _emit(self, shifts: dict[str, float]) -> None:
        closed = self.quantifier.chromatograms
        if not closed:
            return
        done, closed[:] = list(closed), []
        for injection, result in done:
            # A run ends at its length, or earlier at the next injection (as the analysis cut it).
            end = min([injection.t + float(self.method.run_length_s)]
                      + [t for t in self._inject_times if t > injection.t])
            t, v = self._segment(injection.t, end)
            self.on_chromatogram(ChromatogramView(
                injection, (t - injection.t).astype(np.float32), v.astype(np.float32), result,
                shifts))
