"""A live session: everything the rig produces, numbered, fanned out to consumers and stored.

Any thread may call the ``add_*`` methods. Each record gets a global
sequence number under one lock and is queued, in that order, for the single
writer thread — which appends whole batches to the HDF5 file and flushes at
most ``flush_interval`` seconds (wall clock) after a record arrived, never per
sample — and for every subscription. A subscription (:meth:`Session.subscribe`)
runs its callback on its own thread, fed by its own queue in sequence order, so
no consumer (the analysis, a GUI bridge) ever runs on, or slows, the
acquisition thread. ``close()`` drains the subscriptions, writes what is left
and marks the file complete.

A write that fails (disk full, file removed) stops the writer at once: the
file keeps everything up to its last good flush, later ``add_*`` calls raise
:class:`SessionError`, and ``on_error`` (if given) is called once so the owner
can stop acquisition and make the rig safe.
"""

from __future__ import annotations

import errno
import logging
import queue
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

import h5py
import numpy as np

from raphe.acquisition import store
from raphe.acquisition.pyramid import PyramidBuilder
from raphe.errors import InputError, RapheError
from raphe.records import (
    AuditEntry,
    DetectorBlock,
    Event,
    Fraction,
    Injection,
    PumpState,
    SampleResult,
    values,
)

log = logging.getLogger(__name__)

_STOP = object()

#: Stream kinds a subscription can ask for: the session's tables.
KINDS = tuple(store.TABLES)
#: The acquisition stream the analysis consumes (live and on replay).
STREAM = ("blocks", "injections", "events")


