"""ANDI/AIA chromatography netCDF (ASTM E1947): raw data (C1) and peak table (C2).

Sample i is at ``actual_delay_time + i · actual_sampling_interval`` seconds,
unless the file stores each sample's time in ``raw_data_retention`` (then
those times are used; jittered ones are resampled or refused, see
``chromatogram.validated``). ``detector_maximum_value`` and
``detector_minimum_value`` are kept (runs of readings at them are clipping).
The vendor's peak table, when present, is returned by ``read_andi_peaks``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.io import netcdf_file

from raphe.acquisition.analysis.chromatogram import Chromatogram, validated
from raphe.acquisition.analysis.io_common import VendorPeak, refuse_overwrite
from raphe.acquisition.analysis.peaks import Peak
from raphe.errors import InputError


@dataclass(frozen=True)
class AndiPeakTable:
    """The C2 peak table as stored (times in s, areas in signal·s)."""

    rt_s: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray
    area: np.ndarray
    height: np.ndarray
    baseline_start_s: np.ndarray
    baseline_start_value: np.ndarray
    baseline_stop_s: np.ndarray
    baseline_stop_value: np.ndarray
    names: tuple[str, ...]
    codes: tuple[str, ...] = ()

    def vendor_peaks(self) -> list[VendorPeak]:
        """The table as generic vendor peaks."""
        return [VendorPeak(float(self.rt_s[i]), float(self.start_s[i]), float(self.end_s[i]),
                           float(self.area[i]), float(self.height[i]),
                           self.codes[i] if i < len(self.codes) else "",
                           self.names[i] if i < len(self.names) else "")
                for i in range(len(self.rt_s))]


def _open(path: Path) -> netcdf_file:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        return netcdf_file(path, "r", mmap=False)
    except (TypeError, ValueError, OSError, IndexError, KeyError, EOFError,
            MemoryError, OverflowError) as exc:  # what scipy raises on non-netCDF input
        raise InputError(f"{path}: not an ANDI/AIA netCDF file ({exc})") from None


def _attr(f: netcdf_file, name: str) -> str:
    value = f._attributes.get(name, b"")
    return value.decode("latin-1", "replace") if isinstance(value, bytes) else str(value)


def _scalar(f: netcdf_file, path: Path, name: str, default: float | None = None) -> float:
    var = f.variables.get(name)
    if var is None:
        if default is None:
            raise InputError(f"{path}: variable {name!r} missing: not an ANDI raw-data file")
        return default
    value = float(np.asarray(var.data).reshape(-1)[0]) if np.asarray(var.data).size else math.nan
    if not math.isfinite(value):
        raise InputError(f"{path}: variable {name!r} is not a finite number")
    return value


def read_andi(path: str | Path) -> Chromatogram:
    """Read the raw trace (C1); metadata keeps the file attributes."""
    path = Path(path)
    f = _open(path)
    try:
        if "ordinate_values" not in f.variables:
            raise InputError(f"{path}: variable 'ordinate_values' missing: no raw data (C1)")
        y = np.array(f.variables["ordinate_values"].data, dtype=np.float64)
        if y.ndim != 1 or len(y) == 0:
            raise InputError(f"{path}: 'ordinate_values' is empty")
        dt = _scalar(f, path, "actual_sampling_interval")
        if dt <= 0:
            raise InputError(f"{path}: actual_sampling_interval must be > 0, got {dt:g}")
        delay = _scalar(f, path, "actual_delay_time", 0.0)
        meta = {k: _attr(f, k) for k in f._attributes}
        units = meta.get("detector_unit", "")
        t = delay + dt * np.arange(len(y))
        retention = f.variables.get("raw_data_retention")
        if retention is not None and np.asarray(retention.data).size:
            t = np.array(retention.data, dtype=np.float64).reshape(-1)
            if len(t) != len(y):
                raise InputError(f"{path}: raw_data_retention has {len(t)} times for "
                                 f"{len(y)} values")
            if "min" in meta.get("retention_unit", "").lower():
                t = t * 60.0
        for name in ("detector_maximum_value", "detector_minimum_value"):
            if name in f.variables:
                value = _scalar(f, path, name, math.nan)
                if math.isfinite(value):
                    meta[name] = value
    finally:
        f.close()
    meta["source"] = str(path)
    return validated(t, y, units, meta, source=str(path))


def read_andi_peaks(path: str | Path) -> AndiPeakTable | None:
    """The C2 peak table, or ``None`` when the file has none."""
    path = Path(path)
    f = _open(path)
    try:
        if "peak_retention_time" not in f.variables:
            return None

        def arr(name: str) -> np.ndarray:
            var = f.variables.get(name)
            if var is None:
                return np.full(len(f.variables["peak_retention_time"].data), np.nan)
            return np.array(var.data, dtype=np.float64)

        def strings(name: str) -> tuple[str, ...]:
            if name not in f.variables:
                return ()
            return tuple(b"".join(row).decode("latin-1").strip("\x00 ")
                         for row in f.variables[name].data)

        names = strings("peak_name")
        starts, stops = strings("peak_start_detection_code"), strings("peak_stop_detection_code")
        codes = tuple(a + b for a, b in zip(starts, stops, strict=False))
        return AndiPeakTable(
            rt_s=arr("peak_retention_time"), start_s=arr("peak_start_time"),
            end_s=arr("peak_end_time"), area=arr("peak_area"), height=arr("peak_height"),
            baseline_start_s=arr("baseline_start_time"),
            baseline_start_value=arr("baseline_start_value"),
            baseline_stop_s=arr("baseline_stop_time"),
            baseline_stop_value=arr("baseline_stop_value"), names=names, codes=codes)
    finally:
        f.close()


def _chars(strings: list[str], width: int) -> np.ndarray:
    out = np.zeros((len(strings), width), dtype="S1")
    for i, s in enumerate(strings):
        b = s.encode("latin-1", "replace")[:width]
        out[i, :len(b)] = np.frombuffer(b, dtype="S1")
    return out


def write_andi(path: str | Path, chrom: Chromatogram, peaks: list[Peak] | None = None) -> None:
    """Write raw data (C1) and, given ``peaks``, the peak table (C2); never overwrites."""
    path = Path(path)
    refuse_overwrite(path)
    f = netcdf_file(path, "w", version=1)
    try:
        f.dataset_completeness = "C1+C2" if peaks else "C1"
        f.aia_template_revision = "1.0"
        f.netcdf_revision = "2.3"
        f.languages = "English only"
        f.detector_unit = chrom.units
        f.retention_unit = "seconds"
        f.sample_name = str(chrom.metadata.get("sample_id", chrom.metadata.get("sample_name", "")))
        f.createDimension("point_number", len(chrom.t))
        for name, value in (("actual_sampling_interval", chrom.dt),
                            ("actual_delay_time", float(chrom.t[0])),
                            ("actual_run_time_length", float(chrom.t[-1] - chrom.t[0]))):
            v = f.createVariable(name, "f", ())
            v.data[()] = value
        v = f.createVariable("ordinate_values", "f", ("point_number",))
        v[:] = np.nan_to_num(chrom.values.astype(np.float32), nan=np.float32(np.nanmax(
            chrom.values)))
        v.uniform_sampling_flag = "Y"
        if peaks:
            f.createDimension("peak_number", len(peaks))
            f.createDimension("_32_byte_string", 32)
            f.createDimension("_2_byte_string", 2)
            columns = {
                "peak_retention_time": [p.rt_s for p in peaks],
                "peak_start_time": [p.start_s for p in peaks],
                "peak_end_time": [p.end_s for p in peaks],
                "peak_area": [p.area for p in peaks],
                "peak_height": [p.height for p in peaks],
                "peak_width": [p.width_half_s for p in peaks],
                "baseline_start_time": [p.baseline_start[0] for p in peaks],
                "baseline_start_value": [p.baseline_start[1] for p in peaks],
                "baseline_stop_time": [p.baseline_end[0] for p in peaks],
                "baseline_stop_value": [p.baseline_end[1] for p in peaks],
            }
            for name, values in columns.items():
                v = f.createVariable(name, "d", ("peak_number",))
                v[:] = np.asarray(values, dtype=np.float64)
            v = f.createVariable("peak_name", "c", ("peak_number", "_32_byte_string"))
            v[:] = _chars([p.name or "" for p in peaks], 32)
            v = f.createVariable("peak_start_detection_code", "c",
                                 ("peak_number", "_2_byte_string"))
            v[:] = _chars([p.start_code for p in peaks], 2)
            v = f.createVariable("peak_stop_detection_code", "c",
                                 ("peak_number", "_2_byte_string"))
            v[:] = _chars([p.end_code for p in peaks], 2)
    finally:
        f.close()
