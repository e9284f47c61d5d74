"""Draw docs/img/pharmacology.png: the virtual animal against the published microdialysis studies.

Nine panels, each dialysate level as % of the animal's own baseline (mean of the
three 20-min samples before the injection), for the typical animal (no
biological noise; a study's group mean):

1. the headline courses (vehicle, ipsapirone, fluoxetine, fluoxetine + WAY-100635);
2. citalopram vs fluoxetine in prefrontal cortex (time courses);
3. WAY-100635 alone (systemic and by reverse dialysis);
4-6. dose-response per drug and region (SSRI peaks, 5-HT1A agonist nadirs);
7. local WAY-100635 by reverse dialysis + citalopram, acute and after 14 days;
8. acute vs chronic: a citalopram challenge after 14 days of citalopram;
9. the other peaks: 5-HIAA, DA and NA.

Lines are the model at 1-min resolution, markers the 20-min samples (dose-response
panels: the peak or nadir sample). Run: ``python docs/pharmacology.py [output.png]``.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from raphe.simulators.animal import AnimalParams, VirtualAnimal
from raphe.simulators.drugs import Dose, Regimen

DOSE_MIN = 80.0
INTERVAL_MIN = 20.0
END_MIN = 380.0
FLOW_UL_MIN = 1.2
TYPICAL = replace(AnimalParams(), biological_cv=0.0)
PFC, VH, DH = "prefrontal_cortex", "ventral_hippocampus", "dorsal_hippocampus"
REGION_STYLE = {PFC: ("PFC", "tab:red"), VH: ("vHipp", "tab:blue"), DH: ("dHipp", "tab:green")}
CHRONIC = (Regimen("citalopram", 10.0, "ip", days=14, per_day=2),)
CITALOPRAM_10_UMOL = 10 * 0.3244  # 10 µmol/kg (Bosker et al. 2001) as free base, mg/kg


def course(region: str, doses: list[Dose], analyte: str = "5-HT", history=()):
    """Minute-resolution % baseline and the 20-min sample means, time from the dose (min)."""
    animal = VirtualAnimal(region, params=TYPICAL, history=history)
    for dose in doses:
        animal.administer(dose)
    t_min = np.arange(0.0, END_MIN, 1.0)
    level = animal.relative_level(analyte, t_min * 60.0)
    per_sample = level.reshape(-1, int(INTERVAL_MIN)).mean(axis=1)
    baseline = per_sample[1:4].mean()
    return t_min - DOSE_MIN, 100.0 * level / baseline, 100.0 * per_sample / baseline


def extreme(region: str, doses: list[Dose], rise: bool, history=()) -> float:
    """Peak (``rise``) or nadir of the post-dose 20-min samples, % baseline."""
    _, _, sampled = course(region, doses, history=history)
    post = sampled[int(DOSE_MIN / INTERVAL_MIN):]
    return float(post.max() if rise else post.min())


STARTS = np.arange(0.0, END_MIN, INTERVAL_MIN) - DOSE_MIN


def draw(ax, region, doses, label, colour, analyte="5-HT", history=(), ls="-"):
    t, line, sampled = course(region, doses, analyte, history)
    ax.plot(t, line, color=colour, lw=1.0, alpha=0.45, ls=ls)
    ax.plot(STARTS + INTERVAL_MIN / 2, sampled, "o", color=colour, ms=3.5, ls=ls, lw=1.4,
            label=label)


def time_axes(ax, title, top=None):
    ax.axvline(0.0, color="k", lw=0.8, ls=":")
    ax.axhline(100.0, color="k", lw=0.6)
    ax.set_xlim(STARTS[0], STARTS[-1] + INTERVAL_MIN)
    if top is not None:
        ax.set_ylim(0, top)
    ax.set_xlabel("time from injection (min)")
    ax.set_ylabel("% of baseline")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=7, framealpha=0.8)


def dose_axes(ax, title, ylabel):
    ax.set_xscale("log")
    ax.axhline(100.0, color="k", lw=0.6)
    ax.set_xlabel("dose (mg/kg)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, frameon=False)


def dose_response(ax, drug, route, doses, rise, regions=(PFC, VH, DH)):
    for region in regions:
        name, colour = REGION_STYLE[region]
        y = [extreme(region, [Dose(drug, d, route, DOSE_MIN)], rise) for d in doses]
        ax.plot(doses, y, "o-", color=colour, ms=4, lw=1.4, label=name)


def main(out: Path) -> None:
    fig, axes = plt.subplots(3, 3, figsize=(15.0, 13.0), dpi=110)
    (a1, a2, a3), (a4, a5, a6), (a7, a8, a9) = axes

    draw(a1, PFC, [Dose("vehicle", 0.0, "ip", DOSE_MIN)], "vehicle (PFC)", "0.45")
    draw(a1, VH, [Dose("ipsapirone", 1.0, "sc", DOSE_MIN)], "ipsapirone 1 s.c. (vHipp)",
         "tab:blue")
    draw(a1, PFC, [Dose("fluoxetine", 10.0, "ip", DOSE_MIN)], "fluoxetine 10 i.p. (PFC)",
         "tab:orange")
    draw(a1, PFC, [Dose("fluoxetine", 10.0, "ip", DOSE_MIN),
                   Dose("way-100635", 0.3, "sc", DOSE_MIN)],
         "fluoxetine 10 i.p. + WAY-100635 0.3 s.c. (PFC)", "tab:red")
    time_axes(a1, "1. Headline courses (mg/kg)")

    for dose, colour in ((10.0, "tab:orange"), (20.0, "tab:brown")):
        draw(a2, PFC, [Dose("fluoxetine", dose, "ip", DOSE_MIN)], f"fluoxetine {dose:g} i.p.",
             colour)
    for dose, colour in ((2.5, "lightsteelblue"), (10.0, "tab:purple"), (25.0, "indigo")):
        draw(a2, PFC, [Dose("citalopram", dose, "ip", DOSE_MIN)], f"citalopram {dose:g} i.p.",
             colour)
    time_axes(a2, "2. Citalopram vs fluoxetine, prefrontal cortex")

    for dose, colour in ((0.1, "tab:cyan"), (1.0, "tab:blue")):
        draw(a3, PFC, [Dose("way-100635", dose, "sc", DOSE_MIN)],
             f"WAY-100635 {dose:g} mg/kg s.c.", colour)
    draw(a3, PFC, [Dose("way-100635", 1.0, "rd", DOSE_MIN)], "WAY-100635 1 µM by reverse dialysis",
         "tab:red")
    draw(a3, PFC, [Dose("vehicle", 0.0, "ip", DOSE_MIN)], "vehicle", "0.45")
    time_axes(a3, "3. WAY-100635 alone, prefrontal cortex", top=200)

    dose_response(a4, "fluoxetine", "ip", [1.0, 3.0, 10.0, 20.0], rise=True)
    dose_axes(a4, "4. Fluoxetine i.p.: peak 5-HT", "peak (% of baseline)")
    dose_response(a5, "citalopram", "ip", [1.0, 2.5, 10.0, 25.0], rise=True)
    dose_axes(a5, "5. Citalopram i.p.: peak 5-HT", "peak (% of baseline)")
    for drug, marker in (("ipsapirone", "o-"), ("8-oh-dpat", "s--")):
        doses = [0.03, 0.1, 0.3, 1.0, 3.0] if drug == "ipsapirone" else [0.025, 0.05, 0.1, 0.25]
        for region in (PFC, VH, DH):
            name, colour = REGION_STYLE[region]
            y = [extreme(region, [Dose(drug, d, "sc", DOSE_MIN)], rise=False) for d in doses]
            a6.plot(doses, y, marker, color=colour, ms=4, lw=1.2,
                    label=f"{'ipsapirone' if drug == 'ipsapirone' else '8-OH-DPAT'} {name}")
    dose_axes(a6, "6. 5-HT1A agonists s.c.: nadir 5-HT", "nadir (% of baseline)")
    a6.set_ylim(0, 110)

    cit = Dose("citalopram", CITALOPRAM_10_UMOL, "sc", DOSE_MIN)
    local_way = Dose("way-100635", 1.0, "rd", DOSE_MIN - 60.0)
    draw(a7, PFC, [cit], "citalopram 10 µmol/kg s.c.", "tab:purple")
    draw(a7, PFC, [cit, local_way], "+ WAY-100635 1 µM local (from -60 min)", "tab:red")
    draw(a7, PFC, [cit], "after 14 d citalopram", "tab:purple", history=CHRONIC, ls="--")
    draw(a7, PFC, [cit, local_way], "after 14 d: + local WAY-100635", "tab:red",
         history=CHRONIC, ls="--")
    time_axes(a7, "7. Local WAY-100635 + citalopram, PFC (acute ─, chronic --)")

    for region, colour in ((PFC, "tab:red"), (DH, "tab:green")):
        name = REGION_STYLE[region][0]
        draw(a8, region, [Dose("citalopram", 1.0, "ip", DOSE_MIN)], f"{name}, naive", colour)
        draw(a8, region, [Dose("citalopram", 1.0, "ip", DOSE_MIN)],
             f"{name}, after 14 d citalopram 10 b.i.d.", colour, history=CHRONIC, ls="--")
    time_axes(a8, "8. Citalopram 1 mg/kg i.p. challenge: naive vs chronic")

    flx = [Dose("fluoxetine", 10.0, "ip", DOSE_MIN)]
    draw(a9, PFC, flx, "5-HIAA, fluoxetine 10 i.p. (PFC)", "tab:olive", analyte="5-HIAA")
    draw(a9, VH, [Dose("8-oh-dpat", 0.1, "sc", DOSE_MIN)], "5-HIAA, 8-OH-DPAT 0.1 s.c. (vHipp)",
         "tab:gray", analyte="5-HIAA")
    draw(a9, PFC, flx, "DA, fluoxetine 10 i.p. (PFC)", "tab:orange", analyte="DA")
    draw(a9, PFC, [Dose("citalopram", 10.0, "ip", DOSE_MIN)], "DA, citalopram 10 i.p. (PFC)",
         "tab:purple", analyte="DA")
    draw(a9, PFC, flx, "NA, fluoxetine 10 i.p. (PFC)", "tab:pink", analyte="NA")
    time_axes(a9, "9. 5-HIAA, DA and NA", top=250)

    fig.suptitle("Virtual animal vs published microdialysis studies "
                 "(typical animal, 20-min samples; sources in docs/virtual-animal.md)",
                 fontsize=12)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    default = Path(__file__).resolve().parent / "img" / "pharmacology.png"
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else default)