class Subscription:
    """A consumer of the session's records, called on its own thread in sequence order.

    ``callback(kind, record)`` gets every record whose kind (a table name: ``blocks``,
    ``injections``, ``events``, ``fractions``, ``pump``, ``results``, ``calibration``,
    ``audit``) is in ``kinds``. A callback that raises is logged and the subscription
    goes on.
    """

    def __init__(self, callback: Callable[[str, Any], None], kinds: tuple[str, ...],
                 name: str = "") -> None:
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown record kinds {sorted(unknown)} (known: {', '.join(KINDS)})")
        self.callback = callback
        self.kinds = frozenset(kinds)
        self.name = name or getattr(callback, "__qualname__", "subscriber")
        self.failures = 0
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=f"raphe-sub-{self.name}",
                                        daemon=True)
        self._thread.start()

    def put(self, kind: str, record: Any) -> None:
        if kind in self.kinds:
            self._queue.put((kind, record))

    def call(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` on this subscription's thread after the records queued so far."""
        self._queue.put(("call", fn))

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every record queued so far has been handled; False on timeout."""
        done = threading.Event()
        self.call(done.set)
        return done.wait(timeout) if self._thread.is_alive() else True

    def close(self, timeout: float | None = None) -> None:
        """Handle what is queued, then stop the thread."""
        self._queue.put(_STOP)
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            kind, payload = item
            try:
                if kind == "call":
                    payload()
                else:
                    self.callback(kind, payload)
            except Exception:
                self.failures += 1
                log.exception("subscriber %s failed on %s", self.name, kind)


class SessionError(RapheError):
    """The session file could not be written (disk full, file removed...)."""


class DiskFull(OSError):
    """Free space fell below the writer's reserve: it stopped before the disk filled up."""

    def __init__(self, folder: Path, free: int, need: int) -> None:
        super().__init__(errno.ENOSPC, f"disk almost full: {free / 1e6:.2f} MB free in {folder}, "
                         f"{need / 1e6:.2f} MB kept in reserve to close the file")


#: Free space the writer keeps to close the file cleanly (and mark it complete) whatever
#: happens; it also keeps four times its largest flush.
RESERVE_BYTES = 256 * 1024
#: Session files whose closing failed inside HDF5 (a write error it could not undo): the
#: library must not touch them again, not even when Python exits.
UNCLEAN: set[str] = set()


class Session:
    """One experiment being recorded into one HDF5 file. Create with :meth:`create`."""

    def __init__(self, path: Path, f: h5py.File, flush_interval: float,
                 on_error: Callable[[BaseException], None] | None = None) -> None:
        self.path = Path(path)
        self.flush_interval = float(flush_interval)
        self.on_error = on_error
        self._lock = threading.RLock()
        self._seq = 0
        self._subscriptions: list[Subscription] = []
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        self._data_t_end = -float("inf")
        self._error: BaseException | None = None
        self._full = False  # stopped on a full disk, the file closed cleanly
        self._writer = _Writer(f, self._queue, self.flush_interval)
        self._thread = threading.Thread(target=self._run_writer, name="raphe-session-writer",
                                        daemon=True)
        self._thread.start()

    @classmethod
    def create(cls, path: str | Path, *, operator: str = "", animal_id: str = "",
               notes: str = "", rig: dict | None = None, protocol: dict | None = None,
               method_toml: str = "", signal_dt: float, scale_nA_per_V: float = float("nan"),
               wall_start: float | None = None, flush_interval: float = 0.5,
               on_error: Callable[[BaseException], None] | None = None) -> Session:
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
        return cls(Path(path), f, flush_interval, on_error)

    # -- consumers -------------------------------------------------------------------------

    def subscribe(self, callback: Callable[[str, Any], None],
                  kinds: tuple[str, ...] = STREAM, name: str = "") -> Subscription:
        """Call ``callback(kind, record)`` on its own thread for every record of ``kinds``
        added from now on, in sequence order. Stop it with :meth:`unsubscribe`."""
        sub = Subscription(callback, tuple(kinds), name)
        with self._lock:
            self._subscriptions.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription, timeout: float | None = None) -> None:
        """Stop feeding ``sub`` once it has handled what was queued for it."""
        with self._lock:
            if sub in self._subscriptions:
                self._subscriptions.remove(sub)
        sub.close(timeout)

    @property
    def error(self) -> BaseException | None:
        """The write error that stopped the writer, if any."""
        return self._error

    # -- records ---------------------------------------------------------------------------

    def add_block(self, block: DetectorBlock) -> None:
        if len(block) == 0:
            return
        self._add("blocks", block)
        self._data_t_end = max(self._data_t_end, block.t0 + len(block) * block.dt)

    @property
    def data_t_end(self) -> float:
        """Session time (s) the detector's readings reach so far (-inf before the first)."""
        return self._data_t_end

    def add_injection(self, inj: Injection) -> None:
        self._add("injections", inj)

    def add_event(self, ev: Event) -> None:
        self._add("events", ev)

    def mark(self, t: float, text: str, source: str = "operator") -> None:
        """An operator or protocol marker."""
        self.add_event(Event(t, "marker", text, source))

    def add_range_change(self, t: float, scale_nA_per_V: float, text: str = "",
                         source: str = "instrument") -> None:
        """The detector's range/scale changed at ``t``: stored as a ``range`` event."""
        body = f"scale_nA_per_V={scale_nA_per_V:g}" + (f"; {text}" if text else "")
        self.add_event(Event(t, "range", body, source))

    def add_fraction(self, fr: Fraction) -> None:
        self._add("fractions", fr)

    def add_pump_state(self, ps: PumpState) -> None:
        self._add("pump", ps)

    def add_result(self, result: SampleResult) -> None:
        self._add("results", result)

    def add_calibration(self, t: float, analyte: str, fit: dict) -> None:
        """A calibration fit (the record of :func:`~raphe.acquisition.analysis.calibration.
        fit_record`): one ``calibration`` row and one ``standards`` row per standard."""
        from raphe.acquisition.analysis.calibration import fit_rows

        row, standards = fit_rows(t, analyte, fit)
        self._add("calibration", row)
        for standard in standards:
            self._add("standards", standard)

    def add(self, kind: str, record: Any) -> None:
        """A record of any table (``kind`` its name, as in :data:`KINDS`)."""
        self._add(kind, record)

    def add_audit(self, who: str, what: str, previous: str = "", t: float = float("nan")) -> None:
        """A manual action: who did what, and the value it replaced."""
        self._add("audit", AuditEntry(t, time.time(), who, what, previous))

    def _add(self, kind: str, record: Any) -> None:
        with self._lock:
            if self._error is not None:
                raise SessionError(f"session {self.path}: writer failed: {self._error}")
            if self._closed:
                raise SessionError(f"session {self.path} is closed")
            seq = self._seq
            self._seq += 1
            self._queue.put((kind, seq, record, time.monotonic()))
            for sub in self._subscriptions:
                sub.put(kind, record)

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
        except DiskFull as exc:  # stopped before the disk filled: the file closes cleanly
            log.error("session %s: %s", self.path, exc)
            self._error = exc
            self._full = self._writer.close_clean(exc.strerror)
            if not self._full:  # HDF5 failed inside the close: never touch the file again
                UNCLEAN.add(str(self._writer.folder))
                self._writer.abandon()
        except BaseException as exc:  # noqa: BLE001 - kept; add_* and close() report it
            log.error("session %s: writing failed: %s", self.path, exc)
            self._error = exc
            self._writer.abandon()
        if self._error is not None and self.on_error is not None:
            try:
                self.on_error(self._error)
            except Exception:
                log.exception("session error handler failed")

    def close(self, end_reason: str = "", end_detail: str = "") -> None:
        """Drain the subscriptions, write everything queued, close the file, mark it complete.

        Records the subscriptions add while draining (analysis results) are still written.
        ``end_reason`` (``completed``, ``aborted``, ``ended on fault``, ``stopped``) and
        ``end_detail`` (who/why) say how the run ended.
        """
        with self._lock:
            if self._closed:
                return
            subs = list(self._subscriptions)
        for sub in subs:
            sub.close()
        with self._lock:
            self._subscriptions.clear()
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join()
        if self._error is not None and not self._full:
            raise SessionError(f"session {self.path}: writer failed: {self._error}")
        try:
            with store.open_update(self.path) as f:
                f.attrs["complete"] = True
                f.attrs["closed"] = time.time()
                f.attrs["duration_s"] = self._writer.duration_s
                f.attrs["end_reason"] = end_reason or "completed"
                f.attrs["end_detail"] = end_detail
        except OSError as exc:
            self._error = exc
            raise SessionError(f"session {self.path}: cannot mark the file complete: "
                               f"{exc}") from None
        log.info("session %s closed: %d samples", self.path, self._writer.n_samples)
        if self._error is not None:  # complete, but acquisition had to stop early
            raise SessionError(f"session {self.path}: {self._error.strerror}; the file is "
                               "complete up to then")

    @property
    def last_flush(self) -> float:
        """Wall time (s since epoch) of the writer's last successful flush (0: none yet)."""
        return self._writer.last_flush

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
        self.last_flush = 0.0
        self.folder = Path(f.filename).parent
        self._largest_flush = 0
        self.lost_samples = 0
        self._written_t_end = 0.0
        self.last_seq = -1
        #: results by (sample id, injection time, analyte): ("pending", i) or ("row", i)
        self._results: dict[tuple, tuple[str, int]] = {}
        self._rewrites: dict[int, tuple] = {}  # result row → its revised row

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
        self.last_seq = seq
        if kind == "blocks":
            n = len(r)
            self._values.append(np.asarray(r.values, dtype=np.float64))
            self._overload.append(np.asarray(r.overload, dtype=np.uint8))
            self._pending["blocks"].append((seq, self.n_samples, r.index0, n, r.t0, r.dt))
            self.n_samples += n
            if self._t_first is None:
                self._t_first = r.t0
            self._t_end = r.t0 + n * r.dt
        elif kind == "results":
            self._take_result(seq, r)
        else:
            self._pending[kind].append((seq, *values(r)))

    def _take_result(self, seq: int, r: SampleResult) -> None:
        """A result, or a revision of one taken before (its % of baseline changed): the
        revision replaces the row in place, keeping the row's place and ``seq``, so the
        table holds one row per sample and analyte, always the last report."""
        key = (r.sample_id, r.inject_t, r.analyte)
        where = self._results.get(key)
        pending = self._pending["results"]
        if where is None:
            self._results[key] = ("pending", len(pending))
            pending.append((seq, *values(r)))
        elif where[0] == "pending":
            pending[where[1]] = (pending[where[1]][0], *values(r))
        else:
            old = self._rewrites.get(where[1])
            self._rewrites[where[1]] = ((old[0] if old else self._row_seq(where[1])),
                                        *values(r))

    def _row_seq(self, row: int) -> int:
        return int(self.tables["results"][row]["seq"])

    def _room_for(self, nbytes: int) -> None:
        """Raise :class:`DiskFull` unless ``nbytes`` fit and the reserve stays free."""
        self._largest_flush = max(self._largest_flush, nbytes)
        reserve = RESERVE_BYTES + 4 * self._largest_flush
        try:
            free = shutil.disk_usage(self.folder).free
        except OSError:
            return
        if free - nbytes < reserve:
            raise DiskFull(self.folder, free, reserve)

    def _pending_bytes(self) -> int:
        samples = sum(len(v) for v in self._values)
        rows = sum(len(p) * store.TABLES[name][1].itemsize for name, p in self._pending.items())
        return samples * 10 + rows + 16 * 1024  # signal, overload, pyramid, tables, metadata

    def _write(self) -> None:
        self._room_for(self._pending_bytes())
        if self._values:
            values = np.concatenate(self._values)
            store.append(self.sig, values)
            store.append(self.ovl, np.concatenate(self._overload))
            for (dmin, dmax), (mins, maxs) in zip(self.levels, self.pyramid.feed(values)):
                store.append(dmin, mins)
                store.append(dmax, maxs)
            self._values.clear()
            self._overload.clear()
            self._written_t_end = self._t_end
        # Tables after the signal, so a crash mid-flush never leaves a block row without samples.
        for name, pending in self._pending.items():
            if pending:
                start = self.tables[name].shape[0]
                store.append(self.tables[name], store.rows(name, pending))
                if name == "results":
                    for i, fields in enumerate(pending):
                        key = (fields[1], fields[2], fields[3])  # sample_id, inject_t, analyte
                        self._results[key] = ("row", start + i)
                pending.clear()
        if self._rewrites:
            table = self.tables["results"]
            for row, fields in sorted(self._rewrites.items()):
                table[row] = store.rows("results", [fields])[0]
            self._rewrites.clear()
        self.heartbeat[0] = time.time()
        self.f.flush()
        self.last_flush = time.time()

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

    def close_clean(self, reason: str = "") -> bool:
        """Close without writing what is pending (the disk is nearly full), with an alarm
        saying so; True if closed."""
        self.lost_samples = sum(len(v) for v in self._values)
        try:
            alarm = Event(self._written_t_end, "alarm", f"session file: {reason}; acquisition "
                          "stopped, the file is complete up to here", "instrument")
            store.append(self.tables["events"],
                         store.rows("events", [(self.last_seq + 1, *values(alarm))]))
            self.heartbeat[0:2] = [time.time(), 1.0]
            if self._t_first is not None:
                self.duration_s = max(0.0, self._written_t_end - self._t_first)
            self.f.close()
        except (OSError, RuntimeError, ValueError) as exc:
            log.error("closing the session file on a full disk: %s", exc)
            return False
        return True

    def abandon(self) -> None:
        try:
            self.f.close()
        except (OSError, RuntimeError, ValueError) as exc:
            log.error("closing the failed session file: %s", exc)
            UNCLEAN.add(str(self.folder))
