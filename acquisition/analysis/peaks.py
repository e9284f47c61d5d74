"""Peak detection and integration of one chromatogram, CDS style.

Steps out (abrupt baseline jumps are found and subtracted) → clipping marked
→ smooth (Savitzky–Golay) → baseline (local envelope or a pybaselines
algorithm) → candidate apexes by prominence over the smoothed-signal noise →
boundaries where the signal returns to the baseline (or a valley: drop line)
→ straight baseline per peak or per cluster of unresolved peaks → riders on
a larger peak's tail skimmed (tangent, exponential or Gaussian; the last two
also find shoulders) → trapezoid areas on the raw signal → S/N on peak-free
noise (negative peaks, steps and clipping left out) → figures of merit →
keep peaks with S/N ≥ min_sn → optionally a peak-model fit beside each area.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage, signal

from raphe.acquisition.analysis import baseline as bl
from raphe.acquisition.analysis import clipping, figures
from raphe.acquisition.analysis import skim as sk
from raphe.acquisition.analysis.integrate import area_indices
from raphe.acquisition.analysis.settings import IntegrationSettings

#: Candidate apexes need this prominence in SDs of the smoothed signal's noise.
DETECTION_SDS = 4.0
#: Candidates also stand this many read-out steps clear of their surroundings.
QUANTUM_STEPS = 2.0
#: The S/N noise window never has fewer samples than this (its p-p would be biased low).
MIN_NOISE_SAMPLES = 60
#: The automatic baseline window spans this many half-height widths of the widest peak.
BASELINE_WIDTHS = 6.0

import os
PARENT_MODEL = os.environ.get("RAPHE_PARENT", "emg")
ALL_PARENTS = os.environ.get("RAPHE_ALL", "1") == "1"

#: A later peak at least 1/this of a tailing parent's height ends the parent's modelled tail.
BLOCKING_RATIO = 3.0

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
    start_code: str  # B, V, T, E or G (docs/analysis-method.md, detection codes)
    end_code: str
    baseline_start: tuple[float, float]
    baseline_end: tuple[float, float]
    saturated: bool = False
    name: str | None = None
    baseline_step: bool = False
    shoulder: bool = False
    #: Fitted peak model ("emg", "skewnorm") and its area, when the method asks for one.
    fit_model: str = ""
    fit_area: float = math.nan
    fit_mismatch: bool = False
    #: A skimmed rider's curved baseline at the samples from ``start_s`` to ``end_s``.
    skim_curve: np.ndarray | None = field(default=None, repr=False)

    @property
    def code(self) -> str:
        """The detection code as a CDS prints it: e.g. ``BB``, ``BV``, ``EES``, ``BBO``."""
        return (self.start_code + self.end_code + ("S" if self.shoulder else "")
                + ("O" if self.saturated else ""))

    def as_dict(self) -> dict:
        """JSON-ready fields (NaN/inf become None)."""
        out = {}
        for key, value in self.__dict__.items():
            if key == "skim_curve":
                continue
            if isinstance(value, float) and not math.isfinite(value):
                value = None
            out[key] = value
        out["code"] = self.code
        return out


@dataclass
class PeakSet:
    """The peaks of one chromatogram plus what was learnt about its background."""

    peaks: list[Peak]
    width_s: float  # the peak width the smoothing/baseline windows used
    noise_sd: float  # white noise SD of the raw signal
    drift_per_min: float  # slope of the local baseline across the run
    saturated: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    #: Times (s) of the baseline steps found (and taken out) in the trace.
    steps_s: tuple[float, ...] = ()


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


def _vertex(t: np.ndarray, ys: np.ndarray, p: int) -> tuple[float, float]:
    """Vertex (time, value) of the parabola through ``ys`` at ``p`` and its neighbours."""
    if p <= 0 or p >= len(ys) - 1:
        return float(t[p]), float(ys[p])
    a, b, c = ys[p - 1], ys[p], ys[p + 1]
    den = a - 2 * b + c
    if den >= 0:
        return float(t[p]), float(b)
    x = 0.5 * (a - c) / den
    return float(t[p] + x * (t[1] - t[0])), float(b - 0.25 * (a - c) * x)


@dataclass
class _Trace:
    """One chromatogram being integrated: the arrays every step reads."""

    t: np.ndarray
    y: np.ndarray  # raw signal, gaps bridged, steps taken out, despiked
    ys: np.ndarray  # smoothed
    r: np.ndarray  # smoothed above the baseline
    dt: float
    sigma: float  # white noise SD
    sigma_s: float  # noise SD of the smoothed signal
    width_s: float
    clip: np.ndarray
    steps: list[tuple[int, float]]
    quiet: np.ndarray  # samples fit for the noise window (no dips, steps or clipping)
    s: IntegrationSettings
    base: np.ndarray
    window_s: float
    dip: np.ndarray  # samples in negative peaks
    quantum: float  # the read-out's step (smallest non-zero difference); ~0 for float data


@dataclass(eq=False)
class _Seg:
    """A peak under construction: integration limits, apex and the baseline under it."""

    i0: int
    i1: int
    apex: int
    half_width: float  # samples, of the smoothed signal at half height
    start_code: str
    end_code: str
    line: tuple[int, float, int, float] | None = None  # baseline anchors j0, v0, j1, v1
    under: np.ndarray | None = None  # or a baseline curve at samples i0 .. i1
    shoulder: bool = False
    rider_of: int | None = None  # apex of the parent it was skimmed from

    def baseline(self, idx: np.ndarray) -> np.ndarray:
        if self.under is not None:
            return self.under[idx - self.i0]
        j0, v0, j1, v1 = self.line
        return v0 + (v1 - v0) * (idx - j0) / max(j1 - j0, 1)


# -- boundaries and drop lines ------------------------------------------------------------

def _boundaries(tr: _Trace, apexes: np.ndarray, half_widths: np.ndarray):
    """Start/end indices and B/V codes for sorted apexes.

    A valley is a baseline point when it is low compared with the *smaller*
    of its two peaks (a rider's valley is judged against the rider, not the
    parent towering next to it); otherwise the pair shares a baseline and is
    split by a drop line (or a skim, later).
    """
    s, r = tr.s, tr.r
    n = len(r)
    k = len(apexes)
    valleys = [int(apexes[i] + np.argmin(tr.ys[apexes[i]:apexes[i + 1] + 1]))
               for i in range(k - 1)]
    floor = s.boundary_noise * tr.sigma_s
    deep = [r[v] <= max(s.valley_baseline_fraction * min(r[apexes[i]], r[apexes[i + 1]]), floor)
            for i, v in enumerate(valleys)]
    if s.slope_threshold is not None:
        flat_front = _plateaus(tr, s.slope_threshold)
        flat_back = flat_front if s.slope_threshold_end is None else _plateaus(
            tr, s.slope_threshold_end)
    else:
        flat_front = flat_back = None
    starts, ends, scode, ecode = [], [], [], []
    for i, p in enumerate(apexes):
        lo = valleys[i - 1] if i > 0 else 0
        hi = valleys[i] if i < k - 1 else n - 1
        thr = max(s.boundary_fraction * r[p], floor)
        ext = round(float(s.boundary_extend * half_widths[i]))
        below = np.flatnonzero(r[lo:p + 1] <= thr)
        start = max(lo + int(below[-1]) - ext, lo) if below.size else None
        if flat_front is not None:  # where the signal levels off (a shelf, not the baseline)
            level = np.flatnonzero(flat_front[lo:p + 1] & (r[lo:p + 1] < 0.5 * r[p]))
            if level.size and (start is None or lo + int(level[-1]) > start):
                start = lo + int(level[-1])
        if start is not None:
            starts.append(_off_dips(tr.dip, start, p))
            scode.append("B")
        else:
            starts.append(lo)
            scode.append("V" if i > 0 and not deep[i - 1] else "B")
        below = np.flatnonzero(r[p:hi + 1] <= thr)
        end = min(p + int(below[0]) + ext, hi) if below.size else None
        if flat_back is not None:
            level = np.flatnonzero(flat_back[p:hi + 1] & (r[p:hi + 1] < 0.5 * r[p]))
            if level.size and (end is None or p + int(level[0]) < end):
                end = p + int(level[0])
        if end is not None:
            ends.append(_off_dips(tr.dip, end, p))
            ecode.append("B")
        else:
            ends.append(hi)
            ecode.append("V" if i < k - 1 and not deep[i] else "B")
    return starts, ends, scode, ecode


def _off_dips(dip: np.ndarray, i: int, apex: int) -> int:
    """Move a boundary from inside a negative peak towards the apex, out of the dip: a
    baseline anchored in a dip would lend the peak the dip's depth."""
    if not dip[i]:
        return i
    span = dip[i:apex] if i < apex else dip[i:apex:-1]
    out = np.flatnonzero(~span)
    if not out.size:
        return i
    return i + int(out[0]) if i < apex else i - int(out[0])


