"""CSV chromatograms: a header row, then time (``time_s`` or ``time_min``) and signal.

The signal column's header may carry units in brackets or parentheses,
e.g. ``signal (nA)``. Comma, semicolon or tab separated.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from raphe.acquisition.analysis.chromatogram import Chromatogram, validated
from raphe.acquisition.analysis.io_common import read_text, refuse_overwrite
from raphe.errors import InputError

_UNITS = re.compile(r"[\(\[]\s*([^\)\]]*)\s*[\)\]]")


def read_csv(path: str | Path) -> Chromatogram:
    """Read a CSV chromatogram; malformed files raise ``InputError`` naming file and line."""
    path = Path(path)
    lines = read_text(path, "CSV").splitlines()
    header = lines[0]
    sep = max((",", ";", "\t"), key=header.count)
    names = [c.strip().strip('"') for c in header.split(sep)]
    if len(names) < 2:
        raise InputError(f"{path}: line 1: expected a header with time and signal columns")
    first = names[0].lower()
    if first not in ("time_s", "time_min"):
        raise InputError(f"{path}: line 1: first column must be time_s or time_min, "
                         f"not {names[0]!r}")
    scale = 60.0 if first == "time_min" else 1.0
    m = _UNITS.search(names[1])
    units = m.group(1) if m else ""
    t, v = [], []
    for n, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        cells = line.split(sep)
        if len(cells) < 2:
            raise InputError(f"{path}: line {n}: expected {len(names)} columns, got {len(cells)}")
        try:
            ti, vi = float(cells[0]), float(cells[1])
        except ValueError:
            raise InputError(f"{path}: line {n}: not a number in {line.strip()[:60]!r}") from None
        if math.isinf(vi):
            raise InputError(f"{path}: line {n}: infinite signal value")
        t.append(ti * scale)
        v.append(vi)
    if not t:
        raise InputError(f"{path}: no data rows after the header")
    return validated(t, v, units, {"signal": names[1], "source": str(path)}, source=str(path))


def write_csv(path: str | Path, chrom: Chromatogram) -> None:
    """Write ``time_s,signal (units)``; refuses to overwrite an existing file."""
    path = Path(path)
    refuse_overwrite(path)
    head = f"time_s,signal ({chrom.units})" if chrom.units else "time_s,signal"
    data = np.column_stack([chrom.t, chrom.values])
    np.savetxt(path, data, delimiter=",", header=head, comments="", fmt="%.10g")
