"""Records that flow from the rig into a session, and from a session into replay.

Times are session time in seconds. These dataclasses are the one declaration
of every session table: their fields, in order, with a unit and a text size
(:func:`column`), are the table's columns. The HDF5 row types, the writer,
the reader, the CSV headers and the JSON of ``raphe inspect``/``replay`` are
all derived from them (:func:`columns`, :func:`values`, :func:`as_json`).
They are also the messages a session subscription (the analysis core, the
GUI) receives live and on replay, as ``callback(kind, record)`` with ``kind``
the table's name.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

import numpy as np


def column(unit: str = "", *, size: int = 0, default: Any = MISSING) -> Any:
    """A table column: ``unit`` (ASCII, e.g. ``s``, ``nA*s``, ``uL/min``, ``%``) and, for
    text, the most UTF-8 bytes it stores (longer text is cut on a character boundary)."""
    return field(default=default, metadata={"unit": unit, "size": size})


@dataclass(frozen=True)
class Column:
    """One column of a record's table, derived from its dataclass field."""

    name: str
    kind: type  # float, int or str
    unit: str
    size: int  # bytes for text, 0 otherwise
    required: bool  # no default: files older than the column cannot supply it

    @property
    def header(self) -> str:
        """The CSV header: the name with its unit, unless the name already ends with it."""
        slug = self.unit.replace("%", "pct").replace("*", "_").replace("/", "_")
        if not slug or self.name.endswith(slug):
            return self.name
        return f"{self.name}_{slug}"


_KINDS = {"float": float, "int": int, "str": str}


def columns(record: type) -> tuple[Column, ...]:
    """The columns of a record class, in field order."""
    cached = record.__dict__.get("_columns")
    if cached is not None:
        return cached
    out = []
    for f in fields(record):
        kind = _KINDS[f.type if isinstance(f.type, str) else f.type.__name__]
        out.append(Column(f.name, kind, f.metadata.get("unit", ""), f.metadata.get("size", 0),
                          f.default is MISSING and f.default_factory is MISSING))
    result = tuple(out)
    record._columns = result
    return result


class Row:
    """Base of the table records: equal when every column is equal, NaN equal to NaN
    (a missing value read back from a file is the same missing value)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(a == b or (_isnan(a) and _isnan(b)) for a, b in zip(values(self), values(other)))

    def __hash__(self) -> int:
        return hash(tuple("nan" if _isnan(v) else v for v in values(self)))


def _isnan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def values(record: Any) -> tuple:
    """A record's field values in column order (one table row)."""
    return tuple(getattr(record, c.name) for c in columns(type(record)))


def as_json(record: Any) -> dict[str, Any]:
    """A record as JSON-ready data: NaN and infinities become None."""
    return {c.name: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for c, v in zip(columns(type(record)), values(record))}


@dataclass(frozen=True)
class DetectorBlock:
    """Samples that arrived from the detector since the last read.

    ``t0`` is the session time (s) of ``values[0]``, sample ``i`` is at
    ``t0 + i * dt``; times come from the sample index, never the host clock.
    ``values`` are nA (float64); overloaded samples are NaN and flagged in
    ``overload``.
    """

    index0: int
    t0: float
    dt: float
    values: np.ndarray
    overload: np.ndarray = field(default=None)  # bool mask, same length as values

    def __post_init__(self) -> None:
        if self.overload is None:
            object.__setattr__(self, "overload", np.zeros(len(self.values), dtype=bool))

    def __len__(self) -> int:
        return len(self.values)

    @property
    def times(self) -> np.ndarray:
        return self.t0 + self.dt * np.arange(len(self.values))

    @property
    def saturated(self) -> bool:
        return bool(self.overload.any())


#: Event kinds:
#: - ``drug``: a drug administration (its text names drug, dose and route);
#: - ``marker``, ``prompt``, ``step``, ``phase``, ``info``: what the operator or protocol did;
#: - ``alarm``: an instrument fault or alarm, and its recovery (``… reconnected``);
#: - ``range``: the detector's scale changed;
#: - ``gap``: detector readings lost from ``t`` to ``t_end``;
#: - ``perfusion``: text ``started …``, ``stopped …`` (stall, syringe empty, pump unreachable)
#:   or ``restored …``: when the probe was (not) perfused;
#: - ``flow``: the perfusion flow changed; text ``<old> -> <new> uL/min; <who>: <why>``
#:   (:func:`flow_text`, read back by :func:`parse_flow`);
#: - ``medium``: the probe was moved into a solution (text ``<name>; <c> nM 5-HT``) or back
#:   into the animal (text ``animal``);
#: - ``calibration``: text ``refit``: fit the calibration anew from the standards injected
#:   since the last refit (the analysis does it once their runs have closed);
#: - ``suitability``: a system-suitability test was evaluated (text: passed/failed, and the
#:   operator's decision when it failed);
#: - ``state``: the protocol engine's state changed (idle, checking, running, paused …);
#: - ``pause``: a span (``t`` to ``t_end``) during which the schedule was held, text the
#:   reason; written when the pause ends (or when the run ends during it);
#: - ``end``: how the run ended, text ``completed``, ``aborted: <who/why>``,
#:   ``ended on fault: <what>``; a file without one was interrupted (a crash).
EVENT_KINDS = ("drug", "marker", "phase", "prompt", "step", "alarm", "info", "range", "gap",
               "perfusion", "flow", "medium", "calibration", "suitability", "state", "pause",
               "end")
