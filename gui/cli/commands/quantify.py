"""``raphe quantify FILE``: integrate one chromatogram file and print its peaks."""

from __future__ import annotations

import argparse
import json
import math
import sys

NAME = "quantify"
HELP = ("integrate a chromatogram file (ANDI .cdf, CSV, Chromeleon or LabSolutions text) "
        "and list its peaks")
ORDER = 60


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="chromatogram file (.cdf, .csv, .txt)")
    parser.add_argument("--method", metavar="METHOD",
                        help="analysis method: a bundled name (e.g. simulated-5ht) or a TOML path;"
                             " default: report every peak with S/N >= 2")
    parser.add_argument("--channel", metavar="NAME",
                        help="channel of a multi-channel export, e.g. A-Ch2 or 'Detector B' "
                             "(default: the first chromatogram)")
    parser.add_argument("--volume-ul", type=float, metavar="UL",
                        help="injected volume in µL for concentrations (default: from the file, "
                             "else the calibration standards' volume)")
    parser.add_argument("--compare-vendor", action="store_true",
                        help="print Raphe's areas beside the vendor's own peak table stored in "
                             "the file (ANDI C2, LabSolutions)")
    parser.add_argument("--json", action="store_true", help="print a JSON object instead of a table")


def _num(x: float | None, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.{digits}g}"


def _clean(row: dict) -> dict:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in row.items()}


def _nearest(peaks, rt: float, reach: float):
    near = [p for p in peaks if abs(p.rt_s - rt) <= reach]
    return min(near, key=lambda p: abs(p.rt_s - rt)) if near else None


def compare_vendor(peaks, vendor, dt: float) -> list[dict]:
    """One row per vendor peak: its area beside the Raphe peak at the same retention time."""
    total = sum(v.area for v in vendor if math.isfinite(v.area))
    rows = []
    for v in vendor:
        reach = max(3 * dt, 0.25 * (v.end_s - v.start_s))
        p = _nearest(peaks, v.rt_s, reach)
        rows.append(_clean({
            "vendor_rt_s": v.rt_s, "vendor_area": v.area, "vendor_code": v.code,
            "vendor_name": v.name,
            "share_pct": 100.0 * v.area / total if total else math.nan,
            "rt_s": p.rt_s if p else math.nan, "area": p.area if p else math.nan,
            "code": p.code if p else "",
            "difference_pct": 100.0 * (p.area / v.area - 1.0) if p and v.area else math.nan,
        }))
    return rows