def _plateaus(tr: _Trace, threshold: float) -> np.ndarray:
    """Samples in the middle of a stretch where the smoothed signal climbs or falls slower
    than ``threshold`` for ``baseline_plateau_s`` (a CDS's slope sensitivity)."""
    s = tr.s
    m = max(round((s.baseline_plateau_s if s.baseline_plateau_s is not None
                   else 0.5 * tr.width_s) / tr.dt), 2)
    slow = np.abs(np.gradient(tr.ys, tr.dt)) <= threshold
    run = np.convolve(slow.astype(np.int32), np.ones(m, dtype=np.int32), mode="same")
    return run >= m


def _drop_lines(tr: _Trace, apexes: np.ndarray, half_widths: np.ndarray) -> list[_Seg]:
    """Peaks joined at valleys share one straight baseline, split by drop lines."""
    starts, ends, scode, ecode = _boundaries(tr, apexes, half_widths)
    k = len(apexes)
    cluster = [0] * k
    for i in range(1, k):
        joined = scode[i] == "V" and ecode[i - 1] == "V"
        cluster[i] = cluster[i - 1] if joined else cluster[i - 1] + 1
    c_start: dict[int, int] = {}
    c_end: dict[int, int] = {}
    for i in range(k):
        c_start.setdefault(cluster[i], starts[i])
        c_end[cluster[i]] = ends[i]
    segs = []
    for i in range(k):
        j0, j1 = c_start[cluster[i]], c_end[cluster[i]]
        segs.append(_Seg(starts[i], ends[i], int(apexes[i]), float(half_widths[i]),
                         scode[i], ecode[i],
                         line=(j0, float(tr.ys[j0]), j1, float(tr.ys[j1]))))
    return segs


