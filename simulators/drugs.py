"""The drug table of the virtual animal, and the dose specification it is driven by.

Every number is a named field so a test or a user can change it with
``dataclasses.replace``. Tags in the docstrings and in ``Drug.notes``:

- **[S]** sourced in ``reference/seed-ipsapirone-vs-ssris.txt`` (Ki table) or
  ``reference/analysis.md`` §B (drug effects);
- **[F]** a chemical fact (molar mass of the free base, from the molecular formula);
- **[I]** inferred: chosen so the modelled time courses land in the bands of
  ``reference/domain.md``. Never trust an [I] value as pharmacology.

Pharmacokinetics are linear (one compartment, first-order absorption for
i.p./s.c.), so doses superpose. Brain free concentration = plasma total
concentration × ``brain_free_ratio``. Reverse dialysis delivers the drug only
at the probe: the dose number is then the perfusate concentration in µM.

A ``Regimen`` is a dosing history before the session (days of repeated
doses); the animal turns it into autoreceptor desensitisation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from raphe.names import lookup, spelling

#: Routes: "ip" intraperitoneal, "sc" subcutaneous, "rd" reverse dialysis through the probe.
ROUTES = ("ip", "sc", "rd")
SYSTEMIC_ROUTES = ("ip", "sc")

_ROUTE_ALIASES = {
    "ip": "ip", "i.p.": "ip", "i.p": "ip", "intraperitoneal": "ip",
    "sc": "sc", "s.c.": "sc", "s.c": "sc", "subcutaneous": "sc",
    "rd": "rd", "reverse-dialysis": "rd", "reverse_dialysis": "rd", "local": "rd",
}

#: Targets a drug can act on.
SERT = "SERT"
HT1A = "5-HT1A"


@dataclass(frozen=True)
class Absorption:
    """First-order absorption from a systemic injection site [I]."""

    ka_per_min: float
    bioavailability: float = 1.0


@dataclass(frozen=True)
class SecondaryAction:
    """A drug's lumped action besides its primary target, e.g. fluoxetine's 5-HT2C antagonism.

    Its effect E = x / (1 + x), x = (C / ``ec50_nM``) ** ``hill`` of the free brain
    concentration C, raises extracellular DA and NA by ``da_max`` · E and ``na_max`` · E
    (× the region's ``catecholamine_response``; 0.67 = +67 %) and removes the share
    ``brake_relief`` · E of the raphe brake that endogenous 5-HT exerts on 5-HT neurons
    (its 5-HT2C-mediated part). Fluoxetine raises prefrontal DA independently of 5-HT,
    citalopram only at 25 mg/kg [S: Pozzi et al. 1999]; 5-HT2C antagonists augment
    citalopram's 5-HT rise but not fluoxetine's [S: Cremers et al. 2004].
    """

    ec50_nM: float
    hill: float = 1.0
    da_max: float = 0.0
    na_max: float = 0.0
    brake_relief: float = 0.0


@dataclass(frozen=True)
class Drug:
    """One drug: its target, affinity, efficacy and pharmacokinetics.

    ``efficacy`` is the intrinsic efficacy at the raphe 5-HT1A autoreceptor
    relative to 5-HT (1 = full agonist, 0 = silent antagonist); it is unused
    for SERT blockers. ``postsynaptic_efficacy`` is the same at forebrain
    (postsynaptic) 5-HT1A receptors, where partial agonists act less (None = as
    ``efficacy``). ``brain_free_ratio`` converts total plasma concentration
    into the free brain concentration that occupies the target.
    """

    name: str
    target: str | None
    ki_nM: float
    efficacy: float
    molar_mass_g_mol: float
    half_life_min: float
    vd_L_per_kg: float
    brain_free_ratio: float
    absorption: Mapping[str, Absorption] = field(default_factory=dict)
    secondary: SecondaryAction | None = None
    postsynaptic_efficacy: float | None = None
    notes: str = ""

    @property
    def forebrain_efficacy(self) -> float:
        """Intrinsic efficacy at forebrain (postsynaptic) 5-HT1A receptors."""
        return self.efficacy if self.postsynaptic_efficacy is None else self.postsynaptic_efficacy

    @property
    def ke_per_min(self) -> float:
        """First-order elimination rate constant (1/min)."""
        return math.log(2.0) / self.half_life_min

    def plasma_nM_per_mg_kg(self) -> float:
        """Plasma concentration (nM) of 1 mg/kg fully absorbed into ``vd_L_per_kg``."""
        return 1e6 / (self.molar_mass_g_mol * self.vd_L_per_kg)


def _abs(ip: float, sc: float) -> Mapping[str, Absorption]:
    return MappingProxyType({"ip": Absorption(ip), "sc": Absorption(sc)})


#: The drug table. Ki values for ipsapirone and the five SSRIs are [S] (seed
#: Table 1); every PK value, the efficacies and the Ki of 8-OH-DPAT and
#: WAY-100635 are [I]. Half-lives and absorption rates set the timing: SSRI
#: peaks 40-120 min after i.p., 5-HT1A agonist troughs 20-60 min after s.c. [I].
DRUGS: Mapping[str, Drug] = MappingProxyType({
    "vehicle": Drug(
        name="vehicle", target=None, ki_nM=math.inf, efficacy=0.0, molar_mass_g_mol=1.0,
        half_life_min=60.0, vd_L_per_kg=1.0, brain_free_ratio=0.0,
        absorption=_abs(0.05, 0.05),
        notes="saline; no target. The injection itself has no modelled effect [I].",
    ),
    "ipsapirone": Drug(
        name="ipsapirone", target=HT1A, ki_nM=10.0, efficacy=0.701, molar_mass_g_mol=401.5,
        half_life_min=45.0, vd_L_per_kg=3.0, brain_free_ratio=0.0449,
        absorption=_abs(0.10, 0.08), postsynaptic_efficacy=0.072,
        notes="Ki 10 nM [S]; partial agonist, efficacy 0.70 at the autoreceptor [I: fitted; the "
        "seed says it 'may act as a full agonist' presynaptically] and 0.072 postsynaptically, "
        "about the activation basal 5-HT gives there [I; S: seed, postsynaptic partial "
        "agonism does not change dialysate 5-HT]; MW [F]; "
        "PK [I]. Raphe firing ED50 0.125 mg/kg [S: Basse-Tomusk & Rebec 1986].",
    ),
    "8-oh-dpat": Drug(
        name="8-oh-dpat", target=HT1A, ki_nM=1.0, efficacy=1.0, molar_mass_g_mol=247.4,
        half_life_min=40.0, vd_L_per_kg=5.0, brain_free_ratio=0.00449,
        absorption=_abs(0.12, 0.10),
        notes="reference full agonist; Ki, efficacy and PK [I]; MW [F]. No effect at 0.05 mg/kg "
        "s.c., a clear fall at 0.1 in hippocampus [S: Invernizzi et al. 1995].",
    ),
    "fluoxetine": Drug(
        name="fluoxetine", target=SERT, ki_nM=2.8, efficacy=0.0, molar_mass_g_mol=309.3,
        half_life_min=360.0, vd_L_per_kg=20.0, brain_free_ratio=0.0464,
        absorption=_abs(0.0182, 0.015),
        secondary=SecondaryAction(ec50_nM=13.5, da_max=0.881, na_max=0.649, brake_relief=0.99),
        notes="Ki 2.8 nM [S]; MW [F]; PK [I]: long half-life, slow brain uptake. Secondary "
        "action [I: values; S: direction]: 5-HT2C antagonism raises prefrontal DA and NA "
        "(Pozzi et al. 1999; PMC4061036) and relieves the SSRI's raphe brake (Cremers et al. "
        "2004).",
    ),
    "citalopram": Drug(
        name="citalopram", target=SERT, ki_nM=5.7, efficacy=0.0, molar_mass_g_mol=324.4,
        half_life_min=180.0, vd_L_per_kg=21.3, brain_free_ratio=0.0419,
        absorption=_abs(0.0173, 0.03),
        secondary=SecondaryAction(ec50_nM=85.0, hill=4.0, da_max=1.6, na_max=0.8),
        notes="Ki 5.7 nM [S]; MW [F]; rat half-life 3 h and clearance 82 mL/min/kg [S: "
        "Fredricson Overø 1982], so Vd = CL · t½ / ln 2 = 21.3 L/kg; absorption and brain "
        "ratio [I]. Raises prefrontal DA at 25 but not 10 mg/kg [S: Pozzi et al. 1999]: a "
        "steep secondary action [I].",
    ),
    "paroxetine": Drug(
        name="paroxetine", target=SERT, ki_nM=0.1, efficacy=0.0, molar_mass_g_mol=329.4,
        half_life_min=240.0, vd_L_per_kg=15.0, brain_free_ratio=0.0005,
        absorption=_abs(0.05, 0.04),
        notes="Ki 0.1 nM [S]; MW [F]; PK [I].",
    ),
    "sertraline": Drug(
        name="sertraline", target=SERT, ki_nM=0.4, efficacy=0.0, molar_mass_g_mol=306.2,
        half_life_min=240.0, vd_L_per_kg=25.0, brain_free_ratio=0.002,
        absorption=_abs(0.05, 0.04),
        notes="Ki 0.4 nM [S]; MW [F]; PK [I].",
    ),
    "fluvoxamine": Drug(
        name="fluvoxamine", target=SERT, ki_nM=6.2, efficacy=0.0, molar_mass_g_mol=318.3,
        half_life_min=180.0, vd_L_per_kg=15.0, brain_free_ratio=0.01,
        absorption=_abs(0.05, 0.04),
        notes="Ki 6.2 nM [S]; MW [F]; PK [I].",
    ),
    "way-100635": Drug(
        name="way-100635", target=HT1A, ki_nM=0.4, efficacy=0.0, molar_mass_g_mol=422.6,
        half_life_min=90.0, vd_L_per_kg=4.0, brain_free_ratio=0.05,
        absorption=_abs(0.10, 0.08),
        notes="silent 5-HT1A antagonist [S: Dawson & Nguyen 1998]; Ki and PK [I]; MW [F]. "
        "Effective from 0.03 mg/kg s.c. [S].",
    ),
})

_DRUG_ALIASES = {
    "dpat": "8-oh-dpat", "8ohdpat": "8-oh-dpat", "8-ohdpat": "8-oh-dpat",
    "way": "way-100635", "way100635": "way-100635", "way-100,635": "way-100635",
    "saline": "vehicle", "veh": "vehicle",
}


def canonical_drug(name: str, drugs: Mapping[str, Drug] = DRUGS) -> str:
    """The table key for ``name`` (case-insensitive, common aliases); ValueError if unknown."""
    key = spelling(name)
    return lookup(_DRUG_ALIASES.get(key, key), drugs, "drug")


def canonical_route(name: str) -> str:
    """``"ip"``, ``"sc"`` or ``"rd"`` for a route name or alias; ValueError if unknown."""
    key = _ROUTE_ALIASES.get(name.strip().lower()) or _ROUTE_ALIASES.get(spelling(name))
    if key is None:
        raise ValueError(f"unknown route {name!r} (known: ip, sc, rd = reverse dialysis)")
    return key


@dataclass(frozen=True)
class Dose:
    """One administration: ``amount`` is mg/kg for ip/sc, perfusate µM for rd.

    ``minute`` is session time of the administration in minutes. A
    reverse-dialysis dose lasts until ``until_minute`` (None = to the end).
    """

    drug: str
    amount: float
    route: str
    minute: float
    until_minute: float | None = None

    @property
    def time_s(self) -> float:
        return self.minute * 60.0

    @property
    def until_s(self) -> float:
        return math.inf if self.until_minute is None else self.until_minute * 60.0

    @property
    def unit(self) -> str:
        return "uM perfusate" if self.route == "rd" else "mg/kg"

    def spec(self) -> str:
        """The ``DRUG:DOSE:ROUTE@MINUTE`` text this dose parses from."""
        return f"{self.drug}:{self.amount:g}:{self.route}@{self.minute:g}"

    def describe(self) -> str:
        """Human-readable line, e.g. for a session event."""
        return f"{self.drug} {self.amount:g} {self.unit} {self.route} at {self.minute:g} min"


_SPEC = re.compile(r"^(?P<drug>[^:@]+):(?P<amount>[^:@]+):(?P<route>[^:@]+)@(?P<minute>[^:@]+)$")


def _number(text: str, what: str, spec: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"dose spec {spec!r}: {what} {text.strip()!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"dose spec {spec!r}: {what} must be a finite number >= 0, got {text!r}")
    return value


def parse_dose_spec(text: str, drugs: Mapping[str, Drug] = DRUGS) -> Dose:
    """Parse ``DRUG:DOSE_MG_PER_KG:ROUTE@MINUTE`` (e.g. ``fluoxetine:10:ip@60``).

    For route ``rd`` (reverse dialysis) DOSE is the perfusate concentration in
    µM. Raises ValueError with a message naming the spec and the bad field.
    """
    spec = text.strip()
    m = _SPEC.match(spec)
    if m is None:
        raise ValueError(
            f"dose spec {text!r}: expected DRUG:DOSE:ROUTE@MINUTE, e.g. fluoxetine:10:ip@60"
        )
    try:
        drug = canonical_drug(m["drug"], drugs)
        route = canonical_route(m["route"])
    except ValueError as exc:
        raise ValueError(f"dose spec {text!r}: {exc}") from None
    amount = _number(m["amount"], "dose", spec)
    minute = _number(m["minute"], "minute", spec)
    return Dose(drug=drug, amount=amount, route=route, minute=minute)


@dataclass(frozen=True)
class Regimen:
    """A dosing history before the session: ``per_day`` doses a day for ``days`` days.

    Doses are evenly spaced over each day; the last one is given ``washout_h`` hours
    before session time 0 (24 h, as in the chronic studies the model is checked
    against). ``amount`` is mg/kg; only systemic routes make sense here.
    """

    drug: str
    amount: float
    route: str
    days: int
    per_day: int = 1
    washout_h: float = 24.0

    def doses(self) -> list[Dose]:
        """The individual doses, at negative session minutes."""
        gap_min = 1440.0 / self.per_day
        n = self.days * self.per_day
        last = -60.0 * self.washout_h
        return [Dose(self.drug, self.amount, self.route, minute=last - (n - 1 - k) * gap_min)
                for k in range(n)]

    def spec(self) -> str:
        """The ``DRUG:DOSE:ROUTE:PER_DAYxDAYS[:WASHOUT_H]`` text this regimen parses from."""
        text = f"{self.drug}:{self.amount:g}:{self.route}:{self.per_day}x{self.days}"
        return text if self.washout_h == 24.0 else f"{text}:{self.washout_h:g}"

    def describe(self) -> str:
        return (f"{self.drug} {self.amount:g} mg/kg {self.route} {self.per_day}×/day for "
                f"{self.days} days, last dose {self.washout_h:g} h before the session")


_REGIMEN = re.compile(
    r"^(?P<drug>[^:]+):(?P<amount>[^:]+):(?P<route>[^:]+):(?P<per_day>[^:x]+)x(?P<days>[^:]+)"
    r"(?::(?P<washout>[^:]+))?$"
)


def parse_regimen_spec(text: str, drugs: Mapping[str, Drug] = DRUGS) -> Regimen:
    """Parse ``DRUG:DOSE_MG_PER_KG:ROUTE:PER_DAYxDAYS[:WASHOUT_H]``.

    E.g. ``citalopram:10:ip:2x14`` is 10 mg/kg i.p. twice a day for 14 days, the last
    dose 24 h before the session. Raises ValueError naming the spec and the bad field.
    """
    spec = text.strip()
    m = _REGIMEN.match(spec)
    if m is None:
        raise ValueError(
            f"history spec {text!r}: expected DRUG:DOSE:ROUTE:PER_DAYxDAYS[:WASHOUT_H], "
            "e.g. citalopram:10:ip:2x14"
        )
    try:
        drug = canonical_drug(m["drug"], drugs)
        route = canonical_route(m["route"])
    except ValueError as exc:
        raise ValueError(f"history spec {text!r}: {exc}") from None
    if route not in SYSTEMIC_ROUTES:
        raise ValueError(f"history spec {text!r}: a dosing history needs route ip or sc")
    amount = _number(m["amount"], "dose", spec)
    per_day, days = _number(m["per_day"], "doses per day", spec), _number(m["days"], "days", spec)
    for value, what in ((per_day, "doses per day"), (days, "days")):
        if value != int(value) or not 1 <= value <= 365:
            raise ValueError(f"history spec {text!r}: {what} must be a whole number 1-365")
    washout = 24.0 if m["washout"] is None else _number(m["washout"], "washout hours", spec)
    return Regimen(drug, amount, route, days=int(days), per_day=int(per_day), washout_h=washout)
