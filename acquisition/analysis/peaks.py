"""Peak detection and integration of one chromatogram, CDS style.

Smooth (Savitzky–Golay) → local baseline → candidate apexes by prominence
over the smoothed-signal noise → boundaries where the signal returns to the
baseline (or a valley: drop line) → straight baseline per peak or per
cluster of unresolved peaks → trapezoid areas on the raw signal → optional
tangent skim of riders → figures of merit → keep peaks with S/N ≥ min_sn.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import signal

from raphe.acquisition.analysis import baseline as bl
from raphe.acquisition.analysis import figures
from raphe.acquisition.analysis.integrate import area_indices
from raphe.acquisition.analysis.settings import IntegrationSettings

#: Candidate apexes need this prominence in SDs of the smoothed signal's noise.
DETECTION_SDS = 4.0
#: The S/N noise window never has fewer samples than this (its p-p would be biased low).
MIN_NOISE_SAMPLES = 60
#: The automatic baseline window spans this many half-height widths of the widest peak.
BASELINE_WIDTHS = 6.0


@dataclass
class Peak:
    """One integrated peak. Times in s from injection, area in signal·s."""

    rt_s: float
    start_s: float
    end_s: float
    area: float
    height: float
    width_half_s: float
    sn: float
    noise_pp: float
    plates: float
    tailing: float
    resolution: float
    start_code: str  # "B" baseline, "V" valley (drop line), "T" tangent skim
    end_code: str
    baseline_start: tuple[float, float]
    baseline_end: tuple[float, float]
    saturated: bool = False
    name: str | None = None

    def as_dict(self) -> dict:
        """JSON-ready fields (NaN/inf become None)."""
        out = {}
        for key, value in self.__dict__.items():
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            out[key] = value
        return out


@dataclass
class PeakSet:
    """The peaks of one chromatogram plus what was learnt about its background."""

    peaks: list[Peak]
    width_s: float  # the peak width the smoothing/baseline windows used
    noise_sd: float  # white noise SD of the raw signal
    drift_per_min: float  # slope of the local baseline across the run
    saturated: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


def odd_window(n: float) -> int:
    """An odd sample count ≥ 3 (scipy's ``wlen``)."""
    return bl.odd(n, 3)


def estimate_widths(y: np.ndarray, dt: float, sigma: float) -> tuple[float, float]:
    """Half-height widths (s) of the narrowest and widest of the trace's prominent peaks.

    Tries increasingly strong smoothing until some peak stands 12 noise SDs
    (of that smoothing) above its surroundings; ``10·dt`` when none does.
    """
    for window in (7, 21, 61, 181):
        if window >= len(y):
            break
        ys = bl.smooth(y, window)
        prom = max(12.0 * sigma * bl.smoothing_gain(len(y), window), 1e-12)
        idx, props = signal.find_peaks(ys, prominence=prom)
        if idx.size == 0:
            continue
        order = np.argsort(props["prominences"])[::-1][:10]
        w = signal.peak_widths(ys, idx[order], rel_height=0.5,
                               prominence_data=(props["prominences"][order],
                                                props["left_bases"][order],
                                                props["right_bases"][order]))[0]
        w = np.maximum(w, max(3.0, 0.5 * window)) * dt
        return float(w.min()), float(w.max())
    # Nothing stands out (a blank): assume peaks of 0.5 % of the run, never narrower than 10 dt.
    fallback = max(10.0 * dt, len(y) * dt / 200.0)
    return fallback, fallback


def _apex(t: np.ndarray, ys: np.ndarray, p: int) -> tuple[float, float]:
    """Vertex (time, value) of the parabola through the smoothed apex and its neighbours."""
    if p <= 0 or p >= len(ys) - 1:
        return float(t[p]), float(ys[p])
    a, b, c = ys[p - 1], ys[p], ys[p + 1]
    den = a - 2 * b + c
    if den >= 0:
        return float(t[p]), float(b)
    x = 0.5 * (a - c) / den
    return float(t[p] + x * (t[1] - t[0])), float(b - 0.25 * (a - c) * x)


def _boundaries(ys, r, apexes, half_widths, sigma_s, s: IntegrationSettings):
    """Start/end indices and B/V codes for sorted apexes."""
    n = len(ys)
    k = len(apexes)
    valleys = [int(apexes[i] + np.argmin(ys[apexes[i]:apexes[i + 1] + 1]))
               for i in range(k - 1)]
    # A valley close to the baseline relative to the taller neighbour is a baseline point.
    deep = [r[v] <= s.valley_baseline_fraction * max(r[apexes[i]], r[apexes[i + 1]])
            for i, v in enumerate(valleys)]
    starts, ends, scode, ecode = [], [], [], []
    for i, p in enumerate(apexes):
        lo = valleys[i - 1] if i > 0 else 0
        hi = valleys[i] if i < k - 1 else n - 1
        thr = max(s.boundary_fraction * r[p], s.boundary_noise * sigma_s)
        ext = round(float(s.boundary_extend * half_widths[i]))
        below = np.flatnonzero(r[lo:p + 1] <= thr)
        if below.size:
            starts.append(max(lo + int(below[-1]) - ext, lo))
            scode.append("B")
        else:
            starts.append(lo)
            scode.append("V" if i > 0 and not deep[i - 1] else "B")
        below = np.flatnonzero(r[p:hi + 1] <= thr)
        if below.size:
            ends.append(min(p + int(below[0]) + ext, hi))
            ecode.append("B")
        else:
            ends.append(hi)
            ecode.append("V" if i < k - 1 and not deep[i] else "B")
    return starts, ends, scode, ecode


def _integrate(t, y, ys, r, apexes, half_widths, sigma_s, s, dt, nanmask, width_s):
    starts, ends, scode, ecode = _boundaries(ys, r, apexes, half_widths, sigma_s, s)
    k = len(apexes)
    # Clusters: runs of peaks joined at valleys share one straight baseline (drop lines).
    cluster = [0] * k
    for i in range(1, k):
        joined = scode[i] == "V" and ecode[i - 1] == "V"
        cluster[i] = cluster[i - 1] if joined else cluster[i - 1] + 1
    c_start, c_end = {}, {}
    for i in range(k):
        c_start.setdefault(cluster[i], starts[i])
        c_end[cluster[i]] = ends[i]
    peaks: list[Peak] = []
    corrected: list[np.ndarray] = []
    for i, p in enumerate(apexes):
        j0, j1 = c_start[cluster[i]], c_end[cluster[i]]
        v0, v1 = float(ys[j0]), float(ys[j1])
        area = area_indices(y, dt, starts[i], ends[i], v0, v1, j0, j1)
        rt, top = _apex(t, ys, p)
        base_rt = v0 + (v1 - v0) * (rt - t[j0]) / (t[j1] - t[j0]) if j1 > j0 else v0
        idx = np.arange(starts[i], ends[i] + 1)
        yc = ys[starts[i]:ends[i] + 1] - (v0 + (v1 - v0) * (idx - j0) / max(j1 - j0, 1))
        corrected.append(yc)
        peaks.append(Peak(
            rt_s=rt, start_s=float(t[starts[i]]), end_s=float(t[ends[i]]), area=area,
            height=top - base_rt, width_half_s=math.nan, sn=math.nan, noise_pp=math.nan,
            plates=math.nan, tailing=math.nan, resolution=math.nan,
            start_code=scode[i], end_code=ecode[i],
            baseline_start=(float(t[j0]), v0), baseline_end=(float(t[j1]), v1),
            saturated=bool(nanmask[starts[i]:ends[i] + 1].any()) if nanmask.any() else False,
        ))
    if s.tangent_skim:
        _skim(t, y, ys, dt, peaks, starts, ends, cluster, apexes, s.skim_height_ratio)
    # Figures of merit.
    free, last = [], 0
    for i in range(k):
        if starts[i] > last:
            free.append((last, starts[i]))
        last = max(last, ends[i] + 1)
    if last < len(t):
        free.append((last, len(t)))
    for i, pk in enumerate(peaks):
        h = pk.height
        # The noise window spans sn_window_factor × the detection width at half height (that of
        # the smoothed trace: never narrower than the true W½), so the S/N gate is stable.
        w_half = half_widths[i] * dt
        if s.noise_window_s is not None:
            a0, a1 = np.searchsorted(t, s.noise_window_s)
            win = (int(a0), int(a1))
        else:
            n = max(math.ceil(s.sn_window_factor * max(w_half, width_s) / dt),
                    MIN_NOISE_SAMPLES)
            win = figures.noise_window(free, starts[i], ends[i], n)
        if win is not None:
            pk.noise_pp = figures.peak_to_peak_noise(y, win[0], win[1])
        pk.sn = figures.signal_to_noise(h, pk.noise_pp)
    return peaks, corrected, starts, ends


def _shape_figures(t, peaks, corrected, starts, ends, apexes) -> None:
    """W½, plate count, USP tailing and resolution, from the baseline-corrected signal."""
    for i, pk in enumerate(peaks):
        yc = corrected[i]
        a = apexes[i] - starts[i]
        tt = t[starts[i]:ends[i] + 1]
        l50, r50 = figures.crossing(tt, yc, a, 0.5 * pk.height, 0, len(yc) - 1)
        l05, r05 = figures.crossing(tt, yc, a, 0.05 * pk.height, 0, len(yc) - 1)
        pk.width_half_s = r50 - l50
        pk.plates = figures.plate_count(pk.rt_s, pk.width_half_s)
        pk.tailing = figures.usp_tailing(pk.rt_s, l05, r05)
        if i > 0:
            prev = peaks[i - 1]
            pk.resolution = figures.resolution(prev.rt_s, prev.width_half_s,
                                               pk.rt_s, pk.width_half_s)


def _skim(t, y, ys, dt, peaks, starts, ends, cluster, apexes, ratio: float) -> None:
    """Tangent skim: a rider on its parent's tail is cut off by a line from valley to its end.

    The rider keeps the area above that line; the parent gets the rest of
    their drop-line total and extends to the rider's end.
    """
    for i in range(1, len(peaks)):
        parent, child = peaks[i - 1], peaks[i]
        if cluster[i] != cluster[i - 1] or child.height <= 0:
            continue
        if parent.height / child.height < ratio:
            continue
        v = starts[i]
        # The tangent touches the tail where the line from the valley is steepest downwards,
        # so the signal stays above it all the way.
        tail = np.arange(apexes[i] + 1, ends[i] + 1)
        if tail.size == 0:
            continue
        e = int(tail[np.argmin((ys[tail] - ys[v]) / (tail - v))])
        child_area = area_indices(y, dt, v, e, float(ys[v]), float(ys[e]))
        whole = parent.area + child.area
        child.area, parent.area = child_area, whole - child_area
        child.start_code = child.end_code = "T"
        child.baseline_start = (float(t[v]), float(ys[v]))
        child.baseline_end = (float(t[e]), float(ys[e]))
        child.end_s = float(t[e])
        child.height -= float(ys[v]) + (float(ys[e]) - float(ys[v])) * (
            child.rt_s - t[v]) / (t[e] - t[v]) - _line_at(parent, child.rt_s)
        parent.end_s = child.end_s


def _line_at(peak: Peak, time: float) -> float:
    (t0, v0), (t1, v1) = peak.baseline_start, peak.baseline_end
    return v0 + (v1 - v0) * (time - t0) / (t1 - t0) if t1 != t0 else v0


def find_peaks(t: np.ndarray, values: np.ndarray,
               settings: IntegrationSettings | None = None) -> PeakSet:
    """Detect, integrate and characterise every peak of one evenly sampled trace."""
    s = settings or IntegrationSettings()
    t = np.asarray(t, dtype=np.float64)
    y, nanmask = bl.fill_gaps(np.asarray(values, dtype=np.float64))
    n = len(y)
    dt = float((t[-1] - t[0]) / (n - 1))
    sigma = bl.white_noise_sd(y)
    if s.despike:
        y = bl.despike(y, sigma)
    if s.peak_width_s and s.baseline_window_s:
        width_s, window_s = s.peak_width_s, s.baseline_window_s
    else:
        narrow, wide = estimate_widths(y, dt, sigma)
        width_s = s.peak_width_s or narrow
        window_s = s.baseline_window_s or BASELINE_WIDTHS * max(wide, width_s)
    w = width_s / dt
    ys = bl.smooth(y, 0.5 * w)
    base = bl.local_baseline(ys, int(window_s / dt), int(w))
    r = ys - base
    sigma_s = max(sigma * bl.smoothing_gain(len(y), 0.5 * w), 1e-300)
    drift = bl.drift_per_min(t, base)
    # Local maxima standing clear of the local baseline, then scipy's prominence on those only.
    level = DETECTION_SDS * sigma_s
    inner = ys[1:-1]
    cand = np.flatnonzero((inner > ys[:-2]) & (inner >= ys[2:]) & (r[1:-1] > level)) + 1
    if cand.size and s.time_range_s is not None:
        cand = cand[(t[cand] >= s.time_range_s[0]) & (t[cand] <= s.time_range_s[1])]
    if cand.size == 0:
        return PeakSet([], width_s, sigma, drift, nanmask)
    with warnings.catch_warnings():  # flat (noise-free) stretches give zero-prominence maxima
        warnings.filterwarnings("ignore", message="some peaks have a")
        prom = signal.peak_prominences(ys, cand, wlen=odd_window(2 * window_s / dt))
    keep = (prom[0] >= level) & (prom[0] > 0)
    cand = cand[keep]
    prom = (prom[0][keep], prom[1][keep], prom[2][keep])
    if cand.size == 0:
        return PeakSet([], width_s, sigma, drift, nanmask)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="some peaks have a")
        widths = signal.peak_widths(ys, cand, rel_height=0.5, prominence_data=prom)[0]
    min_w = (s.min_width_s if s.min_width_s is not None else 0.25 * width_s) / dt
    # Wider than half the baseline window: a baseline feature, not a peak.
    keep = (widths >= min_w) & (widths <= 0.5 * window_s / dt)
    # S/N = 2H/h with h, the p-p of ≥ 60 samples, hardly ever under 3 SDs: a cheap pre-gate.
    keep &= r[cand] >= s.min_sn * 1.5 * sigma
    cand, widths = cand[keep], widths[keep]
    while True:  # integrate, drop what fails the gates, re-integrate the rest
        if cand.size == 0:
            return PeakSet([], width_s, sigma, drift, nanmask)
        peaks, corrected, starts, ends = _integrate(t, y, ys, r, cand, widths, sigma_s, s, dt,
                                                    nanmask, width_s)
        ok = np.array([
            (pk.sn >= s.min_sn or math.isnan(pk.sn)) and pk.height >= s.min_height
            and pk.area >= s.min_area and pk.height > 0 for pk in peaks
        ])
        if ok.all():
            _shape_figures(t, peaks, corrected, starts, ends, cand)
            return PeakSet(peaks, width_s, sigma, drift, nanmask)
        cand, widths = cand[ok], widths[ok]
