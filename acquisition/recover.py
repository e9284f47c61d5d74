"""Recover a session whose writer died: a complete copy written beside it.

The original is only read (SWMR read access works on a file left open for
writing). The copy keeps every block whose samples were all flushed, the
signal up to the end of the last such block, every flushed table row, and
all metadata; the pyramid is rebuilt, ``recovered_from`` names the original
and ``complete`` is set. The copy is written under a temporary name and
renamed when done, so a half-written copy never looks like a session.

A full disk never leaves a file behind nor crashes the process: like the live writer, the
copy keeps ``RESERVE_BYTES`` free (checked before it starts and before each write), stops
with :class:`NotWritten` when the rest would not fit, closes and removes the temporary
file. A write that fails anyway (another program filled the disk) removes it too; HDF5
is then never asked to touch the file again (:data:`~raphe.acquisition.session.UNCLEAN`:
the command line leaves at once).
"""

from __future__ import annotations

import errno
import math
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from raphe.acquisition import store
from raphe.acquisition.pyramid import PyramidBuilder
from raphe.acquisition.reader import SessionReader
from raphe.acquisition.session import RESERVE_BYTES, UNCLEAN, DiskFull
from raphe.errors import InputError, RapheError
from raphe.records import Event, values

_CHUNK = 1 << 20
#: A file written on another host and flushed more recently than this (wall seconds) is
#: taken to be live (on this host the writer's process is looked up).
LIVE_WITHIN_S = 5.0
#: Objects holding HDF5 handles of new files whose writing failed: held (releasing them
#: would make HDF5 write to the file again, and crash) until the process leaves.
_ABANDONED: list = []


def keep_until_exit(obj: object) -> None:
    """Never release ``obj`` (it holds HDF5 handles of a file whose writing failed)."""
    _ABANDONED.append(obj)


class NotWritten(RapheError):
    """A new file (a recovered copy, a replayed session) could not be written — the disk
    is full, an I/O error — and nothing of it was left behind; its source is untouched.
    The command line exits 5 (docs/reliability.md)."""

    exit_code = 5


def write_failure(exc: BaseException) -> str:
    """A failed write in a few words (HDF5's messages run over several lines)."""
    if isinstance(exc, (DiskFull, NoRoom)):
        return str(exc.strerror)
    code = getattr(exc, "errno", None)
    if not isinstance(code, int):
        found = re.search(r"errno = (\d+)", str(exc))
        code = int(found.group(1)) if found else None
    if code:
        return os.strerror(code)
    first = str(exc).strip().splitlines()
    return first[0] if first else type(exc).__name__


@dataclass
class RecoveryReport:
    source: Path
    output: Path
    samples: int
    duration_s: float
    blocks: int
    rows: dict[str, int] = field(default_factory=dict)
    dropped_samples: int = 0
    dropped_blocks: int = 0
    #: samples after the last block row, recovered as continuing it
    continued: int = 0

    def lines(self) -> list[str]:
        out = [f"recovered {self.source} -> {self.output}",
               (f"signal: {self.samples} samples in {self.blocks} blocks, "
                f"{self.duration_s:.3f} s")]
        out.append("tables: " + ", ".join(f"{k} {v}" for k, v in self.rows.items()))
        if self.continued:
            out.append(f"{self.continued} samples stored after the last block row recovered as "
                       "continuing it (an info event in the file says so)")
        if self.dropped_samples or self.dropped_blocks:
            out.append(f"dropped (written during the last, unfinished flush): "
                       f"{self.dropped_samples} samples, {self.dropped_blocks} block rows")
        return out


def default_output(path: Path) -> Path:
    return path.with_name(f"{path.stem}.recovered{path.suffix or '.h5'}")


def recover(path: str | Path, out: str | Path | None = None) -> RecoveryReport:
    """Write the complete copy of crashed session ``path`` to ``out`` (default beside it).

    Raises :class:`InputError` for unreadable files, complete files (nothing to
    recover) and an existing ``out`` (never overwritten).
    """
    path = Path(path)
    out = Path(out) if out is not None else default_output(path)
    with SessionReader(path) as reader:
        if reader.complete:
            raise InputError(f"session {path} is complete: nothing to recover")
        if out.exists():
            raise InputError(f"recover {path}: output {out} already exists "
                             "(never overwritten; pass another --out)")
        if out.resolve() == path.resolve():
            raise InputError(f"recover {path}: output must differ from the original")
        if not out.parent.is_dir():
            raise InputError(f"recover {path}: folder {out.parent} does not exist")
        age = reader.seconds_since_flush
        running = store.writer_running(reader.attrs("/"))
        if running or (running is None and age < LIVE_WITHIN_S):
            raise InputError(f"session {path} is being written (last flush {age:.1f} s ago): "
                             "stop the recording first; `raphe inspect` reads it live")
        # A fresh temporary name (never someone's file), renamed once the copy is whole.
        tmp = out.with_name(f".{out.name}.{os.getpid()}.{time.monotonic_ns()}.part")
        try:
            report = _copy(reader, path, tmp, out)
        except _Failed as failed:  # writing the copy failed: nothing of it is left
            tmp.unlink(missing_ok=True)
            raise NotWritten(f"recover {path}: cannot write {out}: "
                             f"{write_failure(failed.error)}; nothing was left in "
                             f"{out.parent or '.'}, {path} is untouched") from None
        except OSError as exc:  # reading the original
            tmp.unlink(missing_ok=True)
            raise InputError(f"recover {path}: cannot read it: {write_failure(exc)}") from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    if out.exists():  # someone created ``out`` meanwhile: keep theirs
        tmp.unlink()
        raise InputError(f"recover {path}: output {out} appeared while recovering; not replaced")
    try:
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise NotWritten(f"recover {path}: cannot write {out}: {write_failure(exc)}; "
                         f"{path} is untouched") from None
    return report


