"""The virtual animal reproduces the plausibility bands of reference/domain.md."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raphe.simulators.animal import AnimalParams, VirtualAnimal, probe_recovery
from raphe.simulators.drugs import DRUGS, Dose, Regimen, parse_dose_spec, parse_regimen_spec

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


def course(region: str, *doses: Dose, seed: int = 0, params: AnimalParams | None = None,
           history=()):
    animal = VirtualAnimal(region, seed=seed, params=params, history=history)
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
        elif drug.target == "SERT":
            assert c.max() > 1.05 and c.min() > 0.999, name
        elif drug.efficacy == 0.0:  # silent antagonist: no effect on basal 5-HT (issue 15)
            assert c.max() < 1.1 and c.min() > 0.999, name
        else:
            assert c.min() < 0.9 and c.max() < 1.001, name


def test_region_changes_the_response():
    _, pfc = post(*course(PFC, Dose("fluoxetine", 10.0, "ip", DOSE_MIN)))
    _, vh = post(*course(VH, Dose("fluoxetine", 10.0, "ip", DOSE_MIN)))
    assert vh.max() > pfc.max() + 20.0  # vHipp > FC [S: Malagié 1995]


def test_chronic_desensitisation_enlarges_the_ssri_rise():
    """After 14 days of an SSRI an acute challenge raises 5-HT more than in naive animals.

    A week's washout, as in PMC4061036: a day after the last fluoxetine dose the residual
    drug still holds basal 5-HT well above naive, so a challenge adds less in % of it.
    """
    chronic = [Regimen("fluoxetine", 10.0, "ip", days=14, washout_h=7 * 24.0)]
    _, naive = post(*course(PFC, Dose("fluoxetine", 10.0, "ip", DOSE_MIN)))
    _, desens = post(*course(PFC, Dose("fluoxetine", 10.0, "ip", DOSE_MIN), history=chronic))
    assert desens.max() > naive.max() + 10.0


def test_autoreceptor_sensitivity_parameter_still_sets_the_brake():
    low = replace(AnimalParams(), autoreceptor_sensitivity=0.3)
    _, naive = post(*course(PFC, Dose("citalopram", 10.0, "ip", DOSE_MIN)))
    _, desens = post(*course(PFC, Dose("citalopram", 10.0, "ip", DOSE_MIN), params=low))
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


def test_other_analytes_are_not_frozen():
    animal = VirtualAnimal(PFC, seed=2)
    t = np.arange(0, 4 * 3600, 60.0)
    for name in ("NA", "DA", "5-HIAA"):
        level = animal.relative_level(name, t)
        assert 0.0 < np.std(level) < 0.1 and abs(level.mean() - 1.0) < 0.1, name
    with pytest.raises(ValueError, match="unknown analyte 'GABA'"):
        animal.relative_level("GABA", t)


def test_other_analytes_follow_drugs_in_their_direction():
    t = np.arange(0, 6 * 3600, 60.0)
    animal = VirtualAnimal(PFC, params=NOISELESS)
    animal.administer(Dose("fluoxetine", 10.0, "ip", 0.0))
    assert animal.relative_level("5-HIAA", t).min() < 0.85  # reuptake and firing fall
    assert animal.relative_level("DA", t).max() > 1.3  # fluoxetine's own DA action
    agonist = VirtualAnimal(VH, params=NOISELESS)
    agonist.administer(Dose("8-oh-dpat", 0.1, "sc", 0.0))
    assert agonist.relative_level("5-HIAA", t).min() < 0.95
    assert np.allclose(agonist.relative_level("DA", t), 1.0)  # no catecholamine action


def test_dialysate_of_every_analyte_scales_with_recovery():
    animal = VirtualAnimal(VH, seed=5)
    t = np.arange(0, 3600, 30.0)
    slow, fast = animal.dialysate_all_nM(t, 1.0), animal.dialysate_all_nM(t, 2.0)
    ratio = animal.recovery(1.0) / animal.recovery(2.0)
    for name in ("NA", "DA", "5-HIAA", "5-HT"):
        assert np.allclose(slow[name] / fast[name], ratio), name


@pytest.mark.parametrize(("text", "expected"), [
    ("citalopram:10:ip:2x14", Regimen("citalopram", 10.0, "ip", days=14, per_day=2)),
    (" Fluoxetine:5:s.c.:1x21:48 ", Regimen("fluoxetine", 5.0, "sc", days=21, washout_h=48.0)),
])
def test_parse_regimen_spec(text, expected):
    regimen = parse_regimen_spec(text)
    assert regimen == expected
    assert parse_regimen_spec(regimen.spec()) == regimen


@pytest.mark.parametrize(("text", "message"), [
    ("citalopram:10:ip", "expected DRUG:DOSE:ROUTE:PER_DAYxDAYS"),
    ("prozac:10:ip:2x14", "unknown drug 'prozac'"),
    ("citalopram:10:rd:2x14", "needs route ip or sc"),
    ("citalopram:10:ip:2x1.5", "days must be a whole number"),
    ("citalopram:ten:ip:2x14", "dose 'ten' is not a number"),
])
def test_parse_regimen_spec_errors_name_the_field(text, message):
    with pytest.raises(ValueError, match=message):
        parse_regimen_spec(text)


def test_regimen_doses_end_a_washout_before_the_session():
    doses = Regimen("citalopram", 10.0, "ip", days=14, per_day=2).doses()
    assert len(doses) == 28
    assert doses[-1].minute == -24 * 60.0
    assert doses[0].minute == pytest.approx(-24 * 60.0 - 27 * 720.0)


def test_desensitisation_builds_over_days_and_recovers_after():
    def desens(**kw):
        return VirtualAnimal(PFC, history=[Regimen("citalopram", 10.0, "ip", **kw)]).desensitisation

    two, fourteen = desens(days=2, per_day=2), desens(days=14, per_day=2)
    assert 0.0 < two < fourteen < AnimalParams().desensitisation_max
    assert desens(days=14, per_day=2, washout_h=24 * 28) < 0.5 * fourteen
    # a 5-HT1A agonist history does not desensitise release control [S: Sharp et al. 1993]
    assert VirtualAnimal(VH, history=[Regimen("ipsapirone", 5.0, "sc", days=14, per_day=2)]
                         ).desensitisation == 0.0


def test_a_history_leaves_basal_5ht_near_naive():
    """No significant basal difference after repeated citalopram [S: Muraki et al. 2008]."""
    naive = VirtualAnimal(PFC, params=NOISELESS)
    chronic = VirtualAnimal(PFC, params=NOISELESS,
                            history=[Regimen("citalopram", 10.0, "ip", days=14, per_day=2)])
    t = np.arange(0, 3600, 60.0)
    assert chronic.extracellular_nM(t).mean() == pytest.approx(naive.extracellular_nM(t).mean(),
                                                               rel=0.15)


def test_ending_reverse_dialysis_washes_the_drug_out():
    animal = VirtualAnimal(PFC, params=NOISELESS)
    base = animal.extracellular_nM(0.0)
    animal.administer(Dose("citalopram", 1.0, "rd", 10.0))
    t = np.arange(0, 4 * 3600, 60.0)
    assert animal.extracellular_nM(3 * 3600.0) > 2.0 * base
    before = animal.extracellular_nM(t)
    animal.end_reverse_dialysis("citalopram", 3600.0)
    after = animal.extracellular_nM(t)
    assert np.array_equal(before[t <= 3600.0], after[t <= 3600.0])
    assert after[-1] == pytest.approx(base, rel=1e-3)
    assert animal.doses[0].until_minute == pytest.approx(60.0)
    animal.end_reverse_dialysis("fluoxetine", 4000.0)  # nothing running: no change
    assert np.array_equal(animal.extracellular_nM(t), after)
