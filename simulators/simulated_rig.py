"""The simulated rig: every instrument of the reference rig on one clock, in one world.

The pump's flow carries dialysate from the virtual animal through the probe
and outlet tubing into the valve's loop; each switch to INJECT starts a
chromatogram that the DMM digitises. The rig describes itself as a rig file
(``rig_toml()``), so ``--sim`` opens the simulators exactly as a real rig is
opened.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Self

import numpy as np

from raphe.clock import Clock
from raphe.simulators import workdir
from raphe.simulators.dmm34465a import SimulatedDMM34465A
from raphe.simulators.fc203b import SimulatedFC203B
from raphe.simulators.ne1000 import SimulatedNE1000, chained_pumps
from raphe.simulators.vici import SimulatedVICI

#: role -> (model shown to the user, simulator name used on the command line)
INSTRUMENTS = {
    "pump": ("NE-1000", "ne1000"),
    "valve": ("VICI-EUH", "vici"),
    "collector": ("FC203B", "fc203b"),
    "detector": ("34465A", "dmm34465a"),
}
#: the stream selector of a rig of several animals (``--animals N``)
SELECTOR = ("VICI-multiposition", "vici_selector")


@dataclass
class RigOptions:
    """What a simulated rig is built with; every value a user might change."""

    speed: float = 1.0
    seed: int = 0
    region: str = "prefrontal_cortex"
    doses: list = field(default_factory=list)  # raphe.simulators.drugs.Dose items
    history: list = field(default_factory=list)  # raphe.simulators.drugs.Regimen items
    syringe_diameter_mm: float = 4.61
    syringe_volume_uL: float = 1000.0
    rack_size: int = 48
    loop_volume_uL: float = 20.0
    outlet_dead_volume_uL: float = 5.0
    scale_nA_per_V: float = 10.0
    interval_s: float = 0.1
    ground_truth_path: str | None = None
    clean: bool = False  # no spikes in the chromatograms
    #: virtual animals on the one HPLC, each with its own pump and selector stream (several:
    #: no fraction collector, the streams go to the loop through a stream selector)
    animals: int = 1
    #: each animal's probe region (empty: ``region`` for every animal)
    regions: list = field(default_factory=list)
    #: the HPLC's assay (raphe.simulators.assays): "standard" (15 min) or "fast" (5.5 min)
    assay: str = "standard"

    def region_of(self, k: int) -> str:
        """Animal ``k``'s (0-based) probe region."""
        return self.regions[k] if k < len(self.regions) and self.regions[k] else self.region

    def seed_of(self, k: int) -> int:
        """Animal ``k``'s seed: its own basal level and variability."""
        return self.seed + 7919 * k


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))


def to_toml(tables: dict[str, dict]) -> str:
    """Write flat tables of scalars as TOML."""
    lines: list[str] = []
    for name, table in tables.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in table.items()]
        lines.append("")
    return "\n".join(lines)


class FlowHistory:
    """The pump's flow as a function of any past clock time (the fluid path needs history).

    A watcher samples the simulated pump every ``period_s`` of real time and
    keeps the change points; ``flow(t)`` is a step function over them, and the
    pump's present flow for times not yet watched.
    """

    def __init__(self, clock: Clock, current: Callable[[], float], period_s: float = 0.02) -> None:
        self.clock = clock
        self._current = current
        self.period_s = period_s
        self._times: list[float] = [0.0]
        self._flows: list[float] = [0.0]
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="sim-flow", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)

    def _watch(self) -> None:
        while not self._stop.wait(self.period_s):
            self.sample()

    def sample(self) -> None:
        t, flow = self.clock.now(), float(self._current())
        with self._lock:
            if flow != self._flows[-1]:
                self._times.append(t)
                self._flows.append(flow)

    def __call__(self, t):
        with self._lock:
            times = np.asarray(self._times)
            flows = np.asarray(self._flows)
        idx = np.searchsorted(times, np.asarray(t, dtype=float), side="right") - 1
        result = flows[np.clip(idx, 0, None)]
        return float(result) if np.ndim(result) == 0 else result


