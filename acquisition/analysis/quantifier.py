"""LiveQuantifier: the one analysis path, fed live or from a recorded session.

Sample times come from the detector's sample index against the block that
anchors it (t = t0_anchor + (index − index0_anchor)·dt), so the segment cut
for an injection — every sample with inject_t ≤ t ≤ inject_t + run length —
does not depend on how the stream was split into blocks. A block re-anchors
the time base when its index does not follow on, or when its recorded ``t0``
disagrees with its index by more than half an interval (readings were lost and
re-timed by the detector): the analysis then times every sample as the file
does, and a forward jump is lost readings (``gap``). A run closes when a
block reaches its end time, or early at the next injection (flag
``incomplete``), or at ``finish()`` (also ``incomplete``). Only the signal
still needed by open runs, plus ``pre_s`` seconds, is kept.

Besides the chromatogram, a result carries what the stream said about its
sample: lost readings in its run (``gap``), perfusion not running while it
left the probe (``unfilled``, ``perfusion_stopped``), a flow change
(``flow_changed``), its probe time, and whether it is a baseline sample. Its %
of baseline comes from :mod:`percent_of_baseline`: a result is reported again
(the same sample and analyte, a new % of baseline) each time the reference
changes, so consumers keep the last report of each. Each closed chromatogram
is also published whole (:class:`ClosedRun`: trace, integration, results) for
whoever draws it.
A ``calibration`` event (text ``refit``) refits every calibrated analyte
from the standards injected since the previous refit, once their runs have
closed; later results use the new fit. Everything is decided in stream
order, so live and replayed results are identical.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from raphe.acquisition.analysis import flags as fl
from raphe.acquisition.analysis.calibration import (
    Calibration,
    Standard,
    fit_record,
    parse_standard_kind,
)
from raphe.acquisition.analysis.chromatogram import Chromatogram
from raphe.acquisition.analysis.conditions import FlowLog, GapLog, PerfusionLog
from raphe.acquisition.analysis.method import AnalysisMethod
from raphe.acquisition.analysis.percent_of_baseline import PercentOfBaseline
from raphe.acquisition.analysis.quantify import ChromatogramResult, quantify
from raphe.errors import InputError
from raphe.records import (
    BaselineReference,
    DetectorBlock,
    Event,
    Injection,
    LatestResults,
    SampleResult,
    result_key,
)

#: A hole in the sample times longer than this many sampling intervals is lost readings.
GAP_INTERVALS = 1.5
#: A block whose time differs from its index's by more than this many intervals is timed
#: from its own ``t0`` (the time the file holds), not from the first block's.
ANCHOR_TOLERANCE = 0.5
#: Signal kept before the newest sample for an injection still to come: its record follows
#: the switch once the valve confirms it, which on a fast simulated clock and a busy machine
#: can be many minutes of the experiment (12 min seen at 300×). 20 min at 10 Hz is 96 kB.
PRE_S = 1200.0
#: A run cut by the next injection less than this fraction of its length before its end is
#: whole: injections on a schedule as long as the run land a moment early or late (the valve
#: switches when its command arrives), and the last seconds hold no peak.
CUT_TOLERANCE = 0.01


@dataclass
class ClosedRun:
    """One injection's chromatogram as the analysis closed it: the trace it integrated
    (time from the injection, s; signal, nA), the integration of every peak, the RT
    shifts in force, the analytes' results as first reported, and whether the sample is a
    baseline sample. What the window and the status page draw."""

    injection: Injection
    t: np.ndarray
    values: np.ndarray
    result: ChromatogramResult
    shifts: dict[str, float] = field(default_factory=dict)
    results: tuple[SampleResult, ...] = ()
    baseline: bool = False

    @property
    def sample_id(self) -> str:
        return self.injection.sample_id

    @property
    def inject_t(self) -> float:
        return self.injection.t

    @property
    def end_t(self) -> float:
        """Session time the run closed (its last sample)."""
        return self.injection.t + (float(self.t[-1]) if len(self.t) else 0.0)


@dataclass
class _Run:
    seq: int
    injection: Injection
    end_t: float
    cut: bool = False


@dataclass
class _Chunk:
    times: np.ndarray
    values: np.ndarray
    overload: np.ndarray


@dataclass
class _Refit:
    """A ``calibration refit`` event waiting for its standards' runs to close."""

    t: float
    standards: list[int] = field(default_factory=list)  # run sequence numbers


