"""The console of ``raphe run`` at a pause, driven through a pseudo-terminal as an operator
would: the question appears whole (Rich markup never eats ``[r]esume`` or a prompt's
brackets) and stays on screen while the operator types, the answer is taken, alarms raised
while it waits are printed at once with the session time they happened, and a stall pause
says how to resume. Without a terminal a pause says how the run can end."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from terminal import Terminal

from raphe.acquisition.reader import SessionReader

from tests_e2e_helpers import raphe

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")]

ROOT = Path(__file__).resolve().parents[2]

PROMPT_PROTOCOL = '''"""Console test: a prompt whose text holds brackets."""

metadata = {"name": "Console test", "version": 1}
parameters = []


def run(rig, params):
    rig.phase("baseline [pre]")
    rig.pump.infuse(1.0)
    rig.wait(minutes=2)
    answer = rig.prompt("Is the probe [3 mm] in place? [y]es / [n]o")
    rig.mark(f"answer: {answer}")
    rig.collect(15, label="B[1]")
'''

STALL_PROTOCOL = '''"""Console test: one sample, long enough for a pump stall."""

metadata = {"name": "Stall test", "version": 1}
parameters = []


def run(rig, params):
    rig.phase("baseline")
    rig.pump.infuse(1.0)
    rig.collect(15, label="B1")
'''

#: ``raphe`` with faults on the simulated rig: the pump stalls 1 s into the run; once the
#: run is paused for it, the detector's link drops 1.5 s later (an alarm while the question
#: waits) and comes back.
WITH_FAULTS = """
import sys, threading, time
from raphe.protocols import engine as E

start = E.Engine.start

def faulty_start(self):
    start(self)

    def faults():
        while self.state is not E.State.RUNNING or self.opened is None:
            time.sleep(0.02)
        time.sleep(1.0)
        self.opened.sim.pump.device.stall()
        while self.state is not E.State.PAUSED:
            time.sleep(0.02)
        time.sleep(1.5)
        self.opened.sim.detector.drop_connection()

    threading.Thread(target=faults, daemon=True).start()

E.Engine.start = faulty_start
from raphe.gui.cli import main
sys.exit(main(sys.argv[1:]))
"""


def assert_question_stays(term: Terminal, since: int, question: str) -> None:
    """Nothing erases or overwrites the question while it waits: the status line is off."""
    time.sleep(1.5)
    with term.lock:
        raw = term.raw[since:]
    assert b"\x1b[2K" not in raw and b"\x1b[1A" not in raw, raw
    assert term.output().rstrip().endswith(question), term.output()[-1000:]


def test_a_prompt_is_asked_whole_stays_on_screen_and_its_answer_is_taken(tmp_path):
    protocol = tmp_path / "prompt_test.py"
    protocol.write_text(PROMPT_PROTOCOL)
    out = tmp_path / "s.h5"
    term = Terminal([sys.executable, "-m", "raphe", "run", str(protocol), "--sim", "--speed",
                     "300", "--out", str(out)], tmp_path)
    try:
        asked = term.wait_for("(Enter to confirm, or type an answer) > ")
        shown = term.output()
        assert "operator: Is the probe [3 mm] in place? [y]es / [n]o\n" in shown, shown
        assert "phase baseline [pre]" in shown  # the status line shows the phase as named
        assert_question_stays(term, asked, "(Enter to confirm, or type an answer) >")
        term.type("probe [3 mm] ok")
        code = term.finish()
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
    assert code == 0, term.output()[-2000:]
    assert "Traceback" not in term.output()
    assert "B[1]" in term.output()  # the result line names the sample as labelled
    with SessionReader(out) as r:
        markers = [e.text for e in r.events() if e.kind == "marker"]
        assert "answer: probe [3 mm] ok" in markers, markers
        assert any("answered prompt" in a["what"] for a in r.audit())


def alarm_lines(text: str) -> list[tuple[float, str]]:
    found = re.findall(r"^\s*alarm\s+(-?[\d.]+) min  (.*)$", text, flags=re.MULTILINE)
    return [(float(minutes), alarm.strip()) for minutes, alarm in found]


def test_a_stall_pause_asks_resume_or_abort_and_shows_alarms_while_it_waits(tmp_path):
    protocol = tmp_path / "stall_test.py"
    protocol.write_text(STALL_PROTOCOL)
    out = tmp_path / "s.h5"
    term = Terminal([sys.executable, "-c", WITH_FAULTS, "run", str(protocol), "--sim",
                     "--speed", "120", "--out", str(out)], tmp_path)
    question = "[r]esume or [a]bort? >"
    try:
        asked = term.wait_for(question)
        shown = term.output()
        assert "paused: perfusion stopped" in shown and "then resume" in shown, shown
        assert_question_stays(term, asked, question)
        # The detector's link drops while the question waits: said at once, question again.
        back = term.wait_for("detector: reconnected", start=asked)
        while_waiting = term.output(asked)
        assert while_waiting.rstrip().endswith(question), while_waiting
        time.sleep(2.0)  # 4 min of session time: an alarm timed when shown would say so
        term.type("r")
        term.wait_for("perfusion restored", start=back)
        code = term.finish()
    finally:
        if term.proc.poll() is None:
            term.proc.kill()
    assert code == 3, term.output()[-2000:]  # completed; perfusion loss flagged samples
    shown_alarms = alarm_lines(term.output())
    with SessionReader(out) as r:
        events = r.events()
        steps = [e.text for e in events if e.kind == "step"]
        assert "resumed by the operator" in steps, steps
        detector = [e for e in events if e.kind == "alarm" and e.text.startswith("detector:")]
    assert detector, [e.text for e in events]
    printed = [(t, text) for t, text in shown_alarms if text.startswith("detector:")]
    assert len(printed) == len(detector), (printed, [e.text for e in detector])
    for (minutes, _text), event in zip(printed, detector):
        assert abs(minutes - event.t / 60) <= 0.2, (minutes, event.t / 60, event.text)


def test_without_a_terminal_a_stall_pause_says_how_the_run_can_end(tmp_path):
    protocol = tmp_path / "stall_test.py"
    protocol.write_text(STALL_PROTOCOL)
    out = tmp_path / "s.h5"
    proc = subprocess.Popen([sys.executable, "-c", WITH_FAULTS, "run", str(protocol), "--sim",
                             "--speed", "120", "--out", str(out)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 90
        while not any("Ctrl-C aborts" in line for line in list(lines)):
            assert proc.poll() is None and time.monotonic() < deadline, "".join(lines)
            time.sleep(0.05)
        (told,) = [line for line in lines if "Ctrl-C aborts" in line]
        assert told.startswith("paused: perfusion stopped"), told
        assert f"raphe control {out} resume" in told, told  # how to resume from elsewhere
        proc.send_signal(signal.SIGINT)  # during a pause without a terminal: aborts
        stderr = proc.stderr.read()
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(10)
    assert proc.returncode == 4, ("".join(lines)[-1500:], stderr)
    assert "Traceback" not in stderr and "aborted by Ctrl-C" in stderr
    assert sum("Ctrl-C aborts" in line for line in lines) == 1  # said once, not each poll
    shown = json.loads(raphe("inspect", str(out), "--json").stdout)
    assert shown["complete"] and shown["end"]["reason"] == "aborted"
