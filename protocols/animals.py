"""Several animals on one HPLC: each animal's parameters, its injection slot, and the dry run
that proves the slots never overlap.

Each animal runs the same protocol with its own parameters (``--set NAME=VALUE`` for every
animal, ``--set A2:NAME=VALUE`` for one) and its own pump, stream and tubes; the one
detector sees their chromatograms in turn. Animal k (0-based) runs its schedule ``k ×
slot`` later than the first — its injections, and its drug unless the operator doses all
at once — so that with a slot at least one chromatogram long, no two runs overlap. The dry
run checks exactly that on the merged injections of every animal, names the first
collision, and keeps each animal's timeline.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from raphe.errors import InputError
from raphe.protocols.plan import Issue, Item, Plan, Sample
from raphe.protocols.protocol import Protocol
from raphe.protocols.protocol_run import INJECT_HOLD_S
from raphe.protocols.rig_spec import RigSpec

#: The spare time between one animal's chromatogram and the next animal's injection.
SLOT_MARGIN_S = 45.0
#: How long after the valve is back in LOAD the selector turns to the next stream.
SELECTOR_DELAY_S = 1.0
#: How many animals one HPLC serves at most.
MAX_ANIMALS = 4
_ANIMAL = re.compile(r"^(?P<animal>[A-Za-z][\w-]*):(?P<name>.+)$")


def animal_ids(n: int, given: Sequence[str] | None = None) -> list[str]:
    """The animals' ids: those given (e.g. by the rig file), else A1 … An."""
    if not 1 <= n <= MAX_ANIMALS:
        raise InputError(f"--animals must be from 1 to {MAX_ANIMALS} (one HPLC serves at most "
                         f"{MAX_ANIMALS} probes), got {n}")
    ids = list(given) if given else [f"A{i + 1}" for i in range(n)]
    if len(ids) != n or len(set(ids)) != n:
        raise InputError(f"expected {n} distinct animal ids, got {', '.join(ids)}")
    return ids


def split_assignments(items: Iterable[str], ids: Sequence[str]) -> dict[str, dict[str, str]]:
    """``--set`` values per animal: ``NAME=VALUE`` for every animal, ``A2:NAME=VALUE`` (or
    the animal's id) for one; a later one wins."""
    out: dict[str, dict[str, str]] = {a: {} for a in ids}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise InputError(f"--set {item!r}: expected NAME=VALUE or ANIMAL:NAME=VALUE, "
                             "e.g. --set A2:drug=ipsapirone")
        match = _ANIMAL.match(name.strip())
        if match:
            who = match["animal"]
            if who not in out:
                raise InputError(f"--set {item!r}: no animal {who!r} (the animals are "
                                 f"{', '.join(ids)})")
            out[who][match["name"].strip().replace("-", "_")] = value
        else:
            for values in out.values():
                values[name.strip().replace("-", "_")] = value
    return out


def slot_s(run_length_s: float | None) -> float:
    """The time one animal's chromatogram holds the HPLC: its run and a margin (at least the
    valve's minute in INJECT)."""
    return max((run_length_s or 0.0) + SLOT_MARGIN_S, INJECT_HOLD_S)


@dataclass
class AnimalPlan:
    """One animal's part of a several-animal run."""

    animal: str
    offset_s: float  # its schedule starts this much after the first animal's
    plan: Plan  # in the run's time (shifted by its slot)
    own: Plan  # in its own schedule's time (as its engine runs it)


@dataclass
class SharedPlan:
    """The dry run of several animals on one HPLC."""

    animals: list[AnimalPlan]
    run_length_s: float | None
    slot_s: float
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and all(a.plan.ok for a in self.animals)

    @property
    def first_errors(self) -> list[Issue]:
        """Why it cannot run: the shared plan's own errors, else the animals' plans'."""
        return list(self.errors) or [e for a in self.animals for e in a.plan.errors]

    @property
    def duration_s(self) -> float:
        return max((a.plan.duration_s for a in self.animals), default=0.0)

    def injections(self) -> list[tuple[float, str, Sample]]:
        """Every injection of every animal, in time order: (time, animal, sample)."""
        out = [(s.inject_t, a.animal, s) for a in self.animals for s in a.plan.samples
               if s.inject_t is not None]
        return sorted(out, key=lambda x: x[0])

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "slot_s": self.slot_s, "run_length_s": self.run_length_s,
                "duration_s": self.duration_s,
                "animals": [{"animal": a.animal, "offset_s": a.offset_s, **a.plan.as_json()}
                            for a in self.animals],
                "errors": [e.as_json() for e in self.errors],
                "warnings": [w.as_json() for w in self.warnings]}


