"""Min/max decimation pyramid: any range of a long trace at display resolution, fast.

Level ``k`` holds, for each run of ``factor**k`` consecutive samples, their min
and max (NaN samples ignored unless the whole run is NaN). Levels are built
incrementally as blocks arrive (:class:`PyramidBuilder`), so a viewer reads
about ``n_points`` bins from the coarsest level that still has enough of them
instead of every sample.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _minmax_bins(mins: np.ndarray, maxs: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of consecutive runs of ``factor`` (len must be a multiple of factor)."""
    return (np.fmin.reduce(mins.reshape(-1, factor), axis=1),
            np.fmax.reduce(maxs.reshape(-1, factor), axis=1))


class PyramidBuilder:
    """Turns a stream of samples into new complete bins of every level.

    ``feed`` returns, per level (1-based index ``k`` → list position ``k-1``),
    the bins completed by these samples; ``finish`` returns the partial last
    bin of every level, so that a closed file's pyramid covers every sample.
    Memory is bounded: at most ``factor - 1`` pending values per level.
    """

    def __init__(self, factor: int, levels: int) -> None:
        self.factor = factor
        self.levels = levels
        self._min = [np.empty(0) for _ in range(levels)]  # pending input of level k+1
        self._max = [np.empty(0) for _ in range(levels)]

    def feed(self, values: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        out = []
        mins = maxs = np.asarray(values, dtype=np.float64)
        f = self.factor
        for k in range(self.levels):
            if len(self._min[k]):
                mins = np.concatenate((self._min[k], mins))
                maxs = np.concatenate((self._max[k], maxs))
            full = len(mins) - len(mins) % f
            self._min[k], self._max[k] = mins[full:].copy(), maxs[full:].copy()
            if full:
                mins, maxs = _minmax_bins(mins[:full], maxs[:full], f)
            else:
                mins = maxs = np.empty(0)
            out.append((mins, maxs))
        return out

    def finish(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The partial last bin of every level (empty where a level has no pending input)."""
        out = []
        carry_min = carry_max = np.empty(0)
        for k in range(self.levels):
            mins = np.concatenate((self._min[k], carry_min))
            maxs = np.concatenate((self._max[k], carry_max))
            self._min[k] = self._max[k] = np.empty(0)
            if len(mins):
                carry_min = np.array([np.fmin.reduce(mins)])
                carry_max = np.array([np.fmax.reduce(maxs)])
            else:
                carry_min = carry_max = np.empty(0)
            out.append((carry_min, carry_max))
        return out


def query(levels: Sequence[tuple], raw, n: int, p0: int, p1: int, n_points: int,
          factor: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Min/max of samples ``[p0, p1)`` in at most ``n_points`` bins.

    ``levels[k-1]`` is ``(min_array, max_array)`` of level ``k`` (h5py datasets
    or arrays), ``raw`` the signal, ``n`` the number of valid samples. Returns
    ``(pos, min, max)`` where ``pos`` is the first sample position of each bin.
    """
    p0, p1 = max(0, int(p0)), min(int(n), int(p1))
    if p1 <= p0:
        return np.empty(0, np.int64), np.empty(0), np.empty(0)
    n_points = max(1, int(n_points))
    span = p1 - p0
    k = 0
    while k < len(levels) and span // factor ** (k + 1) >= n_points:
        k += 1
    parts = []
    start = p0
    while start < p1:
        if k == 0:
            v = np.asarray(raw[start:p1], dtype=np.float64)
            parts.append((np.arange(start, p1, dtype=np.int64), v, v))
            break
        size = factor ** k
        lmin, lmax = levels[k - 1]
        b0, b1 = start // size, -(-p1 // size)
        b1 = min(b1, len(lmin))
        if b1 > b0:
            pos = np.maximum(np.arange(b0, b1, dtype=np.int64) * size, start)
            parts.append((pos, np.asarray(lmin[b0:b1]), np.asarray(lmax[b0:b1])))
            start = min(b1 * size, p1)
        k -= 1
    pos = np.concatenate([p[0] for p in parts])
    mins = np.concatenate([p[1] for p in parts])
    maxs = np.concatenate([p[2] for p in parts])
    if len(pos) > n_points:
        group = -(-len(pos) // n_points)
        idx = np.arange(0, len(pos), group)
        pos = pos[idx]
        mins = np.fmin.reduceat(mins, idx)
        maxs = np.fmax.reduceat(maxs, idx)
    return pos, mins, maxs
