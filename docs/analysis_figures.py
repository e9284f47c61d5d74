"""Draw docs/img/analysis-riders.png, analysis-messy.png and analysis-broad.png for
analysis-method.md.

1. A synthetic dialysate run (``synthetic.dialysate_case``): 5-HT riding on the
   tail of a 5-HIAA peak ~100× larger, integrated with a drop line, a tangent
   skim and the exponential skim; the shaded area is what each gives 5-HT.
2. The same kind of run with what goes wrong at the bench: baseline steps (one
   on the NA peak), a clipped 5-HIAA top and negative peaks, with the flags and
   codes Raphe gives.
3. Broad peaks (``synthetic.grid_case``): 5-HT riding on a 5-HIAA tail at σ 4 s and
   σ 12 s with the exponential skim, and the broad one on a drop line, which the
   whole-cluster fit contradicts: ``unresolved``.

Run: ``python docs/analysis_figures.py [output folder]``.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from raphe.acquisition.analysis import synthetic as sy
from raphe.acquisition.analysis.chromatogram import Chromatogram
from raphe.acquisition.analysis.method import load_method, parse_method
from raphe.acquisition.analysis.quantify import quantify

ROOT = Path(__file__).resolve().parent.parent
METHOD = load_method(ROOT / "tests" / "analysis" / "data" / "dialysate-riders.toml")


def _with_skim(kind: str):
    return parse_method(METHOD.text.replace('skim = "exponential"', f'skim = "{kind}"'), kind)


def _baseline(peak, t):
    if peak.skim_curve is not None:
        return peak.skim_curve[:len(t)]
    (t0, v0), (t1, v1) = peak.baseline_start, peak.baseline_end
    return v0 + (v1 - v0) * (t - t0) / (t1 - t0)


def _draw_area(ax, case, truth, peak, m) -> float:
    """The signal, the true tail under 5-HT, its integrated area and baseline; the area's
    error (%)."""
    ax.plot(case.t[m], case.y[m], color="k", lw=1.0, label="signal")
    under = case.y - sy.emg(case.t, truth)
    ax.plot(case.t[m], under[m], color="0.6", lw=1.0, ls=":", label="true tail under 5-HT")
    seg = (case.t >= peak.start_s - 1e-9) & (case.t <= peak.end_s + 1e-9)
    base = _baseline(peak, case.t[seg])
    ax.fill_between(case.t[seg], base, case.y[seg], color="tab:orange", alpha=0.5,
                    label="5-HT area")
    ax.plot(case.t[seg], base, color="tab:red", lw=1.2, label="baseline under 5-HT")
    return 100 * (peak.area / truth.area - 1)


def riders(out: Path) -> None:
    case = sy.dialysate_case(np.random.default_rng(5), sn=40.0, ratio=120.0, delay_s=55.0)
    truth = case.peaks["5-HT"]
    chrom = Chromatogram(case.t, case.y, "nA")
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), sharey=True)
    hiaa_t = sy.apex(case.peaks["5-HIAA"])[0]
    lo, hi = hiaa_t + 15, hiaa_t + 110
    m = (case.t > lo) & (case.t < hi)
    for ax, kind, title in zip(axes, ("drop", "tangent", "exponential"),
                               ("drop line", "tangent skim", "exponential skim"), strict=True):
        res = quantify(chrom, _with_skim(kind))
        ht = res.analytes["5-HT"].peak
        if ht is None:
            ax.plot(case.t[m], case.y[m], color="k", lw=1.0, label="signal")
            ax.set_title(f"{title}: 5-HT not separated")
            continue
        err = _draw_area(ax, case, truth, ht, m)
        ax.set_title(f"{title}: code {ht.code}, area {err:+.0f} %")
        ax.set_xlabel("time from injection (s)")
    axes[0].set_ylabel("ECD current (nA)")
    low = float(np.min(case.y[m]))
    axes[0].set_ylim(low - 0.005, low + 0.09)
    axes[0].legend(loc="upper right", fontsize=8)
    fig.suptitle("5-HT on a 5-HIAA tail 120× its area: what each skim gives 5-HT")
    fig.tight_layout()
    fig.savefig(out / "analysis-riders.png", dpi=90)
    plt.close(fig)


def messy(out: Path) -> None:
    case = sy.dialysate_case(np.random.default_rng(31), clip="5-HIAA", dips=2)
    # two baseline steps: one on the NA peak, one between peaks
    steps = ((sy.apex(case.peaks["NA"])[0] + 2.0, 0.012), (244.0, 0.023))
    y = case.y + sum(np.where(case.t >= when, size, 0.0) for when, size in steps)
    case = dataclasses.replace(case, y=y, steps=steps)
    res = quantify(Chromatogram(case.t, case.y, "nA"), METHOD)
    fig, ax = plt.subplots(figsize=(13, 4.6))
    ax.plot(case.t, case.y, color="k", lw=0.8)
    for pk in res.peaks:
        seg = (case.t >= pk.start_s - 1e-9) & (case.t <= pk.end_s + 1e-9)
        ax.plot(case.t[seg], _baseline(pk, case.t[seg]), color="tab:red", lw=1.0)
        label = (pk.name or "") + f" {pk.code}" + (" step" if pk.baseline_step else "")
        ax.annotate(label.strip(), (pk.rt_s, min(np.interp(pk.rt_s, case.t, case.y), 2.09)),
                    textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    for when, size in case.steps:
        ax.axvline(when, color="tab:purple", lw=0.8, ls="--")
        ax.annotate(f"step {size * 1e3:+.0f} pA, found", (when, 2.06),
                    fontsize=8, color="tab:purple", xytext=(4, 0), textcoords="offset points")
    for d in case.dips:
        ax.annotate("negative peak: not a peak, not noise", (sy.apex(d)[0], 1.97),
                    fontsize=8, color="tab:blue", ha="center")
    flags = {name: ",".join(a.flags) or "-" for name, a in res.analytes.items()}
    text = "flags: " + "; ".join(f"{k}: {v}" for k, v in flags.items() if k != "solvent front")
    ax.set_title(text, fontsize=9)
    ax.set_xlabel("time from injection (s)")
    ax.set_ylabel("ECD current (nA)")
    ax.set_ylim(1.95, 2.1)
    fig.tight_layout()
    fig.savefig(out / "analysis-messy.png", dpi=90)
    plt.close(fig)


def broad(out: Path) -> None:
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    runs = ((4.0, "exponential", "σ 4 s"), (12.0, "exponential", "σ 12 s"),
            (12.0, "drop", "σ 12 s, drop line"))
    for ax, (sigma, skim, title) in zip(axes, runs, strict=True):
        point = sy.GridPoint(ht_sigma=sigma, hiaa_sigma=0.85 * sigma, tau=12.0, ratio=150.0,
                             delay_s=60.0, sn=40.0, wander_pA=0.0, wander_period_s=200.0,
                             seed=3)
        case = sy.grid_case(point)
        truth = case.peaks["5-HT"]
        res = quantify(Chromatogram(case.t, case.y, "nA"),
                       parse_method(sy.grid_method_text(point, skim), skim))
        ht_t = sy.apex(truth)[0]
        m = (case.t > ht_t - 40 - 3 * sigma) & (case.t < ht_t + 40 + 3 * sigma)
        a = res.analytes["5-HT"]
        ht = a.peak
        err = _draw_area(ax, case, truth, ht, m)
        flags = ", ".join(a.flags) or "no flag"
        ax.set_title(f"{title}: {ht.code}, {err:+.0f} %, {flags}", fontsize=10)
        ax.set_xlabel("time from injection (s)")
        low = float(np.min(case.y[m]))
        top = float(np.interp(ht_t, case.t, case.y)) + 1.5 * sy.apex(truth)[1]
        ax.set_ylim(low - 0.3 * (top - low), top)
    axes[0].set_ylabel("ECD current (nA)")
    axes[0].legend(loc="upper right", fontsize=8)
    fig.suptitle("5-HT on a 5-HIAA tail 150× its area at two widths; a drop line the "
                 "whole-cluster fit contradicts is flagged")
    fig.tight_layout()
    fig.savefig(out / "analysis-broad.png", dpi=90)
    plt.close(fig)


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else ROOT / "docs" / "img"
    out.mkdir(parents=True, exist_ok=True)
    riders(out)
    messy(out)
    broad(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
