"""System suitability: is the assay fit to measure, judged from the standards it injected.

As a CDS's system suitability test (Chromeleon SST) and Eicom's application notes give
labs, per analyte, from the session's standards (injections of kind
``standard:<conc_nM>``) and their results:

``rsd``
    Replicate precision: the area RSD (%) of the replicate injections of one level — the
    standards of one concentration injected in one series, with no sample or blank between
    them. The worst level is the row (its detail names the level and n). Levels below the
    LOQ of the calibration in force are listed but not judged (precision is judged where
    the assay quantifies). Limit ``Limits.rsd_max_pct``.
``r_squared``
    Linearity: r² of the calibration in force for the analyte (the last fit with a line);
    without one, a line fitted here to the standards (each injection a point, as a
    calibration refit takes them: at least 3 standards at 2 or more levels). Limit
    ``Limits.r2_min``.
``lod_nM``, ``loq_nM``
    Sensitivity, reported, not judged: the concentration at S/N 3 and 10 (EP 2.2.46,
    S/N = 2H/h) estimated from the lowest level, conc × 3 / mean S/N and conc × 10 /
    mean S/N.
``drift``
    Response drift: the first and the last standard of one concentration with a sample
    or blank injected between them (the bracketing standards of an experiment, e.g.
    ``STD-before-1``/``STD-after``), (last − first)/first × 100 of the area. Limit
    ``Limits.drift_max_pct`` on its absolute value.

A result whose flags exclude it (``flags.excludes``) is left out, and the details say so.
A test with too little to go on is reported with ``passed`` −1 (not judged) and a detail
saying why. :func:`passed` is true when no judged test failed; :func:`summary` is one line
per session for the console.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from raphe.acquisition.analysis import flags as fl
from raphe.acquisition.analysis.calibration import (
    Standard,
    calibration_of,
    fit_standards,
    parse_standard_kind,
)
from raphe.errors import InputError
from raphe.records import Injection, SampleResult, SuitabilityTest

#: The tests, in the order they are reported for each analyte.
TESTS = ("rsd", "r_squared", "lod_nM", "loq_nM", "drift")
#: Most UTF-8 bytes of a detail (the session column's size).
DETAIL_BYTES = 256
#: Results are matched to their injection by sample id and injection time within this (s).
_T_MATCH = 1e-3


@dataclass(frozen=True)
class Limits:
    """The acceptance limits: replicate area RSD (%), calibration r², bracketing drift (%).

    Defaults: RSD ≤ 3 % (Eicom reports 2.5–3.0 % for 5-HT on the HTEC-500; USP <621>
    asks for 5 replicates when the limit is ≤ 2 %, 6 above), r² ≥ 0.998, |drift| ≤ 10 %.
    """

    rsd_max_pct: float = 3.0
    r2_min: float = 0.998
    drift_max_pct: float = 10.0

    def __post_init__(self) -> None:
        for name in ("rsd_max_pct", "r2_min", "drift_max_pct"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputError(f"suitability: {name} must be a number, got {value!r}")
            if not (math.isfinite(value) and value > 0):
                raise InputError(f"suitability: {name} must be a positive number, got {value!r}")
        if self.r2_min > 1:
            raise InputError(f"suitability: r2_min must be in (0, 1], got {self.r2_min!r}")


@dataclass(frozen=True)
class _Point:
    """One usable standard of one analyte: its injection, level and result."""

    order: int  # position of the injection in the session (by time)
    injection: Injection
    conc_nM: float
    result: SampleResult

    @property
    def area(self) -> float:
        return self.result.area

    @property
    def level(self) -> tuple[float, float]:
        return (self.conc_nM, self.injection.loop_volume_uL)


def evaluate(injections: list[Injection], results: list[SampleResult], fits: list[dict],
             t: float, limits: Limits = Limits(),
             analytes: tuple[str, ...] | None = None) -> list[SuitabilityTest]:
    """The suitability tests of every analyte, from the session's standards.

    ``injections`` and ``results`` are the session's (standards and samples: the samples
    between standards tell replicates from bracketing standards); ``fits`` are calibration
    fits as ``SessionReader.calibration()`` returns them (``{"t", "analyte", "fit"}``, the
    last one per analyte with a line is in force); ``t`` is the time of the rows.
    ``analytes`` defaults to those with a calibration fit or a peak in a standard.
    Rows come per analyte in the order of :data:`TESTS`.
    """
    ordered = sorted(enumerate(injections), key=lambda k: (k[1].t, k[0]))
    sequence = [inj for _, inj in ordered]
    standards = [(i, inj, conc) for i, inj in enumerate(sequence)
                 if (conc := parse_standard_kind(inj.kind)) is not None]
    by_key: dict[tuple[str, str], list[SampleResult]] = {}
    for r in results:
        by_key.setdefault((r.sample_id, r.analyte), []).append(r)

    def result_of(inj: Injection, analyte: str) -> SampleResult | None:
        for r in by_key.get((inj.sample_id, analyte), ()):
            if abs(r.inject_t - inj.t) <= _T_MATCH:
                return r
        return None

    fits_by = _fits_by_analyte(fits)
    if analytes is None:
        analytes = _default_analytes(standards, results, fits_by)
    rows: list[SuitabilityTest] = []
    for analyte in analytes:
        usable: list[_Point] = []
        left_out: list[str] = []
        for i, inj, conc in standards:
            r = result_of(inj, analyte)
            if r is None:
                left_out.append(f"{inj.sample_id} (no result)")
                continue
            bad = [f for f in fl.parse(r.flags) if f in fl.EXCLUDING]
            if fl.excludes(fl.parse(r.flags)) or not math.isfinite(r.area):
                left_out.append(f"{inj.sample_id} ({','.join(bad) or 'no area'})")
                continue
            usable.append(_Point(i, inj, conc, r))
        note = f"left out: {', '.join(left_out)}" if left_out else ""
        fit_in_force, model, weighting = fits_by.get(analyte, (None, "linear", "none"))

        def row(test: str, value: float, limit: float, unit: str, ok: int, detail: str,
                with_note: bool = True, analyte: str = analyte, note: str = note
                ) -> SuitabilityTest:
            text = "; ".join(p for p in (detail, note if with_note else "") if p)
            return SuitabilityTest(t=float(t), analyte=analyte, test=test, value=float(value),
                                   limit=float(limit), unit=unit, passed=ok,
                                   detail=_cut(text))

        loq = _num(fit_in_force["fit"].get("loq_fmol")) if fit_in_force else math.nan
        rows.append(row(*_rsd(usable, sequence, limits, loq)))
        rows.append(row(*_r_squared(usable, fit_in_force, model, weighting, limits)))
        rows += [row(*args) for args in _lod_loq(usable)]
        rows.append(row(*_drift(usable, sequence, limits)))
    return rows


def passed(tests: Iterable[SuitabilityTest]) -> bool:
    """True when every judged test passed (rows not judged do not count)."""
    return all(t.passed != 0 for t in tests)


def summary(tests: Sequence[SuitabilityTest]) -> str:
    """One line for the console, e.g. ``5-HT: RSD 2.1 % (≤ 3), R² 0.9991 (≥ 0.998),
    drift −4.0 % (≤ 10): passed``; analytes separated by ``; ``."""
    if not tests:
        return "system suitability: no standards to judge"
    parts = []
    for analyte in dict.fromkeys(t.analyte for t in tests):
        mine = {t.test: t for t in tests if t.analyte == analyte}
        shown = []
        for test, label in (("rsd", "RSD"), ("r_squared", "R²"), ("drift", "drift")):
            row = mine.get(test)
            if row is None:
                continue
            shown.append(f"{label} {_value(row)}" + (f" ({_limit(row)})" if row.passed >= 0
                                                     else " (not judged)"))
        failed = [t.test for t in mine.values() if t.passed == 0]
        judged = [t for t in mine.values() if t.passed >= 0]
        verdict = (f"FAILED ({', '.join(_LABELS.get(f, f) for f in failed)})" if failed
                   else "passed" if judged else "not judged")
        parts.append(f"{analyte}: {', '.join(shown)}: {verdict}")
    return "; ".join(parts)


# -- the tests -----------------------------------------------------------------------------

_LABELS = {"rsd": "RSD", "r_squared": "R²", "drift": "drift", "lod_nM": "LOD",
           "loq_nM": "LOQ"}
_NOT_JUDGED = -1


def _rsd(points: list[_Point], sequence: list[Injection], limits: Limits,
         loq_fmol: float = math.nan) -> tuple:
    """The worst replicate RSD among the levels at or above the LOQ of the calibration in
    force (precision is judged where the assay quantifies; lower levels are listed)."""
    groups: dict[tuple, list[_Point]] = {}
    for p in points:
        groups.setdefault((*p.level, _series(p.order, sequence)), []).append(p)
    stats, below = [], []
    for (conc, volume, _), group in groups.items():
        if len(group) < 2:
            continue
        areas = np.array([p.area for p in group])
        mean = float(areas.mean())
        rsd = 100.0 * float(areas.std(ddof=1)) / mean if mean > 0 else math.inf
        if math.isfinite(loq_fmol) and conc * volume < loq_fmol:
            below.append(f"{_level(conc, volume, points)} {rsd:.1f} % (n={len(group)})")
            continue
        stats.append((rsd, conc, volume, len(group), mean))
    if not stats and below:
        return ("rsd", math.nan, limits.rsd_max_pct, "%", _NOT_JUDGED,
                "every level with replicates is below the LOQ, not judged: " + ", ".join(below))
    if not stats:
        if not points:
            return ("rsd", math.nan, limits.rsd_max_pct, "%", _NOT_JUDGED,
                    "no usable standard")
        largest: dict[tuple[float, float], int] = {}
        for (conc, volume, _), group in groups.items():
            largest[(conc, volume)] = max(largest.get((conc, volume), 0), len(group))
        levels = ", ".join(f"{_level(c, v, points)} n={n}" for (c, v), n in largest.items())
        why = f"no level with 2 or more replicates ({levels})"
        if len(groups) > len(largest):
            why += "; standards with a sample between them are a bracket: see drift"
        return "rsd", math.nan, limits.rsd_max_pct, "%", _NOT_JUDGED, why
    stats.sort(key=lambda s: -s[0])
    rsd, conc, volume, n, mean = stats[0]
    detail = f"{_level(conc, volume, points)}: n={n}, areas mean {mean:.3g} nA·s"
    others = [f"{_level(c, v, points)} {r:.1f} % (n={k})" for r, c, v, k, _ in stats[1:]]
    if others:
        detail += "; other levels: " + ", ".join(others)
    if below:
        detail += "; below the LOQ, not judged: " + ", ".join(below)
    return "rsd", rsd, limits.rsd_max_pct, "%", int(rsd <= limits.rsd_max_pct), detail


def _r_squared(points: list[_Point], fit_in_force: dict | None, model: str, weighting: str,
               limits: Limits) -> tuple:
    if fit_in_force is not None:
        fit = fit_in_force["fit"]
        r2 = _num(fit.get("r_squared"))
        n = int(fit.get("n") or 0)
        source = fit.get("source") or "this session"
        detail = (f"calibration in force from {_minutes(fit_in_force['t'])}: "
                  f"{fit.get('model', '')}, {fit.get('weighting', '')}, n={n}, {source}")
        if not math.isfinite(r2):
            return ("r_squared", math.nan, limits.r2_min, "", _NOT_JUDGED,
                    detail + ": no r² (too few standards)", False)
        return ("r_squared", r2, limits.r2_min, "", int(r2 >= limits.r2_min), detail, False)
    levels = {p.level for p in points}
    if len(points) < 3 or len(levels) < 2:
        why = (f"no calibration in force and too few standards to fit one: {len(points)} "
               f"at {len(levels)} level(s), 3 at 2 or more needed")
        return "r_squared", math.nan, limits.r2_min, "", _NOT_JUDGED, why
    try:
        cal = fit_standards([Standard(p.conc_nM, p.injection.loop_volume_uL, p.area)
                             for p in points], model, weighting)
    except InputError as exc:
        return ("r_squared", math.nan, limits.r2_min, "", _NOT_JUDGED,
                "no calibration in force; the standards cannot be fitted: "
                + str(exc).removeprefix("calibration: "))
    detail = (f"no calibration in force: fitted here to {len(points)} standards at "
              f"{len(levels)} levels ({model}, {weighting})")
    if not math.isfinite(cal.r_squared):
        return "r_squared", math.nan, limits.r2_min, "", _NOT_JUDGED, detail + ": no r²"
    return ("r_squared", cal.r_squared, limits.r2_min, "", int(cal.r_squared >= limits.r2_min),
            detail)


def _lod_loq(points: list[_Point]) -> list[tuple]:
    with_sn = [p for p in points if math.isfinite(p.result.sn) and p.result.sn > 0]
    above_zero = [p.conc_nM for p in with_sn if p.conc_nM > 0]
    if not above_zero:
        why = ("no usable standard" if not points else "no standard with an S/N" if not with_sn
               else "no standard above 0 nM")
        return [(test, math.nan, math.nan, "nM", _NOT_JUDGED, why)
                for test in ("lod_nM", "loq_nM")]
    low = min(above_zero)
    lowest = [p for p in with_sn if p.conc_nM == low]
    sn = float(np.mean([p.result.sn for p in lowest]))
    where = f"from {low:g} nM (n={len(lowest)}, mean S/N {sn:.3g}), S/N = 2H/h, EP 2.2.46"
    return [("lod_nM", low * 3.0 / sn, math.nan, "nM", _NOT_JUDGED, "S/N 3 " + where),
            ("loq_nM", low * 10.0 / sn, math.nan, "nM", _NOT_JUDGED, "S/N 10 " + where)]


def _drift(points: list[_Point], sequence: list[Injection], limits: Limits) -> tuple:
    by_level: dict[tuple[float, float], list[_Point]] = {}
    for p in points:
        by_level.setdefault(p.level, []).append(p)
    pairs = []
    for level, group in by_level.items():
        first, last = min(group, key=lambda p: p.order), max(group, key=lambda p: p.order)
        if _series(first.order, sequence) == _series(last.order, sequence):
            continue  # nothing but standards between them: replicates, not a bracket
        if not first.area > 0:
            continue
        drift = 100.0 * (last.area - first.area) / first.area
        pairs.append((drift, level, first, last))
    if not pairs:
        return ("drift", math.nan, limits.drift_max_pct, "%", _NOT_JUDGED,
                "no bracketing standards (one concentration before and after a sample)")
    pairs.sort(key=lambda d: -abs(d[0]))
    drift, (conc, volume), first, last = pairs[0]
    detail = (f"{_level(conc, volume, points)}: {first.injection.sample_id} "
              f"{first.area:.3g} → {last.injection.sample_id} {last.area:.3g} nA·s, "
              f"{(last.injection.t - first.injection.t) / 60:.0f} min apart")
    if len(pairs) > 1:
        detail += "; other levels: " + ", ".join(
            f"{_level(c, v, points)} {_signed(d)} %" for d, (c, v), _, _ in pairs[1:])
    return ("drift", drift, limits.drift_max_pct, "%",
            int(abs(drift) <= limits.drift_max_pct), detail)


# -- helpers -------------------------------------------------------------------------------

def _series(order: int, sequence: list[Injection]) -> int:
    """Which series of standards injection ``order`` belongs to: the number of samples and
    blanks injected before it (standards with none between them share a series)."""
    return sum(1 for inj in sequence[:order] if parse_standard_kind(inj.kind) is None)


def _fits_by_analyte(fits: list[dict]) -> dict[str, tuple[dict | None, str, str]]:
    """analyte → (the fit in force or None, its model, its weighting): the last fit with a
    line; without one, the last fit's model and weighting (a failed refit's)."""
    out: dict[str, tuple[dict | None, str, str]] = {}
    for entry in fits:
        analyte = str(entry.get("analyte", ""))
        fit = entry.get("fit") or {}
        model = str(fit.get("model") or "linear")
        weighting = str(fit.get("weighting") or "none")
        usable = not fit.get("error") and calibration_of(fit) is not None
        previous = out.get(analyte, (None, "linear", "none"))[0]
        out[analyte] = (entry if usable else previous, model, weighting)
    return out


def _default_analytes(standards, results, fits_by) -> tuple[str, ...]:
    """Analytes with a calibration fit or a peak in a standard; failing that, every analyte
    in the standards' results (all of them then not judged, saying why)."""
    times: dict[str, list[float]] = {}
    for _, inj, _ in standards:
        times.setdefault(inj.sample_id, []).append(inj.t)
    in_standards: list[str] = []
    found: set[str] = set(fits_by)
    for r in results:
        if any(abs(r.inject_t - t) <= _T_MATCH for t in times.get(r.sample_id, ())):
            in_standards.append(r.analyte)
            if math.isfinite(r.area):
                found.add(r.analyte)
    order = list(dict.fromkeys([*in_standards, *fits_by]))
    chosen = [a for a in order if a in found]
    return tuple(chosen or dict.fromkeys(in_standards))


