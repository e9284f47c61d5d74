"""Shimadzu LabSolutions ASCII exports ("File Conversion: Convert to ASCII").

The file is a sequence of ``[Section]`` blocks of tab-separated lines. Each
detector channel is a ``[LC Chromatogram(Detector A-Ch1)]`` block (also
``GC Chromatogram(…)`` and ``LC Status Trace(…)``: pressure, temperatures):
``Interval(msec)``, ``# of Points``, ``Start Time(min)``, ``Intensity Units``
and ``Intensity Multiplier``, then ``R.Time (min)``/``Intensity`` rows. The
intensities are integers in read-out steps: × the multiplier gives the stated
units (``mV`` × 0.001 means the steps are µV, and the signal is returned in
µV). The vendor's integration is in ``[Peak Table(Detector A-Ch1)]`` blocks
(times in minutes, areas in read-out steps × seconds, a ``Mark`` column with
the detection marks: ``V`` valley, ``S``, ``T``…).

The time axis is built from the start time and interval (the printed times
are rounded to 10 ms); a channel is chosen by name, e.g. ``A-Ch2`` or
``Detector B``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from raphe.acquisition.analysis.chromatogram import Chromatogram, validated
from raphe.acquisition.analysis.io_common import VendorPeak, read_text
from raphe.errors import InputError

MAGIC = "[Header]"
_TRACE_KINDS = ("LC Chromatogram", "GC Chromatogram", "LC Status Trace", "GC Status Trace")
#: mV × 0.001 → µV: the prefix one step down.
_STEP_DOWN = {"kV": "V", "V": "mV", "mV": "µV", "uV": "nV", "µV": "nV"}


@dataclass
class _Section:
    name: str
    line: int  # 1-based line of the [name] header
    rows: list[list[str]]


def is_labsolutions(text_head: str) -> bool:
    """Whether a file starting with ``text_head`` is a LabSolutions ASCII export."""
    return text_head.lstrip("\ufeff").startswith(MAGIC) and "LabSolutions" in text_head[:400]


def _sections(text: str) -> list[_Section]:
    out: list[_Section] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r")
        if line.startswith("[") and line.rstrip().endswith("]"):
            out.append(_Section(line.strip()[1:-1], n, []))
        elif out and line.strip():
            out[-1].rows.append(line.split("\t"))
    return out


def _inner(name: str) -> str:
    """``Detector A-Ch1`` of ``LC Chromatogram(Detector A-Ch1)``."""
    return name[name.index("(") + 1:name.rindex(")")] if "(" in name and ")" in name else name


def _key(name: str) -> str:
    return "".join(name.lower().replace("detector", "").split()).replace("_", "-")


def channels(path: str | Path) -> list[str]:
    """The channel names of a LabSolutions export, in file order."""
    secs = _sections(read_text(Path(path), "LabSolutions export"))
    return [_inner(s.name) for s in secs if s.name.startswith(_TRACE_KINDS)]


def _pick(path: Path, secs: list[_Section], channel: str | None) -> _Section:
    traces = [s for s in secs if s.name.startswith(_TRACE_KINDS)]
    chroms = [s for s in traces if "Chromatogram" in s.name]
    if not traces:
        raise InputError(f"{path}: no chromatogram in this LabSolutions export")
    names = ", ".join(_inner(s.name) for s in traces)
    if channel is None:
        return (chroms or traces)[0]
    wanted = _key(channel)
    exact = [s for s in traces if _key(_inner(s.name)) == wanted]
    if exact:
        return exact[0]
    # "Detector B" names the only channel of detector B; "A-Ch2" is enough for one channel
    partial = [s for s in traces if _key(_inner(s.name)).startswith(wanted)
               or _key(_inner(s.name)).endswith(wanted)]
    if len(partial) == 1:
        return partial[0]
    what = "is ambiguous" if partial else "not found"
    raise InputError(f"{path}: channel {channel!r} {what} (channels: {names})")


def _fields(path: Path, sec: _Section) -> tuple[dict[str, str], int]:
    """The key/value lines before the data table, and the index of its header row."""
    meta: dict[str, str] = {}
    for i, row in enumerate(sec.rows):
        if row[0].startswith("R.Time"):
            return meta, i
        meta[row[0].strip()] = row[1].strip() if len(row) > 1 else ""
    raise InputError(f"{path}: line {sec.line}: [{sec.name}] has no 'R.Time' data table")


def _float(path: Path, line: int, text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{path}: line {line}: {what} is not a number: {text!r}") from None
    if not math.isfinite(value):
        raise InputError(f"{path}: line {line}: {what} is not finite")
    return value


def read_labsolutions(path: str | Path, channel: str | None = None) -> Chromatogram:
    """One channel of a LabSolutions export (the first chromatogram by default)."""
    path = Path(path)
    text = read_text(path, "LabSolutions export")
    if not is_labsolutions(text[:2000]):
        raise InputError(f"{path}: not a LabSolutions ASCII export (no [Header] naming "
                         f"LabSolutions)")
    secs = _sections(text)
    sec = _pick(path, secs, channel)
    meta, head = _fields(path, sec)
    where = sec.line
    try:
        interval = float(meta["Interval(msec)"]) / 1000.0
        start = float(meta["Start Time(min)"]) * 60.0
        points = int(meta["# of Points"])
    except (KeyError, ValueError):
        raise InputError(f"{path}: line {where}: [{sec.name}] needs Interval(msec), "
                         f"# of Points and Start Time(min)") from None
    if not interval > 0:
        raise InputError(f"{path}: line {where}: Interval(msec) must be > 0")
    rows = sec.rows[head + 1:]
    if len(rows) != points:
        raise InputError(f"{path}: line {where}: [{sec.name}] says {points} points, "
                         f"the table has {len(rows)}")
    first_line = where + head + 2  # the [section] line, its fields, the table header
    times = np.empty(len(rows))
    values = np.empty(len(rows))
    for k, row in enumerate(rows):
        line = first_line + k
        if len(row) < 2:
            raise InputError(f"{path}: line {line}: expected time and intensity")
        times[k] = _float(path, line, row[0], "the time") * 60.0
        values[k] = _float(path, line, row[1], "the intensity")
    # The printed times are rounded: the grid comes from start and interval, and must agree.
    grid = start + interval * np.arange(len(rows))
    off = np.abs(times - grid)
    if off.size and off.max() > 0.6 * interval:
        k = int(np.argmax(off))
        raise InputError(f"{path}: line {first_line + k}: time {times[k] / 60:g} min is off "
                         f"the {interval * 1000:g} ms grid starting at {start / 60:g} min")
    units = meta.get("Intensity Units", "")
    multiplier = float(meta.get("Intensity Multiplier", "1") or 1)
    if multiplier == 0.001 and units in _STEP_DOWN:
        units = _STEP_DOWN[units]
    elif multiplier != 1.0:
        values = values * multiplier
    info = {k: v for k, v in meta.items()}
    for s in secs:
        if s.name in ("Header", "Sample Information"):
            for row in s.rows:
                if len(row) > 1:
                    info.setdefault(row[0].strip(), row[1].strip())
    info.update(channel=_inner(sec.name), source=str(path),
                channels=[_inner(s.name) for s in secs if s.name.startswith(_TRACE_KINDS)])
    volume = info.get("Injection Volume")
    if volume:
        try:
            info["injection_volume_uL"] = float(volume)
        except ValueError:
            pass
    return validated(grid, values, units, info, source=str(path))


def read_labsolutions_peaks(path: str | Path, channel: str | None = None) -> list[VendorPeak]:
    """The vendor's peak table for a channel (empty when the export has none)."""
    path = Path(path)
    text = read_text(path, "LabSolutions export")
    secs = _sections(text)
    sec = _pick(path, secs, channel)
    name = _key(_inner(sec.name))
    tables = [s for s in secs if s.name.startswith("Peak Table(")]
    # "Peak Table(Detector B)" belongs to "Detector B-Ch1", the detector's only channel
    table = next((s for s in tables if _key(_inner(s.name)) == name), None) or next(
        (s for s in tables if name.startswith(_key(_inner(s.name)) + "-ch")), None)
    if table is None:
        return []
    header_at = next((i for i, row in enumerate(table.rows) if row[0] == "Peak#"), None)
    if header_at is None:
        return []
    header = [h.strip() for h in table.rows[header_at]]
    scale = 1.0
    trace_meta, _ = _fields(path, sec)
    multiplier = float(trace_meta.get("Intensity Multiplier", "1") or 1)
    if not (multiplier == 0.001 and trace_meta.get("Intensity Units", "") in _STEP_DOWN):
        scale = multiplier
    col = {h: i for i, h in enumerate(header)}
    out = []
    for k, row in enumerate(table.rows[header_at + 1:]):
        line = table.line + header_at + 2 + k
        if len(row) < len(header) - 2:
            raise InputError(f"{path}: line {line}: expected {len(header)} columns")

        def num(key: str, row=row, line=line) -> float:
            return _float(path, line, row[col[key]], key) if key in col else math.nan

        out.append(VendorPeak(
            rt_s=num("R.Time") * 60.0, start_s=num("I.Time") * 60.0,
            end_s=num("F.Time") * 60.0, area=num("Area") * scale, height=num("Height") * scale,
            code=row[col["Mark"]].strip() if "Mark" in col else "",
            name=row[col["Name"]].strip() if "Name" in col else ""))
    return out
