"""The recorder: the one acquisition loop between the instruments and the session.

During a run one thread talks to the instruments: this loop. It drains the
detector into the session, polls the pump, runs the actions others submit
(a valve switch, a tube move, a flow change: :meth:`Recorder.do`) and the
timed ones (:meth:`Recorder.at`), one at a time, so no two commands ever
interleave on an instrument.

Faults are data and never end acquisition on their own:

* a link fault (``Disconnected``, ``InstrumentTimeout``, ``ProtocolError``) on
  any instrument records an ``alarm`` event, marks the instrument down and
  retries its ``reconnect()`` every ``retry_every_s`` (real seconds) while
  everything else goes on; once back, an ``alarm`` event says so and a
  pending action is completed — after asking ``verify()`` whether it already
  took effect, so nothing is done twice;
* detector readings that never arrive become a ``gap`` event with its span;
* a pump alarm (stall, empty syringe), or a pump unreachable for longer than
  ``pump_lost_after_s``, is a ``perfusion`` event ``stopped …``; the pump
  infusing again is ``restored``;
* a session write error (disk full) stops the loop.

A listener (the protocol engine) hears of every fault and recovery, to
pause and resume its schedule. :meth:`stop` drains the last samples and
stops the detector; it does not close the session.
"""

from __future__ import annotations

import bisect
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import Any

from raphe.acquisition.session import Session, SessionError
from raphe.drivers.base import Detector, Instrument, PumpStatus, SyringePump
from raphe.errors import InputError, InstrumentAlarm, InstrumentError, RapheError
from raphe.records import Event, PumpState

log = logging.getLogger(__name__)

#: Errors that mean "the link failed": retry the connection, then the action. (Drivers raise
#: ``InstrumentError``; an ``OSError`` that slips through is a lost link too.)
LINK_ERRORS = (InstrumentError, OSError)


@dataclass
class _Action:
    role: str | None
    fn: Callable[[], Any]
    verify: Callable[[], bool] | None
    future: Future
    what: str = ""
    failed_once: bool = False


@dataclass(order=True)
class _Timed:
    t: float
    order: int
    action: _Action = field(compare=False)


def _settle(future: Future, result: Any = None, error: BaseException | None = None) -> None:
    """Complete ``future`` unless it was cancelled meanwhile."""
    try:
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)
    except InvalidStateError:
        pass


def _counter_at(history: list[tuple[float, float, float, PumpStatus]],
                t: float) -> float | None:
    """The pump's infused-volume counter at session time ``t`` from its polls."""
    i = bisect.bisect_right([h[0] for h in history], t) - 1
    if i < 0:
        return None
    t0, v0, rate, status = history[i]
    if i + 1 < len(history):
        t1, v1 = history[i + 1][:2]
        if v1 < v0:  # the counter was reset between the two polls
            return None
        return v0 + (v1 - v0) * (t - t0) / (t1 - t0) if t1 > t0 else v0
    return v0 + (rate * (t - t0) / 60.0 if status is PumpStatus.INFUSING else 0.0)


class Aborted(RapheError):
    """The recording stopped before the action could run."""


@dataclass
class _PumpWatch:
    """One pump's perfusion as the loop sees it, and the session its records go to."""

    table: str  # its rig-file table: "pump", or another animal's "pump_2"
    pump: SyringePump
    session: Session
    ok_at: float = field(default_factory=time.monotonic)  # real time it last answered
    next_poll: float = -math.inf  # clock time of its next poll
    perfusing: bool | None = None  # None until the pump was told to infuse
    lost: str | None = None  # why perfusion stopped, while it is stopped
    last: PumpState | None = None
    #: (t, infused µL, rate µL/min, status) of recent polls, for delivered volumes
    dispensed: deque = field(default_factory=lambda: deque(maxlen=4096))


