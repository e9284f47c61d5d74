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


#: A rider's apex is at least this many of the parent's σ after the parent's apex.
RIDER_AFTER_SIGMAS = 1.5
#: A rider's width at half height is within these multiples of its parent's (from the
#: parent's front) ...
RIDER_WIDTHS = (0.3, 2.2)
#: ... and a parent carries at most this many riders (the tallest).
MAX_RIDERS = 3
#: The cluster fit starts this many of the parent's σ before its apex (or at its start).
PARENT_FRONT_SIGMAS = 5.0
#: A rider's integration spans at least this many of its fitted σ either side of its apex.
RIDER_SPAN_SIGMAS = 4.0
#: A cluster fit whose residual RMS exceeds this many noise SDs does not describe the
#: cluster: the tail-only model skims its riders instead.
CLUSTER_RMS_LIMIT = 2.5
#: A peak on a swell takes the swell's fitted baseline only when the fit leaves residuals
#: of at most this many noise SDs (peak and swell both described).
SWELL_RMS_LIMIT = 1.5
#: ... and tells the peak from the swell: its area's standard error at most this fraction,
#: or at most DEGENERACY times what the noise alone gives (a low peak is uncertain, but not
#: for want of telling it from the swell).
SWELL_SE = 0.05
DEGENERACY = 3.0

#: A peak's own extent: this many σ before and after its apex (plus its tail) ...
EXTENT_SIGMAS = 4.5
#: ... the tail followed for at most this many τ (to 1/e⁶ ≈ 0.25 % of the height) ...
EXTENT_DECAYS = 6.0
#: ... and where the straight baseline passes more than this many noise SDs (and this
#: fraction of the peak's height) under the signal at that extent, the peak is on a swell,
#: whose baseline is fitted on this fraction of the peak's extent either side.
HUMP_SDS = 4.0
HUMP_FRACTION = 0.02
HUMP_SIDE = 0.3
#: A peak is looked at for a swell under it only when this many SDs of the slow noise reach
#: CURVE_FRACTION of its height (a swell that size over its base, some 4 half widths, would
#: change its area by that fraction).
SWELL_SLOW_SDS = 12.0
#: A neighbour this many times wider (at half height) than a peak is a swell, not a peak.
SWELL_WIDTHS = 3.0
#: ... or lower than this fraction of its height (a wiggle on the swell).
SWELL_LOW_HEIGHT = 0.3
#: Limits on the baseline more than this many σ inside a peak's own extent cut its feet off.
CUT_SIGMAS = 1.5
#: A quadratic baseline replaces the straight one when its curvature changes the area by
#: more than this fraction (and three of its standard errors).
CURVE_FRACTION = 0.02

#: A method's baseline window shorter than the base (tail included) of a peak at least
#: BASE_MIN_SDS smoothed-noise SDs tall is lengthened to BASE_MARGIN times that base.
BASE_MIN_SDS = 50.0
BASE_MARGIN = 1.25

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
    #: The whole-cluster fit's area of this peak (a rider or shoulder fitted with its
    #: parent, a peak fitted with the swell under it) and its standard error; NaN when the
    #: peak needed no such check.
    cluster_area: float = math.nan
    cluster_se: float = math.nan
    #: Not reliably separated from what it stands on (its parent's tail, the swell under
    #: it): the integrated and the whole-cluster fit's areas disagree, the fit cannot tell
    #: them apart, or a rider the method expected showed no valley or inflection.
    unresolved: bool = False
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
    #: The window of the local baseline the integration used (s).
    window_s: float = math.nan
    #: The integration's own arrays and segments (for ``fit_expected``).
    trace: object = field(default=None, repr=False, compare=False)
    segments: list = field(default_factory=list, repr=False, compare=False)
    #: When the method's baseline window was shorter than a tall peak's base (its tail
    #: included): (that peak's apex s, its base s, the window used s).
    window_note: tuple[float, float, float] | None = None


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
    #: SD of the slow noise about the local baseline (wander the envelope does not follow)
    slow: float = 0.0
    #: parent apex → [(rider apex, (area, se, rms))] of whole-cluster fits that did not
    #: describe their cluster (its riders are skimmed from the tail alone, and flagged)
    failed_fits: dict = field(default_factory=dict)


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
    #: The whole-cluster fit's (area, its standard error, residual RMS, the standard error
    #: from the noise alone) for a rider or a peak on a swell.
    cluster: tuple[float, float, float, float] | None = None
    swell: bool = False  # on a swell: its baseline is the swell's

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
    """Exponential or Gaussian skim: model each parent, find the riders and shoulders
    standing on it, and skim them off."""
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
        # A rider stands at least DETECTION_SDS noise SDs above the tail: a parent
        # skim_height_ratio times that tall may carry one, tailing or not (a broad shoulder
        # can hide the tail's asymmetry) when a peak or a shoulder shows on its tail.
        tall = hp >= s.skim_height_ratio * DETECTION_SDS * tr.sigma_s
        if not (asym >= s.tail_asymmetry or has_child or (
                s.skim == "exponential" and tall and _something_on_tail(
                    tr, parent, later, sigma_t, tail10))):
            continue
        key = parent.apex
        if key not in cache:
            e = min(n, parent.apex + int((sk.TAIL_LENGTHS * max(tail10, 4 * sigma_t)
                                          + sk.TAIL_MARGIN_WIDTHS * tr.width_s) / tr.dt))
            # a peak a third of the parent's height is a peak of its own, not a rider: the
            # modelled tail stops there (riders in between are ignored by the fit)
            # (its height as it rises from the valley before it: on a steep tail the
            # signal above the baseline is mostly the parent's)
            blocking = [g.i0 for g in later if BLOCKING_RATIO * (
                tr.ys[g.apex] - float(np.min(tr.ys[parent.apex:g.apex + 1]))) > hp]
            if blocking:
                e = min(e, min(blocking))
            cache[key] = (_emg_riders(tr, parent, e, sigma_t, tail10)
                          if s.skim == "exponential" else None) or _tail_riders(
                tr, parent, e, sigma_t)
        model, riders = cache[key]
        if model is None:
            continue
        a, e = model.a, model.e
        taken, big = [], []
        after = parent.apex + max(round(RIDER_AFTER_SIGMAS * sigma_t / tr.dt), 1)
        # riders a taller parent already skimmed are that parent's
        skimmed = [(g.i0, g.i1) for g in out if g.rider_of is not None]
        for rider in riders:
            start, apex, end, width = rider[:4]
            if apex in rejected or apex <= after or any(a0 <= apex <= a1
                                                        for a0, a1 in skimmed):
                continue
            # Only the height ratio decides: where the tail has died away the model is the
            # baseline, so a rider past a deep valley is still measured right. With the
            # parent and rider fitted, their area ratio decides too: a broad parent is
            # lower than its area says, and a rider on it is still a rider.
            hc = float(tr.ys[apex] - model.curve[apex - a])
            ratio = hp / hc if hc > 0 else math.inf
            if len(rider) > 4 and rider[4][0] > 0:
                ratio = max(ratio, model.parent_area / rider[4][0])
            if hc > 0 and ratio < s.skim_height_ratio:
                big.append((start, end))
            elif hc > 0:
                taken.append(rider)
        if not taken:
            continue
        # A peak standing on the tail but too large to be a rider stays as it was (its
        # drop line and all); the parent then ends where it did.
        kept = [g.apex for g in out if g is not parent and any(st <= g.apex <= en
                                                                for st, en in big)]
        spans = [(r[0], r[2]) for r in taken]
        # Peaks found earlier on the modelled tail are the riders, or noise on the tail.
        out = [g for g in out if g is parent or g.apex in kept or not a <= g.apex < e]
        last = parent.i1
        for k, rider in enumerate(taken):
            start, apex, end, width = rider[:4]
            if len(rider) > 5:  # the cluster fit's parent, other riders and baseline
                under = rider[5][start - a:end - a + 1]
            else:
                under = sk.local_skim(tr.t, tr.ys, model, start, end,
                                      [sp for j, sp in enumerate(spans) if j != k])
            valley = bool(np.min(tr.ys[parent.apex:apex]) < tr.ys[apex] - 2 * tr.sigma_s)
            code = "E" if s.skim == "exponential" else "G"
            seg = _Seg(start, end, apex, width, code, code, under=under,
                       shoulder=not valley, rider_of=parent.apex)
            if len(rider) > 4:
                seg.cluster = rider[4]
            else:  # skimmed from the tail alone: the nearest rider of a fit that failed
                failed = tr.failed_fits.get(parent.apex, [])
                near = [info for ap, info in failed if abs(ap - apex) <= width]
                if near:
                    seg.cluster = near[0]
            out.append(seg)
            last = max(last, end)
        if last > parent.i1 and parent.line is not None and not kept:
            j0, v0, j1, _ = parent.line
            if j1 <= parent.i1:  # the parent's cluster ended with it: extend its baseline
                parent.line = (j0, v0, last, float(tr.ys[last]))
            parent.i1 = last
    out.sort(key=lambda g: g.apex)
    return out


