"""What happened to a sample outside its chromatogram: perfusion, flow and lost readings.

The logs are fed the session's events in stream order and answer, for one
injection, which flags it earns (``unfilled``, ``perfusion_stopped``,
``flow_changed``, ``gap``).
A run's result is emitted after its run window has closed, by which time
every event that can concern it has been seen, so live and replayed
decisions agree.
"""

from __future__ import annotations

import math

from raphe.records import Event, parse_flow

_INF = math.inf


def _overlaps(a0: float, a1: float, b0: float, b1: float) -> bool:
    """Whether [a0, a1] and [b0, b1) share more than an end point."""
    return a0 < b1 and a1 > b0


class PerfusionLog:
    """Spans when the probe was not perfused, from ``perfusion`` events.

    Texts start with ``started`` (the pump started perfusing), ``stopped``
    (perfusion lost: stall, syringe empty, pump unreachable) or ``restored``.
    Before the first perfusion event nothing is known; after it, the probe
    was unperfused before the first ``started`` (unless the first event is a
    ``stopped``: then it was perfused until then) and from each ``stopped``
    to the next ``started``/``restored``. A span that begins before the
    first ``started`` is ``unfilled``; any later one ``perfusion_stopped``.
    """

    def __init__(self) -> None:
        self.seen = False
        self.first_started: float | None = None
        self.spans: list[tuple[float, float]] = []  # closed [start, end)
        self.open_since: float | None = None  # start of an unperfused span still open

    def on_event(self, event: Event) -> None:
        if event.kind != "perfusion":
            return
        text = event.text.strip().lower()
        state = next((w for w in ("started", "stopped", "restored") if text.startswith(w)), None)
        if state is None:
            return
        if not self.seen:
            self.seen = True
            if state != "stopped":  # not perfused before this (the path was not filled)
                self.open_since = -_INF
        if state == "stopped":
            if self.open_since is None:
                self.open_since = event.t
            return
        if state == "started" and self.first_started is None:
            self.first_started = event.t
        if self.open_since is not None:
            self.spans.append((self.open_since, event.t))
            self.open_since = None

    def flags(self, probe_start: float, probe_end: float) -> tuple[str, ...]:
        """``unfilled``/``perfusion_stopped`` for a probe-time window (none when unknown)."""
        if not self.seen or not (math.isfinite(probe_start) and math.isfinite(probe_end)):
            return ()
        spans = list(self.spans)
        if self.open_since is not None:
            spans.append((self.open_since, _INF))
        out = []
        for a, b in spans:
            if _overlaps(probe_start, probe_end, a, b):
                unfilled = self.first_started is None or a < self.first_started
                out.append("unfilled" if unfilled else "perfusion_stopped")
        return tuple(dict.fromkeys(out))


class GapLog:
    """Spans of lost detector readings: ``gap`` events, and holes seen in the stream."""

    def __init__(self) -> None:
        self.spans: list[tuple[float, float]] = []

    def on_event(self, event: Event) -> None:
        if event.kind == "gap":
            end = event.t_end if math.isfinite(event.t_end) else event.t
            self.add(event.t, max(end, event.t))

    def add(self, start: float, end: float) -> None:
        self.spans.append((start, end))

    def overlaps(self, start: float, end: float) -> bool:
        """Whether readings were lost anywhere in the run window [start, end]."""
        return any((a < end and b > start) if b > a else start <= a <= end
                   for a, b in self.spans)


class FlowLog:
    """The commanded perfusion flow over time, from ``flow`` events.

    A sample is ``flow_changed`` when the flow changed inside its probe-time window, or
    when the flow it was collected at differs from the flow of the first baseline
    sample (probe recovery depends on flow, so its values are not comparable). The first
    start of perfusion is not a change (samples before it are ``unfilled``), nor is a
    restart at the same rate (``perfusion_stopped`` covers the stop).
    """

    def __init__(self) -> None:
        self.changes: list[tuple[float, float]] = []  # (t, new rate), real changes only
        self.rate = 0.0
        self.started = False
        self.reference: float | None = None  # the baseline samples' flow

    def on_event(self, event: Event) -> None:
        if event.kind != "flow":
            return
        rates = parse_flow(event.text)
        if rates is None:
            return
        _old, new = rates
        if not self.started:
            self.started = new > 0
            self.rate = new
            self.changes.append((event.t, new))
            return
        if new != self.rate:
            self.changes.append((event.t, new))
            self.rate = new

    def rate_at(self, t: float) -> float | None:
        """The commanded flow at ``t`` (None before any flow event)."""
        rate = None
        for start, new in self.changes:
            if start <= t:
                rate = new
        return rate

    def flags(self, probe_start: float, probe_end: float, baseline: bool) -> tuple[str, ...]:
        """``flow_changed`` for a probe-time window (none when unknown or no flow events);
        the first baseline sample sets the reference flow."""
        if not self.changes or not (math.isfinite(probe_start) and math.isfinite(probe_end)):
            return ()
        inside = any(probe_start < t < probe_end for t, _ in self.changes[1:])
        rate = self.rate_at(probe_end)
        if baseline and self.reference is None and rate is not None and not inside:
            self.reference = rate
        differs = (self.reference is not None and rate is not None
                   and not math.isclose(rate, self.reference, rel_tol=1e-6))
        return ("flow_changed",) if inside or differs else ()
