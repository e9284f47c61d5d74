"""The HPLC with electrochemical detection: chromatograms as a function of time.

At each injection the model adds, from chromatogram time zero (the
injection), a solvent front and one exponentially modified Gaussian (EMG)
peak per analyte, area = amount on column × response factor. The amount on
column is what the loop held times the injection's volume factor, 1 + CV·z
(z a standard normal hashed from the seed and the injection's number): an
autosampler or a filled loop never injects exactly the same volume twice, so
replicate standards scatter as they do at the bench. Under it runs
a baseline with offset and slow drift, white noise, 1/f noise and rare
spikes. The detector current ``nA(t)`` is a pure function of the sample
times (noise is hashed from the time itself, 1/f noise is a fixed sum of
sinusoids), so re-reading the same times gives the same values and any
block size gives the same trace. ``volts(t)`` = nA / the ECD scale is the
analog output a DMM digitises.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import erfc, erfcx


@dataclass(frozen=True)
class PeakSpec:
    """One analyte's peak: apex retention time and response factor; optionally its own
    exponential tail τ (s) instead of the assay's ``tau_ratio`` × σ."""

    name: str
    rt_s: float
    response_nA_s_per_fmol: float
    tau_s: float | None = None


#: Default peaks (shared with the analysis defaults). 5-HT factor is the set value;
#: the NA, DA and 5-HIAA factors are [I].
DEFAULT_PEAKS = (
    PeakSpec("NA", 150.0, 0.12),
    PeakSpec("DA", 260.0, 0.13),
    PeakSpec("5-HIAA", 420.0, 0.09),
    PeakSpec("5-HT", 600.0, 0.11),
)

#: The dialysate-like assay (``dialysate_params``): a 15-min isocratic run in which 5-HT
#: elutes 60 s after 5-HIAA, on its exponential tail (τ 11 s), at the widths such runs give
#: (5-HIAA σ ≈ 7.8 s, 5-HT σ ≈ 8.5 s: W½ ≈ 20 s). The electrode answers 5-HIAA strongly
#: here [I], so its peak is some 90 times 5-HT's area at baseline (30–40 times after an
#: SSRI, which raises 5-HT and lowers 5-HIAA), as in dialysates. 5-HT's response is the
#: clean assay's, so the same 5-HT calibration holds.
DIALYSATE_PEAKS = (
    PeakSpec("NA", 150.0, 0.12),
    PeakSpec("DA", 260.0, 0.13),
    PeakSpec("5-HIAA", 480.0, 0.5, tau_s=11.0),
    PeakSpec("5-HT", 540.0, 0.11),
)


@dataclass(frozen=True)
class HPLCParams:
    """Chromatography and detector parameters (defaults agreed with the analysis side)."""

    run_length_s: float = 900.0
    peaks: tuple[PeakSpec, ...] = DEFAULT_PEAKS
    #: Gaussian σ = sigma0 + sigma_per_rt × RT; EMG τ = tau_ratio × σ.
    sigma0_s: float = 2.0
    sigma_per_rt: float = 0.012
    tau_ratio: float = 0.3
    #: Solvent front (not an analyte): a positive EMG then a negative dip [I].
    solvent_front_rt_s: float = 45.0
    solvent_front_area_nA_s: float = 12.0
    solvent_dip_area_nA_s: float = -4.0
    solvent_dip_delay_s: float = 10.0
    #: Baseline offset and linear drift.
    baseline_nA: float = 2.0
    drift_nA_per_h: float = 0.03
    #: White noise (RMS per reading) and 1/f noise (RMS over its band).
    white_noise_pA: float = 0.25
    pink_noise_pA: float = 0.15
    pink_band_hz: tuple[float, float] = (1e-4, 1.0)
    pink_components: int = 48
    #: Random spikes: mean rate, amplitude range (nA, either sign), decay time (s).
    spike_rate_per_h: float = 0.5
    spike_amplitude_nA: tuple[float, float] = (0.02, 0.3)
    spike_tau_s: float = 0.15
    #: ECD analog output scale (nA per V).
    scale_nA_per_V: float = 10.0
    #: Injection precision: CV of the volume each injection puts on the column (loop
    #: filling, autosampler; 1.5–2.5 % [I]), as a fraction; 0: every injection is exact.
    #: With the detector noise, replicate 5-HT standards of 0.3–3 nM get an area RSD of
    #: 1.5–2 % and 0.1 nM (2 fmol, at the LOQ) about 3 % (Eicom HTEC-500 reports 2.5–3.0 %
    #: for 5-HT [S]): a well-run system that passes a 3 % limit on 5 replicates.
    injection_cv: float = 0.015
    #: Clean mode: no random spikes (deterministic drift and noise stay).
    clean: bool = False