class _Failed(Exception):
    """Writing the copy failed (``error``); the temporary file is closed or abandoned."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class NoRoom(OSError):
    """The rest of a copy would not fit and leave ``RESERVE_BYTES`` free: it stopped before
    the disk filled up."""


class _Room:
    """Free space in the copy's folder, kept as the live writer keeps it: ``RESERVE_BYTES``
    always stay free, so the file can be closed whatever happens."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def need(self, nbytes: int) -> None:
        """Raise :class:`NoRoom` unless ``nbytes`` more leave the reserve free."""
        try:
            free = shutil.disk_usage(self.folder).free
        except OSError:
            return
        if free - nbytes < RESERVE_BYTES:
            raise NoRoom(errno.ENOSPC, f"not enough space: {free / 1e6:.2f} MB free in "
                         f"{self.folder}, about {nbytes / 1e6:.2f} MB more needed and "
                         f"{RESERVE_BYTES / 1e6:.2f} MB kept free")


def _estimate(tables: dict[str, np.ndarray], samples: int, dt: float) -> int:
    """Bytes that ``samples`` of signal and the rows of ``tables`` take in the copy: whole
    chunks of each dataset, and some metadata."""
    chunk = store.signal_chunk(dt if math.isfinite(dt) and dt > 0 else 1.0)
    total = 9 * chunk * math.ceil(samples / chunk)  # signal (8 bytes) and overload (1)
    for k in range(1, store.PYRAMID_LEVELS + 1):
        pchunk = max(256, chunk // store.PYRAMID_FACTOR ** k)
        total += 2 * 8 * pchunk * math.ceil(samples / store.PYRAMID_FACTOR ** k / pchunk)
    for name, rows in tables.items():
        per_chunk = 1024 if name == "blocks" else 64
        total += store.TABLES[name][1].itemsize * per_chunk * math.ceil(len(rows) / per_chunk)
    return total + 64 * 1024


class _Out:
    """The copy being written. Every dataset is opened once and held, so HDF5 never closes
    one (and writes its cached chunks) behind the copy's back; every write that fails is a
    :class:`_Failed`, after which the library is never asked to touch the file again."""

    def __init__(self, tmp: Path, room: _Room, **create) -> None:
        self.tmp = tmp
        self.room = room
        try:
            room.need(64 * 1024)  # the layout, and the reserve to close it
            self.f = store.create(tmp, **create)
        except (OSError, RuntimeError, ValueError) as exc:
            raise _Failed(exc) from None
        except InputError as exc:  # a fresh name: refused by the disk (the OS error)
            if exc.__cause__ is None:
                raise
            raise _Failed(exc.__cause__) from None
        self.ds = {}
        names = [store.SIGNAL, store.OVERLOAD] + [
            f"{store.PYRAMID}/level{k}_{stat}" for k in range(1, store.PYRAMID_LEVELS + 1)
            for stat in ("min", "max")] + [hpath for hpath, _dtype in store.TABLES.values()]
        for name in names:
            self.ds[name] = self.f[name]

    def append(self, name: str, data: np.ndarray) -> None:
        try:
            store.append(self.ds[name], data)
        except (OSError, RuntimeError, ValueError) as exc:
            self._abandon()
            raise _Failed(exc) from None

    def set_attrs(self, group: str, attrs: dict) -> None:
        try:
            target = self.f[group] if group != "/" else self.f
            for key, value in attrs.items():
                target.attrs[key] = value
        except (OSError, RuntimeError, ValueError) as exc:
            self._abandon()
            raise _Failed(exc) from None

    def flush(self, then_need: int = 0) -> None:
        """Write what HDF5 holds, then make sure ``then_need`` more bytes fit."""
        try:
            self.f.flush()
        except (OSError, RuntimeError, ValueError) as exc:
            self._abandon()
            raise _Failed(exc) from None
        if then_need:
            try:
                self.room.need(then_need)
            except NoRoom as exc:  # stopped before the disk filled: closes cleanly
                self.close()
                raise _Failed(exc) from None

    def close(self) -> None:
        try:
            self.f.close()
        except (OSError, RuntimeError, ValueError) as exc:
            self._abandon()
            raise _Failed(exc) from None

    def _abandon(self) -> None:
        """HDF5 failed to write the file: never close it (closing writes again, and HDF5
        crashes the process at exit on a file it failed to close); hold its objects and let
        the command line leave at once (``UNCLEAN``)."""
        keep_until_exit((self.f, self.ds))
        UNCLEAN.add(str(self.tmp))


def _copy(reader: SessionReader, path: Path, tmp: Path, out: Path) -> RecoveryReport:
    meta = reader.attrs("/")
    room = _Room(tmp.parent)
    out_f = _Out(tmp, room, signal_dt=reader.dt, recovered_from=path.name,
                 wall_start=float(meta.get("wall_start", time.time())))
    try:
        report = _fill(out_f, reader, path, out)
    except _Failed:
        raise
    except BaseException:  # not a write (a damaged original, Ctrl-C): the file closes
        try:
            out_f.close()
        except _Failed:
            pass
        raise
    out_f.close()
    return report


def _fill(out_f: _Out, reader: SessionReader, path: Path, out: Path) -> RecoveryReport:
    meta = reader.attrs("/")
    out_f.set_attrs("/", {key: meta[key] for key in
                          ("created", "operator", "animal_id", "notes", "wall_start")
                          if key in meta})
    for group in ("rig", "protocol", "analysis/method", store.SIGNAL):
        out_f.set_attrs(group, reader.attrs(group))
    n = reader.n_samples
    tables = {name: reader.table(name) for name in store.TABLES}
    blocks = tables["blocks"]
    # Samples stored after the last block row: their flush wrote the signal but died
    # before the tables (a crash, a full disk). They follow the last block on; with no
    # block row at all they start at session time 0 at the signal's nominal interval.
    tail = reader.stored_samples - n
    if tail > 0 and not len(blocks) and not (math.isfinite(reader.dt) and reader.dt > 0):
        tail = 0  # no timing anywhere in the file: nothing to place the samples at
    if tail > 0:
        if len(blocks):
            last = blocks[-1]
            index0, t0, dt = last["index0"] + last["n"], float(
                last["t0"] + last["n"] * last["dt"]), float(last["dt"])
            how = "as if sampled without a pause after the last block"
        else:
            index0, t0, dt = 0, 0.0, reader.dt
            how = f"as sampled from session time 0 every {dt:g} s (no block row survived)"
        seq = max((int(t["seq"].max()) for t in tables.values() if len(t)), default=-1) + 1
        extra = np.array([(seq, n, index0, tail, t0, dt)], dtype=blocks.dtype)
        tables["blocks"] = np.concatenate((blocks, extra))
        note = Event(t0, "info", f"{tail} samples stored after the last block row were "
                     f"recovered {how}", "instrument")
        tables["events"] = np.concatenate(
            (tables["events"], store.rows("events", [(seq + 1, *values(note))])))
    total = n + max(tail, 0)
    # The whole copy must fit before anything is written; each chunk is checked again (the
    # disk is shared).
    out_f.flush(then_need=_estimate(tables, total, reader.dt))
    builder = PyramidBuilder(store.PYRAMID_FACTOR, store.PYRAMID_LEVELS)
    levels = [(f"{store.PYRAMID}/level{k}_min", f"{store.PYRAMID}/level{k}_max")
              for k in range(1, store.PYRAMID_LEVELS + 1)]
    for p0 in range(0, total, _CHUNK):
        values_, over = reader.stored(p0, min(total, p0 + _CHUNK))
        out_f.flush(then_need=_estimate(tables, total - p0, reader.dt))
        out_f.append(store.SIGNAL, values_)
        out_f.append(store.OVERLOAD, over.astype(np.uint8))
        for (dmin, dmax), (mins, maxs) in zip(levels, builder.feed(values_)):
            out_f.append(dmin, mins)
            out_f.append(dmax, maxs)
    for (dmin, dmax), (mins, maxs) in zip(levels, builder.finish()):
        out_f.append(dmin, mins)
        out_f.append(dmax, maxs)
    out_f.flush(then_need=_estimate(tables, 0, reader.dt))
    rows = {}
    for name, (hpath, _dtype) in store.TABLES.items():
        out_f.append(hpath, tables[name])
        rows[name] = len(tables[name])
    ends = [store.attr_text(e) for e in tables["events"]["text"][
        tables["events"]["kind"] == b"end"]] if len(tables["events"]) else []
    reason, _, detail = (ends[-1].partition(": ") if ends else (
        "interrupted", "", f"the writer of {path.name} stopped before closing it"))
    b = tables["blocks"]
    duration = float(b["t0"][-1] + b["n"][-1] * b["dt"][-1] - b["t0"][0]) if len(b) else 0.0
    # Marked complete last: the copy is whole once it is flushed.
    out_f.set_attrs("/", {"end_reason": reason, "end_detail": detail,
                          "duration_s": duration})
    out_f.flush()
    out_f.set_attrs("/", {"complete": True, "closed": time.time()})
    return RecoveryReport(
        source=path, output=out, samples=total, duration_s=duration,
        blocks=rows.pop("blocks"), rows=rows,
        dropped_samples=reader.stored_samples - total,
        dropped_blocks=reader.dropped_block_rows, continued=max(tail, 0))
