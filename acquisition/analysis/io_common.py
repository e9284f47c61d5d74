"""Shared checks for chromatogram readers and writers."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from raphe.errors import InputError


@dataclass(frozen=True)
class VendorPeak:
    """One row of a vendor's own peak table: times in s, area in signal·s, the vendor's
    detection code or mark (e.g. ``BV``, ``S``) and peak name."""

    rt_s: float
    start_s: float
    end_s: float
    area: float
    height: float = math.nan
    code: str = ""
    name: str = ""


def read_text(path: Path, what: str) -> str:
    """A text file's content; binary or unreadable files are one clear ``InputError``."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not raw.strip():
        raise InputError(f"{path}: the file is empty")
    if b"\x00" in raw[:4096]:
        raise InputError(f"{path}: binary data, not a {what} text file")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InputError(f"{path}: not a {what} text file (undecodable bytes)")


def refuse_overwrite(path: Path) -> None:
    """Recorded data is never overwritten: writers refuse an existing file."""
    if Path(path).exists():
        raise InputError(f"{path}: already exists; choose another name")