def _height(tr: _Trace, seg: _Seg) -> float:
    """Smoothed height above the segment's baseline at its apex."""
    return float(tr.ys[seg.apex] - seg.baseline(np.array([seg.apex]))[0])


def _same_cluster(a: _Seg, b: _Seg) -> bool:
    return a.line is not None and b.line is not None and a.line[0] == b.line[0] \
        and a.line[2] == b.line[2]


# -- skims ---------------------------------------------------------------------------------

def _tangent(tr: _Trace, segs: list[_Seg]) -> None:
    """Tangent skim: a rider on its parent's tail is cut off by a line from the valley to
    where the line touches the rider's far side; the parent extends under it."""
    s = tr.s
    for i in range(1, len(segs)):
        parent, child = segs[i - 1], segs[i]
        if not _same_cluster(parent, child) or child.start_code != "V":
            continue
        hp, hc = _height(tr, parent), _height(tr, child)
        hv = float(tr.r[child.i0])
        if hc <= 0 or hp / hc < s.skim_height_ratio or tr.r[child.apex] > s.skim_valley_ratio * hv:
            continue
        v = child.i0
        tail = np.arange(child.apex + 1, child.i1 + 1)
        if tail.size == 0:
            continue
        e = int(tail[np.argmin((tr.ys[tail] - tr.ys[v]) / (tail - v))])
        parent.i1 = max(parent.i1, child.i1)  # the pair's drop-line total is kept
        child.line = (v, float(tr.ys[v]), e, float(tr.ys[e]))
        child.i1 = e
        child.start_code = child.end_code = "T"
        child.rider_of = parent.apex


