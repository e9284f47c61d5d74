"""Whole-cluster fits: a parent peak and the peaks riding on its tail, fitted together.

A skim draws the parent's tail under a rider from what it sees of the tail.
The cluster fit models the whole cluster instead: the parent (front, apex
and tail) and every rider as exponentially modified Gaussians (EMG) over a
baseline of its own — a straight line, or, when the line leaves structure
in the residuals (a wandering baseline), a cubic or smooth B-splines,
whichever the Bayesian information criterion prefers — fitted by
``scipy.optimize.least_squares`` from the parent's rise to past the last
rider. Nothing is fitted above a baseline the integration drew. The
parent's front and apex fix its position and σ, so its tail under a broad
shoulder is the fitted shape's own.

Only the peak shapes are searched for (centre, σ, τ of each); for given
shapes the areas and the baseline are a linear least-squares fit (variable
projection), so a parent with one rider is a six-parameter search. The
trace is averaged in blocks of about a quarter of the narrowest σ first.
Each area comes with its standard error from the full Jacobian (shapes,
areas and baseline together): a rider that trades area with its parent's
tail has a large one.

Used two ways (``peaks.py``): fitted with riders given almost no weight
(``asymmetric``), the parent alone is the model tail the exponential skim
finds riders on; fitted with its riders, it is the reference each rider's
skimmed area is checked against (``unresolved`` beyond a tolerance), and
the second opinion on a rider the method expects where no valley or
inflection showed.
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
#: Model evaluations allowed to the shape search, and its relative tolerance (on the cost
#: and on the shape parameters).
MAX_EVALUATIONS = 200
TOLERANCE = 1e-4
#: Asymmetric fits: residuals beyond these many spreads above / below get ``ABOVE_WEIGHT``.
ABOVE_SDS = 2.0
BELOW_SDS = 5.0
ABOVE_WEIGHT = 1e-3
REWEIGHTS = 4
#: A straight baseline that leaves a residual RMS above this (in noise SDs) is tried as a
#: cubic and as B-splines too.
CURVED_RMS = 1.3


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
    """A fitted cluster over samples ``lo .. hi − 1``: each peak's (area, μ, σ, τ), the
    fitted baseline (block times, values), the residual RMS in noise SDs and each area's
    standard error."""

    lo: int
    hi: int
    peaks: list[tuple[float, float, float, float]]
    baseline: tuple[np.ndarray, np.ndarray]
    rms: float
    area_se: list[float]
    #: The baseline model the fit chose: "line", "cubic" or "spline".
    baseline_model: str = "line"
    #: Each area's standard error from the noise alone (every shape and the baseline
    #: held): ``area_se`` many times this means the peak trades area with its neighbours
    #: or the baseline — the data cannot separate them.
    area_se_noise: list[float] | None = None
    #: The shape parameters the search ended at (centre, log σ, log τ per peak).
    params: np.ndarray | None = None

    def degenerate(self, k: int, ratio: float) -> bool:
        """Whether peak ``k``'s area is ``ratio`` times less certain than the noise alone
        makes it."""
        noise = (self.area_se_noise or [math.nan] * (k + 1))[k]
        return not self.area_se[k] <= ratio * noise

    def component(self, k: int, t: np.ndarray) -> np.ndarray:
        """Peak ``k`` alone at times ``t``."""
        return emg_profile(np.asarray(t, dtype=np.float64), *self.peaks[k])

    def base(self, t: np.ndarray) -> np.ndarray:
        """The fitted baseline at times ``t`` (interpolated between the fitted blocks)."""
        tb, vb = self.baseline
        return np.interp(np.asarray(t, dtype=np.float64), tb, vb)

    def apex(self, k: int) -> float:
        """Apex time of peak ``k`` (s)."""
        _, mu, sigma, tau = self.peaks[k]
        x = np.linspace(mu - sigma, mu + 2 * sigma + 2 * tau, 801)
        return float(x[np.argmax(emg_profile(x, 1.0, mu, sigma, tau))])

    def height(self, k: int) -> float:
        """Apex height of peak ``k``."""
        return float(self.component(k, np.array([self.apex(k)]))[0])


def _blocks(t: np.ndarray, y: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray]:
    m = len(y) // q
    if q <= 1 or m < 8:
        return t, y
    return (t[:m * q].reshape(m, q).mean(axis=1), y[:m * q].reshape(m, q).mean(axis=1))


def _basis(x: np.ndarray, kind: str, knot_s: float) -> np.ndarray:
    """Baseline columns over ``x`` (s from the fit's start)."""
    span = max(float(x[-1] - x[0]), 1e-9)
    u = (x - x[0]) / span
    if kind == "line":
        return np.column_stack([np.ones_like(u), u])
    if kind == "cubic":
        return np.column_stack([np.ones_like(u), u, u * u, u**3])
    from scipy.interpolate import BSpline

    n = max(round(span / knot_s), 2)
    inner = np.linspace(0.0, 1.0, n + 1)
    knots = np.concatenate(([0.0] * 3, inner, [1.0] * 3))
    return BSpline.design_matrix(np.clip(u, 0.0, 1.0), knots, 3).toarray()


def _shape(t: np.ndarray, mu: float, sigma: float, tau: float) -> np.ndarray:
    """Unit-area EMG; τ below a hundredth of σ is a Gaussian."""
    return emg_profile(t, 1.0, mu, sigma, tau if tau > 0.01 * sigma else 0.0)


def fit_cluster(t: np.ndarray, y: np.ndarray, lo: int, hi: int, guesses: list[Guess],
                noise_sd: float, usable: np.ndarray | None = None,
                asymmetric: bool = False, baseline: str = "auto",
                knot_s: float | None = None, steps_s: tuple[float, ...] = ()
                ) -> ClusterFit | None:
    """Fit ``guesses`` as EMGs over a baseline to ``y[lo:hi]``; None when there is too
    little to fit or the search fails.

    ``usable`` marks the samples the fit may use (not clipped, not in a negative peak).
    ``asymmetric``: samples standing well above the fit (riders not among the guesses)
    or far below it (negative peaks) are given almost no weight, refitting a few times.
    ``baseline``: "line", "cubic", "spline" (knots ``knot_s`` apart, default twice the
    widest σ plus τ) or "auto" (the line, and when it leaves structure the others too,
    the one with the lowest BIC). ``steps_s``: times of baseline steps (taken out of the
    trace, but only as well as their size was estimated): the baseline may jump there.
    """
    lo, hi = max(lo, 0), min(hi, len(y))
    if hi - lo < 20 or not guesses:
        return None
    dt = float(t[1] - t[0])
    q = max(1, int(BLOCK_SIGMAS * min(g.sigma_s for g in guesses) / dt))
    keep = np.ones(hi - lo, dtype=bool) if usable is None else usable[lo:hi]
    tb, yb = _blocks(t[lo:hi], y[lo:hi], q)
    kb = _blocks(t[lo:hi], keep.astype(np.float64), q)[1] > 0.999
    tb, yb = tb[kb], yb[kb]
    if len(tb) < 4 * len(guesses) + 12:
        return None
    scale = max(noise_sd, 1e-300) / math.sqrt(q)
    if knot_s is None:
        knot_s = max(2.0 * (g.sigma_s + g.tau_s) for g in guesses)
    kinds = ("line", "cubic", "spline") if baseline == "auto" else (baseline,)
    best = None
    for kind in kinds:
        if kind != "line" and best is not None and best[0].rms <= CURVED_RMS:
            break
        base = _basis(tb - tb[0], kind, knot_s)
        jumps = [(tb >= ts).astype(np.float64) for ts in steps_s if tb[0] < ts < tb[-1]]
        if jumps:
            base = np.column_stack([base, *jumps])
        fit = _fit(tb, yb, base, guesses, scale, asymmetric, dt, q)
        if best is not None:  # and from where the straighter baseline's search ended
            warm = _fit(tb, yb, base, guesses, scale, asymmetric, dt, q, best[0].params)
            if warm is not None and (fit is None or warm.rms < fit.rms):
                fit = warm
        if fit is None:
            continue
        fit.baseline_model = kind
        n = len(tb)
        bic = n * math.log(max(fit.rms, 1e-12) ** 2) + (3 * len(guesses) + len(guesses)
                                                           + base.shape[1]) * math.log(n)
        if best is None or bic < best[1]:
            best = (fit, bic)
    if best is None:
        return None
    fit = best[0]
    fit.lo, fit.hi = lo, hi
    return fit


def _fit(tb: np.ndarray, yb: np.ndarray, base: np.ndarray, guesses: list[Guess],
         scale: float, asymmetric: bool, dt: float, q: int,
         start: np.ndarray | None = None) -> ClusterFit | None:
    k = len(guesses)
    lower, upper, p0 = [], [], []
    for g in guesses:
        s0 = max(g.sigma_s, 2 * dt)
        if g.parent:
            reach = 3.0 * s0
            tau_hi = max(10.0 * (g.tau_s + s0), 5 * s0)
        else:
            reach = g.reach_s if g.reach_s is not None else RIDER_REACH_SIGMAS * s0
            tau_hi = RIDER_TAU_SIGMAS * 3.0 * s0
        mu0 = g.apex_s - 0.5 * min(g.tau_s, s0)  # an EMG's apex lies after its μ
        p0 += [mu0, math.log(s0), math.log(max(g.tau_s, 0.05 * s0))]
        lower += [mu0 - reach - 2 * s0, math.log(0.35 * s0), math.log(0.02 * s0)]
        upper += [mu0 + reach, math.log(3.0 * s0), math.log(tau_hi)]
    lower_a, upper_a = np.array(lower), np.array(upper)
    if start is not None:  # where a fit over another baseline ended
        p0 = start
    p0 = np.clip(p0, lower_a + 1e-9, upper_a - 1e-9)
    rider = np.array([not g.parent for g in guesses])

    def shapes(p: np.ndarray) -> list[tuple[float, float, float]]:
        out = []
        for j in range(k):
            mu, ls, lt = p[3 * j:3 * j + 3]
            sigma, tau = math.exp(ls), math.exp(lt)
            if rider[j]:
                tau = min(tau, RIDER_TAU_SIGMAS * sigma)
            out.append((float(mu), sigma, tau))
        return out

    h = 0.5 * (q - 1) * dt  # half the span of a block's samples

    nb = len(tb)
    t3 = np.concatenate((tb - h, tb, tb + h))

    def block_mean(mu: float, sigma: float, tau: float) -> np.ndarray:
        """The profile averaged over each block (Simpson's rule): a tall parent sampled
        at block centres only would be off by its curvature times the block length²."""
        if q <= 1:
            return _shape(tb, mu, sigma, tau)
        v = _shape(t3, mu, sigma, tau)
        return (v[:nb] + 4.0 * v[nb:2 * nb] + v[2 * nb:]) / 6.0

    def design(p: np.ndarray) -> np.ndarray:
        return np.column_stack([block_mean(*sh) for sh in shapes(p)] + [base])

    w = np.ones_like(yb)

    def solve(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a = design(p)
        return a, _linear(a, yb, w)

    def residual(p: np.ndarray) -> np.ndarray:
        a, coef = solve(p)
        return np.sqrt(w) * (yb - a @ coef) / scale

    x0 = p0
    res = None
    for i in range(REWEIGHTS if asymmetric else 1):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = optimize.least_squares(residual, x0, bounds=(lower_a, upper_a),
                                             max_nfev=MAX_EVALUATIONS if i == 0
                                             else MAX_EVALUATIONS // 4, x_scale="jac",
                                             ftol=TOLERANCE, xtol=TOLERANCE)
        except (ValueError, np.linalg.LinAlgError):
            return None
        x0 = res.x
        if not asymmetric:
            break
        a, coef = solve(res.x)
        r = (yb - a @ coef) / scale
        core = r[w == 1.0]
        spread = max(1.0, MAD_TO_SD * float(np.median(np.abs(core - np.median(core)))))
        new = np.where((r > ABOVE_SDS * spread) | (r < -BELOW_SDS * spread), ABOVE_WEIGHT, 1.0)
        if np.array_equal(new, w):
            break
        w = new
    if res is None or not np.all(np.isfinite(res.x)):
        return None
    a, coef = solve(res.x)
    if not np.all(np.isfinite(coef)):
        return None
    shape_params = res.x
    fitted = a @ coef
    used = w == 1.0
    rms = float(np.sqrt(np.mean(((yb - fitted)[used] / scale) ** 2)))
    se = _area_errors(res.x, coef, design, a, used, scale * max(rms, 1.0), k)
    sh = shapes(res.x)
    peaks = [(float(coef[j]), sh[j][0], sh[j][1], sh[j][2] if sh[j][2] > 0.01 * sh[j][1]
              else 0.0) for j in range(k)]
    base_fit = base @ coef[k:]
    sd = scale * max(rms, 1.0)
    se_noise = [float(sd / math.sqrt(max(float(np.dot(a[used, j], a[used, j])), 1e-300)))
                for j in range(k)]
    return ClusterFit(0, 0, peaks, (tb, base_fit), rms, se, area_se_noise=se_noise,
                      params=shape_params)


def _linear(a: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted linear least squares by the normal equations (columns scaled to unit
    norm first); ``lstsq`` when they are singular. Small systems, solved many times."""
    aw = a * w[:, None]
    norm = np.sqrt(np.einsum("ij,ij->j", a, aw))
    norm[norm == 0] = 1.0
    gram = (a.T @ aw) / np.outer(norm, norm)
    try:
        return np.linalg.solve(gram, (aw.T @ y) / norm) / norm
    except np.linalg.LinAlgError:
        sw = np.sqrt(w)
        return np.linalg.lstsq(a * sw[:, None], y * sw, rcond=None)[0]


def _area_errors(p: np.ndarray, coef: np.ndarray, design, a: np.ndarray, used: np.ndarray,
                 sd: float, k: int) -> list[float]:
    """Standard errors of the areas from the Jacobian of the whole model (shapes, areas and
    baseline together), at the fit."""
    cols = []
    for j in range(len(p)):
        h = 1e-4 * max(abs(p[j]), 1.0)
        q = p.copy()
        q[j] += h
        cols.append((design(q) @ coef - a @ coef) / h)
    jac = np.column_stack(cols + [a])[used]
    try:
        cov = np.linalg.pinv(jac.T @ jac) * sd * sd
    except np.linalg.LinAlgError:
        return [math.nan] * k
    off = len(p)
    return [float(math.sqrt(max(cov[off + j, off + j], 0.0))) for j in range(k)]
