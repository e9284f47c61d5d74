"""Per-animal % of baseline, decided live and identically on replay.

Which samples form the baseline, in order of precedence:
1. an explicit list of sample ids in the method (``[baseline] samples``);
2. when the protocol announces phases (``phase`` events), the samples collected
   while a phase named ``baseline…`` was in effect — the phase at the start of
   the collection, which ended at the injection and lasted as long as the
   probe-time window (the injection time stands in when the window is
   unknown) — but never a sample whose window reaches past the first ``drug``
   event;
3. otherwise every sample whose probe-time window ends by the first ``drug``
   event (its injection time before it when the window is unknown).

A baseline sample's % is computed against the running mean of the baseline
samples known so far, itself included (so the first one is 100 %); a later
sample's against the mean of all baseline samples seen. Only dialysate
samples (kind ``sample``) take part; the value used is the concentration
when the analyte is calibrated, else the area. A result whose flags exclude
it (see ``flags.py``) adds nothing to the mean and gets no %.
"""

from __future__ import annotations

import math

from raphe.records import Event, Injection


def probe_window(injection: Injection) -> tuple[float, float] | None:
    """The injection's probe-time window, or ``None`` when it is not known."""
    start, end = injection.probe_start_s, injection.probe_end_s
    if math.isfinite(start) and math.isfinite(end):
        return start, end
    return None


class BaselineTracker:
    """Knows which samples are baseline samples and keeps their running means."""

    def __init__(self, explicit: tuple[str, ...] | None = None) -> None:
        self.explicit = set(explicit) if explicit is not None else None
        self.first_drug_t: float | None = None
        self.phases: list[tuple[float, str]] = []
        self.values: dict[str, list[float]] = {}

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
        window = probe_window(injection)
        start, end = window if window else (injection.t, injection.t)
        after_drug = self.first_drug_t is not None and (
            end > self.first_drug_t if window else injection.t >= self.first_drug_t)
        if after_drug:
            return False
        if self.phases:
            # The phase the protocol declared for this sample: the one in effect when its
            # collection started (the window itself lies earlier, by the dead volume).
            collected = injection.t - (end - start)
            phase = self._phase_at(collected)
            return phase is not None and phase.startswith("baseline")
        return True

    def percent(self, analyte: str, injection: Injection, value: float,
                excluded: bool = False) -> float:
        """% of baseline of ``value``; a baseline sample's value joins the running mean.

        ``excluded`` (a flag that takes the result out of % of baseline) gives NaN and
        leaves the mean untouched.
        """
        known = self.values.setdefault(analyte, [])
        if excluded or not math.isfinite(value):
            return math.nan
        if self.is_baseline(injection):
            known.append(value)
        if not known:
            return math.nan
        mean = sum(known) / len(known)
        return 100.0 * value / mean if mean != 0 else math.nan

    def baseline_mean(self, analyte: str) -> float:
        known = self.values.get(analyte, [])
        return sum(known) / len(known) if known else math.nan
