"""Simulator temp folders: removed on close, on a failed start, and swept after a crash."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from raphe.simulators import workdir
from raphe.simulators.simulated_rig import RigOptions, SimulatedRig


def _mine() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob(f"raphe-*-{os.getpid()}-*")}


def test_closing_a_rig_removes_its_folder():
    before = _mine()
    with SimulatedRig(RigOptions(speed=10.0), roles=("valve",)) as rig:
        assert Path(rig.directory).is_dir()
    assert _mine() == before


def test_a_rig_that_fails_to_build_leaves_no_folder():
    before = _mine()
    with pytest.raises(ValueError):
        SimulatedRig(RigOptions(speed=10.0, seed=-1))
    assert _mine() == before


def test_folders_of_dead_processes_are_swept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    abandoned = tmp_path / f"raphe-rig-{pid}-abc"
    (abandoned / "pump").mkdir(parents=True)
    alive = tmp_path / f"raphe-rig-{os.getpid()}-def"
    alive.mkdir()
    other = tmp_path / "raphe-rig-notapid"
    other.mkdir()
    assert workdir.sweep(str(tmp_path)) == [str(abandoned)]
    assert not abandoned.exists() and alive.exists() and other.exists()
