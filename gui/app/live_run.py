"""A live run in the window: the protocol engine, its bridge to the GUI thread, and the
requests the panels post to it (:class:`EngineLink`, one per engine; a run of several
animals has one per animal, see :mod:`raphe.gui.app.shared_live_run`).

The engine runs the protocol on its own thread and the acquisition loop on
another; the window only posts requests (pause, resume, abort, answer, flow,
marker) and observes: engine events and the session's records come through one
:class:`~raphe.gui.app.bridge.Bridge`; the cheap ``engine.status()`` snapshot is
polled by a timer for the progress display. The requests themselves (but abort,
which only raises a flag) are made on a worker thread, one after the other in the
order posted, so the window never waits for an instrument even where a request
does (a resume that restarts the pump); a refused request comes back as
``refused(message)``.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from raphe.acquisition.analysis.method import load_live_method as load_method
from raphe.errors import InputError
from raphe.gui.app.bridge import Bridge
from raphe.gui.app.history import LiveHistory
from raphe.protocols.engine import Engine, Settings, State
from raphe.protocols.rig_spec import SimOptions

log = logging.getLogger(__name__)

#: The session records the window follows during a run. The window analyses nothing
#: itself: results, references and each closed chromatogram come from the engine's one
#: live analysis.
STREAM_KINDS = ("blocks", "injections", "events", "pump", "fractions", "results", "baseline",
                "calibration", "suitability")
ACTIVE = (State.CHECKING, State.RUNNING, State.PAUSED, State.STOPPING)


@dataclass
class RunSetup:
    """Everything the protocol panel collects to start a run."""

    protocol: Any  # raphe.protocols.protocol.Protocol
    given: dict[str, Any]
    out: Path
    rig_file: str | None = None  # None: the simulated rig
    speed: float = 1.0
    seed: int = 0
    method: str | None = None  # bundled name or file; None: record only
    operator: str = ""
    animal_id: str = ""
    notes: str = ""
    auto_answer: bool = False
    on_alarm: str = "pause"
    #: several animals on one HPLC: each animal's parameters (``given`` then holds what
    #: they share), and ``out`` is the folder of their files
    animals: dict[str, dict[str, Any]] | None = None
    #: the simulated HPLC's assay ("fast" lets several animals share it)
    assay: str = "standard"

    @property
    def simulated(self) -> bool:
        return self.rig_file is None

    @property
    def shared(self) -> bool:
        """A run of several animals on one HPLC (a :class:`SharedEngine`)."""
        return self.animals is not None

    def settings(self, method: Any = None) -> Settings:
        sim = SimOptions(speed=self.speed, seed=self.seed, assay=self.assay) \
            if self.simulated else None
        return Settings(out=Path(self.out), rig_file=self.rig_file, sim=sim, method=method,
                        operator=self.operator, animal_id=self.animal_id, notes=self.notes,
                        auto_answer=self.auto_answer, on_alarm=self.on_alarm)


class EngineLink(QObject):
    """One engine as the window sees it: its records and events brought to the GUI thread
    (into ``model``), the requests posted to it in order on a worker thread, its status
    polled. A run of one animal is one link; a run of several has one per animal
    (``animal`` is then its id)."""

    state_changed = Signal(object)  # State
    status_changed = Signal(object)  # raphe.protocols.engine.Status
    prompt_raised = Signal(object)  # raphe.protocols.live_backend.Prompt
    prompt_closed = Signal(object)
    alarm_raised = Signal(str)
    refused = Signal(str)  # a request the engine refused, and why
    finished = Signal(object)  # raphe.protocols.engine.Outcome

    def __init__(self, engine: Engine, model, parent: QObject | None = None, *,
                 animal: str = "", kinds: tuple[str, ...] = STREAM_KINDS) -> None:
        super().__init__(parent)
        self.engine = engine
        self.model = model
        self.animal = animal
        self.done = False
        self.outcome = None
        self.bridge = Bridge(self)
        self.engine.subscribe(self._on_engine_thread)
        self.engine.subscribe(self.bridge.post_engine)
        self.engine.subscribe_stream(self._on_stream, kinds=kinds)
        self.bridge.records.connect(model.add)
        self.bridge.engine_event.connect(self._on_engine)
        self._poll = QTimer(self)
        self._poll.setInterval(250)
        self._poll.timeout.connect(self._status)
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._serve, name="raphe-gui-requests",
                                        daemon=True)
        self._worker.start()

    @property
    def links(self) -> list[EngineLink]:
        """The engines of the run: this one."""
        return [self]

    @property
    def active(self) -> bool:
        """The engine runs (or is stopping): closing the window must ask first."""
        return not self.done and self.engine.state in ACTIVE

    @property
    def paused(self) -> bool:
        return not self.done and self.engine.state is State.PAUSED

    def targets(self, animal: str = "") -> list[EngineLink]:
        """The engines a request about ``animal`` goes to (one animal: this one)."""
        return [self]

    # -- requests (return at once; made in order on the worker thread) ---------------------

    def _post(self, fn: Callable, *args) -> None:
        self._requests.put((fn, args))

    def _serve(self) -> None:
        while True:
            item = self._requests.get()
            if item is None:
                return
            fn, args = item
            try:
                fn(*args)
            except InputError as exc:
                self.bridge.post_engine("refused", str(exc))
            except Exception as exc:
                log.exception("request %s", getattr(fn, "__name__", fn))
                self.bridge.post_engine("refused", f"{type(exc).__name__}: {exc}")

    def pause(self) -> None:
        self._post(self.engine.request_pause, "operator")

    def resume(self) -> None:
        self._post(self.engine.request_resume)

    def abort(self, reason: str = "by the operator") -> None:
        """At once, not behind other requests: it only sets the engine's abort flag."""
        self.engine.request_abort(reason)

    def answer(self, prompt_id: int, text: str) -> None:
        self._post(self.engine.answer, prompt_id, text)

    def request_flow(self, rate: float) -> None:
        """Change the flow; ``refused`` says so when the pump cannot drive the syringe at
        ``rate`` (or the run has not started)."""
        self._post(self.engine.request_flow, rate)

    def mark(self, text: str) -> None:
        self._post(self.engine.mark, text)

    def acknowledge(self, alarm: str, who: str = "operator") -> bool:
        """Record that the operator saw a loud alarm (an event and an audit entry, with the
        time); False when the session is closed already (nothing can be recorded)."""
        session = self.engine.session
        if self.done or session is None or session.closed:
            return False
        self._post(self.engine.acknowledge, alarm, who)
        return True

    def session_time(self) -> float:
        """The run's session time now (NaN before it started)."""
        try:
            return float(self.engine.session_time()) if self.engine.session else math.nan
        except Exception:  # noqa: BLE001 - a clock being torn down: not known
            return math.nan

    # -- observation -----------------------------------------------------------------------

    def _on_stream(self, kind: str, record: Any) -> None:
        """A session subscription's thread: hand the record over."""
        self.bridge.post(kind, record)

    def _on_engine_thread(self, kind: str, payload: Any) -> None:
        """The engine's threads: a closed chromatogram goes with the records, in order."""
        if kind == "chromatogram":
            self.bridge.post("chromatograms", payload)

    def _status(self) -> None:
        self.status_changed.emit(self.engine.status())

    def _on_engine(self, kind: str, payload: Any) -> None:
        if kind == "state":
            self.state_changed.emit(payload)
        elif kind == "status":
            self.status_changed.emit(payload)
        elif kind == "prompt":
            self.prompt_raised.emit(payload)
        elif kind == "prompt_answered":
            self.prompt_closed.emit(payload)
        elif kind == "alarm":
            self.alarm_raised.emit(str(payload))
        elif kind == "refused":
            self.refused.emit(str(payload))
        elif kind == "done":
            self._finish(payload)

    def _finish(self, outcome) -> None:
        if self.done:
            return
        self.bridge.drain()
        self._poll.stop()
        self.done = True
        self.outcome = outcome
        self.status_changed.emit(self.engine.status())
        self.finished.emit(outcome)

    def close(self) -> None:
        self._poll.stop()
        self._requests.put(None)
        self.bridge.stop()


