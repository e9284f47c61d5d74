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
            "seconds_since_flush": None if r.complete else round(r.seconds_since_flush, 3),
            "writer": None if r.complete else _writer(r, store),
            "duration_s": r.duration_s,
            "samples": r.n_samples,
            "sample_rate_Hz": (1.0 / dt) if dt > 0 else None,
            "blocks": len(r.block_table),
            "injections": len(r.table("injections")),
            "fractions": len(r.table("fractions")),
            "pump_states": len(r.table("pump")),
            "events": [as_json(e) for e in events],
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


def _writer(reader, store) -> str:
    """``running`` while the writing process is alive (or flushed < 5 s ago), else ``gone``."""
    running = store.writer_running(reader.attrs("/"))
    if running is None:
        running = reader.seconds_since_flush < 5.0
    return "running" if running else "gone"


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
    lines = [
        f"session     {s['path']}",
        f"format      version {s['format_version']}, created {s['created']}",
        f"hdf5        {_hdf5_line(s['hdf5'])}",
        f"animal      {s['animal_id'] or '-'}   operator {s['operator'] or '-'}",
        f"status      {status}",
        f"duration    {s['duration_s']:.1f} s ({s['duration_s'] / 3600:.2f} h)",
        f"signal      {s['samples']} samples at {rate} Hz in {s['blocks']} blocks",
        (f"tables      {len(s['events'])} events, {s['injections']} injections, "
         f"{s['fractions']} fractions, {s['pump_states']} pump states"),
        (f"integrity   timestamps {'monotonic' if s['timestamps_monotonic'] else 'NOT monotonic'}"
         f", tables {'consistent' if s['tables_consistent'] else 'NOT consistent'}"),
    ]
    lines += [f"  problem: {p}" for p in s["problems"]]
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
