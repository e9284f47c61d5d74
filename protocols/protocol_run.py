"""One run of a protocol script: the dispatch point every Rig API call goes through.

``ProtocolRun.dispatch`` checks a step, logs it (a ``step`` event in a live session,
a timeline line in a dry run) and executes it through a backend: the
virtual backend of the dry run, or the live backend that drives the
instruments. Everything else — the checks, the volume, tube and injection
accounting, the probe-time windows — is this one code, so the dry run and
the real run agree on what a protocol does.

Checks use the schedule time (what the protocol asks for); records use the
backend's clock (what happened: later than planned after a pause).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from raphe import catalogue
from raphe.drivers.units import flow_uL_min, to_unit
from raphe.errors import InputError
from raphe.protocols.guard import Endless, ScriptGuard
from raphe.protocols.parameters import Params
from raphe.protocols.plan import Issue, Item, Plan, Sample
from raphe.protocols.protocol import Protocol as ProtocolFile
from raphe.protocols.protocol import caller_line, error_line
from raphe.protocols.rig_spec import RigSpec
from raphe.records import Injection, columns, flow_text

#: The most UTF-8 bytes of a sample label the session stores (``Injection.sample_id``).
LABEL_BYTES = next(c.size for c in columns(Injection) if c.name == "sample_id")



class StepError(InputError):
    """A step the protocol cannot take, with the file and line of the script that asked."""

    def __init__(self, message: str, file: str = "", line: int | None = None) -> None:
        self.bare, self.file, self.line = message, file, line
        super().__init__(str(Issue(message, file, line)))


class Stopped(BaseException):
    """The run was aborted: unwinds the script (never shown as an error).

    A ``BaseException``, as ``KeyboardInterrupt`` is: a protocol's ``except Exception``
    (an ordinary retry loop) cannot swallow the engine's stop."""


class StepSkipped(Exception):
    """The operator chose to skip a step that failed on an instrument."""


class Horizon(Exception):
    """The schedule reached its end: the dry run's horizon, or (for an open-ended protocol)
    the moment the syringe runs empty."""

    def __init__(self, reason: str, t: float) -> None:
        self.reason, self.t = reason, t
        super().__init__(reason)


#: The valve stays in INJECT this long (clock s) after each injection, then returns to LOAD.
INJECT_HOLD_S = 60.0

#: A fraction whose delivered volume falls short of the commanded one by more than this
#: fraction (and ``VOLUME_SLACK_UL``) is flagged ``volume_short``.
VOLUME_TOLERANCE = 0.05
VOLUME_SLACK_UL = 0.2

#: How far the dry run follows a protocol (an open-ended one runs until stopped).
HORIZON_S = 7 * 24 * 3600.0


class Backend(Protocol):
    """What a run needs from the world: time, the instruments, the operator, the session."""

    simulated: bool

    def now(self) -> float: ...
    def sleep_until(self, t: float) -> None: ...
    def step(self, kind: str, text: str, line: int | None, t: float) -> None: ...
    def event(self, kind: str, text: str, source: str = "protocol") -> float: ...
    def pump_infuse(self, rate_uL_min: float) -> None: ...
    def pump_stop(self) -> None: ...
    def collector_tube(self, tube: int) -> None: ...
    def collector_drain(self) -> None: ...
    def inject(self, label: str, kind: str, probe: tuple[float, float],
               late: Callable[[float], tuple[float, float]] | None = None) -> float: ...
    def fraction(self, sample: Sample) -> None: ...
    def delivered_uL(self, start: float, end: float) -> float | None: ...
    def load_standard(self, conc_nM: float, label: str) -> None: ...
    def administer(self, drug: str, dose: float, route: str, text: str) -> float: ...
    def perfusate(self, name: str, drug: str | None, conc_uM: float | None, text: str) -> float: ...
    def prompt(self, text: str) -> str: ...
    def medium(self, name: str, conc_nM: float | None, text: str) -> float: ...
    def suitability(self, limits: Any, ask: bool) -> bool: ...


@dataclass
class Flow:
    """A change of the commanded flow at backend time ``t`` (0: stopped)."""

    t: float
    rate_uL_min: float


