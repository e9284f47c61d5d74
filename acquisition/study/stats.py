"""The study's numbers: group time courses, per-animal AUC and peak, and the statistics.

Libraries: **pingouin** for the analyses of variance and the t-tests (``mixed_anova`` gives
the two-way mixed ANOVA with Mauchly's test and the Greenhouse–Geisser correction, as
reviewers expect it; ``ttest`` Welch's t; ``welch_anova``; ``multicomp`` the corrections),
and **statsmodels** — pingouin's own dependency — for the linear mixed model, which pingouin
does not have. ``docs/studies.md`` says why each test is there.

* Every animal has a usable value in every bin of the analysis → **two-way mixed ANOVA**,
  treatment (between) × time (within). The p of the time and interaction effects is the
  Greenhouse–Geisser corrected one (the uncorrected p and ε are given too).
* A sample missing or flagged in any bin → **linear mixed model** with a random intercept
  per animal, ``pct ~ treatment * time``, effects tested by likelihood-ratio tests of
  nested models fitted by maximum likelihood.
* Post hoc, in either case: each group against vehicle in each bin, Welch's t-test,
  p corrected (Holm by default) within each time bin — the family Dunnett's test at each
  time point uses — or, with ``posthoc_family = "all"``, over every comparison.
* AUC of % baseline − 100: Welch's ANOVA across groups, then each group against vehicle by
  Welch's t-test with the same correction.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy.integrate import trapezoid

MIXED_ANOVA = "two-way mixed ANOVA"
MIXED_MODEL = "linear mixed model"


def _col(row: dict, *names: str) -> float:
    """A pingouin result column under either of its spellings (``p-unc`` / ``p_unc``)."""
    for name in names:
        if name in row:
            value = row[name]
            try:
                return float(value)
            except (TypeError, ValueError):
                return math.nan
    return math.nan


def clean(value: Any) -> Any:
    """JSON-ready: numpy scalars to Python, NaN and infinities to None, recursively."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if value is pd.NA:
        return None
    return value


# -- descriptive ---------------------------------------------------------------------------

def animal_bins(table: pd.DataFrame) -> pd.DataFrame:
    """Mean % of baseline per used animal × bin (two samples in one bin are averaged)."""
    used = table[table["used"]]
    out = (used.groupby(["animal", "group", "bin"], observed=True)
           .agg(pct=("pct_baseline", "mean"), time_min=("time_min", "mean"),
                samples=("pct_baseline", "size"))
           .reset_index())
    out["bin"] = out["bin"].astype(int)
    return out


def timecourse(table: pd.DataFrame, groups: list[str], bin_min: float) -> pd.DataFrame:
    """Per group and bin: n animals, mean, SD and SEM of % of baseline (excluded animals and
    flagged samples left out), the bin's limits and the mean sample time."""
    per = animal_bins(table)
    rows = []
    for g in groups:
        sub = per[per["group"] == g]
        for k, cell in sub.groupby("bin"):
            n = len(cell)
            sd = float(cell["pct"].std(ddof=1)) if n > 1 else math.nan
            rows.append({"group": g, "bin": int(k), "bin_start_min": k * bin_min,
                         "bin_end_min": (k + 1) * bin_min,
                         "time_min": float(cell["time_min"].mean()), "n": n,
                         "mean_pct": float(cell["pct"].mean()), "sd_pct": sd,
                         "sem_pct": sd / math.sqrt(n) if n > 1 else math.nan})
    return pd.DataFrame(rows, columns=["group", "bin", "bin_start_min", "bin_end_min",
                                       "time_min", "n", "mean_pct", "sd_pct", "sem_pct"])


