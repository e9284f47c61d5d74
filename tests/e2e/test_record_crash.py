"""``raphe record --sim`` killed with SIGKILL at random moments: ``recover`` keeps everything
acquired up to 1 s (wall clock) before the kill, with tables consistent with the signal."""

from __future__ import annotations

import hashlib
import random
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from raphe.acquisition.reader import SessionReader
from raphe.acquisition.recover import recover

from tests_e2e_helpers import raphe

pytestmark = pytest.mark.slow  # end-to-end runs of the simulated rig

ACQUIRED = re.compile(r"acquired samples (\d+)\.\.(\d+) at wall ([\d.]+)")


def acquired_before(log_text: str, deadline: float) -> int:
    """Index of the last sample the recorder had acquired by wall time ``deadline`` (-1: none)."""
    last = -1
    for first, end, wall in ACQUIRED.findall(log_text):
        if float(wall) <= deadline:
            last = max(last, int(end))
    return last


def test_sigkill_at_random_moments_loses_nothing_older_than_one_second(tmp_path):
    rng = random.Random(20261126)
    for trial in range(10):
        out, log = tmp_path / f"run{trial}.h5", tmp_path / f"run{trial}.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "raphe", "--log-file", str(log), "record", "--sim",
             "--out", str(out), "--speed", "300", "--inject-every", "15",
             "--method", "simulated-5ht", "--sim-dose", "fluoxetine:10:ip@3",
             "--equilibrate", "0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while "acquired samples" not in (log.read_text() if log.exists() else ""):
                assert proc.poll() is None, f"trial {trial}: recorder exited early"
                assert time.monotonic() < deadline, f"trial {trial}: nothing acquired"
                time.sleep(0.02)
            time.sleep(rng.uniform(0.3, 4.0))
            killed_at = time.time()
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            proc.kill()
        must_have = acquired_before(log.read_text(), killed_at - 1.0)
        before = hashlib.sha256(out.read_bytes()).hexdigest()
        report = recover(out)
        assert hashlib.sha256(out.read_bytes()).hexdigest() == before, "original modified"
        with SessionReader(report.output) as r:
            assert r.complete, f"trial {trial}"
            check = r.check()
            assert check["problems"] == [], f"trial {trial}: {check['problems']}"
            assert r.n_samples >= must_have + 1, (
                f"trial {trial}: {r.n_samples} samples recovered, {must_have + 1} acquired "
                f"more than 1 s before the kill")
            blocks = r.block_table
            # killed before any flush: nothing stored is nothing lost (must_have is then -1)
            assert len(blocks) or (r.n_samples == 0 and must_have < 0)
            assert not len(blocks) or blocks["index0"][0] == 0
            assert np.all(blocks["index0"][1:] == blocks["index0"][:-1] + blocks["n"][:-1])
            t_end = r.t_range[1]
            # A result is stored only after the signal that produced it.
            assert all(x.inject_t + 900 <= t_end + 1.0 for x in r.results()
                       if "incomplete" not in x.flags)


def test_recover_command_reports_and_never_overwrites(tmp_path):
    out = tmp_path / "s.h5"
    proc = subprocess.Popen(
        [sys.executable, "-m", "raphe", "record", "--sim", "--out", str(out), "--speed", "200"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not (out.exists() and out.stat().st_size > 200_000):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        time.sleep(1.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    first = raphe("recover", str(out))
    assert first.returncode == 0, first.stderr
    assert "recovered" in first.stdout and "samples" in first.stdout
    again = raphe("recover", str(out))
    assert again.returncode == 1 and "already exists" in again.stderr
    assert "Traceback" not in again.stderr and len(again.stderr.strip().splitlines()) == 1


def test_sigterm_stops_record_cleanly_with_a_complete_file(tmp_path):
    out = tmp_path / "s.h5"
    proc = subprocess.Popen(
        [sys.executable, "-m", "raphe", "record", "--sim", "--out", str(out), "--speed", "100"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not (out.exists() and out.stat().st_size > 100_000):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        stdout, _ = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0
    assert "session written" in stdout
    with SessionReader(out) as r:
        assert r.complete and r.n_samples > 0 and r.check()["problems"] == []