def _something_on_tail(tr: _Trace, parent: _Seg, later: list[_Seg], sigma_t: float,
                       tail10: float) -> bool:
    """Whether a peak or a shoulder shows on the parent's tail: a later peak within it, or
    the falling tail's slope easing and steepening again (a local maximum of the slope,
    standing clear of its noise)."""
    n = len(tr.ys)
    a = parent.apex + max(round(RIDER_AFTER_SIGMAS * sigma_t / tr.dt), 1)
    e = min(n, parent.apex + int((sk.TAIL_LENGTHS * max(tail10, 4 * sigma_t)
                                  + sk.TAIL_MARGIN_WIDTHS * tr.width_s) / tr.dt))
    if any(a <= g.apex < e for g in later):
        return True
    if e - a < 20:
        return False
    w = max(round(sigma_t / tr.dt), 5)
    slope = np.gradient(bl.smooth(tr.ys[max(a - w, 0):min(e + w, n)], w))[
        a - max(a - w, 0):][:e - a]
    # the slope's noise: the smoothed white noise's, differenced
    noise = tr.sigma * bl.smoothing_gain(n, 0.5 * tr.width_s / tr.dt) * bl.smoothing_gain(
        n, w) * math.sqrt(2.0) / max(w / 2.0, 1.0)
    inner = slope[1:-1]
    tops = np.flatnonzero((inner > slope[:-2]) & (inner >= slope[2:]) & (inner < 0)) + 1
    if tops.size == 0:
        return False
    prom = signal.peak_prominences(slope, tops)[0]
    return bool(np.any(prom > DETECTION_SDS * noise))


def _tail_riders(tr: _Trace, parent: _Seg, e: int, sigma_t: float):
    """The parent's tail modelled from the tail alone (exponential, or the parent as a
    Gaussian), and the riders standing clear of it."""
    s = tr.s
    if s.skim == "exponential":
        a = parent.apex + max(round(sk.TAIL_START_SIGMAS * sigma_t / tr.dt), 1)
    else:
        a = max(parent.apex - round(sigma_t / tr.dt), 0)
    model = sk.fit_tail(tr.t, tr.ys, a, e, tr.sigma_s, s.skim, float(tr.t[parent.apex]),
                        sigma_t, ~tr.clip) if e - a >= 20 else None
    riders = [] if model is None else sk.find_riders(
        tr.ys, model, tr.sigma_s, _min_width(tr), DETECTION_SDS, s.boundary_fraction,
        s.boundary_noise, s.boundary_extend)
    return model, riders


def _min_width(tr: _Trace) -> float:
    """Narrowest rider (samples at half height): narrower features are spikes."""
    s = tr.s
    return (s.min_width_s if s.min_width_s is not None else 0.25 * tr.width_s) / tr.dt


