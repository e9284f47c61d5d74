"""Identification: name peaks by retention-time window, following RT drift.

A named peak is the largest-area peak within ``expected ± window`` where
expected = method RT + the current shift (learnt from standards). With none
in the window, a peak within twice the window is reported but flagged
``rt_window``; with none there either, the analyte is ``not_found``.
"""

from __future__ import annotations

from dataclasses import dataclass

from raphe.acquisition.analysis.method import PeakSpec
from raphe.acquisition.analysis.peaks import Peak


@dataclass(frozen=True)
class Match:
    """The peak found for one named peak, or ``None``, and why."""

    spec: PeakSpec
    peak: Peak | None
    flags: tuple[str, ...]


def identify(peaks: list[Peak], specs: tuple[PeakSpec, ...],
             shifts: dict[str, float] | None = None) -> dict[str, Match]:
    """Assign each spec at most one peak (a peak names at most one spec); set ``Peak.name``."""
    shifts = shifts or {}
    taken: set[int] = set()
    out: dict[str, Match] = {}
    for spec in sorted(specs, key=lambda s: s.rt_s):
        expected = spec.rt_s + shifts.get(spec.name, 0.0)
        found, flags = None, ()
        for reach, fl in ((spec.window_s, ()), (2.0 * spec.window_s, ("rt_window",))):
            inside = [i for i, p in enumerate(peaks)
                      if i not in taken and abs(p.rt_s - expected) <= reach]
            if inside:
                found = max(inside, key=lambda i: peaks[i].area)
                flags = fl
                break
        if found is None:
            out[spec.name] = Match(spec, None, ("not_found",))
            continue
        taken.add(found)
        peaks[found].name = spec.name
        out[spec.name] = Match(spec, peaks[found], flags)
    return out
