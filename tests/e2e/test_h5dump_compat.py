"""Session files are readable by HDF5 1.10's own tools (h5dump), as MATLAB and HDFView are.

A short simulated session is recorded with ``raphe record --sim``; h5dump (Debian's
hdf5-tools, HDF5 1.10) must read every dataset in it, tables included, with the rows
h5py sees. The same for a recovered crashed session and a reanalysed one.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import h5py
import pytest

from crash_writer import kill_mid_write
from tests_e2e_helpers import raphe

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("h5dump") is None,
                       reason="h5dump not installed (Debian package hdf5-tools; .ci/run installs it)"),
]


def datasets(path: Path) -> dict[str, int]:
    """Every dataset in the file and its number of rows, as h5py sees them."""
    found: dict[str, int] = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: found.__setitem__(f"/{name}", obj.shape[0])
                     if isinstance(obj, h5py.Dataset) else None)
    return found


def h5dump_rows(path: Path, dataset: str) -> int:
    result = subprocess.run(["h5dump", "-d", dataset, str(path)], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, f"h5dump -d {dataset}: {result.stderr or result.stdout}"
    assert "error" not in result.stderr.lower(), result.stderr
    match = re.search(r"DATASPACE\s+SIMPLE\s+\{\s*\(\s*(\d+)", result.stdout)
    assert match, result.stdout[:400]
    return int(match.group(1))


def assert_h5dump_reads_everything(path: Path) -> None:
    found = datasets(path)
    for table in ("/events", "/injections", "/fractions", "/pump", "/audit",
                  "/analysis/results", "/analysis/calibration", "/signals/ecd_blocks",
                  "/signals/ecd"):
        assert table in found, table
    for name, rows in found.items():
        assert h5dump_rows(path, name) == rows, name
    listing = subprocess.run(["h5ls", "-r", str(path)], capture_output=True, text=True,
                             timeout=60, check=False)
    assert listing.returncode == 0 and "*ERROR*" not in listing.stdout, listing.stdout
    attrs = subprocess.run(["h5dump", "-A", "-g", "/rig", str(path)], capture_output=True,
                           text=True, timeout=60, check=False)
    assert attrs.returncode == 0 and 'ATTRIBUTE "text"' in attrs.stdout


def test_a_recorded_and_a_reanalysed_session_read_with_h5dump(tmp_path):
    session = tmp_path / "run.h5"
    result = raphe("record", "--sim", "--out", str(session), "--minutes", "16",
                   "--inject-every", "15", "--method", "simulated-5ht", "--speed", "600")
    assert result.returncode == 0, result.stderr
    found = datasets(session)
    assert found["/analysis/results"] > 0 and found["/injections"] == 1
    assert_h5dump_reads_everything(session)

    again = tmp_path / "again.h5"
    result = raphe("replay", str(session), "--out", str(again))
    assert result.returncode == 0, result.stderr
    assert datasets(again)["/audit"] >= 1
    assert_h5dump_reads_everything(again)


def test_a_recovered_session_reads_with_h5dump(tmp_path):
    path, log = tmp_path / "crashed.h5", tmp_path / "writer.log"
    kill_mid_write(path, log)
    out = tmp_path / "recovered.h5"
    result = raphe("recover", str(path), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert datasets(out)["/signals/ecd"] > 0
    assert_h5dump_reads_everything(out)
    # h5clear on a copy opens the crashed file itself to non-Raphe readers (docs/file-format.md).
    if shutil.which("h5clear"):
        copy = tmp_path / "copy.h5"
        shutil.copy(path, copy)
        cleared = subprocess.run(["h5clear", "-s", str(copy)], capture_output=True, text=True,
                                 timeout=60, check=False)
        assert cleared.returncode == 0, cleared.stderr
        assert h5dump_rows(copy, "/signals/ecd") > 0


def test_inspect_shows_the_format_bounds(tmp_path):
    session = tmp_path / "short.h5"
    result = raphe("record", "--sim", "--out", str(session), "--minutes", "1", "--speed", "300")
    assert result.returncode == 0, result.stderr
    shown = raphe("inspect", str(session))
    assert "superblock v3, library-version bounds v110/v110; readable from HDF5 1.10" in shown.stdout