def shift(plan: Plan, offset_s: float) -> Plan:
    """``plan`` with every time ``offset_s`` later (the animal's slot)."""
    if not offset_s:
        return plan

    def moved(s: Sample) -> Sample:
        return dataclasses.replace(
            s, t_start=s.t_start + offset_s, t_end=s.t_end + offset_s,
            probe_start_s=s.probe_start_s + offset_s, probe_end_s=s.probe_end_s + offset_s,
            inject_t=None if s.inject_t is None else s.inject_t + offset_s)

    return dataclasses.replace(
        plan, timeline=[Item(i.t + offset_s, i.kind, i.text, i.line) for i in plan.timeline],
        samples=[moved(s) for s in plan.samples],
        drugs=[Item(d.t + offset_s, d.kind, d.text, d.line) for d in plan.drugs],
        duration_s=plan.duration_s + offset_s)


def check_animals(protocol: Protocol, given: Mapping[str, Mapping[str, Any]],
                  specs: Mapping[str, RigSpec], *, run_length_s: float | None,
                  method_name: str = "", dose_together: bool = False) -> SharedPlan:
    """Dry-run ``protocol`` for each animal (its own parameters and rig view), each in its
    slot, and check that no two injections of any animals come closer than a chromatogram
    runs. With ``dose_together`` the drugs are given at the same moment for every animal
    (the first animal's time); the warnings say which samples then shift against it."""
    from raphe.protocols.dryrun import check

    slot = slot_s(run_length_s)
    parts = []
    for k, (animal, values) in enumerate(given.items()):
        plan = check(protocol, values, specs[animal], run_length_s=run_length_s,
                     method_name=method_name)
        parts.append(AnimalPlan(animal, k * slot, shift(plan, k * slot), plan))
    shared = SharedPlan(parts, run_length_s, slot)
    for part in parts:
        for issue in part.plan.errors:
            shared.errors.append(dataclasses.replace(issue,
                                                     message=f"{part.animal}: {issue.message}"))
    if shared.errors:
        return shared
    spacing = max(run_length_s or 0.0, INJECT_HOLD_S)
    injections = shared.injections()
    for (t0, a0, s0), (t1, a1, s1) in itertools.pairwise(injections):
        if t1 - t0 < spacing - 1e-6:
            n = len(parts)
            interval = s1.t_end - s1.t_start
            fits = (f": {n} animals × {slot / 60:g} min slots do not fit in "
                    f"{interval / 60:g}-min samples" if interval and n * slot > interval
                    else "")
            shared.errors.append(Issue(
                f"{a0}'s {s0.label} at {t0 / 60:.1f} min and {a1}'s {s1.label} at "
                f"{t1 / 60:.1f} min are {(t1 - t0) / 60:.1f} min apart, but a chromatogram "
                f"runs {spacing / 60:g} min" + (f" (method {method_name})" if method_name
                                                  else "") + fits, protocol.path, s1.line))
            break
    _loop_fill(shared, specs, protocol.path)
    if dose_together and len(parts) > 1:
        first = parts[0].plan.drugs
        for part in parts[1:]:
            if part.plan.drugs and first:
                lag = part.plan.drugs[0].t - first[0].t
                part.plan.drugs = [dataclasses.replace(d, t=d.t - lag) for d in part.plan.drugs]
                shared.warnings.append(Issue(
                    f"{part.animal} is dosed with {parts[0].animal}, {lag / 60:g} min before "
                    "its slot: its samples after the drug are that much later relative to it "
                    "than the first animal's", protocol.path))
    return shared


def _loop_fill(shared: SharedPlan, specs: Mapping[str, RigSpec], path: str) -> None:
    """Warn when an animal's stream feeds the loop for less time than the loop takes to
    fill at its flow (the selector reaches its stream once the valve is back in LOAD after
    the injection before): the loop then still holds the previous animal's dialysate."""
    injections = shared.injections()
    short = []
    for (t0, _, _), (t1, animal, sample) in itertools.pairwise(injections):
        loop = specs[animal].loop_volume_uL or 0.0
        span = sample.t_end - sample.t_start
        if not loop or not span or not sample.volume_uL:
            continue
        flow = sample.volume_uL / span * 60.0
        needed = loop / flow * 60.0
        window = t1 - (t0 + INJECT_HOLD_S + SELECTOR_DELAY_S)
        if window < needed - 1e-6:
            short.append((animal, sample.label, window, needed, flow, loop))
    if short:
        animal, label, window, needed, flow, loop = short[0]
        shared.warnings.append(Issue(
            f"{animal}'s {label}: its stream fills the {loop:g} µL loop for {window / 60:.1f} "
            f"min, but at {flow:g} µL/min it takes {needed / 60:.1f} min: the loop still holds "
            f"the previous animal's dialysate ({len(short)} injection(s) so); use a smaller "
            "loop, a faster flow or longer samples", path))
