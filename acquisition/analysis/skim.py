"""Riders and shoulders on a larger peak's tail, and the skims that separate them.

A *rider* is a small peak on the tail of a large one (5-HT on 5-HIAA); with a
valley between them it is a rider proper, without one a *shoulder*. Drop
lines give the rider everything above the baseline under it, including the
parent's tail, so it comes out too large. A skim draws the parent's tail
under the rider instead and gives the rider only what stands above it:

- tangent: a straight line from the valley to where it touches the rider's
  far side (the classic CDS skim; needs a valley);
- exponential: the parent's tail modelled as ``c0 + c1·t + c2·t² + A·exp(−t/τ)``,
  fitted to the tail on both sides of the rider by least squares that give
  little weight to anything standing above the fit (the riders), then refitted
  around each rider with τ fixed and a quadratic background, so a slow wander
  of the baseline is followed;
- gaussian: the same with the parent modelled as a Gaussian ``A·exp(−(t−μ)²/2s²)``
  (for parents that do not tail).

The exponential and Gaussian models also *find* riders: every peak standing
clear of the modelled tail is one, valley or not (a shoulder on a steep tail
has none). The fit region starts where the parent's tail is a pure
exponential (2.5 σ after the apex; for the Gaussian, one σ before it) and
ends well after the tail has decayed, or at the next peak too large to be a
rider.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import optimize, signal

from raphe.acquisition.analysis.baseline import MAD_TO_SD
from raphe.acquisition.analysis.fitting import emg_profile

#: Asymmetric least squares: samples more than this many noise SDs above the fit get ...
ABOVE_SDS = 2.0
#: ... this weight (riders do not pull the tail up).
ABOVE_WEIGHT = 1e-3
#: ... and so do samples more than this many below it (a negative peak on the tail).
BELOW_SDS = 5.0
REWEIGHTS = 6
#: The exponential fit region starts this many σ after the parent's apex.
TAIL_START_SIGMAS = 2.5
#: ... and runs this many times the apex-to-10 % tail length past the apex (where a tail
#: of ~1000 noise SDs has decayed into the noise), plus this many peak widths.
TAIL_LENGTHS = 4.0
TAIL_MARGIN_WIDTHS = 3.0
#: The local refit around a rider uses this many rider widths of tail each side.
SIDE_WIDTHS = 0.5
#: A rider's base reaches at most this many half-height widths before / after its apex.
MAX_FRONT_WIDTHS = 2.0
MAX_BACK_WIDTHS = 3.0


@dataclass
class TailModel:
    """A fitted parent tail: the skim curve over samples ``a`` .. ``e − 1``."""

    kind: str  # "exponential" or "gaussian"
    a: int
    e: int
    curve: np.ndarray
    shape: np.ndarray  # the unit-amplitude model term (fixed in the local refits)
    #: The parent's fitted area, when the parent was modelled whole (``kind`` "emg").
    parent_area: float = math.nan


def _wls(design: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sw = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(design * sw[:, None], y * sw, rcond=None)
    return coef, design @ coef


def _shape(kind: str, x: np.ndarray, params: np.ndarray) -> np.ndarray:
    if kind == "exponential":
        return np.exp(-x / math.exp(params[0]))
    mu, log_s = params
    return np.exp(-0.5 * ((x - mu) / math.exp(log_s)) ** 2)


def fit_tail(t: np.ndarray, ys: np.ndarray, a: int, e: int, sigma_s: float, kind: str,
             apex_t: float, sigma_t: float, usable: np.ndarray | None = None
             ) -> TailModel | None:
    """Fit the parent's tail over ``ys[a:e]`` (see the module docstring); None if it fails.

    ``usable`` marks the samples the fit may use (not clipped); negative peaks on the tail
    are left out as the fit goes (like riders, but below).
    """
    if e - a < 20:
        return None
    x = t[a:e] - t[a]
    y = ys[a:e]
    ones = np.ones_like(x)
    span = float(x[-1]) if x[-1] > 0 else 1.0
    allowed = np.ones_like(y) if usable is None else usable[a:e].astype(np.float64)
    if allowed.sum() < 20:
        return None
    w = allowed.copy()

    background = [ones, x, x * x / span]

    def residual_ss(params: np.ndarray, w: np.ndarray) -> float:
        design = np.column_stack([*background, _shape(kind, x, params)])
        _, fit = _wls(design, y, w)
        return float(np.sum(w * (y - fit) ** 2))

    if kind == "exponential":
        params = np.array([math.log(max(sigma_t, span / 20.0))])
        bounds = (math.log(max(t[1] - t[0], 1e-6)), math.log(20.0 * span))
    else:
        params = np.array([apex_t - t[a], math.log(max(sigma_t, t[1] - t[0]))])
    fit = None
    for _ in range(REWEIGHTS):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if kind == "exponential":
                res = optimize.minimize_scalar(lambda p, w=w: residual_ss(np.array([p]), w),
                                               bounds=bounds, method="bounded",
                                               options={"xatol": 1e-3})
                params = np.array([res.x])
            else:
                res = optimize.minimize(lambda p, w=w: residual_ss(p, w), params,
                                        method="Nelder-Mead",
                                        options={"xatol": 1e-3, "fatol": 1e-12,
                                                 "maxiter": 400})
                params = res.x
        design = np.column_stack([*background, _shape(kind, x, params)])
        _, fit = _wls(design, y, w)
        # "Above the fit" is judged on the spread of the residuals the fit leaves (a wander
        # the model cannot follow widens it), never less than the noise.
        res = y - fit
        core = res[w == 1.0]
        spread = max(sigma_s, MAD_TO_SD * float(np.median(np.abs(core - np.median(core)))))
        # riders stand above the tail; a dip far below it is no part of it either
        new = allowed * np.where((res > ABOVE_SDS * spread) | (res < -BELOW_SDS * spread),
                                 ABOVE_WEIGHT, 1.0)
        if np.array_equal(new, w):
            break
        w = new
    if fit is None or not np.all(np.isfinite(fit)):
        return None
    return TailModel(kind, a, e, fit, _shape(kind, x, params))


def find_riders(ys: np.ndarray, model: TailModel, sigma_s: float, min_w: float,
                detection_sds: float, boundary_fraction: float, boundary_noise: float,
                extend: float) -> list[tuple[int, int, int, float]]:
    """Peaks standing clear of ``model``: (start, apex, end, width) sample indices."""
    a, e = model.a, model.e
    rr = ys[a:e] - model.curve
    level = detection_sds * sigma_s
    inner = rr[1:-1]
    cand = np.flatnonzero((inner > rr[:-2]) & (inner >= rr[2:]) & (inner > level)) + 1
    if cand.size == 0:
        return []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="some peaks have a")
        prom = signal.peak_prominences(rr, cand)
        keep = prom[0] >= level
        cand = cand[keep]
        prom = (prom[0][keep], prom[1][keep], prom[2][keep])
        if cand.size == 0:
            return []
        widths = signal.peak_widths(rr, cand, rel_height=0.5, prominence_data=prom)[0]
    edge = np.maximum(0.5 * widths, 3)
    keep = (widths >= min_w) & (widths <= 0.5 * len(rr)) & (cand > edge) & \
        (cand < len(rr) - 1 - edge)
    cand, widths = cand[keep], widths[keep]
    out = []
    for k, p in enumerate(cand):
        lo = 0 if k == 0 else int(cand[k - 1] + np.argmin(rr[cand[k - 1]:p + 1]))
        hi = len(rr) - 1 if k == len(cand) - 1 else int(p + np.argmin(rr[p:cand[k + 1] + 1]))
        thr = max(boundary_fraction * rr[p], boundary_noise * sigma_s)
        ext = round(float(extend * widths[k]))
        # a rider is a peak: its base spans a few half-height widths, not the whole tail
        lo = max(lo, int(p - MAX_FRONT_WIDTHS * widths[k]))
        hi = min(hi, int(p + MAX_BACK_WIDTHS * widths[k]))
        below = np.flatnonzero(rr[lo:p + 1] <= thr)
        start = max(lo + int(below[-1]) - ext, lo) if below.size else lo
        below = np.flatnonzero(rr[p:hi + 1] <= thr)
        end = min(p + int(below[0]) + ext, hi) if below.size else hi
        out.append((a + start, a + int(p), a + end, float(widths[k])))
    return out


def local_skim(t: np.ndarray, ys: np.ndarray, model: TailModel, start: int, end: int,
               others: list[tuple[int, int]]) -> np.ndarray:
    """The skim curve under samples ``start .. end``, refitted on the tail around them.

    The tail model's shape is kept; offset, slope, curvature and amplitude are
    refitted to ``SIDE_WIDTHS`` rider widths of tail either side (other riders
    left out), so the curve follows a wandering baseline. Falls back to the
    fitted model where the sides are too short to refit on.
    """
    a, e = model.a, model.e
    side = max(int(SIDE_WIDTHS * (end - start)), 5)
    lo, hi = max(a, start - side), min(e, end + 1 + side)
    idx = np.arange(lo, hi)
    use = (idx < start) | (idx > end)
    for s0, s1 in others:
        use &= (idx < s0) | (idx > s1)
    left, right = int(np.sum(use & (idx < start))), int(np.sum(use & (idx > end)))
    fallback = model.curve[start - a:end - a + 1]
    if left < 5 or right < 5:
        return fallback
    x = t[idx] - t[start]
    columns = [np.ones_like(x), x, model.shape[idx - a]]
    if min(left, right) >= 10:
        columns.insert(2, x * x)
    design = np.column_stack(columns)
    coef, *_ = np.linalg.lstsq(design[use], ys[idx][use], rcond=None)
    curve = design @ coef
    if not np.all(np.isfinite(curve)):
        return fallback
    return curve[start - lo:end - lo + 1]


def fit_parent(t: np.ndarray, y: np.ndarray, a0: int, a: int, e: int, sigma_s: float,
               apex_t: float, sigma_t: float, tau_t: float,
               usable: np.ndarray | None = None) -> TailModel | None:
    """The parent modelled whole, as an EMG over a straight baseline, fitted from its rise
    (``a0``) to ``e`` with riders given almost no weight; the skim curve over ``a .. e − 1``.

    Its front and apex fix the parent's position and σ, so the tail under a broad
    shoulder is the fitted shape's own, not an exponential through a few seconds of tail
    that the shoulder already covers.
    """
    from raphe.acquisition.analysis.cluster_fit import Guess, fit_cluster

    fit = fit_cluster(t, y, a0, e, [Guess(apex_t, sigma_t, tau_t, parent=True)], sigma_s,
                      usable=usable, asymmetric=True, baseline="line")
    if fit is None or not fit.peaks[0][0] > 0:
        return None
    tt = t[a:e]
    _, mu, sigma, tau = fit.peaks[0]
    shape = emg_profile(tt, 1.0, mu, sigma, tau)
    curve = fit.peaks[0][0] * shape + fit.base(tt)
    if not np.all(np.isfinite(curve)):
        return None
    peak = float(np.max(shape)) or 1.0
    return TailModel("emg", a, e, curve, shape / peak)
