"""A writer killed with SIGKILL at random moments loses nothing older than 1 s."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from raphe.acquisition.reader import SessionReader
from raphe.acquisition.recover import recover

WRITER = Path(__file__).with_name("crash_writer.py")
ROOT = Path(__file__).resolve().parents[2]


def start_writer(path: Path, log: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, str(WRITER), str(path)], stdout=fh, env=env)
    while "ready" not in log.read_text():
        if proc.poll() is not None:
            raise AssertionError(f"writer exited early with {proc.returncode}")
        time.sleep(0.02)
    return proc


def kill_writer(proc: subprocess.Popen) -> float:
    killed_at = time.time()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return killed_at


def acquired_before(log: Path, deadline: float) -> dict[str, list[int]]:
    """Index_end of every record the writer had acquired by wall time ``deadline``."""
    out: dict[str, list[int]] = {"block": [], "event": [], "injection": []}
    for line in log.read_text().splitlines()[1:]:
        parts = line.split()
        if len(parts) == 3 and float(parts[2]) <= deadline:
            out[parts[0]].append(int(parts[1]))
    return out


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def crashed_session(tmp_path: Path, delay: float) -> tuple[Path, Path, float]:
    path, log = tmp_path / "crashed.h5", tmp_path / "writer.log"
    proc = start_writer(path, log)
    time.sleep(delay)
    return path, log, kill_writer(proc)


@pytest.mark.parametrize("trial", range(10))
def test_sigkill_loses_nothing_older_than_one_second(tmp_path, trial):
    delay = random.Random(trial).uniform(0.05, 1.6)
    path, log, killed_at = crashed_session(tmp_path, delay)
    must = acquired_before(log, killed_at - 1.0)
    before = sha(path)

    with SessionReader(path) as r:
        assert not r.complete and r.status == "open"
    report = recover(path)
    assert sha(path) == before  # the original is never modified
    assert report.output == tmp_path / "crashed.recovered.h5"

    with SessionReader(report.output) as r:
        assert r.complete and r.status == "recovered"
        n = r.n_samples
        assert n >= max(must["block"], default=0)
        t, v = r.signal()
        np.testing.assert_array_equal(v, np.arange(n, dtype=float))
        np.testing.assert_allclose(t, np.arange(n) * 1e-4, rtol=0, atol=1e-9)
        texts = [e.text for e in r.events()]
        for index in must["event"]:
            assert f"after {index}" in texts
        sample_ids = {i.sample_id for i in r.injections()}
        assert len(sample_ids) >= len(must["injection"])
        # Tables consistent with the signal: every event and injection follows its block.
        for e in r.events():
            assert int(e.text.split()[1]) <= n
        for i in r.injections():
            assert i.t <= n * 1e-4 + 1e-9
        check = r.check()
        assert check["timestamps_monotonic"] and check["tables_consistent"], check["problems"]
        # Pyramid rebuilt: a display query covers the whole trace.
        _, mins, maxs = r.signal_display(n_points=100)
        if n:
            assert mins[0] == 0 and maxs[-1] == n - 1


def test_recover_refuses_to_overwrite(tmp_path):
    path, _, _ = crashed_session(tmp_path, 0.3)
    out = tmp_path / "taken.h5"
    out.write_bytes(b"precious")
    from raphe.errors import InputError

    with pytest.raises(InputError, match="taken.h5"):
        recover(path, out)
    assert out.read_bytes() == b"precious"
    assert not (tmp_path / "taken.h5.part").exists()