@dataclass(frozen=True)
class InjectionRecord:
    """An injection the model is eluting: time zero and amounts on column (fmol).

    ``amounts_fmol`` is what really went on the column: what the loop held
    (``nominal_fmol``) times ``volume_factor``, the injected volume over the nominal one.
    """

    t: float
    amounts_fmol: Mapping[str, float]
    kind: str = "sample"
    label: str = ""
    volume_factor: float = 1.0

    @property
    def nominal_fmol(self) -> dict[str, float]:
        """What the loop held (fmol): the amounts at the nominal injection volume."""
        return {k: v / self.volume_factor for k, v in self.amounts_fmol.items()}


@dataclass
class _Spike:
    t: float
    amplitude_nA: float


@dataclass
class _DriftStep:
    t: float
    rate_nA_per_h: float


_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _uniform(keys: np.ndarray, seed: int, stream: int) -> np.ndarray:
    """Uniform [0, 1) per integer key, for a seed and a stream; stateless."""
    salt = _splitmix64(np.array([(seed & 0xFFFFFFFF) << 8 | (stream & 0xFF)], dtype=np.uint64))
    z = _splitmix64(keys.astype(np.int64).view(np.uint64) ^ salt)
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def emg(t: np.ndarray, mu: float, sigma: float, tau: float) -> np.ndarray:
    """Unit-area exponentially modified Gaussian (1/s), numerically stable."""
    t = np.asarray(t, dtype=float)
    lam = 1.0 / tau
    d = t - mu
    z = (sigma * lam - d / sigma) / math.sqrt(2.0)
    out = np.empty_like(t)
    pos = z >= 0
    out[pos] = 0.5 * lam * np.exp(-0.5 * (d[pos] / sigma) ** 2) * erfcx(z[pos])
    neg = ~pos
    out[neg] = 0.5 * lam * np.exp(0.5 * (sigma * lam) ** 2 - lam * d[neg]) * erfc(z[neg])
    return out


def _apex_offset(tau_ratio: float) -> float:
    """Apex minus μ for a unit-σ EMG with τ = tau_ratio (apex offset scales with σ)."""
    res = minimize_scalar(lambda x: -emg(np.array([x]), 0.0, 1.0, tau_ratio)[0],
                          bounds=(-1.0, 3.0 + 3 * tau_ratio), method="bounded",
                          options={"xatol": 1e-10})
    return float(res.x)


@dataclass(frozen=True)
class PeakShape:
    """Where and how wide a peak is: apex RT, EMG μ, σ and τ (s)."""

    rt_s: float
    mu_s: float
    sigma_s: float
    tau_s: float

    def density(self, t: np.ndarray) -> np.ndarray:
        """Unit-area profile at chromatogram times ``t`` (1/s)."""
        return emg(t, self.mu_s, self.sigma_s, self.tau_s)


def dialysate_params(**changes) -> HPLCParams:
    """The dialysate-like assay (``DIALYSATE_PEAKS``: 5-HT on the 5-HIAA tail at realistic
    widths, analysed with the bundled method ``simulated-5ht-dialysate``); ``changes`` are
    further ``HPLCParams`` fields (e.g. ``scale_nA_per_V``)."""
    return HPLCParams(**{"peaks": DIALYSATE_PEAKS, **changes})


