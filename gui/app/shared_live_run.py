"""A run of several animals on one HPLC in the window: one
:class:`~raphe.protocols.shared_run.SharedEngine`, and one
:class:`~raphe.gui.app.live_run.EngineLink` per animal — its engine's records into that
animal's own model, its prompts, alarms and requests to that animal's engine.

The run as a whole is what the Protocol panel and the next strip show: its state (running
while any animal runs, paused while one waits for the operator), its progress (every
animal's samples) and what comes next (every animal's steps, each said with its animal).
Pause and resume go to every animal, a marker into every file; abort takes one animal off
the rig or stops them all.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from raphe.errors import InputError
from raphe.gui.app.animals import AnimalView, Merge, SharedAlarms, describe, prefixed
from raphe.gui.app.history import LiveHistory
from raphe.gui.app.live_run import STREAM_KINDS, EngineLink, RunSetup, load_method
from raphe.gui.app.model import SessionModel
from raphe.protocols.shared_run import SharedEngine
from raphe.protocols.states import State, Status

log = logging.getLogger(__name__)

#: The first animal's engine also brings the detector's signal and the selector's states
#: (every animal's file holds them); the others bring only their own records.
LEAD_KINDS = (*STREAM_KINDS, "instruments")
OTHER_KINDS = tuple(k for k in STREAM_KINDS if k != "blocks")


@dataclass
class SharedRunOutcome:
    """How a run of several animals ended, as the window shows it."""

    state: State
    exit_code: int
    message: str
    session: Path | None  # the folder of the animals' files (None: nothing written)
    alarms: list[str] = field(default_factory=list)
    animals: dict[str, Any] = field(default_factory=dict)  # id → its Outcome


def aggregate(states: list[State]) -> State:
    """The run's state from its animals': running while one runs (paused when one of them
    waits — its Resume is wanted), starting until one runs, stopping once none does."""
    if any(s is State.PAUSED for s in states):
        return State.PAUSED
    if any(s is State.RUNNING for s in states):
        return State.RUNNING
    if all(s in (State.IDLE, State.CHECKING) for s in states):
        return State.CHECKING
    return State.STOPPING


def upcoming(animal: str, s: Status, plan: Any) -> list[tuple[float, str, str]]:
    """An animal's steps still to come, said with its animal, its injections included: its
    plan shifted by its schedule's delay when that is known, else the engine's short list."""
    if plan is None or s.eta_s is None or not math.isfinite(s.duration_s) \
            or s.state not in ("running", "paused"):
        return [(t, kind, prefixed(animal, text)) for t, kind, text in s.upcoming]
    delay = s.eta_s + s.t - s.duration_s
    steps = [(item.t + delay, item.kind, prefixed(animal, item.text)) for item in plan.timeline
             if item.t + delay > s.t]
    steps += [(x.inject_t + delay, "inject", f"{animal} {x.label}") for x in plan.samples
              if x.inject_t is not None and math.isfinite(x.inject_t)
              and x.inject_t + delay > s.t]
    return steps


class SharedLiveRun(QObject):
    """See the module docstring. ``model`` is the window's (merged) model; each animal's own
    is in ``views``. Raises :class:`InputError` when the run is refused (nothing opened)."""

    state_changed = Signal(object)  # State (of the run as a whole)
    status_changed = Signal(object)  # Status (of the run as a whole)
    animal_states = Signal(object)  # {animal: state value}
    finished = Signal(object)  # SharedRunOutcome

    def __init__(self, setup: RunSetup, model, parent: QObject | None = None) -> None:
        super().__init__(parent)
        if not setup.animals:
            raise InputError("a run of several animals needs its animals")
        self.setup = setup
        self.model = model
        self.method = load_method(setup.method)
        self.shared = SharedEngine(setup.protocol, setup.animals, setup.settings(self.method))
        self.plan = self.shared.check()
        if not self.plan.ok:
            errors = self.plan.first_errors
            raise InputError(str(errors[0]))
        animals = self.shared.animals
        self.merge = Merge([a.id for a in animals])
        self.alarm_routes = SharedAlarms()
        self.views: list[AnimalView] = []
        self._links: list[EngineLink] = []
        for k, a in enumerate(animals):
            own = SessionModel(self)
            part = self.plan.animals[k].own
            tubes = {x.label: x.tube for x in getattr(part, "samples", ())}
            self.views.append(AnimalView(a.id, k, own, a.config.stream, a.config.pump,
                                         describe(a.id, a.engine.params), tubes=tubes))
            link = EngineLink(a.engine, own, self, animal=a.id,
                              kinds=LEAD_KINDS if k == 0 else OTHER_KINDS)
            link.bridge.records.connect(
                lambda batch, who=a.id: self.model.add(self.merge.batch(who, batch)))
            link.state_changed.connect(self._on_animal_state)
            link.finished.connect(self._on_animal_done)
            self._links.append(link)
        self.state = State.IDLE
        self.done = False
        self.outcome: SharedRunOutcome | None = None
        self._started = False
        self._states: dict[str, str] = {}
        self._poll = QTimer(self)
        self._poll.setInterval(250)
        self._poll.timeout.connect(self._status)

    # -- what the window asks of a run -----------------------------------------------------

    @property
    def links(self) -> list[EngineLink]:
        return list(self._links)

    def targets(self, animal: str = "") -> list[EngineLink]:
        """The engines a request about ``animal`` goes to (``""``: every animal's)."""
        return [link for link in self._links if not animal or link.animal == animal]

    def view(self, animal: str) -> AnimalView | None:
        return next((v for v in self.views if v.id == animal), None)

    def route_alarm(self, animal: str, text: str) -> str | None:
        """The animal an alarm is about (``""``: every animal), or None when another
        animal's engine raised the same one about a shared instrument just now."""
        return self.alarm_routes.route(animal, text)

    @property
    def engine(self):
        """The first animal's engine (what a status page follows)."""
        return self._links[0].engine

    @property
    def spec(self):
        return self.engine.spec

    @property
    def lead_plan(self):
        """The first animal's own plan: its flow and syringe for the Rig panel."""
        return self.plan.animals[0].own

    @property
    def active(self) -> bool:
        return self._started and not self.done

    @property
    def paused(self) -> bool:
        return self.active and any(link.paused for link in self._links)

    def active_animals(self) -> list[str]:
        """The animals still on the rig (an abort can take them off)."""
        return [link.animal for link in self._links
                if not link.done and link.engine.state in (State.CHECKING, State.RUNNING,
                                                           State.PAUSED)]

    # -- starting --------------------------------------------------------------------------

    def start(self) -> None:
        """Show the run in the models and start every animal (returns at once)."""
        s = self.setup
        units = {p.name: p.unit for p in getattr(s.protocol, "parameters", ())}
        out = Path(s.out)
        wall = time.time()
        for view, part in zip(self.views, self.plan.animals, strict=True):
            engine = self.shared.animal(view.id).engine
            values = engine.params or {}
            parameters = {n: {"value": v, "unit": units.get(n, "")} for n, v in values.items()}
            view.model.reset(None, self.method, {
                "protocol": {"name": s.protocol.name, "parameters": parameters},
                "animal_id": view.id, "operator": s.operator,
                "path": str(engine.settings.out), "wall_start": wall,
                "offset_s": part.offset_s}, live=True)
        self.model.reset(LiveHistory(), self.method, {
            "protocol": {"name": s.protocol.name, "parameters": {}},
            "animal_id": ", ".join(v.id for v in self.views), "operator": s.operator,
            "path": str(out / "run.h5"), "wall_start": wall}, live=True)
        self.shared.start()
        self._started = True
        self._poll.start()
        self._on_animal_state()

    # -- requests --------------------------------------------------------------------------

    def pause(self) -> None:
        for link in self._links:
            if link.engine.state is State.RUNNING:
                link.pause()

    def resume(self) -> None:
        for link in self._links:
            if link.paused:
                link.resume()

    def abort(self, reason: str = "by the operator", animal: str | None = None) -> None:
        """Every animal, or ``animal`` alone off the rig (the others go on)."""
        self.shared.request_abort(reason, animal=animal or None)

    def answer(self, prompt_id: int, text: str, animal: str = "") -> None:
        for link in self.targets(animal)[:1]:
            link.answer(prompt_id, text)

    def mark(self, text: str) -> None:
        """A marker in every animal's file (one moment on the one rig)."""
        for link in self._links:
            if not link.done:
                link.mark(text)

    def request_flow(self, rate: float) -> None:
        self._links[0].refused.emit("each animal has its own pump: a flow change during a run "
                                    "of several animals is not made from the window")

    def acknowledge(self, alarm: str, animal: str = "", who: str = "operator") -> bool:
        """Record the acknowledgement in the file of ``animal`` (``""``: every animal's);
        False when none could take it."""
        results = [link.acknowledge(alarm, who) for link in self.targets(animal)]
        return any(results)

    def session_time(self) -> float:
        for link in self._links:
            t = link.session_time()
            if math.isfinite(t):
                return t
        return math.nan

    # -- observation -----------------------------------------------------------------------

    def _on_animal_state(self, *_: Any) -> None:
        if self.done:
            return
        states = {link.animal: link.engine.state for link in self._links}
        values = {a: s.value for a, s in states.items()}
        if values != self._states:
            self._states = values
            self.animal_states.emit(dict(values))
        state = aggregate(list(states.values()))
        if state is not self.state:
            self.state = state
            self.state_changed.emit(state)

    def status(self) -> Status:
        """The run as a whole: the first animal still running's step, every animal's samples,
        the last end, every animal's next steps (said with its animal)."""
        statuses = [(link.animal, link.engine.status()) for link in self._links]
        lead = next(((a, s) for a, s in statuses if s.state in ("running", "paused")),
                    statuses[0])
        s = dataclasses.replace(lead[1])
        s.state = self.state.value if self._started else s.state
        s.step = prefixed(lead[0], s.step) if s.step else ""
        s.samples_total = sum(x.samples_total for _, x in statuses)
        s.samples_done = sum(x.samples_done for _, x in statuses)
        ends = [x.ends_at for _, x in statuses if x.ends_at is not None]
        s.ends_at = max(ends) if ends else None
        etas = [x.eta_s for _, x in statuses if x.eta_s is not None]
        s.eta_s = max(etas) if etas else None
        s.duration_s = max(x.duration_s for _, x in statuses)
        s.paused_because = [prefixed(a, why) for a, x in statuses for why in x.paused_because]
        plans = {part.animal: part.own for part in self.plan.animals}
        s.upcoming = sorted((step for a, x in statuses
                             for step in upcoming(a, x, plans.get(a))), key=lambda u: u[0])
        s.prompt = None  # each animal's prompt is its own
        return s

    def _status(self) -> None:
        self._on_animal_state()
        self.status_changed.emit(self.status())

    def _on_animal_done(self, _outcome: Any) -> None:
        if self.done or not all(link.done for link in self._links):
            return
        self._poll.stop()
        self.done = True
        o = self.shared.outcome
        animals = dict(o.animals) if o is not None else {}
        failed = not animals or any(x.state is State.FAILED for x in animals.values())
        written = any(x.session is not None and Path(x.session).exists()
                      for x in animals.values())
        self.outcome = SharedRunOutcome(
            State.FAILED if failed else State.DONE, o.exit_code if o is not None else 1,
            o.message if o is not None else "stopped",
            Path(self.setup.out) if written else None,
            [alarm for x in animals.values() for alarm in x.alarms], animals)
        self.state = self.outcome.state
        self.animal_states.emit({link.animal: link.engine.state.value for link in self._links})
        self.finished.emit(self.outcome)

    def close(self) -> None:
        self._poll.stop()
        for link in self._links:
            link.close()
