"""Peak-model fits: an exponentially modified Gaussian or a skew-normal per peak.

Optional (method key ``fit``). Each peak is fitted, above the baseline the
integration drew under it, by ``scipy.optimize.curve_fit``; peaks that share a
baseline (a drop-line cluster) are fitted together, a skimmed rider on its
own above its skim. The model's area is reported beside the integrated one
(``Peak.fit_area``), and ``fit_mismatch`` is set when they differ by more than
the method's tolerance: the shape is not what the integration assumed (an
unseen shoulder, a peak cut by a drop line), so look at it.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import optimize, special

from raphe.acquisition.analysis.figures import FWHM_PER_SIGMA

MODELS = ("emg", "skewnorm")
_SQRT2 = math.sqrt(2.0)
_SQRT2PI = math.sqrt(2.0 * math.pi)


def emg_profile(t: np.ndarray, area: float, mu: float, sigma: float, tau: float) -> np.ndarray:
    """Exponentially modified Gaussian of integral ``area`` (Gaussian μ, σ; decay τ)."""
    t = np.asarray(t, dtype=np.float64)
    if tau <= 0:
        return area * np.exp(-0.5 * ((t - mu) / sigma) ** 2) / (sigma * _SQRT2PI)
    lam = 1.0 / tau
    arg = (mu + lam * sigma**2 - t) / (_SQRT2 * sigma)
    expo = 0.5 * lam * (2 * mu + lam * sigma**2 - 2 * t)
    # Before the apex exp(a)·erfc(b) over/underflows: use exp(a − b²)·erfcx(b) there.
    front = arg > 0
    out = np.empty_like(t)
    out[front] = np.exp(expo[front] - arg[front] ** 2) * special.erfcx(arg[front])
    out[~front] = np.exp(expo[~front]) * special.erfc(arg[~front])
    return area * 0.5 * lam * out


def skewnorm_profile(t: np.ndarray, area: float, xi: float, omega: float,
                     alpha: float) -> np.ndarray:
    """Skew-normal of integral ``area``: 2/ω · φ((t−ξ)/ω) · Φ(α(t−ξ)/ω)."""
    z = (np.asarray(t, dtype=np.float64) - xi) / omega
    return area * 2.0 / omega * np.exp(-0.5 * z * z) / _SQRT2PI * special.ndtr(alpha * z)


def _model(kind: str, k: int):
    """Sum of ``k`` profiles with 4 parameters each (area first)."""
    profile = emg_profile if kind == "emg" else skewnorm_profile

    def f(t, *p):
        out = np.zeros_like(t)
        for i in range(k):
            out += profile(t, *p[4 * i:4 * i + 4])
        return out

    return f


def _guess(kind: str, rt: float, width: float, area: float, lo: float, hi: float):
    """Initial parameters and bounds for one peak."""
    sigma = max(width / FWHM_PER_SIGMA, 1e-6)
    span = hi - lo
    if kind == "emg":
        p0 = [area, rt - 0.2 * sigma, sigma, 0.3 * sigma]
        lower = [0.0, lo, 1e-3 * sigma, 1e-4 * sigma]
        upper = [np.inf, hi, span, 10 * span]
    else:
        p0 = [area, rt - 0.5 * sigma, 1.3 * sigma, 1.0]
        lower = [0.0, lo - span, 1e-3 * sigma, -20.0]
        upper = [np.inf, hi, 2 * span, 20.0]
    return p0, lower, upper


def fit_group(kind: str, t: np.ndarray, yc: np.ndarray,
              peaks: list[tuple[float, float, float]]) -> list[float]:
    """Fitted areas of the peaks (rt, W½, area) in ``yc`` (signal above its baseline).

    NaN for every peak when the fit does not converge.
    """
    k = len(peaks)
    p0, lower, upper = [], [], []
    lo, hi = float(t[0]), float(t[-1])
    for rt, width, area in peaks:
        width = width if math.isfinite(width) and width > 0 else (hi - lo) / (4 * k)
        g, lw, up = _guess(kind, rt, width, max(area, 1e-12), lo, hi)
        p0 += g
        lower += lw
        upper += up
    p0 = np.clip(p0, lower, [u if math.isfinite(u) else np.inf for u in upper])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            params, _ = optimize.curve_fit(_model(kind, k), t, yc, p0=p0,
                                           bounds=(lower, upper), maxfev=4000)
    except (RuntimeError, ValueError, optimize.OptimizeWarning):
        return [math.nan] * k
    return [float(params[4 * i]) for i in range(k)]


def fit_peaks(t: np.ndarray, y: np.ndarray, segs, peaks, kind: str, tolerance: float) -> None:
    """Fit every peak (see the module docstring); fills ``fit_model``, ``fit_area`` and
    ``fit_mismatch`` in place. ``segs`` are the integration's segments, one per peak."""
    if kind not in MODELS:
        raise ValueError(f"unknown peak model {kind!r}")
    groups: dict[tuple, list[int]] = {}
    for i, g in enumerate(segs):
        key = ("line", g.line[0], g.line[2]) if g.under is None else ("skim", i)
        groups.setdefault(key, []).append(i)
    for members in groups.values():
        i0 = min(segs[i].i0 for i in members)
        i1 = max(segs[i].i1 for i in members)
        idx = np.arange(i0, i1 + 1)
        base = segs[members[0]].baseline(idx)  # one baseline for the group
        # a parent's skimmed riders are not part of its shape
        apexes = {segs[i].apex for i in members}
        keep = np.ones(len(idx), dtype=bool)
        for g in segs:
            if g.rider_of in apexes:
                keep &= (idx < g.i0) | (idx > g.i1)
        idx, base = idx[keep], base[keep]
        if len(idx) < 4 * len(members) + 2:
            continue
        areas = fit_group(kind, t[idx], y[idx] - base,
                          [(peaks[i].rt_s, peaks[i].width_half_s, peaks[i].area)
                           for i in members])
        for i, a in zip(members, areas, strict=True):
            pk = peaks[i]
            pk.fit_model, pk.fit_area = kind, a
            pk.fit_mismatch = bool(math.isfinite(a) and pk.area > 0
                                   and abs(a / pk.area - 1.0) > tolerance)
