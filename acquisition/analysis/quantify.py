"""One chromatogram → peaks → named, calibrated analytes with flags.

The flags and what they mean are in ``flags.py``. A named analyte whose
peak's S/N could not be computed is not reported (``not_found``,
``no_noise``): without a noise figure nothing says it is not noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from raphe.acquisition.analysis.calibration import Calibration
from raphe.acquisition.analysis.chromatogram import Chromatogram
from raphe.acquisition.analysis.flags import order_flags
from raphe.acquisition.analysis.identify import identify
from raphe.acquisition.analysis.method import AnalysisMethod, PeakSpec
from raphe.acquisition.analysis.peaks import Peak, PeakSet, find_peaks, fit_expected


@dataclass(frozen=True)
class AnalyteResult:
    """One named peak in one chromatogram."""

    name: str
    peak: Peak | None
    amount_fmol: float
    conc_nM: float
    flags: tuple[str, ...]
    #: Where the peak was looked for (s from injection): method RT + learnt shift, moved
    #: with its reference peak (the centre of its RT window).
    expected_rt_s: float = math.nan


@dataclass(frozen=True)
class ChromatogramResult:
    """Every peak of a chromatogram, and the method's analytes among them."""

    peaks: list[Peak]
    analytes: dict[str, AnalyteResult]
    drift_per_min: float
    noise_sd: float
    found: PeakSet | None = None


def file_limits(chrom: Chromatogram) -> tuple[float | None, float | None]:
    """The detector's (maximum, minimum) as the file states them, if it does."""
    out = []
    for key in ("detector_maximum_value", "detector_minimum_value"):
        value = chrom.metadata.get(key)
        out.append(float(value) if isinstance(value, int | float) and math.isfinite(value)
                   else None)
    return out[0], out[1]


def _outside(value: float, bounds: tuple[float, float] | None) -> bool:
    return bounds is not None and math.isfinite(value) and not bounds[0] <= value <= bounds[1]


def _window_flags(found: PeakSet, t: np.ndarray, centre: float, half: float) -> list[str]:
    """Flags for an analyte with no peak: clipping or a baseline step where it was expected."""
    out = []
    near = np.abs(t - centre) <= half
    if found.saturated.size and found.saturated[near].any():
        out.append("saturated")
    if any(abs(s - centre) <= half for s in found.steps_s):
        out.append("baseline_step")
    return out


def peak_flags(peak: Peak) -> tuple[str, ...]:
    """The flags a peak earns by itself, named or not (``raphe quantify`` without a method
    lists them too): clipping, a baseline step, an unresolved rider, a fit mismatch."""
    flags = []
    if peak.saturated:
        flags.append("saturated")
    if peak.baseline_step:
        flags.append("baseline_step")
    if peak.unresolved:
        flags.append("unresolved")
    if peak.fit_mismatch:
        flags.append("fit_mismatch")
    return order_flags(flags)


def _analyte(spec: PeakSpec, peak: Peak | None, flags: list[str], cal: Calibration | None,
             volume_uL: float | None, expected_rt_s: float) -> AnalyteResult:
    amount = conc = math.nan
    if peak is not None:
        flags += peak_flags(peak)
        if spec.calibrated and cal is None:
            flags.append("uncalibrated")
        if cal is not None:
            amount = cal.amount(peak.area)
            if volume_uL:
                conc = amount / volume_uL
            if amount < cal.lod_fmol:
                flags.append("below_lod")
            elif amount < cal.loq_fmol:
                flags.append("below_loq")
        if _outside(conc, spec.plausible_nM) or _outside(peak.area, spec.plausible_area):
            flags.append("out_of_range")
    return AnalyteResult(spec.name, peak, amount, conc, order_flags(flags), expected_rt_s)


def quantify(chrom: Chromatogram, method: AnalysisMethod, volume_uL: float | None = None,
             shifts: dict[str, float] | None = None, extra_flags: tuple[str, ...] = (),
             calibrations: dict[str, Calibration | None] | None = None
             ) -> ChromatogramResult:
    """Integrate ``chrom`` with ``method``; amounts need a calibration, conc a volume.

    ``calibrations`` (analyte → fit) replaces the method's own fits (a session's refits).
    """
    found = find_peaks(chrom.t, chrom.values, method.integration, file_limits(chrom))
    limit = method.integration.drift_limit_per_min
    drift = limit is not None and abs(found.drift_per_min) > limit
    matches = identify(found.peaks, method.peaks, shifts)
    analytes = {}
    for spec in method.peaks:
        m = matches[spec.name]
        flags = list(m.flags) + list(extra_flags)
        if drift:
            flags.append("drift")
        peak = m.peak
        if peak is not None and not math.isfinite(peak.sn):
            peak.name = None  # no noise figure: cannot tell it from noise, so not reported
            peak = None
            flags += ["not_found", "no_noise"]
        if peak is None and "not_found" in m.flags and "no_noise" not in flags \
                and not _window_flags(found, chrom.t, m.expected_rt_s, spec.window_s):
            # nothing integrated in the window: on a larger peak's tail the whole-cluster
            # fit says whether a shoulder stands there that no valley or inflection showed
            peak = fit_expected(found, m.expected_rt_s, spec.window_s,
                                method.integration.peak_width_s)
            if peak is not None:
                peak.name = spec.name
                found.peaks.append(peak)  # after the integrated ones, each beside its segment
                flags = [f for f in flags if f != "not_found"]
        if peak is None:
            flags = [f for f in flags if f not in ("rt_window",)]
            flags += _window_flags(found, chrom.t, m.expected_rt_s, spec.window_s)
        cal = calibrations.get(spec.name) if calibrations is not None else spec.calibration
        analytes[spec.name] = _analyte(spec, peak, flags, cal, volume_uL, m.expected_rt_s)
    found.peaks.sort(key=lambda p: p.rt_s)
    return ChromatogramResult(found.peaks, analytes, found.drift_per_min, found.noise_sd, found)
