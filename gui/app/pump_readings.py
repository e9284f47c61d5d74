"""A syringe pump's readings as labels, from the pump states its session records: status, rate,
dispensed and remaining volume — unknown (in red) while its link is lost, never its last
values. The Rig panel's pump, and each animal's pump in a run of several."""

from __future__ import annotations

import math

from raphe.gui.app.widgets import ALARM, OK, ElidedLabel, number
from raphe.records import PumpState

UNKNOWN = "unknown (link lost)"
#: Below this share of the syringe left, the remaining volume is red.
LOW_SYRINGE = 0.1


class PumpReadings:
    """The labels of one pump; :meth:`update` fills them from a session model."""

    def __init__(self) -> None:
        self.status = ElidedLabel("–")
        self.rate = ElidedLabel("–")
        self.dispensed = ElidedLabel("–")
        self.remaining = ElidedLabel("–")

    @property
    def labels(self) -> tuple[ElidedLabel, ...]:
        return (self.status, self.rate, self.dispensed, self.remaining)

    def reset(self) -> None:
        for label in self.labels:
            label.setText("–")
            label.setStyleSheet("")

    def update(self, model, syringe_uL: float | None, short: bool = False) -> PumpState | None:
        """The pump's last reported state (returned), or unknown while its link is lost (a
        reading from before the loss is not shown as current). ``short``: the remaining
        volume without the syringe's size (a narrow row)."""
        p = model.pump
        lost = model.lost.get("pump")
        if lost is not None and model.live and (p is None or p.t <= lost):
            for label in (self.status, self.rate):
                label.setText(UNKNOWN)
                label.setStyleSheet(f"color: {ALARM};")
            return None
        if p is None:
            return None
        self.status.setText(p.status)
        self.status.setStyleSheet(f"color: {OK};" if p.status == "infusing" else "")
        self.rate.setText(number(p.rate_uL_min, "µL/min"))
        self.rate.setStyleSheet("")
        self.dispensed.setText(f"{p.dispensed_uL:.1f} µL" if math.isfinite(p.dispensed_uL)
                               else "unknown")
        if syringe_uL and math.isfinite(p.dispensed_uL):
            left = syringe_uL - p.dispensed_uL
            self.remaining.setText(f"{left:.0f} µL" if short else
                                   f"{left:.0f} µL of {syringe_uL:g} µL")
            self.remaining.setToolTip(f"{left:.0f} µL of the {syringe_uL:g} µL syringe left")
            low = left < LOW_SYRINGE * syringe_uL
            self.remaining.setStyleSheet(f"color: {ALARM};" if low else "")
        return p

    def stopped(self) -> None:
        """The run ended with the pump in its safe state."""
        self.status.setText("stopped (safe state)")
        self.status.setStyleSheet("")