def _tail_info(tr: _Trace, seg: _Seg) -> tuple[float, float, float, int]:
    """(front σ in s, apex → 10 % tail length in s, asymmetry at 10 %, tail-10 % index)."""
    r, p = tr.r, seg.apex
    h = r[p]
    left = np.flatnonzero(r[:p + 1] < 0.5 * h)
    half_front = (p - left[-1]) * tr.dt if left.size else seg.half_width * tr.dt / 2
    left10 = np.flatnonzero(r[:p + 1] < 0.1 * h)
    right10 = np.flatnonzero(r[p:] < 0.1 * h)
    front10 = (p - left10[-1]) * tr.dt if left10.size else math.nan
    tail10 = right10[0] * tr.dt if right10.size else (len(r) - 1 - p) * tr.dt
    sigma = max(half_front / 1.1774, tr.dt)
    asym = tail10 / front10 if front10 and front10 > 0 else math.nan
    return sigma, tail10, asym, p + (int(right10[0]) if right10.size else len(r) - 1 - p)


def _model_skims(tr: _Trace, segs: list[_Seg], cache: dict, rejected: set) -> list[_Seg]:
    """Exponential or Gaussian skim: model each tailing parent's tail, find the riders and
    shoulders standing on it, and skim them off."""
    s = tr.s
    n = len(tr.r)
    out = list(segs)
    for parent in sorted(segs, key=lambda g: -tr.r[g.apex]):
        if parent not in out or parent.rider_of is not None:
            continue
        hp = float(tr.r[parent.apex])
        if hp < 20 * tr.sigma_s:
            continue
        sigma_t, tail10, asym, _ = _tail_info(tr, parent)
        later = [g for g in out if g.apex > parent.apex]
        has_child = any(_same_cluster(parent, g) and tr.r[g.apex] * s.skim_height_ratio <= hp
                        for g in later)
        # A rider stands at least DETECTION_SDS noise SDs: any parent skim_height_ratio times
        # that tall may carry one, tailing or not (a broad shoulder hides the tail's asymmetry)
        tall = hp >= s.skim_height_ratio * DETECTION_SDS * tr.sigma_s
        if not (asym >= s.tail_asymmetry or has_child or (ALL_PARENTS and tall)):
            continue
        key = parent.apex
        if key not in cache:
            if s.skim == "exponential":
                a = parent.apex + max(round(sk.TAIL_START_SIGMAS * sigma_t / tr.dt), 1)
            else:
                a = max(parent.apex - round(sigma_t / tr.dt), 0)
            e = min(n, parent.apex + int((sk.TAIL_LENGTHS * max(tail10, 4 * sigma_t)
                                          + sk.TAIL_MARGIN_WIDTHS * tr.width_s) / tr.dt))
            # a peak a third of the parent's height is a peak of its own, not a rider: the
            # modelled tail stops there (riders in between are ignored by the fit)
            blocking = [g.i0 for g in later if tr.r[g.apex] * BLOCKING_RATIO > hp]
            if blocking:
                e = min(e, min(blocking))
            model = None
            if s.skim == "exponential" and PARENT_MODEL == "emg" and e - a >= 20:
                front10 = sigma_t * 2.146
                tau0 = max((tail10 - front10) / 2.3, 0.2 * sigma_t)
                a0 = max(parent.apex - round(5 * sigma_t / tr.dt), 0)
                model = sk.fit_parent(tr.t, tr.y, a0, a, e, tr.sigma, float(tr.t[parent.apex]),
                                      sigma_t, tau0, ~(tr.clip | tr.dip))
            if model is None:
                model = sk.fit_tail(tr.t, tr.ys, a, e, tr.sigma_s, s.skim,
                                    float(tr.t[parent.apex]), sigma_t,
                                    ~tr.clip) if e - a >= 20 else None
            riders = [] if model is None else sk.find_riders(
                tr.ys, model, tr.sigma_s, (s.min_width_s / tr.dt) if s.min_width_s is not None
                else 0.25 * tr.width_s / tr.dt, DETECTION_SDS, s.boundary_fraction,
                s.boundary_noise, s.boundary_extend)
            cache[key] = (model, riders)
        model, riders = cache[key]
        if model is None:
            continue
        a, e = model.a, model.e
        taken, big = [], []
        for start, apex, end, width in riders:
            if apex in rejected or apex <= parent.apex + 1:
                continue
            # Only the height ratio decides: where the tail has died away the model is the
            # baseline, so a rider past a deep valley is still measured right.
            hc = float(tr.ys[apex] - model.curve[apex - a])
            if hc > 0 and hp / hc < s.skim_height_ratio:
                big.append((start, end))
            elif hc > 0:
                taken.append((start, apex, end, width))
        if not taken:
            continue
        # A peak standing on the tail but too large to be a rider stays as it was (its
        # drop line and all); the parent then ends where it did.
        kept = [g.apex for g in out if g is not parent and any(st <= g.apex <= en
                                                                for st, en in big)]
        spans = [(st, en) for st, _, en, _ in taken]
        # Peaks found earlier on the modelled tail are the riders, or noise on the tail.
        out = [g for g in out if g is parent or g.apex in kept or not a <= g.apex < e]
        last = parent.i1
        for k, (start, apex, end, width) in enumerate(taken):
            under = sk.local_skim(tr.t, tr.ys, model, start, end,
                                  [sp for j, sp in enumerate(spans) if j != k])
            valley = bool(np.min(tr.ys[parent.apex:apex]) < tr.ys[apex] - 2 * tr.sigma_s)
            code = "E" if s.skim == "exponential" else "G"
            out.append(_Seg(start, end, apex, width, code, code, under=under,
                            shoulder=not valley, rider_of=parent.apex))
            last = max(last, end)
        if last > parent.i1 and parent.line is not None and not kept:
            j0, v0, j1, _ = parent.line
            if j1 <= parent.i1:  # the parent's cluster ended with it: extend its baseline
                parent.line = (j0, v0, last, float(tr.ys[last]))
            parent.i1 = last
    out.sort(key=lambda g: g.apex)
    return out


