"""What a protocol run consists of: the records of its timeline, shared by the dry run and the
real run, and the summary a dry run returns (``raphe check``, the GUI's protocol panel)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Sample:
    """One sample: a collection interval, its tube and/or injection, and its probe-time window.

    The probe-time window is when the dialysate left the probe: the collection
    interval shifted back by the outlet dead volume ÷ flow.
    """

    label: str
    t_start: float
    t_end: float
    probe_start_s: float
    probe_end_s: float
    phase: str = ""
    tube: int | None = None
    inject_t: float | None = None
    volume_uL: float = 0.0
    kind: str = "sample"
    #: The window starts before the fluid path was filled with dialysate (not a baseline).
    unfilled: bool = False
    line: int | None = None
    #: Fraction flags: ``partial`` when the tube was still filling as the run ended.
    flags: str = ""

    def as_json(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in asdict(self).items()}


@dataclass
class Item:
    """One line of the timeline: at schedule time ``t`` (s), step ``kind`` from script ``line``."""

    t: float
    kind: str  # phase, pump, wait, collect, inject, standard, drug, perfusate, prompt, mark
    text: str
    line: int | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Issue:
    """An error or a warning about the protocol, with the file and line it comes from."""

    message: str
    file: str = ""
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}, line {self.line}: " if self.file and self.line else (
            f"{self.file}: " if self.file else "")
        return where + self.message

    def as_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "message": self.message}


@dataclass
class Plan:
    """The dry run's answer: the timeline and what the protocol needs, or why it cannot run."""

    protocol: str
    parameters: dict[str, Any] = field(default_factory=dict)
    timeline: list[Item] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    duration_s: float = 0.0
    syringe_ul: float = 0.0
    tubes: int = 0
    injections: int = 0
    prompts: int = 0
    drugs: list[Item] = field(default_factory=list)
    run_length_s: float | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def first_errors(self) -> list:
        """Why it cannot run (as :attr:`SharedPlan.first_errors` says it for several)."""
        return list(self.errors)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "protocol": self.protocol, "parameters": self.parameters,
            "duration_s": self.duration_s, "syringe_ul": self.syringe_ul, "tubes": self.tubes,
            "injections": self.injections, "prompts": self.prompts,
            "samples": [s.as_json() for s in self.samples],
            "drugs": [d.as_json() for d in self.drugs],
            "timeline": [i.as_json() for i in self.timeline],
            "errors": [e.as_json() for e in self.errors],
            "warnings": [w.as_json() for w in self.warnings],
        }
