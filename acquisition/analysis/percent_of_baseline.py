"""% of baseline, defined once: which samples form the baseline, the reference, every value.

Which samples are baseline samples, in order of precedence:
1. an explicit list of sample ids in the method (``[baseline] samples``);
2. when the protocol announces phases (``phase`` events), the samples collected
   while a phase named ``baseline…`` was in effect — the phase at the start of
   the collection, which ended at the injection and lasted as long as the
   probe-time window (the injection time stands in when the window is
   unknown) — but never a sample whose window reaches past the first ``drug``
   event;
3. otherwise every sample whose probe-time window ends by the first ``drug``
   event (its injection time before it when the window is unknown).

Only dialysate samples (kind ``sample``) take part; the value used is the
concentration when the analyte is calibrated, else the area.

The **reference** of an analyte is the mean of its baseline samples' values
that no flag excludes (``flags.py``). Every sample, the baseline samples
included, is expressed against the reference: 100 × value ÷ mean, so the
baseline samples average 100 % and their spread is the baseline's own
variability. The reference changes each time a baseline sample is quantified;
the results already reported are then revised (reported again, same sample
and analyte, the new value), so a stored % of baseline is always against the
reference in force. The reference is *provisional* during the baseline period
and *final* once it is over: when the first sample after the drug that is not
a baseline sample is quantified, or when the session ends. Each change of the
reference is a :class:`~raphe.records.BaselineReference` record (mean, SD, n,
the samples, final or not). Everything is decided in stream order, so a live
run, its replay and its reanalysis give the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from raphe.records import (
    BaselineReference,
    Event,
    Injection,
    SampleResult,
    percent,
    result_key,
)


def probe_window(injection: Injection) -> tuple[float, float] | None:
    """The injection's probe-time window, or ``None`` when it is not known."""
    start, end = injection.probe_start_s, injection.probe_end_s
    if math.isfinite(start) and math.isfinite(end):
        return start, end
    return None


class BaselineRule:
    """Knows which samples are baseline samples (see the module docstring)."""

    def __init__(self, explicit: tuple[str, ...] | None = None) -> None:
        self.explicit = set(explicit) if explicit is not None else None
        self.first_drug_t: float | None = None
        self.phases: list[tuple[float, str]] = []

    def on_event(self, event: Event) -> None:
        if event.kind == "drug" and self.first_drug_t is None:
            self.first_drug_t = event.t
        elif event.kind == "phase":
            self.phases.append((event.t, event.text.strip().lower()))

    def _phase_at(self, t: float) -> str | None:
        current = None
        for start, name in self.phases:
            if start <= t:
                current = name
        return current

    def is_baseline(self, injection: Injection) -> bool:
        """Whether ``injection`` belongs to the baseline (given the events seen so far)."""
        if self.explicit is not None:
            return injection.sample_id in self.explicit
        if self.after_drug(injection):
            return False
        if self.phases:
            # The phase the protocol declared for this sample: the one in effect when its
            # collection started (the window itself lies earlier, by the dead volume).
            window = probe_window(injection)
            start, end = window if window else (injection.t, injection.t)
            phase = self._phase_at(injection.t - (end - start))
            return phase is not None and phase.startswith("baseline")
        return True

    def after_drug(self, injection: Injection) -> bool:
        """Whether the sample's dialysate left the probe (partly) after the first drug."""
        if self.first_drug_t is None:
            return False
        window = probe_window(injection)
        return window[1] > self.first_drug_t if window else injection.t >= self.first_drug_t


@dataclass
class _Reference:
    """One analyte's reference: the included baseline values, by result key."""

    analyte: str
    unit: str
    values: dict[tuple, tuple[str, float]] = field(default_factory=dict)
    final: bool = False

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        v = [x for _, x in self.values.values()]
        return sum(v) / len(v) if v else math.nan

    @property
    def sd(self) -> float:
        v = [x for _, x in self.values.values()]
        if len(v) < 2:
            return math.nan
        m = sum(v) / len(v)
        return math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1))

    def record(self, t: float) -> BaselineReference:
        return BaselineReference(t=t, analyte=self.analyte, mean=self.mean, sd=self.sd,
                                 n=self.n, unit=self.unit,
                                 samples=",".join(sid for sid, _ in self.values.values()),
                                 final=int(self.final))


class PercentOfBaseline:
    """% of baseline of every result, revised as the reference changes.

    ``emit(result)`` receives each result as reported and every revision of it;
    ``on_reference(record)`` every change of a reference.
    """

    def __init__(self, explicit: tuple[str, ...] | None = None,
                 emit: Callable[[SampleResult], None] | None = None,
                 on_reference: Callable[[BaselineReference], None] | None = None) -> None:
        self.rule = BaselineRule(explicit)
        self.emit = emit or (lambda r: None)
        self.on_reference = on_reference or (lambda r: None)
        self.references: dict[str, _Reference] = {}
        #: reported dialysate results with a value: key → (result, value, excluded)
        self._reported: dict[tuple, tuple[SampleResult, float, bool]] = {}
        self.final = False

    def on_event(self, event: Event) -> None:
        self.rule.on_event(event)

    def is_baseline(self, injection: Injection) -> bool:
        return self.rule.is_baseline(injection)

    def reference(self, analyte: str) -> BaselineReference | None:
        ref = self.references.get(analyte)
        return None if ref is None or not ref.n else ref.record(math.nan)

    def report(self, result: SampleResult, injection: Injection, value: float, unit: str,
               excluded: bool, t: float) -> None:
        """Report ``result`` (a dialysate sample's, ``value`` its concentration or area in
        ``unit``) with its % of baseline; revise earlier ones if the reference changed."""
        baseline = self.rule.is_baseline(injection)
        if not baseline and not self.final and self.rule.after_drug(injection):
            self.finalize(t)  # the first sample after the drug: the baseline period is over
        ref = self.references.setdefault(result.analyte, _Reference(result.analyte, unit))
        usable = not excluded and math.isfinite(value)
        changed = baseline and usable
        if changed:
            ref.values[result_key(result)] = (result.sample_id, value)
            ref.final = self.final
        pct = percent(value, ref.mean) if usable else math.nan
        result = replace(result, pct_baseline=float(pct), baseline=int(baseline))
        if usable:
            self._reported[result_key(result)] = (result, value, excluded)
        self.emit(result)
        if changed:
            self._revise(result.analyte, skip=result_key(result))
            self.on_reference(ref.record(t))

    def finalize(self, t: float) -> None:
        """The baseline period is over: every reference is final (recorded once)."""
        if self.final:
            return
        self.final = True
        for ref in self.references.values():
            if ref.n:
                ref.final = True
                self.on_reference(ref.record(t))

    def _revise(self, analyte: str, skip: tuple) -> None:
        mean = self.references[analyte].mean
        for key, (old, value, _excluded) in list(self._reported.items()):
            if old.analyte != analyte or key == skip:
                continue
            pct = float(percent(value, mean))
            if pct == old.pct_baseline or (math.isnan(pct) and math.isnan(old.pct_baseline)):
                continue
            new = replace(old, pct_baseline=pct)
            self._reported[key] = (new, value, _excluded)
            self.emit(new)