def _window_auc(t: np.ndarray, y: np.ndarray, a: float, b: float) -> float:
    """Trapezoid AUC of y over [a, b], interpolating at a and b when points bracket them."""
    if len(t) < 2:
        return math.nan
    inside = (t >= a) & (t <= b)
    tt, yy = list(t[inside]), list(y[inside])
    if t[0] < a < t[-1] and (not tt or tt[0] > a):
        tt.insert(0, a)
        yy.insert(0, float(np.interp(a, t, y)))
    if t[0] < b < t[-1] and (not tt or tt[-1] < b):
        tt.append(b)
        yy.append(float(np.interp(b, t, y)))
    if len(tt) < 2:
        return math.nan
    return float(trapezoid(yy, tt))


def animals(table: pd.DataFrame, groups: list[str],
            window: tuple[float, float] | None) -> pd.DataFrame:
    """Per animal: AUC of (% of baseline − 100) over the post-drug samples (% · min, the
    trapezoid over the samples' probe-time midpoints; a missing sample is bridged) and over
    ``window``; the peak effect (largest |% − 100| after the drug) and its time."""
    rows = []
    order = {g: i for i, g in enumerate(groups)}
    for animal, sub in table.groupby("animal", sort=False):
        first = sub.iloc[0]
        # an excluded animal's own numbers are given too (the statistics leave them out)
        usable = ~sub["sample_excluded"] & np.isfinite(sub["pct_baseline"].to_numpy(float))
        post = sub[usable & (sub["time_min"] >= 0)].sort_values("time_min")
        t = post["time_min"].to_numpy(float)
        y = post["pct_baseline"].to_numpy(float) - 100.0
        auc = float(trapezoid(y, t)) if len(t) > 1 else math.nan
        auc_w = _window_auc(t, y, *window) if window else math.nan
        if len(t):
            i = int(np.argmax(np.abs(y)))
            peak, peak_t = float(y[i] + 100.0), float(t[i])
        else:
            peak = peak_t = math.nan
        rows.append({
            "animal": animal, "group": first["group"], "excluded": bool(first["excluded"]),
            "exclusion_reason": first["exclusion_reason"], "session": first["session"],
            "post_samples": len(t),
            "post_span_min": float(t[-1] - t[0]) if len(t) > 1 else 0.0,
            "auc_pct_min": auc, "auc_window_pct_min": auc_w,
            "peak_pct": peak, "peak_time_min": peak_t,
        })
    frame = pd.DataFrame(rows, columns=["animal", "group", "excluded", "exclusion_reason",
                                        "session", "post_samples", "post_span_min",
                                        "auc_pct_min", "auc_window_pct_min", "peak_pct",
                                        "peak_time_min"])
    frame["_o"] = frame["group"].map(order).fillna(len(order))
    return frame.sort_values(["_o", "animal"]).drop(columns="_o").reset_index(drop=True)


# -- inferential ---------------------------------------------------------------------------

def stats_bins(per: pd.DataFrame, include_baseline: bool,
               window: tuple[float, float] | None, bin_min: float) -> list[int]:
    bins = sorted(int(b) for b in per["bin"].unique())
    if not include_baseline:
        bins = [b for b in bins if b >= 0]
    if window is not None:
        a, z = window
        bins = [b for b in bins if b * bin_min >= a - 1e-9 and (b + 1) * bin_min <= z + 1e-9]
    return bins


def _correct(pvals: list[float], method: str) -> list[float]:
    if not pvals:
        return []
    if method == "none":
        return list(pvals)
    import pingouin as pg

    p = np.asarray(pvals, float)
    ok = np.isfinite(p)
    out = np.full(len(p), math.nan)
    if ok.any():
        out[ok] = pg.multicomp(p[ok], method=method)[1]
    return list(out)


def _welch(x: np.ndarray, y: np.ndarray) -> dict:
    import pingouin as pg

    if len(x) < 2 or len(y) < 2:
        return {"statistic": "t", "value": math.nan, "df": [math.nan], "p": math.nan}
    row = pg.ttest(x, y, correction=True).iloc[0].to_dict()
    return {"statistic": "t", "value": _col(row, "T"), "df": [_col(row, "dof")],
            "p": _col(row, "p_val", "p-val")}


