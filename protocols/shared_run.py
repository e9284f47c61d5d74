"""Several animals on one HPLC: one protocol run per animal, one acquisition loop, one file each.

The rig file declares the animals (``[[animals]]``: each one's pump table, selector
stream, region, its own collector); ``--sim --animals N`` builds such a rig. Each animal
gets its own :class:`~raphe.protocols.engine.Engine` — its parameters, its script thread,
its pauses, prompts and fault policy, its session file — on its view of the rig (its pump
and collector; the valve, selector and detector shared). One acquisition loop drives every
instrument and writes the detector's signal into every file; an animal's pump faults go
to that animal only. The animals take the HPLC in turn (:mod:`raphe.protocols.shared_hplc`),
animal k's schedule ``k × slot`` after the first (:mod:`raphe.protocols.animals`).

The run's log (``run.json`` in the output folder) names every animal's file, written when
the run starts and rewritten with each animal's outcome when it ends.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raphe.clock import MAX_SPEED, MIN_SPEED
from raphe.drivers.base import stream_text
from raphe.drivers.rig_file import MULTIPLE, AnimalConfig, Rig, RigConfig, load_rig, role_of
from raphe.errors import InputError, RapheError
from raphe.files import new_file
from raphe.protocols.animals import SharedPlan, check_animals
from raphe.protocols.engine import STOP_WAIT_S, Engine, Settings
from raphe.protocols.parameters import ParameterError, resolve
from raphe.protocols.protocol import Protocol
from raphe.protocols.rig_spec import (
    SHARED_LOOP_UL,
    OpenRig,
    RigSpec,
    open_rig,
    simulated_region,
)
from raphe.protocols.shared_hplc import SharedHPLC
from raphe.protocols.states import EXIT_ABORTED, EXIT_OK, EXIT_REFUSED, Outcome, State
from raphe.records import InstrumentState

log = logging.getLogger(__name__)

#: The name of the run's log in the output folder.
RUN_LOG = "run.json"


@dataclass
class Animal:
    """One animal of the run: its place on the rig and its engine."""

    config: AnimalConfig
    engine: Engine
    offset_s: float = 0.0
    failure: BaseException | None = None
    thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def tables(self) -> dict[str, str]:
        """Its instruments' tables → the role each plays for it (``pump_2`` → ``pump``)."""
        out = {self.config.pump: "pump"}
        if self.config.collector:
            out[self.config.collector] = "collector"
        return out


@dataclass
class SharedOutcome:
    """How a run of several animals ended: each animal's outcome, and the run's."""

    exit_code: int
    message: str
    out_dir: Path
    animals: dict[str, Outcome] = field(default_factory=dict)


def sim_animals(n: int) -> list[AnimalConfig]:
    """The simulated rig's animals: A1 … An on pumps ``pump``, ``pump_2`` … and streams
    1 … n (as its rig file declares them)."""
    return [AnimalConfig(f"A{k}", "pump" if k == 1 else f"pump_{k}", k) for k in range(1, n + 1)]


def animal_view(config: RigConfig, animal: AnimalConfig) -> RigConfig:
    """``config`` as one animal sees it: its pump as ``[pump]``, its collector (if it has
    one) as ``[collector]``, the shared instruments; no other animal's."""
    roles = {}
    for table, value in config.roles.items():
        role = role_of(table)
        if role in MULTIPLE:
            if table == animal.pump or table == animal.collector:
                roles[role] = value
        else:
            roles[table] = value
    return dataclasses.replace(config, roles=roles, animals=[animal])


def rig_view(rig: Rig, animal: AnimalConfig) -> Rig:
    """The connected rig as one animal sees it (its pump and collector, the shared rest)."""
    instruments = rig.instruments()
    return Rig(config=rig.config, pump=instruments.get(animal.pump),
               collector=instruments.get(animal.collector) if animal.collector else None,
               valve=rig.valve, selector=rig.selector, detector=rig.detector)


