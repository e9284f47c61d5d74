"""Open a chromatogram file of any supported format, by extension or content."""

from __future__ import annotations

from pathlib import Path

from raphe.acquisition.analysis.chromatogram import Chromatogram
from raphe.errors import InputError


def read_chromatogram(path: str | Path) -> Chromatogram:
    """ANDI/AIA (.cdf/.nc or netCDF magic), CSV (.csv) or Chromeleon text export."""
    from raphe.acquisition.analysis.io_andi import read_andi
    from raphe.acquisition.analysis.io_chromeleon import read_chromeleon
    from raphe.acquisition.analysis.io_csv import read_csv

    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a chromatogram file")
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    suffix = path.suffix.lower()
    if suffix in (".cdf", ".nc") or magic[:3] == b"CDF":
        return read_andi(path)
    if suffix == ".csv":
        return read_csv(path)
    return read_chromeleon(path)
