"""Ctrl-C once pauses ``raphe run``; twice aborts to the safe state with a complete file
(docs/reliability.md: exit 4), wherever in the console loop the second one lands."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from raphe.acquisition.reader import SessionReader

pytestmark = pytest.mark.slow

PROTOCOL = Path(__file__).resolve().parents[2] / "protocols" / "library" / "systemic_drug.py"


def test_ctrl_c_twice_aborts_with_a_complete_file(tmp_path):
    out = tmp_path / "s.h5"
    proc = subprocess.Popen([sys.executable, "-m", "raphe", "run", str(PROTOCOL), "--sim",
                             "--speed", "300", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out.exists() and out.stat().st_size > 50_000):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 4, (stdout[-500:], stderr)
    assert "Traceback" not in stderr and "aborted" in stderr
    with SessionReader(out) as r:
        assert r.complete
