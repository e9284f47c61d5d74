"""The session file layout: the one place that knows groups, datasets, tables and attributes.

A session is one HDF5 file written in SWMR mode, so it can be read while it
is written and survives a crash of the writer. Its objects are encoded with
HDF5 1.10's formats at most (``LIBVER``): every reader from HDF5 1.10 on
(MATLAB R2021b+, HDFView, h5dump, R's hdf5r, Julia's HDF5.jl) decodes it, and
SWMR (which needs the 1.10 superblock) still works. In
SWMR mode nothing can be created, so :func:`create` makes every group,
dataset, table and attribute up front. Tables are resizable compound
datasets; every row and every signal block carries a global sequence number
``seq`` giving the order in which the session received it.

The layout is documented for users in ``docs/file-format.md``.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from raphe import __version__
from raphe.errors import InputError
from raphe.records import (
    AuditEntry,
    BaselineReference,
    CalibrationFit,
    CalibrationStandard,
    Event,
    Fraction,
    Injection,
    InstrumentState,
    ProbeRecovery,
    PumpState,
    SampleResult,
    SuitabilityTest,
    columns,
)

#: HDF5 chunk cache of each dataset while a session is written (bytes).
CHUNK_CACHE_BYTES = 64 * 1024
#: Bumped when the layout changes in a way older readers cannot read. Version 2 stores the
#: calibration as columns (no JSON text that a size limit could cut) and adds the baseline
#: reference, calibration standards, probe recovery, suitability and instrument tables.
FORMAT_VERSION = 2
#: Pyramid: each level keeps the min and max of ``PYRAMID_FACTOR`` bins of the level below.
PYRAMID_FACTOR = 16
PYRAMID_LEVELS = 7

SIGNAL = "signals/ecd"
OVERLOAD = "signals/ecd_overload"
BLOCKS = "signals/ecd_blocks"
PYRAMID = "signals/ecd_pyramid"
HEARTBEAT = "writer_heartbeat"


def _text(n: int) -> np.dtype:
    """A text column's numpy type: fixed-length UTF-8 of at most ``n`` bytes.

    In the file the column is one byte wider and null-terminated (:func:`_text_h5`).
    """
    return h5py.string_dtype("utf-8", n)


def _text_h5(n: int) -> h5py.h5t.TypeStringID:
    """A text column's HDF5 type: ``n`` bytes of UTF-8 and room for their terminating NUL.

    Fixed-length (SWMR writers cannot write variable-length data), ``H5T_STR_NULLTERM`` so
    h5dump, MATLAB and HDFView show the text and nothing after it (``H5T_STR_NULLPAD``
    shows every padding NUL), ``H5T_CSET_UTF8``. The extra byte keeps a text of the full
    ``n`` bytes whole: a null-terminated field always ends with a NUL, so HDF5 (and readers
    that trust it) would drop the last byte of a text that filled the field.
    """
    t = h5py.h5t.C_S1.copy()
    t.set_size(n + 1)
    t.set_strpad(h5py.h5t.STR_NULLTERM)
    t.set_cset(h5py.h5t.CSET_UTF8)
    return t


def _file_type(dtype: np.dtype) -> h5py.Datatype:
    """The HDF5 compound type of a table whose rows are ``dtype``: the same members in the
    same order, packed; text members as :func:`_text_h5`. h5py reads such a table back as
    numpy rows with ``S<n+1>`` text, which :func:`conform` turns into ``dtype``."""
    members = [(name, _text_h5(dtype[name].itemsize) if dtype[name].kind == "S"
                else h5py.h5t.py_create(dtype[name])) for name in dtype.names]
    tid = h5py.h5t.create(h5py.h5t.COMPOUND, sum(m.get_size() for _, m in members))
    offset = 0
    for name, member in members:
        tid.insert(name.encode(), offset, member)
        offset += member.get_size()
    return h5py.Datatype(tid)


#: Table name → (HDF5 path, record class). Each row is a ``seq`` followed by the record's
#: columns (``raphe.records``); the blocks table is the writer's own index of the signal.
RECORDS: dict[str, tuple[str, type | None]] = {
    "blocks": (BLOCKS, None),
    "events": ("events", Event),
    "injections": ("injections", Injection),
    "fractions": ("fractions", Fraction),
    "pump": ("pump", PumpState),
    "results": ("analysis/results", SampleResult),
    "calibration": ("analysis/calibration", CalibrationFit),
    "audit": ("audit", AuditEntry),
    "baseline": ("analysis/baseline", BaselineReference),
    "standards": ("analysis/calibration_standards", CalibrationStandard),
    "recovery": ("analysis/recovery", ProbeRecovery),
    "suitability": ("analysis/suitability", SuitabilityTest),
    "instruments": ("instruments", InstrumentState),
}
#: Tables a file of an older format version may lack (read as empty): name → version added.
SINCE: dict[str, int] = {"baseline": 2, "standards": 2, "recovery": 2, "suitability": 2,
                         "instruments": 2}

_BLOCKS_DTYPE = np.dtype([("seq", "<i8"), ("pos", "<i8"), ("index0", "<i8"), ("n", "<i8"),
                          ("t0", "<f8"), ("dt", "<f8")])
_H5_KIND = {float: "<f8", int: "<i8"}


def row_dtype(record: type) -> np.dtype:
    """The compound row type of a record's table: ``seq`` then one field per column."""
    return np.dtype([("seq", "<i8")] + [
        (c.name, _text(c.size) if c.kind is str else _H5_KIND[c.kind]) for c in columns(record)])


