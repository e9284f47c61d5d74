"""A full disk: a small tmpfs holds the session. The run stops cleanly, every flushed sample
is readable by inspect, export and recover, and nothing crashes — both when the writer sees
the disk filling up and when a write actually fails (ENOSPC). ``recover`` and ``replay --out``
onto a full disk end with one line and exit 5, leave nothing behind and never touch the
original."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests_e2e_helpers import one_line_error, raphe

pytestmark = pytest.mark.slow

ROOT = str(Path(__file__).parents[2])

RECORD = ["record", "--sim", "--speed", "1000", "--minutes", "2000", "--inject-every", "20",
          "--method", "simulated-5ht"]


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs (needs root: CI runs as root)."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def readable_everywhere(session: Path, tmp_path: Path, complete: bool) -> int:
    """inspect, export and (for an incomplete file) recover read it; returns its samples."""
    shown = raphe("inspect", str(session), "--json")
    assert shown.returncode == 0, shown.stderr
    summary = json.loads(shown.stdout)
    assert summary["complete"] is complete and summary["samples"] > 10_000
    # A write that failed mid-flush may leave samples without their block row: said, not hidden.
    assert all("not covered by a block row" in p for p in summary["problems"]), summary
    assert complete is False or summary["problems"] == []
    exported = raphe("export", str(session), "--out", str(tmp_path / "csv"))
    assert exported.returncode == 0, exported.stderr
    lines = (tmp_path / "csv" / "signal.csv").read_text().count("\n")
    assert lines == summary["samples"] + 1
    if not complete:
        out = tmp_path / "recovered.h5"
        recovered = raphe("recover", str(session), "--out", str(out))
        assert recovered.returncode == 0, recovered.stderr
        again = json.loads(raphe("inspect", str(out), "--json").stdout)
        # every sample physically in the file, those of the failed flush included
        assert again["samples"] >= summary["samples"] and again["complete"]
        assert again["problems"] == []
    return summary["samples"]


def test_the_writer_stops_before_the_disk_is_full_and_closes_a_complete_file(small_disk,
                                                                             tmp_path):
    session = small_disk / "s.h5"
    result = raphe(*RECORD, "--out", str(session))
    assert result.returncode == 5, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    (line,) = [ln for ln in result.stderr.splitlines() if ln.startswith("raphe record: error:")]
    assert "disk almost full" in line and "safe state" in line and str(session) in line
    assert readable_everywhere(session, tmp_path, complete=True) > 10_000
    alarms = [e["text"] for e in json.loads(raphe("inspect", str(session), "--json").stdout)[
        "events"] if e["kind"] == "alarm"]
    assert any("acquisition stopped, the file is complete up to here" in a for a in alarms)


FORCE_ENOSPC = """
import sys
from raphe.acquisition import session
session._Writer._room_for = lambda self, nbytes: None  # no reserve: let HDF5 hit ENOSPC
from raphe.gui.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_write_that_fails_stops_the_run_without_a_crash(small_disk, tmp_path):
    session = small_disk / "s.h5"
    result = subprocess.run([sys.executable, "-c", FORCE_ENOSPC, *RECORD, "--out", str(session)],
                            capture_output=True, text=True, timeout=240, check=False,
                            env=dict(os.environ, PYTHONPATH=ROOT))
    assert result.returncode == 5, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    assert any(ln.startswith("raphe record: error: the session file could not be written")
               for ln in result.stderr.splitlines())
    assert readable_everywhere(session, tmp_path, complete=False) > 10_000


#: Writes a session of N blocks of 1000 samples (10 Hz) with injections and markers; with
#: "crash" the writer dies after its last flush (the file stays incomplete, as after kill -9).
WRITE_SESSION = """
import os, sys
import numpy as np
from raphe.acquisition.session import Session
from raphe.records import DetectorBlock, Event, Injection
path, mode, blocks = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = Session.create(path, signal_dt=0.1, operator="disk-full")
for i in range(blocks):
    t0 = i * 100.0
    s.add_block(DetectorBlock(i * 1000, t0, 0.1, np.sin(np.arange(1000) * 0.01) + i))
    if i % 10 == 0:
        s.add_injection(Injection(t0, f"S{i}", 20.0))
        s.add_event(Event(t0, "marker", f"m{i}", "protocol"))
if mode == "crash":
    s.sync()
    os._exit(0)
s.close()
"""


