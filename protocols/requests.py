"""What other threads post to a running protocol: the operator's requests.

A GUI button, Ctrl-C, ``raphe control`` or the status page never call an instrument: they
post a request (pause, resume, abort, an answer, a flow change, a marker) to the engine, as
Bluesky's ``RunEngine.request_pause`` does, and return at once. Requests that arrive before
the run has started are queued and applied when it starts. A request that has to wait on
the acquisition loop (a flow change, a pump restart) is done on a worker thread; its failure
becomes an alarm.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from raphe.errors import InputError, RapheError
from raphe.protocols.protocol_run import Stopped
from raphe.protocols.states import State
from raphe.records import Event

if TYPE_CHECKING:
    from raphe.acquisition.session import Session
    from raphe.protocols.live_backend import Control, LiveBackend
    from raphe.protocols.protocol_run import ProtocolRun


class OperatorRequests:
    """The engine's request methods (a mix-in of :class:`~raphe.protocols.engine.Engine`)."""

    control: Control | None
    backend: LiveBackend | None
    run_state: ProtocolRun | None
    session: Session | None
    _lock: threading.Lock
    _pending: list[tuple[str, tuple]]
    _stop_requested: bool

    # provided by the engine
    def _set_state(self, state: State, why: str = "") -> bool: ...
    def _raise_alarm(self, text: str) -> None: ...
    def _notify(self, kind: str, payload: Any = None) -> None: ...
    def session_time(self) -> float: ...
    def status(self) -> Any: ...

    def _apply_pending(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        for name, arg in pending:
            getattr(self, name)(*arg)

    def _later(self, name: str, *args: Any) -> bool:
        """Queue a request that arrives before the run has started; True if queued."""
        with self._lock:
            if self.control is None:
                self._pending.append((name, args))
                return True
        return False

    def request_pause(self, reason: str = "operator") -> None:
        """Hold the schedule; perfusion and acquisition go on."""
        if self._later("request_pause", reason):
            return
        self.control.pause("operator", f"paused by the {reason}")
        self._event("step", f"paused by the {reason}", "operator")
        self._set_state(State.PAUSED, reason)

    def request_resume(self) -> None:
        """Resume the schedule (after a perfusion alarm, the pump restarts first)."""
        if self._later("request_resume"):
            return
        control = self.control
        if control.has("perfusion"):
            self._in_background(self._restart_pump, "restarting the pump")
        control.resume("operator")
        control.resume("perfusion")
        self._event("step", "resumed by the operator", "operator")
        if not control.paused:
            self._set_state(State.RUNNING, "resumed")

    def request_abort(self, reason: str = "operator") -> None:
        """Stop now: every instrument to its safe state, the session closed complete."""
        with self._lock:
            self._stop_requested = True
            if self.control is None:
                self._pending.append(("request_abort", (reason,)))
                return
        self.control.request_abort(reason)
        self._set_state(State.STOPPING, reason)

    def answer(self, prompt_id: int, text: str = "yes", who: str = "operator") -> bool:
        """Answer the operator prompt ``prompt_id``."""
        backend = self.backend
        return backend is not None and backend.answer(prompt_id, text, who)

    def request_flow(self, rate_uL_min: float, who: str = "operator",
                     why: str = "changed during the run") -> None:
        """Change the perfusion flow (checked against the syringe at once, raising
        :class:`InputError`; applied through the run, which records a ``flow`` event, and
        in the audit). Returns without waiting for the pump."""
        run, backend = self.run_state, self.backend
        if run is None or backend is None:
            raise InputError("the run has not started")
        run.check_flow(rate_uL_min)

        def change() -> None:
            previous = run.set_rate
            run.change_flow(rate_uL_min, who, why)
            self.session.add_audit(who, f"flow set to {rate_uL_min:g} µL/min",
                                   f"{previous:g} µL/min" if previous else "",
                                   self.session_time())
            self._notify("status", self.status())

        self._in_background(change, f"setting the flow to {rate_uL_min:g} µL/min")

    def _in_background(self, fn: Callable[[], None], what: str) -> None:
        """Do ``fn`` (which waits on the acquisition loop) off the caller's thread: a GUI or a
        signal handler never waits on an instrument. A failure becomes an alarm."""
        def work() -> None:
            try:
                fn()
            except (RapheError, Stopped) as exc:
                self._raise_alarm(f"{what}: {exc}")

        threading.Thread(target=work, name="raphe-request", daemon=True).start()

    def mark(self, text: str, who: str = "operator") -> None:
        """A marker at the current time."""
        self._event("marker", text, "operator")
        if self.session is not None:
            self.session.add_audit(who, f"marker: {text}", "", self.session_time())

    def acknowledge(self, alarm: str, who: str = "operator") -> None:
        """The operator saw a loud alarm: recorded with its time (an event and the audit)."""
        self._event("alarm", f"acknowledged by the {who}: {alarm}", "operator")
        if self._session_open():
            try:
                self.session.add_audit(who, f"acknowledged alarm: {alarm}", "",
                                       self.session_time())
            except RapheError:
                pass

    def record_event(self, kind: str, text: str, source: str = "operator") -> None:
        """Record an event in the running session (a front end's note: a status page that
        stopped, a notification not delivered); nothing when no session is open."""
        self._event(kind, text, source)

    def _session_open(self) -> bool:
        s = self.session
        return s is not None and s.error is None and not s.closed

    def _event(self, kind: str, text: str, source: str) -> None:
        if self._session_open():
            try:
                self.session.add_event(Event(self.session_time(), kind, text, source))
            except RapheError:
                pass

    def _restart_pump(self) -> None:
        """Restart infusion at the set rate (the alarm was acknowledged by being reported)."""
        run = self.run_state
        if run is None or run.set_rate is None or not run.perfusing:
            return
        run.change_flow(run.set_rate, "raphe", "pump restarted after perfusion stopped")