class HPLCECD:
    """The HPLC-ECD model; deterministic for ``seed``. Times are session seconds."""

    def __init__(self, params: HPLCParams | None = None, seed: int = 0) -> None:
        self.params = params or HPLCParams()
        cv = self.params.injection_cv
        if not (math.isfinite(cv) and 0 <= cv < 0.25):
            raise ValueError(f"injection_cv must be a fraction in [0, 0.25), got {cv}")
        self.seed = int(seed)
        self.injections: list[InjectionRecord] = []
        self._spikes: list[_Spike] = []
        self._drift_steps: list[_DriftStep] = []
        self._offset = _apex_offset(self.params.tau_ratio)
        p = self.params
        self._factors = {pk.name: pk.response_nA_s_per_fmol for pk in p.peaks}
        self._shapes = {pk.name: self.shape_at(pk.rt_s, pk.tau_s) for pk in p.peaks}
        rng = np.random.default_rng([self.seed, 7])
        lo, hi = (math.log(f) for f in p.pink_band_hz)
        edges = np.linspace(lo, hi, p.pink_components + 1)
        self._pink_f = np.exp(edges[:-1] + rng.random(p.pink_components) * np.diff(edges))
        self._pink_phase = rng.random(p.pink_components) * 2 * math.pi
        # 1/f: equal power per log-spaced band, hence equal amplitudes
        self._pink_amp = p.pink_noise_pA * 1e-3 * math.sqrt(2.0 / p.pink_components)
        last_rt = max([pk.rt_s for pk in p.peaks] + [p.solvent_front_rt_s])
        last = self.shape_at(last_rt)
        tails = [sh.rt_s + 12 * sh.sigma_s + 40 * sh.tau_s for sh in self._shapes.values()]
        self._tail_s = max([last_rt + 12 * last.sigma_s + 40 * last.tau_s, *tails])

    # -- peaks --------------------------------------------------------------
    def shape_at(self, rt_s: float, tau_s: float | None = None) -> PeakShape:
        """The EMG of a peak whose apex is at ``rt_s`` (σ grows with RT; τ is
        ``tau_ratio`` × σ unless the peak has its own ``tau_s``)."""
        p = self.params
        sigma = p.sigma0_s + p.sigma_per_rt * rt_s
        if tau_s is None:
            return PeakShape(rt_s=rt_s, mu_s=rt_s - self._offset * sigma, sigma_s=sigma,
                             tau_s=p.tau_ratio * sigma)
        offset = _apex_offset(tau_s / sigma)  # apex − μ, in σ
        return PeakShape(rt_s=rt_s, mu_s=rt_s - offset * sigma, sigma_s=sigma, tau_s=tau_s)

    def shape(self, analyte: str) -> PeakShape:
        """Peak shape of ``analyte`` (KeyError if the method has no such peak)."""
        return self._shapes[analyte]

    def response(self, analyte: str) -> float:
        """Response factor of ``analyte`` (nA·s per fmol on column)."""
        return self._factors[analyte]

    def height_per_fmol(self, analyte: str) -> float:
        """Apex height (nA) of 1 fmol of ``analyte`` on column."""
        s = self._shapes[analyte]
        return self._factors[analyte] * float(s.density(np.array([s.rt_s]))[0])

    # -- what happens at the rig ---------------------------------------------
    def volume_factor(self, number: int) -> float:
        """Injected ÷ nominal volume of injection ``number`` (0 = the first): 1 + CV·z, z a
        standard normal hashed from the seed and the number (kept within ±4 CV), so a
        session's injections scatter the same way on every run of the same seed."""
        cv = self.params.injection_cv
        if cv <= 0:
            return 1.0
        key = np.array([number], dtype=np.int64)
        u1 = 1.0 - _uniform(key, self.seed, 8)[0]
        u2 = _uniform(key, self.seed, 9)[0]
        z = math.sqrt(-2.0 * math.log(u1)) * math.cos(2 * math.pi * u2)
        return 1.0 + cv * max(-4.0, min(4.0, z))

    def inject(self, t: float, amounts_fmol: Mapping[str, float] | object,
               kind: str = "sample", label: str = "") -> InjectionRecord:
        """Start a chromatogram at ``t`` with ``amounts_fmol`` in the loop.

        ``amounts_fmol`` is a mapping analyte → fmol, or anything with an
        ``amount_fmol`` mapping (a loop's ``SampleContent``). Unknown
        analytes give no peak. What goes on the column is that times the
        injection's :meth:`volume_factor` (the record's ``amounts_fmol``).
        """
        amounts = getattr(amounts_fmol, "amount_fmol", amounts_fmol)
        if not isinstance(amounts, Mapping):
            raise TypeError("amounts_fmol must be a mapping or have an amount_fmol mapping")
        for name, value in amounts.items():
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"amount of {name} must be finite and >= 0 fmol, got {value}")
        factor = self.volume_factor(len(self.injections))
        on_column = {name: value * factor for name, value in amounts.items()}
        record = InjectionRecord(float(t), on_column, kind, label, factor)
        self.injections.append(record)
        return record

    def inject_standard(self, t: float, conc_nM: float | Mapping[str, float],
                        loop_volume_uL: float = 20.0, label: str = "") -> InjectionRecord:
        """Inject a standard: a 5-HT concentration (nM), or analyte → nM, filling the loop."""
        conc = {"5-HT": float(conc_nM)} if isinstance(conc_nM, (int, float)) else dict(conc_nM)
        amounts = {name: c * loop_volume_uL for name, c in conc.items()}
        text = ",".join(f"{k}={v:g}nM" for k, v in conc.items())
        return self.inject(t, amounts, kind=f"standard:{text}", label=label)

    def add_spike(self, t: float, amplitude_nA: float) -> None:
        """A fault: one spike at ``t`` (present even in clean mode)."""
        self._spikes.append(_Spike(float(t), float(amplitude_nA)))

    def add_drift(self, t: float, rate_nA_per_h: float) -> None:
        """A fault: from ``t`` on, the baseline drifts by an extra ``rate_nA_per_h``."""
        self._drift_steps.append(_DriftStep(float(t), float(rate_nA_per_h)))

    # -- the signal ---------------------------------------------------------
    def baseline_nA(self, t: np.ndarray) -> np.ndarray:
        """Noise-free baseline: offset + drift (+ injected drift faults)."""
        t = np.asarray(t, dtype=float)
        p = self.params
        out = p.baseline_nA + p.drift_nA_per_h * t / 3600.0
        for step in self._drift_steps:
            out = out + step.rate_nA_per_h * np.maximum(t - step.t, 0.0) / 3600.0
        return out

    def peaks_nA(self, t: np.ndarray) -> np.ndarray:
        """Noise-free chromatographic signal (solvent fronts and peaks) at ``t``."""
        t = np.asarray(t, dtype=float)
        out = np.zeros_like(t)
        if t.size == 0:
            return out
        p = self.params
        t_lo, t_hi = float(t.min()), float(t.max())
        front = self.shape_at(p.solvent_front_rt_s)
        dip = self.shape_at(p.solvent_front_rt_s + p.solvent_dip_delay_s)
        for inj in list(self.injections):
            if inj.t > t_hi or inj.t + self._tail_s < t_lo:
                continue
            sel = (t >= inj.t) & (t <= inj.t + self._tail_s)
            if not sel.any():
                continue
            x = t[sel] - inj.t
            y = p.solvent_front_area_nA_s * front.density(x)
            y += p.solvent_dip_area_nA_s * dip.density(x)
            for name, fmol in inj.amounts_fmol.items():
                if name in self._shapes and fmol > 0:
                    y += fmol * self._factors[name] * self._shapes[name].density(x)
            out[sel] += y
        return out

    def noise_nA(self, t: np.ndarray) -> np.ndarray:
        """White + 1/f noise at ``t``: a pure function of the times and the seed."""
        t = np.asarray(t, dtype=float)
        p = self.params
        keys = np.round(t * 1e4).astype(np.int64)  # 0.1 ms resolution
        u1 = 1.0 - _uniform(keys, self.seed, 1)
        u2 = _uniform(keys, self.seed, 2)
        white = np.sqrt(-2.0 * np.log(u1)) * np.cos(2 * math.pi * u2)
        out = p.white_noise_pA * 1e-3 * white
        if p.pink_noise_pA > 0:
            phase = 2 * math.pi * np.multiply.outer(t, self._pink_f) + self._pink_phase
            out = out + self._pink_amp * np.sin(phase).sum(axis=-1)
        return out

    def spikes_nA(self, t: np.ndarray) -> np.ndarray:
        """Random spikes (1-s bins, hashed) plus injected ones, at ``t``."""
        t = np.asarray(t, dtype=float)
        p = self.params
        out = np.zeros_like(t)
        horizon = 10.0 * p.spike_tau_s
        if not p.clean and p.spike_rate_per_h > 0:
            prob = p.spike_rate_per_h / 3600.0
            span = math.ceil(horizon) + 1
            base = np.floor(t).astype(np.int64)
            lo, hi = p.spike_amplitude_nA
            for back in range(span):
                b = base - back
                hit = _uniform(b, self.seed, 3) < prob
                if not hit.any():
                    continue
                ts = b[hit] + _uniform(b[hit], self.seed, 4)
                amp = lo + (hi - lo) * _uniform(b[hit], self.seed, 5)
                sign = np.where(_uniform(b[hit], self.seed, 6) < 0.5, -1.0, 1.0)
                dt = t[hit] - ts
                out[hit] += np.where((dt >= 0) & (dt < horizon),
                                     sign * amp * np.exp(-np.maximum(dt, 0.0) / p.spike_tau_s),
                                     0.0)
        for spike in self._spikes:
            dt = t - spike.t
            on = (dt >= 0) & (dt < horizon)
            out[on] += spike.amplitude_nA * np.exp(-dt[on] / p.spike_tau_s)
        return out

    def nA(self, t: np.ndarray) -> np.ndarray:
        """Detector current (nA) at session times ``t`` (s)."""
        t = np.asarray(t, dtype=float)
        return self.baseline_nA(t) + self.peaks_nA(t) + self.noise_nA(t) + self.spikes_nA(t)

    def volts(self, t: np.ndarray) -> np.ndarray:
        """ECD analog output (V) = nA / scale: a DMM ``SignalSource``."""
        return self.nA(t) / self.params.scale_nA_per_V
