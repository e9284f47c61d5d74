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


def fit_record(analyte: str, t: float, model: str, weighting: str,
               used: list[tuple[str, Standard]], skipped: list[tuple[str, str]]
               ) -> tuple[Calibration | None, dict]:
    """Fit ``used`` standards (sample id, standard) and describe the fit as JSON-ready data.

    Returns (calibration, record); the calibration is ``None`` when the standards cannot be
    fitted, and the record then says why (``error``). ``skipped`` lists (sample id, reason).
    """
    record: dict = {"analyte": analyte, "t": t, "model": model, "weighting": weighting,
                    "n": len(used),
                    "standards": [[sid, s.conc_nM, s.volume_uL, s.area] for sid, s in used],
                    "standards_columns": ["sample_id", "conc_nM", "volume_uL", "area"]}
    if skipped:
        record["skipped"] = [[sid, why] for sid, why in skipped]
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
