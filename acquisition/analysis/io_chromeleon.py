"""Thermo Chromeleon text exports: a header block, then a tab-separated data table.

The data table follows a ``Chromatogram Data:`` line; its header names the
time column (``Time (min)`` or ``Time (s)``) and the value column with its
units (``Value (nC)``). Decimals are points or commas (European locale).
"""

from __future__ import annotations

from pathlib import Path

from raphe.acquisition.analysis.chromatogram import Chromatogram, validated
from raphe.acquisition.analysis.io_common import read_text
from raphe.errors import InputError


def _number(text: str) -> float:
    return float(text.strip().replace(",", "."))


def read_chromeleon(path: str | Path) -> Chromatogram:
    """Read a Chromeleon export; the header block becomes metadata."""
    path = Path(path)
    lines = read_text(path, "Chromeleon export").splitlines()
    start = next((i for i, line in enumerate(lines)
                  if line.strip().lower() == "chromatogram data:"), None)
    if start is None:
        raise InputError(f"{path}: not a Chromeleon export (no 'Chromatogram Data:' line)")
    meta = {}
    for line in lines[:start]:
        if "\t" in line:
            key, _, value = line.partition("\t")
            meta[key.strip()] = value.strip()
    if start + 1 >= len(lines):
        raise InputError(f"{path}: line {start + 1}: no data table after 'Chromatogram Data:'")
    header = [c.strip() for c in lines[start + 1].split("\t")]
    if len(header) < 2 or not header[0].lower().startswith("time"):
        raise InputError(f"{path}: line {start + 2}: expected a 'Time (min)' column header, "
                         f"got {lines[start + 1][:60]!r}")
    scale = 60.0 if "min" in header[0].lower() else 1.0
    value_col = next((i for i, h in enumerate(header) if h.lower().startswith("value")),
                     len(header) - 1)
    units = header[value_col].partition("(")[2].rstrip(")").strip()
    t, v = [], []
    for n, line in enumerate(lines[start + 2:], start + 3):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) <= value_col:
            raise InputError(f"{path}: line {n}: expected {len(header)} tab-separated columns, "
                             f"got {len(cells)}")
        try:
            t.append(_number(cells[0]) * scale)
            v.append(_number(cells[value_col]))
        except ValueError:
            raise InputError(f"{path}: line {n}: not a number in {line.strip()[:60]!r}") from None
    if not t:
        raise InputError(f"{path}: no data rows")
    expected = meta.get("Data Points")
    if expected and expected.isdigit() and int(expected) != len(t):
        raise InputError(f"{path}: header says {expected} data points, the table has {len(t)}")
    volume = meta.get("Injection Volume (µl)") or meta.get("Injection Volume (µL)")
    if volume:
        try:
            meta["injection_volume_uL"] = _number(volume)
        except ValueError:
            pass
    meta["source"] = str(path)
    return validated(t, v, units, meta, source=str(path))
