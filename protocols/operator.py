"""Who does what a person does at the bench: give a drug, load a standard, switch the
perfusate, move the probe. Chosen when the rig opens — a :class:`Person` on a real rig (and
on a rig file of simulators), the simulator's own hands on the simulated rig (its virtual
animal gets the drug) — so the run path never asks whether it is simulated.

An operator does the step and says when it was done (session time); the live backend
records it. A :class:`Person` is asked through the backend's prompt and confirms.
"""

from __future__ import annotations

from typing import Protocol


class Hands(Protocol):
    """What an operator may use of the live backend."""

    def now(self) -> float: ...
    def confirm(self, text: str) -> str: ...


class Operator(Protocol):
    """The operator's steps; each returns the session time it was done (None: now)."""

    #: who the session's events name as having done the steps
    source: str

    def administer(self, hands: Hands, drug: str, dose_mg_kg: float, route: str,
                   text: str) -> float | None: ...
    def load_standard(self, hands: Hands, conc_nM: float, label: str) -> None: ...
    def perfusate(self, hands: Hands, name: str, drug: str | None, conc_uM: float | None,
                  text: str) -> float | None: ...
    def medium(self, hands: Hands, name: str, conc_nM: float | None,
               text: str) -> float | None: ...


class Person:
    """A person at the bench: each step is a prompt, done when they confirm."""

    source = "operator"

    def administer(self, hands: Hands, drug: str, dose_mg_kg: float, route: str,
                   text: str) -> float | None:
        hands.confirm(f"Give {text} now, then confirm")
        return None

    def load_standard(self, hands: Hands, conc_nM: float, label: str) -> None:
        hands.confirm(f"Load the {conc_nM:g} nM standard ({label}) into the injection loop, "
                      "then confirm")

    def perfusate(self, hands: Hands, name: str, drug: str | None, conc_uM: float | None,
                  text: str) -> float | None:
        hands.confirm(f"Switch the perfusate to {name}, then confirm")
        return None

    def medium(self, hands: Hands, name: str, conc_nM: float | None,
               text: str) -> float | None:
        hands.confirm(f"Move the probe into {name}"
                      + (f" ({conc_nM:g} nM 5-HT)" if conc_nM is not None else "")
                      + ", then confirm")
        return None
