"""``raphe inspect SESSION [--json]``: what a session file holds and whether it is whole."""

from __future__ import annotations

import argparse
import json
import sys

NAME = "inspect"
HELP = "summarise a session file: signal, tables, results and integrity"
ORDER = 60


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", help="session file (.h5)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def summary(path: str) -> dict:
    """The summary of session ``path`` as plain JSON-ready data."""
    from raphe.acquisition import store
    from raphe.acquisition.analysis.flags import BY_NAME, parse
    from raphe.acquisition.reader import SessionReader
    from raphe.records import as_json

    with SessionReader(path) as r:
        meta = r.metadata
        check = r.check()
        dt = r.dt
        events = r.events()
        fractions = r.fractions()
        out = {
            "path": str(path),
            "format_version": meta.get("format_version"),
            "hdf5": {"superblock": store.superblock_version(r.path),
                     "libver_bounds": (meta.get("hdf5_libver_bounds") or "").split(",")
                     if meta.get("hdf5_libver_bounds") else None,
                     "min_reader": store.MIN_READER
                     if meta.get("hdf5_libver_bounds") == ",".join(store.LIBVER) else None},
            "created": meta.get("created", ""),
            "operator": meta.get("operator", ""),
            "animal_id": meta.get("animal_id", ""),
            "complete": r.complete,
            "status": check["status"],
            "end": _end(r, meta, events),
            "seconds_since_flush": None if r.complete else round(r.seconds_since_flush, 3),
            "writer": None if r.complete else _writer(r, store),
            "duration_s": r.duration_s,
            "samples": r.n_samples,
            "sample_rate_Hz": (1.0 / dt) if dt > 0 else None,
            "blocks": len(r.block_table),
            "injections": len(r.table("injections")),
            "fractions": len(fractions),
            "partial_fractions": [as_json(f) for f in fractions if "partial" in parse(f.flags)],
            "pump_states": len(r.table("pump")),
            "final_states": _final_states(r),
            "events": [as_json(e) for e in events],
            "flow_changes": [as_json(e) for e in events if e.kind == "flow"],
            "pauses": [as_json(e) for e in events if e.kind == "pause"],
            "baseline": [as_json(ref) for ref in _last_per_analyte(r.baseline_references())],
            "calibration": [_calibration(c) for c in _last_per_analyte_dicts(r.calibration())],
            "recovery": [as_json(x) for x in r.records("recovery")],
            "suitability": [as_json(x) for x in r.records("suitability")],
            "results": [as_json(x) for x in r.results()],
            "flags": {name: {"meaning": BY_NAME[name].meaning,
                             "excludes_from_baseline": BY_NAME[name].excludes}
                      for name in sorted({f for x in r.results() for f in parse(x.flags)})
                      if name in BY_NAME},
            "timestamps_monotonic": check["timestamps_monotonic"],
            "tables_consistent": check["tables_consistent"],
            "problems": check["problems"],
            "gaps": [{"t": a, "t_end": b} for a, b in check["gaps"]],
        }
    return out


def _end(reader, meta: dict, events: list) -> dict:
    """How the run ended: the root attributes of a closed file, else its ``end`` event, else
    (a file left open) not yet known or interrupted."""
    if meta.get("end_reason"):
        return {"reason": meta["end_reason"], "detail": meta.get("end_detail", "")}
    ends = [e for e in events if e.kind == "end"]
    if ends:
        reason, _, detail = ends[-1].text.partition(": ")
        return {"reason": reason, "detail": detail}
    if reader.complete:  # a file older than end reasons
        return {"reason": "not recorded", "detail": ""}
    return {"reason": "running or interrupted", "detail": "the file is still open"}


def _last_per_analyte(records: list) -> list:
    last: dict = {}
    for rec in records:
        last[rec.analyte] = rec
    return list(last.values())


def _last_per_analyte_dicts(fits: list[dict]) -> list[dict]:
    last: dict = {}
    for fit in fits:
        last[fit["analyte"]] = fit
    return list(last.values())


def _calibration(fit: dict) -> dict:
    return {"t": fit["t"], "analyte": fit["analyte"], **fit["fit"]}


def _final_states(reader) -> dict:
    """Each instrument's last recorded state: the pump's last row, the others' last rows."""
    out = {}
    pump = reader.pump()
    if pump:
        out["pump"] = {"t": pump[-1].t, "state": pump[-1].status}
    for row in reader.records("instruments"):
        out[row.role] = {"t": row.t, "state": row.state, "detail": row.detail}
    return out


