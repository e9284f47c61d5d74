"""The protocol engine: checks a protocol, then runs it on a rig and keeps animal and data safe.

States: ``idle`` → ``checking`` (the dry run) → ``running`` ⇄ ``paused`` →
``stopping`` → ``done`` (or ``failed`` when it could not start or broke).
Every change is a ``state`` event in the session and goes to the state hook
and the subscribers.

Threads. The engine runs the protocol script on its own thread; only the
acquisition loop (``Recorder``) talks to the instruments; the analysis runs on
a session subscription's thread. A GUI button, Ctrl-C or the command line
never calls an instrument: they post requests (:meth:`Engine.request_pause`,
``request_resume``, ``request_abort``, ``answer``, ``request_flow``,
``mark``), as Bluesky's ``RunEngine.request_pause`` does.

Faults. A link fault on any instrument pauses the schedule (``alarm``), the
loop reconnects, and the schedule resumes when the instrument is back; a
pump alarm or a lost pump stops perfusion: the schedule pauses until the
operator resumes (``on_alarm="pause"``), or the pump is restarted at once
(``"continue"``: unattended runs), or the run is aborted (``"abort"``).
Abort — or any failure — puts every instrument in its declared safe state and
closes the session complete. A session write error (disk full) stops the run
the same way.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raphe.clock import MAX_SPEED, MIN_SPEED
from raphe.drivers.rig_file import MULTIPLE, role_of
from raphe.errors import InputError, RapheError
from raphe.files import new_file
from raphe.protocols.dryrun import check
from raphe.protocols.fault_policy import FaultPolicy
from raphe.protocols.guard import ScriptGuard
from raphe.protocols.live_backend import Control, LiveBackend
from raphe.protocols.parameters import ParameterError, Params, resolve
from raphe.protocols.plan import Plan
from raphe.protocols.protocol import Protocol
from raphe.protocols.protocol_run import ProtocolRun, Stopped
from raphe.protocols.requests import OperatorRequests
from raphe.protocols.rig_api import ProtocolRig
from raphe.protocols.rig_spec import (
    OpenRig,
    RigSpec,
    SimOptions,
    open_rig,
    spec_for,
    with_syringe,
)
from raphe.protocols.states import (
    EXIT_ABORTED,
    EXIT_AFFECTED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_WRITE_ERROR,
    ON_ALARM,
    Outcome,
    State,
    Status,
    allowed,
)
from raphe.records import Event, InstrumentState, LatestResults, PumpState, SampleResult

if TYPE_CHECKING:
    from raphe.acquisition.analysis.method import AnalysisMethod
    from raphe.acquisition.analysis.quantifier import LiveQuantifier
    from raphe.acquisition.recorder import Recorder
    from raphe.acquisition.session import Session, Subscription
    from raphe.clock import Clock
    from raphe.drivers.base import SyringePump
    from raphe.drivers.rig_file import Rig, SafeState
    from raphe.protocols.control import ControlServer

log = logging.getLogger(__name__)


#: The longest the engine waits for the acquisition loop to finish an instrument action at
#: the end of a run before it makes the rig safe anyway.
STOP_WAIT_S = 5.0
#: The longest (real seconds) the engine waits, after the last run's end on the clock, for
#: the detector's readings to reach that end.
DATA_WAIT_S = 10.0
#: Bytes a session stores per detector sample (signal, overload, pyramid, tables).
BYTES_PER_SAMPLE = 10.5


@dataclass
class Settings:
    """Everything about a run besides the protocol and its parameters."""

    out: Path
    rig_file: str | None = None
    sim: SimOptions | None = None
    method: AnalysisMethod | None = None
    operator: str = ""
    animal_id: str = ""
    notes: str = ""
    #: answer every prompt "yes" at once (simulated rig only)
    auto_answer: bool = False
    on_alarm: str = "pause"
    #: events to record when the clock reaches them (``--sim-dose`` doses, session time)
    scheduled: list[Event] = field(default_factory=list)
    #: µL in the syringe at the start (None: full)
    syringe_filled_uL: float | None = None
    #: what stopping the run is called and how it ends: "aborted" (exit 4) or "stopped"
    #: (``raphe record``'s Ctrl-C: the normal end of an open-ended recording, exit 0)
    stop_is_normal: bool = False


class Engine(OperatorRequests):
    """Runs one protocol once. ``check()`` is the dry run; ``start()`` runs it on a thread;
    ``run()`` does both and waits."""

    def __init__(self, protocol: Protocol, given: Mapping[str, Any], settings: Settings) -> None:
        if settings.on_alarm not in ON_ALARM:
            raise InputError(f"on_alarm must be one of {', '.join(ON_ALARM)}, "
                             f"got {settings.on_alarm!r}")
        self.protocol = protocol
        self.given = dict(given)
        self.settings = settings
        self.state = State.IDLE
        self.plan: Plan | None = None
        self.params: Params | None = None
        self.spec: RigSpec | None = None
        self.session: Session | None = None
        self.run_state: ProtocolRun | None = None
        self.backend: LiveBackend | None = None
        self.control: Control | None = None
        self.outcome: Outcome | None = None
        self.results = LatestResults()
        #: calibration fits written in the session, as ``SessionReader.calibration()`` has them
        self.fits: list[dict] = []
        self.alarms: list[str] = []
        self.on_state: Callable[[State], None] | None = None
        self._subscribers: list[Callable[[str, Any], None]] = []
        self._stream: list[tuple[Callable[[str, Any], None], tuple[str, ...]]] = []
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pending: list[tuple[str, Any]] = []  # requests before the run started
        self._opened: OpenRig | None = None
        self._write_error: BaseException | None = None
        self.faults = FaultPolicy(
            settings.on_alarm, control=lambda: self.control, set_state=self._set_state,
            alarm=self._raise_alarm, abort=self.request_abort,
            restart_pump=lambda: self._in_background(self._restart_pump,
                                                     "restarting the pump"))
        self._stop_requested = False
        self._quantifier: LiveQuantifier | None = None
        self._analysis: Subscription | None = None
        self._clock: Clock | None = None
        self._control_server: ControlServer | None = None
        self.recorder: Recorder | None = None

    # -- observation -----------------------------------------------------------------------

    def subscribe(self, callback: Callable[[str, Any], None]) -> None:
        """``callback(kind, payload)`` for ``state``, ``status``, ``step``, ``prompt``,
        ``prompt_answered``, ``alarm``, ``result``, ``injection``, ``done`` — called from the
        engine's threads (a GUI hands them to its own thread)."""
        self._subscribers.append(callback)

    def subscribe_stream(self, callback: Callable[[str, Any], None],
                         kinds: tuple[str, ...] = ("blocks", "injections", "events")) -> None:
        """Subscribe ``callback`` to the session's records as soon as the session exists."""
        self._stream.append((callback, kinds))

    def _notify(self, kind: str, payload: Any = None) -> None:
        for callback in list(self._subscribers):
            try:
                callback(kind, payload)
            except Exception:
                log.exception("engine subscriber failed on %s", kind)

    def _set_state(self, state: State, why: str = "") -> bool:
        """Go to ``state`` if the transition table allows it; True if the state changed."""
        with self._lock:
            if self.state is state:
                return False
            if not allowed(self.state, state):
                log.debug("state %s refused after %s (%s)", state.value, self.state.value, why)
                return False
            self.state = state
        if self.session is not None and not self.session.closed and self.session.error is None:
            try:
                self.session.add_event(Event(self.session_time(), "state",
                                             state.value + (f": {why}" if why else ""),
                                             "protocol"))
            except RapheError:
                pass
        if self.on_state is not None:
            try:
                self.on_state(state)
            except Exception:
                log.exception("state hook failed")
        self._notify("state", state)
        return True

    @property
    def opened(self) -> OpenRig | None:
        """The open rig while the run goes on (its simulator on the simulated rig)."""
        return self._opened

    def session_time(self) -> float:
        return self._clock.now() if self._clock is not None else 0.0

    def status(self) -> Status:
        """What the run is doing now (cheap; safe from any thread)."""
        run, plan = self.run_state, self.plan
        s = Status(state=self.state.value, alarms=list(self.alarms[-5:]))
        if plan is not None:
            s.samples_total = len(plan.samples)
            s.duration_s = plan.duration_s
        if run is not None:
            s.t = self.session_time()
            s.phase, s.step, s.line = run.phase, run.current, run.line
            s.samples_done = len(run.plan.samples)
            s.speed = self._clock.speed if self._clock is not None else 1.0
            active = self.state in (State.RUNNING, State.PAUSED)
            if self.control is not None and active:
                s.paused_because = self.control.pause_reasons
                delay = self.control.delay()
                if plan is not None and math.isfinite(plan.duration_s):
                    s.eta_s = max(0.0, plan.duration_s + delay - s.t)
                    s.ends_at = time.time() + s.eta_s / s.speed
                s.upcoming = self._upcoming(delay, s.t)
                s.step_left_s = max(0.0, run.t + delay - s.t) if run.t + delay > s.t else None
        if self.backend is not None:
            s.prompt = self.backend.open_prompt
        five_ht = [r for r in self.results if r.analyte == "5-HT"]
        s.latest = five_ht[-1] if five_ht else (self.results[-1] if self.results else None)
        return s

    #: Kinds of planned steps worth showing as "what comes next".
    NEXT_KINDS = ("collect", "inject", "standard", "drug", "perfusate", "prompt", "phase",
                  "pump", "suitability")

    def _upcoming(self, delay: float, now: float, n: int = 6) -> list[tuple[float, str, str]]:
        """The next ``n`` steps of the checked plan after session time ``now``, shifted by
        the schedule's delay (pauses so far)."""
        out = []
        for item in self.plan.timeline if self.plan is not None else ():
            t = item.t + delay
            if t > now and item.kind in self.NEXT_KINDS:
                out.append((t, item.kind, item.text))
                if len(out) >= n:
                    break
        return out

    # -- the dry run -----------------------------------------------------------------------

    def check(self) -> Plan:
        """The dry run on the rig this engine will use; refuses nothing but reports all."""
        self._set_state(State.CHECKING)
        method = self.settings.method
        try:
            self.spec, _ = spec_for(self.settings.rig_file, self.settings.sim)
            self.spec = with_syringe(self.spec, self.settings.syringe_filled_uL)
            self.params = resolve(self.protocol.parameters, self.given, file=self.protocol.path,
                                  lines=self.protocol.parameter_lines)
        except ParameterError as exc:
            self.plan = Plan(protocol=self.protocol.name)
            self.plan.errors.append(_issue(exc))
            self._set_state(State.FAILED, str(exc))
            return self.plan
        self.plan = check(self.protocol, self.given, self.spec,
                          run_length_s=method.run_length_s if method else None,
                          method_name=method.name if method else "",
                          drugs=[(e.t, e.text) for e in self.settings.scheduled
                                 if e.kind == "drug"])
        self._set_state(State.IDLE if self.plan.ok else State.FAILED)
        return self.plan

    # -- running ---------------------------------------------------------------------------

    def start(self) -> None:
        """Check (if not done), then run on the engine's thread. Raises :class:`InputError`
        (nothing opened, nothing created) when the protocol or the options are refused."""
        if self._thread is not None:
            raise RuntimeError("an engine runs its protocol once")
        plan = self.plan if self.plan is not None and self.state is State.IDLE else self.check()
        if not plan.ok:
            raise InputError("; ".join(str(e) for e in plan.errors))
        self._refuse_before_start(plan)
        self.control = None
        self._finished = threading.Event()
        self._thread = threading.Thread(target=self._main, name="raphe-engine", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """True once the run has ended. An Event, not ``Thread.join``: a Ctrl-C that
        interrupts a join can leave the thread looking finished while it still runs."""
        if self._thread is None:
            return True
        return self._finished.wait(timeout)

    def run(self) -> Outcome:
        self.start()
        while not self.wait(0.2):
            pass
        return self.outcome

    def _refuse_before_start(self, plan: Plan) -> None:
        s = self.settings
        new_file(s.out, "session")
        if s.auto_answer and s.sim is None:
            raise InputError("--yes answers the operator's prompts: it is for the simulated "
                             "rig only")
        if s.method is not None and not s.method.run_length_s:
            raise InputError(f"method {s.method.name}: run_length_s is needed to quantify "
                             "live (the length of each chromatogram)")
        if s.sim is not None and not MIN_SPEED <= s.sim.speed <= MAX_SPEED:
            raise InputError(f"the simulated clock's speed must be from {MIN_SPEED:g} to "
                             f"{MAX_SPEED:g} times real time, got {s.sim.speed:g}")
        if s.sim is not None:
            from raphe.protocols.rig_spec import simulated_region

            region = self.params.get("region") if self.params else None
            if region:  # one the virtual animal does not model: the dry run said so
                s.sim.region, _ = simulated_region(str(region))

    def _main(self) -> None:
        s = self.settings
        try:
            with open_rig(s.rig_file, s.sim) as opened:
                self._opened = opened
                self._run_on(opened)
        except Exception as exc:
            log.debug("run failed", exc_info=True)
            message = str(exc) if isinstance(exc, RapheError) else \
                f"{type(exc).__name__}: {exc}"
            if self.outcome is None:  # failed before the session existed: nothing created
                self.outcome = Outcome(State.FAILED, EXIT_REFUSED if self.session is None
                                       else EXIT_ABORTED, message, plan=self.plan,
                                       session=Path(s.out) if self.session else None,
                                       results=list(self.results), alarms=list(self.alarms))
            self._set_state(State.FAILED, message)
        finally:
            try:
                self._notify("done", self.outcome)
            finally:
                self._finished.set()

    def _run_on(self, opened: OpenRig) -> None:
        from raphe.acquisition.recorder import Recorder

        rig = opened.rig
        session = self._create_session(opened)
        failure: BaseException | None = None
        try:
            self._prepare_analysis(session)
            # Session time 0 is now: everything slow (imports, files) is done above.
            raw_t0 = opened.clock.now()
            clock = opened.clock.shifted(raw_t0)
            if opened.sim is not None:
                opened.sim.begin_session(raw_t0)
            recorder = Recorder(session, clock, rig.instruments(), listener=self._on_fault)
            self._attach(opened, rig, clock, recorder, opened.operator(raw_t0))
            recorder.start()
            self._execute(rig)
        except Exception as exc:
            failure = exc
            log.debug("run failed", exc_info=True)
        finally:
            self._stop_acquisition()
            report = rig.make_safe()
            self._close(session, rig, report, failure)

    def _create_session(self, opened: OpenRig, *, shared: dict | None = None) -> Session:
        """The session file, created (``shared``: the several-animal run it belongs to)."""
        from raphe.acquisition.session import Session

        s = self.settings
        rig = opened.rig
        interval = float(rig.detector.interval_s or opened.spec.interval_s or 0.1)
        scale = float(rig.detector.scale_nA_per_V or math.nan)
        self._warn_disk_space(interval)
        rig_info = {"text": opened.config.text, "identities": rig.identities(),
                    "name": opened.config.name, "fluidics": opened.config.fluidics}
        if shared:
            rig_info["shared"] = shared
        self.session = session = Session.create(
            s.out, operator=s.operator, animal_id=s.animal_id, notes=s.notes, rig=rig_info,
            protocol={"name": self.protocol.name, "source": self.protocol.source,
                      "sha256": self.protocol.sha256, "path": self.protocol.path,
                      "parameters": self.params.with_units()},
            method_toml=s.method.text if s.method else "",
            signal_dt=interval, scale_nA_per_V=scale, wall_start=time.time(),
            on_error=self._on_write_error)
        self._start_control(Path(s.out))
        return session

    def _prepare_analysis(self, session: Session) -> None:
        """The display's subscriptions and the live analysis on the new session."""
        s = self.settings
        for callback, kinds in self._stream:
            session.subscribe(callback, kinds, name="display")
        if s.method is None:
            return
        from raphe.acquisition.analysis.quantifier import LiveQuantifier

        def on_result(result: SampleResult) -> None:
            with self._lock:  # a revision replaces the result it revises
                self.results.add(result)
            session.add_result(result)
            self._notify("result", result)

        def on_calibration(t: float, analyte: str, fit: dict) -> None:
            self.fits.append({"t": t, "analyte": analyte, "fit": fit})
            session.add_calibration(t, analyte, fit)

        for analyte, fit in s.method.initial_fits():  # calibrations from elsewhere
            on_calibration(0.0, analyte, fit)
        for record in s.method.recovery.values():
            session.add("recovery", record)
        self._method_warnings: set[str] = set()
        self._quantifier = LiveQuantifier(
            s.method, on_result=on_result, on_calibration=on_calibration,
            on_reference=lambda r: session.add("baseline", r),
            on_chromatogram=lambda c: (self._check_method(session, c),
                                       self._notify("chromatogram", c)))
        self._analysis = session.subscribe(self._quantifier.feed, name="analysis")

    def _check_method(self, session: Session, closed: Any) -> None:
        """The method's settings checked against each chromatogram as it closes: each kind
        of warning once, an ``info`` event of the analysis (``method_check``)."""
        from raphe.acquisition.analysis.method_check import check

        try:
            warnings = check(self.settings.method, closed.result)
        except Exception as exc:  # noqa: BLE001 - a check never stops the analysis
            log.warning("method check of %s failed: %s", closed.sample_id, exc)
            return
        for text in warnings:
            kind = re.sub(r"\d+(\.\d+)?", "#", text)
            if kind in self._method_warnings or session.closed or session.error is not None:
                continue
            self._method_warnings.add(kind)
            session.add_event(Event(closed.inject_t, "info",
                                    f"method check ({closed.sample_id}): {text}", "analysis"))

    def _attach(self, opened: OpenRig, rig: Rig, clock: Clock, recorder: Recorder,
                operator: Any, spec: RigSpec | None = None, **backend: Any) -> None:
        """The run's clock, controls, backend and protocol run on ``rig`` (this animal's
        view of the rig and ``spec`` when several share it; ``backend``: its tables and the
        HPLC)."""
        s = self.settings
        session = self.session
        self._clock = clock
        self.control = control = Control(clock, on_span=self._pause_span)
        self.recorder = recorder
        for event in sorted(s.scheduled, key=lambda e: e.t):
            recorder.at(event.t, lambda e=event: session.add_event(e))
        self.backend = LiveBackend(
            session=session, recorder=recorder, rig=rig, control=control, clock=clock,
            operator=operator, simulated=opened.spec.animal, auto_answer=s.auto_answer,
            notify=self._notify, **backend)
        self.backend.analysis_inputs = self._analysis_inputs if self._quantifier else None
        run = ProtocolRun(self.protocol, self.params, with_syringe(spec or opened.spec,
                                                                 s.syringe_filled_uL),
                          self.backend,
                          run_length_s=s.method.run_length_s if s.method else None,
                          method_name=s.method.name if s.method else "")
        run.on_step = lambda r: self._notify("status", self.status())
        self.run_state = run

    def _execute(self, rig: Rig, offset_s: float = 0.0, *, valve: bool = True) -> None:
        """Run the script from now (``offset_s`` later: an animal's slot); known positions
        first (the valve's unless another runs it: ``valve``)."""
        control, backend, run, clock = self.control, self.backend, self.run_state, self._clock
        control.offset = clock.now() + offset_s  # the schedule starts now
        self._apply_pending()
        self._set_state(State.RUNNING)
        try:
            # Known positions first; an abort (or SIGTERM) interrupts even an instrument
            # that stays busy here for ever.
            if valve and rig.valve is not None:
                backend.start_position("valve", rig.valve.load, "valve to LOAD", "LOAD")
            if rig.collector is not None:
                backend.start_position("collector", rig.collector.to_drain,
                                       "collector to drain", "drain")
            guard = ScriptGuard(self.protocol.path, stop=lambda: Stopped(
                control.abort_reason or "stopped") if control.abort.is_set() else None)
            run.execute(ProtocolRig(run), guard)
        except Stopped:
            return
        # The sample just injected is finished, whatever ended the script.
        self._finish_last_run(run, control, clock)
        if run.plan.errors:
            raise RapheError("; ".join(str(e) for e in run.plan.errors))

    def _finish_last_run(self, run: ProtocolRun, control: Control, clock: Clock) -> None:
        """After the script: let the last chromatogram run to its end."""
        run_length = run.run_length_s or 0.0
        if run.last_inject_at is None or not run_length:
            return
        interval = float(self.session_dt())
        end = run.last_inject_at + run_length + 2 * interval
        while clock.now() < end and not control.abort.is_set():
            clock.sleep_until(min(end, clock.now() + 0.5 * clock.speed),
                              control.abort)
        # The detector's readings reach the session a little after the clock (a read period;
        # on a scaled clock that is many session seconds): the run is complete when they
        # cover its end. A detector that has gone quiet ends the wait (its gap is recorded).
        session, deadline = self.session, time.monotonic() + DATA_WAIT_S
        while (session is not None and session.data_t_end < end - interval
               and time.monotonic() < deadline and not control.abort.is_set()):
            control.abort.wait(0.02)

    def _analysis_inputs(self, wait_s: float = 30.0) -> tuple[list, list, list]:
        """Injections, results and fits of the live analysis once no standard's run is open
        (waiting at most ``wait_s`` real seconds; abort interrupts)."""
        from raphe.acquisition.analysis.calibration import parse_standard_kind

        q, control = self._quantifier, self.control
        deadline = time.monotonic() + wait_s

        def stop() -> bool:
            return time.monotonic() > deadline or (control is not None
                                                   and control.abort.is_set())

        def settle() -> None:
            """Let the analysis handle every record queued so far (the last injection, the
            results of a run it is closing)."""
            if self._analysis is None:
                return
            done = threading.Event()
            self._analysis.call(done.set)
            while not done.wait(0.05) and not stop():
                pass

        settle()
        while any(parse_standard_kind(i.kind) is not None for i in q.open_runs):
            if stop():
                break
            time.sleep(0.05)
        settle()
        injections = list(q.closed) + q.open_runs
        with self._lock:
            results = list(self.results)
        return injections, results, list(self.fits)

    def _pause_span(self, start: float, end: float, reasons: list[str]) -> None:
        """A pause ended: its span is an event (drawn on the trace, listed by inspect)."""
        session = self.session
        if session is None or session.closed or session.error is not None:
            return
        try:
            session.add_event(Event(start, "pause", "; ".join(reasons), "protocol", end))
        except RapheError:
            pass

    def session_dt(self) -> float:
        return float(self._opened.rig.detector.interval_s or 0.1)

    def _stop_acquisition(self) -> None:
        """Stop acquisition (when this run owns it) and finish the analysis."""
        self._set_state(State.STOPPING)
        if self.recorder is not None and self.recorder.session is self.session:
            self.recorder.stop(timeout=STOP_WAIT_S)
        self._finish_analysis()

    def _finish_analysis(self) -> None:
        session = self.session
        if self._quantifier is not None and self._analysis is not None and session.error is None:
            self._analysis.call(self._quantifier.finish)
            session.unsubscribe(self._analysis)
            self._analysis = None

    def _close(self, session: Session, rig: Rig, report: list[SafeState],
               failure: BaseException | None, tables: dict[str, str] | None = None) -> None:
        """Record the instruments' final states (``report``: the rig made safe; ``tables``:
        this animal's tables → roles when several share it), end and close the file."""
        self._set_state(State.STOPPING)
        unsafe = self._record_safe(session, rig, report, tables)
        control = self.control
        aborted = control is not None and control.abort.is_set()
        final = State.DONE
        if self._write_error is not None:
            code, message = EXIT_WRITE_ERROR, self._write_error_message(session)
            final, end = State.FAILED, ("ended on fault", message)
        elif failure is not None:
            reason = str(failure) if isinstance(failure, RapheError) else \
                f"{type(failure).__name__}: {failure}"
            code, message, final = EXIT_ABORTED, f"stopped by an error: {reason}", State.FAILED
            end = ("ended on fault", reason)
            self._event("alarm", message, "protocol")
        elif aborted and not (self.settings.stop_is_normal and self._stop_requested):
            code, message = EXIT_ABORTED, f"aborted: {control.abort_reason}"
            end = ("aborted", control.abort_reason)
        elif self.faults.counts.perfusion_lost or self.faults.counts.gaps:
            code, message = EXIT_AFFECTED, "completed; faults affected samples (see alarms)"
            end = ("completed", "faults affected samples (see alarms)")
        else:
            code, message = EXIT_OK, "completed" if not aborted else "stopped"
            end = (message, "")
        if unsafe:
            message += f"; NOT in the safe state: {'; '.join(unsafe)}"
            if code == EXIT_OK:
                code = EXIT_AFFECTED
        if session.error is None:
            if control is not None:
                control.end_span()
            self._event("end", end[0] + (f": {end[1]}" if end[1] else ""), "protocol")
            self._set_state(final, message)
            try:
                session.close(end_reason=end[0], end_detail=end[1])
            except RapheError as exc:
                code, message, final = EXIT_WRITE_ERROR, str(exc), State.FAILED
        else:
            try:
                session.close()
            except RapheError:
                pass
        if self._control_server is not None:
            self._control_server.close()
        run = self.run_state
        self.outcome = Outcome(final, code, message, session=Path(self.settings.out),
                               plan=self.plan, results=list(self.results),
                               samples=len(run.plan.samples) if run else 0,
                               injections=run.plan.injections if run else 0,
                               alarms=list(self.alarms))
        self._set_state(final, message)

    def _start_control(self, out: Path) -> None:
        """Listen for ``raphe control`` requests beside the session (never fails the run)."""
        from raphe.protocols.control import ControlServer, socket_path

        server = ControlServer(self, socket_path(out))
        try:
            server.start()
        except (OSError, RapheError) as exc:
            log.warning("no control channel (%s): the run is controlled from here only", exc)
            return
        self._control_server = server

    def _record_safe(self, session: Session, rig: Rig, report: list[SafeState],
                     tables: dict[str, str] | None = None) -> list[str]:
        """Every instrument's final state (made safe, read back) as a row of its table (the
        pump's in ``pump``, the others' in ``instruments``); with ``tables`` (an animal's:
        table → role) another animal's instruments are left out. Returns what is not safe,
        one text per instrument."""
        t = self.session_time()
        unsafe = []
        for item in report:
            if tables is not None:
                if role_of(item.role) in MULTIPLE and item.role not in tables:
                    continue  # another animal's pump or collector
                item = dataclasses.replace(item, role=tables.get(item.role, item.role))
            if not item.safe:
                text = f"{item.role}: {item.problem or item.state}"
                unsafe.append(text)
                self._raise_alarm(f"safe state: {text}")
                self._event("alarm", f"safe state: {text}", "instrument")
            if session.error is not None or session.closed:
                continue
            try:
                if item.role == "pump":
                    session.add_pump_state(_final_pump_state(rig.pump, t, item))
                else:
                    detail = "safe" if item.safe else f"NOT safe: {item.problem}"
                    session.add("instruments", InstrumentState(t, item.role, item.state,
                                                               detail))
            except RapheError:
                pass
        return unsafe

    def _write_error_message(self, session: Session) -> str:
        last = session.last_flush
        when = time.strftime("%H:%M:%S", time.localtime(last)) if last else "its start"
        error = self._write_error
        reason = (error.strerror if isinstance(error, OSError) else None) or str(error)
        return (f"the session file could not be written ({reason}); acquisition stopped and "
                f"the instruments are in their safe state; {session.path} keeps everything up "
                f"to its last flush at {when}")

    # -- faults ----------------------------------------------------------------------------

    def _raise_alarm(self, text: str) -> None:
        """An alarm for whoever watches the run (console, window) and for its outcome."""
        self.alarms.append(text)
        self._notify("alarm", text)

    def _on_fault(self, kind: str, role: str, text: str) -> None:
        """The recorder's listener: the fault policy decides (a write error stops the run
        through the session's own handler)."""
        if kind != "write_error":
            self.faults(kind, role, text)

    def _on_write_error(self, exc: BaseException) -> None:
        self._write_error = exc
        if self.control is not None:
            self.control.request_abort("the session file could not be written")
        if self.recorder is not None:
            self.recorder.request_stop()

    def _warn_disk_space(self, interval: float) -> None:
        plan = self.plan
        if plan is None or not math.isfinite(plan.duration_s) or plan.duration_s <= 0:
            return
        need = plan.duration_s / interval * BYTES_PER_SAMPLE + 1_000_000
        folder = Path(self.settings.out).parent
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            return
        if free < need:
            text = (f"only {free / 1e6:.1f} MB free in {folder}; this session needs about "
                    f"{need / 1e6:.1f} MB")
            log.warning(text)
            self._raise_alarm(text)


def _final_pump_state(pump: SyringePump, t: float, item: SafeState) -> PumpState:
    """The pump's last row: as read back after the safe state (unknown when it cannot be)."""
    try:
        infused, _ = pump.dispensed_uL()
        return PumpState(t, pump.rate_uL_min(), infused, item.state)
    except Exception:  # noqa: BLE001 - the pump may be gone: its state is unknown
        return PumpState(t, math.nan, math.nan, item.state if item.safe else "unknown")


def _issue(exc: ParameterError):
    from raphe.protocols.plan import Issue

    return Issue(exc.bare, exc.file, exc.line)