def posthoc(per: pd.DataFrame, groups: list[str], vehicle: str, bins: list[int],
            correction: str, alpha: float, bin_min: float, family: str = "bin") -> dict:
    """Each group against vehicle in each bin: Welch's t-test, p corrected within each time
    bin (``family="bin"``: the comparisons at one time point, as Dunnett's test at each time
    point does) or over every comparison (``"all"``)."""
    rows = []
    if vehicle:
        for g in groups:
            if g == vehicle:
                continue
            for k in bins:
                x = per[(per["group"] == g) & (per["bin"] == k)]["pct"].to_numpy(float)
                y = per[(per["group"] == vehicle) & (per["bin"] == k)]["pct"].to_numpy(float)
                test = _welch(x, y)
                rows.append({"name": f"{g} vs {vehicle}, {k * bin_min:g}–{(k + 1) * bin_min:g} "
                                     "min (Welch's t-test)",
                             "group": g, "versus": vehicle, "bin": k,
                             "bin_start_min": k * bin_min, "bin_end_min": (k + 1) * bin_min,
                             "n": [len(x), len(y)],
                             "difference_pct": float(np.mean(x) - np.mean(y))
                             if len(x) and len(y) else math.nan, **test})
    families = [rows] if family == "all" else [[r for r in rows if r["bin"] == k]
                                                 for k in bins]
    for members in families:
        for r, p in zip(members, _correct([r["p"] for r in members], correction)):
            r["p_adjusted"] = p
            r["significant"] = bool(math.isfinite(p) and p < alpha)
    n_groups = max(len([g for g in groups if g != vehicle]), 1)
    if family == "all":
        scope = f"p corrected over all {len(rows)} comparisons ({_method_name(correction)})"
    else:
        scope = (f"p corrected within each time bin, over its {n_groups} comparison"
                 f"{'s' if n_groups > 1 else ''} ({_method_name(correction)})")
    return {"method": f"Welch's t-test, each group against {vehicle or 'vehicle'} in each "
                      f"bin; {scope}", "short": f"Welch's t-test, {scope}",
            "correction": correction, "family": family, "tests": rows}


def _method_name(correction: str) -> str:
    return {"holm": "Holm–Bonferroni", "bonferroni": "Bonferroni", "sidak": "Šidák",
            "fdr_bh": "Benjamini–Hochberg FDR", "none": "uncorrected"}[correction]


def mixed_anova(per: pd.DataFrame) -> list[dict]:
    """Two-way mixed ANOVA treatment × time on complete per-animal bins (pingouin)."""
    import pingouin as pg

    data = per.assign(bin=per["bin"].astype(str))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = pg.mixed_anova(data=data, dv="pct", within="bin", between="group",
                               subject="animal", correction=True)
    tests = []
    names = {"group": "treatment", "bin": "time", "Interaction": "treatment × time"}
    for row in table.to_dict("records"):
        effect = names.get(row["Source"], row["Source"])
        p_unc = _col(row, "p_unc", "p-unc")
        eps = _col(row, "eps")
        p_gg = _col(row, "p_GG_corr", "p-GG-corr")
        within = row["Source"] != "group"
        tests.append({
            "name": f"{MIXED_ANOVA}: {effect}", "effect": effect, "statistic": "F",
            "value": _col(row, "F"), "df": [_col(row, "DF1", "ddof1"), _col(row, "DF2", "ddof2")],
            "p": p_gg if within and math.isfinite(p_gg) else p_unc,
            "p_uncorrected": p_unc, "epsilon_gg": eps if within else math.nan,
            "p_note": "Greenhouse–Geisser corrected" if within and math.isfinite(p_gg)
            else "", "sphericity_p": _col(row, "p_spher", "p-spher") if within else math.nan,
            "partial_eta_squared": _col(row, "np2"),
        })
    return tests


#: Optimisers tried in turn for a mixed model (L-BFGS can stop on a singular Hessian when
#: the animals' variance is near its boundary; the others then find the same optimum).
OPTIMISERS = ("lbfgs", "bfgs", "powell", "nm", "cg")