class SimulatedRig:
    """Start some or all simulated instruments (``roles``) on one shared clock."""

    def __init__(
        self,
        options: RigOptions | None = None,
        roles: Iterable[str] = tuple(INSTRUMENTS),
        directory: str | None = None,
    ) -> None:
        self.options = options or RigOptions()
        wanted = set(roles)
        if self.options.animals > 1:  # streams to the loop through a selector, no collector
            wanted.discard("collector")
        self.roles = tuple(r for r in INSTRUMENTS if r in wanted)
        self.clock = Clock(self.options.speed)
        self.pump = self.valve = self.collector = self.detector = self.selector = None
        #: every animal's pump (``pump``, ``pump_2`` …)
        self.pumps: dict[str, SimulatedNE1000] = {}
        self.flows: list[FlowHistory] = []
        self.world = None
        self._own_directory = directory is None
        self.directory = directory or workdir.make("rig")
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _build(self) -> None:
        o = self.options
        if "pump" in self.roles:
            # several animals' pumps chain on one RS-232 line by network address 0 … N-1
            chain = chained_pumps(self.clock, max(1, o.animals), self.directory,
                                  syringe_volume_uL=o.syringe_volume_uL,
                                  syringe_diameter_mm=o.syringe_diameter_mm)
            for k, pump in enumerate(chain):
                self.pumps["pump" if k == 0 else f"pump_{k + 1}"] = pump
            self.pump = self.pumps["pump"]
        if o.animals > 1:
            from raphe.simulators.vici_selector import SimulatedVICISelector

            self.selector = SimulatedVICISelector(self.clock, self.directory,
                                                  positions=max(4, o.animals + o.animals % 2))
        self.world = self._build_world()
        if "valve" in self.roles:
            self.valve = SimulatedVICI(
                self.clock, self.directory, loop_volume_uL=o.loop_volume_uL
            )
            if self.world is not None:
                self.valve.device.add_listener(self.world.on_valve)
        if "collector" in self.roles:
            self.collector = SimulatedFC203B(self.clock, o.rack_size, self.directory)
        if "detector" in self.roles:
            self.detector = SimulatedDMM34465A(self.clock, source=self.world)

    def _build_world(self):
        if self.pump is None:
            return None
        from raphe.simulators.assays import assay
        from raphe.simulators.world import SimulatedWorld

        o = self.options
        subjects = []
        for k, pump in enumerate(self.pumps.values()):
            flow = FlowHistory(self.clock, pump.flow_uL_min)
            self.flows.append(flow)
            log_path = o.ground_truth_path
            if log_path and k:  # one ground-truth log per animal
                log_path = f"{log_path}.A{k + 1}"
            subjects.append(SimulatedWorld(
                flow,
                region=o.region_of(k),
                seed=o.seed_of(k),
                loop_volume_uL=o.loop_volume_uL,
                dead_volume_uL=o.outlet_dead_volume_uL,
                hplc_params=assay(o.assay, scale_nA_per_V=o.scale_nA_per_V),
                clean=o.clean,
                log_path=log_path,
                history=o.history,
            ))
        self.flow = self.flows[0]
        if self.selector is None:
            return subjects[0]
        from raphe.simulators.shared_world import SharedWorld

        world = SharedWorld(subjects, self.selector.device.position)
        self.selector.device.add_listener(world.on_selector)
        return world

    def subject(self, k: int):
        """Animal ``k``'s (0-based) world: its animal, fluid path and ground truth."""
        return self.world.subject(k) if self.selector is not None else self.world

    def begin_session(self, t0: float) -> None:
        """Session time 0 is clock time ``t0``: give the planned doses at their session minute."""
        if self.world is None:
            return
        self.world.note({"event": "session_start", "t": t0})
        for dose in self.options.doses:
            self.world.administer(dose, t0 + dose.time_s)

    # -- life cycle ------------------------------------------------------------------------
    def instruments(self) -> dict:
        """Every simulator by its rig-file table (``pump``, ``pump_2`` …, ``selector``)."""
        out = {}
        for role in self.roles:
            if role == "pump":
                out.update(self.pumps)
            else:
                out[role] = getattr(self, role)
        if self.selector is not None:
            out["selector"] = self.selector
        return out

    def start(self) -> Self:
        try:
            for sim in self.instruments().values():
                sim.start()
            for flow in self.flows:
                flow.start()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        for flow in self.flows:
            flow.close()
        for sim in reversed([s for s in self.instruments().values() if s is not None]):
            sim.close()
        if self.world is not None:
            self.world.close()
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- self-description ------------------------------------------------------------------
    def addresses(self) -> list[tuple[str, str, str]]:
        """``(ROLE, MODEL, ADDRESS)`` per instrument: a stable serial path or a VISA resource."""
        out = []
        for table, sim in self.instruments().items():
            address = sim.resource if table == "detector" else sim.path
            model = SELECTOR[0] if table == "selector" else INSTRUMENTS[table.split("_")[0]][0]
            out.append((table, model, address))
        return out

    def rig_tables(self) -> dict[str, dict]:
        o = self.options
        tables: dict[str, dict] = {
            "rig": {"name": "simulated rig", "speed": o.speed, "simulated": True}
        }
        for role, sim in self.instruments().items():
            settings = dict(sim.rig_settings())
            if role == "detector":
                settings.update(interval_s=o.interval_s, scale_nA_per_V=o.scale_nA_per_V)
            if role == "collector":
                settings["rack_size"] = o.rack_size
            tables[role] = settings
        tables["fluidics"] = {"outlet_dead_volume_uL": o.outlet_dead_volume_uL}
        return tables

    def animal_tables(self) -> list[dict]:
        """The ``[[animals]]`` of a rig of several animals: id, pump table, stream."""
        if self.selector is None:
            return []
        return [{"id": f"A{k + 1}", "pump": table, "stream": k + 1}
                for k, table in enumerate(self.pumps)]

    def rig_toml(self) -> str:
        """This rig as a rig file; serial lines are 8N1 because a pty carries no parity."""
        header = (
            "# Simulated rig: serial instruments on pseudo-terminals (8N1: a pty carries no\n"
            "# parity), the DMM on 127.0.0.1. Open it with `raphe record --rig THIS_FILE`.\n\n"
        )
        text = header + to_toml(self.rig_tables())
        for animal in self.animal_tables():
            text += "[[animals]]\n" + "".join(f"{key} = {_toml_value(value)}\n"
                                               for key, value in animal.items()) + "\n"
        return text
