"""A study from sessions: the tidy table, the group time courses, AUC and the statistics —
checked against direct pingouin and statsmodels calls on the same tidy table."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from scipy.integrate import trapezoid

from raphe.acquisition.study.config import StudyConfig, load_config, parse_config
from raphe.acquisition.study.stats import MIXED_ANOVA, MIXED_MODEL
from raphe.acquisition.study.study import (
    OUTPUTS,
    analyse_study,
    load_study,
    summary,
    write_study,
)
from raphe.acquisition.study.table import FLAG_COLUMNS, parse_drug_text
from raphe.errors import InputError

VEH = "vehicle (prefrontal cortex)"
IPS = "ipsapirone 1 mg/kg s.c. (ventral hippocampus)"
FLX = "fluoxetine 10 mg/kg i.p. (prefrontal cortex)"


@pytest.fixture(scope="module")
def complete(study_folder):
    study = load_study([str(study_folder)], StudyConfig())
    return study, analyse_study(study)


@pytest.fixture(scope="module")
def gappy(gappy_folder):
    study = load_study([str(gappy_folder)], StudyConfig(
        exclude={"veh05": "probe outside the prefrontal cortex at histology"}))
    return study, analyse_study(study)


def test_groups_come_from_each_sessions_metadata(complete):
    study, _ = complete
    assert study.groups == [VEH, FLX, IPS]
    assert study.vehicle == VEH
    assert study.bin_min == 20.0
    sizes = study.table.groupby("group")["animal"].nunique().to_dict()
    assert sizes == {VEH: 5, IPS: 5, FLX: 5}


def test_the_tidy_table_is_one_row_per_animal_and_sample_with_every_flag(complete):
    study, _ = complete
    t = study.table
    assert len(t) == 15 * 12 and not t.duplicated(["animal", "sample_id"]).any()
    for column in ("animal", "group", "sample_id", "probe_start_min", "probe_end_min",
                   "time_min", "bin", "conc_nM", "pct_baseline", "flags", "baseline", "used",
                   *FLAG_COLUMNS):
        assert column in t.columns, column
    b3 = t[(t["animal"] == "flu01") & (t["sample_id"] == "B3")].iloc[0]
    p1 = t[(t["animal"] == "flu01") & (t["sample_id"] == "P1")].iloc[0]
    assert b3["baseline"] == 1 and b3["bin"] == -1 and p1["bin"] == 0
    assert p1["probe_start_min"] == pytest.approx(-5.0) and p1["probe_end_min"] == 15.0
    assert t["used"].all()


def test_stored_percent_of_baseline_is_used_as_is(complete, study_folder):
    from raphe.acquisition.reader import SessionReader

    study, _ = complete
    with SessionReader(study_folder / "ips02.h5") as r:
        stored = {x.sample_id: x.pct_baseline for x in r.results()}
    rows = study.table[study.table["animal"] == "ips02"]
    assert dict(zip(rows["sample_id"], rows["pct_baseline"])) == stored


def test_a_complete_study_uses_the_mixed_anova_and_finds_the_interaction(complete):
    _, result = complete
    st = result.statistics
    assert st["model"] == MIXED_ANOVA
    inter = result.test("treatment × time")
    assert inter["statistic"] == "F" and inter["p"] < 0.01
    assert inter["df"] == [2 * 8, 12 * 8]  # 3 groups, 9 post-drug bins, 15 animals
    below = [t for t in st["posthoc"]["tests"] if t["group"] == IPS and t["significant"]]
    above = [t for t in st["posthoc"]["tests"] if t["group"] == FLX and t["significant"]]
    assert below and all(t["difference_pct"] < 0 for t in below)
    assert above and all(t["difference_pct"] > 0 for t in above)
    auc = {t["group"]: t for t in st["auc"]["tests"] if t.get("group")}
    assert auc[IPS]["difference"] < 0 and auc[IPS]["p_adjusted"] < 0.05
    assert auc[FLX]["difference"] > 0 and auc[FLX]["p_adjusted"] < 0.05


def test_the_anova_agrees_with_a_direct_pingouin_call_on_the_tidy_table(complete):
    study, result = complete
    t = study.table
    post = t[t["used"] & (t["bin"] >= 0)].copy()
    post["bin"] = post["bin"].astype(int).astype(str)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        direct = pg.mixed_anova(data=post, dv="pct_baseline", within="bin", between="group",
                                subject="animal", correction=True)
    direct = direct.set_index("Source")
    ours = {x["effect"]: x for x in result.statistics["omnibus"]}
    for source, effect in (("group", "treatment"), ("bin", "time"),
                           ("Interaction", "treatment × time")):
        row = direct.loc[source]
        assert ours[effect]["value"] == pytest.approx(row["F"], rel=1e-9)
        assert ours[effect]["df"] == [row["DF1"], row["DF2"]]
        p_unc = row["p_unc"] if "p_unc" in row else row["p-unc"]
        assert ours[effect]["p_uncorrected"] == pytest.approx(p_unc, rel=1e-9)


def test_auc_and_peak_per_animal(complete):
    study, result = complete
    a = result.animals.set_index("animal")
    rows = study.table[(study.table["animal"] == "flu03") & (study.table["time_min"] >= 0)]
    expected = trapezoid(rows["pct_baseline"] - 100.0, rows["time_min"])
    assert a.loc["flu03", "auc_pct_min"] == pytest.approx(expected)
    i = int(np.argmax(np.abs(rows["pct_baseline"] - 100.0)))
    assert a.loc["flu03", "peak_pct"] == pytest.approx(rows["pct_baseline"].iloc[i])
    assert a.loc["flu03", "peak_time_min"] == pytest.approx(rows["time_min"].iloc[i])
    assert (a.loc[a["group"] == IPS, "auc_pct_min"] < 0).all()
    assert (a.loc[a["group"] == FLX, "auc_pct_min"] > 0).all()


def test_group_time_course_is_mean_and_sem_of_the_animals(complete):
    study, result = complete
    c = result.timecourse
    row = c[(c["group"] == FLX) & (c["bin"] == 3)].iloc[0]
    values = study.table[(study.table["group"] == FLX) & (study.table["bin"] == 3)][
        "pct_baseline"].to_numpy()
    assert row["n"] == 5 and row["mean_pct"] == pytest.approx(values.mean())
    assert row["sem_pct"] == pytest.approx(values.std(ddof=1) / math.sqrt(5))


def test_missing_and_flagged_samples_switch_to_the_mixed_model_and_say_so(gappy):
    study, result = gappy
    st = result.statistics
    assert st["model"] == MIXED_MODEL
    assert "flu02: 60 min" in st["model_reason"] and "ips03: 20 min" in st["model_reason"]
    assert "random intercept per animal" in st["model_reason"]
    assert st["missing"] == {"flu02": [3], "ips03": [1]}
    inter = result.test("treatment × time")
    assert inter["statistic"] == "chi2" and inter["df"] == [16] and inter["p"] < 0.01
    flagged = study.table[(study.table["animal"] == "ips03") & (study.table["sample_id"] == "P2")]
    assert len(flagged) == 1 and flagged.iloc[0]["flag_incomplete"]
    assert not flagged.iloc[0]["used"]


def test_the_mixed_model_agrees_with_a_direct_statsmodels_call(gappy):
    import statsmodels.formula.api as smf

    study, result = gappy
    t = study.table
    data = t[t["used"] & (t["bin"] >= 0) & ~t["excluded"]].copy()
    data = data.rename(columns={"pct_baseline": "pct"})
    data["g"] = data["group"].map({VEH: "a", IPS: "b", FLX: "c"})
    data["t"] = data["bin"].astype(int).map(lambda b: f"t{b:02d}")
    def fit(formula):
        for method in ("lbfgs", "bfgs", "powell"):  # L-BFGS may end on a singular Hessian
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return smf.mixedlm(formula, data, groups=data["animal"]).fit(
                        reml=False, method=[method])
            except np.linalg.LinAlgError:
                continue
        raise AssertionError(formula)

    full, additive = fit("pct ~ C(g) * C(t)"), fit("pct ~ C(g) + C(t)")
    chi2 = 2 * (full.llf - additive.llf)
    ours = result.test("treatment × time")
    assert ours["value"] == pytest.approx(chi2, rel=1e-3)
    assert result.statistics["mixed_model"]["observations"] == len(data)


def test_excluded_animals_stay_in_the_table_and_out_of_the_statistics(gappy):
    study, result = gappy
    rows = study.table[study.table["animal"] == "veh05"]
    assert len(rows) == 12 and rows["excluded"].all() and not rows["used"].any()
    assert set(rows["exclusion_reason"]) == {"probe outside the prefrontal cortex at histology"}
    assert result.statistics["n_animals"][VEH] == 4
    a = result.animals.set_index("animal")
    assert a.loc["veh05", "excluded"] and math.isfinite(a.loc["veh05", "auc_pct_min"])
    auc = next(t for t in result.statistics["auc"]["tests"] if t.get("group") == IPS)
    assert auc["n"] == [5, 4]


def test_the_outputs_are_written_once_and_never_over(complete, tmp_path):
    study, result = complete
    out = tmp_path / "out"
    written = write_study(study, result, out)
    assert sorted(p.name for p in written) == sorted(OUTPUTS)
    csv = pd.read_csv(out / "table.csv")
    parquet = pd.read_parquet(out / "table.parquet")
    assert len(csv) == len(parquet) == len(study.table)
    assert list(parquet.columns) == list(study.table.columns)
    data = json.loads((out / "study.json").read_text())
    assert data["statistics"]["model"] == MIXED_ANOVA
    assert all({"name", "statistic", "df", "p"} <= set(t) for t in data["tests"])
    report = (out / "report.md").read_text()
    assert "treatment × time" in report and "Greenhouse–Geisser" in report
    with pytest.raises(InputError, match="never overwritten"):
        write_study(study, result, out)


def test_the_json_is_plain_json(complete):
    study, result = complete
    text = json.dumps(summary(study, result), allow_nan=False)
    assert "NaN" not in text


def test_a_config_maps_groups_names_the_control_and_excludes(study_folder, tmp_path):
    config = tmp_path / "study.toml"
    config.write_text('title = "Two groups"\nvehicle = "control"\nbin_min = 40\n'
                      'auc_window_min = [0, 60]\n'
                      '[groups]\ncontrol = ["veh*"]\nSSRI = ["flu*.h5"]\n'
                      '[exclude]\nflu01 = "died"\n', encoding="utf-8")
    study = load_study([str(study_folder / "veh*.h5"), str(study_folder / "flu*.h5")],
                       load_config(config))
    assert study.groups == ["control", "SSRI"] and study.vehicle == "control"
    assert study.bin_min == 40.0
    result = analyse_study(study)
    assert "auc_window" in result.statistics
    assert result.statistics["n_animals"] == {"control": 5, "SSRI": 4}


@pytest.mark.parametrize(("text", "message"), [
    ("colour = 1", "unknown key 'colour'"),
    ("bin_min = -5", "bin_min must be a number > 0"),
    ("auc_window_min = [60, 0]", "auc_window_min must be"),
    ("correction = 'tukey'", "correction must be one of"),
    ("[exclude]\nrat1 = ''", "exclude.rat1 must give the reason"),
    ("[groups]\nveh = 3", "groups.veh must be a list"),
])
def test_bad_configs_are_refused_naming_the_key(text, message):
    import tomllib

    with pytest.raises(InputError, match=message):
        parse_config(tomllib.loads(text), "s.toml")


def test_bad_sources_are_refused_in_one_line(tmp_path):
    with pytest.raises(InputError, match="no such session, folder or pattern"):
        load_study([str(tmp_path / "nothing.h5")], StudyConfig())
    with pytest.raises(InputError, match="no session matches"):
        load_study([str(tmp_path / "*.h5")], StudyConfig())
    bad = tmp_path / "bad.h5"
    bad.write_text("not a session")
    with pytest.raises(InputError, match="bad.h5"):
        load_study([str(bad)], StudyConfig())


def test_the_drug_event_text_gives_drug_dose_and_route():
    assert parse_drug_text("Prozac (fluoxetine) 10 mg/kg i.p.") == ("fluoxetine", 10.0,
                                                                    "mg/kg", "ip")
    assert parse_drug_text("ipsapirone 0.3 mg/kg s.c.") == ("ipsapirone", 0.3, "mg/kg", "sc")
    drug, dose, unit, route = parse_drug_text(
        "way-100635 10 µM by reverse dialysis (perfusate aCSF + way)")
    assert (drug, dose, unit, route) == ("way-100635", 10.0, "µM", "rd")
