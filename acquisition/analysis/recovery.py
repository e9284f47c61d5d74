"""Probe recovery in vitro, measured from a recorded probe-recovery session.

The probe-recovery protocol (``protocols/library/probe_recovery.py``) perfuses the
probe while it stands in a solution of known concentration and collects dialysate
samples. Recovery (%) = dialysate concentration ÷ the solution's concentration × 100,
averaged over the dialysate samples (injection kind ``sample``) whose probe-time window
lies wholly inside the time the probe stood in that solution, leaving out results whose
flags exclude them (``acquisition/analysis/flags.py``).

Where the probe stood comes from the session's events: ``medium`` events (text
``<name>; <c> nM <analyte>``, several ``<c> nM <analyte>`` separated by commas, or
``animal`` when it goes back), or in older sessions ``step`` events (``probe in <name>
(<c> nM 5-HT)``, ``probe in animal``). Recovery depends on the flow: the flow in force is
read from ``flow`` events (``<old> -> <new> uL/min; …``), else the protocol's
``flow_ul_min`` parameter, else unknown (NaN).

A sample without a concentration (the session was recorded uncalibrated) is quantified
against the standards injected in the same session (``standard:<c>``, e.g. the protocol's
``STD``), by their mean response per fmol.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from raphe.acquisition.analysis.calibration import parse_standard_kind
from raphe.acquisition.analysis.flags import excludes
from raphe.errors import InputError
from raphe.records import Event, Injection, ProbeRecovery, SampleResult, parse_flow

#: ``probe in <name> (<c> nM 5-HT)``: the step event of sessions written before ``medium``
#: events (a protocol step's `` (line N)`` may follow).
_STEP = re.compile(r"^probe in\s+(?P<name>.+?)(?:\s*\((?P<conc>[^()]*\bnM\b[^()]*)\))?"
                   r"(?:\s*\(line \d+\))?\s*$", re.IGNORECASE)
_CONC = re.compile(r"^\s*(?P<c>[-+0-9.eE]+)\s*nM\s+(?P<analyte>\S.*?)\s*$")
#: Relative difference of flows taken as the same flow.
FLOW_TOLERANCE = 0.01


@dataclass
class Medium:
    """The probe stood in solution ``name`` from ``t_start`` to ``t_end`` (s)."""

    t_start: float
    t_end: float
    name: str
    conc_nM: dict[str, float] = field(default_factory=dict)  # analyte → nM


def parse_medium(text: str) -> tuple[str, dict[str, float]] | None:
    """(solution, analyte → nM) of a ``medium`` event's text; None for ``animal``."""
    name, _, rest = text.partition(";")
    name = name.strip()
    if name.lower() == "animal" and not rest.strip():
        return None
    return name, _concentrations(rest)


def _concentrations(text: str) -> dict[str, float]:
    out = {}
    for part in text.split(","):
        m = _CONC.match(part)
        if m is None:
            continue
        try:
            c = float(m.group("c"))
        except ValueError:
            continue
        if math.isfinite(c) and c > 0:
            out[m.group("analyte")] = c
    return out


def _parse_step(text: str) -> tuple[str, dict[str, float]] | None | bool:
    """(solution, concentrations) of an old ``probe in …`` step; None for the animal;
    False when the step is something else."""
    m = _STEP.match(text.strip())
    if m is None:
        return False
    name = m.group("name").strip()
    if name.lower() == "animal":
        return None
    return name, _concentrations(m.group("conc") or "")


def media(events: Iterable[Event]) -> list[Medium]:
    """Where the probe stood, from ``medium`` events (or, when a session has none, the
    ``probe in …`` steps older sessions wrote), in time order."""
    events = sorted(events, key=lambda e: e.t)
    medium = [e for e in events if e.kind == "medium"]
    out: list[Medium] = []
    current: Medium | None = None
    for e in medium or [e for e in events if e.kind == "step"]:
        parsed = parse_medium(e.text) if medium else _parse_step(e.text)
        if parsed is False:
            continue
        if current is not None:
            current.t_end = e.t
            out.append(current)
            current = None
        if parsed is not None:
            current = Medium(e.t, math.inf, parsed[0], parsed[1])
    if current is not None:
        out.append(current)
    return out