#: Table name → (HDF5 path, row dtype). Times are session seconds.
TABLES: dict[str, tuple[str, np.dtype]] = {
    name: (path, _BLOCKS_DTYPE if record is None else row_dtype(record))
    for name, (path, record) in RECORDS.items()
}

#: Groups and datasets every session file has (checked when a file is opened); tables
#: newer than a file's format version are checked only in files of that version or later.
REQUIRED = ("signals", SIGNAL, OVERLOAD, BLOCKS, PYRAMID, "rig", "protocol", "analysis",
            "analysis/method") + tuple(path for name, (path, _) in TABLES.items()
                                       if name not in SINCE)


def unit_attr(name: str) -> str:
    """The ``units`` attribute of a table: ``column: unit`` for every column with a unit."""
    record = RECORDS[name][1]
    if record is None:
        return "pos, index0, n: samples; t0, dt: s"
    return "; ".join(f"{c.name}: {c.unit}" for c in columns(record) if c.unit)


def required_columns(name: str) -> set[str]:
    """Columns a readable file must have (newer columns with a default may be absent)."""
    dtype = TABLES[name][1]
    record = RECORDS[name][1]
    if record is None:
        return set(dtype.names)
    return {"seq"} | {c.name for c in columns(record) if c.required}


#: Library-version bounds of every file Raphe writes: objects no newer than HDF5 1.10's
#: encodings (the lower bound cannot be older: SWMR needs superblock version 3).
LIBVER = ("v110", "v110")
#: Oldest HDF5 library that reads a session.
MIN_READER = "HDF5 1.10"


def superblock_version(path: Path) -> int | None:
    """The superblock version in the file's header (None when there is no HDF5 signature).

    The signature sits at byte 0, 512, 1024, 2048… and the version is the byte after it.
    """
    signature = b"\x89HDF\r\n\x1a\n"
    with open(path, "rb") as fh:
        offset = 0
        while True:
            fh.seek(offset)
            head = fh.read(9)
            if len(head) < 9:
                return None
            if head[:8] == signature:
                return head[8]
            offset = 512 if offset == 0 else offset * 2


def signal_chunk(dt: float) -> int:
    """Chunk length in samples: about 10 s of signal, a power of two in [1024, 65536]."""
    n = 1024
    while n < 65536 and n * dt < 10.0:
        n *= 2
    return n


def fit_text(value: str, nbytes: int) -> bytes:
    """``value`` as UTF-8 cut to ``nbytes`` on a character boundary."""
    raw = str(value).encode("utf-8")
    if len(raw) <= nbytes:
        return raw
    return raw[:nbytes].decode("utf-8", "ignore").encode("utf-8")


