"""The recorder: the acquisition loop between the instruments and the session.

On its own thread it drains the detector into the session, switches the
injection valve on schedule (or on request) and records each injection at
the session time it switched, and records the pump's state periodically.
A detector failure records an ``alarm`` event, puts every instrument in its
safe state and ends the loop. SIGINT/SIGTERM stop it cleanly once
:meth:`Recorder.install_signal_handlers` has been called; the caller then
closes the session, which leaves the file complete.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

from raphe.acquisition.session import Session
from raphe.drivers.base import Detector, InjectionValve, SyringePump
from raphe.errors import InputError, InstrumentError
from raphe.records import Event, Injection, PumpState

log = logging.getLogger("raphe.recorder")


class Recorder:
    """Drain ``detector`` into ``session`` on a thread, timed by ``clock``.

    ``inject_every_s``: switch the valve to INJECT at that period (first
    injection ``first_inject_s`` after start, by default one period) and back
    to LOAD after ``inject_hold_s``.
    ``poll_s``: how often (clock seconds) the detector is drained and the pump
    polled (pump every ``pump_every_s``).
    """

    def __init__(self, detector: Detector, session: Session, *, clock: Any,
                 valve: InjectionValve | None = None, pump: SyringePump | None = None,
                 inject_every_s: float | None = None, loop_volume_uL: float = 20.0,
                 inject_hold_s: float = 60.0, poll_s: float = 0.2,
                 pump_every_s: float = 10.0, start_detector: bool = True,
                 sample_prefix: str = "S", first_inject_s: float | None = None,
                 min_real_poll_s: float = 0.05, reconnect_attempts: int = 5,
                 reconnect_wait_s: float = 1.0) -> None:
        if inject_every_s is not None and not inject_every_s > 0:
            raise InputError(f"recorder: inject_every_s must be > 0, got {inject_every_s!r}")
        if inject_every_s is not None and valve is None:
            raise InputError("recorder: inject_every_s needs a valve")
        if not poll_s > 0:
            raise InputError(f"recorder: poll_s must be > 0, got {poll_s!r}")
        self.detector = detector
        self.session = session
        self.clock = clock
        self.valve = valve
        self.pump = pump
        self.inject_every_s = inject_every_s
        self.loop_volume_uL = float(loop_volume_uL)
        self.inject_hold_s = float(inject_hold_s)
        self.poll_s = float(poll_s)
        self.pump_every_s = float(pump_every_s)
        self.start_detector = start_detector
        self.sample_prefix = sample_prefix
        self.first_inject_s = first_inject_s
        self.min_real_poll_s = float(min_real_poll_s)
        self.reconnect_attempts = int(reconnect_attempts)
        self.reconnect_wait_s = float(reconnect_wait_s)
        self._failures = 0
        self.error: BaseException | None = None
        self.n_injections = 0
        self.last_injection_t: float | None = None
        self._injecting = True
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one command at a time on the valve
        self._thread: threading.Thread | None = None
        self._load_due: float | None = None
        self._saved_handlers: dict = {}

    # -- control ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def stop_requested(self) -> threading.Event:
        return self._stop

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("recorder already started")
        if self.start_detector:
            self.detector.start(self.clock.now())
        self._thread = threading.Thread(target=self._run, name="raphe-recorder", daemon=True)
        self._thread.start()

    def request_stop(self, *_: Any) -> None:
        """Ask the loop to stop (safe from a signal handler)."""
        self._stop.set()

    def stop(self) -> None:
        """Stop the loop, drain the last samples, return the valve to LOAD, stop the detector."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._saved_handlers and threading.current_thread() is threading.main_thread():
            for sig, handler in self._saved_handlers.items():
                signal.signal(sig, handler)
            self._saved_handlers = {}

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the loop ends (stop requested or an error); True if it ended."""
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

    def stop_injecting(self) -> None:
        """No more scheduled injections; acquisition goes on (e.g. to finish the last run)."""
        self._injecting = False

    def install_signal_handlers(self) -> None:
        """Stop cleanly on SIGINT (Ctrl-C) and SIGTERM until :meth:`stop`. Main thread only."""
        self._saved_handlers = {sig: signal.signal(sig, self.request_stop)
                                for sig in (signal.SIGINT, signal.SIGTERM)}

    def inject(self, sample_id: str | None = None, kind: str = "sample") -> Injection:
        """Switch the valve to INJECT now and record the injection (back to LOAD later)."""
        if self.valve is None:
            raise InputError("recorder: no injection valve on this rig")
        with self._lock:
            self.valve.inject()
            t = self.clock.now()
            self.n_injections += 1
            inj = Injection(t, sample_id or f"{self.sample_prefix}{self.n_injections:03d}",
                            self.loop_volume_uL, "B", kind)
            self.session.add_injection(inj)
            self.last_injection_t = t
            self._load_due = t + self.inject_hold_s
        return inj

    # -- loop ------------------------------------------------------------------------------

    def _run(self) -> None:
        clock = self.clock
        t = clock.now()
        next_inject = None
        if self.inject_every_s:
            next_inject = t + (self.inject_every_s if self.first_inject_s is None
                               else self.first_inject_s)
        next_pump = t
        # Poll every poll_s of clock time, but not faster than min_real_poll_s of real time
        # (a fast simulated clock would otherwise spin); wake exactly when a switch is due.
        poll = max(self.poll_s, self.min_real_poll_s * getattr(clock, "speed", 1.0))
        try:
            while not self._stop.is_set():
                try:
                    self._drain()
                    self._failures = 0
                except InstrumentError as exc:
                    self._reconnect_detector(exc)
                now = clock.now()
                if self._load_due is not None and now >= self._load_due:
                    with self._lock:
                        self.valve.load()
                        self._load_due = None
                if next_inject is not None and not self._injecting:
                    next_inject = None
                if next_inject is not None and now >= next_inject:
                    self.inject()
                    next_inject += self.inject_every_s
                if self.pump is not None and now >= next_pump:
                    self._poll_pump(now)
                    next_pump = now + self.pump_every_s
                wake = clock.now() + poll
                for due in (next_inject, self._load_due, next_pump if self.pump else None):
                    if due is not None:
                        wake = min(wake, due)
                clock.sleep_until(wake, self._stop)
            self._drain()
            if self._load_due is not None:  # do not leave the valve in INJECT
                with self._lock:
                    self.valve.load()
                    self._load_due = None
            if self.start_detector:
                self.detector.stop()
        except Exception as exc:  # noqa: BLE001 - any failure: alarm, safe state, stop
            self.error = exc
            log.error("recording stopped: %s", exc)
            self._alarm(f"recording stopped: {type(exc).__name__}: {exc}")
            self._safe_state()
            self._stop.set()

    def _drain(self, max_reads: int = 4) -> None:
        # One read takes everything stored; a few more catch what arrived meanwhile. Never
        # loop until empty: on a fast clock new readings arrive as fast as they are read.
        for _ in range(max_reads):
            block = self.detector.read_block()
            if block is None or len(block) == 0:
                return
            self.session.add_block(block)
            log.debug("acquired samples %d..%d at wall %.3f", block.index0,
                      block.index0 + len(block) - 1, time.time())

    def _reconnect_detector(self, exc: InstrumentError) -> None:
        """A detector link failure: record it, reconnect, carry on acquiring.

        The pump keeps perfusing meanwhile (a probe must never run dry). After
        ``reconnect_attempts`` failures in a row (a reconnect that fails, or a
        read that fails again right after one) the error ends the recording
        through the usual path: alarm, safe state.
        """
        while True:
            self._failures += 1
            if self._failures > self.reconnect_attempts:
                raise exc
            self._alarm(f"detector: {type(exc).__name__}: {exc}; reconnecting "
                        f"(attempt {self._failures}/{self.reconnect_attempts})")
            if self._stop.wait(self.reconnect_wait_s):
                return
            try:
                self.detector.reconnect()
            except InstrumentError as again:
                exc = again
                continue
            self._alarm("detector: reconnected")
            return

    def _poll_pump(self, now: float) -> None:
        try:
            infused, _withdrawn = self.pump.dispensed_uL()
            state = PumpState(now, self.pump.rate_uL_min(), infused, self.pump.status().value)
        except Exception as exc:  # noqa: BLE001 - a pump hiccup is recorded, acquisition goes on
            self._alarm(f"pump poll failed: {type(exc).__name__}: {exc}")
            return
        self.session.add_pump_state(state)

    def _alarm(self, text: str) -> None:
        try:
            self.session.add_event(Event(self.clock.now(), "alarm", text, "instrument"))
        except Exception:
            log.exception("could not record alarm %r", text)

    def _safe_state(self) -> None:
        for inst in (self.detector, self.valve, self.pump):
            if inst is None:
                continue
            try:
                inst.to_safe_state()
            except Exception as exc:  # noqa: BLE001 - try every instrument
                log.error("%s: could not reach its safe state: %s", inst.role, exc)
                self._alarm(f"{inst.role}: safe state failed: {exc}")
