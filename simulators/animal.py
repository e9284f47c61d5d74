"""The virtual animal: a mechanistic model of extracellular 5-HT under drugs.

Chain (``docs/virtual-animal.md`` has the equations and the parameter table):
PK per dose (``raphe.simulators.drugs``) → free brain concentration → competitive
occupancy of SERT and of the raphe 5-HT1A autoreceptor (Ki) → raphe firing
with autoreceptor feedback from raphe 5-HT → release in the probe region and
SERT-dependent reuptake → extracellular 5-HT → dialysate = extracellular ×
probe recovery (recovery falls with flow).

The ODEs are integrated deterministically on a fixed step with an
exponential (exactly-decaying) update, so large steps stay stable and six
hours of model time take a few milliseconds. The solution is cached on its
grid and extended on demand; ``administer`` re-integrates only from the dose
time on. The same seed gives the same animal and the same noise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from raphe.names import lookup
from raphe.simulators.drugs import DRUGS, HT1A, SERT, SYSTEMIC_ROUTES, Dose, Drug, canonical_drug

#: Analytes the dialysate carries (the HPLC's peaks, minus the solvent front).
ANALYTES = ("NA", "DA", "5-HIAA", "5-HT")


@dataclass(frozen=True)
class RegionParams:
    """What changes between probe regions. All [I] except where noted."""

    name: str
    #: Basal extracellular 5-HT (nM) of the typical animal [I]; × recovery gives
    #: basal dialysate ≈ 0.4-0.6 nM at 1-1.5 µL/min (domain.md: 0.2-1 nM [S]).
    basal_5ht_nM: float
    #: Fraction of 5-HT clearance that is not SERT (diffusion, other transporters) [I].
    #: It caps the SSRI rise; lower in ventral hippocampus than in frontal cortex,
    #: which reproduces vHipp > FC for fluoxetine [S: Malagié 1995].
    non_sert_clearance: float
    #: Exponent of release on relative raphe firing (terminal sensitivity) [I].
    firing_coupling: float
    #: Basal extracellular levels of the other analytes (nM) [I].
    other_nM: Mapping[str, float] = field(default_factory=dict)


REGIONS: Mapping[str, RegionParams] = MappingProxyType({
    "prefrontal_cortex": RegionParams(
        name="prefrontal_cortex", basal_5ht_nM=3.0, non_sert_clearance=0.30,
        firing_coupling=1.0,
        other_nM=MappingProxyType({"NA": 2.0, "DA": 1.5, "5-HIAA": 100.0}),
    ),
    "ventral_hippocampus": RegionParams(
        name="ventral_hippocampus", basal_5ht_nM=3.0, non_sert_clearance=0.18,
        firing_coupling=1.2,
        other_nM=MappingProxyType({"NA": 2.5, "DA": 0.8, "5-HIAA": 120.0}),
    ),
})


@dataclass(frozen=True)
class AnimalParams:
    """Every parameter of the model; all values are [I] unless noted.

    Change one with ``dataclasses.replace(AnimalParams(), name=value)``.
    """

    regions: Mapping[str, RegionParams] = field(default_factory=lambda: REGIONS)
    drugs: Mapping[str, Drug] = field(default_factory=lambda: DRUGS)
    #: Fixed integration step (s).
    step_s: float = 10.0
    #: Time constant of raphe firing following its autoreceptor drive (min).
    firing_tau_min: float = 3.0
    #: Turnover rate of raphe (somatodendritic) 5-HT with SERT intact (1/min).
    raphe_turnover_per_min: float = 1.0
    #: Non-SERT share of raphe 5-HT clearance.
    raphe_non_sert_clearance: float = 0.6
    #: Turnover rate of forebrain extracellular 5-HT with SERT intact (1/min).
    forebrain_turnover_per_min: float = 1.0
    #: Basal raphe 5-HT relative to its own affinity for the autoreceptor (C/K):
    #: the endogenous autoreceptor tone that WAY-100635 removes.
    basal_autoreceptor_load: float = 0.25
    #: Autoreceptor activation giving half-maximal inhibition of firing.
    autoreceptor_a50: float = 0.45
    #: Hill coefficient of firing inhibition by autoreceptor activation.
    autoreceptor_hill: float = 2.0
    #: Autoreceptor sensitivity: 1 naive; < 1 after chronic SSRI (desensitised,
    #: weeks of treatment [S: seed, mechanism; value I]), e.g. 0.3.
    autoreceptor_sensitivity: float = 1.0
    #: Probe mass-transfer coefficient K (µL/min) of recovery = 1 - exp(-K / flow):
    #: 0.223 gives 20 % at 1 µL/min and 10.5 % at 2 µL/min (domain.md: 10-20 % [I]).
    probe_mass_transfer_uL_min: float = 0.223
    #: Fraction of a reverse-dialysed perfusate concentration reaching tissue.
    reverse_dialysis_delivery: float = 0.15
    #: Time constant of local tissue loading / washout during reverse dialysis (min).
    reverse_dialysis_tau_min: float = 5.0
    #: Slow biological fluctuation of release: relative SD and correlation time (min).
    biological_cv: float = 0.04
    biological_tau_min: float = 20.0
    #: Between-animal spread of basal 5-HT (log-normal SD), clipped to the range below.
    between_animal_cv: float = 0.2
    between_animal_clip: tuple[float, float] = (0.6, 1.6)


_CHUNK = 4096  # noise steps generated per seeded chunk


@dataclass
class _DoseTerms:
    """A dose resolved against the drug table."""

    dose: Dose
    drug: Drug


def probe_recovery(flow_uL_min: np.ndarray | float, mass_transfer_uL_min: float) -> np.ndarray:
    """Relative recovery of the probe at ``flow`` (µL/min): 1 - exp(-K / flow)."""
    q = np.maximum(np.asarray(flow_uL_min, dtype=float), 1e-9)
    return -np.expm1(-mass_transfer_uL_min / q)


class VirtualAnimal:
    """A rat with a microdialysis probe in ``region``; deterministic for a ``seed``.

    Times are session seconds (t < 0 is treated as t = 0, the drug-free
    steady state). Query with scalars or numpy arrays.
    """

    def __init__(
        self,
        region: str = "prefrontal_cortex",
        seed: int = 0,
        params: AnimalParams | None = None,
    ) -> None:
        self.params = params or AnimalParams()
        self.region = self.params.regions[lookup(region, self.params.regions, "region")]
        self.seed = int(seed)
        p = self.params
        lo, hi = p.between_animal_clip
        factor = math.exp(p.between_animal_cv * np.random.default_rng([self.seed, 0]).normal())
        #: This animal's basal-level factor (log-normal, clipped).
        self.basal_factor = min(max(factor, lo), hi)
        self.doses: list[Dose] = []
        self._terms: list[_DoseTerms] = []
        self._noise_chunks: dict[int, np.ndarray] = {}
        self._eta0 = float(np.random.default_rng([self.seed, 2]).normal())
        self._gnorm = 1.0 + (self._activation_basal_naive() / p.autoreceptor_a50) ** p.autoreceptor_hill
        self._reset()

    # -- public API ---------------------------------------------------------
    def administer(self, dose: Dose) -> None:
        """Give ``dose`` (its ``minute`` is session time); the model re-integrates from then."""
        key = canonical_drug(dose.drug, self.params.drugs)
        drug = self.params.drugs[key]
        if dose.route in SYSTEMIC_ROUTES and dose.route not in drug.absorption:
            raise ValueError(f"{key} has no absorption parameters for route {dose.route!r}")
        if dose.route not in (*SYSTEMIC_ROUTES, "rd"):
            raise ValueError(f"unknown route {dose.route!r}")
        self.doses.append(dose)
        self._terms.append(_DoseTerms(dose, drug))
        keep = math.floor(max(dose.time_s, 0.0) / self.params.step_s) + 1
        self._truncate(keep)

    @property
    def basal_extracellular_nM(self) -> float:
        """Drug-free steady-state extracellular 5-HT of this animal (nM)."""
        return self.region.basal_5ht_nM * self.basal_factor * self._basal_firing_scale

    def extracellular_nM(self, t: np.ndarray | float) -> np.ndarray:
        """Extracellular 5-HT (nM) at session time(s) ``t`` (s)."""
        return self._interp(t, "_c")

    def firing(self, t: np.ndarray | float) -> np.ndarray:
        """Raphe firing relative to the naive drug-free rate."""
        return self._interp(t, "_f")

    def recovery(self, flow_uL_min: np.ndarray | float) -> np.ndarray:
        """Probe recovery (fraction) at ``flow_uL_min``."""
        return probe_recovery(flow_uL_min, self.params.probe_mass_transfer_uL_min)

    def dialysate_nM(self, t: np.ndarray | float, flow_uL_min: np.ndarray | float) -> np.ndarray:
        """Dialysate 5-HT (nM) leaving the probe at ``t`` with perfusion ``flow_uL_min``."""
        return self.extracellular_nM(t) * self.recovery(flow_uL_min)

    def dialysate_all_nM(
        self, t: np.ndarray | float, flow_uL_min: np.ndarray | float
    ) -> dict[str, np.ndarray]:
        """Dialysate concentration (nM) of every analyte in ``ANALYTES``."""
        t = np.asarray(t, dtype=float)
        rec = self.recovery(flow_uL_min) * np.ones_like(t)
        out = {name: self.region.other_nM.get(name, 0.0) * self.basal_factor * rec
               for name in ANALYTES if name != "5-HT"}
        out["5-HT"] = self.extracellular_nM(t) * rec
        return out

    def brain_nM(self, drug: str, t: np.ndarray | float, local: bool = False) -> np.ndarray:
        """Free brain concentration (nM) of ``drug``: systemic, plus reverse-dialysed if ``local``."""
        key = canonical_drug(drug, self.params.drugs)
        t = np.asarray(t, dtype=float)
        total = np.zeros_like(t)
        for term in self._terms:
            if term.drug.name == key and (local or term.dose.route in SYSTEMIC_ROUTES):
                total = total + self._dose_conc(term, t)
        return total

    # -- integration --------------------------------------------------------
    def _activation_basal_naive(self) -> float:
        load = self.params.basal_autoreceptor_load
        return load / (1.0 + load)

    def _reset(self) -> None:
        p = self.params
        # Drug-free steady state (firing, raphe 5-HT) for this sensitivity, by fixed point.
        f = 1.0
        for _ in range(200):
            f = 0.5 * f + 0.5 * self._g(self._activation(f, 0.0, 0.0))
        self._f0 = f
        self._basal_firing_scale = f ** self.region.firing_coupling
        self._c0 = self.region.basal_5ht_nM * self.basal_factor
        self._t = np.zeros(1)
        self._c = np.array([self._c0 * self._basal_firing_scale])
        self._f = np.array([f])
        self._xr = np.array([f])
        self._eta = np.array([self._eta0 * p.biological_cv])

    def _truncate(self, keep: int) -> None:
        keep = max(1, min(keep, len(self._t)))
        self._t = self._t[:keep]
        self._c = self._c[:keep]
        self._f = self._f[:keep]
        self._xr = self._xr[:keep]
        self._eta = self._eta[:keep]

    def _activation(self, xr: float, u_ligand: float, eu_ligand: float) -> float:
        p = self.params
        u5 = p.basal_autoreceptor_load * xr
        return p.autoreceptor_sensitivity * (u5 + eu_ligand) / (1.0 + u5 + u_ligand)

    def _g(self, a: float) -> float:
        p = self.params
        return self._gnorm / (1.0 + (a / p.autoreceptor_a50) ** p.autoreceptor_hill)

    def _noise(self, k0: int, n: int) -> np.ndarray:
        """Standard normals for steps k0..k0+n-1, generated in seeded fixed chunks."""
        out = np.empty(n)
        k = k0
        while k < k0 + n:
            c, off = divmod(k, _CHUNK)
            chunk = self._noise_chunks.get(c)
            if chunk is None:
                chunk = np.random.default_rng([self.seed, 1, c]).standard_normal(_CHUNK)
                self._noise_chunks[c] = chunk
            take = min(_CHUNK - off, k0 + n - k)
            out[k - k0:k - k0 + take] = chunk[off:off + take]
            k += take
        return out

    def _dose_conc(self, term: _DoseTerms, t: np.ndarray) -> np.ndarray:
        """Free brain (systemic) or local (reverse dialysis) concentration, nM."""
        d, drug, p = term.dose, term.drug, self.params
        tau = (t - d.time_s) / 60.0
        after = tau > 0
        if not after.any() or drug.brain_free_ratio == 0.0 and d.route in SYSTEMIC_ROUTES:
            return np.zeros_like(t)
        tau = np.where(after, tau, 0.0)
        if d.route == "rd":
            level = d.amount * 1000.0 * p.reverse_dialysis_delivery
            t_on = p.reverse_dialysis_tau_min
            end = (d.until_s - d.time_s) / 60.0
            rise = -np.expm1(-np.minimum(tau, end) / t_on)
            fall = np.exp(-np.maximum(tau - end, 0.0) / t_on)
            return np.where(after, level * rise * fall, 0.0)
        a = drug.absorption[d.route]
        ka, ke = a.ka_per_min, drug.ke_per_min
        scale = d.amount * a.bioavailability * drug.plasma_nM_per_mg_kg() * drug.brain_free_ratio
        if abs(ka - ke) < 1e-12:
            shape = ka * tau * np.exp(-ke * tau)
        else:
            shape = ka / (ka - ke) * (np.exp(-ke * tau) - np.exp(-ka * tau))
        return np.where(after, scale * shape, 0.0)

    def _drive(self, t: np.ndarray) -> dict[str, np.ndarray]:
        """Drug terms on grid times ``t``: 5-HT1A loads and SERT occupancies."""
        u1a = np.zeros_like(t)
        eu1a = np.zeros_like(t)
        u_sert_sys = np.zeros_like(t)
        u_sert_loc = np.zeros_like(t)
        for term in self._terms:
            drug = term.drug
            if drug.target is None:
                continue
            u = self._dose_conc(term, t) / drug.ki_nM
            systemic = term.dose.route in SYSTEMIC_ROUTES
            if drug.target == HT1A and systemic:
                u1a += u
                eu1a += drug.efficacy * u
            elif drug.target == SERT:
                u_sert_loc += u
                if systemic:
                    u_sert_sys += u
        return {
            "u1a": u1a, "eu1a": eu1a,
            "occ_sys": u_sert_sys / (1.0 + u_sert_sys),
            "occ_loc": u_sert_loc / (1.0 + u_sert_loc),
        }

    def _extend(self, t_end: float) -> None:
        """Integrate the grid forward so it covers ``t_end`` (s)."""
        p = self.params
        dt = p.step_s
        k0 = len(self._t) - 1
        k1 = math.ceil(max(t_end, 0.0) / dt)
        if k1 <= k0:
            return
        k1 = max(k1, k0 + int(3600.0 / dt))  # extend by at least an hour of model time
        n = k1 - k0
        t = (k0 + 1 + np.arange(n)) * dt
        drive = self._drive(t)
        dt_min = dt / 60.0
        fr = p.raphe_non_sert_clearance
        ff = self.region.non_sert_clearance
        clear_r = fr + (1.0 - fr) * (1.0 - drive["occ_sys"])
        clear_f = ff + (1.0 - ff) * (1.0 - drive["occ_loc"])
        decay_r = np.exp(-p.raphe_turnover_per_min * clear_r * dt_min)
        decay_f = np.exp(-p.forebrain_turnover_per_min * clear_f * dt_min)
        a_f = math.exp(-dt_min / p.firing_tau_min)
        a_eta = math.exp(-dt_min / p.biological_tau_min)
        s_eta = p.biological_cv * math.sqrt(1.0 - a_eta * a_eta)
        z = self._noise(k0 + 1, n)

        load, sens = p.basal_autoreceptor_load, p.autoreceptor_sensitivity
        a50, hill, gnorm = p.autoreceptor_a50, p.autoreceptor_hill, self._gnorm
        beta, c0 = self.region.firing_coupling, self._c0
        f, xr, c, eta = float(self._f[-1]), float(self._xr[-1]), float(self._c[-1]), float(
            self._eta[-1])
        out_c, out_f, out_xr, out_eta = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
        rows = zip(drive["u1a"].tolist(), drive["eu1a"].tolist(), clear_r.tolist(),
                   clear_f.tolist(), decay_r.tolist(), decay_f.tolist(), z.tolist())
        for i, (u1a, eu1a, cr, cf, dr, df, zi) in enumerate(rows):
            u5 = load * xr
            act = sens * (u5 + eu1a) / (1.0 + u5 + u1a)
            g = gnorm / (1.0 + (act / a50) ** hill)
            f = g + (f - g) * a_f
            xr_ss = f / cr
            xr = xr_ss + (xr - xr_ss) * dr
            eta = eta * a_eta + s_eta * zi
            c_ss = c0 * f ** beta * (1.0 + eta) / cf
            c = c_ss + (c - c_ss) * df
            out_c[i], out_f[i], out_xr[i], out_eta[i] = c, f, xr, eta
        self._t = np.concatenate([self._t, t])
        self._c = np.concatenate([self._c, out_c])
        self._f = np.concatenate([self._f, out_f])
        self._xr = np.concatenate([self._xr, out_xr])
        self._eta = np.concatenate([self._eta, out_eta])

    def _interp(self, t: np.ndarray | float, attr: str) -> np.ndarray:
        t = np.maximum(np.asarray(t, dtype=float), 0.0)
        if t.size:
            self._extend(float(t.max()))
        return np.interp(t, self._t, getattr(self, attr))
