"""The simulated rig's hands: what a person does at the bench, done in the virtual world.

A drug given with ``rig.administer`` goes into the virtual animal (one it does not model is
given as nothing, as the dry run warned); a standard is loaded into the simulated loop; the
perfusate and the probe's medium change in the world. Implements the operator interface of
``raphe.protocols.operator`` (by its shape: simulators import only the core).
"""

from __future__ import annotations

from typing import Any

from raphe.names import spelling
from raphe.simulators.drugs import DRUGS, Dose


class SimulatedOperator:
    """The simulator's hands in ``world``; session time ``t`` is world time ``raw_t0 + t``."""

    source = "simulator"

    def __init__(self, world: Any, raw_t0: float) -> None:
        self.world = world
        self.raw_t0 = raw_t0
        self._rd_dose: Dose | None = None

    def _modelled(self, drug: str) -> str | None:
        return next((key for key in DRUGS if spelling(key) == spelling(drug)), None)

    def administer(self, hands: Any, drug: str, dose_mg_kg: float, route: str,
                   text: str) -> float | None:
        t = hands.now()
        key = self._modelled(drug)
        if key is not None:
            self.world.administer(Dose(key, dose_mg_kg, route, t / 60.0), self.raw_t0 + t)
        return t

    def load_standard(self, hands: Any, conc_nM: float, label: str) -> None:
        self.world.load_standard(conc_nM)

    def perfusate(self, hands: Any, name: str, drug: str | None, conc_uM: float | None,
                  text: str) -> float | None:
        t = hands.now()
        if self._rd_dose is not None:
            self.world.end_reverse_dialysis(self._rd_dose.drug, self.raw_t0 + t)
            self._rd_dose = None
        key = self._modelled(drug) if drug is not None else None
        if key is not None:
            self._rd_dose = Dose(key, conc_uM, "rd", t / 60.0)
            self.world.administer(self._rd_dose, self.raw_t0 + t)
        return t

    def medium(self, hands: Any, name: str, conc_nM: float | None,
               text: str) -> float | None:
        t = hands.now()
        inside = name.strip().lower() == "animal"
        self.world.set_probe_medium(None if inside else (conc_nM or 0.0), self.raw_t0 + t)
        return t
