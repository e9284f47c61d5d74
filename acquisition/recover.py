"""Recover a session whose writer died: a complete copy written beside it.

The original is only read (SWMR read access works on a file left open for
writing). The copy keeps every block whose samples were all flushed, the
signal up to the end of the last such block, every flushed table row, and
all metadata; the pyramid is rebuilt, ``recovered_from`` names the original
and ``complete`` is set. The copy is written under a temporary name and
renamed when done, so a half-written copy never looks like a session.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from raphe.acquisition import store
from raphe.acquisition.pyramid import PyramidBuilder
from raphe.acquisition.reader import SessionReader
from raphe.errors import InputError
from raphe.records import Event, values

_CHUNK = 1 << 20
#: A file written on another host and flushed more recently than this (wall seconds) is
#: taken to be live (on this host the writer's process is looked up).
LIVE_WITHIN_S = 5.0


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
        age = reader.seconds_since_flush
        running = store.writer_running(reader.attrs("/"))
        if running or (running is None and age < LIVE_WITHIN_S):
            raise InputError(f"session {path} is being written (last flush {age:.1f} s ago): "
                             "stop the recording first; `raphe inspect` reads it live")
        # A fresh temporary name (never someone's file), renamed once the copy is whole.
        tmp = out.with_name(f".{out.name}.{os.getpid()}.{time.monotonic_ns()}.part")
        try:
            report = _copy(reader, path, tmp, out)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise InputError(f"recover {path}: cannot write {out}: {exc.strerror or exc}") from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    if out.exists():  # someone created ``out`` meanwhile: keep theirs
        tmp.unlink()
        raise InputError(f"recover {path}: output {out} appeared while recovering; not replaced")
    os.replace(tmp, out)
    return report


def _copy(reader: SessionReader, path: Path, tmp: Path, out: Path) -> RecoveryReport:
    meta = reader.attrs("/")
    with store.create(tmp, signal_dt=reader.dt, recovered_from=path.name,
                      wall_start=float(meta.get("wall_start", time.time()))) as f:
        for key in ("created", "operator", "animal_id", "notes", "wall_start"):
            if key in meta:
                f.attrs[key] = meta[key]
        for group in ("rig", "protocol", "analysis/method", store.SIGNAL):
            for key, value in reader.attrs(group).items():
                f[group].attrs[key] = value
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
        builder = PyramidBuilder(store.PYRAMID_FACTOR, store.PYRAMID_LEVELS)
        levels = [(f[f"{store.PYRAMID}/level{k}_min"], f[f"{store.PYRAMID}/level{k}_max"])
                  for k in range(1, store.PYRAMID_LEVELS + 1)]
        for p0 in range(0, total, _CHUNK):
            values_, over = reader.stored(p0, min(total, p0 + _CHUNK))
            store.append(f[store.SIGNAL], values_)
            store.append(f[store.OVERLOAD], over.astype(np.uint8))
            for (dmin, dmax), (mins, maxs) in zip(levels, builder.feed(values_)):
                store.append(dmin, mins)
                store.append(dmax, maxs)
        for (dmin, dmax), (mins, maxs) in zip(levels, builder.finish()):
            store.append(dmin, mins)
            store.append(dmax, maxs)
        rows = {}
        for name, (hpath, _dtype) in store.TABLES.items():
            store.append(f[hpath], tables[name])
            rows[name] = len(tables[name])
        f.attrs["complete"] = True
        f.attrs["closed"] = time.time()
        ends = [store.attr_text(e) for e in tables["events"]["text"][
            tables["events"]["kind"] == b"end"]] if len(tables["events"]) else []
        reason, _, detail = (ends[-1].partition(": ") if ends else (
            "interrupted", "", f"the writer of {path.name} stopped before closing it"))
        f.attrs["end_reason"] = reason
        f.attrs["end_detail"] = detail
        b = tables["blocks"]
        duration = float(b["t0"][-1] + b["n"][-1] * b["dt"][-1] - b["t0"][0]) if len(b) else 0.0
        f.attrs["duration_s"] = duration
        return RecoveryReport(
            source=path, output=out, samples=total, duration_s=duration,
            blocks=rows.pop("blocks"), rows=rows,
            dropped_samples=reader.stored_samples - total,
            dropped_blocks=reader.dropped_block_rows, continued=max(tail, 0))
