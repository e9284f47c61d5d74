"""The "next" strip across the top of the window: what the run does now and what comes next,
as clock times.

*Now*: the step under way and the time left in it (until a clock time). *Next*: the next
injection, the next tube, the next drug, the next operator prompt, each at the clock time
it is due. *Ends*: the run's end as a clock time. Every time comes from the engine's status
(its schedule delay — the pauses so far, the one in progress included — and its clock
speed): while the run is paused they move later as the pause goes on, so they are always
true; after the run ends the strip says when and how it ended. Nothing is asked of an
instrument.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QWidget

from raphe.gui.app.widgets import ElidedLabel, clock, duration

#: a collection step, perhaps said of one of several animals (``A2: collect … as P1``)
_COLLECT = re.compile(r"^(?:(?P<who>\S+): )?collect .* as (?P<label>\S+)")
_LINE = re.compile(r"\s*\(line \d+\)$")
#: The kinds of planned steps the strip names, in its order (besides injection and tube).
ACTIONS = ("drug", "prompt")


@dataclass
class Due:
    """Something coming: what, and when (session s; wall s)."""

    kind: str
    text: str
    t: float
    wall: float


def _in(seconds: float) -> str:
    """Real time until something: ``in 45 s``, ``in 12 min``, ``in 2 h 05 min``."""
    return f"in {seconds:.0f} s" if seconds < 90 else f"in {duration(seconds)}"


def _left(seconds: float) -> str:
    """Time left in the step, in the session's minutes (the protocol's own; the clock time
    beside it says when in real time)."""
    return f"{seconds / 60:.1f} min" if seconds < 3600 else duration(seconds)


class NextStrip(QFrame):
    """See the module docstring. ``due`` and ``ends_at`` hold what is shown (for tests)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("nextStrip")
        self.plan = None
        self.due: dict[str, Due] = {}
        self.ends_at: float | None = None
        self.step_ends_at: float | None = None
        self.captions: dict[str, QLabel] = {}
        self.values: dict[str, ElidedLabel] = {}
        row = QHBoxLayout(self)
        row.setContentsMargins(6, 2, 6, 2)
        row.setSpacing(6)
        for key, caption, stretch in (("now", "Now", 4), ("inject", "Next injection", 2),
                                      ("tube", "Next tube", 2), ("drug", "Drug", 3),
                                      ("prompt", "Prompt", 3), ("end", "Ends", 2)):
            name = QLabel(caption)
            name.setStyleSheet("font-weight: bold;")
            value = ElidedLabel("–", min_width=30)
            row.addWidget(name)
            row.addWidget(value, stretch)
            self.captions[key] = name
            self.values[key] = value
        self.clear()

    def text(self) -> str:
        return " · ".join(f"{self.captions[k].text()}: {v.text()}" for k, v in self.values.items())

    def clear(self, message: str = "no run") -> None:
        """Nothing scheduled (no run yet, or a new one starting)."""
        self.plan = None
        self.due = {}
        self.ends_at = self.step_ends_at = None
        for key, value in self.values.items():
            value.setText("–")
            value.setVisible(True)
            self.captions[key].setVisible(True)
        self.values["now"].setText(message)

    def set_plan(self, plan) -> None:
        """The run's checked plan (its samples' tubes and injection times)."""
        self.clear("starting…")
        self.plan = plan

    # -- during the run --------------------------------------------------------------------

    def set_status(self, s, wall: float | None = None) -> None:
        """A ``raphe.protocols.states.Status`` snapshot taken at wall time ``wall``."""
        if s.state not in ("running", "paused"):
            return
        wall = time.time() if wall is None else wall
        speed = s.speed if s.speed and s.speed > 0 else 1.0

        def at(t: float) -> float:
            return wall + (t - s.t) / speed

        step = _LINE.sub("", s.step or "")
        if s.step_left_s is not None and math.isfinite(s.step_left_s):
            self.step_ends_at = at(s.t + s.step_left_s)
            now = f"{step} · {_left(s.step_left_s)} left, until {clock(self.step_ends_at)}"
        else:
            self.step_ends_at = None
            now = step or "–"
        if s.state == "paused":
            why = "; ".join(s.paused_because) or "paused"
            now = f"PAUSED · {now} · {why}"
        self.values["now"].setText(now)
        self.due = {d.kind: d for d in self._due(s, at)}
        for key in ("inject", "tube", *ACTIONS):
            d = self.due.get(key)
            self.values[key].setText(f"{d.text} at {clock(d.wall)}" if d else "none")
            if key in ACTIONS:  # no drug (prompt) left: its room goes to the others
                self.captions[key].setVisible(d is not None)
                self.values[key].setVisible(d is not None)
        self.ends_at = s.ends_at
        if s.ends_at is not None:
            left = max(0.0, s.ends_at - wall)
            paused = " — later while paused" if s.state == "paused" else ""
            self.values["end"].setText(f"{clock(s.ends_at)} ({_in(left)}){paused}")
        else:
            self.values["end"].setText("when stopped" if math.isinf(s.duration_s or 0)
                                       else "–")

    def _schedule(self, s) -> tuple[list[tuple[float, str, str]], float | None]:
        """The steps still to come (session s, kind, text) and the schedule's delay: the
        whole plan shifted by the delay when it is known, else the engine's short list."""
        plan = self.plan
        if plan is not None and s.eta_s is not None and math.isfinite(s.duration_s):
            delay = s.eta_s + s.t - s.duration_s
            steps = [(item.t + delay, item.kind, item.text) for item in plan.timeline
                     if item.t + delay > s.t]
            return steps, delay
        return list(s.upcoming), None

    def _due(self, s, at) -> list[Due]:
        steps, delay = self._schedule(s)
        out: list[Due] = []
        samples = list(getattr(self.plan, "samples", None) or [])
        tubes = {x.label: x.tube for x in samples}
        if delay is not None:
            for x in samples:
                if x.inject_t is not None and math.isfinite(x.inject_t) \
                        and x.inject_t + delay > s.t:
                    out.append(Due("inject", x.label, x.inject_t + delay,
                                   at(x.inject_t + delay)))
                    break
        else:
            for t, kind, text in steps:
                if kind == "inject":
                    out.append(Due("inject", _LINE.sub("", text), t, at(t)))
                    break
        for t, kind, text in steps:
            if kind == "collect" and "tube" not in {d.kind for d in out}:
                match = _COLLECT.match(text)
                label = match["label"] if match else ""
                tube = tubes.get(label)
                what = f"{tube} ({label})" if tube else (label or _LINE.sub("", text))
                if match and match["who"]:
                    what = f"{match['who']} {what}"
                out.append(Due("tube", what, t, at(t)))
            elif kind in ACTIONS and kind not in {d.kind for d in out}:
                out.append(Due(kind, _LINE.sub("", text), t, at(t)))
        return out

    # -- the end ---------------------------------------------------------------------------

    def finished(self, outcome) -> None:
        """The run ended: when, and how; nothing is due any more."""
        self.due = {}
        self.ends_at = self.step_ends_at = None
        how = outcome.message if outcome is not None else "stopped"
        for key, value in self.values.items():
            value.setText("–" if key != "now" else f"run ended at {clock(time.time())}: {how}")
        self.values["end"].setText(f"ended {clock(time.time())}")
        self.values["now"].setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
