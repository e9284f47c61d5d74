"""Records that flow from the rig into a session, and from a session into replay.

Times are session time in seconds. These are the rows of the session's
tables and the messages a ``StreamConsumer`` (the analysis core, the GUI)
receives live and on replay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


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



#: Event kinds. "drug" marks a drug administration (its text names drug, dose and route).
EVENT_KINDS = ("drug", "marker", "phase", "prompt", "step", "alarm", "info", "range")
EVENT_SOURCES = ("operator", "protocol", "instrument", "simulator")


@dataclass(frozen=True)
class Event:
    t: float
    kind: str
    text: str
    source: str = "operator"


@dataclass(frozen=True)
class Injection:
    """The valve switched to INJECT: time zero of a chromatogram."""

    t: float
    sample_id: str
    loop_volume_uL: float
    position: str = "B"
    #: "sample" for dialysate, "standard:<conc_nM>" for a calibration standard, "blank".
    kind: str = "sample"


@dataclass(frozen=True)
class Fraction:
    tube: int
    t_start: float
    t_end: float
    volume_uL: float
    sample_id: str


@dataclass(frozen=True)
class PumpState:
    t: float
    rate_uL_min: float
    dispensed_uL: float
    status: str


@dataclass(frozen=True)
class SampleResult:
    """One analyte in one injected sample, as the analysis core reports it."""

    sample_id: str
    inject_t: float
    analyte: str
    rt_s: float  # NaN when the peak was not found
    area: float  # nA·s
    height: float  # nA
    sn: float
    conc_nM: float  # NaN when not calibrated or not found
    amount_fmol: float
    pct_baseline: float  # NaN until the baseline is known
    flags: str  # comma-separated: below_lod, below_loq, not_found, rt_window, saturated, drift,
    #            incomplete (run cut short by the next injection or the end of the session)


class StreamOnly:
    """Pass only the acquisition stream (blocks, injections, events) on to ``target``.

    Subscribing a ``LiveQuantifier`` through this keeps the session's other hooks
    (``on_result`` …) away from it: it consumes the stream and produces results.
    """

    def __init__(self, target: StreamConsumer) -> None:
        self.on_block = target.on_block
        self.on_injection = target.on_injection
        self.on_event = target.on_event


class StreamConsumer(Protocol):
    """Anything fed the acquisition stream, live or on replay, in recorded order."""

    def on_block(self, block: DetectorBlock) -> None: ...

    def on_injection(self, injection: Injection) -> None: ...

    def on_event(self, event: Event) -> None: ...
