"""Every flag a result can carry, in one place: its name, what it means, and whether it
takes the sample out of % of baseline.

The quantifier writes flags in the order of ``FLAGS``; the docs, ``raphe inspect`` and the
GUI read their meaning from here. A flag that *excludes* makes the sample contribute nothing
to the baseline mean and report ``pct_baseline`` NaN: its value is missing or cannot be
trusted. The others qualify a value that is still reported and used.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Flag:
    """One flag: ``name`` as written in results, its ``meaning``, and whether it ``excludes``
    the sample from % of baseline."""

    name: str
    meaning: str
    excludes: bool


#: Every flag, in the order they are written.
FLAGS: tuple[Flag, ...] = (
    Flag("not_found", "no peak of this analyte in its retention-time window (or none whose "
         "S/N could be measured)", True),
    Flag("no_noise", "a peak is there but its S/N could not be computed (no peak-free "
         "stretch to measure the noise on): it is not reported", True),
    Flag("implausible", "the value cannot be trusted; a second flag says why: rt_window, "
         "out_of_range or rt_reference", True),
    Flag("rt_window", "found outside its retention-time window (within twice the window): "
         "possibly another compound", True),
    Flag("out_of_range", "amount wildly outside the range the method expects for this analyte",
         True),
    Flag("rt_reference", "the peak the retention times are referred to was missing, "
         "saturated or itself misplaced, so the identification is uncertain", True),
    Flag("saturated", "the detector clipped inside the peak (overload, a flat top at the "
         "detector's limit, or a plateau of identical readings)", True),
    Flag("baseline_step", "the baseline jumps (auto-zero, range change, bubble) inside the "
         "peak or under its baseline", True),
    Flag("unresolved", "not reliably separated from what it stands on (a larger peak's tail, "
         "a swell of the baseline): its integrated area and a whole-cluster fit disagree, the "
         "fit cannot tell them apart, or the method expected it where no valley or inflection "
         "showed it (its area is then the fit's)", True),
    Flag("below_lod", "amount under the calibration's limit of detection (3.3 σ/S)", False),
    Flag("below_loq", "amount under the calibration's limit of quantification (10 σ/S)", False),
    Flag("drift", "the run's baseline slope exceeds the method's drift limit", False),
    Flag("fit_mismatch", "the fitted peak model's area differs from the integrated area by "
         "more than the method allows: the shape is not what the integration assumes", False),
    Flag("incomplete", "the run was cut short (by the next injection, over 1 % of the run "
         "early, or by the end of the session)", True),
    Flag("gap", "detector readings were lost during this sample's run", True),
    Flag("unfilled", "the sample left the probe before perfusion first started: the fluid "
         "path was not yet filled with dialysate", True),
    Flag("perfusion_stopped", "perfusion was lost (stall, syringe empty, pump unreachable) "
         "while this sample left the probe", True),
    Flag("flow_changed", "the perfusion flow changed while this sample left the probe, or it "
         "was collected at another flow than the baseline samples: probe recovery depends on "
         "flow, so its value is not comparable with the baseline", True),
    Flag("uncalibrated", "no calibration for this analyte yet (no standards fitted): no "
         "amount or concentration", False),
    Flag("late_injection", "the valve switched later than planned (an instrument fault held "
         "it): the sample's probe-time window is that of the dialysate really in the loop",
         False),
)

BY_NAME: dict[str, Flag] = {f.name: f for f in FLAGS}
_ORDER = {f.name: i for i, f in enumerate(FLAGS)}
#: Names of the flags that exclude a sample from % of baseline.
EXCLUDING: frozenset[str] = frozenset(f.name for f in FLAGS if f.excludes)
#: The reasons that make a result ``implausible``.
IMPLAUSIBLE_REASONS: tuple[str, ...] = ("rt_window", "out_of_range", "rt_reference")


def order_flags(flags: Iterable[str]) -> tuple[str, ...]:
    """Flags deduplicated, in registry order; an ``implausible`` reason brings its flag."""
    names = set(flags)
    unknown = names - BY_NAME.keys()
    if unknown:
        raise ValueError(f"unknown flag(s): {', '.join(sorted(unknown))}")
    if names & set(IMPLAUSIBLE_REASONS):
        names.add("implausible")
    return tuple(sorted(names, key=_ORDER.__getitem__))


def excludes(flags: Iterable[str]) -> bool:
    """Whether a result with these flags is left out of % of baseline."""
    return any(f in EXCLUDING for f in flags)


def parse(text: str) -> tuple[str, ...]:
    """The flags of a stored ``SampleResult.flags`` string (comma separated)."""
    return tuple(f for f in (p.strip() for p in text.split(",")) if f)


def describe(flags: Iterable[str]) -> list[str]:
    """``name: meaning`` for each flag (unknown names are shown as they are)."""
    return [f"{f}: {BY_NAME[f].meaning}" if f in BY_NAME else f for f in flags]