class SharedEngine:
    """Runs one protocol for each of several animals on one HPLC; see the module docstring.

    ``given``: animal id → its parameters (``split_assignments``); ``settings.out`` is the
    output folder (one ``<animal>.h5`` each).
    """

    def __init__(self, protocol: Protocol, given: Mapping[str, Mapping[str, Any]],
                 settings: Settings) -> None:
        if len(given) < 1:
            raise InputError("no animals")
        self.protocol = protocol
        self.given = {a: dict(v) for a, v in given.items()}
        self.settings = settings
        self.out_dir = Path(settings.out)
        self.config: RigConfig | None = None
        self.animals: list[Animal] = []
        self.plan: SharedPlan | None = None
        self.hplc: SharedHPLC | None = None
        self.outcome: SharedOutcome | None = None
        self.opened: OpenRig | None = None
        self._thread: threading.Thread | None = None
        self._finished = threading.Event()
        self._build()

    # -- the animals ---------------------------------------------------------------------

    def _build(self) -> None:
        s = self.settings
        ids = list(self.given)
        if s.rig_file is not None:
            self.config = load_rig(s.rig_file)
            configs = self.config.animals
            if not configs:
                raise InputError(f"{self.config.source}: the rig file declares no [[animals]] "
                                 "(each animal's pump and stream): several animals need them")
            if [a.id for a in configs] != ids:
                raise InputError(f"{self.config.source}: its animals are "
                                 f"{', '.join(a.id for a in configs)}; the run names "
                                 f"{', '.join(ids)}")
        else:
            configs = sim_animals(len(ids))
            configs = [dataclasses.replace(c, id=i) for c, i in zip(configs, ids, strict=True)]
        for config in configs:
            own = dataclasses.replace(s, out=self.out_dir / f"{_file_name(config.id)}.h5",
                                      animal_id=config.id, sim=None)
            self.animals.append(Animal(config, Engine(self.protocol, self.given[config.id],
                                                      own)))

    @property
    def engines(self) -> list[Engine]:
        return [a.engine for a in self.animals]

    def animal(self, ident: str) -> Animal:
        for a in self.animals:
            if a.id == ident:
                return a
        raise InputError(f"no animal {ident!r} (the animals are "
                         f"{', '.join(a.id for a in self.animals)})")

    def _specs(self) -> dict[str, RigSpec]:
        from raphe.protocols.rig_spec import simulated_spec

        out = {}
        for a in self.animals:
            if self.config is not None:
                spec = RigSpec.from_config(animal_view(self.config, a.config))
            else:
                spec = dataclasses.replace(simulated_spec(self.settings.sim),
                                           roles=frozenset(("pump", "valve", "selector",
                                                            "detector")),
                                           rack_size=None, loop_volume_uL=SHARED_LOOP_UL)
            out[a.id] = spec
        return out

    # -- the dry run ---------------------------------------------------------------------

    def check(self) -> SharedPlan:
        """Every animal's dry run, in its slot, and the proof that no two chromatograms
        overlap (the first collision named)."""
        method = self.settings.method
        run_length = method.run_length_s if method else None
        specs = self._specs()
        try:
            for a in self.animals:
                a.engine.spec = specs[a.id]
                a.engine.params = resolve(self.protocol.parameters, self.given[a.id],
                                          file=self.protocol.path,
                                          lines=self.protocol.parameter_lines)
        except ParameterError as exc:
            raise InputError(f"{a.id}: {exc}") from None
        self.plan = check_animals(self.protocol, self.given, specs, run_length_s=run_length,
                                  method_name=method.name if method else "")
        for a, part in zip(self.animals, self.plan.animals, strict=True):
            a.offset_s = part.offset_s
            a.engine.plan = part.own
            a.engine.state = State.IDLE if self.plan.ok else State.FAILED
        return self.plan

    # -- running -------------------------------------------------------------------------

    def start(self) -> None:
        """Check, refuse what cannot run (nothing opened, nothing created), then run every
        animal on the rig on the run's thread."""
        if self._thread is not None:
            raise RuntimeError("a run of several animals runs once")
        plan = self.plan if self.plan is not None else self.check()
        if not plan.ok:
            errors = plan.first_errors
            raise InputError("; ".join(str(e) for e in errors))
        self._refuse_before_start()
        self._thread = threading.Thread(target=self._main, name="raphe-shared-run",
                                        daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is None:
            return True
        return self._finished.wait(timeout)

    def run(self) -> SharedOutcome:
        self.start()
        while not self.wait(0.2):
            pass
        return self.outcome

    def request_abort(self, reason: str = "operator", animal: str | None = None) -> None:
        """Abort every animal, or take ``animal`` off the rig (its pump to its safe state;
        the others go on)."""
        for a in [self.animal(animal)] if animal else self.animals:
            a.engine.request_abort(reason)

    def _refuse_before_start(self) -> None:
        s = self.settings
        if s.auto_answer and s.sim is None:
            raise InputError("--yes answers the operator's prompts: it is for the simulated "
                             "rig only")
        if s.method is None or not s.method.run_length_s:
            raise InputError("several animals share the HPLC by the length of its runs: give "
                             "an analysis method with run_length_s (--method)")
        if s.sim is not None and not MIN_SPEED <= s.sim.speed <= MAX_SPEED:
            raise InputError(f"the simulated clock's speed must be from {MIN_SPEED:g} to "
                             f"{MAX_SPEED:g} times real time, got {s.sim.speed:g}")
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise InputError(f"{self.out_dir} is a file: --out-dir needs a folder")
        if self.out_dir.is_dir():  # nothing recorded there is ever overwritten
            new_file(self.out_dir / RUN_LOG, "run log")
            for a in self.animals:
                new_file(a.engine.settings.out, "session")
        elif not self.out_dir.parent.is_dir():
            raise InputError(f"--out-dir {self.out_dir}: folder {self.out_dir.parent} does "
                             "not exist")
        if s.sim is not None:
            regions = []
            for a in self.animals:
                region = a.engine.params.get("region") if a.engine.params else None
                regions.append(simulated_region(str(region))[0] if region else s.sim.region)
            s.sim.animals = len(self.animals)
            s.sim.regions = regions

    def _main(self) -> None:
        s = self.settings
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            with open_rig(s.rig_file, s.sim) as opened:
                self.opened = opened
                for a in self.animals:
                    a.engine._opened = opened
                self._run_on(opened)
        except Exception as exc:
            log.debug("shared run failed", exc_info=True)
            message = str(exc) if isinstance(exc, RapheError) else \
                f"{type(exc).__name__}: {exc}"
            if self.outcome is None:
                created = any(a.engine.session is not None for a in self.animals)
                self.outcome = SharedOutcome(EXIT_ABORTED if created else EXIT_REFUSED,
                                             message, self.out_dir)
            for a in self.animals:
                a.engine._set_state(State.FAILED, message)
        finally:
            try:
                for a in self.animals:
                    a.engine._notify("done", self.outcome.animals.get(a.id)
                                     if self.outcome else None)
            finally:
                self._finished.set()

    def _run_on(self, opened: OpenRig) -> None:
        from raphe.acquisition.recorder import Recorder

        rig = opened.rig
        configs = opened.config.animals
        if self.config is None and len(configs) != len(self.animals):  # the simulated rig's
            raise RapheError(f"the simulated rig has {len(configs)} animals, expected "
                                 f"{len(self.animals)}")
        files = {a.id: Path(a.engine.settings.out).name for a in self.animals}
        common = {"animals": [{"id": a.id, "pump": a.config.pump, "stream": a.config.stream,
                               "file": files[a.id], "offset_s": a.offset_s}
                              for a in self.animals],
                  "slot_s": self.plan.slot_s, "run_log": RUN_LOG}
        for a in self.animals:
            a.engine._create_session(opened, shared={"animal": a.id, **common})
        self._write_log("running")
        failure: BaseException | None = None
        recorder = None
        try:
            for a in self.animals:
                a.engine._prepare_analysis(a.engine.session)
            raw_t0 = opened.clock.now()
            clock = opened.clock.shifted(raw_t0)
            if opened.sim is not None:
                opened.sim.begin_session(raw_t0)
            sessions = [a.engine.session for a in self.animals]
            routes = {table: a.engine.session for a in self.animals for table in a.tables}
            recorder = Recorder(sessions[0], clock, rig.instruments(), also=sessions[1:],
                                routes=routes, listener=self._on_fault)
            self.hplc = SharedHPLC({a.id: a.config.stream for a in self.animals},
                                   self.settings.method.run_length_s, clock,
                                   schedule=self._schedule_move(recorder, rig, clock))
            for k, a in enumerate(self.animals):
                view = rig_view(rig, a.config)
                a.engine._attach(opened, view, clock, recorder, opened.operator(raw_t0, k),
                                 spec=a.engine.spec, animal=a.id,
                                 tables={role: table for table, role in a.tables.items()},
                                 hplc=self.hplc)
            recorder.start()
            self._start_positions(recorder, rig, clock)
            for a in self.animals:
                a.thread = threading.Thread(target=self._animal_main, args=(a, rig),
                                            name=f"raphe-animal-{a.id}", daemon=True)
                a.thread.start()
            for a in self.animals:
                while a.thread.is_alive():
                    a.thread.join(0.2)
        except Exception as exc:
            failure = exc
            log.debug("shared run failed", exc_info=True)
            for a in self.animals:
                if a.engine.control is not None:
                    a.engine.control.request_abort(f"the run stopped: {exc}")
            for a in self.animals:
                if a.thread is not None:
                    a.thread.join(STOP_WAIT_S)
        finally:
            for a in self.animals:
                a.engine._set_state(State.STOPPING)
            if recorder is not None:
                recorder.stop(timeout=STOP_WAIT_S)
            for a in self.animals:
                a.engine._finish_analysis()
            report = rig.make_safe()
            outcomes = {}
            for a in self.animals:
                a.engine._close(a.engine.session, rig_view(rig, a.config), report,
                                a.failure or failure,
                                tables={**a.tables, **_shared_tables(rig)})
                outcomes[a.id] = a.engine.outcome
            code = max((o.exit_code for o in outcomes.values()), default=EXIT_OK)
            worst = [f"{k}: {o.message}" for k, o in outcomes.items()]
            self.outcome = SharedOutcome(code, "; ".join(worst), self.out_dir, outcomes)
            self._write_log("ended")

    def _animal_main(self, a: Animal, rig: Rig) -> None:
        """One animal's script in its slot; when it ends (done, aborted, failed) its pump
        stops and its turn on the HPLC is skipped, the others going on."""
        try:
            a.engine._execute(rig_view(rig, a.config), a.offset_s, valve=False)
        except Exception as exc:
            a.failure = exc
            log.debug("%s: run failed", a.id, exc_info=True)
        finally:
            self.hplc.leave(a.id)
            self._stop_pump(a)

    def _stop_pump(self, a: Animal) -> None:
        """This animal is done: its pump to its safe state (stopped) now."""
        pump = a.engine.backend.rig.pump if a.engine.backend is not None else None
        if pump is None or a.engine.recorder is None:
            return
        try:
            a.engine.recorder.do(pump.to_safe_state, a.config.pump, None,
                                 f"{a.id}: stop the pump")
            a.engine.recorder.perfusion_ended(a.config.pump)
        except Exception as exc:  # noqa: BLE001 - the safe state at the end tries again
            log.warning("%s: pump not stopped at its end: %s", a.id, exc)

    def _start_positions(self, recorder: Any, rig: Rig, clock: Any) -> None:
        """The valve to LOAD and the selector to the first animal's stream, before any
        script runs; recorded in every file."""
        if rig.valve is not None:
            recorder.do(rig.valve.load, "valve", None, "valve to LOAD")
            self._state_everywhere(clock.now(), "valve", "LOAD", "start")
        first = self.animals[0].config.stream
        selector = rig.selector
        if selector is not None:
            recorder.do(lambda: selector.select(first), "selector",
                        lambda: selector.position() == first, f"selector to stream {first}")
            self.hplc.moved(first, clock.now())
            self._state_everywhere(clock.now(), "selector", stream_text(first), "start")

    def _schedule_move(self, recorder: Any, rig: Rig,
                       clock: Any) -> Callable[[float, int, str], Any]:
        selector = rig.selector

        def schedule(t: float, position: int, what: str) -> Any:
            def move() -> None:
                selector.select(position)
                now = clock.now()
                self.hplc.moved(position, now)
                self._state_everywhere(now, "selector", stream_text(position), what)

            return recorder.at(t, move, "selector", lambda: selector.position() == position,
                               what)

        return schedule

    def _state_everywhere(self, t: float, role: str, state: str, detail: str) -> None:
        for a in self.animals:
            session = a.engine.session
            if session is not None and session.error is None and not session.closed:
                try:
                    session.add("instruments", InstrumentState(t, role, state, detail))
                except RapheError:
                    pass

    def _on_fault(self, kind: str, role: str, text: str) -> None:
        """An animal's pump or collector: that animal's fault policy; a shared instrument
        (detector, selector, valve): every animal's."""
        owners = [a for a in self.animals if role in a.tables]
        for a in owners or self.animals:
            a.engine._on_fault(kind, a.tables.get(role, role), text)

    # -- the run's log -------------------------------------------------------------------

    def _write_log(self, status: str) -> None:
        """``run.json``: every animal's file, slot and (at the end) outcome."""
        o = self.outcome
        data = {
            "status": status, "protocol": self.protocol.name,
            "method": self.settings.method.name if self.settings.method else "",
            "slot_s": self.plan.slot_s if self.plan else None,
            "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "animals": [{
                "id": a.id, "file": Path(a.engine.settings.out).name, "pump": a.config.pump,
                "stream": a.config.stream, "offset_s": a.offset_s,
                "parameters": {k: str(v) for k, v in (a.engine.params or {}).items()},
                **({"exit_code": o.animals[a.id].exit_code,
                    "outcome": o.animals[a.id].message}
                   if o is not None and a.id in o.animals else {}),
            } for a in self.animals],
        }
        if o is not None:
            data["exit_code"] = o.exit_code
        path = self.out_dir / RUN_LOG
        tmp = path.with_suffix(".json.tmp")
        try:
            tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
            tmp.replace(path)
        except OSError as exc:
            log.warning("run log %s not written: %s", path, exc)


def _shared_tables(rig: Rig) -> dict[str, str]:
    return {role: role for role in ("valve", "selector", "detector")
            if getattr(rig, role) is not None}


def _file_name(animal: str) -> str:
    """An animal's id as a file name (letters, digits, ``-``, ``_``)."""
    text = "".join(c if c.isalnum() or c in "-_" else "_" for c in animal.strip())
    return text or "animal"
