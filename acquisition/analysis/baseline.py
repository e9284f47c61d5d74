"""Baselines and noise: robust local baseline, pybaselines baselines, steps, noise.

The local baseline is a morphological opening of the smoothed signal (the
lower envelope under anything narrower than the window) smoothed by a moving
mean: exact for straight drift, cheap enough for hundreds of chromatograms a
second. ``method_baseline`` runs the pybaselines algorithm a method names
instead (for curved backgrounds and humps), on a decimated trace so it stays
cheap. ``find_steps`` finds abrupt level changes (auto-zero, range switch,
a bubble) so they can be taken out before anything else looks at the trace.
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
    if len(d) > 4000:  # every other difference: as good an estimate, half the sorting
        d = d[::2]
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
    # plain sums, not BLAS dot products: no worker threads for a few thousand samples
    slope = float(np.sum(dx * (y - ym)) / np.sum(dx * dx))
    return slope, float(ym - slope * xm)


def local_baseline(ys: np.ndarray, window: int, narrow: int = 1) -> np.ndarray:
    """Lower envelope of ``ys`` under features narrower than ``window`` samples.

    Dips narrower than ``narrow`` samples (negative spikes) are filled first.

    The overall tilt (a line through segment medians) is removed first, so a
    steep drift does not lift the envelope beside peaks; then an opening
    (moving minimum, moving maximum) removes peaks, a closing (moving maximum,
    moving minimum) fills negative dips, and a moving mean smooths the corners.
    The envelope is smooth on the scale of the window, so all of it is computed
    on block means of about a sixth of ``narrow`` samples (``ys`` is already
    smoothed over more than that) and interpolated back: the same envelope at a
    fraction of the cost.
    """
    n = len(ys)
    q = max(1, min(narrow // 6, window // 32)) if narrow > 1 else max(1, window // 64)
    if q > 1:
        m = -(-n // q)
        padded = np.concatenate((ys, np.full(m * q - n, ys[-1])))
        coarse = padded.reshape(m, q).mean(axis=1)
    else:
        coarse = ys
    window = odd(min(window / q, len(coarse)), 3)
    if narrow > 1:  # fill dips narrower than a peak (spikes) before taking minima
        k = odd(min(narrow / q, len(coarse)), 3)
        coarse = ndimage.minimum_filter1d(
            ndimage.maximum_filter1d(coarse, k, mode="nearest"), k, mode="nearest")
    tilt = _tilt_line(coarse, window)
    flat = coarse - tilt
    opened = ndimage.maximum_filter1d(
        ndimage.minimum_filter1d(flat, window, mode="nearest"), window, mode="nearest"
    )
    # then a closing: negative dips (e.g. after a solvent front) must not drag it down
    closed = ndimage.minimum_filter1d(
        ndimage.maximum_filter1d(opened, window, mode="nearest"), window, mode="nearest"
    )
    envelope = ndimage.uniform_filter1d(closed, window, mode="nearest") + tilt
    if q > 1:
        envelope = np.interp(np.arange(n), (np.arange(len(envelope)) + 0.5) * q - 0.5, envelope)
    return envelope


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


#: pybaselines algorithms a method may name as ``baseline``: Whittaker smoothers (λ from the
#: window) and window-based ones (half-window from the window).
WHITTAKER = ("arpls", "asls", "airpls", "iarpls", "psalsa", "aspls", "drpls")
WINDOWED = ("snip", "mor", "fastchrom")
BASELINES = ("local", *WHITTAKER, *WINDOWED)


def method_baseline(ys: np.ndarray, dt: float, name: str, window_s: float,
                    width_s: float) -> np.ndarray:
    """Baseline of the smoothed trace ``ys`` by the pybaselines algorithm ``name``.

    The trace is first averaged in blocks of about a quarter of the narrowest
    peak width (the baseline is smoother than any peak, so nothing it follows
    is lost) and the result interpolated back: the cost falls by the block
    length squared for the Whittaker family. ``window_s`` is the shortest
    period the baseline may follow: λ = (window / step / 2π)⁴, or the
    half-window of the window-based algorithms.
    """
    from pybaselines import Baseline

    n = len(ys)
    q = max(1, min(int(0.25 * width_s / dt), n // 50))
    m = n // q
    coarse = ys[:m * q].reshape(m, q).mean(axis=1)
    x = (np.arange(m) + 0.5) * q - 0.5
    step = q * dt
    fitter = Baseline(x_data=x)
    if name in WHITTAKER:
        lam = max((window_s / step / (2.0 * np.pi)) ** 4, 1.0)
        base, _ = getattr(fitter, name)(coarse, lam=lam)
    elif name in WINDOWED:
        half = max(int(0.5 * window_s / step), 1)
        key = "max_half_window" if name == "snip" else "half_window"
        base, _ = getattr(fitter, name)(coarse, **{key: half})
    else:
        raise ValueError(f"unknown baseline {name!r}")
    return np.interp(np.arange(n), x, base)


#: A jump is a step when its size is at least this many SDs of the sample-to-sample noise.
STEP_SDS = 8.0
#: Samples either side of a jump used to confirm that the level really moved.
STEP_SIDE = 15


def find_steps(y: np.ndarray, sigma: float, min_size: float = 0.0,
               exclude: np.ndarray | None = None) -> list[tuple[int, float]]:
    """Abrupt, lasting level changes: (index of the first sample after the jump, size).

    A candidate is a first difference that stands ``STEP_SDS`` noise SDs off
    the median of its neighbours (peaks, however steep, change their slope
    smoothly; a step does it within a sample or two). Neighbouring outliers
    form one jump whose size is their sum (a spike's up and down cancel). The
    jump is kept when a fit of a quadratic plus a step to ``STEP_SIDE``
    samples each side confirms a level change of the same size: a decaying
    spike does not. Steps slower than a few samples are not found. Jumps within
    ``STEP_SIDE`` samples of an ``exclude`` sample (clipping: the corner where a
    clipped top begins) are not steps.
    """
    n = len(y)
    if n < 4 * STEP_SIDE or not sigma > 0:
        return []
    d = np.diff(y)
    sd = np.sqrt(2.0) * sigma
    limit = max(STEP_SDS * sd, min_size)
    # cheap pre-selection: off the mean of the differences two samples either side
    ref = np.empty_like(d)
    ref[2:-2] = 0.5 * (d[:-4] + d[4:])
    ref[:2], ref[-2:] = d[2:4], d[-4:-2]
    cand = np.flatnonzero(np.abs(d - ref) > limit)
    if cand.size == 0:
        return []
    # Residual of each candidate difference from the median of its 3 + 3 neighbours.
    offsets = np.array([-3, -2, -1, 1, 2, 3])
    idx = np.clip(cand[:, None] + offsets, 0, len(d) - 1)
    res = d[cand] - np.median(d[idx], axis=1)
    cand, res = cand[np.abs(res) > limit], res[np.abs(res) > limit]
    if cand.size == 0:
        return []
    if exclude is not None and exclude.any():
        near = np.convolve(exclude.astype(np.int32), np.ones(2 * STEP_SIDE + 1, np.int32),
                           mode="same")
        keep = near[cand] == 0
        cand, res = cand[keep], res[keep]
        if cand.size == 0:
            return []
    groups = np.split(np.arange(cand.size), np.flatnonzero(np.diff(cand) > 3) + 1)
    out: list[tuple[int, float]] = []
    for g in groups:
        size = float(res[g].sum())
        j = int(cand[g[-1]]) + 1  # first sample at the new level
        i = int(cand[g[0]])  # last sample at the old level
        if abs(size) < limit or i - STEP_SIDE < 0 or j + STEP_SIDE > n:
            continue
        fitted = _step_fit(y, i, j)
        if fitted is not None and np.sign(fitted) == np.sign(size) \
                and abs(fitted - size) <= 0.5 * abs(size) and abs(fitted) >= limit:
            out.append((j, fitted))
    return out


def _step_fit(y: np.ndarray, i: int, j: int) -> float | None:
    """Size of a step between samples ``i`` and ``j`` by least squares: quadratic + step."""
    left = np.arange(i - STEP_SIDE + 1, i + 1)
    right = np.arange(j, j + STEP_SIDE)
    x = np.concatenate([left, right]).astype(np.float64) - 0.5 * (i + j)
    h = np.concatenate([np.zeros(STEP_SIDE), np.ones(STEP_SIDE)])
    design = np.column_stack([np.ones_like(x), x, x * x, h])
    coef, *_ = np.linalg.lstsq(design, y[np.concatenate([left, right])], rcond=None)
    return float(coef[3])


def remove_steps(y: np.ndarray, steps: list[tuple[int, float]]) -> np.ndarray:
    """``y`` with each step's size subtracted from the samples after it."""
    if not steps:
        return y
    out = y.copy()
    for j, size in steps:
        out[j:] -= size
    return out