class LiveQuantifier:
    """Consumes the stream (:meth:`feed`) and emits each sample's results when its run
    window closes.

    ``on_result`` receives every ``SampleResult`` and every revision of one (same
    sample, injection time and analyte; a new % of baseline); ``on_calibration(t,
    analyte, fit)`` every refit (``fit`` is JSON-ready: slope, intercept, weighting, r²,
    LOD/LOQ, n, standards, or ``error`` when the standards could not be fitted);
    ``on_reference`` every change of a % of baseline reference; ``on_chromatogram`` every
    closed run (:class:`ClosedRun`).
    """

    def __init__(self, method: AnalysisMethod,
                 on_result: Callable[[SampleResult], None] | None = None,
                 pre_s: float = PRE_S,
                 on_calibration: Callable[[float, str, dict], None] | None = None,
                 on_reference: Callable[[BaselineReference], None] | None = None,
                 on_chromatogram: Callable[[ClosedRun], None] | None = None) -> None:
        if not method.run_length_s:
            raise InputError(f"method {method.name}: run_length_s is needed for live analysis")
        self.method = method
        self.on_result = on_result
        self.on_calibration = on_calibration
        self.on_reference = on_reference
        self.on_chromatogram = on_chromatogram
        self.pre_s = pre_s
        #: The last report of every result, in the order first reported.
        self.results = LatestResults()
        self._index = self.results._index
        #: Every change of a % of baseline reference, in order.
        self.references: list[BaselineReference] = []
        #: Full per-injection results (all peaks), in emission order.
        #: The injections whose run has closed, in order (results go to ``results``; each
        #: chromatogram is published once, to ``on_chromatogram``, never kept).
        self.closed: list[Injection] = []
        #: Every refit, in order: (t, analyte, fit record).
        self.refits: list[tuple[float, str, dict]] = []
        self.shifts: dict[str, float] = {}
        self.calibrations: dict[str, Calibration | None] = {
            p.name: p.calibration for p in method.peaks if p.calibrated}
        self.percent = PercentOfBaseline(method.baseline_samples, emit=self._emit,
                                         on_reference=self._reference)
        self.perfusion = PerfusionLog()
        self.flow = FlowLog()
        self.gaps = GapLog()
        #: analyte → probe recovery (%) applied to ``conc_corrected_nM``
        self.recovery: dict[str, float] = {
            name: rec.recovery_pct for name, rec in (getattr(method, "recovery", None)
                                                     or {}).items()}
        self._runs: list[_Run] = []
        self._seq = 0
        self._standard_areas: dict[int, tuple[Injection, dict[str, tuple[float, tuple]]]] = {}
        self._since_refit: list[int] = []  # standards injected since the last refit event
        self._refits: list[_Refit] = []
        self._closed: set[int] = set()
        self._chunks: list[_Chunk] = []
        self._anchor: tuple[int, float, float] | None = None  # index0, t0, dt
        self._last_t = -math.inf
        self._next_index: int | None = None

    @property
    def open_runs(self) -> list[Injection]:
        """Injections whose chromatogram has not closed yet (a snapshot, any thread)."""
        return [run.injection for run in list(self._runs)]

    @property
    def buffered_samples(self) -> int:
        """Signal samples held right now (bounded by the open runs plus ``pre_s``)."""
        return sum(len(c.times) for c in self._chunks)

    # -- the stream ------------------------------------------------------------------------

    def feed(self, kind: str, record: object) -> None:
        """A session subscription's callback: route one record of the stream."""
        if kind == "blocks":
            self.on_block(record)
        elif kind == "injections":
            self.on_injection(record)
        elif kind == "events":
            self.on_event(record)

    def on_block(self, block: DetectorBlock) -> None:
        n = len(block.values)
        if n == 0:
            return
        if (self._anchor is None or block.dt != self._anchor[2]
                or block.index0 != self._next_index
                or abs(block.t0 - self._anchor_time(block.index0)) > ANCHOR_TOLERANCE * block.dt):
            # first block, new rate, a restart/jump in the sample index, or a block whose
            # recorded time disagrees with the index (the detector re-timed its readings
            # after losing some): time from this block, as the file has it; a jump forward
            # in time means readings were lost
            if self._anchor is not None and block.t0 > self._last_t + GAP_INTERVALS * block.dt:
                self.gaps.add(self._last_t, block.t0)
            self._anchor = (block.index0, block.t0, block.dt)
        self._next_index = block.index0 + n
        i0, t0, dt = self._anchor
        times = t0 + (np.arange(block.index0, block.index0 + n) - i0) * dt
        values = np.asarray(block.values, dtype=np.float64).copy()
        overload = np.asarray(block.overload, dtype=bool)
        values[overload] = np.nan
        self._chunks.append(_Chunk(times, values, overload))
        self._last_t = float(times[-1])
        self._close_ready()
        self._trim()

    def _anchor_time(self, index: int) -> float:
        i0, t0, dt = self._anchor
        return t0 + (index - i0) * dt

    def on_injection(self, injection: Injection) -> None:
        for run in self._runs:
            if run.end_t > injection.t:
                short = run.end_t - injection.t > CUT_TOLERANCE * self.method.run_length_s
                run.end_t, run.cut = injection.t, run.cut or short
        self._seq += 1
        self._runs.append(_Run(self._seq, injection, injection.t + self.method.run_length_s))
        if parse_standard_kind(injection.kind) is not None:
            self._since_refit.append(self._seq)
        self._close_ready()

    def on_event(self, event: Event) -> None:
        self.percent.on_event(event)
        self.perfusion.on_event(event)
        self.flow.on_event(event)
        self.gaps.on_event(event)
        if event.kind == "calibration" and event.text.strip().lower().startswith("refit"):
            self._refits.append(_Refit(event.t, self._since_refit))
            self._since_refit = []
            self._apply_refits()

    def finish(self) -> None:
        """Close every open run with the signal there is (flagged ``incomplete``)."""
        for run in list(self._runs):
            self._close(run, incomplete=True)
        self._runs.clear()
        self._chunks.clear()
        if math.isfinite(self._last_t):
            self.percent.finalize(self._last_t)

    def _emit(self, result: SampleResult) -> None:
        """Report a result (or a revision of one reported before)."""
        self.results.add(result)
        if self.on_result is not None:
            self.on_result(result)

    def _reference(self, record: BaselineReference) -> None:
        self.references.append(record)
        if self.on_reference is not None:
            self.on_reference(record)

    # -- internals ------------------------------------------------------------------------

    def _close_ready(self) -> None:
        while self._runs:
            run = self._runs[0]
            done = self._last_t >= run.end_t
            if not done:
                break
            self._runs.pop(0)
            self._close(run, incomplete=run.cut)

    def _trim(self) -> None:
        keep = self._last_t - self.pre_s
        if self._runs:
            keep = min(keep, self._runs[0].injection.t)
        while self._chunks and self._chunks[0].times[-1] < keep:
            self._chunks.pop(0)

    def _segment(self, start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
        parts_t, parts_v = [], []
        for c in self._chunks:
            if c.times[-1] < start or c.times[0] > end:
                continue
            m = (c.times >= start) & (c.times <= end)
            parts_t.append(c.times[m])
            parts_v.append(c.values[m])
        if not parts_t:
            return np.zeros(0), np.zeros(0)
        return np.concatenate(parts_t), np.concatenate(parts_v)

    def _stream_flags(self, inj: Injection, end_t: float, times: np.ndarray,
                      incomplete: bool, baseline: bool) -> tuple[str, ...]:
        """Flags the stream gives a sample: incomplete, gap, unfilled, perfusion_stopped,
        flow_changed."""
        out = ["incomplete"] if incomplete else []
        holes = False
        if len(times) > 1 and self._anchor is not None:
            holes = bool(np.diff(times).max() > GAP_INTERVALS * self._anchor[2])
        if holes or self.gaps.overlaps(inj.t, end_t):
            out.append("gap")
        out += self.perfusion.flags(inj.probe_start_s, inj.probe_end_s)
        out += fl.parse(inj.flags)  # what the injection itself recorded (late_injection)
        if inj.kind == "sample":
            out += self.flow.flags(inj.probe_start_s, inj.probe_end_s, baseline)
        return tuple(out)

    def _close(self, run: _Run, incomplete: bool) -> None:
        inj = run.injection
        times, values = self._segment(inj.t, run.end_t)
        dialysate = inj.kind == "sample"
        baseline = dialysate and self.percent.is_baseline(inj)
        extra = self._stream_flags(inj, run.end_t, times, incomplete, baseline)
        shifts = dict(self.shifts)
        if len(times) >= 10 and not np.isnan(values).all():
            chrom = Chromatogram(t=times - inj.t, values=values, units=self.method.units,
                                 metadata={"sample_id": inj.sample_id})
            result = quantify(chrom, self.method, inj.loop_volume_uL, self.shifts, extra,
                              calibrations=self.calibrations)
        else:
            result = ChromatogramResult([], {}, math.nan, math.nan)
        self.closed.append(inj)
        self._closed.add(run.seq)
        areas: dict[str, tuple[float, tuple]] = {}
        first: list[tuple] = []
        for spec in self.method.analytes:
            a = result.analytes.get(spec.name)
            peak = a.peak if a else None
            flags = a.flags if a else fl.order_flags(("not_found", *extra))
            conc = a.conc_nM if a else math.nan
            amount = a.amount_fmol if a else math.nan
            recovery = self.recovery.get(spec.name)
            res = SampleResult(
                sample_id=inj.sample_id, inject_t=inj.t, analyte=spec.name,
                rt_s=float(peak.rt_s) if peak else math.nan,
                area=float(peak.area) if peak else math.nan,
                height=float(peak.height) if peak else math.nan,
                sn=float(peak.sn) if peak else math.nan,
                conc_nM=float(conc), amount_fmol=float(amount), pct_baseline=math.nan,
                flags=",".join(flags), probe_t=float(inj.probe_t),
                code=peak.code if peak else "", baseline=int(baseline),
                conc_corrected_nM=float(conc) / (recovery / 100.0)
                if recovery and math.isfinite(conc) else math.nan,
            )
            first.append(result_key(res))
            if dialysate:
                calibrated = spec.calibrated
                value = (conc if calibrated else peak.area) if peak is not None else math.nan
                self.percent.report(res, inj, float(value), "nM" if calibrated else "nA*s",
                                    fl.excludes(flags), run.end_t)
            else:
                self._emit(res)
            areas[spec.name] = (res.area, flags)
        standard = parse_standard_kind(inj.kind) is not None
        if standard:
            for spec in self.method.peaks:
                if spec.name not in areas:
                    a = result.analytes.get(spec.name)
                    areas[spec.name] = ((a.peak.area, a.flags) if a and a.peak
                                        else (math.nan, a.flags if a else ("not_found",)))
            self._standard_areas[run.seq] = (inj, areas)
        if standard and self.method.track_rt:
            for spec in self.method.peaks:
                a = result.analytes.get(spec.name)
                if a and a.peak is not None:  # a standard holds the analyte: follow it
                    self.shifts[spec.name] = a.peak.rt_s - spec.rt_s
        if self.on_chromatogram is not None:
            reported = tuple(self.results[self._index[k]] for k in first)
            self.on_chromatogram(ClosedRun(inj, (times - inj.t).astype(np.float32),
                                           values.astype(np.float32), result, shifts,
                                           reported, baseline))
        self._apply_refits()

    def _apply_refits(self) -> None:
        """Fit every pending refit whose standards have all been quantified, in order."""
        while self._refits and all(s in self._closed for s in self._refits[0].standards):
            refit = self._refits.pop(0)
            for spec in self.method.peaks:
                if not spec.calibrated:
                    continue
                used: list[tuple[str, Standard]] = []
                skipped: list[tuple[str, str, float, float]] = []
                for seq in refit.standards:
                    inj, areas = self._standard_areas.get(seq, (None, {}))
                    if inj is None:
                        continue
                    area, flags = areas.get(spec.name, (math.nan, ("not_found",)))
                    bad = [f for f in flags if f in fl.EXCLUDING]
                    conc = parse_standard_kind(inj.kind)
                    if bad or not math.isfinite(area):
                        skipped.append((inj.sample_id, ",".join(bad) or "no area", conc,
                                        inj.loop_volume_uL))
                        continue
                    used.append((inj.sample_id, Standard(conc, inj.loop_volume_uL, area)))
                cal, record = fit_record(spec.name, refit.t, spec.cal_model, spec.cal_weighting,
                                         used, skipped)
                if cal is not None:
                    self.calibrations[spec.name] = cal
                self.refits.append((refit.t, spec.name, record))
                if self.on_calibration is not None:
                    self.on_calibration(refit.t, spec.name, record)
            for seq in refit.standards:
                self._standard_areas.pop(seq, None)


def replay(items: Iterable[DetectorBlock | Injection | Event], method: AnalysisMethod,
           on_result: Callable[[SampleResult], None] | None = None,
           on_calibration: Callable[[float, str, dict], None] | None = None,
           on_chromatogram: Callable[[ClosedRun], None] | None = None
           ) -> LiveQuantifier:
    """Feed a recorded stream, in order, through a fresh ``LiveQuantifier``; then finish."""
    q = LiveQuantifier(method, on_result, on_calibration=on_calibration,
                       on_chromatogram=on_chromatogram)
    for item in items:
        if isinstance(item, DetectorBlock):
            q.on_block(item)
        elif isinstance(item, Injection):
            q.on_injection(item)
        else:
            q.on_event(item)
    q.finish()
    return q


def merge_stream(blocks: Iterable[DetectorBlock], injections: Iterable[Injection],
                 events: Iterable[Event]) -> list[DetectorBlock | Injection | Event]:
    """One time-ordered stream: blocks by first sample time; at equal times, records first."""
    keyed = [(inj.t, 0, i, inj) for i, inj in enumerate(injections)]
    keyed += [(ev.t, 0, i + len(keyed), ev) for i, ev in enumerate(events)]
    keyed += [(b.t0, 1, i, b) for i, b in enumerate(blocks)]
    keyed.sort(key=lambda k: k[:3])
    return [k[3] for k in keyed]


def quantify_session_stream(blocks: Iterable[DetectorBlock], injections: Iterable[Injection],
                            events: Iterable[Event], method: AnalysisMethod
                            ) -> list[SampleResult]:
    """Batch quantification of a recorded session: the same LiveQuantifier, same results."""
    return replay(merge_stream(blocks, injections, events), method).results
