"""A live session: everything the rig produces, numbered, fanned out to consumers and stored.

Any thread may call the ``add_*`` methods. Each record gets a global
sequence number under one lock, is handed to the subscribers (in that same
order, on the caller's thread) and queued for the single writer thread,
which appends whole batches to the HDF5 file and flushes at most
``flush_interval`` seconds (wall clock) after a record arrived — never per
sample. ``close()`` writes what is left and marks the file complete.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any, Self

import h5py
import numpy as np

from raphe.acquisition import store
from raphe.acquisition.pyramid import PyramidBuilder
from raphe.errors import InputError, RapheError
from raphe.records import (
    AuditEntry,
    CalibrationFit,
    DetectorBlock,
    Event,
    Fraction,
    Injection,
    PumpState,
    SampleResult,
    values,
)

log = logging.getLogger("raphe.session")

_STOP = object()


class SessionError(RapheError):
    """The session file could not be written (disk full, file removed...)."""


class Session:
    """One experiment being recorded into one HDF5 file. Create with :meth:`create`."""

    def __init__(self, path: Path, f: h5py.File, flush_interval: float) -> None:
        self.path = Path(path)
        self.flush_interval = float(flush_interval)
        self._lock = threading.RLock()
        self._seq = 0
        self._consumers: list[Any] = []
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        self._error: BaseException | None = None
        self._writer = _Writer(f, self._queue, self.flush_interval)
        self._thread = threading.Thread(target=self._run_writer, name="raphe-session-writer",
                                        daemon=True)
        self._thread.start()

    @classmethod
    def create(cls, path: str | Path, *, operator: str = "", animal_id: str = "",
               notes: str = "", rig: dict | None = None, protocol: dict | None = None,
               method_toml: str = "", signal_dt: float, scale_nA_per_V: float = float("nan"),
               wall_start: float | None = None, flush_interval: float = 0.5) -> Session:
        """Create the file at ``path`` (never overwriting) and start the writer.

        ``rig`` holds ``text`` (the rig file) and ``identities`` (role → model,
        serial, firmware); ``protocol`` holds ``name``, ``source``, ``sha256``
        (computed when absent) and ``parameters``. ``wall_start`` is the wall
        time (s since epoch) of session time 0, default now.
        """
        if not 0 < flush_interval <= 1.0:
            raise InputError(f"session {path}: flush_interval must be in (0, 1] s")
        f = store.create(Path(path), signal_dt=signal_dt, operator=operator,
                         animal_id=animal_id, notes=notes, rig=rig, protocol=protocol,
                         method_toml=method_toml, scale_nA_per_V=scale_nA_per_V,
                         wall_start=wall_start)
        try:
            f.swmr_mode = True
        except Exception:
            f.close()
            raise
        return cls(Path(path), f, flush_interval)

    # -- consumers -------------------------------------------------------------------------

    def subscribe(self, consumer: Any) -> None:
        """Feed ``consumer`` (``on_block``/``on_injection``/``on_event``, and optionally
        ``on_fraction``/``on_pump_state``/``on_result``) everything added from now on."""
        with self._lock:
            self._consumers.append(consumer)

    def unsubscribe(self, consumer: Any) -> None:
        with self._lock:
            self._consumers.remove(consumer)

    # -- records ---------------------------------------------------------------------------

    def add_block(self, block: DetectorBlock) -> None:
        if len(block) == 0:
            return
        self._add("blocks", block, "on_block")

    def add_injection(self, inj: Injection) -> None:
        self._add("injections", inj, "on_injection")

    def add_event(self, ev: Event) -> None:
        self._add("events", ev, "on_event")

    def mark(self, t: float, text: str, source: str = "operator") -> None:
        """An operator or protocol marker."""
        self.add_event(Event(t, "marker", text, source))

    def add_range_change(self, t: float, scale_nA_per_V: float, text: str = "",
                         source: str = "instrument") -> None:
        """The detector's range/scale changed at ``t``: stored as a ``range`` event."""
        body = f"scale_nA_per_V={scale_nA_per_V:g}" + (f"; {text}" if text else "")
        self.add_event(Event(t, "range", body, source))

    def add_fraction(self, fr: Fraction) -> None:
        self._add("fractions", fr, "on_fraction")

    def add_pump_state(self, ps: PumpState) -> None:
        self._add("pump", ps, "on_pump_state")

    def add_result(self, result: SampleResult) -> None:
        self._add("results", result, "on_result")

    def add_calibration(self, t: float, analyte: str, fit: dict) -> None:
        """A calibration fit (slope, intercept, weighting, LOD/LOQ...) as JSON."""
        import json

        self._add("calibration",
                  CalibrationFit(t, analyte, json.dumps(fit, sort_keys=True, default=str)), None)

    def add_audit(self, who: str, what: str, previous: str = "", t: float = float("nan")) -> None:
        """A manual action: who did what, and the value it replaced."""
        self._add("audit", AuditEntry(t, time.time(), who, what, previous), None)

    def _add(self, kind: str, record: Any, hook: str | None) -> None:
        with self._lock:
            if self._error is not None:
                raise SessionError(f"session {self.path}: writer failed: {self._error}")
            if self._closed:
                raise SessionError(f"session {self.path} is closed")
            seq = self._seq
            self._seq += 1
            self._queue.put((kind, seq, record, time.monotonic()))
            if hook:
                for consumer in self._consumers:
                    method = getattr(consumer, hook, None)
                    if method is None:
                        continue
                    try:
                        method(record)
                    except Exception:
                        log.exception("session consumer %r failed on %s", consumer, hook)

    # -- life cycle ------------------------------------------------------------------------

    def sync(self, timeout: float | None = None) -> bool:
        """Wait until everything added so far is written and flushed; False on timeout."""
        done = threading.Event()
        with self._lock:
            if self._closed:
                return True
            self._queue.put(("sync", -1, done, time.monotonic()))
        deadline = None if timeout is None else time.monotonic() + timeout
        while not done.wait(0.05):
            if self._error is not None or not self._thread.is_alive():
                return False
            if deadline is not None and time.monotonic() >= deadline:
                return False
        return True

    @property
    def closed(self) -> bool:
        return self._closed

    def _run_writer(self) -> None:
        try:
            self._writer.run()
        except BaseException as exc:  # keep the reason; add_* and close() report it
            log.exception("session writer failed")
            self._error = exc
            self._writer.abandon()

    def close(self) -> None:
        """Write everything queued, close the file and mark it complete."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join()
        if self._error is not None:
            raise SessionError(f"session {self.path}: writer failed: {self._error}")
        with store.open_update(self.path) as f:
            f.attrs["complete"] = True
            f.attrs["closed"] = time.time()
            f.attrs["duration_s"] = self._writer.duration_s
        log.info("session %s closed: %d samples", self.path, self._writer.n_samples)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Writer:
    """The single writer: batches queued records and appends them, flushing on a timer."""

    def __init__(self, f: h5py.File, q: queue.SimpleQueue, flush_interval: float) -> None:
        self.f = f
        self.q = q
        self.flush_interval = flush_interval
        self.sig = f[store.SIGNAL]
        self.ovl = f[store.OVERLOAD]
        self.heartbeat = f[store.HEARTBEAT]
        self.tables = {name: f[path] for name, (path, _) in store.TABLES.items()}
        factor = int(f[store.PYRAMID].attrs["factor"])
        nlev = int(f[store.PYRAMID].attrs["levels"])
        self.levels = [(f[f"{store.PYRAMID}/level{k}_min"], f[f"{store.PYRAMID}/level{k}_max"])
                       for k in range(1, nlev + 1)]
        self.pyramid = PyramidBuilder(factor, nlev)
        self.n_samples = 0
        self.duration_s = 0.0
        self._t_first: float | None = None
        self._pending: dict[str, list] = {name: [] for name in store.TABLES}
        self._values: list[np.ndarray] = []
        self._overload: list[np.ndarray] = []
        self._t_end = 0.0

    def run(self) -> None:
        oldest: float | None = None  # arrival time of the oldest unwritten record
        stop = False
        while not stop:
            timeout = None if oldest is None else max(0.0, oldest + self.flush_interval * 0.8
                                                      - time.monotonic())
            try:
                item = self.q.get(timeout=timeout)
            except queue.Empty:
                item = None
            while item is not None:
                if item is _STOP:
                    stop = True
                    break
                kind, seq, record, arrived = item
                if kind == "sync":
                    self._write()
                    oldest = None
                    record.set()
                else:
                    self._take(kind, seq, record)
                    if oldest is None:
                        oldest = arrived
                try:
                    item = self.q.get_nowait()
                except queue.Empty:
                    item = None
            if oldest is not None and (stop or time.monotonic() >= oldest
                                       + self.flush_interval * 0.8):
                self._write()
                oldest = None
        self._finish()

    def _take(self, kind: str, seq: int, r: Any) -> None:
        if kind == "blocks":
            n = len(r)
            self._values.append(np.asarray(r.values, dtype=np.float64))
            self._overload.append(np.asarray(r.overload, dtype=np.uint8))
            self._pending["blocks"].append((seq, self.n_samples, r.index0, n, r.t0, r.dt))
            self.n_samples += n
            if self._t_first is None:
                self._t_first = r.t0
            self._t_end = r.t0 + n * r.dt
        else:
            self._pending[kind].append((seq, *values(r)))

    def _write(self) -> None:
        if self._values:
            values = np.concatenate(self._values)
            store.append(self.sig, values)
            store.append(self.ovl, np.concatenate(self._overload))
            for (dmin, dmax), (mins, maxs) in zip(self.levels, self.pyramid.feed(values)):
                store.append(dmin, mins)
                store.append(dmax, maxs)
            self._values.clear()
            self._overload.clear()
        # Tables after the signal, so a crash mid-flush never leaves a block row without samples.
        for name, pending in self._pending.items():
            if pending:
                store.append(self.tables[name], store.rows(name, pending))
                pending.clear()
        self.heartbeat[0] = time.time()
        self.f.flush()

    def _finish(self) -> None:
        self._write()
        for (dmin, dmax), (mins, maxs) in zip(self.levels, self.pyramid.finish()):
            store.append(dmin, mins)
            store.append(dmax, maxs)
        self.heartbeat[0:2] = [time.time(), 1.0]
        if self._t_first is not None:
            self.duration_s = self._t_end - self._t_first
        self.f.flush()
        self.f.close()

    def abandon(self) -> None:
        try:
            self.f.close()
        except (OSError, RuntimeError, ValueError) as exc:
            log.error("closing the failed session file: %s", exc)
