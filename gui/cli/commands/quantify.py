"""``raphe quantify FILE``: integrate one chromatogram file and print its peaks."""

from __future__ import annotations

import argparse
import json
import math

NAME = "quantify"
HELP = "integrate a chromatogram file (ANDI .cdf, CSV, Chromeleon text) and list its peaks"
ORDER = 60


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="chromatogram file (.cdf, .csv, .txt)")
    parser.add_argument("--method", metavar="METHOD",
                        help="analysis method: a bundled name (e.g. simulated-5ht) or a TOML path;"
                             " default: report every peak with S/N >= 2")
    parser.add_argument("--volume-ul", type=float, metavar="UL",
                        help="injected volume in µL for concentrations (default: from the file, "
                             "else the calibration standards' volume)")
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of a table")


def _num(x: float | None, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.{digits}g}"


def run(args: argparse.Namespace) -> int:
    from raphe.acquisition.analysis.io_any import read_chromatogram
    from raphe.acquisition.analysis.method import default_method, load_method
    from raphe.acquisition.analysis.quantify import quantify
    from raphe.errors import InputError

    method = load_method(args.method) if args.method else default_method()
    chrom = read_chromatogram(args.file)
    volume = args.volume_ul
    if volume is not None and not volume > 0:
        raise InputError(f"--volume-ul must be > 0, got {volume:g}")
    if volume is None:
        volume = chrom.metadata.get("injection_volume_uL")
    if volume is None:
        vols = {s.volume_uL for p in method.peaks for s in p.standards}
        volume = vols.pop() if len(vols) == 1 else None
    result = quantify(chrom, method, volume)
    by_peak = {id(a.peak): a for a in result.analytes.values() if a.peak is not None}
    rows = []
    for p in result.peaks:
        a = by_peak.get(id(p))
        row = {
            "name": p.name, "rt_s": p.rt_s, "start_s": p.start_s, "end_s": p.end_s,
            "area": p.area, "height": p.height, "width_half_s": p.width_half_s, "sn": p.sn,
            "plates": p.plates, "tailing": p.tailing, "resolution": p.resolution,
            "codes": p.start_code + p.end_code,
            "conc_nM": a.conc_nM if a else None, "amount_fmol": a.amount_fmol if a else None,
            "flags": list(a.flags) if a else [],
        }
        rows.append({k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                     for k, v in row.items()})
    missing = [{"name": a.name, "flags": list(a.flags)} for a in result.analytes.values()
               if a.peak is None]
    if args.json:
        out = {"file": str(args.file), "method": method.name, "units": chrom.units,
               "volume_uL": volume, "peaks": rows, "missing": missing}
        print(json.dumps(out, indent=2))
        return 0
    units = chrom.units or "signal"
    print(f"{args.file}: {len(rows)} peaks  (method {method.name}, area in {units}·s)")
    head = f"{'#':>3} {'name':<14} {'RT s':>8} {'start':>8} {'end':>8} {'area':>10} " \
           f"{'height':>9} {'S/N':>8} {'plates':>7} {'tail':>5} {'conc nM':>8}  flags"
    print(head)
    for i, r in enumerate(rows, 1):
        print(f"{i:>3} {(r['name'] or '-'):<14} {_num(r['rt_s'], 6):>8} {_num(r['start_s'], 6):>8}"
              f" {_num(r['end_s'], 6):>8} {_num(r['area']):>10} {_num(r['height']):>9}"
              f" {_num(r['sn'], 3):>8} {_num(r['plates'], 3):>7} {_num(r['tailing'], 3):>5}"
              f" {_num(r['conc_nM']):>8}  {','.join(r['flags'])}")
    for m in missing:
        print(f"    {m['name']:<14} {'':>8} {','.join(m['flags'])}")
    return 0