class Recorder:
    """The acquisition loop over ``instruments`` (role → instrument; a detector required).

    ``poll_s``: how often (clock seconds) the detector is drained, but not faster
    than ``min_real_poll_s`` of real time; ``pump_every_s``: how often (clock
    seconds, at least ``min_real_pump_s`` real) the pump is polled.
    ``listener(kind, role, text)`` is told ``fault``, ``recovered``, ``incident`` (a fault
    the driver got over by itself), ``gap``, ``perfusion_stopped``, ``perfusion_restored``
    and ``write_error``.

    Several animals on one HPLC: every pump in ``instruments`` (``pump``, ``pump_2`` …) is
    polled and watched; the detector's readings and the shared instruments' faults go to
    ``session`` and every session in ``also``; an instrument in ``routes`` (an animal's pump
    or collector → its session) has its records and faults in that session only.
    """

    def __init__(self, session: Session, clock: Any, instruments: dict[str, Instrument], *,
                 poll_s: float = 0.2, pump_every_s: float = 10.0, min_real_poll_s: float = 0.05,
                 min_real_pump_s: float = 0.5, retry_every_s: float = 1.0,
                 pump_lost_after_s: float = 30.0, start_detector: bool = True,
                 listener: Callable[[str, str, str], None] | None = None,
                 also: Sequence[Session] = (),
                 routes: Mapping[str, Session] | None = None) -> None:
        detector = instruments.get("detector")
        if not isinstance(detector, Detector):
            raise InputError("the rig has no [detector]: nothing to record")
        if not poll_s > 0:
            raise InputError(f"recorder: poll_s must be > 0, got {poll_s!r}")
        self.session = session
        self.sessions: list[Session] = [session, *also]
        self.routes: dict[str, Session] = dict(routes or {})
        self.clock = clock
        self.instruments = dict(instruments)
        self.detector: Detector = detector
        self.pumps: dict[str, _PumpWatch] = {
            table: _PumpWatch(table, inst, self.routes.get(table, session))
            for table, inst in instruments.items() if isinstance(inst, SyringePump)}
        self.pump: SyringePump | None = instruments.get("pump")
        self.poll_s = float(poll_s)
        self.pump_every_s = float(pump_every_s)
        self.min_real_poll_s = float(min_real_poll_s)
        self.min_real_pump_s = float(min_real_pump_s)
        self.retry_every_s = float(retry_every_s)
        self.pump_lost_after_s = float(pump_lost_after_s)
        self.start_detector = start_detector
        self.listener = listener
        self.error: BaseException | None = None
        #: Roles whose link is down → real time of the next reconnect attempt.
        self.down: dict[str, float] = {}
        self._down_since: dict[str, float] = {}
        self._stop = threading.Event()
        self._wake = threading.Condition()
        self._actions: list[_Action] = []
        self._timed: list[_Timed] = []
        self._order = 0
        self._thread: threading.Thread | None = None
        self._loop_thread_id: int | None = None
        self._busy_with = ""  # the action running now, for messages
        self._t_next: float | None = None  # session time the next detector sample is due
        self._dt: float | None = None

    # -- control ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("recorder already started")
        if self.start_detector:
            self.detector.start(self.clock.now())
        self._thread = threading.Thread(target=self._run, name="raphe-acquisition", daemon=True)
        self._thread.start()

    def request_stop(self, *_: Any) -> None:
        """Ask the loop to stop (safe from a signal handler)."""
        self._stop.set()
        self._notify()

    def stop(self, timeout: float | None = None) -> bool:
        """Stop the loop, drain the last samples, stop the detector; True once it has
        stopped. With ``timeout``, waits at most that long: an action that an instrument
        keeps busy (its own waits can be long) is left to end on its own."""
        self.request_stop()
        if self._thread is not None and threading.get_ident() != self._loop_thread_id:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("acquisition loop still busy (%s) after %g s; going on",
                            self._busy_with or "an action", timeout)
                return False
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the loop ends; True if it ended."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def run_for(self, seconds: float) -> None:
        """Record ``seconds`` of clock time (or until stopped), then stop."""
        if self._thread is None:
            self.start()
        self.clock.sleep_until(self.clock.now() + seconds, self._stop)
        self.stop()

    # -- actions ---------------------------------------------------------------------------

    def submit(self, fn: Callable[[], Any], role: str | None = None,
               verify: Callable[[], bool] | None = None, what: str = "") -> Future:
        """Run ``fn`` on the acquisition thread; its result (or error) in the future.

        With a ``role``, a link fault during ``fn`` is retried after the instrument is
        reconnected: ``verify()`` (if given) is asked first whether ``fn`` already took
        effect, and ``fn`` runs again only if it did not.
        """
        action = _Action(role, fn, verify, Future(), what or getattr(fn, "__name__", "action"))
        if self._stop.is_set() and not self.running:
            action.future.set_exception(Aborted("the recording has stopped"))
            return action.future
        with self._wake:
            self._actions.append(action)
            self._wake.notify()
        return action.future

    def do(self, fn: Callable[[], Any], role: str | None = None,
           verify: Callable[[], bool] | None = None, what: str = "",
           cancel: threading.Event | None = None) -> Any:
        """:meth:`submit` and wait for the result; raises what ``fn`` raised, or
        :class:`Aborted` when ``cancel`` is set or the loop stops first."""
        if threading.get_ident() == self._loop_thread_id:
            return fn()
        future = self.submit(fn, role, verify, what)
        while True:
            try:
                return future.result(timeout=0.1)
            except TimeoutError:
                if (cancel is not None and cancel.is_set()) or not self.running:
                    future.cancel()  # best effort: a running action finishes on its own
                    raise Aborted(f"{what or 'action'} not done: the run was stopped") from None

    def at(self, t: float, fn: Callable[[], Any], role: str | None = None,
           verify: Callable[[], bool] | None = None, what: str = "") -> Future:
        """Run ``fn`` on the acquisition thread once the clock reaches ``t``."""
        action = _Action(role, fn, verify, Future(), what or getattr(fn, "__name__", "action"))
        with self._wake:
            self._order += 1
            self._timed.append(_Timed(t, self._order, action))
            self._timed.sort()
            self._wake.notify()
        return action.future

    def _notify(self) -> None:
        with self._wake:
            self._wake.notify_all()

    # -- loop ------------------------------------------------------------------------------

    def _run(self) -> None:
        self._loop_thread_id = threading.get_ident()
        try:
            self._loop()
        except SessionError as exc:  # the file cannot be written (disk full): stop here
            self._note("write_error", "session", str(exc))
        except Exception as exc:
            self.error = exc
            log.exception("acquisition stopped")
            self._alarm(f"acquisition stopped: {type(exc).__name__}: {exc}")
        finally:
            self._stop.set()
            self._fail_pending(Aborted("the recording has stopped"))
            if self.start_detector and "detector" not in self.down:
                try:
                    self.detector.stop()
                except Exception as exc:  # noqa: BLE001 - the detector may be gone
                    log.warning("detector stop: %s", exc)

    def _loop(self) -> None:
        clock = self.clock
        speed = getattr(clock, "speed", 1.0)
        poll = max(self.poll_s, self.min_real_poll_s * speed)
        pump_every = max(self.pump_every_s, self.min_real_pump_s * speed)
        while not self._stop.is_set():
            self._run_actions()
            self._reconnect_due()
            self._drain_detector()
            self._record_incidents()
            now = clock.now()
            for watch in self.pumps.values():
                if now >= watch.next_poll:
                    self._poll_pump(watch, now)
                    watch.next_poll = now + pump_every
            next_pump = min((w.next_poll for w in self.pumps.values()), default=math.inf)
            self._sleep(min(now + poll, next_pump))
            for session in self.sessions:
                if session.error is not None:
                    raise SessionError(str(session.error))
        self._run_actions()
        self._drain_detector()
        self._close_gap_at_end()

    def _sleep(self, until: float) -> None:
        """Sleep until clock time ``until``, the next timed action or a new submission."""
        with self._wake:
            if self._timed:
                until = min(until, self._timed[0].t)
            if self.down:
                until = min(until, self.clock.now()
                            + max(0.0, min(self.down.values()) - time.monotonic())
                            * getattr(self.clock, "speed", 1.0))
            if self._actions or self._stop.is_set():
                return
            real = self.clock.real_seconds(until - self.clock.now())
            if real > 0:
                self._wake.wait(min(real, 0.5))

    def _record_incidents(self) -> None:
        """Faults the drivers recovered from by themselves become alarm events."""
        for role, instrument in self.instruments.items():
            take = getattr(instrument, "take_incidents", None)
            for text in take() if take is not None else ():
                self._alarm(f"{role}: {text} (recovered)", role)
                self._note("incident", role, text)

    def _run_actions(self) -> None:
        now = self.clock.now()
        with self._wake:
            due = []
            while self._timed and self._timed[0].t <= now:
                due.append(self._timed.pop(0).action)
            ready, self._actions = self._actions, []
        waiting = []
        for action in due + ready:
            if action.future.cancelled():
                continue
            if action.role is not None and action.role in self.down:
                waiting.append(action)  # after the reconnect
                continue
            if not self._attempt(action):
                waiting.append(action)
        if waiting:
            with self._wake:
                self._actions = waiting + self._actions

    def _attempt(self, action: _Action) -> bool:
        """Run an action; False when it must wait for its instrument to come back."""
        self._busy_with = action.what
        try:
            if action.failed_once and action.verify is not None and action.verify():
                _settle(action.future, None)
                return True
            result = action.fn()
        except InstrumentAlarm as exc:
            if action.role in self.pumps:
                self._perfusion_stopped(self.pumps[action.role], f"{exc}")
            _settle(action.future, error=exc)
            return True
        except LINK_ERRORS as exc:
            if action.role is None:
                _settle(action.future, error=exc)
                return True
            action.failed_once = True
            self._link_down(action.role, exc, f"while doing {action.what}")
            return False
        except Exception as exc:  # noqa: BLE001 - an unexpected failure
            if action.role is None or action.failed_once:
                _settle(action.future, error=exc)  # reported to whoever asked
                return True
            # Once, it may be a lost link that raised something untyped: reconnect, retry.
            action.failed_once = True
            self._link_down(action.role, exc, f"while doing {action.what}")
            return False
        _settle(action.future, result)
        return True

    def _fail_pending(self, exc: BaseException) -> None:
        with self._wake:
            pending = self._actions + [t.action for t in self._timed]
            self._actions, self._timed = [], []
        for action in pending:
            _settle(action.future, error=exc)

    # -- links -----------------------------------------------------------------------------

    def _link_down(self, role: str, exc: BaseException, context: str = "") -> None:
        first = role not in self.down
        self.down[role] = time.monotonic() + self.retry_every_s
        if first:
            self._down_since[role] = time.monotonic()
            reason = str(exc)
            while reason.startswith(f"{role}: "):  # drivers name themselves already
                reason = reason[len(role) + 2:]
            text = f"{role}: {type(exc).__name__}: {reason}" + (f" ({context})" if context else "")
            self._alarm(text + "; reconnecting", role)
            self._note("fault", role, text)

    def _reconnect_due(self) -> None:
        for role, due in list(self.down.items()):
            if time.monotonic() < due:
                continue
            instrument = self.instruments[role]
            try:
                instrument.reconnect()
            except LINK_ERRORS as exc:
                self.down[role] = time.monotonic() + self.retry_every_s
                log.info("%s: reconnect failed: %s", role, exc)
                watch = self.pumps.get(role)
                if watch is not None and watch.lost is None and (
                        time.monotonic() - watch.ok_at > self.pump_lost_after_s):
                    self._perfusion_stopped(watch, "pump unreachable")
                continue
            except Exception as exc:  # noqa: BLE001 - keep trying; say why once
                self.down[role] = time.monotonic() + self.retry_every_s
                log.warning("%s: reconnect failed: %s", role, exc)
                continue
            del self.down[role]
            self._down_since.pop(role, None)
            self._alarm(f"{role}: reconnected", role)
            self._note("recovered", role, "reconnected")
            if role in self.pumps:  # is it still infusing?
                self._poll_pump(self.pumps[role], self.clock.now())

    # -- detector --------------------------------------------------------------------------

    def _drain_detector(self, max_reads: int = 4) -> None:
        # One read takes everything stored; a few more catch what arrived meanwhile. Never
        # loop until empty: on a fast clock new readings arrive as fast as they are read.
        if "detector" in self.down:
            return
        for _ in range(max_reads):
            try:
                block = self.detector.read_block()
            except Exception as exc:  # noqa: BLE001 - any failure to read is a lost link
                self._link_down("detector", exc)
                return
            if block is None or len(block) == 0:
                return
            self._note_gap(block.t0, block.dt)
            self._t_next, self._dt = block.t0 + len(block) * block.dt, block.dt
            for session in self.sessions:
                session.add_block(block)
            log.debug("acquired samples %d..%d at wall %.3f", block.index0,
                      block.index0 + len(block) - 1, time.time())

    def _note_gap(self, t0: float, dt: float) -> None:
        # One reading missing is a gap: the next block starts a whole interval late.
        if self._t_next is not None and t0 > self._t_next + 0.5 * dt:
            self._gap(self._t_next, t0)

    def _gap(self, t_from: float, t_to: float) -> None:
        text = f"detector readings lost for {t_to - t_from:.1f} s"
        for session in self.sessions:
            session.add_event(Event(t_from, "gap", text, "instrument", t_to))
        self._note("gap", "detector", text)

    def _close_gap_at_end(self) -> None:
        """Readings that never came before the end of the run are a gap too."""
        if self._t_next is not None and self._dt is not None:
            end = self.clock.now()
            if end > self._t_next + max(2 * self.poll_s, 5 * self._dt) and "detector" in self.down:
                self._gap(self._t_next, end)

    # -- pump ------------------------------------------------------------------------------

    def _poll_pump(self, watch: _PumpWatch, now: float) -> None:
        table = watch.table
        if table in self.down:
            return
        pump = watch.pump
        try:
            infused, _withdrawn = pump.dispensed_uL()
            status = pump.status()
            state = PumpState(now, pump.rate_uL_min(), infused, status.value)
        except InstrumentAlarm as exc:
            self._perfusion_stopped(watch, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - any failure to poll is a lost link
            self._link_down(table, exc, "polling")
            return
        watch.last = state
        watch.dispensed.append((now, infused, state.rate_uL_min, status))
        watch.ok_at = time.monotonic()
        watch.session.add_pump_state(state)
        if watch.perfusing:
            if status is not PumpStatus.INFUSING and watch.lost is None:
                self._perfusion_stopped(watch, f"pump {status.value}")
            elif status is PumpStatus.INFUSING and watch.lost is not None:
                self._perfusion_restored(watch)

    def _watch(self, table: str) -> _PumpWatch:
        try:
            return self.pumps[table]
        except KeyError:
            raise InputError(f"the rig has no [{table}]") from None

    @property
    def last_pump(self) -> PumpState | None:
        """The last poll of the pump (``[pump]``)."""
        watch = self.pumps.get("pump")
        return watch.last if watch is not None else None

    @property
    def perfusing(self) -> bool | None:
        """Whether ``[pump]`` was told to infuse (None before it was told anything)."""
        watch = self.pumps.get("pump")
        return watch.perfusing if watch is not None else None

    def perfusion_started(self, table: str = "pump") -> None:
        """The pump was told to infuse (by the protocol): perfusion is expected from now."""
        watch = self._watch(table)
        was = watch.perfusing
        watch.perfusing = True
        if watch.lost is not None:
            self._perfusion_restored(watch)
        elif not was:
            watch.session.add_event(Event(self.clock.now(), "perfusion", "started", "protocol"))

    def perfusion_ended(self, table: str = "pump") -> None:
        """The pump was told to stop (by the protocol): no perfusion is expected."""
        watch = self._watch(table)
        watch.perfusing = False
        watch.lost = None

    def _perfusion_stopped(self, watch: _PumpWatch, reason: str) -> None:
        reason = reason.removeprefix(f"{watch.table}: ").removeprefix("pump: ")
        if watch.lost is not None or not watch.perfusing:
            if not watch.perfusing:
                self._alarm(f"{watch.table}: {reason}", watch.table)
            return
        watch.lost = reason
        self._alarm(f"{watch.table}: {reason}: perfusion stopped", watch.table)
        watch.session.add_event(Event(self.clock.now(), "perfusion", f"stopped: {reason}",
                                      "instrument"))
        self._note("perfusion_stopped", watch.table, reason)

    def _perfusion_restored(self, watch: _PumpWatch) -> None:
        watch.lost = None
        watch.session.add_event(Event(self.clock.now(), "perfusion", "restored", "instrument"))
        self._note("perfusion_restored", watch.table, "restored")

    def delivered_uL(self, start: float, end: float, table: str = "pump") -> float | None:
        """The volume the pump's own counter says it infused from ``start`` to ``end``
        (session s): interpolated between polls, carried past the last poll at its rate
        while it infuses. None when the polls do not cover ``start`` or the counter was
        reset meanwhile (the pump power-cycled)."""
        watch = self.pumps.get(table)
        history = list(watch.dispensed) if watch is not None else []
        a, b = _counter_at(history, start), _counter_at(history, end)
        if a is None or b is None or b < a - 1e-9:
            return None
        return b - a

    def perfusion_lost_of(self, table: str = "pump") -> str | None:
        """Why the probe of ``table``'s pump is not perfused right now, or None."""
        watch = self.pumps.get(table)
        return watch.lost if watch is not None else None

    @property
    def perfusion_lost(self) -> str | None:
        """Why the probe is not perfused right now, or None."""
        return self.perfusion_lost_of("pump")

    # -- records ---------------------------------------------------------------------------

    def _alarm(self, text: str, role: str | None = None) -> None:
        """An alarm event in the session of ``role`` (routed), or in every session."""
        routed = self.routes.get(role) if role is not None else None
        event = Event(self.clock.now(), "alarm", text, "instrument")
        for session in [routed] if routed is not None else self.sessions:
            try:
                session.add_event(event)
            except RapheError:
                log.error("could not record alarm %r", text)

    def _note(self, kind: str, role: str, text: str) -> None:
        if self.listener is None:
            return
        try:
            self.listener(kind, role, text)
        except Exception:
            log.exception("recorder listener failed on %s", kind)
