"""Sessions written straight from the virtual animal's model, through the session file layout
(``Session`` and the records), without the simulated rig: the fast path of the study tests.

Each sample is the animal's mean dialysate 5-HT over the sample's probe-time window, with a
measurement error (CV 3 %); its % of baseline is against the mean of the baseline samples
that no flag excludes, as the analysis core defines it. The slow end-to-end test records
real sessions through the simulated rig instead.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from raphe.acquisition.analysis import flags as fl
from raphe.acquisition.session import Session
from raphe.records import Event, Injection, SampleResult, percent
from raphe.simulators.animal import VirtualAnimal
from raphe.simulators.drugs import Dose

ROUTE_TEXT = {"ip": "i.p.", "sc": "s.c."}


def write_session(path: Path, animal_id: str, drug: str, dose: float, route: str,
                  region: str, seed: int, *, baseline: int = 3, post: int = 9,
                  interval_min: float = 20.0, flow: float = 1.0, dead_volume_uL: float = 5.0,
                  flagged: dict[str, str] | None = None, missing: tuple[str, ...] = (),
                  cv: float = 0.03) -> Path:
    """One systemic-drug session: ``baseline`` samples B1…, the drug, ``post`` samples P1….

    ``flagged``: sample id → flags it carries (excluding flags leave it out of % baseline);
    ``missing``: sample ids not injected at all.
    """
    flagged = flagged or {}
    animal = VirtualAnimal(region.replace("-", "_"), seed=seed)
    interval = interval_min * 60.0
    equilibration = 3600.0
    t_drug = equilibration + baseline * interval
    animal.administer(Dose(drug if drug != "vehicle" else "vehicle", dose, route,
                           t_drug / 60.0))
    delay = dead_volume_uL / flow * 60.0
    rng = np.random.default_rng([seed, 99])
    labels = [f"B{i + 1}" for i in range(baseline)] + [f"P{i + 1}" for i in range(post)]
    samples = []
    for k, label in enumerate(labels):
        start = equilibration + k * interval
        end = start + interval
        p0, p1 = start - delay, end - delay
        t = np.linspace(p0, p1, 41)
        nM = float(animal.dialysate_nM(t, flow).mean()) * (1.0 + cv * rng.standard_normal())
        samples.append((label, end, p0, p1, nM, label.startswith("B")))
    base = [nM for label, _, _, _, nM, is_base in samples
            if is_base and label not in missing
            and not fl.excludes(fl.parse(flagged.get(label, "")))]
    mean = float(np.mean(base)) if base else math.nan
    params = {"drug": {"unit": "", "value": drug}, "dose_mg_kg": {"unit": "mg/kg", "value": dose},
              "route": {"unit": "", "value": route}, "region": {"unit": "", "value": region},
              "interval_min": {"unit": "min", "value": interval_min}}
    with Session.create(path, animal_id=animal_id, signal_dt=0.1,
                        protocol={"name": "Systemic drug", "parameters": params}) as s:
        s.add_event(Event(t_drug, "drug", f"{drug} {dose:g} mg/kg {ROUTE_TEXT[route]}",
                          "simulator"))
        for label, t_inj, p0, p1, nM, is_base in samples:
            if label in missing:
                continue
            flags = fl.order_flags(fl.parse(flagged.get(label, "")))
            excluded = fl.excludes(flags)
            s.add_injection(Injection(t_inj, label, 20.0, probe_start_s=p0, probe_end_s=p1))
            pct = math.nan if excluded else percent(nM, mean)
            s.add_result(SampleResult(label, t_inj, "5-HT", 600.0, 0.1 * nM * 20, 0.01, 20.0,
                                      math.nan if "not_found" in flags else nM, nM * 20.0,
                                      pct, ",".join(flags), probe_t=(p0 + p1) / 2,
                                      baseline=int(is_base)))
    return path


#: The issue's study: vehicle, ipsapirone 1 mg/kg s.c. in ventral hippocampus, fluoxetine
#: 10 mg/kg i.p. in prefrontal cortex.
GROUPS = (("vehicle", 0.0, "ip", "prefrontal-cortex"),
          ("ipsapirone", 1.0, "sc", "ventral-hippocampus"),
          ("fluoxetine", 10.0, "ip", "prefrontal-cortex"))


def write_study(folder: Path, n: int = 6, first_seed: int = 1, **kw) -> list[Path]:
    """``n`` animals per group of ``GROUPS``, seeds from ``first_seed`` (one per animal)."""
    paths, seed = [], first_seed
    for drug, dose, route, region in GROUPS:
        for i in range(n):
            name = f"{drug[:3]}{i + 1:02d}"
            extra = kw.get(name, {})
            paths.append(write_session(folder / f"{name}.h5", name, drug, dose, route, region,
                                       seed, **extra))
            seed += 1
    return paths
