"""Damaged session files: none hangs, none prints a traceback, every one gets an answer.

A fuzz over byte-corrupted copies of a crashed and of a complete session, plus damage made
on purpose (heartbeat deleted, pyramid attributes gone, bad rig JSON, a text or 2-D signal).
Each file goes through ``inspect``, ``recover`` and ``export`` in a child process that must
finish within 10 s a command.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from raphe.acquisition.session import Session
from raphe.records import DetectorBlock, Event, Injection

from crash_writer import kill_mid_write

ROOT = Path(__file__).resolve().parents[2]

#: Runs the three commands on one file in one process; prints one JSON line per command.
PROBE = """
import contextlib, io, json, sys, time
from raphe.gui.cli import main
path, out = sys.argv[1], sys.argv[2]
for args in (["inspect", path, "--json"], ["recover", path, "--out", out + "/r.h5"],
             ["export", path, "--out", out + "/csv"]):
    err, std = io.StringIO(), io.StringIO()
    t = time.monotonic()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(std):
        try:
            code = main(args)
        except SystemExit as exc:
            code = exc.code
    print(json.dumps({"command": args[0], "code": code, "err": err.getvalue(),
                      "seconds": time.monotonic() - t}), flush=True)
"""


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("originals")
    crashed, log = folder / "crashed.h5", folder / "writer.log"
    kill_mid_write(crashed, log)
    complete = folder / "complete.h5"
    with Session.create(complete, signal_dt=0.1, operator="fuzz") as s:
        for i in range(40):
            s.add_block(DetectorBlock(i * 50, i * 5.0, 0.1, np.linspace(0, 1, 50) + i))
            if i % 10 == 0:
                s.add_injection(Injection(i * 5.0, f"S{i:03d}", 20.0))
                s.add_event(Event(i * 5.0, "marker", f"m{i}", "protocol"))
    return {"crashed": crashed.read_bytes(), "complete": complete.read_bytes()}


def probe(path: Path, out: Path) -> list[dict]:
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, "-c", PROBE, str(path), str(out)],
                          capture_output=True, text=True, timeout=30, check=False,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [r["command"] for r in results] == ["inspect", "recover", "export"]
    return results


def assert_answered(results: list[dict], name: str) -> None:
    for r in results:
        assert r["seconds"] < 10, (name, r)
        assert "Traceback" not in r["err"], (name, r["err"])
        if r["code"] != 0:
            lines = r["err"].strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith(f"raphe {r['command']}: error: "), (
                name, r["err"])


def corrupt(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    kind = rng.choice(["metadata", "anywhere", "truncate", "zeros"])
    if kind == "truncate":
        return bytes(b[: rng.randrange(100, len(b))])
    if kind == "zeros":
        start = rng.randrange(0, len(b) - 4096)
        b[start:start + rng.choice([64, 512, 4096])] = bytes(rng.choice([64, 512, 4096]))
        return bytes(b[: len(data)])
    for _ in range(rng.choice([1, 4, 16, 64])):
        pos = rng.randrange(0, min(len(b), 65536) if kind == "metadata" else len(b))
        b[pos] ^= rng.randrange(1, 256)
    return bytes(b)


@pytest.mark.parametrize("trial", range(32))
def test_byte_corrupted_sessions_never_hang_or_trace_back(originals, tmp_path, trial):
    rng = random.Random(7919 * trial)
    which = "crashed" if trial % 2 == 0 else "complete"
    path = tmp_path / f"{which}-{trial}.h5"
    path.write_bytes(corrupt(originals[which], rng))
    before = path.read_bytes()
    assert_answered(probe(path, tmp_path / "out"), path.name)
    assert path.read_bytes() == before  # no command modifies what it reads


def damage(path: Path, how: str) -> None:
    with h5py.File(path, "r+") as f:
        if how == "heartbeat deleted":
            del f["writer_heartbeat"]
        elif how == "pyramid attributes missing":
            del f["signals/ecd_pyramid"].attrs["factor"]
        elif how == "bad rig JSON":
            f["rig"].attrs["identities"] = "{not json"
        elif how in ("text signal", "2-D signal"):
            del f["signals/ecd"]
            if how == "text signal":
                f["signals/ecd"] = np.array([b"a", b"b"])
            else:
                f["signals/ecd"] = np.zeros((10, 2))
        elif how == "block table zeroed at the end":
            blocks = f["signals/ecd_blocks"]
            blocks.resize((blocks.shape[0] + 5,))
        elif how == "format version from the future":
            f.attrs["format_version"] = 99


DAMAGE = ["heartbeat deleted", "pyramid attributes missing", "bad rig JSON", "text signal",
          "2-D signal", "block table zeroed at the end", "format version from the future"]


@pytest.mark.parametrize("how", DAMAGE)
def test_damage_made_on_purpose_gets_one_line_or_a_reading(originals, tmp_path, how):
    path = tmp_path / "damaged.h5"
    path.write_bytes(originals["complete"])
    damage(path, how)
    results = probe(path, tmp_path / "out")
    assert_answered(results, how)
    inspect = results[0]
    if how in ("text signal", "2-D signal", "format version from the future"):
        assert inspect["code"] == 1
    if how == "block table zeroed at the end":  # the zero rows are never read as blocks
        assert inspect["code"] == 0


def test_the_zeroed_rows_of_a_failed_resize_are_not_read(originals, tmp_path):
    from raphe.acquisition.reader import SessionReader

    path = tmp_path / "zeroed.h5"
    path.write_bytes(originals["complete"])
    damage(path, "block table zeroed at the end")
    with SessionReader(path) as r:
        assert r.n_samples == 2000 and len(r.block_table) == 40
        assert len(r.injections()) == 4


def test_an_export_that_cannot_start_or_fails_midway_leaves_nothing_behind(originals,
                                                                          tmp_path, capsys):
    from raphe.gui.cli import main

    path = tmp_path / "s.h5"
    path.write_bytes(originals["complete"])
    assert main(["export", str(path), "--out", "/proc/raphe-export"]) == 1
    assert "cannot create folder /proc/raphe-export" in capsys.readouterr().err
    # A disk that fills up half way through signal.csv (root mounts a 64 kB tmpfs).
    small = tmp_path / "small"
    small.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)],
        capture_output=True, check=False).returncode == 0
    if not mounted:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        assert main(["export", str(path), "--out", str(small / "csv")]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "No space left on device" in err[0], err
        assert list(small.iterdir()) == []  # no partial signal.csv, no empty folder
    finally:
        subprocess.run(["umount", str(small)], check=False)


#: A writer that dies between the signal's flush and the block table's: the file holds
#: 1000 samples (value i at i) and only the first ``rows_left`` of its 5 block rows.
TORN = """
import os, sys
import numpy as np
from raphe.acquisition.session import Session
from raphe.records import DetectorBlock
path, rows_left = sys.argv[1], int(sys.argv[2])
s = Session.create(path, signal_dt=0.1, operator="torn")
for i in range(5):
    s.add_block(DetectorBlock(i * 200, i * 20.0, 0.1, np.arange(i * 200, (i + 1) * 200.0)))
s.sync()
f = s._writer.f
f["signals/ecd_blocks"].resize((rows_left,))
f.flush()
os._exit(0)
"""


@pytest.mark.parametrize("rows_left", [0, 3])
def test_samples_after_the_last_block_row_are_recovered_with_a_block_row(tmp_path, rows_left):
    """The samples stored beyond the last block row (all of them when no row survived) come
    back with a block row of their own, continuing the last one or starting at time 0."""
    from raphe.acquisition.reader import SessionReader
    from raphe.acquisition.recover import recover

    path = tmp_path / "torn.h5"
    subprocess.run([sys.executable, "-c", TORN, str(path), str(rows_left)], check=True,
                   timeout=60, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    report = recover(path)
    assert report.continued == 1000 - 200 * rows_left
    with SessionReader(report.output) as r:
        assert r.check()["problems"] == []
        assert r.n_samples == 1000
        b = r.block_table
        assert b["index0"][0] == 0 and b["t0"][0] == 0.0
        assert np.all(b["index0"][1:] == b["index0"][:-1] + b["n"][:-1])
        assert np.array_equal(r.stored(0, 1000)[0], np.arange(1000.0))
        assert np.isclose(r.t_range[1], 100.0)
        assert any("recovered" in e.text for e in r.events())
