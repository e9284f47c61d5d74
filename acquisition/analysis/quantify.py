"""One chromatogram → peaks → named, calibrated analytes with flags."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from raphe.acquisition.analysis.chromatogram import Chromatogram
from raphe.acquisition.analysis.identify import identify
from raphe.acquisition.analysis.method import AnalysisMethod
from raphe.acquisition.analysis.peaks import Peak, find_peaks

#: Flag names, in the order they are written.
FLAGS = ("not_found", "rt_window", "below_lod", "below_loq", "saturated", "drift", "incomplete")


@dataclass(frozen=True)
class AnalyteResult:
    """One named peak in one chromatogram."""

    name: str
    peak: Peak | None
    amount_fmol: float
    conc_nM: float
    flags: tuple[str, ...]


@dataclass(frozen=True)
class ChromatogramResult:
    """Every peak of a chromatogram, and the method's analytes among them."""

    peaks: list[Peak]
    analytes: dict[str, AnalyteResult]
    drift_per_min: float
    noise_sd: float


def order_flags(flags) -> tuple[str, ...]:
    """Flags deduplicated, in ``FLAGS`` order."""
    s = set(flags)
    return tuple(f for f in FLAGS if f in s)


def quantify(chrom: Chromatogram, method: AnalysisMethod, volume_uL: float | None = None,
             shifts: dict[str, float] | None = None, extra_flags: tuple[str, ...] = ()
             ) -> ChromatogramResult:
    """Integrate ``chrom`` with ``method``; amounts need a calibration, conc a volume."""
    found = find_peaks(chrom.t, chrom.values, method.integration)
    limit = method.integration.drift_limit_per_min
    drift = limit is not None and abs(found.drift_per_min) > limit
    matches = identify(found.peaks, method.peaks, shifts)
    nan_mask = found.saturated
    analytes = {}
    for spec in method.peaks:
        m = matches[spec.name]
        flags = list(m.flags) + list(extra_flags)
        if drift:
            flags.append("drift")
        amount = conc = math.nan
        if m.peak is not None:
            if m.peak.saturated:
                flags.append("saturated")
            cal = spec.calibration
            if cal is not None:
                amount = cal.amount(m.peak.area)
                if volume_uL:
                    conc = amount / volume_uL
                if amount < cal.lod_fmol:
                    flags.append("below_lod")
                elif amount < cal.loq_fmol:
                    flags.append("below_loq")
        elif nan_mask.any():
            expected = spec.rt_s + (shifts or {}).get(spec.name, 0.0)
            near = np.abs(chrom.t - expected) <= spec.window_s
            if nan_mask[near].any():
                flags.append("saturated")
        analytes[spec.name] = AnalyteResult(spec.name, m.peak, amount, conc, order_flags(flags))
    return ChromatogramResult(found.peaks, analytes, found.drift_per_min, found.noise_sd)
