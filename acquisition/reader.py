"""Read a session file: complete, live (being written) or crashed, all alike.

The file is opened read-only in SWMR mode, so a second process can follow a
session while it is written: call :meth:`SessionReader.refresh` to see it
grow. Only what is consistent is exposed: signal samples covered by a block
row, and block rows whose samples are all present.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, Self

import numpy as np

from raphe.acquisition import store
from raphe.acquisition.pyramid import query
from raphe.errors import InputError
from raphe.records import (
    BaselineReference,
    DetectorBlock,
    Event,
    Fraction,
    Injection,
    PumpState,
    SampleResult,
    as_json,
    columns,
)

_READ_CHUNK = 1 << 20  # samples per read when iterating a long signal


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


class SessionReader:
    """Read access to one session file. Raises :class:`InputError` if it is not readable."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._open()

    def _open(self) -> None:
        self._f = store.open_read(self.path)
        try:
            with self._reading("layout"):
                self._bind()
        except BaseException:
            self._f.close()
            raise

    @contextmanager
    def _reading(self, what: str) -> Iterator[None]:
        """Turn what HDF5 raises on a damaged file into one clear :class:`InputError`."""
        try:
            yield
        except store.READ_ERRORS as exc:
            raise InputError(f"session {self.path}: damaged file: cannot read {what} "
                             f"({type(exc).__name__}: {exc})") from None

    def _bind(self) -> None:
        f = self._f
        self._sig = f[store.SIGNAL]
        self._ovl = f[store.OVERLOAD]
        # A table newer than the file's format version is absent: it reads as empty.
        self._tables = {name: f[path] for name, (path, _) in store.TABLES.items() if path in f}
        pyr = f[store.PYRAMID]
        self.factor = int(pyr.attrs.get("factor", store.PYRAMID_FACTOR))
        self._levels = []
        # Without its attributes the pyramid is not trusted: displays read the signal.
        levels = int(pyr.attrs["levels"]) if "levels" in pyr.attrs and "factor" in pyr.attrs else 0
        for k in range(1, levels + 1):
            if f"level{k}_min" not in pyr or f"level{k}_max" not in pyr:
                break
            self._levels.append((pyr[f"level{k}_min"], pyr[f"level{k}_max"]))
        self.dt = float(self._sig.attrs.get("dt", np.nan))
        self._blocks = np.empty(0, dtype=store.TABLES["blocks"][1])
        self._load_blocks()

    # -- life cycle ------------------------------------------------------------------------

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def refresh(self) -> None:
        """See what a live writer has flushed since the file was opened or last refreshed."""
        hb = self._f[store.HEARTBEAT]
        try:
            hb.refresh()
        except (RuntimeError, OSError, ValueError):  # file not opened in SWMR mode
            pass
        if not self.complete and hb.shape[0] > 1 and hb[1] == 1.0:
            # The writer closed the file: attributes (``complete``) need a fresh open.
            self._f.close()
            self._open()
            return
        datasets = [self._sig, self._ovl, *self._tables.values(), self._f[store.HEARTBEAT]]
        datasets += [d for pair in self._levels for d in pair]
        for ds in datasets:
            try:
                ds.refresh()
            except (RuntimeError, OSError, ValueError):  # file not opened in SWMR mode
                break
        self._load_blocks()

    def _load_blocks(self) -> None:
        table = self._tables["blocks"]
        have = len(self._blocks)  # rows already read and found real
        rows = table.shape[0]
        if rows > have:
            self._blocks = np.concatenate((self._blocks, table[have:]))
        real = store.valid_rows(self._blocks)
        b = self._blocks[:real]
        shaped = (b["n"] > 0) & (b["dt"] > 0)
        real = real if shaped.all() else int(np.argmin(shaped))
        # Rows beyond are fill left by a failed write, or not yet written by a live writer:
        # keep them out of the cache so a later refresh reads them again.
        self._blocks = self._blocks[:real]
        self._block_rows = rows
        n = min(self._sig.shape[0], self._ovl.shape[0])
        ok = self._blocks["pos"] + self._blocks["n"] <= n
        if not ok.all():
            self._valid = int(np.argmin(ok))
        else:
            self._valid = len(self._blocks)

    # -- metadata --------------------------------------------------------------------------

    @property
    def complete(self) -> bool:
        return bool(self._f.attrs.get("complete", False))

    @property
    def status(self) -> str:
        """``complete``, ``recovered`` (complete, rebuilt by ``raphe recover``) or ``open``
        (being written, or the writer died: see :attr:`seconds_since_flush`)."""
        if not self.complete:
            return "open"
        return "recovered" if _decode(self._f.attrs.get("recovered_from", "")) else "complete"

    @property
    def seconds_since_flush(self) -> float:
        """Wall seconds since the writer last flushed (large for a crashed writer)."""
        return time.time() - float(self._f[store.HEARTBEAT][0])

    @property
    def metadata(self) -> dict[str, Any]:
        a = {k: _decode(v) for k, v in self._f.attrs.items()}
        out: dict[str, Any] = {}
        for key, value in a.items():
            out[key] = value.item() if isinstance(value, np.generic) else value
        rig = self._f["rig"].attrs
        proto = self._f["protocol"].attrs
        out["rig"] = {"text": _decode(rig.get("text", "")),
                      "identities": json.loads(_decode(rig.get("identities", "{}")) or "{}"),
                      **json.loads(_decode(rig.get("extra", "{}")) or "{}")}
        out["protocol"] = {"name": _decode(proto.get("name", "")),
                           "source": _decode(proto.get("source", "")),
                           "sha256": _decode(proto.get("sha256", "")),
                           "parameters": json.loads(_decode(proto.get("parameters", "{}"))
                                                    or "{}")}
        out["method_toml"] = _decode(self._f["analysis/method"].attrs.get("toml", ""))
        out["signal"] = {"dt": self.dt, "units": _decode(self._sig.attrs.get("units", "nA")),
                         "scale_nA_per_V": float(self._sig.attrs.get("scale_nA_per_V", np.nan))}
        return out

    # -- signal ----------------------------------------------------------------------------

    @property
    def block_table(self) -> np.ndarray:
        """Rows (seq, pos, index0, n, t0, dt) of every complete block, in arrival order."""
        return self._blocks[: self._valid]

    @property
    def n_samples(self) -> int:
        b = self.block_table
        return int(b["pos"][-1] + b["n"][-1]) if len(b) else 0

    @property
    def t_range(self) -> tuple[float, float]:
        """Session time of the first sample and just after the last one (s)."""
        b = self.block_table
        if not len(b):
            return (0.0, 0.0)
        return float(b["t0"][0]), float(b["t0"][-1] + b["n"][-1] * b["dt"][-1])

    @property
    def duration_s(self) -> float:
        t0, t1 = self.t_range
        return t1 - t0

    def times(self, pos: np.ndarray) -> np.ndarray:
        """Session times (s) of sample positions ``pos``."""
        b = self.block_table
        pos = np.asarray(pos, dtype=np.int64)
        if not len(b):
            return np.empty(len(pos))
        i = np.clip(np.searchsorted(b["pos"], pos, side="right") - 1, 0, len(b) - 1)
        return b["t0"][i] + (pos - b["pos"][i]) * b["dt"][i]

    def _pos(self, t: float | None, end: bool) -> int:
        """First sample at or after ``t`` (start) or one past the last sample at or before it."""
        b = self.block_table
        if not len(b):
            return 0
        if t is None:
            return self.n_samples if end else 0
        i = int(np.searchsorted(b["t0"], t, side="right")) - 1
        if i < 0:
            return 0
        rel = (t - b["t0"][i]) / b["dt"][i]
        k = np.floor(rel + 1e-9) + 1 if end else np.ceil(rel - 1e-9)
        return int(b["pos"][i] + min(max(k, 0), b["n"][i]))

    def signal(self, t_start: float | None = None,
               t_end: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Times (s) and values (nA, NaN = overload) of samples with t_start <= t <= t_end."""
        p0, p1 = self._pos(t_start, False), self._pos(t_end, True)
        if p1 <= p0:
            return np.empty(0), np.empty(0)
        return self.times(np.arange(p0, p1)), self._sig[p0:p1]

    def samples(self, p0: int, p1: int) -> tuple[np.ndarray, np.ndarray]:
        """Values (nA) and overload mask of sample positions ``[p0, p1)``."""
        p1 = min(p1, self.n_samples)
        return self._sig[p0:p1], self._ovl[p0:p1].astype(bool)

    def stored(self, p0: int, p1: int) -> tuple[np.ndarray, np.ndarray]:
        """Values and overload mask of stored positions ``[p0, p1)``, block rows or not."""
        p1 = min(p1, self.stored_samples)
        return self._sig[p0:p1], self._ovl[p0:p1].astype(bool)

    @property
    def stored_samples(self) -> int:
        """Samples in the signal dataset, including any a crash left without a block row."""
        return min(self._sig.shape[0], self._ovl.shape[0])

    @property
    def dropped_block_rows(self) -> int:
        """Block rows a crash or a failed write left without all their samples (ignored)."""
        return self._block_rows - self._valid

    def attrs(self, group: str = "/") -> dict[str, Any]:
        """Raw attributes of a group or dataset, as stored."""
        return dict(self._f[group].attrs)

    def overload(self, t_start: float | None = None, t_end: float | None = None) -> np.ndarray:
        """Overload mask of the same samples as :meth:`signal`."""
        p0, p1 = self._pos(t_start, False), self._pos(t_end, True)
        return self._ovl[p0:p1].astype(bool) if p1 > p0 else np.empty(0, bool)

    def signal_display(self, t_start: float | None = None, t_end: float | None = None,
                       n_points: int = 2000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """At most ``n_points`` (time, min, max) bins covering the range, from the pyramid."""
        p0, p1 = self._pos(t_start, False), self._pos(t_end, True)
        n = self.n_samples
        levels = [(lmin, lmax) for lmin, lmax in self._levels]
        # A live file's pyramid may be a flush ahead of or behind the block table.
        pos, mins, maxs = query(levels, self._sig, n, p0, p1, n_points, self.factor)
        return self.times(pos), mins, maxs

    def blocks(self) -> Iterator[DetectorBlock]:
        """Every stored block, identical to the one recorded, in arrival order."""
        b = self.block_table
        start = 0
        while start < len(b):
            p0 = int(b["pos"][start])
            stop = int(np.searchsorted(b["pos"], p0 + _READ_CHUNK, side="left"))
            stop = max(stop, start + 1)
            p1 = int(b["pos"][stop - 1] + b["n"][stop - 1])
            values = self._sig[p0:p1]
            over = self._ovl[p0:p1].astype(bool)
            for row in b[start:stop]:
                a, z = int(row["pos"]) - p0, int(row["pos"] + row["n"]) - p0
                yield DetectorBlock(int(row["index0"]), float(row["t0"]), float(row["dt"]),
                                    values[a:z], over[a:z])
            start = stop

    # -- tables ----------------------------------------------------------------------------

    def table(self, name: str) -> np.ndarray:
        """Raw rows of a table (with their ``seq``), as a numpy structured array."""
        if name == "blocks":
            return self.block_table
        if name not in self._tables:
            return np.empty(0, dtype=store.TABLES[name][1])
        with self._reading(f"table /{store.TABLES[name][0]}"):
            data = self._tables[name][:]
        if name == "calibration" and data.dtype.names and "fit_json" in data.dtype.names:
            self._v1_calibration = data[: store.valid_rows(data)]
        return store.conform(name, data[: store.valid_rows(data)])

    def records(self, name: str) -> list[Any]:
        """The rows of table ``name`` as its record class (``raphe.records``), in order.

        Columns newer than the file take their declared default.
        """
        record = store.RECORDS[name][1]
        cols = columns(record)
        return [record(**{c.name: c.kind(_decode(row[c.name])) for c in cols})
                for row in self.table(name)]

    def events(self) -> list[Event]:
        return self.records("events")

    def injections(self) -> list[Injection]:
        return self.records("injections")

    def fractions(self) -> list[Fraction]:
        return self.records("fractions")

    def pump(self) -> list[PumpState]:
        return self.records("pump")

    def results(self) -> list[SampleResult]:
        return self.records("results")

    def calibration(self) -> list[dict[str, Any]]:
        """Every calibration fit, in order: ``{"t", "analyte", "fit"}`` where ``fit`` holds
        model, weighting, n, slope, intercept, r_squared, residual_sd, lod_fmol, loq_fmol,
        source, error (when it could not be fitted) and ``standards``: one
        ``{"sample_id", "conc_nM", "volume_uL", "area", "used", "reason"}`` per standard."""
        fits = self.records("calibration")
        old = getattr(self, "_v1_calibration", None)
        if old is not None:  # format version 1: the fit as JSON text
            return [{"t": float(row["t"]), "analyte": _decode(row["analyte"]),
                     "fit": _v1_fit(_decode(row["fit_json"]))} for row in old]
        standards = self.records("standards")
        out = []
        for c in fits:
            fit = {k: v for k, v in as_json(c).items() if k not in ("t", "analyte")}
            fit["standards"] = [
                {k: v for k, v in as_json(s).items() if k not in ("t", "analyte")}
                for s in standards if s.t == c.t and s.analyte == c.analyte]
            out.append({"t": c.t, "analyte": c.analyte, "fit": fit})
        return out

    def baseline_references(self) -> list[BaselineReference]:
        """Every % of baseline reference, in order (the last per analyte is in force)."""
        return self.records("baseline")

    def audit(self) -> list[dict[str, Any]]:
        return [asdict(a) for a in self.records("audit")]

    # -- integrity -------------------------------------------------------------------------

    def check(self) -> dict[str, Any]:
        """Integrity of the stored stream: what a reviewer of the file wants to know.

        ``timestamps_monotonic``: block times, sample indices and pump times never go
        back. ``gaps``: (start, end) of every span of lost detector readings (``gap`` events). ``tables_consistent``: blocks tile the signal without gaps, every row has a
        unique sequence number, rows are in arrival order. ``problems`` says what failed.
        """
        problems: list[str] = []
        b = self.block_table
        if len(b) > 1:
            if np.any(np.diff(b["t0"]) <= 0):
                problems.append("block start times go back")
            if np.any(np.diff(b["index0"]) <= 0):
                problems.append("block sample indices go back")
        pump = self.table("pump")
        if len(pump) > 1 and np.any(np.diff(pump["t"]) < 0):
            problems.append("pump times go back")
        monotonic = not problems
        order_problems = len(problems)
        if len(b) and (b["pos"][0] != 0 or np.any(b["pos"][1:] != b["pos"][:-1] + b["n"][:-1])):
            problems.append("blocks do not tile the signal")
        extra = min(self._sig.shape[0], self._ovl.shape[0]) - self.n_samples
        if extra:
            problems.append(f"{extra} signal samples not covered by a block row")
        if self._valid < len(self._blocks):
            problems.append(f"{len(self._blocks) - self._valid} block rows lack their samples")
        seqs = [self.table(name)["seq"] for name in store.TABLES]
        for name, s in zip(store.TABLES, seqs):
            if len(s) > 1 and np.any(np.diff(s) <= 0):
                problems.append(f"table {name} rows out of order")
        allseq = np.concatenate(seqs)
        if len(np.unique(allseq)) != len(allseq):
            problems.append("sequence numbers repeat across tables")
        # The calibration reads back whole: every fit with the standards it says it used.
        try:
            for fit in self.calibration():
                used = sum(1 for x in fit["fit"].get("standards", []) if x.get("used"))
                n = fit["fit"].get("n")
                if fit["fit"].get("error", "").startswith("the stored fit was cut"):
                    problems.append(f"calibration of {fit['analyte']} at {fit['t']:g} s: "
                                    f"{fit['fit']['error']}")
                elif n is not None and used != n:
                    problems.append(f"calibration of {fit['analyte']} at {fit['t']:g} s says "
                                    f"{n} standards, {used} are stored")
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"calibration cannot be read back ({exc})")
        # Data lost at acquisition (the file is consistent, but readings are missing).
        gaps = [(e.t, e.t_end) for e in self.events() if e.kind == "gap"]
        return {"status": self.status, "timestamps_monotonic": monotonic,
                "tables_consistent": len(problems) == order_problems, "problems": problems,
                "gaps": gaps}


def _v1_fit(text: str) -> dict[str, Any]:
    """A format-version-1 fit (JSON text, possibly cut by its size limit) as a fit dict."""
    try:
        data = json.loads(text or "{}")
    except json.JSONDecodeError:
        return {"error": "the stored fit was cut by the format-1 size limit and cannot be "
                         "read", "standards": []}
    cols = data.pop("standards_columns", ["sample_id", "conc_nM", "volume_uL", "area"])
    data["standards"] = [dict(zip(cols, row), used=1, reason="")
                         for row in data.get("standards", [])]
    data["standards"] += [{"sample_id": sid, "used": 0, "reason": why}
                          for sid, why in data.pop("skipped", [])]
    return data


def _guarded(method, what: str):
    """``method`` of SessionReader with read errors reported as one InputError."""
    def guarded(self, *args, **kwargs):
        with self._reading(what):
            return method(self, *args, **kwargs)
    guarded.__name__ = method.__name__
    guarded.__doc__ = method.__doc__
    return guarded


def _guarded_iter(method, what: str):
    def guarded(self, *args, **kwargs):
        with self._reading(what):
            yield from method(self, *args, **kwargs)
    guarded.__name__ = method.__name__
    guarded.__doc__ = method.__doc__
    return guarded


for _name, _what in (("refresh", "new data"), ("signal", "the signal"),
                     ("samples", "the signal"), ("stored", "the signal"),
                     ("signal_display", "the display pyramid"),
                     ("overload", "the overload mask"), ("attrs", "attributes"),
                     ("check", "the tables")):
    setattr(SessionReader, _name, _guarded(getattr(SessionReader, _name), _what))
for _name, _what in (("metadata", "attributes"), ("seconds_since_flush", "the heartbeat"),
                     ("complete", "attributes"), ("status", "attributes")):
    _prop = getattr(SessionReader, _name)
    setattr(SessionReader, _name, property(_guarded(_prop.fget, _what)))
SessionReader.blocks = _guarded_iter(SessionReader.blocks, "the signal")
