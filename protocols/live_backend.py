"""The live backend: a run's steps on the instruments, through the acquisition loop.

Every instrument command goes to the recorder's one acquisition thread
(``Recorder.do``) with the role it needs and a check of whether it already
took effect, so a link fault is retried after the reconnect without doing
anything twice. Time is the session clock; the schedule is held by pauses
(operator, faults, prompts): a step due at schedule time ``t`` happens at
``t + offset``, where ``offset`` is the session time the schedule started at plus the
time spent paused since.

What a person does at the bench (a drug, a standard in the loop, the probe in
a solution) is the operator's (``raphe.protocols.operator``): a person asked
by a prompt on a real rig, the simulator's hands on the simulated rig.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from raphe.acquisition.recorder import Aborted, Recorder
from raphe.acquisition.session import Session
from raphe.drivers.base import PumpStatus, ValvePosition, stream_text
from raphe.drivers.rig_file import Rig
from raphe.errors import RapheError
from raphe.protocols.operator import Operator, Person
from raphe.protocols.plan import Sample
from raphe.protocols.protocol_run import INJECT_HOLD_S, StepSkipped, Stopped
from raphe.protocols.shared_hplc import SharedHPLC
from raphe.records import Event, Fraction, Injection, InstrumentState


@dataclass
class Prompt:
    """A question to the operator, open until answered."""

    id: int
    text: str
    t: float  # session time it was raised
    wall: float  # wall time it was raised (s since epoch)
    answer: str | None = None
    done: threading.Event = field(default_factory=threading.Event, repr=False)


#: An injection later than planned by more than this is recorded ``late_injection`` with the
#: probe window of the dialysate really in the loop (2 min: a sample is 10–30 min).
LATE_TOLERANCE_S = 120.0


class Control:
    """The requests other threads post to a run: pause, resume, abort, answers.

    ``offset`` is the schedule's delay: when it started, plus the clock seconds spent
    paused since.
    """

    def __init__(self, clock: Any,
                 on_span: Callable[[float, float, list[str]], None] | None = None) -> None:
        self.clock = clock
        self.abort = threading.Event()
        self.abort_reason = ""
        self._changed = threading.Condition()
        self._pauses: dict[str, str] = {}  # cause → reason; the run is paused while any
        self._paused_since: float | None = None
        self._span_reasons: list[str] = []  # every reason of the pause in progress
        #: called with (start, end, reasons) when a pause ends: the span the schedule held
        self.on_span = on_span
        self.offset = 0.0

    @property
    def paused(self) -> bool:
        return bool(self._pauses)

    @property
    def pause_reasons(self) -> list[str]:
        return list(self._pauses.values())

    def has(self, cause: str) -> bool:
        """Whether the run is held for ``cause``."""
        return cause in self._pauses

    def pause(self, cause: str, reason: str) -> bool:
        """Hold the schedule for ``cause``; True if the run was not paused before."""
        with self._changed:
            first = not self._pauses
            self._pauses[cause] = reason
            if first:
                self._paused_since = self.clock.now()
                self._span_reasons = []
            if reason not in self._span_reasons:
                self._span_reasons.append(reason)
            self._changed.notify_all()
            return first

    def resume(self, cause: str | None = None) -> bool:
        """Lift ``cause`` (or every cause); True if the run is no longer paused."""
        span = None
        with self._changed:
            if cause is None:
                self._pauses.clear()
            else:
                self._pauses.pop(cause, None)
            if not self._pauses and self._paused_since is not None:
                now = self.clock.now()
                self.offset += max(0.0, now - self._paused_since)
                span = (self._paused_since, now, list(self._span_reasons))
                self._paused_since = None
            self._changed.notify_all()
            resumed = not self._pauses
        if span is not None and self.on_span is not None:
            self.on_span(*span)
        return resumed

    def end_span(self) -> None:
        """The run ends during a pause: the span ends now (recorded, the pause kept)."""
        with self._changed:
            if self._paused_since is None:
                return
            span = (self._paused_since, self.clock.now(), list(self._span_reasons))
        on_span, self.on_span = self.on_span, None  # nothing is recorded after the end
        if on_span is not None:
            on_span(*span)

    def request_abort(self, reason: str) -> None:
        with self._changed:
            if not self.abort.is_set():
                self.abort_reason = reason
            self.abort.set()
            self._changed.notify_all()

    def check(self) -> None:
        if self.abort.is_set():
            raise Stopped(self.abort_reason)

    def hold(self) -> None:
        """Block while paused; raise :class:`Stopped` on abort."""
        with self._changed:
            while self._pauses and not self.abort.is_set():
                self._changed.wait(0.2)
        self.check()

    def delay(self) -> float:
        """The schedule's delay now (including a pause in progress)."""
        with self._changed:
            extra = (self.clock.now() - self._paused_since) if self._paused_since is not None \
                else 0.0
            return self.offset + max(0.0, extra)

    def sleep_until(self, t: float) -> None:
        """Wait until schedule time ``t`` (plus the pauses so far); abort interrupts."""
        while True:
            self.hold()
            target = t + self.offset
            if self.clock.now() >= target:
                return
            step = min(target, self.clock.now() + 0.5 * getattr(self.clock, "speed", 1.0))
            self.clock.sleep_until(step, self.abort)
            self.check()

    def wake(self) -> None:
        with self._changed:
            self._changed.notify_all()


