"""The rig a protocol runs on: what it can do (for the dry run) and opening it (for the run).

``RigSpec`` is what the checks need to know without touching an instrument:
which roles exist, the syringe, the rack, the loop, the outlet dead volume,
the pump's flow range. ``open_rig`` opens a rig file's instruments, or starts
the simulated rig first, as one context manager that always closes
everything (instruments, simulators, temporary folders) however the run ends.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raphe.clock import Clock
from raphe.drivers.rig import DRIVERS, Rig, RigConfig, load_rig
from raphe.errors import InputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RigSpec:
    """What a rig can do, from its rig file (no instrument is opened)."""

    roles: frozenset[str]
    syringe_volume_uL: float | None = None
    syringe_diameter_mm: float | None = None
    #: slowest and fastest flow the pump drives this syringe at (None: not known)
    rate_limits_uL_min: tuple[float, float] | None = None
    rack_size: int | None = None
    loop_volume_uL: float | None = None
    dead_volume_uL: float = 0.0
    interval_s: float | None = None
    simulated: bool = False
    source: str = ""

    @classmethod
    def from_config(cls, config: RigConfig) -> RigSpec:
        def setting(role: str, key: str) -> Any:
            return config.roles[role][1].get(key) if role in config.roles else None

        limits = None
        diameter = setting("pump", "syringe_diameter_mm")
        if "pump" in config.roles and diameter:
            module = importlib.import_module(DRIVERS[config.roles["pump"][0]][0])
            rule = getattr(module, "rate_limits_uL_min", None)
            limits = rule(float(diameter)) if rule is not None else None
        return cls(
            roles=frozenset(config.roles),
            syringe_volume_uL=setting("pump", "syringe_volume_uL"),
            syringe_diameter_mm=diameter,
            rate_limits_uL_min=limits,
            rack_size=setting("collector", "rack_size"),
            loop_volume_uL=setting("valve", "loop_volume_uL"),
            dead_volume_uL=float(config.fluidics.get("outlet_dead_volume_uL", 0.0)),
            interval_s=setting("detector", "interval_s"),
            simulated=bool(config.rig.get("simulated", False)),
            source=config.source,
        )


@dataclass
class SimOptions:
    """How to build the simulated rig (``--sim``)."""

    speed: float = 1.0
    seed: int = 0
    region: str = "prefrontal_cortex"
    doses: list = field(default_factory=list)  # raphe.simulators.drugs.Dose
    #: dosing before the session (raphe.simulators.drugs.Regimen): chronic treatment
    history: list = field(default_factory=list)
    ground_truth_path: str | None = None

    def rig_options(self):
        from raphe.simulators.rig import RigOptions

        return RigOptions(speed=self.speed, seed=self.seed, region=self.region,
                          doses=list(self.doses), history=list(self.history),
                          ground_truth_path=self.ground_truth_path)


def simulated_spec(options: SimOptions | None = None) -> RigSpec:
    """The spec of the simulated rig, without starting it (for ``raphe check --sim``)."""
    from raphe.drivers.ne1000 import rate_limits_uL_min

    o = (options or SimOptions()).rig_options()
    return RigSpec(
        roles=frozenset(("pump", "collector", "valve", "detector")),
        syringe_volume_uL=o.syringe_volume_uL, syringe_diameter_mm=o.syringe_diameter_mm,
        rate_limits_uL_min=rate_limits_uL_min(o.syringe_diameter_mm), rack_size=o.rack_size,
        loop_volume_uL=o.loop_volume_uL, dead_volume_uL=o.outlet_dead_volume_uL,
        interval_s=o.interval_s, simulated=True, source="simulated rig")


def spec_for(rig_file: str | Path | None, sim: SimOptions | None) -> tuple[RigSpec, RigConfig | None]:
    """The spec of a rig file, or of the simulated rig."""
    if rig_file is not None:
        config = load_rig(rig_file)
        return RigSpec.from_config(config), config
    return simulated_spec(sim), None


@dataclass
class OpenRig:
    """A connected rig: its instruments, config, clock, spec and (simulated) world."""

    rig: Rig
    config: RigConfig
    clock: Clock
    spec: RigSpec
    sim: Any = None  # raphe.simulators.rig.SimulatedRig when simulated

    @property
    def simulated(self) -> bool:
        return self.sim is not None


@contextlib.contextmanager
def open_rig(rig_file: str | Path | None = None, sim: SimOptions | None = None,
             config: RigConfig | None = None) -> Iterator[OpenRig]:
    """Open the instruments of ``rig_file`` (or ``config``), or start the simulated rig
    described by ``sim`` and open it exactly as a rig file is opened.

    Whatever happens inside, every instrument and simulator is closed on exit.
    """
    if (rig_file is None and config is None) == (sim is None):
        raise InputError("give a rig file or the simulated rig (--rig or --sim), not both")
    with contextlib.ExitStack() as stack:
        simulated = None
        if sim is not None:
            from raphe.simulators.rig import SimulatedRig

            simulated = SimulatedRig(sim.rig_options())
            stack.callback(simulated.close)
            simulated.start()
            config = load_rig(simulated.rig_toml(), source="simulated rig")
            clock = simulated.clock
        else:
            config = config or load_rig(rig_file)
            clock = Clock(config.speed)
        if "detector" not in config.roles:
            raise InputError(f"{config.source}: the rig has no [detector]: nothing to record")
        rig = config.connect(session_clock=clock.now)
        stack.callback(rig.close)
        yield OpenRig(rig=rig, config=config, clock=clock, spec=RigSpec.from_config(config),
                      sim=simulated)
