"""Open a chromatogram file of any supported format, by extension or content."""

from __future__ import annotations

from pathlib import Path

from raphe.acquisition.analysis.chromatogram import Chromatogram
from raphe.acquisition.analysis.io_common import VendorPeak
from raphe.errors import InputError


def read_chromatogram(path: str | Path, channel: str | None = None) -> Chromatogram:
    """ANDI/AIA (.cdf/.nc or netCDF magic), CSV (.csv), Shimadzu LabSolutions ASCII
    (``[Header]`` naming LabSolutions; ``channel`` picks one) or Chromeleon text export."""
    from raphe.acquisition.analysis.io_andi import read_andi
    from raphe.acquisition.analysis.io_chromeleon import read_chromeleon
    from raphe.acquisition.analysis.io_csv import read_csv
    from raphe.acquisition.analysis.io_labsolutions import is_labsolutions, read_labsolutions

    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a chromatogram file")
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(2000)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    suffix = path.suffix.lower()
    labsolutions = is_labsolutions(head.decode("latin-1"))
    if channel is not None and not labsolutions:
        raise InputError(f"{path}: --channel applies to multi-channel exports "
                         f"(LabSolutions); this file has one trace")
    if suffix in (".cdf", ".nc") or head[:3] == b"CDF":
        return read_andi(path)
    if suffix == ".csv":
        return read_csv(path)
    if labsolutions:
        return read_labsolutions(path, channel)
    return read_chromeleon(path)


def read_vendor_peaks(path: str | Path, channel: str | None = None) -> list[VendorPeak] | None:
    """The vendor's own peak table stored in the file (ANDI C2, LabSolutions), or None."""
    from raphe.acquisition.analysis.io_andi import read_andi_peaks
    from raphe.acquisition.analysis.io_labsolutions import (
        is_labsolutions,
        read_labsolutions_peaks,
    )

    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(2000)
    if path.suffix.lower() in (".cdf", ".nc") or head[:3] == b"CDF":
        table = read_andi_peaks(path)
        return table.vendor_peaks() if table is not None else None
    if is_labsolutions(head.decode("latin-1")):
        return read_labsolutions_peaks(path, channel) or None
    return None