class FlowHistory:
    """The perfusion flow over a session: ``flow`` events, else a constant ``default``."""

    def __init__(self, events: Iterable[Event], default: float = math.nan) -> None:
        self.changes: list[tuple[float, float, float]] = []  # (t, old, new)
        for e in sorted(events, key=lambda e: e.t):
            if e.kind == "flow":
                rates = parse_flow(e.text)
                if rates is not None:
                    self.changes.append((e.t, *rates))
        self.default = default

    def at(self, t: float) -> float:
        """The flow (µL/min) at session time ``t``; NaN when unknown."""
        if not self.changes:
            return self.default
        rate = self.changes[0][1]  # before the first change: its old rate
        for start, _old, new in self.changes:
            if start <= t:
                rate = new
        return rate

    def perfused(self) -> list[float]:
        """The distinct non-zero flows the session ran at."""
        rates = [new for _, _, new in self.changes if new > 0]
        if not self.changes and math.isfinite(self.default):
            rates = [self.default]
        out: list[float] = []
        for r in rates:
            if not any(_same_flow(r, x) for x in out):
                out.append(r)
        return out


def protocol_flow(metadata: dict) -> float:
    """The protocol's ``flow_ul_min`` parameter of a session's metadata (NaN when none)."""
    params = (metadata.get("protocol") or {}).get("parameters") or {}
    value = params.get("flow_ul_min")
    if isinstance(value, dict):
        value = value.get("value")
    try:
        flow = float(value)
    except (TypeError, ValueError):
        return math.nan
    return flow if math.isfinite(flow) and flow > 0 else math.nan


def session_flow(reader) -> FlowHistory:
    """The flow history of an open session (``flow`` events, else the protocol's flow)."""
    return FlowHistory(reader.events(), protocol_flow(reader.metadata))


def _last_reports(results: Iterable[SampleResult]) -> dict[tuple, SampleResult]:
    """The last report of each (sample, injection time, analyte)."""
    out: dict[tuple, SampleResult] = {}
    for r in results:
        out[(r.sample_id, r.inject_t, r.analyte)] = r
    return out


def _response(results: dict[tuple, SampleResult], injections: Sequence[Injection],
              analyte: str) -> float:
    """Mean area per fmol of the session's standards of ``analyte`` (NaN when none)."""
    factors = []
    for inj in injections:
        conc = parse_standard_kind(inj.kind)
        r = results.get((inj.sample_id, inj.t, analyte))
        if conc is None or conc <= 0 or r is None or excludes(_flags(r)):
            continue
        if math.isfinite(r.area) and r.area > 0 and inj.loop_volume_uL > 0:
            factors.append(r.area / (conc * inj.loop_volume_uL))
    return sum(factors) / len(factors) if factors else math.nan


def _flags(r: SampleResult) -> list[str]:
    return [f for f in r.flags.split(",") if f]


def compute(injections: Sequence[Injection], results: Iterable[SampleResult],
            events: Sequence[Event], default_flow: float = math.nan,
            source: str = "this session") -> list[ProbeRecovery]:
    """Recovery per analyte (and per flow, if the samples were collected at several) from
    a session's injections, results and events."""
    reports = _last_reports(results)
    flows = FlowHistory(events, default_flow)
    groups: dict[tuple[str, float], list[tuple[float, float]]] = {}  # → (recovery %, t)
    response: dict[str, float] = {}
    for medium in media(events):
        for inj in injections:
            if inj.kind != "sample":
                continue
            a, b = inj.probe_start_s, inj.probe_end_s
            if not (math.isfinite(a) and math.isfinite(b)):
                continue  # when it left the probe is unknown: cannot say where it was
            if not (medium.t_start <= a and b <= medium.t_end):
                continue
            for analyte, c in medium.conc_nM.items():
                r = reports.get((inj.sample_id, inj.t, analyte))
                if r is None or excludes(_flags(r)):
                    continue
                conc = r.conc_nM
                if not math.isfinite(conc):
                    if analyte not in response:
                        response[analyte] = _response(reports, injections, analyte)
                    rf = response[analyte]
                    if not (math.isfinite(rf) and math.isfinite(r.area)
                            and inj.loop_volume_uL > 0):
                        continue
                    conc = r.area / rf / inj.loop_volume_uL
                flow = flows.at((a + b) / 2)
                known = [f for name, f in groups if name == analyte and _same_flow(f, flow)]
                key = (analyte, known[0] if known else flow)
                groups.setdefault(key, []).append((100.0 * conc / c, inj.t))
    out = []
    for (analyte, flow), values in groups.items():
        pct = sum(v for v, _ in values) / len(values)
        out.append(ProbeRecovery(t=max(t for _, t in values), analyte=analyte,
                                 recovery_pct=pct, flow_uL_min=flow, n=len(values),
                                 source=source))
    return out


