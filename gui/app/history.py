"""The ECD trace at display resolution: live from the stream, or from a session file.

Both histories answer ``display(t0, t1, n_points)`` with at most ``n_points``
(time, min, max) bins, so the trace panel draws hours of signal as a few
thousand vertices whatever the zoom. The live one keeps the latest samples in
a ring buffer and the older ones as a min/max pyramid (the store's
:class:`~raphe.acquisition.pyramid.PyramidBuilder`), so its memory is about one
byte per sample however long the run; the file one reads the session's own
display pyramid through :class:`~raphe.acquisition.reader.SessionReader`.
"""

from __future__ import annotations

import math

import numpy as np

from raphe.acquisition.pyramid import PyramidBuilder
from raphe.records import DetectorBlock

Envelope = tuple[np.ndarray, np.ndarray, np.ndarray]


def _empty() -> Envelope:
    return np.empty(0), np.empty(0), np.empty(0)


class _Growing:
    """An append-only float array with amortised growth."""

    def __init__(self) -> None:
        self.data = np.empty(1024)
        self.n = 0

    def extend(self, values: np.ndarray) -> None:
        need = self.n + len(values)
        if need > len(self.data):
            grown = np.empty(max(need, 2 * len(self.data)))
            grown[: self.n] = self.data[: self.n]
            self.data = grown
        self.data[self.n:need] = values
        self.n = need

    def view(self) -> np.ndarray:
        return self.data[: self.n]


class LiveHistory:
    """The trace of a run as its blocks arrive: a ring of recent samples plus a pyramid."""

    def __init__(self, ring_samples: int = 1 << 17, factor: int = 16, levels: int = 6) -> None:
        self.factor = factor
        self._ring = np.full(int(ring_samples), np.nan)
        self.n = 0
        self._builder = PyramidBuilder(factor, levels)
        self._levels = [(_Growing(), _Growing()) for _ in range(levels)]
        # Contiguous stretches of samples: first position, time of it, interval.
        self._seg_pos: list[int] = []
        self._seg_t0: list[float] = []
        self._seg_dt: list[float] = []
        self._arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.last_value = math.nan
        #: the very last sample (NaN: the detector gave no reading, e.g. an overload)
        self.latest_value = math.nan

    @property
    def ring_samples(self) -> int:
        return len(self._ring)

    def append(self, block: DetectorBlock) -> None:
        values = np.asarray(block.values, dtype=np.float64)
        n = len(values)
        if n == 0:
            return
        if block.overload is not None and block.overload.any():
            values = np.where(block.overload, np.nan, values)
        if not self._seg_pos or block.dt != self._seg_dt[-1] or \
                abs(block.t0 - self._t_next()) > 0.5 * block.dt:
            self._seg_pos.append(self.n)
            self._seg_t0.append(float(block.t0))
            self._seg_dt.append(float(block.dt))
            self._arrays = None
        size = len(self._ring)
        tail = values[-size:]
        start = (self.n + n - len(tail)) % size
        first = min(len(tail), size - start)
        self._ring[start:start + first] = tail[:first]
        self._ring[: len(tail) - first] = tail[first:]
        for (lmin, lmax), (mins, maxs) in zip(self._levels, self._builder.feed(values)):
            if len(mins):
                lmin.extend(mins)
                lmax.extend(maxs)
        self.n += n
        self.latest_value = float(values[-1])
        finite = values[np.isfinite(values)]
        if len(finite):
            self.last_value = float(finite[-1])

    def _t_next(self) -> float:
        return self._seg_t0[-1] + (self.n - self._seg_pos[-1]) * self._seg_dt[-1]

    def _segments(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._arrays is None:
            self._arrays = (np.asarray(self._seg_pos, dtype=np.int64),
                            np.asarray(self._seg_t0), np.asarray(self._seg_dt))
        return self._arrays

    @property
    def t_range(self) -> tuple[float, float]:
        """Session time of the first sample and just after the last one (s)."""
        if not self._seg_pos:
            return (0.0, 0.0)
        return self._seg_t0[0], self._t_next()

    def times(self, pos: np.ndarray) -> np.ndarray:
        seg_pos, seg_t0, seg_dt = self._segments()
        pos = np.asarray(pos, dtype=np.int64)
        i = np.clip(np.searchsorted(seg_pos, pos, side="right") - 1, 0, len(seg_pos) - 1)
        return seg_t0[i] + (pos - seg_pos[i]) * seg_dt[i]

    def _pos(self, t: float, end: bool) -> int:
        seg_pos, seg_t0, seg_dt = self._segments()
        i = int(np.searchsorted(seg_t0, t, side="right")) - 1
        if i < 0:
            return 0
        length = (seg_pos[i + 1] if i + 1 < len(seg_pos) else self.n) - seg_pos[i]
        rel = (t - seg_t0[i]) / seg_dt[i]
        k = math.floor(rel + 1e-9) + 1 if end else math.ceil(rel - 1e-9)
        return int(seg_pos[i] + min(max(k, 0), length))

    def display(self, t0: float, t1: float, n_points: int = 2000) -> Envelope:
        """At most ``n_points`` (time, min, max) bins of the samples with t0 <= t <= t1."""
        if not self.n or not t1 >= t0:
            return _empty()
        p0, p1 = self._pos(t0, False), self._pos(t1, True)
        if p1 <= p0:
            return _empty()
        n_points = max(1, int(n_points))
        f, levels = self.factor, self._levels
        oldest = self.n - len(self._ring)
        k = 0
        while k < len(levels) and (p1 - p0) // f ** (k + 1) >= n_points:
            k += 1
        if k == 0 and p0 < oldest:
            k = 1  # those samples left the ring: the finest level keeps their envelope
        parts = []
        start = p0
        while start < p1:
            if k == 0:
                start = max(start, oldest)
                pos = np.arange(start, p1, dtype=np.int64)
                v = self._ring[pos % len(self._ring)]
                parts.append((pos, v, v))
                break
            size = f ** k
            lmin, lmax = levels[k - 1]
            b0, b1 = start // size, min(-(-p1 // size), lmin.n)
            if b1 > b0:
                pos = np.maximum(np.arange(b0, b1, dtype=np.int64) * size, start)
                parts.append((pos, lmin.data[b0:b1], lmax.data[b0:b1]))
                start = min(b1 * size, p1)
            k -= 1
        pos = np.concatenate([p[0] for p in parts])
        mins = np.concatenate([p[1] for p in parts])
        maxs = np.concatenate([p[2] for p in parts])
        if len(pos) > n_points:
            idx = np.arange(0, len(pos), -(-len(pos) // n_points))
            pos = pos[idx]
            with np.errstate(invalid="ignore"):
                mins, maxs = np.fmin.reduceat(mins, idx), np.fmax.reduceat(maxs, idx)
        return self.times(pos), mins, maxs


class FileHistory:
    """The trace of a recorded session, read from its display pyramid."""

    def __init__(self, reader) -> None:  # raphe.acquisition.reader.SessionReader
        self.reader = reader

    @property
    def t_range(self) -> tuple[float, float]:
        return self.reader.t_range

    @property
    def last_value(self) -> float:
        n = self.reader.n_samples
        if not n:
            return math.nan
        values, _ = self.reader.samples(max(0, n - 100), n)
        finite = values[np.isfinite(values)]
        return float(finite[-1]) if len(finite) else math.nan

    def display(self, t0: float, t1: float, n_points: int = 2000) -> Envelope:
        if not t1 >= t0:
            return _empty()
        return self.reader.signal_display(t0, t1, n_points)
