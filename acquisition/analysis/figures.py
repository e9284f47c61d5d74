"""Per-peak figures of merit: widths, EP/USP S/N, plate count, USP tailing, resolution.

S/N follows Ph. Eur. 2.2.46 / USP <621>: S/N = 2H/h, H the peak height
above its baseline, h the peak-to-peak background noise over a window of
``factor`` × W½ (EDQM: at least 5) in a peak-free stretch next to the peak,
after removing the straight-line drift across that window.
"""

from __future__ import annotations

import math

import numpy as np

#: A Gaussian's width at half height per σ: 2 √(2 ln 2).
FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))


def crossing(t: np.ndarray, yc: np.ndarray, apex: int, level: float,
             lo: int, hi: int) -> tuple[float, float]:
    """Times where ``yc`` falls to ``level`` left and right of ``apex`` (NaN if not within).

    ``yc`` is the baseline-corrected signal; ``lo``/``hi`` bound the search.
    Crossings are interpolated linearly between samples.
    """
    left = np.flatnonzero(yc[lo:apex + 1] < level)
    if left.size:
        i = lo + int(left[-1])
        tl = t[i] + (level - yc[i]) * (t[i + 1] - t[i]) / (yc[i + 1] - yc[i])
    else:
        tl = math.nan
    right = np.flatnonzero(yc[apex:hi + 1] < level)
    if right.size:
        j = apex + int(right[0])
        tr = t[j - 1] + (yc[j - 1] - level) * (t[j] - t[j - 1]) / (yc[j - 1] - yc[j])
    else:
        tr = math.nan
    return float(tl), float(tr)


def peak_to_peak_noise(y: np.ndarray, i0: int, i1: int) -> float:
    """Peak-to-peak of ``y[i0:i1]`` after subtracting its least-squares line."""
    seg = y[i0:i1]
    n = len(seg)
    if n < 3:
        return math.nan
    x = np.arange(n, dtype=np.float64) - (n - 1) / 2.0
    slope = float(np.sum(x * seg) / np.sum(x * x))
    res = seg - slope * x
    return float(res.max() - res.min())


def noise_window(free: list[tuple[int, int]], start: int, end: int,
                 n: int, least: int = 0) -> tuple[int, int] | None:
    """The ``n``-sample peak-free window nearest the peak [start, end].

    ``free`` lists peak-free index ranges [a, b). Falls back to the longest free
    range when none is ``n`` samples long, if it has at least ``least`` samples
    (a much shorter window would understate the noise); else ``None``.
    """
    best, best_d = None, math.inf
    for a, b in free:
        if b - a < n:
            continue
        if b <= start:
            w, d = (b - n, b), start - b
        elif a >= end:
            w, d = (a, a + n), a - end
        else:
            w, d = (a, a + n), 0
        if d < best_d:
            best, best_d = w, d
    if best is None and free:
        a, b = max(free, key=lambda r: r[1] - r[0])
        if b - a >= max(least, 5):
            best = (a, b)
    return best


def adjacent_window(y: np.ndarray, start: int, end: int, n: int) -> tuple[int, int] | None:
    """The quieter of the ``n`` samples just before and just after [start, end].

    For a crowded stretch with no peak-free window: whatever else is there counts as
    noise, which is what makes a wiggle among wiggles fail its S/N.
    """
    sides = [w for w in ((start - n, start), (end + 1, end + 1 + n))
             if w[0] >= 0 and w[1] <= len(y)]
    if not sides:
        return None
    return min(sides, key=lambda w: peak_to_peak_noise(y, *w))


def signal_to_noise(height: float, noise_pp: float) -> float:
    """EP 2.2.46 / USP <621> S/N = 2H/h."""
    if not noise_pp > 0:  # unmeasurable (no peak-free stretch, or a flat line)
        return math.nan
    return 2.0 * height / noise_pp


def plate_count(rt: float, width_half: float) -> float:
    """N = 5.54 (tR / W½)² (half-height method)."""
    if not width_half > 0:
        return math.nan
    return 5.54 * (rt / width_half) ** 2


def usp_tailing(rt: float, left_5: float, right_5: float) -> float:
    """USP tailing T = W0.05 / 2f, f the front half-width at 5 % height."""
    front = rt - left_5
    if not front > 0 or math.isnan(right_5):
        return math.nan
    return (right_5 - left_5) / (2.0 * front)


def resolution(rt1: float, w1: float, rt2: float, w2: float) -> float:
    """Half-height resolution Rs = 1.18 (t2 − t1) / (W½,1 + W½,2)."""
    if not (w1 + w2) > 0:
        return math.nan
    return 1.18 * (rt2 - rt1) / (w1 + w2)
