"""The fluid path: probe outflow → outlet tubing (dead volume) → loop or tube.

Fluid is tracked by cumulative volume, not by time, so a flow that changes
(or stops) is handled exactly: the element at the outlet at time t left the
probe when the pumped volume was V(t) - dead volume. The loop holds the last
loop-volume of outflow at injection; a tube holds what flowed out during its
interval. Before any dialysate reaches the outlet the tubing holds blank
perfusate (concentration 0).

Units: flow µL/min, volume µL, concentration nM, amount fmol (nM × µL = fmol).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

#: Dialysate leaving the probe: (t s, flow µL/min) arrays -> {analyte: nM array}.
DialysateSource = Callable[[np.ndarray, np.ndarray], Mapping[str, np.ndarray]]
#: Perfusion rate history: session time (s, scalar or array) -> µL/min.
FlowFunction = Callable[[np.ndarray], np.ndarray | float]


@dataclass(frozen=True)
class SampleContent:
    """What a loop or a tube holds: volume, mean concentrations, amounts."""

    t_start: float
    t_end: float
    volume_uL: float
    conc_nM: Mapping[str, float]
    amount_fmol: Mapping[str, float]
    #: Times the held fluid left the probe (NaN where it was blank perfusate).
    probe_t_start: float
    probe_t_end: float

    @property
    def nM(self) -> float:
        """Mean 5-HT concentration (nM)."""
        return self.conc_nM.get("5-HT", 0.0)

    @property
    def fmol(self) -> float:
        """5-HT amount (fmol)."""
        return self.amount_fmol.get("5-HT", 0.0)


class Fluidics:
    """Probe → tubing → outlet, driven by the pump's ``flow_uL_min(t)`` history.

    ``flow_uL_min`` must answer for any past time; it may be vectorised or
    scalar-only (then it is called per grid point). ``step_s`` is the grid on
    which flow and outflow are integrated (each held over its step).
    """

    def __init__(
        self,
        source: DialysateSource,
        flow_uL_min: FlowFunction,
        dead_volume_uL: float = 5.0,
        step_s: float = 2.0,
    ) -> None:
        if dead_volume_uL < 0:
            raise ValueError(f"dead volume must be >= 0 µL, got {dead_volume_uL}")
        if not step_s > 0:
            raise ValueError(f"step must be > 0 s, got {step_s}")
        self.source = source
        self.flow_uL_min = flow_uL_min
        self.dead_volume_uL = float(dead_volume_uL)
        self.step_s = float(step_s)

    # -- public API ---------------------------------------------------------
    def flows(self, t: np.ndarray) -> np.ndarray:
        """The flow (µL/min) at times ``t``, whatever kind of callable the pump gave."""
        t = np.asarray(t, dtype=float)
        try:
            q = np.asarray(self.flow_uL_min(t), dtype=float)
            if q.shape == t.shape or q.ndim == 0:
                return np.broadcast_to(q, t.shape).astype(float)
        except (TypeError, ValueError):
            pass
        return np.array([float(self.flow_uL_min(float(x))) for x in t.ravel()]).reshape(t.shape)

    def volume_uL(self, t: float) -> float:
        """Volume pumped through the probe from time 0 to ``t``."""
        grid = self._grid(t)
        return float(grid.volume[-1])

    def delay_s(self, t_out: float) -> float:
        """How long ago the fluid at the outlet at ``t_out`` left the probe (NaN if blank)."""
        grid = self._grid(t_out)
        return t_out - self._probe_time(grid, grid.volume[-1] - self.dead_volume_uL)

    def loop_content(self, t_inject: float, loop_volume_uL: float) -> SampleContent:
        """The loop at injection: the last ``loop_volume_uL`` of outflow before ``t_inject``."""
        if not loop_volume_uL > 0:
            raise ValueError(f"loop volume must be > 0 µL, got {loop_volume_uL}")
        grid = self._grid(t_inject)
        v_end = grid.volume[-1]
        v_start = v_end - loop_volume_uL
        t_start = float(np.interp(max(v_start, 0.0), grid.volume, grid.t)) if v_start > 0 else 0.0
        return self._content(grid, v_start, v_end, t_start, t_inject, loop_volume_uL)

    def tube_content(self, t_start: float, t_end: float) -> SampleContent:
        """A fraction tube: everything that left the outlet between ``t_start`` and ``t_end``."""
        if t_end < t_start:
            raise ValueError(f"tube interval ends before it starts ({t_start} > {t_end})")
        grid = self._grid(t_end)
        v_start = float(np.interp(t_start, grid.t, grid.volume))
        v_end = grid.volume[-1]
        return self._content(grid, v_start, v_end, t_start, t_end, v_end - v_start)

    # -- internals ----------------------------------------------------------
    @dataclass
    class _Grid:
        t: np.ndarray
        volume: np.ndarray  # cumulative µL through the probe
        mass: dict[str, np.ndarray]  # cumulative fmol out of the probe

    def _grid(self, t_end: float) -> Fluidics._Grid:
        t_end = max(float(t_end), 0.0)
        n = int(np.floor(t_end / self.step_s))
        t = np.arange(n + 1) * self.step_s
        if t[-1] < t_end:
            t = np.append(t, t_end)
        q = np.maximum(self.flows(t), 0.0)
        dt_min = np.diff(t) / 60.0
        # zero-order hold over each step: a query ending mid-step splits that step
        # exactly, so contents do not depend on where queries end
        volume = np.concatenate([[0.0], np.cumsum(q[:-1] * dt_min)])
        conc = self.source(t, q)
        mass = {}
        for name, c in conc.items():
            cq = np.asarray(c, dtype=float) * q
            mass[name] = np.concatenate([[0.0], np.cumsum(cq[:-1] * dt_min)])
        return Fluidics._Grid(t, volume, mass)

    def _probe_time(self, grid: Fluidics._Grid, v_probe: float) -> float:
        if v_probe < 0:
            return float("nan")
        return float(np.interp(v_probe, grid.volume, grid.t))

    def _content(
        self, grid: Fluidics._Grid, v_start: float, v_end: float,
        t_start: float, t_end: float, volume: float,
    ) -> SampleContent:
        # volume indices at the probe; below 0 is the blank perfusate the tubing started with
        a = max(v_start - self.dead_volume_uL, 0.0)
        b = max(v_end - self.dead_volume_uL, 0.0)
        amounts = {
            name: float(np.interp(b, grid.volume, m) - np.interp(a, grid.volume, m))
            for name, m in grid.mass.items()
        }
        conc = {name: (x / volume if volume > 0 else 0.0) for name, x in amounts.items()}
        return SampleContent(
            t_start=float(t_start), t_end=float(t_end), volume_uL=float(volume),
            conc_nM=conc, amount_fmol=amounts,
            probe_t_start=self._probe_time(grid, v_start - self.dead_volume_uL),
            probe_t_end=self._probe_time(grid, v_end - self.dead_volume_uL),
        )