def _emg_riders(tr: _Trace, parent: _Seg, e: int, sigma_t: float, tail10: float):
    """The parent modelled whole and its riders, by two cluster fits (``cluster_fit.py``):
    the parent alone with riders given almost no weight finds the riders (peaks standing
    clear of it); the parent and those riders fitted together then give the curve under
    each rider (the fitted parent plus the fitted baseline) and each rider's fitted area.

    None when the parent cannot be fitted or the fit does not describe the cluster (the
    tail-only exponential model is used instead).
    """
    from raphe.acquisition.analysis import cluster_fit as cf

    s = tr.s
    usable = ~(tr.clip | tr.dip)
    a0 = max(parent.i0, parent.apex - round(PARENT_FRONT_SIGMAS * sigma_t / tr.dt), 0)
    tau0 = max((tail10 - 2.146 * sigma_t) / 2.3, 0.2 * sigma_t)
    apex_t = float(tr.t[parent.apex])
    alone = cf.fit_cluster(tr.t, tr.y, a0, e, [cf.Guess(apex_t, sigma_t, tau0, parent=True)],
                           tr.sigma, usable, asymmetric=True, baseline="line",
                           steps_s=_steps_s(tr))
    if alone is None or not alone.peaks[0][0] > 0:
        return None
    a = parent.apex + 1
    tt = tr.t[a:e]
    curve = alone.component(0, tt) + alone.base(tt)
    found = sk.find_riders(tr.ys, sk.TailModel("emg", a, e, curve, curve), tr.sigma_s,
                           _min_width(tr), DETECTION_SDS, s.boundary_fraction,
                           s.boundary_noise, s.boundary_extend)
    after = parent.apex + max(round(RIDER_AFTER_SIGMAS * sigma_t / tr.dt), 1)
    # a rider elutes after its parent, so it is not much narrower (nor is it a slow swell
    # of the baseline many times wider)
    w_parent = figures.FWHM_PER_SIGMA * sigma_t / tr.dt
    found = [r for r in found if r[1] > after
             and RIDER_WIDTHS[0] * w_parent <= r[3] <= RIDER_WIDTHS[1] * w_parent]
    found = sorted(sorted(found, key=lambda r: -(tr.ys[r[1]] - curve[r[1] - a]))[:MAX_RIDERS])
    if not found:
        return sk.TailModel("emg", a, e, curve, curve), []
    _, _, p_sigma, p_tau = alone.peaks[0]
    guesses = [cf.Guess(alone.apex(0), p_sigma, p_tau, parent=True)]
    for _, apex, _, width in found:
        sr = max(width * tr.dt / figures.FWHM_PER_SIGMA, 2 * tr.dt)
        guesses.append(cf.Guess(float(tr.t[apex]), sr, 0.3 * sr))
    fit = cf.fit_cluster(tr.t, tr.y, a0, e, guesses, tr.sigma, usable, steps_s=_steps_s(tr))
    if fit is not None:
        # riders the fit finds nothing in (no area, or less than two standard errors)
        # are noise or a wiggle, and one fitted far wider than the parent is a swell of
        # the baseline: fitted as riders they would bend the rest
        keep = [k for k in range(1, len(guesses))
                if fit.peaks[k][0] > 2 * fit.area_se[k]
                and fit.peaks[k][2] <= RIDER_WIDTHS[1] * p_sigma]
        if len(keep) < len(guesses) - 1:
            found = [found[k - 1] for k in keep]
            if not found:
                return sk.TailModel("emg", a, e, curve, curve), []
            guesses = [guesses[0]] + [guesses[k] for k in keep]
            fit = cf.fit_cluster(tr.t, tr.y, a0, e, guesses, tr.sigma, usable,
                                 steps_s=_steps_s(tr))
    if fit is None or fit.rms > CLUSTER_RMS_LIMIT:
        # the tail-only model skims them; the fit that did not describe them says so
        tr.failed_fits[parent.apex] = [
            (apex, _info(fit, k) if fit is not None else (math.nan, math.nan, math.inf, 0.0))
            for k, (_, apex, _, _) in enumerate(found, start=1)]
        return None
    parts = [fit.component(k, tt) for k in range(len(guesses))]
    everything = sum(parts) + fit.base(tt)
    curve = everything - sum(parts[1:])  # the parent and the baseline
    riders = []
    for k, (start, apex, end, width) in enumerate(found, start=1):
        area, _, sr, taur = fit.peaks[k]
        if not area > 0:
            continue  # the fit found nothing there
        fa = fit.apex(k)
        lo = int(np.searchsorted(tr.t, fa - RIDER_SPAN_SIGMAS * sr))
        hi = int(np.searchsorted(tr.t, fa + RIDER_SPAN_SIGMAS * sr + 3 * taur))
        # under a rider: everything the fit found but the rider itself
        riders.append([max(min(start, lo), a), apex, min(max(end, hi), e - 1), width,
                       _info(fit, k), everything - parts[k]])
    # Neighbouring riders may share samples: what stands under each is everything the
    # fit found but the rider itself, the other riders included, so none counts twice.
    return sk.TailModel("emg", a, e, curve, curve, fit.peaks[0][0]), [tuple(r) for r in riders]


# -- peaks on a hump: the baseline under a peak that sits on a swell ----------------------

def _extent(tr: _Trace, g: _Seg, tail: bool = False) -> tuple[int, int, float]:
    """Where the peak itself begins and ends, from its own shape above the baseline it was
    integrated on: 4.5 σ before the apex (σ from the front's half-height width) and after
    it 4.5 σ plus the time its tail takes to fall into the noise, τ from how much longer
    the back's half width is than the front's — or, with ``tail`` (how far the tail of a
    possible parent reaches), from its fall from 30 % to 5 % of the height when that is
    longer. And its height."""
    n = len(tr.ys)
    reach = max(round(3 * g.half_width), 10)
    lo_w, hi_w = max(g.apex - reach, 0), min(g.apex + 2 * reach, n - 1)
    idx = np.arange(lo_w, hi_w + 1)
    yc = tr.ys[lo_w:hi_w + 1] - _baseline_at(g, idx)
    a = g.apex - lo_w
    h = float(yc[a])
    if h <= 0:
        return g.i0, g.i1, h
    below = np.flatnonzero(yc[:a + 1] < 0.5 * h)
    front = (a - below[-1]) if below.size else g.half_width / 2
    sigma = max(front / 1.1774, 1.0)
    # τ from the tail's fall from 30 % to 5 % of the height (an exponential's ln 6 τ; a
    # Gaussian falls as fast as its σ allows, which only widens the extent a little)
    back = yc[a:]
    half = np.flatnonzero(back < 0.5 * h)
    tau = max(float(half[0]) - front, 0.0) / math.log(2.0) if half.size else 0.0
    if tail:  # the half width says little of a tail as long as the peak is wide
        at30 = np.flatnonzero(back < 0.3 * h)
        at05 = np.flatnonzero(back < 0.05 * h)
        if at30.size and at05.size:
            tau = max(tau, float(at05[0] - at30[0]) / math.log(6.0) - 0.5 * sigma)
    decay = min(math.log(max(h / max(tr.sigma_s, 1e-300), 1.0)), EXTENT_DECAYS)
    lo = g.apex - math.ceil(EXTENT_SIGMAS * sigma)
    hi = g.apex + math.ceil(EXTENT_SIGMAS * sigma + tau * decay)
    return max(lo, 0), min(hi, n - 1), h


