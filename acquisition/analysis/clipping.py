"""Detector clipping, found in every mode a chromatogram arrives in.

Live, an overloaded reading arrives as NaN (the DMM's overload flag). In a
file, clipping shows either as values at the detector's stated limits (ANDI
``detector_maximum_value``/``detector_minimum_value``, or the method's
``detector_max``/``detector_min``), or — when nobody stated the limits — as a
flat top: a run of identical readings at the top of a peak standing far
above the noise. A real apex is never flat: its curvature changes the signal
from one sample to the next by much more than the read-out's resolution.
"""

from __future__ import annotations

import numpy as np

#: A flat top is at least this many identical readings (float data never repeats a value
#: by chance) ...
PLATEAU_SAMPLES = 2
#: ... or this many, when the read-out is coarse (integer counts tie all the time) ...
COARSE_PLATEAU_SAMPLES = 4
#: Readings at a limit the file states count when at least this many follow each other.
LIMIT_RUN = 3
#: ... standing at least this many noise SDs above the baseline ...
PLATEAU_SDS = 20.0
#: ... and this many read-out steps (the smallest non-zero difference) above it ...
PLATEAU_STEPS = 50.0
#: ... and the signal ``EDGE_SAMPLES`` samples off one of its ends is this many noise SDs and
#: read-out steps lower (a flat apex of a broad peak falls away gently on both).
EDGE_SAMPLES = 3
EDGE_SDS = 8.0
EDGE_STEPS = 10.0


def limit_mask(values: np.ndarray, high: float | None, low: float | None,
               min_run: int = 1) -> np.ndarray:
    """Samples at or beyond the stated detector limits, in runs of at least ``min_run``.

    A file's stated maximum may be the largest value it holds (ANDI leaves that to the
    writer): a single sample touching it is an apex, a run of them a clipped top.
    """
    mask = np.zeros(len(values), dtype=bool)
    with np.errstate(invalid="ignore"):
        if high is not None:
            mask |= values >= high
        if low is not None:
            mask |= values <= low
    if min_run > 1 and mask.any():
        mask = _runs(mask, min_run)
    return mask


def _runs(mask: np.ndarray, min_run: int) -> np.ndarray:
    """``mask`` keeping only runs of at least ``min_run`` consecutive True."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.view(np.int8), [0]))))
    out = np.zeros_like(mask)
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        if b - a >= min_run:
            out[a:b] = True
    return out


def flat_tops(y: np.ndarray, base: np.ndarray, sigma: float) -> np.ndarray:
    """Runs of identical readings that form the top of a tall peak, and every other reading
    at such a rail (a barely clipped peak touches it here and there)."""
    mask = np.zeros(len(y), dtype=bool)
    d = np.diff(y)
    same = np.flatnonzero(d == 0)
    if same.size < PLATEAU_SAMPLES - 1:
        return mask
    least = COARSE_PLATEAU_SAMPLES if same.size > 0.01 * len(d) else PLATEAU_SAMPLES
    nonzero = np.abs(d[d != 0])
    quantum = float(nonzero.min()) if nonzero.size else 0.0
    rails: set[float] = set()
    # runs of consecutive zero differences: [first, last] indices into d
    breaks = np.flatnonzero(np.diff(same) > 1)
    firsts = np.concatenate(([same[0]], same[breaks + 1]))
    lasts = np.concatenate((same[breaks], [same[-1]]))
    for a, b in zip(firsts, lasts, strict=True):
        if b - a + 2 < least:
            continue
        i0, i1 = int(a), int(b) + 1  # samples y[i0..i1] are equal
        level = y[i0]
        if i0 == 0 or i1 == len(y) - 1 or not (y[i0 - 1] < level and y[i1 + 1] < level):
            continue
        height = level - base[(i0 + i1) // 2]
        if height < max(PLATEAU_SDS * sigma, PLATEAU_STEPS * quantum):
            continue
        # A broad apex read with a coarse step is flat too, but the signal leaves it gently
        # on both sides; a clipped top is left steeply on at least one (the front, say, when
        # a long tail is clipped too).
        k = EDGE_SAMPLES
        if i0 - k < 0 or i1 + k >= len(y):
            continue
        rise = max(level - y[i0 - k], level - y[i1 + k])
        if rise >= max(EDGE_SDS * sigma, EDGE_STEPS * quantum):
            rails.add(float(level))
    if rails:  # every top that touches a rail (plateaus included): at it, no neighbour above
        top = np.ones(len(y), dtype=bool)
        top[1:] &= y[1:] >= y[:-1]
        top[:-1] &= y[:-1] >= y[1:]
        mask |= np.isin(y, np.fromiter(rails, dtype=np.float64)) & top
    return mask