# -- areas, S/N and shape --------------------------------------------------------------------

def _area(tr: _Trace, seg: _Seg) -> float:
    if seg.under is None:
        j0, v0, j1, v1 = seg.line
        return area_indices(tr.y, tr.dt, seg.i0, seg.i1, v0, v1, j0, j1)
    d = tr.y[seg.i0:seg.i1 + 1] - seg.under
    return float((np.sum(d) - 0.5 * (d[0] + d[-1])) * tr.dt)


def _to_peaks(tr: _Trace, segs: list[_Seg]) -> list[Peak]:
    t, ys = tr.t, tr.ys
    peaks = []
    areas = {id(g): _area(tr, g) for g in segs}
    # A skimmed rider's area comes out of its parent's, where the parent runs under it.
    for g in segs:
        if g.rider_of is not None:
            parent = next((p for p in segs if p.apex == g.rider_of), None)
            if parent is not None and parent.i0 <= g.i0 and g.i1 <= parent.i1:
                areas[id(parent)] -= areas[id(g)]
    step_idx = [j for j, _ in tr.steps]

    def level(i: int) -> float:
        """What the steps taken out of the signal add back at sample ``i``."""
        return float(sum(size for j, size in tr.steps if i >= j))

    for g in segs:
        if g.under is None:
            j0, v0, j1, v1 = g.line
            rt, top = _vertex(t, ys, g.apex)
            base_rt = v0 + (v1 - v0) * (rt - t[j0]) / (t[j1] - t[j0]) if j1 > j0 else v0
            b_start = (float(t[j0]), v0 + level(j0))
            b_end = (float(t[j1]), v1 + level(j1))
            span = (j0, j1)
            curve = None
        else:
            corrected = ys[g.i0:g.i1 + 1] - g.under
            rt, top = _vertex(t[g.i0:g.i1 + 1], corrected, g.apex - g.i0)
            base_rt = 0.0
            curve = g.under
            if tr.steps:  # baselines are given on the signal as recorded
                curve = curve + np.array([level(i) for i in range(g.i0, g.i1 + 1)])
            b_start = (float(t[g.i0]), float(curve[0]))
            b_end = (float(t[g.i1]), float(curve[-1]))
            span = (g.i0, g.i1)
        peaks.append(Peak(
            rt_s=rt, start_s=float(t[g.i0]), end_s=float(t[g.i1]), area=areas[id(g)],
            height=top - base_rt, width_half_s=math.nan, sn=math.nan, noise_pp=math.nan,
            plates=math.nan, tailing=math.nan, resolution=math.nan,
            start_code=g.start_code, end_code=g.end_code,
            baseline_start=b_start, baseline_end=b_end,
            saturated=bool(tr.clip[g.i0:g.i1 + 1].any()),
            baseline_step=any(span[0] - 2 <= j <= span[1] + 2 for j in step_idx),
            shoulder=g.shoulder, skim_curve=curve,
        ))
    return peaks