def _same_flow(a: float, b: float) -> bool:
    if math.isnan(a) and math.isnan(b):
        return True
    return math.isclose(a, b, rel_tol=FLOW_TOLERANCE)


def measure(reader) -> list[ProbeRecovery]:
    """The recovery measured in an open probe-recovery session (``SessionReader``): one
    record per analyte of the solution (per analyte and flow when the samples were
    collected at several flows), ``source`` ``this session``, ``t`` the injection of the
    last sample used. Empty when no usable sample stood in a solution of known
    concentration."""
    return compute(reader.injections(), reader.results(), reader.events(),
                   protocol_flow(reader.metadata))


def from_session(path: str | Path, analytes: Sequence[str] | None = None,
                 label: str | None = None) -> dict[str, ProbeRecovery]:
    """The recovery measured in the probe-recovery session at ``path``, for ``analytes``
    (all measured when None), as analyte → record with ``t`` 0 and ``source`` ``session
    <file> (<created>)``. One InputError naming the file when it cannot be read, holds no
    usable measurement, or measured an analyte at several flows."""
    from raphe.acquisition.analysis.method import session_source
    from raphe.acquisition.reader import SessionReader

    path = Path(path)
    label = label or f"recovery session {path}"
    if not path.is_file():
        raise InputError(f"{label}: no such file")
    try:
        with SessionReader(path) as reader:
            measured = measure(reader)
            source = session_source(path, reader.metadata)
            n_results = len(reader.table("results"))
    except (InputError, OSError) as exc:
        raise InputError(f"{label}: cannot read it ({exc})") from None
    if not measured:
        why = ("it holds no results: replay it with --method first" if not n_results else
               "no dialysate sample (kind 'sample', not excluded by its flags, probe-time "
               "window known) was collected while the probe stood in a solution of known "
               "concentration ('medium' events)")
        raise InputError(f"{label}: no probe recovery to take: {why}")
    by_analyte: dict[str, list[ProbeRecovery]] = {}
    for r in measured:
        by_analyte.setdefault(r.analyte, []).append(r)
    wanted = list(by_analyte) if analytes is None else [a for a in analytes if a in by_analyte]
    if not wanted:
        raise InputError(f"{label}: it measured the recovery of {', '.join(by_analyte)}, "
                         "which this method does not name")
    out = {}
    for analyte in wanted:
        records = by_analyte[analyte]
        if len(records) > 1:
            flows = ", ".join(f"{r.flow_uL_min:g}" for r in records)
            raise InputError(f"{label}: {analyte} was measured at several flows ({flows} "
                             "uL/min); give the recovery of the flow you use as a number")
        r = records[0]
        out[analyte] = ProbeRecovery(0.0, analyte, r.recovery_pct, r.flow_uL_min, r.n, source)
    return out


def flow_warnings(recovery: dict[str, ProbeRecovery], flow_uL_min: float | Iterable[float]
                  ) -> list[str]:
    """One line when the flow of a run differs from the flow a recovery was measured at
    (recovery depends on the flow, so the corrected concentrations would be off)."""
    flows = [flow_uL_min] if isinstance(flow_uL_min, int | float) else list(flow_uL_min)
    flows = [f for f in flows if math.isfinite(f) and f > 0]
    off = []
    for analyte, r in recovery.items():
        if not math.isfinite(r.flow_uL_min):
            continue
        others = [f for f in flows if not _same_flow(f, r.flow_uL_min)]
        if others:
            off.append(f"{analyte} {r.recovery_pct:.3g} % at {r.flow_uL_min:g} uL/min")
    if not off:
        return []
    run = ", ".join(f"{f:g}" for f in flows)
    return [(f"the probe recovery ({'; '.join(off)}) was measured at another flow than this "
             f"run's ({run} uL/min): recovery depends on the flow, so the recovery-corrected "
             "concentrations are off")]