def _fit_ml(model) -> tuple[Any, list[str]]:
    """A maximum-likelihood fit of a statsmodels ``MixedLM``: the first optimiser that
    converges (or the last that ran), and what it warned."""
    import numpy.linalg

    last, last_messages, errors = None, [], []
    for method in OPTIMISERS:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                fit = model.fit(reml=False, method=[method])
            except (numpy.linalg.LinAlgError, ValueError) as exc:
                errors.append(f"{method}: {exc}")
                continue
        messages = sorted({str(w.message) for w in caught
                           if any(k in str(w.message).lower()
                                  for k in ("converge", "boundary", "singular"))})
        if fit.converged:
            return fit, messages
        last, last_messages = fit, messages + [f"{method} did not converge"]
    if last is None:
        raise RuntimeError("the mixed model could not be fitted (" + "; ".join(errors) + ")")
    return last, last_messages


def mixed_model(per: pd.DataFrame, groups: list[str], vehicle: str) -> tuple[list[dict], dict]:
    """Linear mixed model, random intercept per animal (statsmodels MixedLM): likelihood-ratio
    tests (ML) of treatment × time, treatment and time."""
    import statsmodels.formula.api as smf

    present = [g for g in groups if g in set(per["group"])]
    ref = vehicle if vehicle in present else present[0]
    codes = {g: f"g{i}" for i, g in enumerate([ref] + [g for g in present if g != ref])}
    bins = sorted(per["bin"].unique())
    bin_codes = {b: f"t{i:02d}" for i, b in enumerate(bins)}
    data = pd.DataFrame({"pct": per["pct"].to_numpy(float),
                         "g": per["group"].map(codes).to_numpy(),
                         "t": per["bin"].map(bin_codes).to_numpy(),
                         "animal": per["animal"].to_numpy()})
    treat = "C(g, Treatment('g0'))"
    time = "C(t, Treatment('t00'))"
    formulas = {"full": f"pct ~ {treat} * {time}", "additive": f"pct ~ {treat} + {time}",
                "time_only": f"pct ~ {time}", "treatment_only": f"pct ~ {treat}"}
    fits, notes = {}, []
    for key, formula in formulas.items():
        fit, messages = _fit_ml(smf.mixedlm(formula, data, groups=data["animal"]))
        notes += [f"{key} model: {m}" for m in messages]
        fits[key] = fit
    from scipy.stats import chi2

    def lrt(name: str, effect: str, big: str, small: str) -> dict:
        stat = 2.0 * (fits[big].llf - fits[small].llf)
        df = len(fits[big].fe_params) - len(fits[small].fe_params)
        return {"name": f"{MIXED_MODEL}: {effect} (likelihood-ratio test)", "effect": effect,
                "statistic": "chi2", "value": max(stat, 0.0), "df": [df],
                "p": float(chi2.sf(max(stat, 0.0), df)), "p_note": "ML fits of nested models"}

    tests = [lrt("treatment", "treatment", "additive", "time_only"),
             lrt("time", "time", "additive", "treatment_only"),
             lrt("interaction", "treatment × time", "full", "additive")]
    full = fits["full"]
    info = {"formula": "pct ~ treatment * time + (1 | animal)",
            "observations": int(full.nobs), "animals": int(data["animal"].nunique()),
            "log_likelihood_ml": float(full.llf),
            "animal_variance": float(np.asarray(full.cov_re)[0, 0]),
            "residual_variance": float(full.scale), "converged": bool(full.converged),
            "reference_group": ref, "notes": notes}
    return tests, info


def missing_cells(per: pd.DataFrame, bins: list[int]) -> dict[str, list[int]]:
    """Animal → stats bins it has no usable value in."""
    out = {}
    for animal, sub in per.groupby("animal"):
        have = {int(b) for b in sub["bin"]}
        lacking = [b for b in bins if b not in have]
        if lacking:
            out[str(animal)] = lacking
    return out