def _baseline_at(g: _Seg, idx: np.ndarray) -> np.ndarray:
    """The baseline a segment was integrated on, at samples ``idx`` (its straight line
    extended, or its curve held at its ends)."""
    if g.under is None:
        j0, v0, j1, v1 = g.line
        return v0 + (v1 - v0) * (idx - j0) / max(j1 - j0, 1)
    return g.under[np.clip(idx - g.i0, 0, len(g.under) - 1)]


def _swells(tr: _Trace, segs: list[_Seg], cache: dict) -> None:
    """The baseline under a peak that sits on a swell (baseline wander, a broad hump).

    A straight baseline from a peak's start to its end cuts under a swell's curve, and
    where the swell lifts the signal the peak's limits run out to where the signal
    finally came down (or to a valley with the swell). A peak is on a swell when its
    straight baseline passes more than ``HUMP_SDS`` noise SDs (and ``HUMP_FRACTION`` of
    its height) under the signal where the peak itself begins or ends (its extent, from
    its shape: ``_extent``), or when a quadratic through the signal just outside it
    curves enough to change its area by more than three of its standard errors and
    ``CURVE_FRACTION``. Such a peak is fitted with the swell (``cluster_fit``: an EMG
    over a line, cubic or B-splines): its limits become its extent and its baseline the
    fitted one, and the fitted area is kept beside the integrated one as the check. When
    the fit does not describe it, the quadratic through the signal either side is the
    baseline. A peak whose extent reaches past a valley into a neighbouring peak keeps
    its drop line.
    """
    n = len(tr.ys)
    parents = {g.rider_of for g in segs if g.rider_of is not None}
    spans = {id(g): (max(g.apex - round(2 * g.half_width), 0),
                     min(g.apex + round(2 * g.half_width), n - 1)) for g in segs}
    order = sorted(segs, key=lambda g: g.apex)
    extents: dict[int, tuple[int, int, float]] = {}
    for g in segs:
        if g.line is None or g.under is not None or g.rider_of is not None \
                or g.apex in parents or g.cluster is not None:
            continue
        # A swell as large as the slow noise, over a peak's base (some 4 half widths),
        # changes the area by about its height × 12 slow-noise SDs: far below
        # CURVE_FRACTION of a tall peak, which is not worth a look.
        # Limits on the baseline well inside the peak's own extent (its feet cut off: the
        # local baseline stands high there, on a large neighbour's far tail, say) are
        # looked at however still the baseline.
        # (Not with a slope threshold: there the method itself says where peaks end.)
        still = SWELL_SLOW_SDS * tr.slow < CURVE_FRACTION * float(tr.r[g.apex])
        maybe_cut = tr.s.slope_threshold is None and _may_be_cut(g)
        if still and not maybe_cut:
            continue
        lo, hi, height = _extent(tr, g)
        cut_lo, cut_hi = _cut_limits(tr, g, lo) if maybe_cut else (False, False)
        if still and not (cut_lo or cut_hi):
            continue
        if height <= 0 or tr.clip[g.i0:g.i1 + 1].any():
            continue
        k = order.index(g)
        if k > 0 and _tail_parent(tr, order[:k], g, extents) is not None:
            continue  # on a taller peak's tail: the rider check's, not a swell
        limit = max(HUMP_SDS * tr.sigma_s, HUMP_FRACTION * height)
        # A side is free when it is on the baseline, or its valley is with a swell or a
        # wiggle far lower than the peak: there the signal beside the peak is baseline.
        # (A valley with no peak beyond it, one dropped by the gates, is free too.)
        free_lo = g.start_code == "B" or k == 0 or order[k - 1].i1 < g.i0 \
            or _swell(tr, order[k - 1], g)
        free_hi = g.end_code == "B" or k + 1 == len(order) or order[k + 1].i0 > g.i1 \
            or _swell(tr, order[k + 1], g)
        if not (free_lo or free_hi):
            continue
        lo_c, hi_c = max(lo, g.i0), min(hi, g.i1)
        edge = tr.ys[[lo_c, hi_c]] - _baseline_at(g, np.array([lo_c, hi_c]))
        a, b = g.i0, g.i1
        if free_lo and edge[0] > limit:
            a = lo_c
        if free_hi and edge[1] > limit:
            b = hi_c
        if cut_lo:
            a = lo
        if cut_hi:
            b = max(b, min(g.apex + (g.apex - lo), len(tr.ys) - 1))
        moved = (free_lo and edge[0] > limit) or (free_hi and edge[1] > limit) \
            or cut_lo or cut_hi
        if not moved and not (free_lo and free_hi):
            continue  # between drop lines: the neighbours are beside it, not a swell
        others = [spans[id(o)] for o in segs if o is not g and not _swell(tr, o, g)]
        # its area, near enough for the threshold: a Gaussian of its height and width
        area = 1.064 * height * g.half_width * tr.dt
        curve = _side_quadratic(tr, g, a, b, others, area)
        if not moved and curve is None:
            continue
        key = ("swell", g.apex, lo, hi)
        if key not in cache:
            # the fit keeps clear of the other peaks, their tails included
            near = []
            for o in segs:
                if o is not g and not _swell(tr, o, g):
                    if id(o) not in extents:
                        extents[id(o)] = _extent(tr, o)
                    lo_o, hi_o, _ = extents[id(o)]
                    near.append((min(lo_o, spans[id(o)][0]), max(hi_o, spans[id(o)][1])))
            cache[key] = _swell_fit(tr, g, lo, hi, near)
        fitted = cache[key]
        if fitted is None:
            continue  # nothing shows what the swell under it is: the straight line stays
        limits, under, info = fitted
        if limits is None:
            # the fit cannot tell the peak from the swell: the straight line stays, and
            # where the signal beside the peak shows the swell, the check flags it when
            # the fit clearly contradicts it
            if curve is not None:
                g.cluster, g.swell = info, True
            continue
        a, b = limits
        sure = info[3] >= 0
        info = (*info[:3], abs(info[3]))
        g.cluster, g.swell = info, True
        # The swell's baseline replaces the straight line where they differ by more than
        # the fit's own uncertainty; a fit that cannot quite tell the peak from the swell
        # replaces it only where the line is plainly wrong (the check then flags it).
        line_area = _area(tr, g)
        d = tr.y[a:b + 1] - under
        change = abs(float((np.sum(d) - 0.5 * (d[0] + d[-1])) * tr.dt) - line_area)
        if (sure and change > 2.0 * info[1]) or (
                change > tr.s.resolve_tolerance * info[0] + 2.0 * info[1]):
            g.i0, g.i1, g.under = a, b, under
            if not sure:
                g.cluster = (*info[:3], -1.0)  # judged unresolved


