"""Export a session as CSV files with units in the headers (for spreadsheets, R, MATLAB).

One file per stream: ``signal.csv``, ``events.csv``, ``injections.csv``,
``fractions.csv``, ``pump.csv``, ``results.csv``, and the analysis and instrument
tables: ``calibration.csv`` (the fits), ``calibration_standards.csv`` (their
standards), ``baseline.csv`` (the % of baseline references), ``recovery.csv``,
``suitability.csv`` and ``instruments.csv``. Every file's columns are its record's
(``raphe.records``), with units in the headers. Existing files are never
overwritten: the export fails before writing anything if one is in the way.
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
from pathlib import Path

import numpy as np

from raphe.acquisition import store
from raphe.acquisition.analysis.calibration import fit_rows
from raphe.acquisition.reader import SessionReader
from raphe.errors import InputError
from raphe.records import columns, values

_CHUNK = 1 << 18

#: The CSV files besides ``signal.csv``: the session tables (``store.RECORDS`` names),
#: one per record class.
TABLES = ("events", "injections", "fractions", "pump", "results", "calibration", "standards",
          "baseline", "recovery", "suitability", "instruments")
#: File names that are not the table's name.
FILE_NAMES = {"standards": "calibration_standards"}
SIGNAL_HEADER = ["t_s", "current_nA", "overload"]


def headers(name: str) -> list[str]:
    """CSV column names of table ``name``: its record's columns, each with its unit."""
    return [c.header for c in columns(store.RECORDS[name][1])]


def file_name(name: str) -> str:
    """The CSV file of table ``name`` (``signal`` included)."""
    return f"{FILE_NAMES.get(name, name)}.csv"


def rows(reader: SessionReader, name: str) -> list:
    """The records of table ``name``; the calibration through :meth:`SessionReader.
    calibration`, which also reads the fits of format-1 files."""
    if name not in ("calibration", "standards"):
        return reader.records(name)
    out = []
    for entry in reader.calibration():
        fit, standards = fit_rows(entry["t"], entry["analyte"], entry["fit"])
        out.extend([fit] if name == "calibration" else standards)
    return out


def default_dir(path: Path) -> Path:
    return path.with_name(f"{path.stem}_csv")


def export_csv(path: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Write the CSV files of session ``path`` into ``out_dir``; returns their paths."""
    path = Path(path)
    with SessionReader(path) as reader:
        out = Path(out_dir) if out_dir is not None else default_dir(path)
        if out.exists() and not out.is_dir():
            raise InputError(f"export {path}: {out} exists and is not a folder")
        targets = {name: out / file_name(name) for name in ("signal", *TABLES)}
        for target in targets.values():
            if target.exists():
                raise InputError(f"export {path}: {target} already exists (never overwritten; "
                                 "pass another --out)")
        created = not out.exists()
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"export {path}: cannot create folder {out}: "
                             f"{exc.strerror or exc}") from None
        # Each file is written under a temporary name and renamed once whole; on any
        # failure everything this export started is removed (existing files never touched).
        parts = {name: target.with_name(f".{target.name}.{os.getpid()}.part")
                 for name, target in targets.items()}
        try:
            _signal(reader, parts["signal"])
            for name in TABLES:
                with open(parts[name], "x", newline="", encoding="utf-8") as fh:
                    w = csv.writer(fh)
                    w.writerow(headers(name))
                    w.writerows([[_cell(v) for v in values(r)] for r in rows(reader, name)])
            for name, target in targets.items():
                if target.exists():
                    raise InputError(f"export {path}: {target} appeared while exporting; "
                                     "not replaced")
                os.replace(parts[name], target)
                parts[name] = target
        except BaseException as exc:
            for part in parts.values():
                part.unlink(missing_ok=True)
            if created:
                with contextlib.suppress(OSError):
                    out.rmdir()
            if isinstance(exc, OSError):
                raise InputError(f"export {path}: cannot write into {out}: "
                                 f"{exc.strerror or exc}") from None
            raise
    return list(targets.values())


def _cell(value: object) -> object:
    if isinstance(value, float):
        return "" if np.isnan(value) else repr(value)
    return value


def _signal(reader: SessionReader, target: Path) -> None:
    n = reader.n_samples
    with open(target, "x", encoding="utf-8", newline="") as fh:
        fh.write(",".join(SIGNAL_HEADER) + "\n")
        for p0 in range(0, n, _CHUNK):
            p1 = min(n, p0 + _CHUNK)
            t = reader.times(np.arange(p0, p1))
            v, o = reader.samples(p0, p1)
            lines = [f"{a!r},{'' if math.isnan(b) else repr(b)},{int(c)}"
                     for a, b, c in zip(t.tolist(), v.tolist(), o.tolist())]
            fh.write("\n".join(lines) + "\n")
