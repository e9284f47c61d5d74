"""Virtual animals vary like real ones: group spreads of the published size, a 5-HT1A agonist
floor in prefrontal cortex, and a perfusate switch that waits for the inlet tubing."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from raphe.simulators.animal import AnimalParams, VirtualAnimal
from raphe.simulators.drugs import Dose
from raphe.simulators.world import SimulatedWorld

INTERVAL_S = 1200.0
DOSE_MIN = 80.0
PFC, VH = "prefrontal_cortex", "ventral_hippocampus"


def course(region: str, dose: Dose, seed: int, params: AnimalParams | None = None) -> np.ndarray:
    """% of baseline of the post-dose 20-min samples (the three before the dose = 100 %)."""
    animal = VirtualAnimal(region, seed=seed, params=params)
    animal.administer(dose)
    starts = np.arange(14) * INTERVAL_S
    fine = starts[:, None] + np.linspace(0, INTERVAL_S, 41)[None, :]
    level = animal.dialysate_nM(fine, 1.0).mean(axis=1)
    pct = 100.0 * level / level[1:4].mean()
    return pct[4:]


def effects(region: str, dose: Dose, sign: int, seeds=range(1, 121)) -> np.ndarray:
    return np.array([sign * ((course(region, dose, s).max() if sign > 0 else
                              course(region, dose, s).min()) - 100.0) for s in seeds])


@pytest.mark.parametrize(("region", "dose", "sign"), [
    (PFC, Dose("fluoxetine", 10.0, "ip", DOSE_MIN), +1),
    (VH, Dose("ipsapirone", 1.0, "sc", DOSE_MIN), -1),
])
def test_group_sems_are_those_of_published_microdialysis_groups(region, dose, sign):
    """SEM of 10-25 % of the mean effect in groups of 5-9 (ipsapirone/SSRI literature)."""
    e = effects(region, dose, sign)
    assert (e > 0).all()  # every animal responds in the drug's direction
    cv = e.std(ddof=1) / e.mean()
    for n in (5, 6, 9):
        assert 0.10 <= cv / np.sqrt(n) <= 0.25, (n, cv)


def test_three_fluoxetine_animals_no_longer_peak_within_4_percent():
    peaks = [course(PFC, Dose("fluoxetine", 10.0, "ip", DOSE_MIN), s).max() for s in (1, 2, 3)]
    assert max(peaks) / min(peaks) > 1.1, peaks


def test_seed_0_is_the_typical_animal():
    typical = VirtualAnimal(PFC, seed=0)
    assert typical.typical and set(typical.factors.values()) == {1.0}
    assert not VirtualAnimal(PFC, seed=1).typical


def test_the_spread_can_be_switched_off():
    still = replace(AnimalParams(), between_animal_exposure_cv=0.0,
                    between_animal_sensitivity_cv=0.0, between_animal_clearance_cv=0.0,
                    between_animal_release_logit_sd=0.0, between_animal_recovery_cv=0.0,
                    biological_cv=0.0)
    peaks = []
    for seed in (1, 2, 3):
        animal = VirtualAnimal(PFC, seed=seed, params=still)
        animal.administer(Dose("fluoxetine", 10.0, "ip", 20.0))
        t = np.arange(0, 5 * 3600, 60.0)
        peaks.append(animal.extracellular_nM(t).max() / animal.basal_extracellular_nM)
    assert max(peaks) / min(peaks) == pytest.approx(1.0, abs=1e-9)


def test_a_5ht1a_agonist_in_prefrontal_cortex_stays_above_the_published_floor():
    """Ipsapirone 10 mg/kg i.p., the typical animal: 25-40 % of baseline at the nadir
    (5-HT1A agonists leave the impulse-independent part of release)."""
    typical = replace(AnimalParams(), biological_cv=0.0)  # a study's group mean
    nadir = course(PFC, Dose("ipsapirone", 10.0, "ip", DOSE_MIN), 0, typical).min()
    assert 25.0 <= nadir <= 40.0, nadir
    group = [course(PFC, Dose("ipsapirone", 10.0, "ip", DOSE_MIN), s).min()
             for s in range(1, 41)]
    assert 25.0 <= np.mean(group) <= 45.0


def test_probe_recovery_differs_between_probes():
    rec = np.array([VirtualAnimal(PFC, seed=s).recovery(1.0) for s in range(1, 60)])
    assert 0.08 < rec.std() / rec.mean() < 0.25
    assert VirtualAnimal(PFC, seed=0).recovery(1.0) == pytest.approx(
        1 - np.exp(-AnimalParams().probe_mass_transfer_uL_min))


def test_a_perfusate_switch_reaches_the_probe_after_the_inlet_dead_volume(tmp_path):
    """10 µL of inlet tubing at 2 µL/min: the drug reaches the probe 5 min after the switch,
    and so does the aCSF that ends it."""
    world = SimulatedWorld(lambda t: 2.0, seed=0, inlet_dead_volume_uL=10.0)
    world.administer(Dose("citalopram", 1.0, "rd", 0.0), t=3600.0)
    (dose,) = world.animal.doses
    assert dose.time_s == pytest.approx(3600.0 + 300.0, abs=0.01)
    world.end_reverse_dialysis("citalopram", 7200.0)
    (ended,) = world.animal.doses
    assert ended.until_s == pytest.approx(7200.0 + 300.0, abs=0.01)
    base = world.animal.extracellular_nM(3500.0)
    assert world.animal.extracellular_nM(3890.0) == pytest.approx(base, rel=0.02)
    assert world.animal.extracellular_nM(5400.0) > 1.5 * base
    no_tubing = SimulatedWorld(lambda t: 2.0, seed=0, inlet_dead_volume_uL=0.0)
    no_tubing.administer(Dose("citalopram", 1.0, "rd", 0.0), t=3600.0)
    assert no_tubing.animal.doses[0].time_s == 3600.0


def test_a_switch_with_the_pump_stopped_never_reaches_the_probe():
    world = SimulatedWorld(lambda t: 0.0, seed=0)
    world.administer(Dose("citalopram", 1.0, "rd", 0.0), t=600.0)
    assert world.animal.doses == []
