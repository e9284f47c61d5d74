"""The virtual animal reproduces the plausibility bands of reference/domain.md."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raphe.simulators.animal import AnimalParams, VirtualAnimal, probe_recovery
from raphe.simulators.drugs import DRUGS, Dose, parse_dose_spec

PFC, VH = "prefrontal_cortex", "ventral_hippocampus"
INTERVAL_S = 20 * 60.0
DOSE_MIN = 80.0  # four 20-min baseline samples, the last three form the baseline
FLOW = 1.2


def samples(animal: VirtualAnimal, n: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Mean dialysate 5-HT per 20-min sample: (start minutes after the dose, % baseline)."""
    starts = np.arange(n) * INTERVAL_S
    fine = starts[:, None] + np.linspace(0, INTERVAL_S, 121)[None, :]
    nM = animal.dialysate_nM(fine, FLOW).mean(axis=1)
    baseline = nM[1:4].mean()
    return (starts / 60.0 - DOSE_MIN), 100.0 * nM / baseline


def course(region: str, *doses: Dose, seed: int = 0, params: AnimalParams | None = None):
    animal = VirtualAnimal(region, seed=seed, params=params)
    for d in doses:
        animal.administer(d)
    return samples(animal)


def post(times: np.ndarray, pct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = times >= 0
    return times[keep], pct[keep]


@pytest.mark.parametrize("seed", range(5))
def test_vehicle_is_flat_within_noise(seed):
    t, pct = course(PFC, Dose("vehicle", 0, "ip", DOSE_MIN), seed=seed)
    assert np.all(np.abs(pct - 100.0) < 15.0), pct
    slope_per_h = np.polyfit(t / 60.0, pct, 1)[0]
    assert abs(slope_per_h) < 3.0
    assert np.std(pct) > 0.1  # there is biological noise, not a constant


def test_ipsapirone_1mg_sc_in_ventral_hippocampus_dips_then_recovers():
    t, pct = post(*course(VH, Dose("ipsapirone", 1.0, "sc", DOSE_MIN)))
    i = int(np.argmin(pct))
    assert 25.0 <= pct[i] <= 70.0
    assert 0.0 <= t[i] <= 60.0  # sample starting within an hour: trough at 20-60 min [I]
    assert pct[t >= 240].min() > 85.0  # recovered after 4 h
    assert pct[t >= 240].min() > pct[i] + 30.0


def test_fluoxetine_10mg_ip_in_prefrontal_cortex_rises_and_stays_up():
    t, pct = post(*course(PFC, Dose("fluoxetine", 10.0, "ip", DOSE_MIN)))
    i = int(np.argmax(pct))
    assert 150.0 <= pct[i] <= 400.0
    assert 20.0 <= t[i] <= 120.0
    assert np.all(pct[(t >= 120) & (t <= 240)] > 150.0)  # elevated 2-4 h


def test_way_100635_potentiates_fluoxetine():
    _, alone = post(*course(PFC, Dose("fluoxetine", 10.0, "ip", DOSE_MIN)))
    _, both = post(*course(PFC, Dose("fluoxetine", 10.0, "ip", DOSE_MIN),
                           Dose("way-100635", 0.3, "sc", DOSE_MIN)))
    assert both.max() > 1.2 * alone.max()
    assert both[:6].mean() > alone[:6].mean() + 40.0


def test_citalopram_with_way_above_citalopram_alone():
    _, alone = post(*course(PFC, Dose("citalopram", 10.0, "ip", DOSE_MIN)))
    _, both = post(*course(PFC, Dose("citalopram", 10.0, "ip", DOSE_MIN),
                           Dose("way-100635", 0.3, "sc", DOSE_MIN)))
    assert 110.0 < alone.max() < 250.0  # moderate [S: Invernizzi 1992]
    assert both.max() > 1.2 * alone.max()


def test_dose_dependence_is_monotonic():
    nadirs = [post(*course(VH, Dose("ipsapirone", d, "sc", DOSE_MIN)))[1].min()
              for d in (0.03, 0.1, 0.3, 1.0, 3.0)]
    assert all(a > b for a, b in itertools.pairwise(nadirs)), nadirs
    peaks = [post(*course(PFC, Dose("fluoxetine", d, "ip", DOSE_MIN)))[1].max()
             for d in (1.0, 10.0, 20.0)]
    assert all(a < b for a, b in itertools.pairwise(peaks)), peaks


NOISELESS = replace(AnimalParams(), biological_cv=0.0)


@settings(max_examples=25, deadline=None)
@given(st.floats(0.01, 5.0), st.floats(1.05, 4.0),
       st.sampled_from(["ipsapirone", "8-oh-dpat"]), st.sampled_from([PFC, VH]))
def test_agonist_effect_grows_with_dose(dose, factor, drug, region):
    low, high = (VirtualAnimal(region, params=NOISELESS) for _ in range(2))
    low.administer(Dose(drug, dose, "sc", 0.0))
    high.administer(Dose(drug, dose * factor, "sc", 0.0))
    t = np.arange(0, 4 * 3600, 60.0)
    assert high.extracellular_nM(t).min() < low.extracellular_nM(t).min()


@settings(max_examples=25, deadline=None)
@given(st.floats(0.3, 30.0), st.floats(1.05, 4.0),
       st.sampled_from(["fluoxetine", "citalopram", "paroxetine", "sertraline", "fluvoxamine"]))
def test_ssri_effect_grows_with_dose(dose, factor, drug):
    low, high = (VirtualAnimal(PFC, params=NOISELESS) for _ in range(2))
    low.administer(Dose(drug, dose, "ip", 0.0))
    high.administer(Dose(drug, dose * factor, "ip", 0.0))
    t = np.arange(0, 4 * 3600, 60.0)
    assert high.extracellular_nM(t).max() > low.extracellular_nM(t).max()


def test_every_drug_acts_in_its_direction():
    t = np.arange(0, 4 * 3600, 60.0)
    for name, drug in DRUGS.items():
        animal = VirtualAnimal(PFC, params=NOISELESS)
        base = animal.extracellular_nM(0.0)
        animal.administer(Dose(name, 1.0, "sc", 0.0))
        c = animal.extracellular_nM(t) / base
        if drug.target is None:
            assert np.allclose(c, 1.0), name
        elif drug.target == "SERT" or drug.efficacy == 0.0:  # SSRI or silent antagonist
            assert c.max() > 1.05 and c.min() > 0.999, name
        else:
            assert c.min() < 0.9 and c.max() < 1.001, name


def test_region_changes_the_response():
    _, pfc = post(*course(PFC, Dose("fluoxetine", 10.0, "ip", DOSE_MIN)))
    _, vh = post(*course(VH, Dose("fluoxetine", 10.0, "ip", DOSE_MIN)))
    assert vh.max() > pfc.max() + 20.0  # vHipp > FC [S: Malagié 1995]


def test_chronic_desensitisation_enlarges_the_ssri_rise():
    chronic = replace(AnimalParams(), autoreceptor_sensitivity=0.3)
    _, naive = post(*course(PFC, Dose("fluoxetine", 10.0, "ip", DOSE_MIN)))
    _, desens = post(*course(PFC, Dose("fluoxetine", 10.0, "ip", DOSE_MIN), params=chronic))
    assert desens.max() > naive.max() + 10.0


def test_reverse_dialysis_is_local():
    animal = VirtualAnimal(PFC, params=NOISELESS)
    base_c, base_f = animal.extracellular_nM(0.0), animal.firing(0.0)
    animal.administer(parse_dose_spec("citalopram:1:rd@10"))
    t = np.arange(0, 3 * 3600, 60.0)
    assert animal.extracellular_nM(t).max() > 2.0 * base_c
    assert np.allclose(animal.firing(t), base_f)  # raphe does not see the local drug
    ended = VirtualAnimal(PFC, params=NOISELESS)
    ended.administer(Dose("citalopram", 1.0, "rd", 10.0, until_minute=60.0))
    assert ended.extracellular_nM(3 * 3600.0) == pytest.approx(base_c, rel=1e-3)


@pytest.mark.parametrize("flow", [1.0, 1.5])
def test_basal_dialysate_lands_in_the_literature_range(flow):
    for seed in range(40):
        nM = VirtualAnimal(PFC, seed=seed).dialysate_nM(np.arange(0, 3600, 60.0), flow)
        assert np.all((nM > 0.2) & (nM < 1.0)), (seed, nM.min(), nM.max())


def test_probe_recovery_falls_with_flow_within_10_to_20_percent():
    flows = np.linspace(1.0, 2.0, 11)
    r = probe_recovery(flows, AnimalParams().probe_mass_transfer_uL_min)
    assert np.all(np.diff(r) < 0)
    assert 0.10 <= r.min() and r.max() <= 0.20


def test_same_seed_same_animal_and_query_order_does_not_matter():
    t = np.arange(0, 6 * 3600, 7.0)
    a, b, c = (VirtualAnimal(VH, seed=3) for _ in range(3))
    for animal in (a, b, c):
        animal.administer(Dose("ipsapirone", 0.3, "sc", 60.0))
    whole = a.extracellular_nM(t)
    piecewise = np.concatenate([b.extracellular_nM(part) for part in np.array_split(t, 7)])
    c.extracellular_nM(5 * 3600.0)
    assert np.array_equal(whole, piecewise)
    assert np.array_equal(whole, c.extracellular_nM(t))
    other = VirtualAnimal(VH, seed=4)
    other.administer(Dose("ipsapirone", 0.3, "sc", 60.0))
    assert not np.allclose(whole, other.extracellular_nM(t))


def test_a_dose_does_not_rewrite_the_past():
    animal = VirtualAnimal(PFC, seed=1)
    t = np.arange(0, 4 * 3600, 30.0)
    before = animal.extracellular_nM(t)
    animal.administer(Dose("fluoxetine", 10.0, "ip", 120.0))
    after = animal.extracellular_nM(t)
    early = t <= 120 * 60.0
    assert np.array_equal(before[early], after[early])
    assert after[t > 180 * 60.0].mean() > 1.5 * before[t > 180 * 60.0].mean()


def test_unknown_region_is_refused():
    with pytest.raises(ValueError, match="unknown region 'striatum'"):
        VirtualAnimal("striatum")


@pytest.mark.parametrize(("text", "expected"), [
    ("fluoxetine:10:ip@60", Dose("fluoxetine", 10.0, "ip", 60.0)),
    (" Ipsapirone:0.3:s.c.@95.5 ", Dose("ipsapirone", 0.3, "sc", 95.5)),
    ("WAY:0.1:sc@0", Dose("way-100635", 0.1, "sc", 0.0)),
    ("citalopram:1:reverse-dialysis@30", Dose("citalopram", 1.0, "rd", 30.0)),
    ("vehicle:0:i.p.@60", Dose("vehicle", 0.0, "ip", 60.0)),
])
def test_parse_dose_spec(text, expected):
    dose = parse_dose_spec(text)
    assert dose == expected
    assert parse_dose_spec(dose.spec()) == dose


@pytest.mark.parametrize(("text", "message"), [
    ("fluoxetine:10:ip", "expected DRUG:DOSE:ROUTE@MINUTE"),
    ("prozac:10:ip@60", "unknown drug 'prozac'"),
    ("fluoxetine:ten:ip@60", "dose 'ten' is not a number"),
    ("fluoxetine:-1:ip@60", "dose must be a finite number >= 0"),
    ("fluoxetine:10:iv@60", "unknown route 'iv'"),
    ("fluoxetine:10:ip@soon", "minute 'soon' is not a number"),
    ("fluoxetine:nan:ip@60", "dose must be a finite number >= 0"),
])
def test_parse_dose_spec_errors_name_the_field(text, message):
    with pytest.raises(ValueError, match=message) as info:
        parse_dose_spec(text)
    assert repr(text.strip()) in str(info.value) or repr(text) in str(info.value)
