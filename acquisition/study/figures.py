"""The study's publication figure: (A) group time courses, mean ± SEM of % of baseline
against time after the drug, with the drug marker and the post hoc results; (B) AUC of
% baseline − 100 per animal by group, with the group mean ± SEM. Like the seed's
comparison of ipsapirone and SSRIs.

Drawn with matplotlib's object API (no pyplot, no GUI backend), so it works headless and
inside the Qt window alike.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

#: Vehicle is grey; treatments take these in order (colour-blind safe, Okabe–Ito).
VEHICLE_COLOUR = "#6b6b6b"
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h")
FORMATS = ("png", "svg", "pdf")


def colours(groups: list[str], vehicle: str) -> dict[str, str]:
    out, k = {}, 0
    for g in groups:
        if g == vehicle:
            out[g] = VEHICLE_COLOUR
        else:
            out[g] = COLOURS[k % len(COLOURS)]
            k += 1
    return out


def stars(p: float | None) -> str:
    if p is None or not math.isfinite(p):
        return ""
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


def _fmt_p(p: float | None) -> str:
    if p is None or not math.isfinite(p):
        return "n/a"
    return "p < 0.0001" if p < 1e-4 else f"p = {p:.4f}"


def omnibus_line(statistics: dict) -> str:
    """One line naming the model and its treatment × time test."""
    test = next((t for t in statistics.get("omnibus", []) if t["effect"] == "treatment × time"),
                None)
    if test is None:
        return "no treatment × time test (" + statistics.get("model_reason", "") + ")"
    df = ", ".join(f"{d:.3g}" for d in test["df"] if d is not None)
    stat = "χ²" if test["statistic"] == "chi2" else test["statistic"]
    note = " (Greenhouse–Geisser)" if "Greenhouse" in (test.get("p_note") or "") else ""
    return (f"{test['name']}: {stat}({df}) = {test['value']:.2f}, {_fmt_p(test['p'])}{note}")


def draw_timecourse(ax, study, result, colour: dict[str, str]) -> None:
    course = result.timecourse
    post = result.statistics.get("posthoc", {}).get("tests", [])
    ax.axhline(100.0, color="#999999", lw=0.8, ls=":", zorder=0)
    ax.axvline(0.0, color="#444444", lw=1.0, ls="--", zorder=0)
    for i, g in enumerate(study.groups):
        sub = course[course["group"] == g].sort_values("bin")
        if not len(sub):
            continue
        n = int(sub["n"].max())
        ax.errorbar(sub["time_min"], sub["mean_pct"], yerr=sub["sem_pct"].fillna(0.0),
                    color=colour[g], marker=MARKERS[i % len(MARKERS)], ms=5, lw=1.4,
                    capsize=2.5, elinewidth=1.0, label=f"{g} (n = {n})")
    ymin, ymax = ax.get_ylim()
    span = ymax - ymin
    ax.set_ylim(min(ymin, 0.0), ymax + 0.08 * span * max(1, len(study.groups) - 1))
    # post hoc: stars above the curves, one row per group, in the group's colour
    top = ymax + 0.02 * span
    times = course.groupby("bin")["time_min"].mean()
    rows = [g for g in study.groups if g != study.vehicle]
    for j, g in enumerate(rows):
        for t in post:
            if t["group"] != g or not t.get("significant"):
                continue
            x = times.get(t["bin"], (t["bin_start_min"] + t["bin_end_min"]) / 2)
            ax.text(x, top + j * 0.07 * span, stars(t["p_adjusted"]), color=colour[g],
                    ha="center", va="bottom", fontsize=9, fontweight="bold")
    ax.annotate("drug", xy=(0.0, 0.0), xycoords=("data", "axes fraction"), xytext=(3, 4),
                textcoords="offset points", fontsize=8, color="#444444")
    ax.set_xlabel("time after drug (min, probe-time midpoint)")
    ax.set_ylabel(f"{study.analyte} (% of baseline)")
    ax.set_title("A   group time courses, mean ± SEM", loc="left", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)


def draw_auc(ax, study, result, colour: dict[str, str]) -> None:
    animals = result.animals
    tests = {t.get("group"): t for t in result.statistics.get("auc", {}).get("tests", [])
             if t.get("group")}
    ax.axhline(0.0, color="#999999", lw=0.8, ls=":")
    rng = np.random.default_rng(0)
    labels = []
    for i, g in enumerate(study.groups):
        sub = animals[animals["group"] == g]
        inc = sub[~sub["excluded"]]["auc_pct_min"].to_numpy(float)
        inc = inc[np.isfinite(inc)]
        exc = sub[sub["excluded"]]["auc_pct_min"].to_numpy(float)
        jitter = rng.uniform(-0.12, 0.12, len(inc))
        ax.scatter(i + jitter, inc, s=22, color=colour[g], zorder=3,
                   marker=MARKERS[i % len(MARKERS)])
        if len(exc):
            ax.scatter(i + rng.uniform(-0.12, 0.12, len(exc)), exc, s=26, facecolors="none",
                       edgecolors="#999999", marker="o", zorder=2,
                       label="excluded animal" if "excluded animal" not in
                       [h.get_label() for h in ax.collections] else None)
        if len(inc):
            mean = float(inc.mean())
            sem = float(inc.std(ddof=1) / math.sqrt(len(inc))) if len(inc) > 1 else 0.0
            ax.errorbar(i + 0.3, mean, yerr=sem, color="black", marker="_", ms=14, capsize=3,
                        lw=1.2, zorder=4)
            mark = stars(tests.get(g, {}).get("p_adjusted")) if g != study.vehicle else ""
            if mark:
                hi = float(np.nanmax(inc))
                ax.annotate(mark, xy=(i, hi), xytext=(0, 6), textcoords="offset points",
                            ha="center", fontsize=10, fontweight="bold", color=colour[g])
        labels.append("\n".join(textwrap.wrap(g, 15)) + f"\n(n = {len(inc)})")
    ax.set_xticks(range(len(study.groups)), labels, fontsize=7.5)
    ax.set_xlim(-0.6, len(study.groups) - 0.4)
    ax.set_ylabel("AUC of % baseline − 100 (% · min)")
    ax.set_title("B   AUC after the drug, per animal", loc="left", fontsize=10)
    if any(animals["excluded"]):
        ax.legend(fontsize=8, frameon=False, loc="best")
    ax.spines[["top", "right"]].set_visible(False)


def study_figure(study, result, width_in: float = 12.0, height_in: float = 5.6) -> Figure:
    """The two-panel figure of a study (see the module docstring)."""
    fig = Figure(figsize=(width_in, height_in), layout="constrained")
    grid = fig.add_gridspec(1, 2, width_ratios=(1.75, 1.0))
    colour = colours(study.groups, study.vehicle)
    course = fig.add_subplot(grid[0])
    draw_timecourse(course, study, result, colour)
    draw_auc(fig.add_subplot(grid[1]), study, result, colour)
    rows = max(1, len(study.groups) - 1)
    course.legend(fontsize=8, frameon=True, framealpha=0.9, edgecolor="none",
                  loc="upper left", bbox_to_anchor=(0.0, 1.0 - 0.07 * rows))
    title = study.config.title or f"{study.analyte}: " + " vs ".join(study.groups)
    fig.suptitle("\n".join(textwrap.wrap(title, 150)), fontsize=11, x=0.01, ha="left")
    posthoc = result.statistics.get("posthoc", {})
    footer = omnibus_line(result.statistics)
    if posthoc.get("tests"):
        footer += (f".  Stars: each group vs {study.vehicle}; {posthoc['short']} "
                   "(* p < 0.05, ** p < 0.01, *** p < 0.001).")
    fig.text(0.01, 0.008, textwrap.fill(footer, 190), fontsize=7.5, color="#333333",
             ha="left", va="bottom")
    fig.get_layout_engine().set(rect=(0, 0.05, 1, 0.95))
    return fig


def save(fig: Figure, stem: str | Path, formats: tuple[str, ...] = FORMATS,
         dpi: int = 200) -> list[Path]:
    """Write ``stem.png/.svg/.pdf``; an existing file is never overwritten."""
    out = []
    for ext in formats:
        path = Path(f"{stem}.{ext}")
        with open(path, "xb") as fh:
            fig.savefig(fh, format=ext, dpi=dpi)
        out.append(path)
    return out