def rows(table: str, records: list[tuple]) -> np.ndarray:
    """Build a table's rows from tuples in field order, truncating text to fit."""
    dtype = TABLES[table][1]
    sizes = [dtype[name].itemsize if dtype[name].kind == "S" else 0 for name in dtype.names]
    fixed = [tuple(fit_text(v, s) if s else v for v, s in zip(rec, sizes)) for rec in records]
    return np.array(fixed, dtype=dtype)


def create(path: Path, *, signal_dt: float, operator: str = "", animal_id: str = "",
           notes: str = "", rig: dict | None = None, protocol: dict | None = None,
           method_toml: str = "", scale_nA_per_V: float = float("nan"),
           wall_start: float | None = None, recovered_from: str = "") -> h5py.File:
    """Create a session file with its whole layout; returns it open for writing (not SWMR yet).

    Fails with :class:`InputError` if ``path`` exists: recorded data are never overwritten.
    """
    path = Path(path)
    if not signal_dt > 0:
        raise InputError(f"session {path}: signal_dt must be > 0 s, got {signal_dt!r}")
    if path.exists():
        raise InputError(f"session {path} already exists; choose another path "
                         "(recorded data are never overwritten)")
    if not path.parent.is_dir():
        raise InputError(f"session {path}: folder {path.parent} does not exist")
    try:
        # A small chunk cache per dataset: the writer only appends, and HDF5's default (1 MB
        # per dataset) would fill as the file grows, a steady rise of memory over days.
        f = h5py.File(path, "x", libver=LIBVER, rdcc_nbytes=CHUNK_CACHE_BYTES)
    except (FileExistsError, OSError) as exc:
        raise InputError(f"session {path}: cannot create ({exc})") from exc
    wall = time.time() if wall_start is None else float(wall_start)
    a = f.attrs
    a["format_version"] = FORMAT_VERSION
    a["raphe_version"] = __version__
    a["created"] = datetime.fromtimestamp(wall, UTC).astimezone().isoformat()
    a["wall_start"] = wall
    a["operator"] = operator
    a["animal_id"] = animal_id
    a["notes"] = notes
    a["complete"] = False
    a["recovered_from"] = recovered_from
    a["hdf5_libver_bounds"] = ",".join(LIBVER)
    a["writer_pid"] = os.getpid()
    a["writer_host"] = socket.gethostname()

    rig = dict(rig or {})
    g = f.create_group("rig")
    g.attrs["text"] = str(rig.pop("text", ""))
    g.attrs["identities"] = json.dumps(rig.pop("identities", {}), sort_keys=True)
    g.attrs["extra"] = json.dumps(rig, sort_keys=True, default=str)

    protocol = dict(protocol or {})
    source = str(protocol.get("source", ""))
    g = f.create_group("protocol")
    g.attrs["name"] = str(protocol.get("name", ""))
    g.attrs["source"] = source
    g.attrs["sha256"] = str(protocol.get("sha256") or (_sha256(source) if source else ""))
    g.attrs["parameters"] = json.dumps(protocol.get("parameters", {}), sort_keys=True,
                                       default=str)

    chunk = signal_chunk(signal_dt)
    sig = f.create_group("signals")
    ds = sig.create_dataset("ecd", shape=(0,), maxshape=(None,), chunks=(chunk,), dtype="<f8")
    ds.attrs["units"] = "nA"
    ds.attrs["dt"] = float(signal_dt)
    ds.attrs["dt_units"] = "s"
    ds.attrs["scale_nA_per_V"] = float(scale_nA_per_V)
    ds.attrs["overload"] = "NaN; see ecd_overload"
    ds.attrs["times"] = "from ecd_blocks: sample pos+i is at t0 + i*dt"
    ov = sig.create_dataset("ecd_overload", shape=(0,), maxshape=(None,), chunks=(chunk,),
                            dtype="u1")
    ov.attrs["units"] = "1 = overloaded sample"
    pyr = sig.create_group("ecd_pyramid")
    pyr.attrs["factor"] = PYRAMID_FACTOR
    pyr.attrs["levels"] = PYRAMID_LEVELS
    for k in range(1, PYRAMID_LEVELS + 1):
        pchunk = max(256, chunk // PYRAMID_FACTOR ** k)
        for stat in ("min", "max"):
            d = pyr.create_dataset(f"level{k}_{stat}", shape=(0,), maxshape=(None,),
                                   chunks=(pchunk,), dtype="<f8")
            d.attrs["units"] = "nA"
            d.attrs["bin_samples"] = PYRAMID_FACTOR ** k

    an = f.create_group("analysis")
    m = an.create_group("method")
    m.attrs["toml"] = method_toml
    for name, (hpath, dtype) in TABLES.items():
        t = f.create_dataset(hpath, shape=(0,), maxshape=(None,),
                             chunks=(1024 if name == "blocks" else 64,), dtype=_file_type(dtype))
        t.attrs["units"] = unit_attr(name)
    hb = f.create_dataset(HEARTBEAT, shape=(2,), dtype="<f8", data=[wall, 0.0])
    hb.attrs["units"] = ("[0]: wall time of the writer's last flush, s since 1970-01-01 UTC; "
                         "[1]: 1 once the writer has closed the file")
    return f


def _sha256(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def append(ds: h5py.Dataset, data: np.ndarray) -> None:
    """Append ``data`` to a 1-D resizable dataset (one resize, one slice write)."""
    n = len(data)
    if n == 0:
        return
    start = ds.shape[0]
    ds.resize((start + n,))
    ds[start:] = data


#: How often HDF5 re-reads a metadata block whose checksum fails when reading a file that
#: is (or was) open for SWMR writing. Its default (100, with growing back-off) makes a
#: damaged crashed file take minutes to refuse; a reader racing a live writer needs few.
SWMR_READ_ATTEMPTS = 3


def _hdf5_function(name: str):
    """A function of the HDF5 library h5py runs on (None when it cannot be found)."""
    import ctypes

    try:
        return getattr(ctypes.CDLL(h5py.h5p.__file__), name)
    except (OSError, AttributeError):
        return None


def _swmr_read_fapl() -> h5py.h5p.PropFAID:
    """File access properties for SWMR reads with few metadata read attempts."""
    import ctypes

    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_fclose_degree(h5py.h5f.CLOSE_STRONG)
    attempts = _hdf5_function("H5Pset_metadata_read_attempts")
    if attempts is not None:
        attempts.argtypes = [ctypes.c_int64, ctypes.c_uint]
        attempts.restype = ctypes.c_int
        attempts(fapl.id, SWMR_READ_ATTEMPTS)
    return fapl


def _open_swmr(path: Path, locking: bool) -> h5py.File:
    fapl = _swmr_read_fapl()
    if not locking:
        fapl.set_file_locking(False, True)
    fid = h5py.h5f.open(str(path).encode(), h5py.h5f.ACC_RDONLY | h5py.h5f.ACC_SWMR_READ,
                        fapl=fapl)
    return h5py.File(fid)


#: What h5py and HDF5 raise on damaged metadata or data.
READ_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError, IndexError)


def open_read(path: Path) -> h5py.File:
    """Open a session (complete, live or crashed) read-only; checks it is a readable Raphe file.

    Bounded in time whatever the damage: SWMR opens read each metadata block at most
    ``SWMR_READ_ATTEMPTS`` times. Every failure is one :class:`InputError`.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"session {path}: no such file")
    if path.is_dir():
        raise InputError(f"session {path}: is a folder, not a session file")
    try:
        if not h5py.is_hdf5(path):
            raise InputError(f"session {path}: not an HDF5 file (damaged or not a Raphe session)")
    except OSError as exc:
        raise InputError(f"session {path}: cannot be read ({exc.strerror or exc})") from None
    f = None
    # A plain open checks the file's integrity (e.g. truncation); SWMR opens do not.
    # File locking flags must match those of any handle this process already holds.
    for kwargs in ({}, {"locking": False}):
        try:
            f = h5py.File(path, "r", **kwargs)
            break
        except READ_ERRORS as exc:
            msg = str(exc)
            if "truncated" in msg or ("open for write" not in msg and "locking" not in msg
                                      and "to lock" not in msg):
                what = "truncated" if "truncated" in msg else "damaged"
                raise InputError(f"session {path}: {what} file, cannot be read ({msg})") from None
    if f is None:  # live or crashed: SWMR read; locking must match a writer in this process
        error: Exception | None = None
        for locking in (True, False):
            try:
                f = _open_swmr(path, locking)
                break
            except READ_ERRORS as exc:
                error = exc
        if f is None:
            raise InputError(f"session {path}: damaged file, cannot be read ({error})")
    try:
        check(f, path)
    except InputError:
        f.close()
        raise
    except Exception as exc:  # noqa: BLE001 - HDF5 raises assorted errors on damaged metadata
        f.close()
        raise InputError(f"session {path}: damaged file ({exc})") from None
    return f


def valid_rows(data: np.ndarray) -> int:
    """How many leading rows of a table are real: ``seq`` increases and no row is all zeros.

    A resize whose write failed (disk full) leaves rows of the fill value (zeros) at the
    end; they must never be read as records.
    """
    n = len(data)
    if n == 0:
        return 0
    raw = np.ascontiguousarray(data).view(np.uint8).reshape(n, data.dtype.itemsize)
    good = raw.any(axis=1)
    seq = data["seq"]
    good[1:] &= seq[1:] > seq[:-1]
    return n if good.all() else int(np.argmin(good))


def conform(name: str, data: np.ndarray) -> np.ndarray:
    """Rows of table ``name`` in the current row type; columns a file lacks get defaults."""
    dtype = TABLES[name][1]
    if data.dtype == dtype:
        return data
    out = np.zeros(len(data), dtype=dtype)
    record = RECORDS[name][1]
    defaults = {} if record is None else {
        f.name: f.default for f in dataclass_fields(record)}
    for column in dtype.names:
        if data.dtype.names and column in data.dtype.names:
            out[column] = data[column]
        elif column in defaults and isinstance(defaults[column], float):
            out[column] = defaults[column]
    return out


def check(f: h5py.File, path: Path) -> None:
    """Raise :class:`InputError` unless ``f`` is a session this Raphe can read."""
    version = f.attrs.get("format_version")
    if version is None:
        raise InputError(f"session {path}: not a Raphe session (no format_version attribute)")
    try:
        version = int(version)
    except (TypeError, ValueError):
        raise InputError(f"session {path}: format_version {version!r} is not a number") from None
    if version > FORMAT_VERSION:
        raise InputError(f"session {path}: format version {version} was written by a newer "
                         f"Raphe; this one reads up to version {FORMAT_VERSION}")
    if version < 1:
        raise InputError(f"session {path}: unknown format version {version}")
    for name in REQUIRED:
        if name not in f:
            raise InputError(f"session {path}: missing /{name} (damaged or not a Raphe session)")
    for name, kind in ((OVERLOAD, "iu"), (SIGNAL, "f")):
        ds = f[name]
        if not isinstance(ds, h5py.Dataset):
            raise InputError(f"session {path}: /{name} is not a dataset")
        if ds.ndim != 1 or ds.dtype.kind not in kind:
            raise InputError(f"session {path}: /{name} is {ds.ndim}-D {ds.dtype}, expected a "
                             f"1-D {'number' if kind == 'f' else 'integer'} array")
    for name, (hpath, _dtype) in TABLES.items():
        if name in SINCE and version < SINCE[name] and hpath not in f:
            continue
        if hpath not in f:
            raise InputError(f"session {path}: missing /{hpath} (damaged or not a Raphe "
                             "session)")
        got = f[hpath].dtype
        need = required_columns(name)
        if got.names is None or not need <= set(got.names):
            raise InputError(f"session {path}: table /{hpath} lacks columns "
                             f"{sorted(need - set(got.names or ()))}")


def writer_running(attrs: Any) -> bool | None:
    """Whether the process that created the file still runs on this host (None: cannot tell)."""
    try:
        pid = int(attrs.get("writer_pid", -1))
    except (TypeError, ValueError):
        return None
    if pid <= 0 or attr_text(attrs.get("writer_host", "")) != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def attr_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def open_update(path: Path) -> h5py.File:
    """Open a closed session to update its attributes, whoever else is reading it."""
    try:
        return h5py.File(path, "r+", locking=False, libver=LIBVER)
    except OSError:
        return h5py.File(path, "r+", libver=LIBVER)
