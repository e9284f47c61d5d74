"""A study: sessions → tidy table → time courses, AUC, statistics, report and figure.

Sessions are only read (``SessionReader``); everything a study writes goes into its own
output folder, and never over an existing file::

    study = load_study(["sessions/"], load_config("study.toml"))
    result = analyse_study(study)
    write_study(study, result, "study-out")   # table.csv/.parquet, timecourse.csv,
                                              # animals.csv, study.json, report.md,
                                              # figure.png/.svg/.pdf
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pandas as pd

from raphe import __version__
from raphe.acquisition.study import stats
from raphe.acquisition.study.config import StudyConfig
from raphe.acquisition.study.table import (
    SessionData,
    assign_groups,
    build_table,
    default_bin,
    expand_sources,
    read_session,
    vehicle_group,
)
from raphe.errors import InputError

#: Files a study writes into its folder.
OUTPUTS = ("table.csv", "table.parquet", "timecourse.csv", "animals.csv", "study.json",
           "report.md", "figure.png", "figure.svg", "figure.pdf")


@dataclass
class Study:
    config: StudyConfig
    sessions: list[SessionData]
    groups: list[str]
    vehicle: str
    bin_min: float
    table: pd.DataFrame
    warnings: list[str] = field(default_factory=list)

    @property
    def analyte(self) -> str:
        return self.config.analyte


@dataclass
class StudyResult:
    timecourse: pd.DataFrame
    animals: pd.DataFrame
    statistics: dict[str, Any]

    def test(self, effect: str) -> dict | None:
        """The omnibus test of ``effect`` (``treatment``, ``time``, ``treatment × time``)."""
        return next((t for t in self.statistics["omnibus"] if t["effect"] == effect), None)


def load_study(sources: list[str] | tuple[str, ...], config: StudyConfig,
               progress: Callable[[int, int, str], None] | None = None) -> Study:
    """Read every session named by ``sources`` (or the config's ``sources``)."""
    if sources:
        paths = expand_sources(sources)
    elif config.sources:
        paths = expand_sources(config.sources, base=config.folder)
    else:
        raise InputError("study: no sessions given (name files, folders or globs, or "
                         "sources = [...] in the study config)")
    sessions = []
    for i, path in enumerate(paths):
        if progress is not None:
            progress(i, len(paths), path.name)
        sessions.append(read_session(path, config.analyte))
    if progress is not None:
        progress(len(paths), len(paths), "")
    warnings = []
    for s in sessions:
        warnings += [f"{s.path.name}: {note}" for note in s.notes]
        if s.status == "open":
            warnings.append(f"{s.path.name}: not complete (being written, or its writer "
                            "crashed): its stored results are used as they are")
    groups = assign_groups(sessions, config)
    for key in config.exclude:
        if not any(fnmatch(x, key) for s in sessions
                   for x in (s.animal, s.path.stem, s.path.name)):
            warnings.append(f"{config.path or 'study config'}: exclude.{key} matches no "
                            "session of this study")
    vehicle = vehicle_group(sessions, config)
    if not vehicle:
        warnings.append("no vehicle group: post hoc tests against vehicle are left out "
                        "(name the control with vehicle = \"…\" in the study config)")
    bin_min = config.bin_min or default_bin(sessions)
    table = build_table(sessions, bin_min)
    if not len(table):
        raise InputError(f"study: no {config.analyte} results in any session "
                         f"({len(sessions)} read)")
    return Study(config, sessions, groups, vehicle, bin_min, table, warnings)


def analyse_study(study: Study) -> StudyResult:
    c = study.config
    course = stats.timecourse(study.table[~study.table["excluded"]], study.groups,
                              study.bin_min)
    animals = stats.animals(study.table, study.groups, c.auc_window_min)
    numbers = stats.analyse(study.table, study.groups, study.vehicle, bin_min=study.bin_min,
                            include_baseline=c.include_baseline, window=c.stats_window_min,
                            auc_window=c.auc_window_min, correction=c.correction,
                            alpha=c.alpha, family=c.posthoc_family)
    numbers["auc"] = stats.compare_auc(animals, "auc_pct_min", study.groups, study.vehicle,
                                       c.correction, c.alpha, "AUC of post-drug % baseline − 100")
    if c.auc_window_min:
        a, b = c.auc_window_min
        numbers["auc_window"] = stats.compare_auc(
            animals, "auc_window_pct_min", study.groups, study.vehicle, c.correction, c.alpha,
            f"AUC of % baseline − 100, {a:g}–{b:g} min")
    return StudyResult(course, animals, numbers)


def all_tests(result: StudyResult) -> list[dict]:
    """Every test of the study in the report's order (omnibus, post hoc, AUC)."""
    s = result.statistics
    out = list(s["omnibus"]) + list(s["posthoc"]["tests"]) + list(s["auc"]["tests"])
    if "auc_window" in s:
        out += s["auc_window"]["tests"]
    return out


def summary(study: Study, result: StudyResult) -> dict[str, Any]:
    """The study as JSON-ready data: design, groups, animals, time courses, statistics."""
    s = study
    excluded = [{"animal": x.animal, "group": x.group, "session": x.path.name,
                 "reason": x.excluded} for x in s.sessions if x.excluded]
    data = {
        "raphe_version": __version__,
        "title": s.config.title,
        "analyte": s.analyte,
        "config": s.config.path,
        "sessions": len(s.sessions),
        "groups": [{"name": g, "vehicle": g == s.vehicle,
                    "animals": sorted(x.animal for x in s.sessions if x.group == g),
                    "n_included": sum(1 for x in s.sessions if x.group == g and not x.excluded)}
                   for g in s.groups],
        "vehicle": s.vehicle,
        "bin_min": s.bin_min,
        "excluded": excluded,
        "warnings": s.warnings,
        "timecourse": result.timecourse.to_dict("records"),
        "animals": result.animals.to_dict("records"),
        "statistics": result.statistics,
        "tests": [{k: t.get(k) for k in ("name", "statistic", "value", "df", "p",
                                          "p_adjusted")} for t in all_tests(result)],
    }
    return stats.clean(data)


def _fmt_p(p: float | None, name: str = "p") -> str:
    if p is None or not math.isfinite(p):
        return f"{name} n/a"
    return f"{name} < 0.0001" if p < 1e-4 else f"{name} = {p:.4f}"


def _fmt_df(df: list) -> str:
    return ", ".join("n/a" if v is None or not math.isfinite(v) else f"{v:.3g}" for v in df)


def format_test(t: dict) -> str:
    value = t.get("value")
    v = "n/a" if value is None or not math.isfinite(value) else f"{value:.3f}"
    stat = {"chi2": "χ²"}.get(t["statistic"], t["statistic"])
    line = f"{t['name']}: {stat}({_fmt_df(t['df'])}) = {v}, {_fmt_p(t['p'])}"
    if t.get("p_adjusted") is not None:
        line += f", {_fmt_p(t['p_adjusted'], 'adjusted p')}"
    if t.get("p_note"):
        line += f" ({t['p_note']})"
    return line


def report(study: Study, result: StudyResult) -> str:
    """The study report (Markdown): design, exclusions, model and every test."""
    s, r = study, result
    st = r.statistics
    lines = [f"# {s.config.title or 'Study'}", "",
             (f"{s.analyte} as % of each animal's own baseline (the analysis core's stored "
              f"values), {len(s.sessions)} sessions, bins of {s.bin_min:g} min after the drug "
              f"(probe-time midpoints). Raphe {__version__}."), "", "## Groups", "",
             "| group | animals | included |", "|---|---|---|"]
    for g in s.groups:
        members = [x for x in s.sessions if x.group == g]
        mark = " (vehicle)" if g == s.vehicle else ""
        lines.append(f"| {g}{mark} | {len(members)} | {sum(not x.excluded for x in members)} |")
    excluded = [x for x in s.sessions if x.excluded]
    if excluded:
        lines += ["", "Excluded from the statistics (kept in the table):", ""]
        lines += [f"- {x.animal} ({x.group}, {x.path.name}): {x.excluded}" for x in excluded]
    if s.warnings:
        lines += ["", "Notes:", ""] + [f"- {w}" for w in s.warnings]
    lines += ["", "## Time course (mean ± SEM, % of baseline)", "",
              "| min after drug | " + " | ".join(s.groups) + " |",
              "|---|" + "---|" * len(s.groups)]
    course = r.timecourse
    for k in sorted(course["bin"].unique()):
        cells = []
        for g in s.groups:
            row = course[(course["group"] == g) & (course["bin"] == k)]
            if not len(row):
                cells.append("–")
                continue
            x = row.iloc[0]
            sem = "" if not math.isfinite(x["sem_pct"]) else f" ± {x['sem_pct']:.1f}"
            cells.append(f"{x['mean_pct']:.1f}{sem} (n={x['n']})")
        lines.append(f"| {k * s.bin_min:g}–{(k + 1) * s.bin_min:g} | " + " | ".join(cells) + " |")
    lines += ["", "## Statistics", "", f"Model: **{st['model']}** — {st['model_reason']}.", ""]
    lines += [f"- {format_test(t)}" for t in st["omnibus"]]
    if "mixed_model" in st:
        info = st["mixed_model"]
        lines += ["", (f"Mixed model `{info['formula']}`: {info['observations']} values of "
                       f"{info['animals']} animals, reference group {info['reference_group']}, "
                       f"converged: {info['converged']}.")]
        lines += [f"- note: {n}" for n in info["notes"]]
    lines += ["", f"Post hoc: {st['posthoc']['method']}.", ""]
    lines += [f"- {format_test(t)}{' *' if t['significant'] else ''}"
              for t in st["posthoc"]["tests"]]
    for key in ("auc", "auc_window"):
        if key in st:
            lines += ["", (f"{st[key]['measure']} (% · min), corrected with "
                           f"{st[key]['correction']}:"), ""]
            lines += [f"- {format_test(t)}" for t in st[key]["tests"]]
    lines += ["", "## Animals", "",
              "| animal | group | AUC (% · min) | peak (%) | at (min) | excluded |",
              "|---|---|---|---|---|---|"]
    for a in r.animals.to_dict("records"):
        auc = "n/a" if not math.isfinite(a["auc_pct_min"]) else f"{a['auc_pct_min']:.0f}"
        peak = "n/a" if not math.isfinite(a["peak_pct"]) else f"{a['peak_pct']:.1f}"
        at = "n/a" if not math.isfinite(a["peak_time_min"]) else f"{a['peak_time_min']:.0f}"
        lines.append(f"| {a['animal']} | {a['group']} | {auc} | {peak} | {at} | "
                     f"{a['exclusion_reason'] or ''} |")
    lines += ["", f"`*` significant at α = {s.config.alpha:g} after correction.", ""]
    return "\n".join(lines)


def out_paths(out: str | Path) -> dict[str, Path]:
    """The files a study writes into ``out``; refused if any exists."""
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"--out {folder}: exists and is not a folder")
    paths = {name: folder / name for name in OUTPUTS}
    there = [p for p in paths.values() if p.exists()]
    if there:
        raise InputError(f"--out {folder}: already holds {there[0].name} (never overwritten; "
                         "choose a new folder)")
    if not folder.parent.is_dir():
        raise InputError(f"--out {folder}: folder {folder.parent} does not exist")
    return paths


def write_study(study: Study, result: StudyResult, out: str | Path,
                figure: bool = True) -> list[Path]:
    """Write the table (CSV, Parquet), the summaries, the JSON, the report and the figure."""
    paths = out_paths(out)
    Path(out).mkdir(exist_ok=True)
    written = []

    def new(name: str) -> Path:
        written.append(paths[name])
        return paths[name]

    table = study.table.copy()
    table.to_csv(new("table.csv"), index=False, float_format="%.6g")
    table.to_parquet(new("table.parquet"), engine="pyarrow", index=False)
    result.timecourse.to_csv(new("timecourse.csv"), index=False, float_format="%.6g")
    result.animals.to_csv(new("animals.csv"), index=False, float_format="%.6g")
    with open(new("study.json"), "x", encoding="utf-8") as fh:
        json.dump(summary(study, result), fh, indent=2, ensure_ascii=False)
    with open(new("report.md"), "x", encoding="utf-8") as fh:
        fh.write(report(study, result))
    if figure:
        from raphe.acquisition.study.figures import save, study_figure

        fig = study_figure(study, result)
        written += save(fig, Path(out) / "figure")
    return written
