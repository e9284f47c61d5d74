"""The console of ``raphe run``/``record`` prints user and protocol texts as they are (never as
Rich markup), times each alarm when it was raised, keeps a waiting question below what it
prints, and says how a pause ends (tests/e2e/test_console.py drives the real thing through
a pseudo-terminal)."""

from __future__ import annotations

import io
from types import SimpleNamespace

from rich.console import Console

from raphe.gui.cli.commands._protocol_run import (
    RESUME_ELSEWHERE,
    _Display,
    _headless_text,
    _question,
    checked,
)
from raphe.protocols.engine import Status


class FakeEngine:
    def __init__(self) -> None:
        self.t = 0.0
        self.results: list = []
        self.subscribers: list = []
        self.state_status = Status(state="running")

    def subscribe(self, callback) -> None:
        self.subscribers.append(callback)

    def session_time(self) -> float:
        return self.t

    def status(self) -> Status:
        self.state_status.t = self.t
        return self.state_status

    def raise_alarm(self, text: str) -> None:
        for callback in self.subscribers:
            callback("alarm", text)


def console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=200, force_terminal=False, highlight=False), out


MARKUP = "pump: [bold]stalled[/bold] at [r]esume [a]bort [3 mm] [link=x]y[/link]"


def test_an_alarm_is_printed_verbatim_with_the_session_time_it_was_raised():
    engine, (con, out) = FakeEngine(), console()
    display = _Display(con, engine)
    engine.t = 90.0
    engine.raise_alarm(MARKUP)
    engine.t = 600.0  # shown much later (a question was waiting)
    display.update()
    (line,) = [ln for ln in out.getvalue().splitlines() if "alarm" in ln]
    assert line == f"  alarm     1.5 min  {MARKUP}"


def test_the_questions_keep_their_brackets():
    con, out = console()
    paused = Status(state="paused", paused_because=["paused by the operator (Ctrl-C)"])
    con.print(_question(paused, ("operator",)))
    prompt = Status(state="running", prompt=SimpleNamespace(id=1, text=MARKUP))
    con.print(_question(prompt, ()))
    text = out.getvalue()
    assert ("paused by the operator (Ctrl-C); perfusion and acquisition go on\n"
            "  [r]esume or [a]bort? >") in text
    assert f"operator: {MARKUP}\n  (Enter to confirm, or type an answer) >" in text


def test_a_stall_pause_says_what_goes_on_and_how_it_ends_without_a_terminal():
    why = ("perfusion stopped (pump stalled): check the syringe and the line, then resume "
           "(the pump restarts)")
    stall = Status(state="paused", paused_because=[why])
    text = _headless_text(stall, ("perfusion",), stop_is_normal=False)
    assert text.startswith("paused: perfusion stopped (pump stalled)")
    assert "acquisition goes on." in text and "perfusion and acquisition" not in text
    assert "Ctrl-C aborts (instruments to their safe state)" in text
    assert RESUME_ELSEWHERE.format(session="SESSION") in text
    assert "raphe control /data/rat.h5 resume" in _headless_text(
        stall, ("perfusion",), False, "/data/rat.h5")
    assert "Ctrl-C stops the recording" in _headless_text(stall, ("perfusion",), True)


def test_what_is_printed_while_a_question_waits_goes_above_it():
    engine, (con, out) = FakeEngine(), console()
    display = _Display(con, engine)
    display.ask("question? > ")
    engine.t = 120.0
    engine.raise_alarm("detector: reconnected")
    display.update()
    display.end_question("(no longer waiting for an answer)")
    assert out.getvalue() == ("question? > \n"
                              "  alarm     2.0 min  detector: reconnected\n"
                              "question? > \n"
                              "(no longer waiting for an answer)\n")


def test_dry_run_warnings_keep_their_brackets():
    con, out = console()
    plan = SimpleNamespace(ok=True, warnings=["proto.py, line 3: sample B[1] [unfilled]"])
    checked(SimpleNamespace(check=lambda: plan), con)
    assert out.getvalue() == "warning: proto.py, line 3: sample B[1] [unfilled]\n"
