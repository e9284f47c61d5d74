"""What the status page shows: a snapshot of a run, kept up to date from what it publishes.

:class:`LiveSource` follows a running engine (its notifications: state, steps, alarms,
prompts, results, closed chromatograms); :class:`FileSource` follows a session file another
process is writing (read through SWMR, refreshed on a timer). Both keep bounded state under
a lock and bump a version number on every change; the server reads snapshots and never
calls back into the run.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from raphe.acquisition.analysis import flags as fl
from raphe.records import BaselineReference, LatestResults, SampleResult, as_json

if TYPE_CHECKING:
    from raphe.protocols.engine import Engine

log = logging.getLogger(__name__)

#: Points of the latest chromatogram sent to the page.
TRACE_POINTS = 600
#: Alarms kept (the newest).
ALARMS_KEPT = 200


def _finite(x: float) -> float | None:
    return float(x) if isinstance(x, (int, float)) and math.isfinite(x) else None


def decimate(t: np.ndarray, y: np.ndarray, n: int = TRACE_POINTS) -> tuple[list, list]:
    """At most ``n`` points (min/max pairs per bin keep the peaks' heights)."""
    if len(t) <= n:
        return [round(float(v), 2) for v in t], [_finite(float(v)) for v in y]
    bins = n // 2
    edges = np.linspace(0, len(t), bins + 1).astype(int)
    ts, ys = [], []
    for a, b in itertools.pairwise(edges):
        seg = y[a:b]
        if not len(seg) or np.isnan(seg).all():
            continue
        i, j = int(np.nanargmin(seg)), int(np.nanargmax(seg))
        for k in sorted((i, j)):
            ts.append(round(float(t[a + k]), 2))
            ys.append(_finite(float(seg[k])))
    return ts, ys


class Source:
    """Shared state of a status page; subclasses feed it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.version = 0
        self.results = LatestResults()
        self.references: dict[str, BaselineReference] = {}
        self.alarms: deque[dict[str, Any]] = deque(maxlen=ALARMS_KEPT)
        self.chromatogram: dict[str, Any] | None = None
        self.drugs: list[dict[str, Any]] = []
        self.meta: dict[str, Any] = {}

    def bump(self) -> None:
        self.version += 1

    # -- what the server asks --------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        raise NotImplementedError

    def results_json(self, analyte: str = "5-HT") -> dict[str, Any]:
        with self.lock:
            rows = [r for r in self.results if r.analyte == analyte]
            ref = self.references.get(analyte)
            chrom = self.chromatogram
            drugs = list(self.drugs)
        points = []
        for r in rows:
            flags = fl.parse(r.flags)
            points.append({"sample_id": r.sample_id,
                           "probe_min": _finite(r.probe_t / 60.0) if math.isfinite(r.probe_t)
                           else _finite(r.inject_t / 60.0),
                           "nM": _finite(r.conc_nM), "area": _finite(r.area),
                           "pct": _finite(r.pct_baseline), "flags": list(flags),
                           "excluded": fl.excludes(flags), "baseline": bool(r.baseline)})
        return {"analyte": analyte, "points": points,
                "reference": None if ref is None else as_json(ref),
                "drugs": drugs, "chromatogram": chrom}

    def _latest(self) -> dict[str, Any] | None:
        ht = [r for r in self.results if r.analyte == "5-HT"]
        return as_json(ht[-1]) if ht else None

    def _add_result(self, result: SampleResult) -> None:
        self.results.add(result)


class LiveSource(Source):
    """Follows ``engine`` through its notifications (subscribe before it starts)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self.started_wall = time.time()
        engine.subscribe(self._on_engine)
        engine.subscribe_stream(self._on_stream, kinds=("baseline", "events"))

    def _on_engine(self, kind: str, payload: Any) -> None:
        if kind not in ("alarm", "result", "chromatogram", "state", "prompt",
                        "prompt_answered", "done", "step", "injection"):
            return
        with self.lock:
            if kind == "alarm":
                self.alarms.append({"t_s": self.engine.session_time(), "wall": time.time(),
                                    "text": str(payload)})
            elif kind == "result":
                self._add_result(payload)
            elif kind == "chromatogram":
                t, y = decimate(np.asarray(payload.t, float), np.asarray(payload.values, float))
                self.chromatogram = {"sample_id": payload.sample_id,
                                     "inject_min": payload.inject_t / 60.0, "t_s": t, "nA": y}
            self.bump()

    def _on_stream(self, kind: str, record: Any) -> None:
        if kind == "baseline":
            with self.lock:
                self.references[record.analyte] = record
                self.bump()
        elif kind == "events" and record.kind == "drug":
            with self.lock:
                self.drugs.append({"t_min": record.t / 60.0, "text": record.text})
                self.bump()

    def status(self) -> dict[str, Any]:
        engine = self.engine
        st = engine.status()
        settings = engine.settings
        speed = st.speed
        now_wall = time.time()

        def at(t_s: float) -> float:  # the wall time session time t_s comes at
            return now_wall + (t_s - st.t) / speed

        upcoming = [{"t_s": t, "at": at(t), "kind": kind, "text": text}
                    for t, kind, text in st.upcoming[:5]]
        prompt = st.prompt
        with self.lock:
            alarms = list(self.alarms)[-20:]
            latest = self._latest()
            version = self.version
        params = dict(engine.params) if engine.params is not None else {}
        return {
            "version": version,
            "session": str(settings.out),
            "protocol": engine.protocol.name,
            "animal": settings.animal_id, "operator": settings.operator,
            "rig": "simulated rig" if settings.sim is not None else str(settings.rig_file),
            "drug": params.get("drug"), "region": params.get("region"),
            "state": st.state, "phase": st.phase, "step": st.step,
            "t_s": st.t, "wall": now_wall, "speed": speed,
            "paused_because": st.paused_because,
            "progress": {"samples_done": st.samples_done, "samples_total": st.samples_total,
                         "duration_s": st.duration_s if math.isfinite(st.duration_s) else None,
                         "eta_s": st.eta_s, "ends_at": st.ends_at,
                         "step_left_s": st.step_left_s},
            "next": upcoming,
            "alarms": alarms,
            "prompt": None if prompt is None else {"id": prompt.id, "text": prompt.text,
                                                   "t_s": prompt.t, "wall": prompt.wall},
            "latest": latest,
            "outcome": None if engine.outcome is None else {
                "exit_code": engine.outcome.exit_code, "message": engine.outcome.message},
        }


class FileSource(Source):
    """Follows a session file written by another process (``raphe serve SESSION``)."""

    def __init__(self, path: str | Path, every_s: float = 2.0) -> None:
        from raphe.acquisition.reader import SessionReader

        super().__init__()
        self.path = Path(path)
        self.reader = SessionReader(self.path)
        self.every_s = every_s
        self._stop = threading.Event()
        self._events: list = []
        self._load()
        self._thread = threading.Thread(target=self._follow, name="raphe-serve-file",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.reader.close()

    def _follow(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.reader.refresh()
                self._load()
            except Exception as exc:  # noqa: BLE001 - a file being written: try again later
                log.debug("serve: reading %s: %s", self.path, exc)

    def _load(self) -> None:
        r = self.reader
        results = r.results()
        refs = r.baseline_references()
        events = r.events()
        with self.lock:
            before = (len(self.results), len(self._events), len(self.references))
            for x in results:
                self.results.add(x)
            for ref in refs:
                self.references[ref.analyte] = ref
            self.alarms.clear()
            for e in events:
                if e.kind == "alarm":
                    self.alarms.append({"t_s": e.t, "wall": None, "text": e.text})
            self.drugs = [{"t_min": e.t / 60.0, "text": e.text} for e in events
                          if e.kind == "drug"]
            self._events = events
            self.meta = r.metadata
            if (len(self.results), len(self._events), len(self.references)) != before:
                self.bump()

    def status(self) -> dict[str, Any]:
        meta = self.meta
        events = self._events
        state = next((e.text for e in reversed(events) if e.kind == "state"), "")
        phase = next((e.text for e in reversed(events) if e.kind == "phase"), "")
        step = next((e.text for e in reversed(events) if e.kind == "step"), "")
        prompts = [e for e in events if e.kind == "prompt"]
        waiting = prompts[-1] if prompts and not prompts[-1].text.startswith("answered") else None
        with self.lock:
            alarms = list(self.alarms)[-20:]
            latest = self._latest()
            version = self.version
        params = meta.get("protocol", {}).get("parameters", {})
        return {"version": version, "session": str(self.path),
                "protocol": meta.get("protocol", {}).get("name", ""),
                "animal": meta.get("animal_id", ""), "operator": meta.get("operator", ""),
                "rig": meta.get("rig", {}).get("name", ""),
                "drug": params.get("drug"), "region": params.get("region"),
                "state": "complete" if self.reader.complete else (state or "recording"),
                "phase": phase, "step": step, "t_s": self.reader.t_range[1],
                "wall": time.time(), "speed": None, "paused_because": [],
                "progress": {}, "next": [], "alarms": alarms,
                "prompt": None if waiting is None else {"text": waiting.text,
                                                        "t_s": waiting.t},
                "latest": latest, "outcome": None}


class FollowingSource(Source):
    """The window's status page: the run the window runs now (idle between runs)."""

    def __init__(self) -> None:
        super().__init__()
        self.current: LiveSource | None = None
        self._switches = 0

    def follow(self, engine: Engine) -> None:
        """Show ``engine``'s run from now on (subscribe before it starts)."""
        self.current = LiveSource(engine)
        self._switches += 1

    @property
    def version(self) -> int:  # type: ignore[override]
        return self._switches * 1_000_000 + (self.current.version if self.current else 0)

    @version.setter
    def version(self, value: int) -> None:
        pass

    def status(self) -> dict[str, Any]:
        if self.current is None:
            return {"version": self.version, "state": "idle", "protocol": "", "phase": "",
                    "step": "no run yet", "t_s": 0.0, "wall": time.time(), "alarms": [],
                    "next": [], "progress": {}, "prompt": None, "latest": None,
                    "paused_because": [], "outcome": None}
        return self.current.status()

    def results_json(self, analyte: str = "5-HT") -> dict[str, Any]:
        if self.current is None:
            return {"analyte": analyte, "points": [], "reference": None, "drugs": [],
                    "chromatogram": None}
        return self.current.results_json(analyte)