EVENT_SOURCES = ("operator", "protocol", "instrument", "simulator")


@dataclass(frozen=True, eq=False)
class Event(Row):
    """Something that happened at session time ``t`` (a span ends at ``t_end``)."""

    t: float = column("s")
    kind: str = column(size=16)
    text: str = column(size=512)
    source: str = column(size=16, default="operator")
    t_end: float = column("s", default=math.nan)


@dataclass(frozen=True, eq=False)
class Injection(Row):
    """The valve switched to INJECT: time zero of a chromatogram.

    ``probe_start_s``/``probe_end_s`` is when the injected dialysate left the
    probe (its collection interval shifted by outlet dead volume ÷ flow); NaN
    when not known (a fixed-loop recording without fluidics).
    """

    t: float = column("s")
    sample_id: str = column(size=64)
    loop_volume_uL: float = column("uL")
    position: str = column(size=8, default="B")
    #: "sample" for dialysate, "standard:<conc_nM>" for a calibration standard, "blank".
    kind: str = column(size=32, default="sample")
    probe_start_s: float = column("s", default=math.nan)
    probe_end_s: float = column("s", default=math.nan)
    #: comma-separated: ``late_injection`` (the valve switched later than planned: the probe
    #: window is that of the dialysate really in the loop) …
    flags: str = column(size=64, default="")

    @property
    def probe_t(self) -> float:
        """Midpoint of the probe-time window (s), NaN when unknown."""
        return (self.probe_start_s + self.probe_end_s) / 2


@dataclass(frozen=True, eq=False)
class Fraction(Row):
    tube: int = column()
    t_start: float = column("s")
    t_end: float = column("s")
    volume_uL: float = column("uL")
    sample_id: str = column(size=64)
    probe_start_s: float = column("s", default=math.nan)
    probe_end_s: float = column("s", default=math.nan)
    #: comma-separated: ``partial`` (the tube was filling when the run ended or was aborted:
    #: ``t_end`` is when filling stopped), ``volume_short`` (the pump delivered well under
    #: what the flow commanded: ``volume_uL`` is what it delivered)
    flags: str = column(size=64, default="")


@dataclass(frozen=True, eq=False)
class PumpState(Row):
    t: float = column("s")
    rate_uL_min: float = column("uL/min")
    dispensed_uL: float = column("uL")
    status: str = column(size=16)


@dataclass(frozen=True, eq=False)
class SampleResult(Row):
    """One analyte in one injected sample, as the analysis core reports it."""

    sample_id: str = column(size=64)
    inject_t: float = column("s")
    analyte: str = column(size=32)
    rt_s: float = column("s")  # NaN when the peak was not found
    area: float = column("nA*s")
    height: float = column("nA")
    sn: float = column()
    conc_nM: float = column("nM")  # NaN when not calibrated or not found
    amount_fmol: float = column("fmol")
    pct_baseline: float = column("%")  # NaN until the baseline is known
    #: comma-separated: below_lod, below_loq, not_found, rt_window, saturated, drift,
    #: incomplete (run cut short by the next injection or the end of the session) …
    flags: str = column(size=128)
    #: midpoint of the sample's probe-time window (s); NaN when unknown
    probe_t: float = column("s", default=math.nan)
    #: the peak's detection code as a CDS prints it (B baseline, V valley, T tangent, S skim…)
    code: str = column(size=8, default="")
    #: 1 for a baseline sample (the method's list, the baseline phase, or before the first
    #: drug), whether or not its flags leave it out of the reference
    baseline: int = column(default=0)
    #: ``conc_nM`` ÷ the probe's in-vitro recovery: an estimate of the extracellular
    #: concentration, NaN without a recovery (dialysate values stay the primary numbers)
    conc_corrected_nM: float = column("nM", default=math.nan)


def percent(value: float, mean: float) -> float:
    """``value`` as % of a baseline reference ``mean``: 100 × value ÷ mean (NaN when either is
    missing or the mean is 0). The one definition of % of baseline."""
    if not (math.isfinite(value) and math.isfinite(mean)) or mean == 0:
        return math.nan
    return 100.0 * value / mean


def result_key(result: SampleResult) -> tuple[str, float, str]:
    """What identifies a result: its sample, injection time and analyte (a revision of a
    result — its % of baseline against a new reference — has the same key)."""
    return result.sample_id, result.inject_t, result.analyte


