"""A run without a terminal is answered, paused, resumed and aborted from another shell:
``raphe control SESSION …`` over the session's local socket (its user only)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from raphe.acquisition.reader import SessionReader

from tests_e2e_helpers import one_line_error, raphe

pytestmark = pytest.mark.slow

PROMPTING = """\
def run(rig, params):
    rig.pump.infuse(1.0)
    answer = rig.prompt("Is the animal awake? [y/n]")
    rig.mark(f"answer {answer}")
    rig.collect(16)
"""


def start_headless(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    protocol = tmp_path / "prompting.py"
    protocol.write_text(PROMPTING)
    out = tmp_path / "s.h5"
    proc = subprocess.Popen([sys.executable, "-m", "raphe", "run", str(protocol), "--sim",
                             "--speed", "300", "--out", str(out)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, out


def wait_for(out: Path, predicate, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (out.with_name(out.name + ".control")).exists():
            result = raphe("control", str(out), "status", timeout=30)
            if result.returncode == 0 and predicate(result.stdout):
                return result.stdout
        time.sleep(0.3)
    raise AssertionError("the run never got there")


def test_a_headless_prompt_is_answered_from_another_shell(tmp_path):
    proc, out = start_headless(tmp_path)
    try:
        status = wait_for(out, lambda s: "Is the animal awake? [y/n]" in s)
        assert "waiting for the operator" in status and "raphe control" in status
        socket = out.with_name(out.name + ".control")
        assert (os.stat(socket).st_mode & 0o777) == 0o600  # its user's only
        answered = raphe("control", str(out), "answer", "yes, grooming", timeout=30)
        assert answered.returncode == 0, answered.stderr
        assert "yes, grooming" in answered.stdout
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    assert "raphe control" in stdout  # the run said how to answer it
    with SessionReader(out) as r:
        assert [e.text for e in r.events() if e.kind == "marker"] == ["answer yes, grooming"]
        assert any("raphe control" in a["who"] for a in r.audit())
    assert not out.with_name(out.name + ".control").exists()  # gone with the run


def test_a_headless_run_is_aborted_from_another_shell(tmp_path):
    proc, out = start_headless(tmp_path)
    try:
        wait_for(out, lambda s: "prompt" in s)
        assert raphe("control", str(out), "abort", timeout=30).returncode == 0
        _, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 4, stderr
    with SessionReader(out) as r:
        assert r.complete and r.metadata["end_reason"] == "aborted"
        assert "raphe control" in r.metadata["end_detail"]


def test_control_of_a_session_no_run_is_writing_is_one_line(tmp_path):
    one_line_error(raphe("control", str(tmp_path / "none.h5"), "status"), "none.h5",
                   "no run is writing this session")
