"""Whole-cluster fits: a parent peak and the peaks riding on its tail, fitted together.

A skim draws the parent's tail under a rider from the tail alone. The
cluster fit is the independent second opinion: the parent (front, apex and
tail) and every rider are fitted together as exponentially modified
Gaussians (EMG) over a straight (or, under wander, quadratic) baseline, by
``scipy.optimize.least_squares`` — over the whole cluster, from the
parent's rise to past the last rider, not above a baseline the integration
drew. The parent's front and apex fix its σ and position, so its tail under
a broad shoulder is an extrapolation of a fitted shape, not of a few seconds
of tail.

Only the peak shapes are searched for (position, σ, τ of each); for given
shapes the areas and the baseline are a linear least-squares fit (variable
projection), so a cluster of two peaks is a six-parameter search. The trace
is averaged in blocks of about a quarter of the narrowest σ first.

What the fit gives a rider is compared with what the integration gave it
(``peaks.py``): beyond a tolerance, the rider is ``unresolved``. Where the
method expects a rider that no valley or inflection showed, the fit says
whether anything stands there at all.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from raphe.acquisition.analysis.baseline import MAD_TO_SD
from raphe.acquisition.analysis.fitting import emg_profile

#: The trace is averaged in blocks of at most this fraction of the narrowest σ.
BLOCK_SIGMAS = 0.25
#: A rider's τ is at most this many of its σ (a rider does not carry the parent's tail).
RIDER_TAU_SIGMAS = 1.5
#: A rider's apex may move this many of its σ from where it was seen or expected.
RIDER_REACH_SIGMAS = 1.5
#: Iterations of the shape search (each a handful of model evaluations).
MAX_EVALUATIONS = 400
#: Asymmetric fits: residuals beyond these many spreads above / below get ``ABOVE_WEIGHT``.
ABOVE_SDS = 2.0
BELOW_SDS = 5.0
ABOVE_WEIGHT = 1e-3
REWEIGHTS = 5


@dataclass(frozen=True)
class Guess:
    """Where one peak of the cluster starts from: apex time, σ and τ (s), and whether it is
    the parent (free τ) or a rider (τ ≤ ``RIDER_TAU_SIGMAS`` σ, apex near ``apex_s``)."""

    apex_s: float
    sigma_s: float
    tau_s: float
    parent: bool = False
    #: How far (s) a rider's apex may move; default ``RIDER_REACH_SIGMAS`` σ.
    reach_s: float | None = None


@dataclass
class ClusterFit:
    """A fitted cluster over ``t[lo:hi]``: each peak's (area, μ, σ, τ), the baseline
    polynomial (in t − t[lo]), and the residual RMS over the noise."""

    lo: int
    hi: int
    t_ref: float
    peaks: list[tuple[float, float, float, float]]
    baseline: tuple[np.ndarray, np.ndarray]
    rms: float
    #: Standard error of each peak's area (signal·s), from the fit's Jacobian.
    area_se: list[float]

    def component(self, k: int, t: np.ndarray) -> np.ndarray:
        """Peak ``k`` alone at times ``t``."""
        return emg_profile(t, *self.peaks[k])

    def base(self, t: np.ndarray) -> np.ndarray:
        """The fitted baseline at times ``t`` (interpolated between the fitted blocks)."""
        tb, vb = self.baseline
        return np.interp(np.asarray(t, dtype=np.float64), tb, vb)

    def apex(self, k: int) -> float:
        """Apex time of peak ``k`` (s)."""
        area, mu, sigma, tau = self.peaks[k]
        x = np.linspace(mu - sigma, mu + 2 * sigma + 2 * tau, 400)
        return float(x[np.argmax(emg_profile(x, 1.0, mu, sigma, tau))])

    def height(self, k: int) -> float:
        """Apex height of peak ``k``."""
        return float(self.component(k, np.array([self.apex(k)]))[0])


def _blocks(t: np.ndarray, y: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray]:
    m = len(y) // q
    if q <= 1 or m < 8:
        return t, y
    return (t[:m * q].reshape(m, q).mean(axis=1), y[:m * q].reshape(m, q).mean(axis=1))


def _basis(x: np.ndarray, span: float, degree: int, knot_s: float | None) -> list[np.ndarray]:
    """Baseline columns: a polynomial of ``degree`` or, with ``knot_s``, cubic B-splines
    with knots that far apart (a wandering baseline)."""
    if knot_s is None or span < 2 * knot_s:
        return [np.ones_like(x)] + [(x / span) ** j for j in range(1, degree + 1)]
    from scipy.interpolate import BSpline

    n = max(int(round(span / knot_s)), 2)
    inner = np.linspace(0.0, span, n + 1)
    knots = np.concatenate(([0.0] * 3, inner, [span] * 3))
    m = len(knots) - 4
    cols = []
    for j in range(m):
        c = np.zeros(m)
        c[j] = 1.0
        cols.append(BSpline(knots, c, 3, extrapolate=True)(x))
    return cols


def _shape(t: np.ndarray, mu: float, sigma: float, tau: float) -> np.ndarray:
    """Unit-area EMG; τ below a hundredth of σ is a Gaussian."""
    return emg_profile(t, 1.0, mu, sigma, tau if tau > 0.01 * sigma else 0.0)


def fit_cluster(t: np.ndarray, y: np.ndarray, lo: int, hi: int, guesses: list[Guess],
                noise_sd: float, degree: int = 1,
                usable: np.ndarray | None = None, knot_s: float | None = None,
                asymmetric: bool = False) -> ClusterFit | None:
    """Fit ``guesses`` (parent first) as EMGs over a polynomial baseline of ``degree`` to
    ``y[lo:hi]``; None when there is too little to fit or the search fails.

    ``usable`` marks the samples the fit may use (not clipped, not in a negative peak).
    ``asymmetric``: samples standing well above the fit (riders not among the guesses)
    or far below it (negative peaks) are given almost no weight, refitting a few times.
    """
    if hi - lo < 20 or not guesses:
        return None
    dt = float(t[1] - t[0])
    q = max(1, int(BLOCK_SIGMAS * min(g.sigma_s for g in guesses) / dt))
    tt, yy = t[lo:hi], y[lo:hi]
    if usable is not None:
        keep = usable[lo:hi]
        if keep.sum() < 20:
            return None
    else:
        keep = np.ones(hi - lo, dtype=bool)
    tb, yb = _blocks(tt, yy, q)
    kb = _blocks(tt, keep.astype(np.float64), q)[1] > 0.999
    tb, yb = tb[kb], yb[kb]
    if len(tb) < 4 * len(guesses) + degree + 4:
        return None
    t_ref = float(tt[0])
    x = tb - t_ref
    span = max(float(x[-1]), dt)
    poly = _basis(x, span, degree, knot_s)

    lower, upper, p0 = [], [], []
    for g in guesses:
        s0 = max(g.sigma_s, 2 * dt)
        if g.parent:
            reach = 3.0 * s0
            tau_hi = max(10.0 * (g.tau_s + s0), 5 * s0)
        else:
            reach = g.reach_s if g.reach_s is not None else RIDER_REACH_SIGMAS * s0
            tau_hi = RIDER_TAU_SIGMAS * 3.0 * s0
        # parameters: apex-ish centre μ, log σ, log τ
        mu0 = g.apex_s - min(g.tau_s, s0) * 0.5
        p0 += [mu0, math.log(s0), math.log(max(g.tau_s, 0.05 * s0))]
        lower += [mu0 - reach - 2 * s0, math.log(0.35 * s0), math.log(0.02 * s0)]
        upper += [mu0 + reach, math.log(3.0 * s0), math.log(tau_hi)]
    p0 = np.clip(p0, np.array(lower) + 1e-9, np.array(upper) - 1e-9)
    riders = [k for k, g in enumerate(guesses) if not g.parent]

    def design(p: np.ndarray) -> np.ndarray:
        cols = []
        for k in range(len(guesses)):
            mu, ls, lt = p[3 * k:3 * k + 3]
            sigma, tau = math.exp(ls), math.exp(lt)
            if k in riders:
                tau = min(tau, RIDER_TAU_SIGMAS * sigma)
            cols.append(_shape(tb, mu, sigma, tau))
        return np.column_stack(cols + poly)

    scale = max(noise_sd, 1e-300) / math.sqrt(q)
    w = np.ones_like(yb)

    def residual(p: np.ndarray) -> np.ndarray:
        a = design(p)
        sw = np.sqrt(w)
        coef, *_ = np.linalg.lstsq(a * sw[:, None], yb * sw, rcond=None)
        return sw * (yb - a @ coef) / scale

    x0 = p0
    for _ in range(REWEIGHTS if asymmetric else 1):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = optimize.least_squares(residual, x0, bounds=(lower, upper),
                                             max_nfev=MAX_EVALUATIONS, x_scale="jac")
        except (ValueError, np.linalg.LinAlgError):
            return None
        x0 = res.x
        if not asymmetric:
            break
        a = design(res.x)
        sw = np.sqrt(w)
        coef, *_ = np.linalg.lstsq(a * sw[:, None], yb * sw, rcond=None)
        r = (yb - a @ coef) / scale
        core = r[w == 1.0]
        spread = max(1.0, MAD_TO_SD * float(np.median(np.abs(core - np.median(core)))))
        new = np.where((r > ABOVE_SDS * spread) | (r < -BELOW_SDS * spread), ABOVE_WEIGHT, 1.0)
        if np.array_equal(new, w):
            break
        w = new
    if not np.all(np.isfinite(res.x)):
        return None
    a = design(res.x)
    sw = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(a * sw[:, None], yb * sw, rcond=None)
    if not np.all(np.isfinite(coef)):
        return None
    fitted = a @ coef
    used = w == 1.0
    rms = float(np.sqrt(np.mean(((yb - fitted)[used] / scale) ** 2)))
    # area standard errors from the linear part (shapes held): (AᵀA)⁻¹ σ²
    try:
        cov = np.linalg.inv(a.T @ a) * (scale * max(rms, 1.0)) ** 2
        se = [float(math.sqrt(max(cov[k, k], 0.0))) for k in range(len(guesses))]
    except np.linalg.LinAlgError:
        se = [math.nan] * len(guesses)
    peaks = []
    for k in range(len(guesses)):
        mu, ls, lt = res.x[3 * k:3 * k + 3]
        sigma, tau = math.exp(ls), math.exp(lt)
        if k in riders:
            tau = min(tau, RIDER_TAU_SIGMAS * sigma)
        peaks.append((float(coef[k]), float(mu), sigma, tau if tau > 0.01 * sigma else 0.0))
    base_fit = fitted - a[:, :len(guesses)] @ coef[:len(guesses)]
    return ClusterFit(lo, hi, t_ref, peaks, (tb, base_fit), rms, se)