def run(args: argparse.Namespace) -> int:
    import math

    from raphe.acquisition.analysis.io_any import read_chromatogram, read_vendor_peaks
    from raphe.acquisition.analysis.method import default_method, load_method
    from raphe.acquisition.analysis.method_check import check as check_method
    from raphe.acquisition.analysis.quantify import peak_flags, quantify
    from raphe.errors import InputError

    method = load_method(args.method) if args.method else default_method()
    chrom = read_chromatogram(args.file, args.channel)
    for warning in chrom.metadata.get("warnings", []):
        print(f"raphe quantify: warning: {warning}", file=sys.stderr)
    volume = args.volume_ul
    if volume is not None and not (math.isfinite(volume) and volume > 0):
        raise InputError(f"--volume-ul must be a finite number > 0 µL, got {volume:g}")
    if volume is None:
        volume = chrom.metadata.get("injection_volume_uL")
    if volume is None:
        vols = {s.volume_uL for p in method.peaks for s in p.standards}
        volume = vols.pop() if len(vols) == 1 else None
    vendor = None
    if args.compare_vendor:
        vendor = read_vendor_peaks(args.file, args.channel)
        if not vendor:
            raise InputError(f"{args.file}: no vendor peak table in this file "
                             f"(ANDI C2 and LabSolutions exports carry one)")
    result = quantify(chrom, method, volume)
    checks = check_method(method, result)  # nothing to say of the default method
    for warning in checks:
        print(f"raphe quantify: warning: {warning}", file=sys.stderr)
    by_peak = {id(a.peak): a for a in result.analytes.values() if a.peak is not None}
    rows = []
    for p in result.peaks:
        a = by_peak.get(id(p))
        rows.append(_clean({
            "name": p.name, "rt_s": p.rt_s, "start_s": p.start_s, "end_s": p.end_s,
            "area": p.area, "height": p.height, "width_half_s": p.width_half_s, "sn": p.sn,
            "plates": p.plates, "tailing": p.tailing, "resolution": p.resolution,
            "code": p.code, "codes": p.start_code + p.end_code,
            "fit_model": p.fit_model or None, "fit_area": p.fit_area,
            "cluster_area": p.cluster_area,
            "conc_nM": a.conc_nM if a else None, "amount_fmol": a.amount_fmol if a else None,
            # a named peak's flags; any other peak's own (clipping, a step, unresolved)
            "flags": list(a.flags) if a else list(peak_flags(p)),
        }))
    missing = [{"name": a.name, "flags": list(a.flags)} for a in result.analytes.values()
               if a.peak is None]
    comparison = compare_vendor(result.peaks, vendor, chrom.dt) if vendor else None
    if args.json:
        out = {"file": str(args.file), "method": method.name, "units": chrom.units,
               "channel": chrom.metadata.get("channel"), "volume_uL": volume,
               "peaks": rows, "missing": missing,
               "warnings": chrom.metadata.get("warnings", []) + checks}
        if comparison is not None:
            out["vendor"] = comparison
        print(json.dumps(out, indent=2))
        return 0
    units = chrom.units or "signal"
    channel = chrom.metadata.get("channel")
    where = f", channel {channel}" if channel else ""
    print(f"{args.file}: {len(rows)} peaks  (method {method.name}{where}, area in {units}·s)")
    fitted = any(r["fit_model"] for r in rows)
    head = f"{'#':>3} {'name':<14} {'RT s':>8} {'start':>8} {'end':>8} {'area':>10} " \
           f"{'height':>9} {'S/N':>8} {'plates':>7} {'tail':>5} {'code':>5} " \
           + (f"{'fit area':>10} " if fitted else "") + f"{'conc nM':>8}  flags"
    print(head)
    for i, r in enumerate(rows, 1):
        fit = f" {_num(r['fit_area']):>10}" if fitted else ""
        print(f"{i:>3} {(r['name'] or '-'):<14} {_num(r['rt_s'], 6):>8} {_num(r['start_s'], 6):>8}"
              f" {_num(r['end_s'], 6):>8} {_num(r['area']):>10} {_num(r['height']):>9}"
              f" {_num(r['sn'], 3):>8} {_num(r['plates'], 3):>7} {_num(r['tailing'], 3):>5}"
              f" {r['code']:>5}{fit} {_num(r['conc_nM']):>8}  {','.join(r['flags'])}")
    for m in missing:
        print(f"    {m['name']:<14} {'':>8} {','.join(m['flags'])}")
    if comparison is not None:
        print(f"\nvendor's peak table beside Raphe's (area in {units}·s)")
        print(f"{'vendor RT s':>11} {'share %':>8} {'vendor area':>12} {'mark':>5}   "
              f"{'Raphe RT s':>10} {'Raphe area':>12} {'code':>5} {'diff %':>8}")
        for c in comparison:
            print(f"{_num(c['vendor_rt_s'], 6):>11} {_num(c['share_pct'], 3):>8} "
                  f"{_num(c['vendor_area'], 7):>12} {c['vendor_code'] or '-':>5}   "
                  f"{_num(c['rt_s'], 6):>10} {_num(c['area'], 7):>12} {c['code'] or '-':>5} "
                  f"{'-' if c['difference_pct'] is None else format(c['difference_pct'], '+.2f'):>8}")
    return 0
