"""The rig a protocol runs on: what it can do (for the dry run) and opening it (for the run).

``RigSpec`` is what the checks need to know without touching an instrument:
which roles exist, the syringe, the rack, the loop, the outlet dead volume,
the pump's flow range. ``open_rig`` opens a rig file's instruments, or starts
the simulated rig first, as one context manager that always closes
everything (instruments, simulators, temporary folders) however the run ends.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raphe import catalogue
from raphe.clock import Clock
from raphe.drivers.rig_file import Rig, RigConfig, driver_class, load_rig
from raphe.errors import InputError
from raphe.protocols.operator import Operator, Person

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
    #: the instruments are Raphe's simulators (a simulated rig, or a rig file of them)
    simulated: bool = False
    source: str = ""
    #: the simulated rig's virtual animal: the operator's steps (a drug, a standard in the
    #: loop, the probe in a solution) are done by the simulator, not by a person prompted
    animal: bool = False
    #: what the virtual animal models (None: not a simulated animal): compound names and
    #: probe regions as the catalogue spells them
    models_drugs: frozenset[str] | None = None
    models_regions: frozenset[str] | None = None
    #: how long a chromatogram runs on this HPLC, from the rig file (None: not said)
    run_length_s: float | None = None
    #: the syringe's content at the start (None: full)
    syringe_filled_uL: float | None = None

    @classmethod
    def from_config(cls, config: RigConfig) -> RigSpec:
        def setting(role: str, key: str) -> Any:
            return config.roles[role][1].get(key) if role in config.roles else None

        limits = None
        diameter = setting("pump", "syringe_diameter_mm")
        if "pump" in config.roles and diameter:
            limits = driver_class(config.roles["pump"][0]).rate_limits_uL_min(float(diameter))
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
            run_length_s=float(config.rig.get("run_length_min", 0.0)) * 60.0 or None,
        )


#: The simulated rig's loop when several animals share it: small, so that each animal's
#: stream fills it within its turn (5 min at 1 µL/min).
SHARED_LOOP_UL = 5.0


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
    #: virtual animals on the one HPLC (``--animals``), each on its own pump and stream
    animals: int = 1
    #: each animal's probe region (the simulator's names; empty: ``region`` for all)
    regions: list = field(default_factory=list)
    #: the simulated HPLC's assay: "standard" (15-min runs) or "fast" (5.5 min)
    assay: str = "standard"

    def rig_options(self):
        from raphe.simulators.simulated_rig import RigOptions

        return RigOptions(speed=self.speed, seed=self.seed, region=self.region,
                          doses=list(self.doses), history=list(self.history),
                          ground_truth_path=self.ground_truth_path, animals=self.animals,
                          regions=list(self.regions), assay=self.assay,
                          loop_volume_uL=SHARED_LOOP_UL if self.animals > 1 else 20.0)


def simulated_spec(options: SimOptions | None = None) -> RigSpec:
    """The spec of the simulated rig, without starting it (for ``raphe check --sim``)."""
    from raphe.drivers.ne1000 import NE1000

    o = (options or SimOptions()).rig_options()
    drugs, regions = simulated_models()
    return RigSpec(
        roles=frozenset(("pump", "collector", "valve", "detector")),
        syringe_volume_uL=o.syringe_volume_uL, syringe_diameter_mm=o.syringe_diameter_mm,
        rate_limits_uL_min=NE1000.rate_limits_uL_min(o.syringe_diameter_mm),
        rack_size=o.rack_size, loop_volume_uL=o.loop_volume_uL,
        dead_volume_uL=o.outlet_dead_volume_uL, interval_s=o.interval_s, simulated=True,
        source="simulated rig", animal=True, models_drugs=drugs, models_regions=regions)


def simulated_models() -> tuple[frozenset[str], frozenset[str]]:
    """The compounds and probe regions the virtual animal models, spelt as users type them."""
    from raphe.names import spelling
    from raphe.simulators.animal import REGIONS
    from raphe.simulators.drugs import DRUGS

    return frozenset(spelling(d) for d in DRUGS), frozenset(spelling(r) for r in REGIONS)


def simulated_methods() -> dict[str, str]:
    """The simulated HPLC's assays and the bundled method that quantifies each
    (``standard``, ``fast``, ``dialysate``)."""
    from raphe.simulators.assays import METHODS

    return dict(METHODS)


def simulated_region(name: str) -> tuple[str, str | None]:
    """The virtual animal's region for the protocol's ``region`` parameter, and a warning
    when it does not model that region (it then uses prefrontal cortex)."""
    from raphe.names import spelling
    from raphe.simulators.animal import REGIONS

    known = catalogue.region(name)
    wanted = known.name if known is not None else spelling(name)
    for key in REGIONS:
        if spelling(key) == wanted:
            return key, None
    default = "prefrontal_cortex"
    return default, (f"the simulated animal does not model {name!r}: its probe is simulated in "
                     f"{spelling(default)} (it models "
                     f"{', '.join(sorted(spelling(r) for r in REGIONS))})")


def with_syringe(spec: RigSpec, filled_uL: float | None) -> RigSpec:
    """``spec`` with a syringe holding ``filled_uL`` at the start (None: full)."""
    if filled_uL is None:
        return spec
    full = spec.syringe_volume_uL
    if not (filled_uL >= 0 and (full is None or filled_uL <= full)):
        raise InputError(f"--syringe-filled must be from 0 to the syringe's {full or 0:g} µL, "
                         f"got {filled_uL:g}")
    return dataclasses.replace(spec, syringe_filled_uL=float(filled_uL))


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
    sim: Any = None  # raphe.simulators.simulated_rig.SimulatedRig when simulated

    @property
    def simulated(self) -> bool:
        return self.sim is not None

    def operator(self, raw_t0: float, animal: int = 0) -> Operator:
        """Who does a person's steps on this rig: the simulator's hands in its virtual
        world (session time 0 is world time ``raw_t0``; ``animal``: which of several
        virtual animals), else a person who is prompted."""
        if self.sim is not None and self.sim.world is not None:
            from raphe.simulators.operator import SimulatedOperator

            return SimulatedOperator(self.sim.subject(animal), raw_t0)
        return Person()


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
            from raphe.simulators.simulated_rig import SimulatedRig

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
        spec = RigSpec.from_config(config)
        if simulated is not None:  # the virtual animal is there: the simulator's hands
            drugs, regions = simulated_models()
            spec = dataclasses.replace(spec, animal=True, models_drugs=drugs,
                                       models_regions=regions)
        yield OpenRig(rig=rig, config=config, clock=clock, spec=spec, sim=simulated)