class LiveBackend:
    """A run's steps on a connected rig; see the module docstring."""

    def __init__(self, *, session: Session, recorder: Recorder, rig: Rig, control: Control,
                 clock: Any, operator: Operator | None = None, simulated: bool = False,
                 ask: Callable[[Prompt], None] | None = None, auto_answer: bool = False,
                 notify: Callable[[str, Any], None] | None = None,
                 animal: str = "", tables: Mapping[str, str] | None = None,
                 hplc: SharedHPLC | None = None) -> None:
        self.session = session
        self.recorder = recorder
        self.rig = rig
        self.control = control
        self.clock = clock
        self.operator: Operator = operator or Person()
        self.simulated = simulated
        self.ask = ask
        self.auto_answer = auto_answer
        self.notify = notify or (lambda kind, payload: None)
        #: several animals on one HPLC: this animal's id, its instruments' rig-file tables
        #: (role → table, e.g. pump → pump_2) and the HPLC's turn
        self.animal = animal
        self.tables = dict(tables or {})
        self.hplc = hplc
        self.prompts: list[Prompt] = []
        self._prompt_lock = threading.Lock()
        self.loop_volume_uL = float(getattr(rig.valve, "loop_volume_uL", 0.0) or 0.0) \
            if rig.valve is not None else 0.0
        #: What the live analysis has quantified, once the standards' runs have closed:
        #: () → (injections, results, calibration fits), or None without an analysis.
        self.analysis_inputs: Callable[[], tuple[list, list, list] | None] | None = None

    # -- time and records ------------------------------------------------------------------

    def now(self) -> float:
        return self.clock.now()

    def sleep_until(self, t: float) -> None:
        self.control.sleep_until(t)

    def step(self, kind: str, text: str, line: int | None, t: float) -> None:
        self.control.hold()
        where = f" (line {line})" if line else ""
        self.session.add_event(Event(self.now(), "step", f"{text}{where}", "protocol"))
        self.notify("step", text)

    def event(self, kind: str, text: str, source: str = "protocol",
              t: float | None = None) -> float:
        t = self.now() if t is None else t
        self.session.add_event(Event(t, kind, text, source))
        return t

    # -- instruments -----------------------------------------------------------------------

    def _do(self, fn: Callable[[], Any], role: str, verify: Callable[[], bool] | None,
            what: str) -> Any:
        """Do an instrument command on the acquisition thread. A lost link is retried there
        after the reconnect; a command the instrument refuses (a rack end, an alarm) or
        that fails again asks the operator: retry, skip the step, or abort."""
        while True:
            try:
                return self.recorder.do(fn, self.tables.get(role, role), verify, what,
                                        cancel=self.control.abort)
            except Aborted:
                raise Stopped(self.control.abort_reason or "stopped") from None
            except RapheError as exc:
                choice = self._step_failed(role, what, exc)
                if choice == "skip":
                    raise StepSkipped(what) from None
                if choice == "abort":
                    self.control.request_abort(f"{what} failed ({exc}); aborted by the "
                                               "operator")
                    raise Stopped(self.control.abort_reason) from None

    def _step_failed(self, role: str, what: str, exc: Exception) -> str:
        """Ask the operator what to do about a failed step: ``retry``, ``skip`` or ``abort``
        (a run answered by --yes skips it: an unattended run goes on)."""
        text = str(exc)
        while text.startswith(f"{role}: "):
            text = text[len(role) + 2:]
        self.event("alarm", f"{role}: {what} failed: {text}", "instrument")
        self.notify("alarm", f"{role}: {what} failed: {text}")
        if self.auto_answer:
            choice = "skip"
        else:
            answer = self._confirm(f"{role}: '{what}' failed ({text}). Type retry, skip (go on "
                                   "without this step) or abort; Enter retries")
            answer = answer.strip().lower()
            choice = ("skip" if answer.startswith("s") else "abort" if answer.startswith(
                ("a", "stop")) else "retry")
        self.event("step", f"{what}: {choice} (operator)", "operator")
        return choice

    def start_position(self, role: str, fn: Callable[[], Any], what: str, state: str) -> None:
        """Bring an instrument to its known starting position (abort interrupts the wait)."""
        self._do(fn, role, None, what)
        self.instrument_state(role, state, "start")

    def pump_infuse(self, rate_uL_min: float) -> None:
        pump = self.rig.pump

        def start() -> None:
            pump.set_rate(rate_uL_min)
            if pump.status() is not PumpStatus.INFUSING:
                pump.infuse()

        def running() -> bool:
            return (pump.status() is PumpStatus.INFUSING
                    and math.isclose(pump.rate_uL_min(), rate_uL_min, rel_tol=1e-3))

        self._do(start, "pump", running, f"infuse at {rate_uL_min:g} µL/min")
        self.recorder.perfusion_started(self.tables.get("pump", "pump"))

    def pump_stop(self) -> None:
        pump = self.rig.pump
        self._do(pump.stop, "pump", lambda: pump.status() is PumpStatus.STOPPED, "stop the pump")
        self.recorder.perfusion_ended(self.tables.get("pump", "pump"))

    def instrument_state(self, role: str, state: str, detail: str = "") -> None:
        """Record what an instrument (not the pump: it has its own table) was set to."""
        self.session.add("instruments", InstrumentState(self.now(), role, state, detail))

    def collector_tube(self, tube: int) -> None:
        c = self.rig.collector
        self._do(lambda: c.go_to_tube(tube), "collector", lambda: c.current_tube() == tube,
                 f"move to tube {tube}")
        self.instrument_state("collector", f"tube {tube}")

    def collector_drain(self) -> None:
        c = self.rig.collector
        self._do(c.to_drain, "collector", lambda: c.current_tube() is None, "divert to drain")
        self.instrument_state("collector", "drain")

    def inject(self, label: str, kind: str, probe: tuple[float, float],
               late: Callable[[float], tuple[float, float]] | None = None) -> float:
        """Switch the valve and record the injection as it happened: at the time the switch
        command really went out, and — when that is later than planned by more than
        ``LATE_TOLERANCE_S`` — with the probe window of the dialysate then in the loop
        (``late``), flagged ``late_injection``."""
        planned = self.now()
        if self.hplc is None:
            return self._inject(label, kind, probe, late, planned)
        self.hplc.take(self.animal, self.control.abort, self._select)
        injected = None
        try:
            injected = self._inject(label, kind, probe, late, planned)
            return injected
        finally:
            self.hplc.release(self.animal, injected)

    def _select(self, position: int) -> None:
        """Turn the stream selector to ``position`` (this animal's stream) and say so."""
        selector = self.rig.selector
        self._do(lambda: selector.select(position), "selector",
                 lambda: selector.position() == position, f"selector to stream {position}")
        t = self.now()
        self.hplc.moved(position, t)
        self.instrument_state("selector", stream_text(position), self.animal)

    def _inject(self, label: str, kind: str, probe: tuple[float, float],
                late: Callable[[float], tuple[float, float]] | None, planned: float) -> float:
        valve = self.rig.valve
        sent: list[float] = []

        def switch() -> None:  # the valve switches when the command arrives
            valve.inject(on_sent=lambda: sent.append(self.now()))

        self._do(switch, "valve", lambda: valve.position() is ValvePosition.INJECT,
                 f"inject {label}")
        # A retry after a lost link sent the command again: the last one switched the valve
        # (when the first one had, the check after the reconnect found it done, not resent).
        t = sent[-1] if sent else self.now()
        flags = ""
        if t - planned > LATE_TOLERANCE_S:
            flags = "late_injection"
            if late is not None:
                probe = late(t)
            self.event("step", f"{label} injected {(t - planned) / 60:.1f} min late: its "
                       "probe window is that of the dialysate then in the loop", "instrument")
        if self.hplc is not None and kind == "sample":  # the loop filled since the selector
            probe = self.hplc.loop_window(self.animal, t, probe)  # reached this stream
        self.session.add_injection(Injection(t, label, self.loop_volume_uL, "B", kind,
                                             probe[0], probe[1], flags))
        self.session.add("instruments", InstrumentState(t, "valve", "INJECT", label))

        def back_to_load() -> None:
            valve.load()
            self.instrument_state("valve", "LOAD", f"after {label}")

        self.recorder.at(t + INJECT_HOLD_S, back_to_load, "valve",
                         lambda: valve.position() is ValvePosition.LOAD, "return to LOAD")
        self.notify("injection", label)
        return t

    def delivered_uL(self, start: float, end: float) -> float | None:
        """The volume the pump delivered from ``start`` to ``end`` (from its own counter,
        polled by the acquisition loop); None when it cannot say."""
        return self.recorder.delivered_uL(start, end, self.tables.get("pump", "pump"))

    def fraction(self, sample: Sample) -> None:
        self.session.add_fraction(Fraction(sample.tube, sample.t_start, sample.t_end,
                                           sample.volume_uL, sample.label,
                                           sample.probe_start_s, sample.probe_end_s,
                                           sample.flags))

    # -- the operator's hands --------------------------------------------------------------

    def confirm(self, text: str) -> str:
        """A person's step: raise a prompt and wait for its confirmation."""
        return self._confirm(text)

    def load_standard(self, conc_nM: float, label: str) -> None:
        self.operator.load_standard(self, conc_nM, label)

    def administer(self, drug: str, dose: float, route: str, text: str) -> float:
        t = self.operator.administer(self, drug, dose, route, text)
        return self.event("drug", text, self.operator.source, t)

    def perfusate(self, name: str, drug: str | None, conc_uM: float | None, text: str) -> float:
        t = self.operator.perfusate(self, name, drug, conc_uM, text)
        return self.event("drug" if drug else "step", text, self.operator.source, t)

    def medium(self, name: str, conc_nM: float | None, text: str) -> float:
        t = self.operator.medium(self, name, conc_nM, text)
        return self.event("medium", _medium_text(name, conc_nM), self.operator.source, t)

    def prompt(self, text: str) -> str:
        return self._confirm(text)

    def suitability(self, limits: Any, ask: bool) -> bool:
        """Evaluate system suitability on what the analysis quantified; store the tests; on
        a failure (when ``ask``) the operator continues or aborts, recorded either way."""
        from raphe.acquisition.analysis import suitability as sst

        inputs = self.analysis_inputs() if self.analysis_inputs is not None else None
        if inputs is None:
            self.event("suitability", "not evaluated: the run quantifies nothing (no analysis "
                       "method)")
            return True
        injections, results, fits = inputs
        rows = sst.evaluate(injections, results, fits, self.now(), limits)
        for row in rows:
            self.session.add("suitability", row)
        ok = sst.passed(rows)
        text = sst.summary(rows)
        self.event("suitability", ("passed: " if ok else "FAILED: ") + text)
        self.notify("suitability", rows)
        if ok or not ask:
            return ok
        answer = self._confirm(f"System suitability FAILED ({text}). Press Enter (or type "
                               "'continue') to go on, or type 'abort' to stop the run")
        if answer.strip().lower().startswith(("abort", "stop", "no")):
            self.event("suitability", f"failed; the operator aborted ({answer!r})", "operator")
            self.control.request_abort("system suitability failed; aborted by the operator")
            raise Stopped("system suitability failed")
        self.event("suitability", f"failed; the operator chose to continue ({answer!r})",
                   "operator")
        return False

    def _confirm(self, text: str) -> str:
        """Raise a prompt and wait for its answer (acquisition goes on); abort interrupts."""
        if self.animal:
            text = f"{self.animal}: {text}"
        with self._prompt_lock:
            prompt = Prompt(len(self.prompts) + 1, text, self.now(), time.time())
            self.prompts.append(prompt)
        self.event("prompt", text)
        if self.auto_answer:
            prompt.answer = "yes"
            prompt.done.set()
            self.session.add_audit("raphe (--yes)", f"answered prompt {prompt.id}: yes", "",
                                   self.now())
            return prompt.answer
        cause = f"prompt {prompt.id}"
        self.control.pause(cause, f"waiting for the operator: {text}")
        self.notify("prompt", prompt)
        if self.ask is not None:
            self.ask(prompt)
        try:
            while not prompt.done.wait(0.2):
                self.control.check()
        finally:
            self.control.resume(cause)
        self.control.check()
        self.event("prompt", f"answered: {prompt.answer}", "operator")
        self.notify("prompt_answered", prompt)
        return prompt.answer or ""

    def answer(self, prompt_id: int, answer: str, who: str = "operator") -> bool:
        """Answer an open prompt (from any thread); False if there is no such open prompt."""
        with self._prompt_lock:
            prompt = next((p for p in self.prompts if p.id == prompt_id), None)
        if prompt is None or prompt.done.is_set():
            return False
        prompt.answer = str(answer)
        self.session.add_audit(who, f"answered prompt {prompt.id} ({prompt.text!r})",
                               "", self.now())
        prompt.done.set()
        return True

    @property
    def open_prompt(self) -> Prompt | None:
        with self._prompt_lock:
            return next((p for p in self.prompts if not p.done.is_set()), None)


def _medium_text(name: str, conc_nM: float | None) -> str:
    """The text of a ``medium`` event: ``animal``, or ``<name>; <c> nM 5-HT``."""
    if name.strip().lower() == "animal":
        return "animal"
    return name + (f"; {conc_nM:g} nM 5-HT" if conc_nM is not None else "")