def _may_be_cut(g: _Seg) -> bool:
    """A first look for ``_cut_limits``, from the width at half height (σ from it is at
    least the front's)."""
    reach = (EXTENT_SIGMAS - CUT_SIGMAS) * g.half_width / figures.FWHM_PER_SIGMA
    return (g.start_code == "B" and g.apex - g.i0 < reach) or (
        g.end_code == "B" and g.i1 - g.apex < reach)


def _cut_limits(tr: _Trace, g: _Seg, lo: int) -> tuple[bool, bool]:
    """Whether the peak's start and end on the baseline lie more than ``CUT_SIGMAS`` of
    its σ inside its own extent (``lo`` is where it begins: ``EXTENT_SIGMAS`` σ before the
    apex; its end is taken as far after it, its tail left out). An end at a negative peak
    (the system dip after the solvent front) is where the peak ends; below the start, a
    "dip" is more often the local baseline standing high."""
    sigma = max((g.apex - lo) / EXTENT_SIGMAS, 1.0)
    margin = CUT_SIGMAS * sigma
    hi = min(2 * g.apex - lo, len(tr.ys) - 1)
    return (g.start_code == "B" and g.i0 - lo > margin,
            g.end_code == "B" and hi - g.i1 > margin and not tr.dip[g.i1:hi + 1].any())


def _powers(u: int, v: int) -> tuple[float, float, float, float, float]:
    """Σ x⁰ … Σ x⁴ over the integers x = u .. v (Faulhaber's sums, any sign)."""
    def f(n: int) -> tuple[float, float, float, float, float]:
        n = float(n)
        s1 = n * (n + 1) / 2
        s2 = n * (n + 1) * (2 * n + 1) / 6
        return (n, s1, s2, s1 * s1, s2 * (3 * n * n + 3 * n - 1) / 5)
    hi, lo = f(v), f(u - 1)
    return tuple(h - low for h, low in zip(hi, lo, strict=True))


def _side_quadratic(tr: _Trace, g: _Seg, a: int, b: int, others: list[tuple[int, int]],
                    area: float) -> np.ndarray | None:
    """A quadratic through the signal just outside samples ``a .. b`` (``HUMP_SIDE`` of
    their span either side, stopping at the zones ``others`` of other peaks), at
    ``a .. b``; None when there is too little signal beside the peak or the quadratic's
    curvature changes the peak's ``area`` by less than three of its standard errors or
    ``CURVE_FRACTION``."""
    n = len(tr.ys)
    side = max(round(HUMP_SIDE * (b - a)), 10)
    if not _may_curve(tr, a, b, side, area):
        return None
    holes = others + _dip_runs(tr, max(a - side, 0), min(b + side, n - 1))
    pieces = _minus([(max(a - side, 0), a)], holes) + _minus([(b, min(b + side, n - 1))],
                                                             holes)
    if sum(hi - lo + 1 for lo, hi in pieces if hi <= a) < 10 or \
            sum(hi - lo + 1 for lo, hi in pieces if lo >= b) < 10:
        return None
    m = float(b - a)
    level = float(tr.ys[a])
    # Σ over both sides, x = i − a; a line plus c·u(u − m): c alone changes the area
    # under the peak. The normal equations from power sums.
    k = s1 = s2 = s3 = s4 = 0.0
    for lo, hi in pieces:
        p0, p1, p2, p3, p4 = _powers(lo - a, hi - a)
        k, s1, s2, s3, s4 = k + p0, s1 + p1, s2 + p2, s3 + p3, s4 + p4
    idx = np.concatenate([np.arange(lo, hi + 1) for lo, hi in pieces])
    v = tr.ys[idx] - level
    x = (idx - a).astype(np.float64)
    sv, sxv, sx2v = np.vstack((np.ones_like(x), x, x * x)) @ v
    svv = float(np.dot(v, v))
    sq, sxq, sqq = s2 - m * s1, s3 - m * s2, s4 - 2 * m * s3 + m * m * s2
    gram = ((k, s1, sq), (s1, s2, sxq), (sq, sxq, sqq))
    rhs = (sv, sxv, sx2v - m * sxv)
    inv = _inverse3(gram)
    if inv is None:
        return None
    c0, c1, c2 = (sum(inv[r][j] * rhs[j] for j in range(3)) for r in range(3))
    var = max(svv - (c0 * rhs[0] + c1 * rhs[1] + c2 * rhs[2]), 0.0) / max(k - 3, 1.0)
    scale = m**3 / 6.0 * tr.dt
    effect = abs(c2) * scale
    se = math.sqrt(max(inv[2][2] * var, 0.0)) * scale
    if not effect > max(3.0 * se, CURVE_FRACTION * abs(area)):
        return None
    u = np.arange(0, b - a + 1, dtype=np.float64)
    return level + c0 + c1 * u + c2 * u * (u - m)


def _may_curve(tr: _Trace, a: int, b: int, side: int, area: float) -> bool:
    """A cheap first look (the slopes of the two halves of each side): whether the
    baseline beside the peak could curve enough to matter."""
    n = len(tr.ys)
    l0, r1 = max(a - side, 0), min(b + side, n - 1)
    hl, hr = (a - l0) // 2, (r1 - b) // 2
    if hl < 3 or hr < 3:
        return True
    ys = tr.ys
    m1, m2 = float(ys[l0:l0 + hl].sum()) / hl, float(ys[a - hl:a].sum()) / hl
    m3, m4 = float(ys[b + 1:b + 1 + hr].sum()) / hr, float(ys[r1 + 1 - hr:r1 + 1].sum()) / hr
    slope_l = (m2 - m1) / max(a - hl - l0, 1)
    slope_r = (m4 - m3) / max(r1 + 1 - hr - (b + 1), 1)
    span = 0.5 * (r1 + b) - 0.5 * (l0 + a)
    c2 = (slope_r - slope_l) / (2.0 * max(span, 1.0))
    m = float(b - a)
    return abs(c2) * m**3 / 6.0 * tr.dt > 0.25 * CURVE_FRACTION * abs(area)