def _noise(tr: _Trace, segs: list[_Seg], peaks: list[Peak]) -> None:
    """EP S/N = 2H/h, h the p-p noise in the nearest quiet, peak-free window."""
    s, t = tr.s, tr.t
    busy = ~tr.quiet
    for g in segs:
        busy[g.i0:g.i1 + 1] = True
    edges = np.flatnonzero(np.diff(np.concatenate(([1], busy.view(np.int8), [1]))))
    free = list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))
    for g, pk in zip(segs, peaks, strict=True):
        w_half = g.half_width * tr.dt
        if s.noise_window_s is not None:
            a0, a1 = np.searchsorted(t, s.noise_window_s)
            win = (int(a0), int(a1))
        else:
            n = max(math.ceil(s.sn_window_factor * max(w_half, tr.width_s) / tr.dt),
                    MIN_NOISE_SAMPLES)
            win = figures.noise_window(free, g.i0, g.i1, n, MIN_NOISE_SAMPLES) or \
                figures.adjacent_window(tr.y, g.i0, g.i1, n)
        if win is not None:
            pk.noise_pp = figures.peak_to_peak_noise(tr.y, win[0], win[1])
        pk.sn = figures.signal_to_noise(pk.height, pk.noise_pp)


def _shape_figures(tr: _Trace, segs: list[_Seg], peaks: list[Peak]) -> None:
    """W½, plate count, USP tailing and resolution, from the baseline-corrected signal."""
    t = tr.t
    for i, (g, pk) in enumerate(zip(segs, peaks, strict=True)):
        idx = np.arange(g.i0, g.i1 + 1)
        yc = tr.ys[g.i0:g.i1 + 1] - g.baseline(idx)
        a = g.apex - g.i0
        tt = t[g.i0:g.i1 + 1]
        l50, r50 = figures.crossing(tt, yc, a, 0.5 * pk.height, 0, len(yc) - 1)
        l05, r05 = figures.crossing(tt, yc, a, 0.05 * pk.height, 0, len(yc) - 1)
        pk.width_half_s = r50 - l50
        pk.plates = figures.plate_count(pk.rt_s, pk.width_half_s)
        pk.tailing = figures.usp_tailing(pk.rt_s, l05, r05)
        if i > 0:
            prev = peaks[i - 1]
            pk.resolution = figures.resolution(prev.rt_s, prev.width_half_s,
                                               pk.rt_s, pk.width_half_s)


