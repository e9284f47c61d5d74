"""Synthetic chromatograms with known truth, for validation suites and benchmarks.

Peaks are exponentially modified Gaussians (EMG) with exact areas; the
background adds drift, white noise and low-frequency noise. The simulated
5-HT assay's numbers are in ``assay_peaks``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, special

#: Expected peak-to-peak of white noise over an EP window, in SDs (≈ range of ~300 samples).
PP_PER_SD = 6.0


@dataclass(frozen=True)
class TruePeak:
    """A synthetic peak: EMG of Gaussian centre ``mu``, SD ``sigma``, tail ``tau``."""

    mu: float
    sigma: float
    tau: float
    area: float


def emg(t: np.ndarray, p: TruePeak) -> np.ndarray:
    """The EMG peak profile (integral = ``p.area``)."""
    if p.tau <= 0:
        return p.area * np.exp(-0.5 * ((t - p.mu) / p.sigma) ** 2) / (p.sigma * np.sqrt(2 * np.pi))
    lam = 1.0 / p.tau
    arg = (p.mu + lam * p.sigma**2 - t) / (np.sqrt(2) * p.sigma)
    expo = 0.5 * lam * (2 * p.mu + lam * p.sigma**2 - 2 * t)
    # Before the apex exp(a)·erfc(b) over/underflows: use exp(a − b²)·erfcx(b) there.
    front = arg > 0
    out = np.empty_like(t, dtype=np.float64)
    out[front] = np.exp(expo[front] - arg[front] ** 2) * special.erfcx(arg[front])
    out[~front] = np.exp(expo[~front]) * special.erfc(arg[~front])
    return p.area * 0.5 * lam * out


def apex(p: TruePeak, dt: float = 1e-3) -> tuple[float, float]:
    """(time, height) of the EMG's maximum, found numerically."""
    t = np.arange(p.mu - 3 * p.sigma, p.mu + 3 * p.sigma + 3 * p.tau, dt)
    y = emg(t, p)
    i = int(np.argmax(y))
    return float(t[i]), float(y[i])


def assay_peaks(amounts: dict[str, float] | None = None) -> list[TruePeak]:
    """The simulated HPLC-ECD assay: solvent front, NA, DA, 5-HIAA, 5-HT (areas in nA·s)."""
    rts = {"front": 45.0, "NA": 150.0, "DA": 260.0, "5-HIAA": 420.0, "5-HT": 600.0}
    areas = {"front": 3.0, "NA": 1.0, "DA": 0.8, "5-HIAA": 12.0, "5-HT": 1.1}
    areas.update(amounts or {})
    out = []
    for name, rt in rts.items():
        sigma = 2.0 + 0.012 * rt
        out.append(TruePeak(rt, sigma, 0.3 * sigma, areas[name]))
    return out


def trace(t: np.ndarray, peaks: list[TruePeak], rng: np.random.Generator,
          white_sd: float = 0.0, lf_sd: float = 0.0, lf_s: float = 60.0,
          offset: float = 0.0, drift_per_s: float = 0.0, wander: float = 0.0,
          spikes: int = 0, spike_height: float = 0.0) -> np.ndarray:
    """Peaks + offset + linear drift + slow wander + white and low-frequency noise + spikes."""
    y = np.full_like(t, offset) + drift_per_s * (t - t[0])
    if wander:
        y += wander * np.sin(2 * np.pi * (t - t[0]) / (t[-1] - t[0]) * 0.7 + 0.3)
    for p in peaks:
        y += emg(t, p)
    if white_sd:
        y += rng.normal(0.0, white_sd, len(t))
    if lf_sd:
        dt = float(t[1] - t[0])
        lf = ndimage.gaussian_filter1d(rng.normal(0.0, 1.0, len(t)), lf_s / dt, mode="wrap")
        y += lf_sd * lf / lf.std()
    if spikes:
        idx = rng.choice(len(t), spikes, replace=False)
        y[idx] += spike_height * rng.choice([-1.0, 1.0], spikes)
    return y


@dataclass(frozen=True)
class PlannedInjection:
    """One injection of a synthetic session: when, what, and its 5-HT amount on column."""

    t: float
    sample_id: str
    kind: str
    volume_uL: float
    ht_fmol: float


def assay_session(plan: list[PlannedInjection], duration_s: float, rng: np.random.Generator,
                  dt: float = 0.1, rt_shift_s: float = 0.0, white_sd: float = 0.00025,
                  response: float = 0.11) -> tuple[np.ndarray, np.ndarray]:
    """Session time and ECD signal (nA): ~2 nA baseline, slow drift, one run per injection."""
    t = np.arange(round(duration_s / dt)) * dt
    y = 2.0 + 0.02 * np.sin(2 * np.pi * t / 7200.0) + rng.normal(0.0, white_sd, len(t))
    for inj in plan:
        for p in assay_peaks({"5-HT": response * inj.ht_fmol}):
            shifted = TruePeak(inj.t + p.mu + rt_shift_s, p.sigma, p.tau, p.area)
            lo = np.searchsorted(t, shifted.mu - 8 * p.sigma)
            hi = np.searchsorted(t, shifted.mu + 8 * p.sigma + 20 * p.tau)
            y[lo:hi] += emg(t[lo:hi], shifted)
    return t, y