def compare_auc(frame: pd.DataFrame, column: str, groups: list[str], vehicle: str,
                correction: str, alpha: float, label: str) -> dict:
    """Welch's ANOVA of an AUC column across groups, then each group against vehicle."""
    import pingouin as pg

    data = frame[~frame["excluded"] & frame[column].notna()]
    data = data[np.isfinite(data[column].to_numpy(float))]
    present = [g for g in groups if (data["group"] == g).sum() >= 2]
    out: dict[str, Any] = {"measure": label, "tests": []}
    if len(present) >= 2:
        sub = data[data["group"].isin(present)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            row = pg.welch_anova(data=sub, dv=column, between="group").iloc[0].to_dict()
        out["tests"].append({"name": f"Welch's ANOVA of {label} across groups",
                             "statistic": "F", "value": _col(row, "F"),
                             "df": [_col(row, "ddof1"), _col(row, "ddof2")],
                             "p": _col(row, "p_unc", "p-unc")})
    pairs = []
    if vehicle in present:
        y = data[data["group"] == vehicle][column].to_numpy(float)
        for g in present:
            if g == vehicle:
                continue
            x = data[data["group"] == g][column].to_numpy(float)
            pairs.append({"name": f"{label}: {g} vs {vehicle} (Welch's t-test)", "group": g,
                          "versus": vehicle, "n": [len(x), len(y)],
                          "difference": float(x.mean() - y.mean()), **_welch(x, y)})
    for r, p in zip(pairs, _correct([r["p"] for r in pairs], correction)):
        r["p_adjusted"] = p
        r["significant"] = bool(math.isfinite(p) and p < alpha)
    out["tests"] += pairs
    out["correction"] = _method_name(correction)
    return out


def analyse(table: pd.DataFrame, groups: list[str], vehicle: str, *, bin_min: float,
            include_baseline: bool = False, window: tuple[float, float] | None = None,
            auc_window: tuple[float, float] | None = None, correction: str = "holm",
            alpha: float = 0.05, family: str = "bin") -> dict:
    """Every statistic of the study as JSON-ready data (see the module docstring)."""
    per_all = animal_bins(table[~table["excluded"]])
    bins = stats_bins(per_all, include_baseline, window, bin_min)
    per = per_all[per_all["bin"].isin(bins)]
    out: dict[str, Any] = {"bins": [{"bin": b, "start_min": b * bin_min,
                                     "end_min": (b + 1) * bin_min} for b in bins]}
    counts = per.groupby("group")["animal"].nunique()
    usable = [g for g in groups if counts.get(g, 0) >= 2]
    out["n_animals"] = {g: int(counts.get(g, 0)) for g in groups}
    missing = missing_cells(per, bins)
    tests: list[dict] = []
    if len(usable) < 2 or len(bins) < 2:
        out["model"] = "none"
        out["model_reason"] = ("needs at least two groups of two animals and two time bins "
                               f"(groups with two or more animals: {len(usable)}; bins: "
                               f"{len(bins)})")
    else:
        per = per[per["group"].isin(usable)]
        if not missing:
            out["model"] = MIXED_ANOVA
            out["model_reason"] = (f"every animal has a value in each of the {len(bins)} "
                                   "bins: two-way mixed ANOVA, treatment × time")
            tests += mixed_anova(per)
        else:
            detail = "; ".join(f"{a}: {', '.join(f'{b * bin_min:g} min' for b in bs)}"
                               for a, bs in sorted(missing.items()))
            out["model"] = MIXED_MODEL
            out["model_reason"] = ("samples missing or flagged (" + detail + "): a linear "
                                   "mixed model with a random intercept per animal uses "
                                   "every value there is")
            model_tests, info = mixed_model(per, usable, vehicle)
            tests += model_tests
            out["mixed_model"] = info
    out["missing"] = missing
    out["omnibus"] = tests
    out["posthoc"] = posthoc(per, usable, vehicle if vehicle in usable else "", bins,
                             correction, alpha, bin_min, family)
    return out
