"""Baselines and noise: robust local baseline, whole-trace baseline, noise estimates.

The local baseline is a morphological opening of the smoothed signal (the
lower envelope under anything narrower than the window) smoothed by a moving
mean: exact for straight drift, cheap enough for hundreds of chromatograms a
second. ``whole_trace_baseline`` wraps pybaselines for curved backgrounds.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import ndimage, signal

#: MAD → SD for normally distributed noise.
MAD_TO_SD = 1.4826


def odd(n: float, minimum: int = 3) -> int:
    """The odd integer nearest ``n``, at least ``minimum``."""
    k = max(round(n), minimum)
    return k if k % 2 else k + 1


def fill_gaps(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Replace NaN (detector overload) by linear interpolation; return (filled, NaN mask)."""
    mask = np.isnan(y)
    if not mask.any():
        return y, mask
    good = np.flatnonzero(~mask)
    filled = y.copy()
    filled[mask] = np.interp(np.flatnonzero(mask), good, y[good])
    return filled, mask


def despike(y: np.ndarray, sigma: float, k: float = 8.0, passes: int = 2) -> np.ndarray:
    """Bridge spikes: samples more than ``k`` noise SDs off a local quadratic fit.

    The fit (an 11-point Savitzky–Golay) follows peaks many samples wide but
    not spikes of a few samples; flagged samples and two neighbours each side
    are replaced by linear interpolation. A second pass catches what the
    spike dragged the first fit off.
    """
    if len(y) < 15:
        return y
    out = y
    for _ in range(passes):
        fit = ndimage.correlate1d(out, _savgol(11), mode="nearest")
        bad = np.abs(out - fit) > k * sigma
        if not bad.any():
            break
        bad = ndimage.binary_dilation(bad, iterations=2)
        good = np.flatnonzero(~bad)
        if good.size < 2:
            break
        out = out.copy()
        idx = np.flatnonzero(bad)
        out[idx] = np.interp(idx, good, out[good])
    return out


def white_noise_sd(y: np.ndarray) -> float:
    """SD of the white (sample-to-sample) noise, robust to peaks and drift."""
    d = np.diff(y)
    # drift per sample is negligible next to the noise: the median of |d| suffices
    return float(MAD_TO_SD * np.median(np.abs(d)) / np.sqrt(2.0))


def robust_sd(x: np.ndarray) -> float:
    """MAD-based SD: insensitive to the minority of samples that belong to peaks."""
    return float(MAD_TO_SD * np.median(np.abs(x - np.median(x))))


@lru_cache(maxsize=64)
def _savgol(window: int) -> np.ndarray:
    return signal.savgol_coeffs(window, 2)


def _window(n: int, window: float) -> int:
    return min(odd(window, 5), n - (1 - n % 2))


def smooth(y: np.ndarray, window: float) -> np.ndarray:
    """Savitzky–Golay (quadratic) smoothing: keeps peak heights, removes noise.

    Ends are padded with the end values (``nearest``), which only matters
    within half a window of the trace ends.
    """
    window = _window(len(y), window)
    if window < 5:
        return y.copy()
    return ndimage.correlate1d(y, _savgol(window), mode="nearest")


def smoothing_gain(n: int, window: float) -> float:
    """Factor by which ``smooth(y, window)`` scales the SD of white noise."""
    window = _window(n, window)
    if window < 5:
        return 1.0
    return float(np.sqrt(np.sum(_savgol(window) ** 2)))


def _tilt_line(ys: np.ndarray, window: int) -> np.ndarray:
    """Least-squares line through the medians of consecutive ``window``-long segments.

    Medians ignore peaks and dips that fill less than half a segment.
    """
    n = len(ys)
    k = n // window
    if k < 2:
        return np.full(n, float(np.median(ys)))
    segs = ys[:k * window].reshape(k, window)
    x = window * (np.arange(k) + 0.5) - 0.5
    slope, icpt = _line_fit(x, np.median(segs, axis=1))
    return icpt + slope * np.arange(n)


def _line_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares (slope, intercept)."""
    xm, ym = x.mean(), y.mean()
    dx = x - xm
    slope = float(np.dot(dx, y - ym) / np.dot(dx, dx))
    return slope, float(ym - slope * xm)


def local_baseline(ys: np.ndarray, window: int, narrow: int = 1) -> np.ndarray:
    """Lower envelope of ``ys`` under features narrower than ``window`` samples.

    Dips narrower than ``narrow`` samples (negative spikes) are filled first.

    The overall tilt (a line through segment medians) is removed first, so a
    steep drift does not lift the envelope beside peaks; then an opening
    (moving minimum, moving maximum) removes peaks, a closing (moving maximum,
    moving minimum) fills negative dips, and a moving mean smooths the corners.
    """
    window = odd(min(window, len(ys)), 3)
    if narrow > 1:  # fill dips narrower than a peak (spikes) before taking minima
        narrow = odd(min(narrow, len(ys)), 3)
        ys = ndimage.minimum_filter1d(
            ndimage.maximum_filter1d(ys, narrow, mode="nearest"), narrow, mode="nearest")
    tilt = _tilt_line(ys, window)
    flat = ys - tilt
    opened = ndimage.maximum_filter1d(
        ndimage.minimum_filter1d(flat, window, mode="nearest"), window, mode="nearest"
    )
    # then a closing: negative dips (e.g. after a solvent front) must not drag it down
    closed = ndimage.minimum_filter1d(
        ndimage.maximum_filter1d(opened, window, mode="nearest"), window, mode="nearest"
    )
    return ndimage.uniform_filter1d(closed, window, mode="nearest") + tilt


def whole_trace_baseline(t: np.ndarray, y: np.ndarray, window_s: float) -> np.ndarray:
    """arPLS baseline of the whole trace (pybaselines) for strongly curved backgrounds.

    ``window_s`` is the shortest period the baseline may follow (longer than
    any peak); it sets the Whittaker smoothness λ = (window / dt / 2π)⁴.
    """
    from pybaselines import Baseline

    dt = float(t[1] - t[0])
    lam = (window_s / dt / (2.0 * np.pi)) ** 4
    base, _ = Baseline(x_data=t).arpls(y, lam=max(lam, 1.0))
    return base


def drift_per_min(t: np.ndarray, base: np.ndarray) -> float:
    """Slope of the least-squares line through the baseline, in signal units per minute."""
    if len(t) < 2:
        return 0.0
    return _line_fit(t, base)[0] * 60.0