# -- the whole pass ------------------------------------------------------------------------

def _prepare(t: np.ndarray, values: np.ndarray, s: IntegrationSettings,
             file_limits: tuple[float | None, float | None]) -> _Trace:
    y, nanmask = bl.fill_gaps(values)
    n = len(y)
    dt = float((t[-1] - t[0]) / (n - 1))
    sigma = bl.white_noise_sd(y)
    clip = nanmask | clipping.limit_mask(values, s.detector_max, s.detector_min)
    if file_limits != (None, None):
        clip |= clipping.limit_mask(values, *file_limits, min_run=clipping.LIMIT_RUN)
    steps = []
    if s.detect_steps:
        # flat tops (judged against the lowest level for now) are clipping, not steps
        tops = clipping.flat_tops(y, np.full(len(y), float(np.min(y))), sigma)
        steps = bl.find_steps(y, sigma, exclude=clip | tops)
    y = bl.remove_steps(y, steps)
    plain = y
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
    if s.baseline == "local":
        base = bl.local_baseline(ys, int(window_s / dt), int(w))
    else:
        base = bl.method_baseline(ys, dt, s.baseline, window_s, width_s)
    clip |= clipping.flat_tops(plain, base, sigma)
    r = ys - base
    sigma_s = max(sigma * bl.smoothing_gain(n, 0.5 * w), 1e-300)
    # Negative peaks dip below the baseline by more than the slow noise (wander) does; each
    # runs for as long as the signal stays below the baseline by more than that noise.
    slow = max(sigma_s, bl.robust_sd(r[::8]))
    dip = _runs_reaching(r < -slow, r < -DETECTION_SDS * slow)
    # Samples unfit for a noise window: negative peaks, steps, clipping (and their edges).
    unfit = clip | dip
    for j, _ in steps:
        unfit[max(j - bl.STEP_SIDE, 0):j + bl.STEP_SIDE] = True
    if unfit.any():  # and two peak widths either side (a dip's own tails)
        unfit = ndimage.maximum_filter1d(unfit.view(np.uint8), bl.odd(4 * w + 1)).astype(bool)
    d = np.abs(np.diff(plain))
    d = d[d > 0]
    quantum = float(d.min()) if d.size else 0.0
    return _Trace(t, y, ys, r, dt, sigma, sigma_s, width_s, clip, steps, ~unfit, s, base,
                  window_s, dip, quantum)