def _level(conc: float, volume: float, points: list[_Point]) -> str:
    """``1 nM``, with the volume when this concentration was injected at several."""
    volumes = {p.injection.loop_volume_uL for p in points if p.conc_nM == conc}
    return f"{conc:g} nM" + (f" ({volume:g} µL)" if len(volumes) > 1 else "")


def _num(value) -> float:
    try:
        return math.nan if value is None else float(value)
    except (TypeError, ValueError):
        return math.nan


def _minutes(t) -> str:
    value = _num(t)
    return f"{value / 60:.1f} min" if math.isfinite(value) else "?"


def _signed(value: float) -> str:
    return f"{value:+.1f}".replace("-", "−")


def _value(row: SuitabilityTest) -> str:
    if not math.isfinite(row.value):
        return "n/a"
    if row.test == "r_squared":
        return f"{row.value:.4f}"
    if row.test == "drift":
        return f"{_signed(row.value)} {row.unit}"
    if row.test in ("lod_nM", "loq_nM"):
        return f"{row.value:.3g} {row.unit}"
    return f"{row.value:.1f} {row.unit}"


def _limit(row: SuitabilityTest) -> str:
    if not math.isfinite(row.limit):
        return "–"
    return f"≥ {row.limit:g}" if row.test == "r_squared" else f"≤ {row.limit:g}"


def _cut(text: str) -> str:
    """``text`` within :data:`DETAIL_BYTES` UTF-8 bytes, cut on a character with ``…``."""
    if len(text.encode("utf-8")) <= DETAIL_BYTES:
        return text
    budget = DETAIL_BYTES - len("…".encode())
    out = text.encode("utf-8")[:budget].decode("utf-8", errors="ignore")
    return out + "…"
