"""Identification: name peaks by retention-time window, following RT drift.

A named peak is the largest-area peak within ``expected ± window``, where
expected = method RT + the shift learnt from standards and, for a peak with
an ``rt_reference``, + how far its reference peak was found from the
reference's own expected RT (relative retention: a reference such as the
solvent front also carries an injection logged a moment early or late).
With none in the window, a peak within twice the window is taken but flagged
``rt_window`` (implausible: possibly another compound); with none there
either, the analyte is ``not_found``. A reference that is missing, saturated
or itself outside its window makes the identification uncertain:
``rt_reference``.
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
    expected_rt_s: float


def _order(specs: tuple[PeakSpec, ...]) -> list[PeakSpec]:
    """References before the peaks that follow them; otherwise by retention time."""
    by_name = {s.name: s for s in specs}
    done: list[PeakSpec] = []
    seen: set[str] = set()

    def visit(spec: PeakSpec, path: tuple[str, ...]) -> None:
        if spec.name in seen:
            return
        ref = by_name.get(spec.rt_reference) if spec.rt_reference else None
        if ref is not None and ref.name not in path:
            visit(ref, (*path, spec.name))
        seen.add(spec.name)
        done.append(spec)

    for spec in sorted(specs, key=lambda s: s.rt_s):
        visit(spec, ())
    return done


def identify(peaks: list[Peak], specs: tuple[PeakSpec, ...],
             shifts: dict[str, float] | None = None) -> dict[str, Match]:
    """Assign each spec at most one peak (a peak names at most one spec); set ``Peak.name``."""
    shifts = shifts or {}
    taken: set[int] = set()
    out: dict[str, Match] = {}
    for spec in _order(specs):
        expected = spec.rt_s + shifts.get(spec.name, 0.0)
        ref_flags: tuple[str, ...] = ()
        if spec.rt_reference:
            ref = out.get(spec.rt_reference)
            if (ref is None or ref.peak is None or ref.peak.saturated
                    or any(f in ("rt_window", "rt_reference") for f in ref.flags)):
                ref_flags = ("rt_reference",)
            else:  # where the reference was found against where it was expected
                ref_expected = ref.spec.rt_s + shifts.get(ref.spec.name, 0.0)
                expected += ref.peak.rt_s - ref_expected
        found, flags = None, ()
        for reach, fl in ((spec.window_s, ()), (2.0 * spec.window_s, ("rt_window",))):
            inside = [i for i, p in enumerate(peaks)
                      if i not in taken and abs(p.rt_s - expected) <= reach]
            if inside:
                found = max(inside, key=lambda i: peaks[i].area)
                flags = fl
                break
        if found is None:  # nothing reported, so nothing whose identity is in doubt
            out[spec.name] = Match(spec, None, ("not_found",), expected)
            continue
        taken.add(found)
        peaks[found].name = spec.name
        out[spec.name] = Match(spec, peaks[found], (*flags, *ref_flags), expected)
    return out