def analysis_lines(s: dict) -> list[str]:
    """The calibration in force, the probe recovery, the suitability tests and the % of
    baseline reference of a summary (:func:`summary`), as ``raphe inspect`` prints them
    (``raphe run`` and ``record`` print them too when a run ends)."""
    lines = []
    if s["calibration"]:
        lines.append("calibration")
        for c in s["calibration"]:
            if c.get("error"):
                lines.append(f"  {c['analyte']:<10} not fitted: {c['error']}")
                continue
            used = [x for x in c.get("standards", []) if x.get("used")]
            lines.append(
                f"  {c['analyte']:<10} area = {_fmt(c.get('slope'), '.4g')} nA·s/fmol × amount"
                f" {_signed(c.get('intercept'))} nA·s ({c.get('model')}, weighting "
                f"{c.get('weighting')}), r² {_fmt(c.get('r_squared'), '.4f')}, LOD "
                f"{_fmt(c.get('lod_fmol'), '.3g')} fmol, LOQ {_fmt(c.get('loq_fmol'), '.3g')} "
                f"fmol, {len(used)} standards"
                + (f"; {c['source']}" if c.get("source") else ""))
    for x in s["recovery"]:
        lines.append(f"recovery    {x['analyte']} {_fmt(x['recovery_pct'], '.1f')} % at "
                     f"{_fmt(x['flow_uL_min'], 'g')} µL/min ({x['source']}): "
                     "recovery-corrected values are estimates")
    if s["suitability"]:
        lines.append("suitability")
        for x in s["suitability"]:
            verdict = {1: "passed", 0: "FAILED", -1: "not judged"}.get(x["passed"], "?")
            limit = "" if x["limit"] is None else f" (limit {x['limit']:g})"
            lines.append(f"  {x['t'] / 60:6.1f} min {x['analyte']:<8} {x['test']:<10} "
                         f"{_fmt(x['value'], '.4g')} {x['unit']}{limit}  {verdict}  "
                         f"{x['detail']}")
    for ref in s["baseline"]:
        sd = "" if ref["sd"] is None else f" ± {ref['sd']:.4g}"
        unit = "nA·s" if ref["unit"] == "nA*s" else ref["unit"]
        lines.append(f"baseline    {ref['analyte']}: {_fmt(ref['mean'], '.4g')}{sd} "
                     f"{unit} (n = {ref['n']}: {ref['samples']}; "
                     f"{'final' if ref['final'] else 'provisional'})")
    return lines


def _writer(reader, store) -> str:
    """``running`` while the writing process is alive (or flushed < 5 s ago), else ``gone``."""
    running = store.writer_running(reader.attrs("/"))
    if running is None:
        running = reader.seconds_since_flush < 5.0
    return "running" if running else "gone"


def _signed(x: float | None) -> str:
    return "+ -" if x is None else f"{'−' if x < 0 else '+'} {abs(x):.3g}"


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def _hdf5_line(h: dict) -> str:
    bounds = "/".join(h["libver_bounds"]) if h["libver_bounds"] else "not recorded"
    reader = f"; readable from {h['min_reader']} on" if h["min_reader"] else ""
    return f"superblock v{h['superblock']}, library-version bounds {bounds}{reader}"


def run(args: argparse.Namespace) -> int:
    s = summary(args.session)
    if args.json:
        json.dump(s, sys.stdout, indent=2)
        print()
        return 0
    status = s["status"]
    if status == "open":
        status += (" (being written)" if s["writer"] == "running" else
                   " (writer gone: run `raphe recover`)")
    rate = _fmt(s["sample_rate_Hz"], "g")
    end = s["end"]
    lines = [
        f"session     {s['path']}",
        f"format      version {s['format_version']}, created {s['created']}",
        f"hdf5        {_hdf5_line(s['hdf5'])}",
        f"animal      {s['animal_id'] or '-'}   operator {s['operator'] or '-'}",
        f"status      {status}",
        f"run ended   {end['reason']}" + (f" ({end['detail']})" if end["detail"] else ""),
        f"duration    {s['duration_s']:.1f} s ({s['duration_s'] / 3600:.2f} h)",
        f"signal      {s['samples']} samples at {rate} Hz in {s['blocks']} blocks",
        (f"tables      {len(s['events'])} events, {s['injections']} injections, "
         f"{s['fractions']} fractions, {s['pump_states']} pump states"),
        (f"integrity   timestamps {'monotonic' if s['timestamps_monotonic'] else 'NOT monotonic'}"
         f", tables {'consistent' if s['tables_consistent'] else 'NOT consistent'}"),
    ]
    lines += [f"  problem: {p}" for p in s["problems"]]
    if s["final_states"]:
        lines.append("final state " + ", ".join(
            f"{role} {x['state']}" + (f" ({x['detail']})" if x.get("detail") not in (None, "", "safe")
                                      else "") for role, x in s["final_states"].items()))
    for f in s["partial_fractions"]:
        lines.append(f"  partial fraction: tube {f['tube']} ({f['sample_id']}) filled "
                     f"{f['t_start'] / 60:.1f}–{f['t_end'] / 60:.1f} min, "
                     f"{_fmt(f['volume_uL'], '.1f')} µL when the run ended")
    for e in s["flow_changes"]:
        lines.append(f"  flow {e['t'] / 60:7.1f} min  {e['text']}")
    for e in s["pauses"]:
        lines.append(f"  paused {e['t'] / 60:.1f}–{e['t_end'] / 60:.1f} min: {e['text']}")
    lines += analysis_lines(s)
    lines += [f"  gap: detector readings lost for {g['t_end'] - g['t']:.1f} s from "
              f"{g['t'] / 60:.1f} min (samples touching it are flagged gap)" for g in s["gaps"]]
    if s["results"]:
        lines.append("results")
        lines.append(f"  {'sample':<12} {'analyte':<10} {'probe min':>9} {'conc nM':>10} "
                     f"{'% baseline':>11}  flags")
        for x in s["results"]:
            probe = "-" if x["probe_t"] is None else f"{x['probe_t'] / 60:.1f}"
            lines.append(f"  {x['sample_id']:<12} {x['analyte']:<10} {probe:>9} "
                         f"{_fmt(x['conc_nM'], '.4g'):>10} {_fmt(x['pct_baseline'], '.1f'):>11}"
                         f"  {x['flags']}")
    if s["flags"]:
        lines.append("flags")
        for name, flag in s["flags"].items():
            note = " (left out of % of baseline)" if flag["excludes_from_baseline"] else ""
            lines.append(f"  {name}: {flag['meaning']}{note}")
    print("\n".join(lines))
    return 0
