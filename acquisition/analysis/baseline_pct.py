"""Per-animal % of baseline, decided live and identically on replay.

Which samples form the baseline, in order of precedence:
1. an explicit list of sample ids in the method (``[baseline] samples``);
2. when the protocol announces phases (``phase`` events), the samples
   injected while the current phase is named ``baseline``;
3. otherwise every sample injected before the first ``drug`` event.

A baseline sample's % is computed against the running mean of the baseline
samples known so far, itself included (so the first one is 100 %); a later
sample's against the mean of all baseline samples seen. Only dialysate
samples (kind ``sample``) take part; the value used is the concentration
when the analyte is calibrated, else the area. Not-found peaks are skipped.
"""

from __future__ import annotations

import math

from raphe.records import Event


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

    def is_baseline(self, sample_id: str, inject_t: float) -> bool:
        """Whether the sample injected at ``inject_t`` belongs to the baseline."""
        if self.explicit is not None:
            return sample_id in self.explicit
        if self.phases:
            current = None
            for t, name in self.phases:
                if t <= inject_t:
                    current = name
            return current is not None and current.startswith("baseline")
        return self.first_drug_t is None or inject_t < self.first_drug_t

    def percent(self, analyte: str, sample_id: str, inject_t: float, value: float) -> float:
        """% of baseline of ``value``; updates the running mean for baseline samples."""
        known = self.values.setdefault(analyte, [])
        if self.is_baseline(sample_id, inject_t) and math.isfinite(value):
            known.append(value)
        if not known or not math.isfinite(value):
            return math.nan
        mean = sum(known) / len(known)
        return 100.0 * value / mean if mean != 0 else math.nan

    def baseline_mean(self, analyte: str) -> float:
        known = self.values.get(analyte, [])
        return sum(known) / len(known) if known else math.nan
