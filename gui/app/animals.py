"""Several animals on one HPLC in the window: each animal's colour and label, its own records,
and one view of all of them for the panels that show the shared HPLC.

Each animal has its own engine, session file and :class:`SessionModel` (its results, its
% of baseline reference, its pump). The trace, the chromatogram, the events and the valve
and detector readings show the one HPLC: they read a *merged* model that holds the
detector's signal once (every animal's file holds the same signal) and every animal's
injections, chromatograms, results and events, each sample named with its animal
(``A2 P1``) and each event's text prefixed with it (``A2: …``), but an event about a shared
instrument (the detector, the valve, the selector) that every animal's file records once.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from raphe.gui.app.widgets import ANIMAL_COLORS

#: An alarm (or event) about an animal's own instrument or its perfusion.
_OWN = re.compile(r"^\s*(pump|collector|perfusion)", re.IGNORECASE)
#: An event about a shared instrument, as the engine words it.
_SHARED = re.compile(r"^\s*(detector|valve|selector)\b", re.IGNORECASE)
#: Record kinds of the shared HPLC: taken from one animal only (each file holds them).
SHARED_KINDS = ("blocks", "instruments", "calibration", "suitability")
#: Record kinds only an animal's own model holds (its pump, its % of baseline reference).
OWN_KINDS = ("pump", "baseline")
#: How long the same alarm from several animals is one alarm (s, wall time).
SAME_ALARM_S = 10.0


def color(index: int) -> str:
    """The colour of the animal at ``index`` (0-based) in the run."""
    return ANIMAL_COLORS[index % len(ANIMAL_COLORS)]


def sample_name(animal: str, sample_id: str) -> str:
    """A sample as the shared panels name it: ``A2 P1``."""
    return f"{animal} {sample_id}"


def prefixed(animal: str, text: str) -> str:
    """``text`` said of ``animal`` (``A2: …``), once."""
    return text if text.startswith(f"{animal}:") else f"{animal}: {text}"


def split_animal(text: str, animals: Iterable[str]) -> tuple[str, str]:
    """``(animal, rest)`` of a text said of one of ``animals`` (``A2: …``), else
    ``("", text)``."""
    head, sep, rest = text.partition(": ")
    return (head, rest) if sep and head in set(animals) else ("", text)


def own_alarm(text: str) -> bool:
    """An alarm about one animal's pump, collector or perfusion (not a shared instrument)."""
    return bool(_OWN.match(text))


@dataclass
class AnimalView:
    """One animal of the run as the window shows it."""

    id: str
    index: int
    model: Any  # its SessionModel
    stream: int | None = None
    pump: str = ""
    label: str = ""  # e.g. "A2 · ipsapirone 1 mg/kg sc"
    visible: bool = True
    tubes: dict[str, int | None] = dataclasses.field(default_factory=dict)  # sample → tube

    @property
    def color(self) -> str:
        return color(self.index)

    @property
    def title(self) -> str:
        return self.label or self.id


def describe(animal: str, params: dict[str, Any] | None) -> str:
    """The animal and what it is given: ``A2 · ipsapirone 1 mg/kg sc``."""
    params = params or {}
    drug = params.get("drug")
    if not drug:
        return animal
    dose, route = params.get("dose_mg_kg"), params.get("route")
    if str(drug).lower() in ("vehicle", "saline", "none"):
        return f"{animal} · {drug}"
    amount = f" {float(dose):g} mg/kg" if isinstance(dose, (int, float)) else ""
    return f"{animal} · {drug}{amount}" + (f" {route}" if route else "")


class Merge:
    """Every animal's records as the one session of the shared HPLC; see the module
    docstring. ``owner`` says whose a merged sample is."""

    def __init__(self, animals: Sequence[str]) -> None:
        self.animals = list(animals)
        self.lead = self.animals[0]
        self.owner: dict[str, str] = {}

    def animal_of(self, sample_id: str) -> str | None:
        return self.owner.get(sample_id)

    def _name(self, animal: str, sample_id: str) -> str:
        name = sample_name(animal, sample_id)
        self.owner[name] = animal
        return name

    def batch(self, animal: str, records: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
        """``animal``'s records (from its engine) as the merged model takes them."""
        out: list[tuple[str, Any]] = []
        lead = animal == self.lead
        for kind, record in records:
            if kind in SHARED_KINDS:
                if lead:
                    out.append((kind, record))
            elif kind in OWN_KINDS:
                continue
            elif kind in ("injections", "fractions", "results"):
                out.append((kind, dataclasses.replace(
                    record, sample_id=self._name(animal, record.sample_id))))
            elif kind == "chromatograms":
                out.append((kind, self._chromatogram(animal, record)))
            elif kind == "events":
                if record.kind == "gap" or _SHARED.match(record.text):
                    if lead:  # every file records it: shown once
                        out.append((kind, record))
                else:
                    out.append((kind, dataclasses.replace(
                        record, text=prefixed(animal, record.text))))
            else:
                out.append((kind, record))
        return out

    def _chromatogram(self, animal: str, run: Any) -> Any:
        injection = dataclasses.replace(run.injection,
                                        sample_id=self._name(animal, run.injection.sample_id))
        results = tuple(dataclasses.replace(r, sample_id=injection.sample_id)
                        for r in run.results)
        return dataclasses.replace(run, injection=injection, results=results)


class SharedAlarms:
    """An alarm about a shared instrument reaches every animal's engine: the window shows it
    once (for every animal), an alarm about an animal's pump with its animal."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}

    def route(self, animal: str, text: str) -> str | None:
        """The animal the alarm is about (``""``: every animal), or None when it was just
        shown for another animal."""
        if not animal or own_alarm(text):
            return animal
        now = time.monotonic()
        last = self._seen.get(text)
        self._seen[text] = now
        if last is not None and now - last < SAME_ALARM_S:
            return None
        return ""