def _dip_runs(tr: _Trace, lo: int, hi: int) -> list[tuple[int, int]]:
    """The negative peaks within samples ``lo .. hi``, as inclusive index ranges."""
    d = tr.dip[lo:hi + 1]
    if not d.any():
        return []
    edges = np.flatnonzero(np.diff(np.concatenate(([0], d.view(np.int8), [0]))))
    return [(lo + int(a), lo + int(b) - 1) for a, b in zip(edges[::2], edges[1::2],
                                                           strict=True)]


def _minus(spans: list[tuple[int, int]], holes: list[tuple[int, int]]
           ) -> list[tuple[int, int]]:
    """The inclusive index ranges ``spans`` less the inclusive ranges ``holes``."""
    for lo_h, hi_h in holes:
        out = []
        for lo, hi in spans:
            if hi_h < lo or lo_h > hi:
                out.append((lo, hi))
                continue
            if lo < lo_h:
                out.append((lo, lo_h - 1))
            if hi > hi_h:
                out.append((hi_h + 1, hi))
        spans = out
    return spans


def _inverse3(g) -> list[list[float]] | None:
    """Inverse of a symmetric 3×3 matrix (tuples), or None when it is singular."""
    (a, b, c), (_, d, e), (_, _, f) = g
    A, B, C = d * f - e * e, c * e - b * f, b * e - c * d
    det = a * A + b * B + c * C
    if not abs(det) > 1e-300:
        return None
    D, E, F = a * f - c * c, b * c - a * e, a * d - b * b
    return [[A / det, B / det, C / det], [B / det, D / det, E / det],
            [C / det, E / det, F / det]]


def _swell_fit(tr: _Trace, g: _Seg, lo: int, hi: int, others: list[tuple[int, int]]):
    """The peak ``g`` fitted with the swell under it (an EMG over the fit's own baseline)
    on its extent ``lo .. hi`` and as much again either side (up to other peaks): the
    peak's limits from the fitted shape, the fitted baseline under them, and the fit's
    (area, standard error, residual RMS). The limits and baseline are None when the fit
    does not describe the peak and its surroundings or cannot tell the peak from the
    swell; None when there is nothing to fit."""
    from raphe.acquisition.analysis import cluster_fit as cf

    width = hi - lo
    r0, r1 = lo - width // 2, hi + width // 2 + 1
    for lo_o, hi_o in others:
        if hi_o < g.apex:
            r0 = max(r0, hi_o + 1)
        elif lo_o > g.apex:
            r1 = min(r1, lo_o)
    r0, r1 = max(r0, 0), min(r1, len(tr.y))
    if r1 - r0 < 40 or r0 > lo or r1 < hi:
        return None
    sigma = max((g.apex - lo) / EXTENT_SIGMAS * tr.dt, 2 * tr.dt)
    tau = max(((hi - g.apex) - (g.apex - lo)) * tr.dt / EXTENT_DECAYS, 0.1 * sigma)
    fit = cf.fit_cluster(tr.t, tr.y, r0, r1,
                         [cf.Guess(float(tr.t[g.apex]), sigma, tau, parent=True)], tr.sigma,
                         ~(tr.clip | tr.dip), steps_s=_steps_s(tr))
    if fit is None:
        return None
    info = _info(fit, 0)
    if fit.rms > SWELL_RMS_LIMIT or not fit.peaks[0][0] > 0:
        return None, None, info
    # it describes the peak and the swell; whether it tells them apart, the caller judges
    sure = fit.area_se[0] <= SWELL_SE * fit.peaks[0][0] or not fit.degenerate(0, DEGENERACY)
    info = (*info[:3], info[3] if sure else -info[3])
    _, _, sf, tf = fit.peaks[0]
    apex = fit.apex(0)
    a = max(int(np.searchsorted(tr.t, apex - EXTENT_SIGMAS * sf)), r0)
    b = min(int(np.searchsorted(tr.t, apex + EXTENT_SIGMAS * sf + EXTENT_DECAYS * tf)),
            r1 - 1)
    if not a < g.apex < b:
        return None, None, info
    under = fit.base(tr.t[a:b + 1])
    if _sunk(tr, under, a, b, r0, r1):
        return None  # a peak traded for a trough under it: nothing shows such a swell
    return (a, b), under, info


def _sunk(tr: _Trace, under: np.ndarray, a: int, b: int, r0: int, r1: int) -> bool:
    """Whether a fitted baseline sinks under the peak (``a .. b``) far below the signal
    beside it on both sides (the rest of the fit's range ``r0 .. r1``): deeper under that
    signal than the peak stands above it (and than ``HUMP_SDS`` noise SDs). The fit then
    made the peak twice as tall as it shows and the baseline a trough that only the peak
    covers — a trade the data cannot tell from a flat baseline, not a swell (a real dip
    shows in the signal beside the peak too)."""
    if a <= r0 or b + 1 >= r1:
        return False  # one side unseen: whether the signal falls on there is unknown
    floor = float(min(np.min(tr.ys[r0:a]), np.min(tr.ys[b + 1:r1])))
    depth = floor - float(np.min(under))
    shows = float(np.max(tr.ys[a:b + 1])) - floor
    return depth > max(HUMP_SDS * tr.sigma_s, shows)


def _swell(tr: _Trace, other: _Seg, g: _Seg) -> bool:
    """Whether ``other`` is a swell of the baseline (or a wiggle on one) beside the peak
    ``g`` rather than a peak: many times wider at half height, or much lower."""
    wide = other.half_width / max(g.half_width, 1e-9)
    low = tr.r[other.apex] / max(tr.r[g.apex], 1e-300)
    return wide > SWELL_WIDTHS or low < SWELL_LOW_HEIGHT or (wide > 2.0 and low < 0.5)


def _sigma_s(tr: _Trace, g: _Seg) -> float:
    """A fit's first guess at a peak's σ (s): from its width at half height, at least two
    samples."""
    return max(g.half_width * tr.dt / figures.FWHM_PER_SIGMA, 2 * tr.dt)


def _steps_s(tr: _Trace) -> tuple[float, ...]:
    """Times of the baseline steps taken out of the trace."""
    return tuple(float(tr.t[j]) for j, _ in tr.steps)


def _info(fit, k: int) -> tuple[float, float, float, float]:
    """What the check needs of a cluster fit's peak ``k``: (area, its standard error, the
    fit's residual RMS, the area's standard error from the noise alone)."""
    noise_se = (fit.area_se_noise or [math.nan] * (k + 1))[k]
    return (fit.peaks[k][0], fit.area_se[k], fit.rms, noise_se)


