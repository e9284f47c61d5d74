"""Synthetic chromatograms with known truth, for validation suites and benchmarks.

Peaks are exponentially modified Gaussians (EMG) with exact areas; the
background adds drift, white noise and low-frequency noise. The simulated
5-HT assay's numbers are in ``assay_peaks``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from raphe.acquisition.analysis.fitting import emg_profile

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
    return emg_profile(t, p.area, p.mu, p.sigma, p.tau)


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


# -- dialysate-like suite: riders, wander, clipping, steps, negative peaks -----------------

#: Sampling of the suite's runs (10 Hz, 10 min).
SUITE_DT = 0.1
SUITE_T = np.arange(6000) * SUITE_DT
#: 5-HT apex height (nA) in the suite; the noise is scaled to the target S/N.
SUITE_HT_HEIGHT = 0.02


@dataclass(frozen=True)
class Case:
    """One synthetic dialysate chromatogram and what is true about it.

    ``peaks`` names the true peaks (``5-HIAA``, ``5-HT`` and the others);
    ``clipped`` those whose top the detector clipped, at ``clip_level``;
    ``steps`` the baseline steps (time s, size nA); ``dips`` the negative peaks.
    ``overload`` marks clipped samples the way a live read-out does (else ``None``).
    """

    t: np.ndarray
    y: np.ndarray
    peaks: dict[str, TruePeak]
    sn: float
    ratio: float
    delay_s: float
    clipped: tuple[str, ...] = ()
    clip_level: float | None = None
    steps: tuple[tuple[float, float], ...] = ()
    dips: tuple[TruePeak, ...] = ()
    wander: tuple[float, float] = (0.0, 0.0)  # amplitude nA, period s
    overload: np.ndarray | None = None


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def dialysate_case(rng: np.random.Generator, *, sn: float | None = None,
                   ratio: float | None = None, delay_s: float | None = None,
                   wander: bool = False, clip: str | None = None, live_overload: bool = False,
                   step: bool = False, dips: int = 1) -> Case:
    """A 10-min dialysate run: solvent front and its dip, NA, DA, 5-HIAA and 5-HT riding on
    the 5-HIAA tail.

    5-HT: S/N ``sn`` (default uniform 20–60, EP 2H/h with white noise), σ 4–6 s.
    5-HIAA: ``ratio`` × the 5-HT area (default log-uniform 30–300), σ 3–5 s, exponential
    tail τ 8–14 s; 5-HT's apex ``delay_s`` (default 40–80 s) after the 5-HIAA apex.
    ``wander``: a 1–3 pA sinusoid with a period of 2–5 min. ``clip``: the peak
    (``5-HIAA`` or ``5-HT``) whose top the detector clips (at 60–85 % of its apex).
    ``step``: a 5–40 pA baseline step somewhere in the run. ``dips``: negative peaks.
    """
    t = SUITE_T
    sn = float(rng.uniform(20.0, 60.0)) if sn is None else sn
    ratio = _log_uniform(rng, 30.0, 300.0) if ratio is None else ratio
    delay_s = float(rng.uniform(40.0, 80.0)) if delay_s is None else delay_s
    ht_sigma = float(rng.uniform(4.0, 6.0))
    unit = TruePeak(0.0, ht_sigma, 0.3 * ht_sigma, 1.0)
    ht_area = SUITE_HT_HEIGHT / apex(unit)[1]
    hiaa = TruePeak(float(rng.uniform(270.0, 310.0)), float(rng.uniform(3.0, 5.0)),
                    float(rng.uniform(8.0, 14.0)), ratio * ht_area)
    hiaa_apex = apex(hiaa, 0.01)[0]
    ht = TruePeak(hiaa_apex + delay_s - (apex(unit, 0.01)[0]), ht_sigma, 0.3 * ht_sigma, ht_area)
    peaks = {
        "front": TruePeak(40.0, 2.5, 1.5, float(rng.uniform(1.0, 3.0))),
        "NA": TruePeak(float(rng.uniform(110.0, 130.0)), 3.0, 1.0, float(rng.uniform(0.1, 0.4))),
        "DA": TruePeak(float(rng.uniform(175.0, 195.0)), 3.5, 1.2, float(rng.uniform(0.1, 0.4))),
        "5-HIAA": hiaa, "5-HT": ht,
    }
    # White noise scaled so EP S/N = 2H/h, h ≈ PP_PER_SD SDs over 5 × W½ (≈ 100+ samples).
    white_sd = 2.0 * SUITE_HT_HEIGHT / sn / PP_PER_SD
    y = 2.0 + rng.normal(0.0, white_sd, len(t))
    y += 1e-5 * (t - t[0]) * rng.uniform(-1.0, 1.0)  # slow drift, ≤ 0.6 pA/min
    amp = period = 0.0
    if wander:
        amp, period = float(rng.uniform(0.001, 0.003)), float(rng.uniform(120.0, 300.0))
        y += amp * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))
    for p in peaks.values():
        y += emg(t, p)
    neg = []
    for _ in range(dips):
        d = TruePeak(float(rng.uniform(60.0, 100.0)) if not neg else float(rng.uniform(420, 560)),
                     float(rng.uniform(2.0, 4.0)), 0.5, -float(rng.uniform(0.2, 1.0)) * ht_area)
        neg.append(d)
        y += emg(t, d)
    steps = ()
    if step:
        where = float(rng.uniform(200.0, 560.0))
        size = float(rng.uniform(0.005, 0.04)) * rng.choice([-1.0, 1.0])
        y += np.where(t >= where, size, 0.0)
        steps = ((where, size),)
    clipped, level, overload = (), None, None
    if clip is not None:
        p = peaks[clip]
        top = float(np.max(y[np.abs(t - apex(p)[0]) < 3 * p.sigma]))
        base = 2.0
        level = base + float(rng.uniform(0.6, 0.85)) * (top - base)
        over = y >= level
        clipped = tuple(name for name, q in peaks.items()
                        if over[np.abs(t - apex(q)[0]) < 2 * q.sigma].any())
        if live_overload:
            overload = over
            y = np.where(over, np.nan, y)
        else:
            y = np.minimum(y, level)
    return Case(t, y, peaks, sn, ratio, delay_s, clipped, level, steps, tuple(neg),
                (amp, period), overload)


# -- the grid: riders, shoulders and wander over the shapes real assays produce -------------

#: Sampling of the grid's runs (10 Hz, 15 min: room for the broadest 5-HT 150 s after 5-HIAA).
GRID_DT = 0.1
GRID_T = np.arange(9000) * GRID_DT
#: 5-HT apex height (nA) in the grid, as in the suite: 1–3 pA of wander is 5–15 % of it.
GRID_HT_HEIGHT = 0.02

#: The grid's axes: name → regions (low, high); values are drawn log-uniformly in a region.
GRID_AXES: dict[str, tuple[tuple[float, float], ...]] = {
    "width": ((3.0, 6.0), (6.0, 10.0), (10.0, 15.0)),  # 5-HT σ (s)
    "tail": ((4.0, 8.0), (8.0, 14.0), (14.0, 20.0)),  # 5-HIAA τ (s)
    "ratio": ((10.0, 30.0), (30.0, 300.0), (300.0, 1000.0)),  # 5-HIAA / 5-HT area
    "delay": ((30.0, 60.0), (60.0, 100.0), (100.0, 150.0)),  # apex to apex (s)
    "sn": ((10.0, 30.0), (30.0, 100.0)),  # 5-HT EP S/N
    "wander": ((0.0, 0.0), (1.0, 3.0)),  # pA, period 2–5 min
}


@dataclass(frozen=True)
class GridPoint:
    """One point of the grid: the shapes and sizes of a 5-HIAA/5-HT pair and the background.

    ``ratio`` 0 means no parent: 5-HT alone (where 5-HIAA would have been, nothing).
    ``regions`` holds the region index drawn on each axis of ``GRID_AXES``.
    """

    ht_sigma: float
    hiaa_sigma: float
    tau: float
    ratio: float
    delay_s: float
    sn: float
    wander_pA: float
    wander_period_s: float
    seed: int
    regions: tuple[tuple[str, int], ...] = ()

    def region(self, axis: str) -> str:
        """A label of this point's region on ``axis``, e.g. ``width 3–6``."""
        k = dict(self.regions).get(axis)
        if k is None:
            return f"{axis} -"
        lo, hi = GRID_AXES[axis][k]
        if axis == "wander" and hi == 0:
            return "wander none"
        return f"{axis} {lo:g}–{hi:g}"


