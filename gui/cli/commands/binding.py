"""``raphe binding FILE.csv [--radioligand-nM L] [--kd-nM KD] [--out DIR] [--json]``: Ki from
radioligand competition binding (IC50 with its 95 % CI, Hill slope, Cheng–Prusoff Ki, flags,
a figure of the curves).

Also ``raphe simulate binding`` (``simulate.py`` hands over with the seed's Ki table).
"""

from __future__ import annotations

import argparse

NAME = "binding"
HELP = ("fit radioligand competition curves: IC50 with its confidence interval, Hill slope, "
        "Ki by Cheng–Prusoff, flags, and a figure")
ORDER = 66


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE.csv",
                        help="one row per well: compound, well (total/nsb/competitor), conc_nM, "
                             "cpm (docs/studies.md)")
    parser.add_argument("--radioligand-nM", dest="radioligand_nM", type=float, metavar="L",
                        help="radioligand concentration (nM), unless the file has the column")
    parser.add_argument("--kd-nM", dest="kd_nM", type=float, metavar="KD",
                        help="the radioligand's K_D (nM), unless the file has the column")
    parser.add_argument("--out", metavar="DIR",
                        help="folder for binding.json, binding.csv and the figure "
                             "(default FILE_binding/); never written over")
    parser.add_argument("--json", action="store_true", help="print the fits as JSON")


def run(args: argparse.Namespace) -> int:
    import csv
    import json
    import math
    from pathlib import Path

    from raphe.acquisition.study.binding import binding_figure, fit_all, ranking, read_binding
    from raphe.acquisition.study.figures import save
    from raphe.errors import InputError

    for value, flag in ((args.radioligand_nM, "--radioligand-nM"), (args.kd_nM, "--kd-nM")):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise InputError(f"{flag} must be a number > 0, got {value:g}")
    source = Path(args.file)
    out = Path(args.out) if args.out else source.with_name(f"{source.stem}_binding")
    names = ("binding.json", "binding.csv", "curves.png", "curves.svg", "curves.pdf")
    for name in names:
        if (out / name).exists():
            raise InputError(f"--out {out}: already holds {name} (never overwritten; choose a "
                             "new folder)")
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a folder")
    assays = read_binding(source, args.radioligand_nM, args.kd_nM)
    fits = fit_all(assays)
    if not out.parent.is_dir():
        raise InputError(f"--out {out}: folder {out.parent} does not exist")
    out.mkdir(exist_ok=True)
    data = {"file": str(source), "fits": [f.as_json() for f in fits], "ranking": ranking(fits),
            "method": "one-site competition (4-parameter logistic in log concentration), "
                      "least squares weighted by counting statistics; IC50 95 % CI "
                      "asymptotic (t, n − 4 df); Ki = IC50 / (1 + L / K_D) (Cheng–Prusoff)"}
    with open(out / "binding.json", "x", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, ensure_ascii=False)
    columns = ("assay", "compound", "radioligand", "radioligand_nM", "kd_nM", "ic50_nM",
               "ic50_ci_low_nM", "ic50_ci_high_nM", "hill", "hill_ci_low", "hill_ci_high",
               "ki_nM", "ki_ci_low_nM", "ki_ci_high_nM", "top", "bottom", "r_squared",
               "n_points", "n_concentrations", "flags", "error")
    with open(out / "binding.csv", "x", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        for f in fits:
            w.writerow([f.assay, f.compound, f.radioligand, f"{f.radioligand_nM:g}",
                        f"{f.kd_nM:g}", f"{f.ic50_nM:.6g}", f"{f.ic50_ci_nM[0]:.6g}",
                        f"{f.ic50_ci_nM[1]:.6g}", f"{f.hill:.4g}", f"{f.hill_ci[0]:.4g}",
                        f"{f.hill_ci[1]:.4g}", f"{f.ki_nM:.6g}", f"{f.ki_ci_nM[0]:.6g}",
                        f"{f.ki_ci_nM[1]:.6g}", f"{f.top:.6g}", f"{f.bottom:.6g}",
                        f"{f.r_squared:.5f}", f.n_points, f.n_concentrations,
                        ",".join(f.flags), f.error])
    save(binding_figure(assays, fits), out / "curves")
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    for assay in assays.values():
        ligand = f"{assay.radioligand} " if assay.radioligand else "radioligand "
        print(f"{assay.name}: {ligand}{assay.radioligand_nM:g} nM, K_D {assay.kd_nM:g} nM")
        for f in (x for x in fits if x.assay == assay.name):
            if f.error:
                print(f"  {f.compound}: not fitted: {f.error}")
                continue
            flags = f"  [{', '.join(f.flags)}]" if f.flags else ""
            print(f"  {f.compound}: IC50 {f.ic50_nM:.3g} nM (95 % CI {f.ic50_ci_nM[0]:.3g}–"
                  f"{f.ic50_ci_nM[1]:.3g}), nH {f.hill:.2f} ({f.hill_ci[0]:.2f}–"
                  f"{f.hill_ci[1]:.2f}), Ki {f.ki_nM:.3g} nM ({f.ki_ci_nM[0]:.3g}–"
                  f"{f.ki_ci_nM[1]:.3g}){flags}")
    print("affinity, highest first: " + " > ".join(data["ranking"]))
    print(f"written to {out}/: " + ", ".join(names))
    return 0


# -- raphe simulate binding ----------------------------------------------------------------

def run_simulate(args: argparse.Namespace, ki_table: list[tuple[str, str, float]],
                 assays: list) -> int:
    """``raphe simulate binding``: a binding CSV from known Ki (the seed's table, handed over
    by ``simulate.py``: (assay, compound, Ki nM) and the assays' radioligands)."""
    from raphe.acquisition.study.binding import simulate_plate
    from raphe.errors import InputError
    from raphe.files import new_file

    if not args.out:
        raise InputError("--out: name the new binding file (.csv)")
    if not 1 <= args.replicates <= 12:
        raise InputError(f"--replicates must be 1-12, got {args.replicates}")
    if not 0 <= args.seed < 2**32:
        raise InputError(f"--seed must be a whole number from 0 to {2**32 - 1}")
    path = new_file(args.out, "--out")
    text = simulate_plate(assays, ki_table, seed=args.seed, replicates=args.replicates)
    with open(path, "x", encoding="utf-8") as fh:
        fh.write("# Ki truth (nM): " + ", ".join(f"{c} {k:g} ({a})" for a, c, k in ki_table)
                 + "\n")
        fh.write(text)
    for a in assays:
        print(f"{a.name}: {a.radioligand} {a.radioligand_nM:g} nM (K_D {a.kd_nM:g} nM), "
              "compounds " + ", ".join(f"{c} (Ki {k:g} nM)" for n, c, k in ki_table
                                       if n == a.name))
    print(f"written: {path}; next: raphe binding {path}")
    return 0