def write_session(path: Path, mode: str, blocks: int) -> str:
    """The session's SHA-256 (to check it is never modified)."""
    subprocess.run([sys.executable, "-c", WRITE_SESSION, str(path), mode, str(blocks)],
                   check=True, timeout=120, env=dict(os.environ, PYTHONPATH=ROOT))
    return sha256(path)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


#: Writes with no free-space check at all, so HDF5 itself hits ENOSPC.
NO_RESERVE = """
import sys
from raphe.acquisition import recover, reanalysis, session
recover._Room.need = lambda self, nbytes: None
session._Writer._room_for = lambda self, nbytes: None
reanalysis.RESERVE_BYTES = 0
from raphe.gui.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run_raphe(*args: str, reserve: bool) -> subprocess.CompletedProcess:
    if reserve:
        return raphe(*args)
    return subprocess.run([sys.executable, "-c", NO_RESERVE, *args], capture_output=True,
                          text=True, timeout=240, check=False,
                          env=dict(os.environ, PYTHONPATH=ROOT))


def fill(disk: Path, space: str) -> None:
    """Leave the 1 MiB disk empty, or fill it completely."""
    if space == "none":
        with open(disk / "ballast", "wb", buffering=0) as fh:
            try:
                while True:
                    fh.write(b"\0" * 4096)
            except OSError:
                pass
        assert shutil.disk_usage(disk).free < 4096


def left_on(disk: Path) -> list[str]:
    return sorted(p.name for p in disk.iterdir() if p.name != "ballast")


@pytest.fixture(scope="module")
def big_sessions(tmp_path_factory):
    """A crashed and a complete session of about 3 MB, each larger than the small disk."""
    folder = tmp_path_factory.mktemp("big")
    crashed, complete = folder / "crashed.h5", folder / "complete.h5"
    return {"crashed": (crashed, write_session(crashed, "crash", 300)),
            "complete": (complete, write_session(complete, "close", 300))}


@pytest.mark.parametrize("reserve", [True, False], ids=["reserve", "enospc"])
@pytest.mark.parametrize("space", ["1MiB", "none"])
def test_recover_onto_a_full_disk_leaves_nothing_and_exits_5(small_disk, big_sessions,
                                                              reserve, space):
    crashed, digest = big_sessions["crashed"]
    fill(small_disk, space)
    out = small_disk / "r.h5"
    result = run_raphe("recover", str(crashed), "--out", str(out), reserve=reserve)
    line = one_line_error(result, "raphe recover: error:", str(out), str(crashed), code=5)
    assert ("not enough space" if reserve else "No space left on device") in line, line
    assert left_on(small_disk) == []  # no copy, no temporary
    assert sha256(crashed) == digest


@pytest.mark.parametrize("reserve", [True, False], ids=["reserve", "enospc"])
@pytest.mark.parametrize("space", ["1MiB", "none"])
def test_replay_out_onto_a_full_disk_leaves_nothing_and_exits_5(small_disk, big_sessions,
                                                                 reserve, space):
    complete, digest = big_sessions["complete"]
    fill(small_disk, space)
    out = small_disk / "p.h5"
    result = run_raphe("replay", str(complete), "--method", "simulated-5ht", "--out", str(out),
                       reserve=reserve)
    line = one_line_error(result, "raphe replay: error:", f"cannot write {out}", str(complete),
                          code=5)
    assert ("disk almost full" if reserve else "No space left on device") in line, line
    assert left_on(small_disk) == []  # never a file that looks complete but is not
    assert sha256(complete) == digest


def test_a_copy_that_fits_is_recovered_onto_the_small_disk(small_disk, tmp_path):
    crashed = tmp_path / "small-crashed.h5"
    digest = write_session(crashed, "crash", 50)  # about 0.65 MB
    out = small_disk / "r.h5"
    result = raphe("recover", str(crashed), "--out", str(out))
    assert result.returncode == 0, result.stderr
    shown = json.loads(raphe("inspect", str(out), "--json").stdout)
    assert shown["complete"] and shown["samples"] == 50_000 and shown["problems"] == []
    assert left_on(small_disk) == ["r.h5"]
    assert sha256(crashed) == digest