def _one_per_clipped_top(cand: np.ndarray, clip: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """A clipped top is one peak: the maxima smoothing leaves on it become its highest one."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], clip.view(np.int8), [0]))))
    keep = np.ones(cand.size, dtype=bool)
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        inside = np.flatnonzero((cand >= a - 1) & (cand <= b))
        if inside.size > 1:
            best = inside[np.argmax(ys[cand[inside]])]
            keep[inside] = False
            keep[best] = True
    return cand[keep]


def _runs_reaching(extent: np.ndarray, core: np.ndarray) -> np.ndarray:
    """The runs of ``extent`` that contain at least one sample of ``core``."""
    if not core.any():
        return core
    starts = extent & ~np.concatenate(([False], extent[:-1]))
    run = np.cumsum(starts)  # run number of each sample (meaningful where extent)
    hit = np.zeros(run[-1] + 1, dtype=bool)
    hit[run[core & extent]] = True
    return extent & hit[run]


def _candidates(tr: _Trace) -> tuple[np.ndarray, np.ndarray]:
    s, ys, r, dt = tr.s, tr.ys, tr.r, tr.dt
    t = tr.t
    # a peak also stands clear of the read-out's step (a staircase is not peaks)
    level = max(DETECTION_SDS * tr.sigma_s, QUANTUM_STEPS * tr.quantum)
    inner = ys[1:-1]
    cand = np.flatnonzero((inner > ys[:-2]) & (inner >= ys[2:]) & (r[1:-1] > level)) + 1
    if cand.size and tr.clip.any():
        cand = _one_per_clipped_top(cand, tr.clip, ys)
    if cand.size and s.time_range_s is not None:
        cand = cand[(t[cand] >= s.time_range_s[0]) & (t[cand] <= s.time_range_s[1])]
    if cand.size == 0:
        return cand, np.zeros(0)
    # Prominence on the signal with its dips filled up to the baseline: a negative peak next
    # to a candidate must not lend it its depth.
    above = np.maximum(ys, tr.base)
    with warnings.catch_warnings():  # flat (noise-free) stretches give zero-prominence maxima
        warnings.filterwarnings("ignore", message="some peaks have a")
        prom = signal.peak_prominences(above, cand, wlen=odd_window(2 * tr.window_s / dt))
    keep = (prom[0] >= level) & (prom[0] > 0)
    cand = cand[keep]
    prom = (prom[0][keep], prom[1][keep], prom[2][keep])
    if cand.size == 0:
        return cand, np.zeros(0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="some peaks have a")
        widths = signal.peak_widths(above, cand, rel_height=0.5, prominence_data=prom)[0]
    min_w = (s.min_width_s if s.min_width_s is not None else 0.25 * tr.width_s) / dt
    # Wider than half the baseline window: a baseline feature, not a peak.
    keep = (widths >= min_w) & (widths <= 0.5 * tr.window_s / dt)
    # S/N = 2H/h with h, the p-p of ≥ 60 samples, hardly ever under 3 SDs: a cheap pre-gate.
    keep &= r[cand] >= s.min_sn * 1.5 * tr.sigma
    return cand[keep], widths[keep]


def find_peaks(t: np.ndarray, values: np.ndarray,
               settings: IntegrationSettings | None = None,
               file_limits: tuple[float | None, float | None] = (None, None)) -> PeakSet:
    """Detect, integrate and characterise every peak of one evenly sampled trace.

    ``values`` may hold NaN where the detector overloaded. ``file_limits`` are the
    (maximum, minimum) a file says the detector can give: runs of readings at them
    are clipping.
    """
    s = settings or IntegrationSettings()
    t = np.asarray(t, dtype=np.float64)
    tr = _prepare(t, np.asarray(values, dtype=np.float64), s, file_limits)
    drift = bl.drift_per_min(t, tr.base)
    steps_s = tuple(float(t[j]) for j, _ in tr.steps)

    def result(peaks: list[Peak]) -> PeakSet:
        return PeakSet(peaks, tr.width_s, tr.sigma, drift, tr.clip, steps_s)

    cand, widths = _candidates(tr)
    cache: dict = {}
    rejected: set[int] = set()
    while True:  # integrate, drop what fails the gates, re-integrate the rest
        if cand.size == 0:
            return result([])
        segs = _drop_lines(tr, cand, widths)
        if s.skim == "tangent":
            _tangent(tr, segs)
        elif s.skim in ("exponential", "gaussian"):
            segs = _model_skims(tr, segs, cache, rejected)
        peaks = _to_peaks(tr, segs)
        _noise(tr, segs, peaks)
        ok = [(pk.sn >= s.min_sn or math.isnan(pk.sn)) and pk.height >= s.min_height
              and pk.area >= s.min_area and pk.height > 0 for pk in peaks]
        if all(ok):
            _shape_figures(tr, segs, peaks)
            if s.fit != "none":
                from raphe.acquisition.analysis.fitting import fit_peaks

                fit_peaks(tr.t, tr.y, segs, peaks, s.fit, s.fit_tolerance)
            return result(peaks)
        failed = [g for g, good in zip(segs, ok, strict=True) if not good]
        rejected |= {g.apex for g in failed if g.rider_of is not None}
        bad = {g.apex for g in failed}
        keep = np.array([c not in bad for c in cand.tolist()], dtype=bool)
        cand, widths = cand[keep], widths[keep]
