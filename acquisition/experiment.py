"""An online-monitoring experiment without a protocol: perfuse, record, inject, quantify.

Opens nothing itself: it is given a connected ``Rig`` and the clock, creates
the session, starts perfusion, runs the ``Recorder`` (valve injections every
``inject_every_min``), feeds the ``LiveQuantifier`` through the session so
live results and the file see one stream, and leaves every instrument in its
safe state and the file complete whatever happens.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from raphe.acquisition.recorder import Recorder
from raphe.acquisition.session import Session
from raphe.drivers.base import Syringe
from raphe.drivers.rig import Rig
from raphe.errors import InputError
from raphe.records import Event, SampleResult, StreamOnly

log = logging.getLogger("raphe.experiment")


@dataclass
class ExperimentSettings:
    out: Path
    minutes: float | None = None  # None: until stopped
    inject_every_min: float | None = None
    #: Perfusion before the first sample starts filling the loop (samples then every interval).
    equilibrate_min: float = 0.0
    flow_uL_min: float = 1.0
    method: object | None = None  # raphe.acquisition.analysis.method.AnalysisMethod
    operator: str = ""
    animal_id: str = ""
    notes: str = ""
    #: Events to record when the clock reaches their time (e.g. simulated drug doses).
    scheduled: list[Event] = field(default_factory=list)
    #: Called with the raw clock time that becomes session time 0 (a simulated rig schedules
    #: its virtual doses from it).
    on_start: Callable[[float], None] | None = None


@dataclass
class Status:
    """A snapshot for progress displays."""

    t: float
    samples: int
    injections: int
    results: list[SampleResult]
    events: list[Event]
    finished: bool = False
    error: str = ""


class _Counter:
    """Session consumer counting samples and keeping events (for the progress display)."""

    def __init__(self) -> None:
        self.samples = 0
        self.injections = 0
        self.events: list[Event] = []

    def on_block(self, block) -> None:
        self.samples += len(block)

    def on_injection(self, injection) -> None:
        self.injections += 1

    def on_event(self, event) -> None:
        self.events.append(event)


class Experiment:
    """Run one recording on a connected rig; ``run()`` returns when it is over."""

    def __init__(self, rig: Rig, clock, settings: ExperimentSettings, rig_text: str = "") -> None:
        if rig.detector is None:
            raise InputError("the rig has no [detector]: nothing to record")
        if settings.inject_every_min is not None and rig.valve is None:
            raise InputError("--inject-every needs a [valve] in the rig file")
        self.rig = rig
        self.clock = clock
        self.settings = settings
        self.rig_text = rig_text
        self.results: list[SampleResult] = []
        self.stop_requested = threading.Event()
        self.error: str = ""
        self.session: Session | None = None

    def request_stop(self, *_) -> None:
        self.stop_requested.set()

    def run(self, progress: Callable[[Status], None] | None = None,
            progress_every_s: float = 0.5) -> Status:
        s = self.settings
        rig = self.rig
        cfg = rig.config
        detector_settings = cfg.roles["detector"][1]
        interval = float(detector_settings.get("interval_s", 0.1))
        scale = float(detector_settings["scale_nA_per_V"])
        loop_volume = float(cfg.roles["valve"][1].get("loop_volume_uL", 20.0)) if rig.valve else 0.0
        rig.detector.configure(interval, scale)
        session = Session.create(
            s.out, operator=s.operator, animal_id=s.animal_id, notes=s.notes,
            rig={"text": self.rig_text or cfg.text, "identities": rig.identities(),
                 "name": cfg.name, "fluidics": cfg.fluidics},
            protocol={"name": "online monitoring (raphe record)", "source": "", "parameters": {
                "flow_uL_min": s.flow_uL_min, "inject_every_min": s.inject_every_min,
                "equilibrate_min": s.equilibrate_min, "minutes": s.minutes,
                "scheduled": [{"t_s": e.t, "kind": e.kind, "text": e.text} for e in s.scheduled],
            }},
            method_toml=getattr(s.method, "text", "") if s.method else "",
            signal_dt=interval, scale_nA_per_V=scale, wall_start=time.time(),
        )
        self.session = session
        counter = _Counter()
        session.subscribe(counter)
        quantifier = None
        if s.method is not None:
            from raphe.acquisition.analysis.live import LiveQuantifier

            def on_result(result: SampleResult) -> None:
                self.results.append(result)
                session.add_result(result)

            quantifier = LiveQuantifier(s.method, on_result=on_result)
            session.subscribe(StreamOnly(quantifier))
        raw_t0 = self.clock.now()
        self.clock = self.clock.shifted(raw_t0)  # session time 0 = recording start
        if s.on_start is not None:
            s.on_start(raw_t0)
        recorder = Recorder(
            rig.detector, session, clock=self.clock, valve=rig.valve, pump=rig.pump,
            inject_every_s=s.inject_every_min * 60.0 if s.inject_every_min else None,
            loop_volume_uL=loop_volume,
            first_inject_s=(s.equilibrate_min + s.inject_every_min) * 60.0
            if s.inject_every_min else None,
        )
        scheduled = sorted(s.scheduled, key=lambda e: e.t)
        status = Status(0.0, 0, 0, self.results, counter.events)
        try:
            self._start_perfusion(session)
            if rig.valve is not None:
                rig.valve.load()
            recorder.start()
            t_end = s.minutes * 60.0 if s.minutes else None
            run_length = getattr(s.method, "run_length_s", None) or 0.0
            next_progress = 0.0
            while not self.stop_requested.is_set() and not recorder.stop_requested.is_set():
                now = self.clock.now()
                while scheduled and scheduled[0].t <= now:
                    session.add_event(scheduled.pop(0))
                if t_end is not None and now >= t_end:
                    # Let the chromatogram in progress finish, then stop.
                    recorder.stop_injecting()
                    last = recorder.last_injection_t
                    if last is None or now >= last + run_length + 2 * interval:
                        break
                if progress is not None and time.monotonic() >= next_progress:
                    progress(Status(now, counter.samples, counter.injections, self.results,
                                    counter.events))
                    next_progress = time.monotonic() + progress_every_s
                self.stop_requested.wait(0.05)
        finally:
            recorder.stop()
            if recorder.error is not None:
                self.error = f"{type(recorder.error).__name__}: {recorder.error}"
            if quantifier is not None:
                quantifier.finish()
            problems = rig.to_safe_state()
            for problem in problems:
                log.error("safe state: %s", problem)
            session.close()
            status = Status(self.clock.now(), counter.samples, counter.injections,
                            self.results, counter.events, finished=True, error=self.error)
        return status

    def _start_perfusion(self, session: Session) -> None:
        pump = self.rig.pump
        if pump is None:
            return
        settings = self.rig.config.roles["pump"][1]
        pump.set_syringe(Syringe(settings["syringe_diameter_mm"], settings["syringe_volume_uL"]))
        pump.set_rate(self.settings.flow_uL_min)
        pump.infuse()
        session.add_event(Event(self.clock.now(), "step",
                                f"perfusion started at {self.settings.flow_uL_min:g} µL/min",
                                "instrument"))