class LatestResults(list):
    """Results as a list, one per sample and analyte: a revision (same :func:`result_key`)
    replaces the result it revises in place; new results are appended."""

    def __init__(self) -> None:
        super().__init__()
        self._index: dict[tuple, int] = {}

    def add(self, result: SampleResult) -> None:
        key = result_key(result)
        i = self._index.get(key)
        if i is None:
            self._index[key] = len(self)
            self.append(result)
        else:
            self[i] = result


@dataclass(frozen=True, eq=False)
class BaselineReference(Row):
    """The reference of % of baseline for one analyte, as it stood from ``t`` on.

    ``mean`` and ``sd`` (sample SD) of the baseline samples that are not excluded by their
    flags, in ``unit`` (nM when calibrated, else nA*s of peak area). A new row is written
    each time the reference changes; ``final`` is 1 once the baseline period is over (the
    first sample after the drug was quantified, or the session ended): from then on every
    stored % of baseline, the baseline samples' included, is against this row.
    """

    t: float = column("s")
    analyte: str = column(size=32)
    mean: float = column()
    sd: float = column()
    n: int = column()
    unit: str = column(size=16)
    #: the sample ids averaged, comma-separated
    samples: str = column(size=1024)
    final: int = column(default=0)


@dataclass(frozen=True, eq=False)
class CalibrationFit(Row):
    """A calibration fit in force from ``t``: area = slope · amount (fmol) + intercept.

    Its standards are rows of ``CalibrationStandard`` with the same ``t`` and ``analyte``.
    ``error`` says why standards could not be fitted (the numbers are then NaN).
    """

    t: float = column("s")
    analyte: str = column(size=32)
    model: str = column(size=16, default="")
    weighting: str = column(size=16, default="")
    n: int = column(default=0)
    slope: float = column("nA*s/fmol", default=math.nan)
    intercept: float = column("nA*s", default=math.nan)
    r_squared: float = column(default=math.nan)
    residual_sd: float = column("nA*s", default=math.nan)
    lod_fmol: float = column("fmol", default=math.nan)
    loq_fmol: float = column("fmol", default=math.nan)
    #: where the standards come from: ``this session``, a method file, another session …
    source: str = column(size=512, default="")
    error: str = column(size=256, default="")


@dataclass(frozen=True, eq=False)
class CalibrationStandard(Row):
    """One standard of the calibration fit (``t``, ``analyte``): used, or skipped and why."""

    t: float = column("s")
    analyte: str = column(size=32)
    sample_id: str = column(size=64)
    conc_nM: float = column("nM")
    volume_uL: float = column("uL")
    area: float = column("nA*s")
    used: int = column(default=1)
    reason: str = column(size=64, default="")


@dataclass(frozen=True, eq=False)
class ProbeRecovery(Row):
    """The probe's in-vitro recovery in force for an analyte: dialysate ÷ medium × 100."""

    t: float = column("s")
    analyte: str = column(size=32)
    recovery_pct: float = column("%")
    flow_uL_min: float = column("uL/min", default=math.nan)
    n: int = column(default=0)
    #: where it was measured: ``this session`` or the recovery session's file name
    source: str = column(size=512, default="")


@dataclass(frozen=True, eq=False)
class SuitabilityTest(Row):
    """One system-suitability test of one analyte: its value against its limit."""

    t: float = column("s")
    analyte: str = column(size=32)
    #: ``rsd`` (replicate area RSD, %), ``r_squared``, ``lod_nM``/``loq_nM`` (S/N 3 and 10),
    #: ``drift`` (first to last bracketing standard, %)
    test: str = column(size=16)
    value: float = column()
    limit: float = column(default=math.nan)
    unit: str = column(size=16, default="")
    #: 1 passed, 0 failed, -1 not judged (no limit, or not enough standards)
    passed: int = column(default=-1)
    detail: str = column(size=256, default="")


@dataclass(frozen=True, eq=False)
class InstrumentState(Row):
    """What an instrument other than the pump was set to: the valve's position, the
    collector's tube or drain; the last rows are their final, safe states."""

    t: float = column("s")
    role: str = column(size=16)
    state: str = column(size=32)
    detail: str = column(size=128, default="")


@dataclass(frozen=True, eq=False)
class AuditEntry(Row):
    """A manual action: who did what, and the value it replaced."""

    t: float = column("s")
    wall_time: float = column("s")  # since 1970-01-01 UTC
    who: str = column(size=64)
    what: str = column(size=512)
    previous: str = column(size=512)


def flow_text(old: float, new: float, who: str, why: str = "") -> str:
    """The text of a ``flow`` event."""
    return f"{old:g} -> {new:g} uL/min; {who}" + (f": {why}" if why else "")


def parse_flow(text: str) -> tuple[float, float] | None:
    """(old, new) µL/min of a ``flow`` event's text, or None when it is not one."""
    head = text.split(";", 1)[0].replace("uL/min", "").split("->")
    try:
        return float(head[0]), float(head[1])
    except (IndexError, ValueError):
        return None