# -- riders checked against a whole-cluster fit ------------------------------------------

def _tail_parent(tr: _Trace, before: list[_Seg], g: _Seg, extents: dict
                 ) -> tuple[_Seg, int, int] | None:
    """The peak (among ``before``, sorted by apex) on whose tail ``g`` stands, with its
    extent: the nearest one taller than ``g`` rises from the valley between them (on a
    steep tail the signal above the baseline is mostly the parent's) whose tail reaches
    under ``g``. ``extents`` caches ``_extent`` by segment."""
    for p in reversed(before):
        hg = float(tr.ys[g.apex] - np.min(tr.ys[p.apex:g.apex + 1]))
        if p.rider_of is not None or not tr.r[p.apex] > hg:
            continue
        # far before this peak, with its back half done long before: no tail reaches
        if p.i1 < g.i0 and g.i0 - p.i1 > 2 * (p.i1 - p.apex) and p.end_code == "B":
            return None
        key = (id(p), "tail")
        if key not in extents:
            extents[key] = _extent(tr, p, tail=True)
        lo, hi, _ = extents[key]
        if g.start_code == "V" and _same_cluster(p, g):  # a drop line from its tail
            return p, lo, max(hi, g.i0)
        return (p, lo, hi) if hi >= g.i0 else None
    return None


def _check_riders(tr: _Trace, segs: list[_Seg], peaks: list[Peak]) -> None:
    """Every peak that stands on a much taller peak's tail without a model skim (a drop
    line, a tangent, or its own baseline drawn on the tail) is fitted with that parent
    (``cluster_fit``); then every peak with a whole-cluster fit is judged: ``unresolved``
    when its integrated area and the fit's differ by more than ``resolve_tolerance``, the
    fit cannot tell it from what it stands on (its area's standard error over half the
    tolerance), or the fit does not describe the cluster."""
    from raphe.acquisition.analysis import cluster_fit as cf

    s = tr.s
    order = sorted(range(len(segs)), key=lambda i: segs[i].apex)
    extents: dict[int, tuple[int, int, float]] = {}
    for pos, i in enumerate(order):
        g = segs[i]
        if g.cluster is not None or g.rider_of is not None or g.swell or pos == 0:
            continue
        parent = _tail_parent(tr, [segs[j] for j in order[:pos]], g, extents)
        if parent is None or tr.clip[parent[0].i0:g.i1 + 1].any():
            continue
        p, lo, hi = parent
        sp = max((p.apex - lo) / EXTENT_SIGMAS * tr.dt, 2 * tr.dt)
        tp = max(((hi - p.apex) - (p.apex - lo)) * tr.dt / EXTENT_DECAYS, 0.1 * sp)
        sg = _sigma_s(tr, g)
        between = [segs[k] for k in order if p.apex < segs[k].apex < g.apex]
        guesses = [cf.Guess(float(tr.t[p.apex]), sp, tp, parent=True)]
        guesses += [cf.Guess(float(tr.t[b.apex]), _sigma_s(tr, b), 0.3 * sg)
                    for b in between[:MAX_RIDERS - 1]]
        guesses.append(cf.Guess(float(tr.t[g.apex]), sg, 0.3 * sg))
        end = min(max(g.i1, g.apex + round(RIDER_SPAN_SIGMAS * sg / tr.dt)) + round(
            2 * sg / tr.dt), len(tr.y))
        fit = cf.fit_cluster(tr.t, tr.y, lo, end, guesses, tr.sigma, ~(tr.clip | tr.dip),
                             steps_s=_steps_s(tr))
        if fit is not None:
            g.cluster = _info(fit, len(guesses) - 1)
        else:
            g.cluster = (math.nan, math.nan, math.inf, 0.0)
    tol = s.resolve_tolerance
    for g, pk in zip(segs, peaks, strict=True):
        if g.cluster is None:
            continue
        area, se, rms, se_noise = g.cluster
        pk.cluster_area, pk.cluster_se = area, se
        if g.swell:  # a swell: only an integration the fit clearly contradicts, or a
            # baseline taken from a fit that cannot quite tell the peak from the swell
            # (or one it disagrees with beyond the tolerance, unable to say which is right)
            off = abs(pk.area - area)
            pk.unresolved = bool(se_noise < 0 or off > tol * area + 2.0 * se
                                 or (off > tol * area and se > 0.5 * tol * area))
            continue
        pk.unresolved = bool(
            not (rms <= CLUSTER_RMS_LIMIT and area > 0)
            # the fit cannot tell it from what it stands on (not just noisy)
            or (not se <= 0.5 * tol * area and not se <= DEGENERACY * se_noise)
            or abs(pk.area - area) > tol * area + 2.0 * se_noise)


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
             file_limits: tuple[float | None, float | None],
             window_override: float | None = None) -> _Trace:
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
    if window_override is not None:
        window_s = window_override
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
                  window_s, dip, quantum, slow=slow)


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


