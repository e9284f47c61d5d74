"""External-standard calibration: weighted linear fits, LOD/LOQ, back-calculation.

x is the amount on column (fmol) and y the peak area, so a sample injected
with a different loop volume still quantifies correctly: conc (nM) =
amount (fmol) / injected volume (µL), since 1 fmol/µL = 1 nM.

Weights wᵢ = 1, 1/x or 1/x² (Chromeleon/OpenLab convention), normalised to
mean 1. σ is the weighted residual SD, sqrt(Σ wᵢ rᵢ² / (n − p)); with unit
weights that is the residual SD of the regression (ICH Q2). LOD = 3.3σ/S,
LOQ = 10σ/S, in amount units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from raphe.errors import InputError
from raphe.records import CalibrationFit, CalibrationStandard

MODELS = ("linear", "origin")
WEIGHTINGS = ("none", "1/x", "1/x2")


@dataclass(frozen=True)
class Standard:
    """One calibration injection: concentration, injected volume, measured area."""

    conc_nM: float
    volume_uL: float
    area: float

    @property
    def amount_fmol(self) -> float:
        return self.conc_nM * self.volume_uL


@dataclass(frozen=True)
class Calibration:
    """A fitted response line, area = slope · amount + intercept."""

    slope: float
    intercept: float
    model: str
    weighting: str
    n: int
    residual_sd: float
    r_squared: float
    lod_fmol: float
    loq_fmol: float

    def amount(self, area: float) -> float:
        """Amount on column (fmol) for a peak area."""
        return (area - self.intercept) / self.slope

    def conc_nM(self, area: float, volume_uL: float) -> float:
        """Concentration (nM) of a sample injected with ``volume_uL``."""
        return self.amount(area) / volume_uL

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def weights(x: np.ndarray, weighting: str) -> np.ndarray:
    """Normalised least-squares weights for amounts ``x``."""
    if weighting == "none":
        w = np.ones_like(x)
    elif weighting in ("1/x", "1/x2"):
        if np.any(x <= 0):
            raise InputError(f"calibration: weighting {weighting} needs every amount > 0")
        w = 1.0 / x if weighting == "1/x" else 1.0 / x**2
    else:
        raise InputError(f"calibration: weighting must be one of {', '.join(WEIGHTINGS)}, "
                         f"not {weighting!r}")
    return w / w.mean()


def fit(amounts, areas, model: str = "linear", weighting: str = "none") -> Calibration:
    """Weighted least-squares line through (amount fmol, area); ``origin`` forces a = 0."""
    x = np.asarray(amounts, dtype=np.float64)
    y = np.asarray(areas, dtype=np.float64)
    if model not in MODELS:
        raise InputError(f"calibration: model must be one of {', '.join(MODELS)}, not {model!r}")
    p = 1 if model == "origin" else 2
    if len(x) < p + 1 or len(np.unique(x)) < p:
        raise InputError(f"calibration: a {model} fit needs at least {p + 1} standards "
                         f"at {p} or more levels; got {len(x)}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise InputError("calibration: a standard has a non-numeric amount or area")
    w = weights(x, weighting)
    if model == "origin":
        slope = float(np.sum(w * x * y) / np.sum(w * x * x))
        intercept = 0.0
    else:
        xm = np.sum(w * x) / np.sum(w)
        ym = np.sum(w * y) / np.sum(w)
        slope = float(np.sum(w * (x - xm) * (y - ym)) / np.sum(w * (x - xm) ** 2))
        intercept = float(ym - slope * xm)
    if slope <= 0:
        raise InputError("calibration: the fitted slope is not positive; check the standards")
    res = y - (slope * x + intercept)
    sd = float(math.sqrt(np.sum(w * res**2) / (len(x) - p)))
    ym = np.sum(w * y) / np.sum(w) if model == "linear" else 0.0
    ss_tot = float(np.sum(w * (y - ym) ** 2))
    r2 = 1.0 - float(np.sum(w * res**2)) / ss_tot if ss_tot > 0 else math.nan
    return Calibration(slope=slope, intercept=intercept, model=model, weighting=weighting,
                       n=len(x), residual_sd=sd, r_squared=r2,
                       lod_fmol=3.3 * sd / slope, loq_fmol=10.0 * sd / slope)


def fit_standards(standards: list[Standard], model: str = "linear",
                  weighting: str = "none") -> Calibration:
    """Fit ``standards`` (conc, volume, area) in amount on column."""
    return fit([s.amount_fmol for s in standards], [s.area for s in standards], model, weighting)


def parse_standard_kind(kind: str) -> float | None:
    """The concentration (nM) of an injection kind ``standard:<conc_nM>``; None otherwise."""
    head, sep, value = kind.partition(":")
    if head.strip().lower() != "standard" or not sep:
        return None
    try:
        conc = float(value)
    except ValueError:
        return None
    return conc if math.isfinite(conc) and conc >= 0 else None


def _skipped(skipped: list) -> list[tuple[str, str, float, float]]:
    """(sample id, reason, conc, volume) of skipped standards given as (id, reason) or
    (id, reason, conc, volume)."""
    return [(s[0], s[1], *(s[2:4] if len(s) >= 4 else (math.nan, math.nan))) for s in skipped]


def fit_record(analyte: str, t: float, model: str, weighting: str,
               used: list[tuple[str, Standard]], skipped: list[tuple],
               source: str = "this session") -> tuple[Calibration | None, dict]:
    """Fit ``used`` standards (sample id, standard) and describe the fit as JSON-ready data.

    Returns (calibration, record); the calibration is ``None`` when the standards cannot be
    fitted, and the record then says why (``error``). ``skipped`` lists (sample id, reason)
    or (sample id, reason, conc nM, volume µL); ``source`` says where the standards were
    measured.
    """
    record: dict = {"analyte": analyte, "t": t, "model": model, "weighting": weighting,
                    "n": len(used), "source": source,
                    "standards": [{"sample_id": sid, "conc_nM": s.conc_nM,
                                   "volume_uL": s.volume_uL, "area": s.area, "used": 1,
                                   "reason": ""} for sid, s in used]}
    record["standards"] += [{"sample_id": sid, "conc_nM": conc, "volume_uL": volume,
                             "area": math.nan, "used": 0, "reason": why}
                            for sid, why, conc, volume in _skipped(skipped)]
    try:
        cal = fit_standards([s for _, s in used], model, weighting)
    except InputError as exc:
        record["error"] = str(exc).removeprefix("calibration: ")
        return None, record
    record.update(slope=cal.slope, intercept=cal.intercept, r_squared=cal.r_squared,
                  residual_sd=cal.residual_sd, lod_fmol=cal.lod_fmol, loq_fmol=cal.loq_fmol)
    for key, value in record.items():
        if isinstance(value, float) and not math.isfinite(value):
            record[key] = None
    return cal, record


def fit_rows(t: float, analyte: str, record: dict
             ) -> tuple[CalibrationFit, list[CalibrationStandard]]:
    """The session rows of a fit record (:func:`fit_record`): the fit and its standards."""
    def num(key: str) -> float:
        value = record.get(key)
        return math.nan if value is None else float(value)

    fit = CalibrationFit(t=t, analyte=analyte, model=str(record.get("model", "")),
                         weighting=str(record.get("weighting", "")), n=int(record.get("n", 0)),
                         slope=num("slope"), intercept=num("intercept"),
                         r_squared=num("r_squared"), residual_sd=num("residual_sd"),
                         lod_fmol=num("lod_fmol"), loq_fmol=num("loq_fmol"),
                         source=str(record.get("source", "")),
                         error=str(record.get("error", "")))
    standards = [CalibrationStandard(
        t=t, analyte=analyte, sample_id=str(s.get("sample_id", "")),
        conc_nM=math.nan if s.get("conc_nM") is None else float(s["conc_nM"]),
        volume_uL=math.nan if s.get("volume_uL") is None else float(s["volume_uL"]),
        area=math.nan if s.get("area") is None else float(s["area"]),
        used=int(s.get("used", 1)), reason=str(s.get("reason", "")))
        for s in record.get("standards", [])]
    return fit, standards


def calibration_of(fit: dict) -> Calibration | None:
    """The :class:`Calibration` a stored fit dict describes (None when it has no line)."""
    try:
        slope, intercept = float(fit["slope"]), float(fit["intercept"])
    except (KeyError, TypeError, ValueError):
        return None
    if not (math.isfinite(slope) and slope > 0 and math.isfinite(intercept)):
        return None

    def num(key: str) -> float:
        value = fit.get(key)
        return math.nan if value is None else float(value)

    return Calibration(slope=slope, intercept=intercept, model=str(fit.get("model", "linear")),
                       weighting=str(fit.get("weighting", "none")), n=int(fit.get("n", 0)),
                       residual_sd=num("residual_sd"), r_squared=num("r_squared"),
                       lod_fmol=num("lod_fmol"), loq_fmol=num("loq_fmol"))