class LiveRun(EngineLink):
    """One run of one protocol, shown in ``model``. Raises :class:`InputError` when the
    protocol or the options are refused (nothing is opened then)."""

    def __init__(self, setup: RunSetup, model, parent: QObject | None = None) -> None:
        method = load_method(setup.method)
        engine = Engine(setup.protocol, setup.given, setup.settings(method))
        plan = engine.check()
        if not plan.ok:
            raise InputError(str(plan.errors[0]))
        super().__init__(engine, model, parent)
        self.setup = setup
        self.method = method
        self.plan = plan

    @property
    def lead_plan(self):
        """The plan whose flow, tubes and timeline the rig panel and the next strip show."""
        return self.plan

    # -- starting --------------------------------------------------------------------------

    def start(self) -> None:
        """Show the run in the model and start it (returns at once; the rig opens on the
        engine's thread)."""
        s = self.setup
        units = {p.name: p.unit for p in getattr(s.protocol, "parameters", ())}
        values = getattr(self.plan, "parameters", None) or {}
        parameters = {name: {"value": value, "unit": units.get(name, "")}
                      for name, value in values.items()}
        self.model.reset(LiveHistory(), self.method, {
            "protocol": {"name": s.protocol.name, "parameters": parameters},
            "animal_id": s.animal_id, "operator": s.operator, "path": str(s.out),
            "wall_start": time.time()}, live=True)
        self.engine.start()
        self._poll.start()

    @property
    def spec(self):
        return self.engine.spec

    # -- what the window asks of any run (one animal here; see SharedLiveRun) ---------------

    @property
    def views(self) -> list:
        """Each animal's own view of a run of several: none for one animal."""
        return []

    def view(self, animal: str) -> None:
        return None

    def active_animals(self) -> list[str]:
        """The animals on the rig: one, unnamed, while the run is active."""
        return [self.animal] if self.active else []

    def route_alarm(self, animal: str, text: str) -> str:
        """The animal an alarm is about: the one there is."""
        return animal

    def abort(self, reason: str = "by the operator", animal: str | None = None) -> None:
        super().abort(reason)

    def answer(self, prompt_id: int, text: str, animal: str = "") -> None:
        super().answer(prompt_id, text)

    def acknowledge(self, alarm: str, animal: str = "", who: str = "operator") -> bool:
        return super().acknowledge(alarm, who)