def _widest_base(tr: _Trace, cand: np.ndarray, widths: np.ndarray) -> tuple[float, int]:
    """The widest base (s) among the tall candidates (``BASE_MIN_SDS`` smoothed-noise SDs),
    tail included — from each one's shape above the local baseline (``_extent``: 4.5 σ
    either side of the apex and its tail to 1/e⁶), which no drift lengthens — and the
    apex index of that peak."""
    tall = np.flatnonzero(tr.r[cand] >= BASE_MIN_SDS * tr.sigma_s)
    best, where = 0.0, int(cand[0]) if cand.size else 0
    n = len(tr.ys)
    span = round(tr.window_s / tr.dt)
    for k in tall:
        # a first look: back to the level before it (within 1/e⁶ of its height, or the
        # slow noise) within a window of where its front began, it fits the window
        p, w = int(cand[k]), float(widths[k])
        before, after = max(p - round(2 * w), 0), p - round(2 * w) + span
        if after < n:
            level = tr.ys[before]
            if float(np.min(tr.ys[p:after])) - level < max(
                    math.exp(-EXTENT_DECAYS) * (tr.ys[p] - level), DETECTION_SDS * tr.slow):
                continue
        g = _Seg(0, len(tr.ys) - 1, int(cand[k]), float(widths[k]), "B", "B",
                 under=tr.base)
        lo, hi, _ = _extent(tr, g, tail=True)
        if (hi - lo) * tr.dt > best:
            best, where = (hi - lo) * tr.dt, int(cand[k])
    return best, where


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

    def result(peaks: list[Peak], segs: list | None = None) -> PeakSet:
        # from the trace in force: a lengthened baseline window (below) gives a new one
        return PeakSet(peaks, tr.width_s, tr.sigma, bl.drift_per_min(t, tr.base), tr.clip,
                       _steps_s(tr), tr.window_s, tr, segs or [], window_note)

    cand, widths = _candidates(tr)
    window_note = None
    if s.baseline_window_s and cand.size:
        # A baseline window shorter than a tall peak's base (its tail included) makes the
        # baseline climb the tail, and a peak on it is integrated on the tail: the window
        # is lengthened to the widest base (and the method check says so).
        base_s, where = _widest_base(tr, cand, widths)
        if base_s > tr.window_s:
            window = BASE_MARGIN * base_s
            tr = _prepare(t, np.asarray(values, dtype=np.float64), s, file_limits, window)
            cand, widths = _candidates(tr)
            window_note = (float(t[where]), base_s, window)
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
        if s.peak_baseline == "auto":
            _swells(tr, segs, cache)
        peaks = _to_peaks(tr, segs)
        _noise(tr, segs, peaks)
        ok = [(pk.sn >= s.min_sn or math.isnan(pk.sn)) and pk.height >= s.min_height
              and pk.area >= s.min_area and pk.height > 0 for pk in peaks]
        if all(ok):
            _shape_figures(tr, segs, peaks)
            _check_riders(tr, segs, peaks)
            if s.fit != "none":
                from raphe.acquisition.analysis.fitting import fit_peaks

                fit_peaks(tr.t, tr.y, segs, peaks, s.fit, s.fit_tolerance)
            return result(peaks, segs)
        failed = [g for g, good in zip(segs, ok, strict=True) if not good]
        rejected |= {g.apex for g in failed if g.rider_of is not None}
        bad = {g.apex for g in failed}
        keep = np.array([c not in bad for c in cand.tolist()], dtype=bool)
        cand, widths = cand[keep], widths[keep]


def fit_expected(found: PeakSet, rt_s: float, window_s: float,
                 width_s: float | None = None) -> Peak | None:
    """A peak the method expects at ``rt_s`` (± ``window_s``) where the integration found
    none, looked for on the tail of the peak before it: that parent, its riders and a
    rider near ``rt_s`` fitted together (``cluster_fit``). The rider as a peak (code
    ``FF``, ``unresolved``: no valley or inflection showed it, only the fit) when the fit
    describes the cluster and the rider stands clear of the noise (``DETECTION_SDS``
    smoothed-noise SDs high, its area three standard errors); None when nothing is there
    or no parent's tail reaches the window (the window is then empty: ``not_found``).
    ``width_s`` is the expected width at half height (default: the parent's).
    """
    from raphe.acquisition.analysis import cluster_fit as cf

    tr: _Trace | None = found.trace
    segs: list[_Seg] = found.segments
    if tr is None or not segs:
        return None
    first = int(np.searchsorted(tr.t, rt_s - window_s))
    centre = int(np.searchsorted(tr.t, rt_s))
    parent = None
    for g in sorted(segs, key=lambda g: -g.apex):
        if g.apex >= first or g.rider_of is not None:
            continue
        lo, hi, height = _extent(tr, g)
        if height > 0 and hi >= first:
            parent = (g, lo, hi)
        break  # only the nearest peak before the window can carry it
    if parent is None:
        return None
    p, lo, hi = parent
    if tr.clip[lo:centre].any():
        return None
    sp = max((p.apex - lo) / EXTENT_SIGMAS * tr.dt, 2 * tr.dt)
    tp = max(((hi - p.apex) - (p.apex - lo)) * tr.dt / EXTENT_DECAYS, 0.1 * sp)
    sr = (width_s / figures.FWHM_PER_SIGMA) if width_s else 1.2 * sp
    riders = [g for g in segs if g.rider_of == p.apex]
    guesses = [cf.Guess(float(tr.t[p.apex]), sp, tp, parent=True)]
    guesses += [cf.Guess(float(tr.t[g.apex]), _sigma_s(tr, g), 0.3 * sr)
                for g in riders[:MAX_RIDERS - 1]]
    guesses.append(cf.Guess(rt_s, sr, 0.3 * sr, reach_s=window_s))
    end = min(int(np.searchsorted(tr.t, rt_s + window_s + (RIDER_SPAN_SIGMAS + 2) * sr)),
              len(tr.y))
    fit = cf.fit_cluster(tr.t, tr.y, lo, max(end, hi), guesses, tr.sigma,
                         ~(tr.clip | tr.dip), steps_s=_steps_s(tr))
    if fit is None or fit.rms > CLUSTER_RMS_LIMIT:
        return None
    k = len(guesses) - 1
    area, _, sigma, tau = fit.peaks[k]
    se = fit.area_se[k]
    apex_t = fit.apex(k)
    height = fit.height(k)
    if not (area > 3 * se and height >= DETECTION_SDS * tr.sigma_s
            and abs(apex_t - rt_s) <= window_s):
        return None
    i0 = max(int(np.searchsorted(tr.t, apex_t - RIDER_SPAN_SIGMAS * sigma)), 0)
    i1 = min(int(np.searchsorted(tr.t, apex_t + RIDER_SPAN_SIGMAS * sigma + 3 * tau)),
             len(tr.y) - 1)
    under = sum(fit.component(j, tr.t[i0:i1 + 1]) for j in range(k)) + fit.base(tr.t[i0:i1 + 1])
    noise = next((pk.noise_pp for g, pk in zip(segs, found.peaks, strict=False)
                  if g is p), math.nan)
    return Peak(
        rt_s=apex_t, start_s=float(tr.t[i0]), end_s=float(tr.t[i1]), area=area,
        height=height, width_half_s=figures.FWHM_PER_SIGMA * sigma,
        sn=figures.signal_to_noise(height, noise), noise_pp=noise,
        plates=figures.plate_count(apex_t, figures.FWHM_PER_SIGMA * sigma),
        tailing=math.nan, resolution=math.nan, start_code="F", end_code="F",
        baseline_start=(float(tr.t[i0]), float(under[0])),
        baseline_end=(float(tr.t[i1]), float(under[-1])), shoulder=True,
        cluster_area=area, cluster_se=se, unresolved=True, skim_curve=under)
