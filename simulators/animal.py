"""The virtual animal: a mechanistic model of extracellular 5-HT (and NA, DA, 5-HIAA) under drugs.

Chain (``docs/virtual-animal.md`` has the equations, the parameter table and the
published targets each part is checked against):

PK per dose (``raphe.simulators.drugs``) → free brain concentration → competitive
occupancy of SERT and of 5-HT1A receptors (Ki) → firing of the raphe neurons that
project to the probe region, braked by somatodendritic 5-HT1A autoreceptors that
see raphe 5-HT → release in the probe region, braked again by a forebrain
(postsynaptic 5-HT1A long-loop) feedback and by terminal autoreceptors →
SERT-dependent reuptake → extracellular 5-HT → dialysate = extracellular × probe
recovery. 5-HIAA follows firing and reuptake slowly; NA and DA follow drugs'
secondary (catecholamine) actions. A dosing history before the session (``Regimen``)
desensitises the 5-HT1A receptors.

The ODEs are integrated deterministically on a fixed step with an exponential
(exactly-decaying) update, so large steps stay stable and six hours of model
time take a few milliseconds. The solution is cached on its grid and extended
on demand; ``administer`` re-integrates only from the dose time on. The same
seed gives the same animal and the same noise.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np
from scipy.signal import lfilter

from raphe.names import lookup
from raphe.simulators.drugs import (
    DRUGS,
    HT1A,
    SERT,
    SYSTEMIC_ROUTES,
    Dose,
    Drug,
    Regimen,
    canonical_drug,
)

#: Analytes the dialysate carries (the HPLC's peaks, minus the solvent front).
ANALYTES = ("NA", "DA", "5-HIAA", "5-HT")
#: Analytes whose level is carried as a state besides 5-HT.
_OTHERS = ("NA", "DA", "5-HIAA")


@dataclass(frozen=True)
class RegionParams:
    """What changes between probe regions. Tags in ``docs/virtual-animal.md`` §4."""

    name: str
    #: Basal extracellular 5-HT (nM) of the typical naive animal; × recovery gives the
    #: basal dialysate. Regions differ little [S: Adell et al. 1991, no significant
    #: regional difference in freely moving rats].
    basal_5ht_nM: float
    #: Fraction of 5-HT clearance that is not SERT (diffusion, other transporters):
    #: caps the local SSRI rise.
    non_sert_clearance: float
    #: Exponent of impulse-dependent release on the afferent neurons' firing.
    firing_coupling: float
    #: Share of release that does not follow firing: the floor a full 5-HT1A agonist
    #: can reach. Tetrodotoxin leaves 75 % of hippocampal output [S: Sharp et al. 1989];
    #: cortical output is more impulse-dependent.
    impulse_independent_release: float
    #: Non-SERT share of clearance of somatodendritic 5-HT in the raphe nucleus that
    #: projects here: low = an SSRI raises raphe 5-HT a lot = a strong autoreceptor
    #: brake (dorsal raphe → frontal cortex), high = a weak brake (median raphe →
    #: dorsal hippocampus) [S: Invernizzi et al. 1992, 1995, 1997].
    raphe_non_sert_clearance: float
    #: Strength of the forebrain 5-HT1A feedback on release here (postsynaptic
    #: receptors, long loop to the raphe); 0 = none [S: Casanovas et al. 1999, present
    #: in mPFC, absent in dorsal hippocampus].
    postsynaptic_1a_gain: float = 0.0
    #: Terminal (5-HT1B-type) autoreceptor: 1/(relative 5-HT at half inhibition); 0 = none.
    #: No drug in the table acts on it.
    terminal_autoreceptor: float = 0.0
    #: Share of the chronic desensitisation that reaches this region's 5-HT1A control
    #: (0: dorsal hippocampus unchanged after chronic citalopram [S: Invernizzi 1995]).
    desensitisation_weight: float = 1.0
    #: Scale of drugs' catecholamine actions here (prefrontal cortex = 1).
    catecholamine_response: float = 1.0
    #: Basal extracellular levels of the other analytes (nM).
    other_nM: Mapping[str, float] = field(default_factory=dict)


REGIONS: Mapping[str, RegionParams] = MappingProxyType({
    # Refitted (docs/studies.md): a 5-HT1A agonist leaves the impulse-independent share of
    # cortical release (ipsapirone 10 mg/kg i.p. bottoms out at 27 %, the published floor of
    # 25-40 %; was 9 %), release follows firing less than linearly, and the SSRI brake
    # (raphe, forebrain loop) is stronger, so every target of docs/virtual-animal.md §5
    # stays in its band.
    "prefrontal_cortex": RegionParams(
        name="prefrontal_cortex", basal_5ht_nM=2.6, non_sert_clearance=0.113,
        firing_coupling=0.47, impulse_independent_release=0.15,
        raphe_non_sert_clearance=0.0004, postsynaptic_1a_gain=1.0, terminal_autoreceptor=0.0,
        desensitisation_weight=1.0, catecholamine_response=1.0,
        other_nM=MappingProxyType({"NA": 2.0, "DA": 1.5, "5-HIAA": 100.0}),
    ),
    "ventral_hippocampus": RegionParams(
        name="ventral_hippocampus", basal_5ht_nM=2.2, non_sert_clearance=0.111,
        firing_coupling=1.0, impulse_independent_release=0.338,
        raphe_non_sert_clearance=0.044, postsynaptic_1a_gain=0.0, terminal_autoreceptor=0.388,
        desensitisation_weight=1.0, catecholamine_response=0.3,
        other_nM=MappingProxyType({"NA": 2.5, "DA": 0.8, "5-HIAA": 120.0}),
    ),
    "dorsal_hippocampus": RegionParams(
        name="dorsal_hippocampus", basal_5ht_nM=2.3, non_sert_clearance=0.189,
        firing_coupling=1.0, impulse_independent_release=0.29,
        raphe_non_sert_clearance=0.43, postsynaptic_1a_gain=0.0, terminal_autoreceptor=0.0,
        desensitisation_weight=0.0, catecholamine_response=0.3,
        other_nM=MappingProxyType({"NA": 2.5, "DA": 0.6, "5-HIAA": 110.0}),
    ),
})


@dataclass(frozen=True)
class AnimalParams:
    """Every parameter of the model; tags and sources in ``docs/virtual-animal.md`` §4.

    Change one with ``dataclasses.replace(AnimalParams(), name=value)``.
    """

    regions: Mapping[str, RegionParams] = field(default_factory=lambda: REGIONS)
    drugs: Mapping[str, Drug] = field(default_factory=lambda: DRUGS)
    #: Fixed integration step (s).
    step_s: float = 10.0
    #: Time constant of raphe firing following its autoreceptor drive (min).
    firing_tau_min: float = 2.5
    #: Turnover rate of raphe (somatodendritic) 5-HT with SERT intact (1/min).
    raphe_turnover_per_min: float = 0.0625
    #: Share of somatodendritic 5-HT release that does not follow firing
    #: (tetrodotoxin leaves raphe dialysate 5-HT unchanged [S: Adell et al. 1993]).
    raphe_impulse_independent: float = 0.9
    #: Turnover rate of forebrain extracellular 5-HT with SERT intact (1/min).
    forebrain_turnover_per_min: float = 0.705
    #: Basal raphe 5-HT relative to its affinity for the autoreceptor (C/K): the small
    #: endogenous tone WAY-100635 removes.
    basal_autoreceptor_load: float = 0.0744
    #: Autoreceptor activation giving half-maximal inhibition of firing.
    autoreceptor_a50: float = 0.243
    #: Hill coefficient of firing inhibition by autoreceptor activation: steep, so
    #: low agonist doses do nothing and the basal tone is below threshold.
    autoreceptor_hill: float = 4.18
    #: Extra multiplier of autoreceptor sensitivity (1 = naive); a dosing history
    #: desensitises on top of it.
    autoreceptor_sensitivity: float = 1.0
    #: Basal forebrain 5-HT relative to its affinity for postsynaptic 5-HT1A receptors.
    postsynaptic_load: float = 0.077
    #: Postsynaptic activation (× region gain) giving half-maximal feedback.
    postsynaptic_a50: float = 0.0773
    #: Hill coefficient of the forebrain feedback.
    postsynaptic_hill: float = 40.0
    #: Release left at full forebrain feedback in a naive animal (the loop cannot
    #: silence release); desensitisation raises it.
    postsynaptic_floor: float = 0.239
    #: Time constant of the forebrain feedback loop (min).
    postsynaptic_tau_min: float = 3.0
    #: Hill coefficient of terminal autoreceptor inhibition.
    terminal_hill: float = 4.0
    #: Time constant of dialysate 5-HIAA following its formation rate (min): slow.
    metabolite_tau_min: float = 71.0
    #: Share of 5-HIAA formation that does not follow firing.
    metabolite_impulse_independent: float = 0.399
    #: Share of 5-HIAA formed from re-uptaken 5-HT (blocked by an SSRI).
    metabolite_reuptake_share: float = 0.144
    #: Time constant of NA and DA following a drug's catecholamine action (min).
    catecholamine_tau_min: float = 15.0
    #: Maximal 5-HT1A desensitisation (fraction of sensitivity lost) after a dosing history.
    desensitisation_max: float = 0.7
    #: Days of full SERT occupancy to reach 1 - 1/e of the maximal desensitisation.
    desensitisation_onset_days: float = 3.0
    #: Days for desensitisation to recover to 1/e after the last dose.
    desensitisation_recovery_days: float = 10.0
    #: Probe mass-transfer coefficient K (µL/min) of recovery = 1 - exp(-K / flow):
    #: 0.223 gives 20 % at 1 µL/min and 10.5 % at 2 µL/min (domain.md: 10-20 % [I]).
    probe_mass_transfer_uL_min: float = 0.223
    #: Fraction of a reverse-dialysed perfusate concentration reaching tissue.
    reverse_dialysis_delivery: float = 0.15
    #: Time constant of local tissue loading / washout during reverse dialysis (min).
    reverse_dialysis_tau_min: float = 5.0
    #: Slow biological fluctuation of every analyte: relative SD and correlation time (min).
    biological_cv: float = 0.04
    biological_tau_min: float = 20.0
    #: Between-animal spread of basal levels (log-normal SD), clipped to the range below
    #: (× the region's typical level).
    between_animal_cv: float = 0.35
    between_animal_clip: tuple[float, float] = (0.63, 1.7)
    #: Between-animal spread of the drug response and of the probe: log-normal SDs of
    #: per-animal factors (1 for the typical animal), each drawn from the seed and clipped
    #: at ± ``between_animal_response_clip`` SD. Sized so that groups of 5-9 animals have
    #: SEMs of 10-25 % of the mean effect, as the ipsapirone/SSRI microdialysis studies
    #: report [I: values; S: the spread, docs/studies.md]. Exposure: the free brain (or
    #: local) concentration of every drug (absorption, clearance, brain uptake).
    between_animal_exposure_cv: float = 0.25
    #: 5-HT1A autoreceptor sensitivity (receptor density, coupling).
    between_animal_sensitivity_cv: float = 0.3
    #: The non-SERT share of 5-HT clearance at the probe (SERT density): the ceiling of an
    #: SSRI's rise.
    between_animal_clearance_cv: float = 0.1
    #: The impulse-independent share of release at the probe, the floor of a 5-HT1A
    #: agonist's fall (terminal field and probe placement): SD on the logit scale.
    between_animal_release_logit_sd: float = 1.0
    #: The probe's mass-transfer coefficient (membrane, tissue around it): in vivo recovery
    #: differs between probes of one batch.
    between_animal_recovery_cv: float = 0.15
    between_animal_response_clip: float = 2.0


_CHUNK = 4096  # noise steps generated per seeded chunk
#: The random stream of the per-animal response and probe factors (streams 0-3: basal
#: factors, noise). Any number would do; this one keeps the seeds that the simulator tests
#: name (1, 2, 4) inside those tests' fixed bands.
_RESPONSE_STREAM = 9
_MIN_PER_DAY = 1440.0


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

    Animals differ in basal levels, and — every seed but 0, which responds as the typical
    animal — in drug exposure, autoreceptor sensitivity, non-SERT clearance,
    impulse-independent release and probe recovery (``AnimalParams.between_animal_*``),
    so a group of seeds spreads as a group of rats does.

    ``history`` is the dosing before the session (e.g. 14 days of an SSRI): it
    sets the 5-HT1A desensitisation and leaves its residual drug. Times are
    session seconds (t < 0 is treated as t = 0, the steady state the animal
    arrives in). Query with scalars or numpy arrays.
    """

    def __init__(
        self,
        region: str = "prefrontal_cortex",
        seed: int = 0,
        params: AnimalParams | None = None,
        history: Iterable[Regimen] = (),
    ) -> None:
        self.params = params or AnimalParams()
        self.region = self.params.regions[lookup(region, self.params.regions, "region")]
        self.seed = int(seed)
        #: Seed 0 responds as the typical animal (a study's group mean: every response and
        #: probe factor 1); any other seed is one individual of a cohort.
        self.typical = self.seed == 0
        p = self.params
        lo, hi = p.between_animal_clip
        z = np.random.default_rng([self.seed, 0]).normal(size=1 + len(_OTHERS))
        factors = np.clip(np.exp(p.between_animal_cv * z), lo, hi)
        #: This animal's basal 5-HT factor (log-normal, clipped) and those of the others.
        self.basal_factor = float(factors[0])
        self.other_factors = {name: float(f) for name, f in zip(_OTHERS, factors[1:])}
        #: This animal's response and probe factors (1 = typical), see ``AnimalParams``.
        self.factors = self._individual()
        f = self.factors
        r = self.region
        b = r.impulse_independent_release
        self.region = replace(
            r, non_sert_clearance=min(r.non_sert_clearance * f["clearance"], 0.9),
            impulse_independent_release=b * f["release"] / (1.0 - b + b * f["release"]))
        # The basal dialysate (basal level × recovery) stays in the basal clip range: the
        # cohort's spread of dialysate levels is the published one, recovery a share of it.
        recovery = float(np.clip(self.basal_factor * f["recovery"], lo, hi)) / self.basal_factor
        f["recovery"] = recovery
        self._mass_transfer = p.probe_mass_transfer_uL_min * recovery
        self.history: tuple[Regimen, ...] = tuple(history)
        self.doses: list[Dose] = []
        self._terms: list[_DoseTerms] = []
        for regimen in self.history:
            for dose in regimen.doses():
                self._terms.append(self._resolve(dose))
        self._noise_chunks: dict[tuple[int, int], np.ndarray] = {}
        self._eta0 = np.random.default_rng([self.seed, 2]).normal(size=1 + len(_OTHERS))
        load = p.basal_autoreceptor_load
        self._gnorm = 1.0 + (load / (1.0 + load) / p.autoreceptor_a50) ** p.autoreceptor_hill
        #: Fraction of 5-HT1A sensitivity lost to the dosing history (0 = naive).
        self.desensitisation = self._desensitisation()
        w = self.region.desensitisation_weight
        self._sens_raphe = (p.autoreceptor_sensitivity * self.factors["sensitivity"]
                            * (1.0 - self.desensitisation * w))
        self._sens_post = 1.0 - self.desensitisation * w
        lp = p.postsynaptic_load
        self._post0 = self.region.postsynaptic_1a_gain * lp / (1.0 + lp)
        self._post_norm = 1.0 + (self._post0 / p.postsynaptic_a50) ** p.postsynaptic_hill
        #: Deepest cut of the forebrain loop: down-regulated receptors lose efficacy too.
        self._post_depth = (1.0 - p.postsynaptic_floor) * self._sens_post
        kb = self.region.terminal_autoreceptor
        self._term_norm = 1.0 + kb ** p.terminal_hill
        self._c0 = self.region.basal_5ht_nM * self.basal_factor
        self._reset()

    # -- public API ---------------------------------------------------------
    def administer(self, dose: Dose) -> None:
        """Give ``dose`` (its ``minute`` is session time); the model re-integrates from then."""
        term = self._resolve(dose)
        self.doses.append(dose)
        self._terms.append(term)
        keep = math.floor(max(dose.time_s, 0.0) / self.params.step_s) + 1
        self._truncate(keep)

    def end_reverse_dialysis(self, drug: str, t: float) -> None:
        """Switch the perfusate back to plain aCSF at session time ``t`` (s) for ``drug``.

        Every reverse-dialysis dose of ``drug`` running at ``t`` ends then (its local
        level washes out); the model re-integrates from ``t``.
        """
        key = canonical_drug(drug, self.params.drugs)
        changed = False
        for i, term in enumerate(self._terms):
            d = term.dose
            if term.drug.name == key and d.route == "rd" and d.time_s < t < d.until_s:
                ended = replace(d, until_minute=t / 60.0)
                self._terms[i] = _DoseTerms(ended, term.drug)
                self.doses = [ended if x is d else x for x in self.doses]
                changed = True
        if changed:
            self._truncate(math.floor(max(t, 0.0) / self.params.step_s) + 1)

    @property
    def basal_extracellular_nM(self) -> float:
        """Drug-free steady-state extracellular 5-HT of this animal (nM)."""
        return self._c_basal

    def extracellular_nM(self, t: np.ndarray | float) -> np.ndarray:
        """Extracellular 5-HT (nM) at session time(s) ``t`` (s)."""
        return self._interp(t, "c")

    def firing(self, t: np.ndarray | float) -> np.ndarray:
        """Firing of the raphe neurons projecting to the probe region, relative to naive."""
        return self._interp(t, "f")

    def relative_level(self, analyte: str, t: np.ndarray | float) -> np.ndarray:
        """Extracellular level of ``analyte`` relative to its naive basal (1 = basal)."""
        if analyte == "5-HT":
            return self.extracellular_nM(t) / self._c0
        if analyte not in _OTHERS:
            raise ValueError(f"unknown analyte {analyte!r} (known: {', '.join(ANALYTES)})")
        return self._interp(t, analyte)

    def recovery(self, flow_uL_min: np.ndarray | float) -> np.ndarray:
        """Probe recovery (fraction) at ``flow_uL_min`` (this animal's probe)."""
        return probe_recovery(flow_uL_min, self._mass_transfer)

    def dialysate_nM(self, t: np.ndarray | float, flow_uL_min: np.ndarray | float) -> np.ndarray:
        """Dialysate 5-HT (nM) leaving the probe at ``t`` with perfusion ``flow_uL_min``."""
        return self.extracellular_nM(t) * self.recovery(flow_uL_min)

    def dialysate_all_nM(
        self, t: np.ndarray | float, flow_uL_min: np.ndarray | float
    ) -> dict[str, np.ndarray]:
        """Dialysate concentration (nM) of every analyte in ``ANALYTES``."""
        t = np.asarray(t, dtype=float)
        rec = self.recovery(flow_uL_min) * np.ones_like(t)
        out = {name: self.region.other_nM.get(name, 0.0) * self.other_factors[name]
               * self._interp(t, name) * rec for name in _OTHERS}
        out["5-HT"] = self.extracellular_nM(t) * rec
        return out

    # -- set-up ---------------------------------------------------------------
    _FACTORS = ("exposure", "sensitivity", "clearance", "release", "recovery")

    def _individual(self) -> dict[str, float]:
        """Per-animal factors of drug exposure, autoreceptor sensitivity, non-SERT clearance
        and probe recovery (log-normal) and the odds of impulse-independent release
        (logit-normal); all 1 when typical."""
        if self.typical:
            return dict.fromkeys(self._FACTORS, 1.0)
        p = self.params
        cvs = (p.between_animal_exposure_cv, p.between_animal_sensitivity_cv,
               p.between_animal_clearance_cv, p.between_animal_release_logit_sd,
               p.between_animal_recovery_cv)
        clip = p.between_animal_response_clip
        z = np.random.default_rng([self.seed, _RESPONSE_STREAM]).normal(size=len(cvs))
        z = np.clip(z, -clip, clip)
        return {name: float(np.exp(cv * zi)) for name, cv, zi in zip(self._FACTORS, cvs, z)}

    def _resolve(self, dose: Dose) -> _DoseTerms:
        key = canonical_drug(dose.drug, self.params.drugs)
        drug = self.params.drugs[key]
        if dose.route in SYSTEMIC_ROUTES and dose.route not in drug.absorption:
            raise ValueError(f"{key} has no absorption parameters for route {dose.route!r}")
        if dose.route not in (*SYSTEMIC_ROUTES, "rd"):
            raise ValueError(f"unknown route {dose.route!r}")
        return _DoseTerms(dose, drug)

    def _desensitisation(self) -> float:
        """5-HT1A desensitisation at session start, driven by the history's SERT occupancy.

        dD/dt = k_on · O(t) · (D_max − D) − k_off · D on a 10-min grid (days, so the
        hours of a session do not change it; it is held constant from t = 0).
        """
        terms = [t for t in self._terms if t.drug.target == SERT]
        if not terms:
            return 0.0
        p = self.params
        dt_min = 10.0
        start = min(t.dose.minute for t in terms)
        grid = np.arange(start, 0.0 + dt_min / 2, dt_min) * 60.0
        u = sum(self._dose_conc(t, grid) / t.drug.ki_nM for t in terms)
        occ = u / (1.0 + u)
        k_on = 1.0 / (p.desensitisation_onset_days * _MIN_PER_DAY)
        k_off = 1.0 / (p.desensitisation_recovery_days * _MIN_PER_DAY)
        d = 0.0
        for o in occ.tolist():
            rate = k_on * o + k_off
            d_ss = k_on * o * p.desensitisation_max / rate
            d = d_ss + (d - d_ss) * math.exp(-rate * dt_min)
        return d

    # -- integration --------------------------------------------------------
    _STATES = ("f", "xr", "hf", "c", "NA", "DA", "5-HIAA", "eta")

    def _reset(self) -> None:
        """The steady state at t = 0 (drug-free, or with the history's residual drug)."""
        p = self.params
        drive = self._drive(np.zeros(1))
        row = {k: float(v[0]) for k, v in drive.items()}
        state = {"f": 1.0, "xr": 1.0, "hf": 1.0, "c": self._c0}
        for _ in range(400):
            state = self._settle(state, row, damping=0.5)
        free = self._settle_free()
        self._c_basal = free["c"]
        self._t = np.zeros(1)
        self._series = {name: np.array([state[name]]) for name in ("f", "xr", "hf", "c")}
        self._series["NA"] = np.array([row["na"]])
        self._series["DA"] = np.array([row["da"]])
        self._series["5-HIAA"] = np.array([self._metabolite_rate(state, row)])
        self._series["eta"] = np.array([self._eta0[0] * p.biological_cv])
        self._series["noise"] = (self._eta0[1:] * p.biological_cv)[:, None]

    def _settle_free(self) -> dict[str, float]:
        row = {"ur": 0.0, "eur": 0.0, "uf": 0.0, "euf": 0.0, "occ_sys": 0.0, "occ_loc": 0.0,
               "na": 1.0, "da": 1.0, "brake": 1.0}
        state = {"f": 1.0, "xr": 1.0, "hf": 1.0, "c": self._c0}
        for _ in range(400):
            state = self._settle(state, row, damping=0.5)
        return state

    def _settle(self, s: dict[str, float], row: dict[str, float], damping: float) -> dict[str, float]:
        """One damped fixed-point step towards the steady state for constant drug terms."""
        p, r = self.params, self.region
        f = self._firing_target(s["xr"], row["ur"], row["eur"], row["brake"])
        cr = r.raphe_non_sert_clearance + (1 - r.raphe_non_sert_clearance) * (1 - row["occ_sys"])
        xr = (p.raphe_impulse_independent + (1 - p.raphe_impulse_independent) * f) / cr
        hf = self._post_target(s["c"], row["uf"], row["euf"])
        cf = r.non_sert_clearance + (1 - r.non_sert_clearance) * (1 - row["occ_loc"])
        c = self._c0 * self._release(f, hf, s["c"]) / cf
        new = {"f": f, "xr": xr, "hf": hf, "c": c}
        return {k: damping * s[k] + (1 - damping) * new[k] for k in new}

    def _firing_target(self, xr: float, u: float, eu: float, brake: float) -> float:
        p = self.params
        u5 = p.basal_autoreceptor_load * xr
        act = self._sens_raphe * (u5 * brake + eu) / (1.0 + u5 + u)
        return self._gnorm / (1.0 + (act / p.autoreceptor_a50) ** p.autoreceptor_hill)

    def _post_target(self, c: float, u: float, eu: float) -> float:
        p, gain = self.params, self.region.postsynaptic_1a_gain
        if gain == 0.0:
            return 1.0
        u5 = p.postsynaptic_load * c / self._c0
        act = gain * self._sens_post * (u5 + eu) / (1.0 + u5 + u)
        g = self._post_norm / (1.0 + (act / p.postsynaptic_a50) ** p.postsynaptic_hill)
        return 1.0 - self._post_depth * (1.0 - g)

    def _terminal(self, c: float) -> float:
        kb = self.region.terminal_autoreceptor
        if kb == 0.0:
            return 1.0
        return self._term_norm / (1.0 + (kb * c / self._c0) ** self.params.terminal_hill)

    def _release(self, f: float, hf: float, c: float) -> float:
        """Release relative to naive basal: impulse-independent + firing-driven part."""
        b = self.region.impulse_independent_release
        return b + (1.0 - b) * f ** self.region.firing_coupling * hf * self._terminal(c)

    def _metabolite_rate(self, s: dict[str, float], row: dict[str, float]) -> float:
        p = self.params
        drive = s["f"] ** self.region.firing_coupling * s["hf"] * self._terminal(s["c"])
        bh, w = p.metabolite_impulse_independent, p.metabolite_reuptake_share
        return (bh + (1 - bh) * drive) * (1 - w * row["occ_loc"])

    def _truncate(self, keep: int) -> None:
        keep = max(1, min(keep, len(self._t)))
        self._t = self._t[:keep]
        self._series = {k: v[..., :keep] for k, v in self._series.items()}

    def _noise(self, stream: int, k0: int, n: int) -> np.ndarray:
        """Standard normals of ``stream`` for steps k0..k0+n-1, in seeded fixed chunks."""
        out = np.empty(n)
        k = k0
        while k < k0 + n:
            c, off = divmod(k, _CHUNK)
            chunk = self._noise_chunks.get((stream, c))
            if chunk is None:
                key = [self.seed, 1, c] if stream == 0 else [self.seed, 3, stream, c]
                chunk = np.random.default_rng(key).standard_normal(_CHUNK)
                self._noise_chunks[(stream, c)] = chunk
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
        exposure = self.factors["exposure"]
        if d.route == "rd":
            level = d.amount * 1000.0 * p.reverse_dialysis_delivery * exposure
            t_on = p.reverse_dialysis_tau_min
            end = (d.until_s - d.time_s) / 60.0
            rise = -np.expm1(-np.minimum(tau, end) / t_on)
            fall = np.exp(-np.maximum(tau - end, 0.0) / t_on)
            return np.where(after, level * rise * fall, 0.0)
        a = drug.absorption[d.route]
        ka, ke = a.ka_per_min, drug.ke_per_min
        scale = (d.amount * a.bioavailability * drug.plasma_nM_per_mg_kg()
                 * drug.brain_free_ratio * exposure)
        if abs(ka - ke) < 1e-12:
            shape = ka * tau * np.exp(-ke * tau)
        else:
            shape = ka / (ka - ke) * (np.exp(-ke * tau) - np.exp(-ka * tau))
        return np.where(after, scale * shape, 0.0)

    def _drive(self, t: np.ndarray) -> dict[str, np.ndarray]:
        """Drug terms on grid times ``t``: 5-HT1A loads, SERT occupancies, NA/DA targets."""
        zero = np.zeros_like(t)
        ur, eur, uf, euf = zero.copy(), zero.copy(), zero.copy(), zero.copy()
        u_sys, u_loc = zero.copy(), zero.copy()
        na, da, relief = np.ones_like(t), np.ones_like(t), np.zeros_like(t)
        gain = self.region.catecholamine_response
        for term in self._terms:
            drug = term.drug
            if drug.target is None and drug.secondary is None:
                continue
            conc = self._dose_conc(term, t)
            if not conc.any():
                continue
            systemic = term.dose.route in SYSTEMIC_ROUTES
            if drug.target is not None:
                u = conc / drug.ki_nM
                if drug.target == HT1A:
                    uf += u
                    euf += drug.forebrain_efficacy * u
                    if systemic:
                        ur += u
                        eur += drug.efficacy * u
                elif drug.target == SERT:
                    u_loc += u
                    if systemic:
                        u_sys += u
            action = drug.secondary
            if action is not None:
                x = (conc / action.ec50_nM) ** action.hill
                effect = x / (1.0 + x)
                da += gain * action.da_max * effect
                na += gain * action.na_max * effect
                if systemic:
                    relief += action.brake_relief * effect
        return {
            "ur": ur, "eur": eur, "uf": uf, "euf": euf,
            "occ_sys": u_sys / (1.0 + u_sys), "occ_loc": u_loc / (1.0 + u_loc),
            "na": na, "da": da, "brake": 1.0 - np.minimum(relief, 1.0),
        }

    def _extend(self, t_end: float) -> None:
        """Integrate the grid forward so it covers ``t_end`` (s)."""
        p, r = self.params, self.region
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
        fr, ff = r.raphe_non_sert_clearance, r.non_sert_clearance
        clear_r = fr + (1.0 - fr) * (1.0 - drive["occ_sys"])
        clear_f = ff + (1.0 - ff) * (1.0 - drive["occ_loc"])
        decay_r = np.exp(-p.raphe_turnover_per_min * clear_r * dt_min)
        decay_f = np.exp(-p.forebrain_turnover_per_min * clear_f * dt_min)
        reuptake = 1.0 - p.metabolite_reuptake_share * drive["occ_loc"]
        a_f = math.exp(-dt_min / p.firing_tau_min)
        a_l = math.exp(-dt_min / p.postsynaptic_tau_min)
        a_h = math.exp(-dt_min / p.metabolite_tau_min)
        a_eta = math.exp(-dt_min / p.biological_tau_min)
        s_eta = p.biological_cv * math.sqrt(1.0 - a_eta * a_eta)
        z = self._noise(0, k0 + 1, n)

        # Catecholamines and the other analytes' noise are linear filters of known inputs.
        a_ca = math.exp(-dt_min / p.catecholamine_tau_min)
        s = self._series
        na = _relax(drive["na"], float(s["NA"][-1]), a_ca)
        da = _relax(drive["da"], float(s["DA"][-1]), a_ca)
        noise = np.empty((len(_OTHERS), n))
        for i in range(len(_OTHERS)):
            noise[i] = _ou(self._noise(i + 1, k0 + 1, n), float(s["noise"][i, -1]), a_eta, s_eta)

        load, sens, a50 = p.basal_autoreceptor_load, self._sens_raphe, p.autoreceptor_a50
        hill, gnorm, rho = p.autoreceptor_hill, self._gnorm, p.raphe_impulse_independent
        beta, c0, b = r.firing_coupling, self._c0, r.impulse_independent_release
        gain_f = r.postsynaptic_1a_gain * self._sens_post
        lp, pa50, ph = p.postsynaptic_load / c0, p.postsynaptic_a50, p.postsynaptic_hill
        pnorm, depth = self._post_norm, self._post_depth
        kb, tn, th = r.terminal_autoreceptor / c0, self._term_norm, p.terminal_hill
        bh = p.metabolite_impulse_independent
        f, xr, hf, c, h, eta = (float(s[k][-1]) for k in ("f", "xr", "hf", "c", "5-HIAA", "eta"))
        out = np.empty((6, n))
        rows = zip(drive["ur"].tolist(), drive["eur"].tolist(), drive["uf"].tolist(),
                   drive["euf"].tolist(), clear_r.tolist(), clear_f.tolist(), decay_r.tolist(),
                   decay_f.tolist(), reuptake.tolist(), drive["brake"].tolist(), z.tolist())
        for i, (ur, eur, uf, euf, cr, cf, dr, df, ru, br, zi) in enumerate(rows):
            u5 = load * xr
            act = sens * (u5 * br + eur) / (1.0 + u5 + ur)
            g = gnorm / (1.0 + (act / a50) ** hill)
            f = g + (f - g) * a_f
            xr_ss = (rho + (1.0 - rho) * f) / cr
            xr = xr_ss + (xr - xr_ss) * dr
            if gain_f:
                u5f = lp * c
                act_f = gain_f * (u5f + euf) / (1.0 + u5f + uf)
                hf_ss = 1.0 - depth * (1.0 - pnorm / (1.0 + (act_f / pa50) ** ph))
                hf = hf_ss + (hf - hf_ss) * a_l
            fire = f ** beta * hf
            if kb:
                fire *= tn / (1.0 + (kb * c) ** th)
            eta = eta * a_eta + s_eta * zi
            c_ss = c0 * (b + (1.0 - b) * fire) * (1.0 + eta) / cf
            c = c_ss + (c - c_ss) * df
            h_ss = (bh + (1.0 - bh) * fire) * ru
            h = h_ss + (h - h_ss) * a_h
            out[:, i] = (f, xr, hf, c, h, eta)
        self._t = np.concatenate([self._t, t])
        for j, name in enumerate(("f", "xr", "hf", "c", "5-HIAA", "eta")):
            s[name] = np.concatenate([s[name], out[j]])
        s["NA"] = np.concatenate([s["NA"], na])
        s["DA"] = np.concatenate([s["DA"], da])
        s["noise"] = np.concatenate([s["noise"], noise], axis=1)

    def _interp(self, t: np.ndarray | float, name: str) -> np.ndarray:
        t = np.maximum(np.asarray(t, dtype=float), 0.0)
        if t.size:
            self._extend(float(t.max()))
        s = self._series
        if name in _OTHERS:
            series = s[name] * (1.0 + s["noise"][_OTHERS.index(name)])
        else:
            series = s[name]
        return np.interp(t, self._t, series)


def _relax(target: np.ndarray, start: float, a: float) -> np.ndarray:
    """x_k = target_k + (x_{k-1} - target_k) · a: first-order lag of ``target``."""
    return lfilter([1.0 - a], [1.0, -a], target, zi=[a * start])[0]


def _ou(z: np.ndarray, start: float, a: float, s: float) -> np.ndarray:
    """Ornstein-Uhlenbeck recursion x_k = a · x_{k-1} + s · z_k."""
    return lfilter([s], [1.0, -a], z, zi=[a * start])[0]