def grid_points(n: int, seed: int = 0, parent: bool = True,
                wander: bool | None = None) -> list[GridPoint]:
    """``n`` points spread over ``GRID_AXES`` (each axis's regions in equal shares, shuffled
    independently: a Latin-hypercube of regions), fixed by ``seed``.

    5-HIAA's σ is 0.6–1.0 × 5-HT's (it elutes first), at least 2.5 s. ``parent=False``:
    no 5-HIAA. ``wander`` forces the wander axis on or off.
    """
    rng = np.random.default_rng(seed)
    picks = {}
    for axis, regions in GRID_AXES.items():
        k = len(regions)
        picks[axis] = rng.permutation(np.arange(n) % k)
    out = []
    for i in range(n):
        reg = {axis: int(picks[axis][i]) for axis in GRID_AXES}
        if wander is not None:
            reg["wander"] = 1 if wander else 0

        def draw(axis: str, reg: dict[str, int] = reg) -> float:
            lo, hi = GRID_AXES[axis][reg[axis]]
            return lo if hi == lo else _log_uniform(rng, lo, hi)

        ht_sigma = draw("width")
        out.append(GridPoint(
            ht_sigma=ht_sigma, hiaa_sigma=max(2.5, ht_sigma * float(rng.uniform(0.6, 1.0))),
            tau=draw("tail"), ratio=draw("ratio") if parent else 0.0, delay_s=draw("delay"),
            sn=draw("sn"), wander_pA=draw("wander"),
            wander_period_s=float(rng.uniform(120.0, 300.0)),
            seed=int(rng.integers(2**31)), regions=tuple(reg.items())))
    return out


