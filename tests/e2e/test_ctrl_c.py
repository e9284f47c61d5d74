"""Ctrl-C once pauses ``raphe run``; twice aborts to the safe state with a complete file
(docs/reliability.md: exit 4), wherever in the console loop the second one lands. Without a
terminal the pause says how the run can end; on a terminal it asks resume or abort, and
both answers are taken."""

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
    (told,) = [line for line in stdout.splitlines() if "Ctrl-C aborts" in line]
    assert told.startswith("paused by the operator (Ctrl-C); perfusion and acquisition go on")
    assert f"raphe control {out} resume" in told  # how it can be resumed from elsewhere
    with SessionReader(out) as r:
        assert r.complete


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_on_a_terminal_ctrl_c_asks_resume_or_abort_and_takes_both_answers(tmp_path):
    from terminal import Terminal

    out = tmp_path / "s.h5"
    term = Terminal([sys.executable, "-m", "raphe", "run", str(PROTOCOL), "--sim", "--speed",
                     "300", "--out", str(out)], tmp_path)
    question = "[r]esume or [a]bort? >"
    try:
        term.wait_for("running ")
        term.proc.send_signal(signal.SIGINT)
        asked = term.wait_for(question)
        assert "paused by the operator (Ctrl-C); perfusion and acquisition go on" in \
            term.output(), term.output()[-1000:]
        term.type("r")
        term.wait_for("running ", start=asked)  # the status line is back
        term.proc.send_signal(signal.SIGINT)
        term.wait_for(question, start=asked + 1)
        term.type("a")
        code = term.finish()
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
    assert code == 4, term.output()[-2000:]
    assert "Traceback" not in term.output()
    assert "aborted by the operator" in term.output()
    with SessionReader(out) as r:
        assert r.complete
        steps = [e.text for e in r.events() if e.kind == "step"]
        assert "resumed by the operator" in steps, steps
