"""Draw docs/img/pharmacology.png: the virtual animal's modelled dialysate 5-HT.

Four conditions, each as % of the animal's own baseline (mean of the three
20-min samples before the injection): vehicle, ipsapirone 1 mg/kg s.c.
(ventral hippocampus), fluoxetine 10 mg/kg i.p. (prefrontal cortex), and
fluoxetine 10 mg/kg i.p. + WAY-100635 0.3 mg/kg s.c. (prefrontal cortex).
Lines are the model at 1-min resolution, markers the 20-min samples.

Run: ``python docs/pharmacology.py [output.png]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from raphe.simulators.animal import VirtualAnimal
from raphe.simulators.drugs import Dose

DOSE_MIN = 80.0
INTERVAL_MIN = 20.0
END_MIN = 380.0
FLOW_UL_MIN = 1.2
SEED = 0

CONDITIONS = [
    ("vehicle (PFC)", "prefrontal_cortex", [Dose("vehicle", 0.0, "ip", DOSE_MIN)], "0.45"),
    ("ipsapirone 1 mg/kg s.c. (vHipp)", "ventral_hippocampus",
     [Dose("ipsapirone", 1.0, "sc", DOSE_MIN)], "tab:blue"),
    ("fluoxetine 10 mg/kg i.p. (PFC)", "prefrontal_cortex",
     [Dose("fluoxetine", 10.0, "ip", DOSE_MIN)], "tab:orange"),
    ("fluoxetine 10 i.p. + WAY-100635 0.3 s.c. (PFC)", "prefrontal_cortex",
     [Dose("fluoxetine", 10.0, "ip", DOSE_MIN), Dose("way-100635", 0.3, "sc", DOSE_MIN)],
     "tab:red"),
]


def course(region: str, doses: list[Dose]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minute-resolution % baseline and the 20-min sample means, time from the dose (min)."""
    animal = VirtualAnimal(region, seed=SEED)
    for dose in doses:
        animal.administer(dose)
    t_min = np.arange(0.0, END_MIN, 1.0)
    nM = animal.dialysate_nM(t_min * 60.0, FLOW_UL_MIN)
    per_sample = nM.reshape(-1, int(INTERVAL_MIN)).mean(axis=1)
    baseline = per_sample[1:4].mean()
    return t_min - DOSE_MIN, 100.0 * nM / baseline, 100.0 * per_sample / baseline


def main(out: Path) -> None:
    fig, ax = plt.subplots(figsize=(8.0, 4.8), dpi=120)
    starts = np.arange(0.0, END_MIN, INTERVAL_MIN) - DOSE_MIN
    for label, region, doses, colour in CONDITIONS:
        t, line, sampled = course(region, doses)
        ax.plot(t, line, color=colour, lw=1.2, alpha=0.6)
        ax.plot(starts + INTERVAL_MIN / 2, sampled, "o-", color=colour, ms=4, lw=1.6, label=label)
    ax.axvline(0.0, color="k", lw=0.8, ls=":")
    ax.axhline(100.0, color="k", lw=0.6)
    ax.set_xlabel("time from injection (min)")
    ax.set_ylabel("dialysate 5-HT (% of baseline)")
    ax.set_title("Virtual animal: modelled dialysate 5-HT (seed 0, 1.2 µL/min, 20-min samples)")
    ax.set_xlim(starts[0], starts[-1] + INTERVAL_MIN)
    ax.set_ylim(0, max(ax.get_ylim()[1], 350))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    default = Path(__file__).resolve().parent / "img" / "pharmacology.png"
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else default)
