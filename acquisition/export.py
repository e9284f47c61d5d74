"""Export a session as CSV files with units in the headers (for spreadsheets, R, MATLAB).

One file per stream: ``signal.csv``, ``events.csv``, ``injections.csv``,
``fractions.csv``, ``pump.csv`` and ``results.csv``. Existing files are never
overwritten: the export fails before writing anything if one is in the way.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from raphe.acquisition.reader import SessionReader
from raphe.errors import InputError

_CHUNK = 1 << 18

HEADERS = {
    "signal": ["t_s", "current_nA", "overload"],
    "events": ["t_s", "kind", "text", "source"],
    "injections": ["t_s", "sample_id", "loop_volume_uL", "position", "kind"],
    "fractions": ["tube", "t_start_s", "t_end_s", "volume_uL", "sample_id"],
    "pump": ["t_s", "rate_uL_min", "dispensed_uL", "status"],
    "results": ["sample_id", "inject_t_s", "analyte", "rt_s", "area_nA_s", "height_nA", "sn",
                "conc_nM", "amount_fmol", "pct_baseline_pct", "flags"],
}


def default_dir(path: Path) -> Path:
    return path.with_name(f"{path.stem}_csv")


def export_csv(path: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Write the CSV files of session ``path`` into ``out_dir``; returns their paths."""
    path = Path(path)
    with SessionReader(path) as reader:
        out = Path(out_dir) if out_dir is not None else default_dir(path)
        if out.exists() and not out.is_dir():
            raise InputError(f"export {path}: {out} exists and is not a folder")
        targets = {name: out / f"{name}.csv" for name in HEADERS}
        for target in targets.values():
            if target.exists():
                raise InputError(f"export {path}: {target} already exists (never overwritten; "
                                 "pass another --out)")
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"export {path}: cannot create folder {out}: {exc}") from exc
        _signal(reader, targets["signal"])
        tables = {
            "events": [(e.t, e.kind, e.text, e.source) for e in reader.events()],
            "injections": [(i.t, i.sample_id, i.loop_volume_uL, i.position, i.kind)
                           for i in reader.injections()],
            "fractions": [(f.tube, f.t_start, f.t_end, f.volume_uL, f.sample_id)
                          for f in reader.fractions()],
            "pump": [(p.t, p.rate_uL_min, p.dispensed_uL, p.status) for p in reader.pump()],
            "results": [(r.sample_id, r.inject_t, r.analyte, r.rt_s, r.area, r.height, r.sn,
                         r.conc_nM, r.amount_fmol, r.pct_baseline, r.flags)
                        for r in reader.results()],
        }
        for name, rows in tables.items():
            with open(targets[name], "x", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(HEADERS[name])
                w.writerows([[_cell(v) for v in row] for row in rows])
    return list(targets.values())


def _cell(value: object) -> object:
    if isinstance(value, float):
        return "" if np.isnan(value) else repr(value)
    return value


def _signal(reader: SessionReader, target: Path) -> None:
    n = reader.n_samples
    with open(target, "x", encoding="utf-8", newline="") as fh:
        fh.write(",".join(HEADERS["signal"]) + "\n")
        for p0 in range(0, n, _CHUNK):
            p1 = min(n, p0 + _CHUNK)
            t = reader.times(np.arange(p0, p1))
            v, o = reader.samples(p0, p1)
            lines = [f"{a!r},{'' if math.isnan(b) else repr(b)},{int(c)}"
                     for a, b, c in zip(t.tolist(), v.tolist(), o.tolist())]
            fh.write("\n".join(lines) + "\n")