def grid_case(point: GridPoint) -> Case:
    """The chromatogram of one grid point: solvent front, NA and DA (as broad as the assay),
    5-HIAA with its exponential tail, 5-HT ``delay_s`` after it, wander and noise."""
    rng = np.random.default_rng(point.seed)
    t = GRID_T
    unit = TruePeak(0.0, point.ht_sigma, 0.3 * point.ht_sigma, 1.0)
    ht_area = GRID_HT_HEIGHT / apex(unit)[1]
    hiaa_mu = float(rng.uniform(300.0, 340.0))
    peaks: dict[str, TruePeak] = {}
    early = max(2.0, 0.6 * point.hiaa_sigma)
    peaks["front"] = TruePeak(40.0, 2.5, 1.5, float(rng.uniform(1.0, 3.0)))
    peaks["NA"] = TruePeak(float(rng.uniform(120.0, 140.0)), early, 0.3 * early,
                           float(rng.uniform(0.1, 0.4)) * early / 3.0)
    peaks["DA"] = TruePeak(float(rng.uniform(200.0, 220.0)), early, 0.3 * early,
                           float(rng.uniform(0.1, 0.4)) * early / 3.0)
    if point.ratio > 0:
        hiaa = TruePeak(hiaa_mu, point.hiaa_sigma, point.tau, point.ratio * ht_area)
        peaks["5-HIAA"] = hiaa
        hiaa_apex = apex(hiaa, 0.01)[0]
    else:
        hiaa_apex = hiaa_mu + 0.5 * point.tau
    ht = TruePeak(hiaa_apex + point.delay_s - apex(unit, 0.01)[0], point.ht_sigma,
                  0.3 * point.ht_sigma, ht_area)
    peaks["5-HT"] = ht
    white_sd = 2.0 * GRID_HT_HEIGHT / point.sn / PP_PER_SD
    y = 2.0 + rng.normal(0.0, white_sd, len(t))
    y += 1e-5 * (t - t[0]) * rng.uniform(-1.0, 1.0)
    if point.wander_pA:
        y += 1e-3 * point.wander_pA * np.sin(2 * np.pi * t / point.wander_period_s
                                             + rng.uniform(0, 2 * np.pi))
    for p in peaks.values():
        y += emg(t, p)
    return Case(t, y, peaks, point.sn, point.ratio, point.delay_s,
                wander=(1e-3 * point.wander_pA, point.wander_period_s))


def grid_method_text(point: GridPoint, skim: str = "exponential",
                     integration: str = "") -> str:
    """The method a user writes for the assay of a grid point by following
    ``docs/analysis-method.md``: the exponential skim, 5-HT placed relative to 5-HIAA at
    the assay's delay, widths and baseline window left to Raphe (``integration`` adds
    lines to ``[integration]``)."""
    hiaa_rt = 320.0 + 0.5 * point.tau
    lines = ['name = "grid"', "run_length_s = 900.0", "track_rt = false", "[integration]",
             f'skim = "{skim}"', "despike = true", integration,
             "[[peaks]]", 'name = "solvent front"', "rt_s = 40.0", "window_s = 10.0",
             "report = false"]
    if point.ratio > 0:
        lines += ["[[peaks]]", 'name = "5-HIAA"', f"rt_s = {hiaa_rt}", "window_s = 30.0",
                  "[[peaks]]", 'name = "5-HT"', f"rt_s = {hiaa_rt + point.delay_s}",
                  "window_s = 25.0", 'rt_reference = "5-HIAA"']
    else:
        lines += ["[[peaks]]", 'name = "5-HT"', f"rt_s = {hiaa_rt + point.delay_s}",
                  "window_s = 25.0"]
    return "\n".join(lines) + "\n"