class ProtocolRun:
    """The state of one protocol run and the dispatch of its steps."""

    def __init__(self, protocol: ProtocolFile, params: Params, spec: RigSpec, backend: Backend,
                 *, run_length_s: float | None = None, method_name: str = "",
                 horizon_s: float = math.inf) -> None:
        self.protocol = protocol
        self.horizon_s = horizon_s
        self.open_ended = bool(protocol.metadata.get("open_ended", False))
        self.params = params
        self.spec = spec
        self.backend = backend
        self.run_length_s = run_length_s
        self.method_name = method_name
        self.plan = Plan(protocol=protocol.name, parameters=dict(params),
                         run_length_s=run_length_s)
        self.t = 0.0  # schedule time, s
        #: The commanded flow over time: written only by :meth:`change_flow`.
        self.flows: list[Flow] = [Flow(-math.inf, 0.0)]
        self.set_rate: float | None = None
        self.perfusing = False
        self.perfusion_start: float | None = None
        self._flow_lock = threading.RLock()
        self.syringe_used = 0.0
        self.last_inject_t: float | None = None  # schedule time
        self.last_inject_at: float | None = None  # backend time
        self.last_standard_t: float | None = None  # schedule time
        self.phase = ""
        self.line: int | None = None
        self.step_count = 0
        self.current = ""
        self.done = False
        #: called after every step with the run (for progress displays)
        self.on_step: Callable[[ProtocolRun], None] | None = None

    # -- the dispatch point ----------------------------------------------------------------

    def dispatch(self, kind: str, text: str, execute: Callable[[], Any]) -> Any:
        """Check, log and execute one Rig API call of the script."""
        self.line = caller_line(self.protocol.path)
        self.step_count += 1
        self.current = text
        self.plan.timeline.append(Item(self.t, kind, text, self.line))
        self.backend.step(kind, text, self.line, self.t)
        try:
            result = execute()
        except StepSkipped:
            self.backend.event("step", f"skipped by the operator: {text}", "operator")
            result = None
        except StepError as exc:
            if exc.line is None:
                raise StepError(exc.bare, self.protocol.path, self.line) from None
            raise
        except InputError as exc:
            raise StepError(str(exc), self.protocol.path, self.line) from None
        if self.on_step is not None:
            self.on_step(self)
        return result

    def fail(self, message: str) -> None:
        raise StepError(message, self.protocol.path, self.line)

    def warn(self, message: str, line: int | None = None) -> None:
        issue = Issue(message, self.protocol.path, self.line if line is None else line)
        if issue not in self.plan.warnings:
            self.plan.warnings.append(issue)

    # -- running the script ----------------------------------------------------------------

    def execute(self, api: Any, guard: ScriptGuard | None = None) -> Plan:
        """Run the script against ``api`` (the Rig API bound to this run); fill the plan.

        ``guard`` watches the script's own code (the dry run's CPU budget, a live run's
        abort). Whatever the script raises — ``sys.exit()`` included — is an error with
        its file and line; only the engine's stop ends it quietly."""
        plan = self.plan
        path = self.protocol.path
        try:
            if guard is None:
                self.protocol.run(api, self.params)
            else:
                with guard:
                    self.protocol.run(api, self.params)
        except Stopped:
            raise
        except Endless as exc:
            plan.errors.append(Issue(str(exc), path, exc.line))
        except SystemExit as exc:
            plan.errors.append(Issue(
                f"the protocol called sys.exit({'' if exc.code is None else repr(exc.code)}): "
                "a protocol ends by returning from run(); the run was stopped there", path,
                error_line(exc, path)))
        except KeyboardInterrupt:
            raise
        except Horizon as exc:
            if self.open_ended:
                self.warn(exc.reason)
                self.finish()
            else:
                plan.errors.append(Issue(f"{exc.reason} (an endless loop?)", self.protocol.path,
                                         self.line))
        except StepError as exc:
            plan.errors.append(Issue(exc.bare, exc.file, exc.line))
        except Exception as exc:  # noqa: BLE001 - the script's own error, with its line
            line = error_line(exc, self.protocol.path)
            plan.errors.append(Issue(f"{type(exc).__name__}: {exc}", self.protocol.path, line))
        else:
            self.finish()
        return plan

    def finish(self) -> None:
        """After the script: the last chromatogram's run, totals and whole-run checks."""
        plan = self.plan
        if not plan.samples and plan.injections == 0 and not self.protocol.metadata.get(
                "samples_optional", False):
            plan.errors.append(Issue("the protocol never collects or injects a sample",
                                     self.protocol.path, self.protocol.run_line))
            return
        end = self.t
        if self.last_inject_t is not None and self.run_length_s:
            end = max(end, self.last_inject_t + self.run_length_s)
        if end > self.t and self.perfusing:
            try:
                self._use_syringe(end - self.t, "the end of the last chromatogram")
            except Horizon as exc:  # an open-ended run whose syringe empties meanwhile
                self.warn(exc.reason)
        plan.duration_s = end
        plan.syringe_ul = self.syringe_used
        if plan.drugs:
            first = min(plan.drugs, key=lambda d: d.t)
            baseline = [s for s in plan.samples if s.kind == "sample" and not s.unfilled
                        and s.probe_end_s <= first.t]
            if not baseline:
                self.warn("no complete baseline sample precedes the first drug: "
                          "% of baseline will stay empty (collect baseline samples after the "
                          "fluid path has filled, before the drug)", first.line)
        unfilled = [s.label for s in plan.samples if s.unfilled]
        if unfilled:
            self.warn(f"sample{'s' if len(unfilled) > 1 else ''} {', '.join(unfilled)} left the "
                      "probe before the fluid path was filled with dialysate: not used as "
                      "baseline", next(s.line for s in plan.samples if s.unfilled))
        self.done = True

    # -- time, flow and volume -------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of schedule time pass (perfusing at the current flow)."""
        if self.t + seconds > self.horizon_s:
            self.t = self.horizon_s
            raise Horizon(f"the protocol runs longer than {_hours(self.horizon_s)}", self.t)
        if self.perfusing:
            self._use_syringe(seconds, "this step")
        self.t += seconds
        self.backend.sleep_until(self.t)

    def _use_syringe(self, seconds: float, what: str) -> None:
        volume = self.spec.syringe_filled_uL or self.spec.syringe_volume_uL
        rate = self.flows[-1].rate_uL_min
        need = rate * seconds / 60.0
        if volume and self.syringe_used + need > volume * (1 + 1e-9):
            empty_at = self.t + (volume - self.syringe_used) / rate * 60.0
            if self.open_ended:
                # Runs until stopped: it stops when the syringe is empty, with a warning.
                self.backend.sleep_until(empty_at)
                self.syringe_used, self.t = volume, empty_at
                raise Horizon(f"the syringe ({volume:g} µL at {rate:g} µL/min) runs empty at "
                              f"{_hours(empty_at)}: the run ends then", empty_at)
            held = (f"{volume:g} µL" if volume == self.spec.syringe_volume_uL else
                    f"{volume:g} µL in a {self.spec.syringe_volume_uL or 0:g} µL syringe")
            self.fail(f"the syringe ({held}) runs empty at {_hours(empty_at)} during "
                      f"{what} ({rate:g} µL/min; {self.syringe_used + need:.0f} µL needed by "
                      f"{_hours(self.t + seconds)}): refill it, use a larger syringe or a "
                      "lower flow")
        self.syringe_used += need

    def probe_time(self, t: float) -> float:
        """When the fluid at the outlet at backend time ``t`` left the probe.

        Walks back through the flow history until the outlet dead volume is covered; fluid
        that was in the tubing before perfusion started gets a time before that start.
        """
        volume = self.spec.dead_volume_uL
        if volume <= 0:
            return t
        end = t
        for change in reversed(self.flows):
            if change.t >= end:
                continue
            rate = change.rate_uL_min / 60.0
            span = end - max(change.t, -1e12)
            if rate > 0 and rate * span >= volume:
                return end - volume / rate
            volume -= rate * span if math.isfinite(span) else 0.0
            end = change.t
            if not math.isfinite(end):
                break
        first = next((c for c in self.flows if c.rate_uL_min > 0), None)
        if first is None:
            return math.nan
        return first.t - volume / (first.rate_uL_min / 60.0)

    def window(self, t_start: float, t_end: float) -> tuple[float, float]:
        return self.probe_time(t_start), self.probe_time(t_end)

    # -- steps -----------------------------------------------------------------------------

    def check_flow(self, rate: float) -> None:
        """Raise :class:`InputError` unless the pump can drive the syringe at ``rate``."""
        if not rate > 0:
            raise InputError(f"flow rate must be > 0 µL/min, got {rate:g} (use pump.stop() to "
                             "stop)")
        limits = self.spec.rate_limits_uL_min
        if limits is not None and not limits[0] <= rate <= limits[1]:
            raise InputError(f"flow {rate:g} µL/min is outside what the pump drives this "
                             f"syringe ({self.spec.syringe_diameter_mm:g} mm) at: "
                             f"{limits[0]:.3g}–{limits[1]:.4g} µL/min")

    def change_flow(self, rate: float, who: str = "protocol", why: str = "") -> None:
        """Set the perfusion flow (0 stops the pump): the one writer of the flow state.

        Checked, applied on the pump, kept in :attr:`flows` and recorded as a ``flow``
        event naming ``who`` and ``why`` — whether the protocol, the operator or Raphe
        (a restart after a stall) asks.
        """
        if "pump" not in self.spec.roles:
            self.fail("the rig has no [pump]")
        if rate != 0:
            self.check_flow(rate)
        with self._flow_lock:
            old = self.flows[-1].rate_uL_min
            if rate > 0:
                self.backend.pump_infuse(rate)
            else:
                self.backend.pump_stop()
            now = self.backend.now()
            self.flows.append(Flow(now, rate))
            if rate > 0:
                self.set_rate = rate
                if not self.perfusing and self.perfusion_start is None:
                    self.perfusion_start = now
            self.perfusing = rate > 0
            source = "operator" if who not in ("protocol", "raphe") else (
                "protocol" if who == "protocol" else "instrument")
            self.backend.event("flow", flow_text(old, rate, who, why), source)

    def infuse(self, rate: Any = None) -> None:
        if rate is None:
            if self.set_rate is None:
                self.fail("pump.infuse() needs a rate the first time, e.g. pump.infuse(1.0)")
            value = self.set_rate
        else:
            value = flow_uL_min(rate)
        self.change_flow(value, "protocol")

    def stop_pump(self) -> None:
        self.change_flow(0.0, "protocol")

    def wait(self, seconds: float) -> None:
        if not (math.isfinite(seconds) and seconds > 0):
            self.fail(f"wait needs a positive duration, got {seconds:g} s")
        self.advance(seconds)

    def set_phase(self, name: str) -> None:
        name = str(name).strip()
        if not name:
            self.fail("phase needs a name, e.g. rig.phase('baseline')")
        self.phase = name
        self.backend.event("phase", name)

    def collect(self, seconds: float, label: str | None, inject: bool | None,
                tube: bool | None) -> Sample:
        roles = self.spec.roles
        if not (math.isfinite(seconds) and seconds > 0):
            self.fail(f"collect needs a positive duration, got {seconds / 60:g} min")
        inject = "valve" in roles if inject is None else bool(inject)
        tube = "collector" in roles if tube is None else bool(tube)
        if inject and "valve" not in roles:
            self.fail("collect(inject=True) needs an injection [valve] in the rig")
        if tube and "collector" not in roles:
            self.fail("collect(tube=True) needs a fraction [collector] in the rig")
        if not inject and not tube:
            self.fail("collect needs a fraction collector or an injection valve in the rig")
        if "pump" in roles and not self.perfusing:
            self.fail("collect while the pump is not perfusing the probe: call "
                      "rig.pump.infuse(rate) first")
        plan = self.plan
        label = self._label(label)
        tube_no = None
        if tube:
            tube_no = plan.tubes + 1
            rack = self.spec.rack_size
            if rack and tube_no > rack:
                if self.open_ended:  # runs until stopped: it stops when the rack is full
                    raise Horizon(f"the rack ({rack} tubes) is full after {rack} samples: the "
                                  "run ends then", self.t)
                self.fail(f"the rack is full: sample {label} would need tube {tube_no} of "
                          f"{rack}")
            plan.tubes = tube_no
        if inject:
            self._check_spacing(self.t + seconds, label)
            loop, rate = self.spec.loop_volume_uL, self.flows[-1].rate_uL_min
            if loop and rate and rate * seconds / 60.0 < loop * (1 - 1e-9):
                self.warn(f"samples of {seconds / 60:g} min at {rate:g} µL/min carry "
                          f"{rate * seconds / 60:g} µL through the {loop:g} µL loop: each "
                          "injection also holds dialysate from before its interval")
        start = self.backend.now()
        tube_start = start
        if tube_no is not None:
            try:
                self.backend.collector_tube(tube_no)
                tube_start = self.backend.now()  # the tube fills from when the arm got there
            except StepSkipped:
                tube_no = None
                self.backend.event("step", f"{label}: no tube (the move was skipped by the "
                                   "operator); the sample is not collected in the rack",
                                   "operator")
        try:
            self.advance(seconds)
        except Stopped:
            if tube_no is not None:  # the tube was filling: it holds what came until now
                self._partial(label, tube_no, tube_start)
            raise
        end = self.backend.now()
        probe = self.window(start, end)
        sample = Sample(label=label, t_start=start, t_end=end, probe_start_s=probe[0],
                        probe_end_s=probe[1], phase=self.phase, tube=tube_no,
                        volume_uL=self._volume(start, end), line=self.line,
                        unfilled=self._unfilled(probe[0]))
        if inject:
            try:
                sample.inject_t = self._inject(label, "sample", probe, self._loop_window)
            except StepSkipped:
                self.backend.event("step", f"{label}: not injected (skipped by the operator)",
                                   "operator")
        if tube_no is not None:
            try:
                self.backend.collector_drain()
            except StepSkipped:
                pass  # the arm stays at the tube; the next move or the safe state ends it
            self.backend.fraction(self._fraction(sample, tube_start, self.backend.now()))
        plan.samples.append(sample)
        return sample

    def inject(self, label: str | None) -> Sample:
        if "valve" not in self.spec.roles:
            self.fail("inject needs an injection [valve] in the rig")
        label = self._label(label)
        self._check_spacing(self.t, label)
        now = self.backend.now()
        rate = self.flows[-1].rate_uL_min
        loop = self.spec.loop_volume_uL or 0.0
        if rate > 0 and loop > 0:
            filled = now - loop / rate * 60.0
            probe = self.window(filled, now)
        else:
            probe = (math.nan, math.nan)
            self.warn(f"{label} is injected while the probe is not perfused: the loop holds "
                      "no fresh dialysate")
        sample = Sample(label=label, t_start=now, t_end=now, probe_start_s=probe[0],
                        probe_end_s=probe[1], phase=self.phase, line=self.line,
                        unfilled=self._unfilled(probe[0]))
        sample.inject_t = self._inject(label, "sample", probe, self._loop_window)
        self.plan.samples.append(sample)
        return sample

    def inject_standard(self, conc_nM: Any, label: str | None) -> float:
        if "valve" not in self.spec.roles:
            self.fail("inject_standard needs an injection [valve] in the rig")
        conc = to_unit(conc_nM, "nM", "standard concentration", "1.0 (nM) or '500 pM'")
        if not conc > 0:
            self.fail(f"a standard needs a concentration > 0 nM, got {conc:g}")
        label = label or f"STD{self._count('standard') + 1:02d}"
        self._check_spacing(self.t, label)
        self._operator_step()
        self.backend.load_standard(conc, label)
        self.last_standard_t = self.t
        t = self._inject(label, f"standard:{conc:g}", (math.nan, math.nan))
        self.plan.samples.append(Sample(label=label, t_start=t, t_end=t, probe_start_s=math.nan,
                                        probe_end_s=math.nan, phase=self.phase, inject_t=t,
                                        kind=f"standard:{conc:g}", line=self.line))
        return t

    def administer(self, drug: str, dose: Any, route: str) -> float:
        typed = " ".join(str(drug).split())
        if not typed:
            self.fail("administer needs the compound's name, e.g. rig.administer('fluoxetine', "
                      "10, 'ip')")
        try:
            route_key = catalogue.route(str(route))
        except ValueError as exc:
            self.fail(str(exc))
        if route_key == "rd":
            self.fail("route rd is reverse dialysis: use rig.switch_perfusate(name, drug=..., "
                      "conc_uM=...)")
        amount = to_unit(dose, "mg/kg", "dose", "10 (mg/kg) or '10 mg/kg'")
        if amount < 0:
            self.fail(f"a dose cannot be negative, got {amount:g} mg/kg")
        name, shown = catalogue.named(typed)
        text = f"{shown} {amount:g} mg/kg {catalogue.route_text(route_key)}"
        known = catalogue.compound(typed)
        if known is not None and catalogue.far_outside(amount, known.dose_mg_kg):
            low, high = known.dose_mg_kg
            self.warn(f"{amount:g} mg/kg of {known.name} is far outside its usual dose "
                      f"({low:g}–{high:g} mg/kg): check the dose and its unit")
        self._can_model(name, typed)
        self._operator_step()
        t = self.backend.administer(name, amount, route_key, text)
        item = Item(t, "drug", text, self.line)
        self.plan.drugs.append(item)
        return t

    def switch_perfusate(self, name: str, drug: str | None, conc_uM: Any) -> float:
        if "pump" not in self.spec.roles:
            self.fail("switching the perfusate needs a [pump]")
        name = str(name).strip()
        if not name:
            self.fail("switch_perfusate needs the perfusate's name, e.g. 'aCSF + WAY-100635'")
        conc = None
        if drug is not None:
            typed = " ".join(str(drug).split())
            if not typed:
                self.fail("switch_perfusate(drug=...) needs the compound's name")
            if conc_uM is None:
                self.fail("switch_perfusate with a drug needs its concentration: conc_uM=...")
            conc = to_unit(conc_uM, "uM", "perfusate concentration", "10 (µM) or '10 uM'")
            if not conc > 0:
                self.fail(f"perfusate concentration must be > 0 µM, got {conc:g}")
            drug, shown = catalogue.named(typed)
            known = catalogue.compound(typed)
            if known is not None and catalogue.far_outside(conc, known.perfusate_uM):
                low, high = known.perfusate_uM
                self.warn(f"{conc:g} µM of {known.name} in the perfusate is far outside its "
                          f"usual range ({low:g}–{high:g} µM): check the concentration and "
                          "its unit")
            self._can_model(drug, typed)
            text = f"{shown} {conc:g} µM {catalogue.route_text('rd')} (perfusate {name})"
        else:
            text = f"perfusate {name}"
        self._operator_step()
        t = self.backend.perfusate(name, drug, conc, text)
        if drug is not None:
            self.plan.drugs.append(Item(t, "drug", text, self.line))
        return t

    def _can_model(self, name: str, typed: str) -> None:
        """On the simulated rig, say when the virtual animal cannot model a compound."""
        models = self.spec.models_drugs
        if self.spec.animal and models is not None and name not in models:
            self.warn(f"the simulated animal does not model {typed}: it is given nothing "
                      f"(as vehicle). It models {', '.join(sorted(models))}")

    def mark(self, text: str) -> None:
        self.backend.event("marker", str(text))

    def refit_calibration(self) -> None:
        if not any(s.kind.startswith("standard") for s in self.plan.samples):
            self.fail("refit_calibration needs standards injected before it "
                      "(rig.inject_standard)")
        self.backend.event("calibration", "refit")

    def probe_medium(self, name: str, conc_nM: Any) -> float:
        name = str(name).strip()
        if not name:
            self.fail("probe_medium needs a name: a solution, or 'animal'")
        conc = None
        if conc_nM is not None:
            conc = to_unit(conc_nM, "nM", "medium concentration", "10 (nM) or '10 nM'")
        self._operator_step()
        text = f"probe in {name}" + (f" ({conc:g} nM 5-HT)" if conc is not None else "")
        return self.backend.medium(name, conc, text)

    def prompt(self, text: str) -> str:
        self.plan.prompts += 1
        return self.backend.prompt(str(text))

    def suitability(self, rsd_max: float, r2_min: float, drift_max: float, ask: bool) -> bool:
        """The system-suitability test of the standards injected so far, once their
        chromatograms have run; a failure asks the operator to continue or abort (when
        ``ask``; abort stops the run). True when every judged test passed."""
        from raphe.acquisition.analysis.suitability import Limits

        try:
            limits = Limits(float(rsd_max), float(r2_min), float(drift_max))
        except (TypeError, ValueError) as exc:
            self.fail(f"suitability limits: {exc}")
        standards = [s for s in self.plan.samples if s.kind.startswith("standard")]
        if not standards:
            self.fail("rig.suitability needs standards injected before it "
                      "(rig.inject_standard)")
        if self.run_length_s and self.last_standard_t is not None:
            end = self.last_standard_t + self.run_length_s
            if end > self.t:  # the last standard's chromatogram runs to its end first
                self.advance(end - self.t)
        if ask:
            self.plan.prompts += 1  # a failing test asks the operator
        return self.backend.suitability(limits, ask)

    # -- helpers ---------------------------------------------------------------------------

    def _operator_step(self) -> None:
        """A person does this step and confirms: a prompt (on the simulated rig the virtual
        animal's simulator does it). Counted alike for the dry run and the run, from the
        rig the run will open."""
        if not self.spec.animal:
            self.plan.prompts += 1

    def _label(self, label: str | None) -> str:
        n = self._count("sample") + 1
        label = f"S{n:03d}" if label is None else str(label).strip()
        if not label:
            self.fail("a sample label cannot be empty")
        size = len(label.encode("utf-8"))
        if size > LABEL_BYTES:
            self.fail(f"sample label {label!r} is {size} bytes long (UTF-8): at most "
                      f"{LABEL_BYTES} are stored, and labels must stay distinct")
        if any(s.label == label for s in self.plan.samples):
            self.fail(f"sample label {label!r} is used twice")
        return label

    def _count(self, kind: str) -> int:
        return sum(1 for s in self.plan.samples if s.kind.startswith(kind))

    def _check_spacing(self, t: float, label: str) -> None:
        if self.last_inject_t is None:
            return
        gap = t - self.last_inject_t
        if gap < INJECT_HOLD_S - 1e-6:
            self.fail(f"{label} would be injected {gap:g} s after the previous injection: the "
                      f"valve stays in INJECT {INJECT_HOLD_S:g} s after each injection")
        run = self.run_length_s
        if run and gap < run - 1e-6:
            self.fail(f"{label} would be injected {(t - self.last_inject_t) / 60:g} min after "
                      f"the previous injection, but a chromatogram runs {run / 60:g} min"
                      + (f" (method {self.method_name})" if self.method_name else "")
                      + ": the runs would overlap")

    def _loop_window(self, t: float) -> tuple[float, float]:
        """When the dialysate in the loop at backend time ``t`` left the probe: the last
        loop volume that reached the outlet (the loop fills continuously in online mode)."""
        rate, loop = self.flows[-1].rate_uL_min, self.spec.loop_volume_uL or 0.0
        if rate > 0 and loop > 0:
            return self.window(t - loop / rate * 60.0, t)
        return (math.nan, math.nan)

    def _fraction(self, sample: Sample, start: float, end: float) -> Sample:
        """The tube's record from what happened: filled from the arm's arrival to its
        leaving, the volume the pump delivered meanwhile (``volume_short`` when it is well
        under what the flow commanded)."""
        commanded = self._volume(start, end)
        delivered = self.backend.delivered_uL(start, end)
        flags = []
        volume = commanded
        if delivered is not None:
            volume = delivered
            if delivered < commanded * (1 - VOLUME_TOLERANCE) - VOLUME_SLACK_UL:
                flags.append("volume_short")
        probe = self.window(start, end)
        return Sample(label=sample.label, t_start=start, t_end=end, probe_start_s=probe[0],
                      probe_end_s=probe[1], phase=sample.phase, tube=sample.tube,
                      volume_uL=volume, line=sample.line, unfilled=sample.unfilled,
                      flags=",".join(flags))

    def _inject(self, label: str, kind: str, probe: tuple[float, float],
                late: Callable[[float], tuple[float, float]] | None = None) -> float:
        t = self.backend.inject(label, kind, probe, late)
        self.last_inject_t = self.t
        self.last_inject_at = t
        self.plan.injections += 1
        return t

    def _volume(self, start: float, end: float) -> float:
        volume = 0.0
        changes = [c for c in self.flows if c.t < end]
        for i, change in enumerate(changes):
            a = max(change.t, start)
            b = changes[i + 1].t if i + 1 < len(changes) else end
            b = min(b, end)
            if b > a:
                volume += change.rate_uL_min * (b - a) / 60.0
        return volume

    def _partial(self, label: str, tube: int, start: float) -> None:
        """Record the fraction of a tube that was filling when the run stopped."""
        end = self.backend.now()
        probe = self.window(start, end)
        self.backend.fraction(Sample(label=label, t_start=start, t_end=end,
                                     probe_start_s=probe[0], probe_end_s=probe[1],
                                     phase=self.phase, tube=tube,
                                     volume_uL=self._volume(start, end), line=self.line,
                                     unfilled=self._unfilled(probe[0]), flags="partial"))

    def _unfilled(self, probe_start: float) -> bool:
        return (self.perfusion_start is None or not math.isfinite(probe_start)
                or probe_start < self.perfusion_start - 1e-9)


def _hours(t: float) -> str:
    return f"{t / 3600:.1f} h" if t >= 3600 else f"{t / 60:.1f} min"
