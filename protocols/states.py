"""The run's states, the transitions the engine may make between them, and how a run ends.

``idle`` → ``checking`` (the dry run) → ``idle`` → ``running`` ⇄ ``paused`` → ``stopping`` →
``done`` (or ``failed`` when it could not start or broke). :data:`TRANSITIONS` is the one
table of what may follow what (as Bluesky's RunEngine declares its state machine); the
engine refuses anything else — a fault reported while the run is stopping can no longer
pause it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from raphe.protocols.live_backend import Prompt
    from raphe.protocols.plan import Plan
    from raphe.records import SampleResult


class State(enum.Enum):
    IDLE = "idle"
    CHECKING = "checking"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"
    DONE = "done"
    FAILED = "failed"


#: What may follow each state.
TRANSITIONS: dict[State, frozenset[State]] = {
    State.IDLE: frozenset({State.CHECKING, State.RUNNING, State.STOPPING, State.FAILED}),
    State.CHECKING: frozenset({State.IDLE, State.FAILED}),
    State.RUNNING: frozenset({State.PAUSED, State.STOPPING, State.FAILED}),
    State.PAUSED: frozenset({State.RUNNING, State.STOPPING, State.FAILED}),
    State.STOPPING: frozenset({State.DONE, State.FAILED}),
    State.DONE: frozenset(),
    State.FAILED: frozenset({State.CHECKING}),  # a refused protocol may be checked again
}


def allowed(current: State, new: State) -> bool:
    """Whether the engine may go from ``current`` to ``new`` (staying put always may)."""
    return new is current or new in TRANSITIONS[current]


#: Exit codes of ``raphe run`` and ``raphe record`` (docs/reliability.md).
EXIT_OK, EXIT_REFUSED, EXIT_AFFECTED, EXIT_ABORTED, EXIT_WRITE_ERROR = 0, 1, 3, 4, 5
ON_ALARM = ("pause", "continue", "abort")


@dataclass
class Status:
    """A snapshot of the run for progress displays (no instrument is asked)."""

    state: str
    t: float = 0.0
    phase: str = ""
    step: str = ""
    line: int | None = None
    samples_done: int = 0
    samples_total: int = 0
    duration_s: float = 0.0
    eta_s: float | None = None
    paused_because: list[str] = field(default_factory=list)
    prompt: Prompt | None = None
    alarms: list[str] = field(default_factory=list)
    latest: SampleResult | None = None
    message: str = ""
    #: the steps to come: (session s, kind, text), the schedule's delay included
    upcoming: list[tuple[float, str, str]] = field(default_factory=list)
    #: clock speed (session s per real s): 1 on a real rig
    speed: float = 1.0
    #: wall time (s since 1970) the run is expected to end, pauses so far included
    ends_at: float | None = None
    #: time left in the step under way (session s), when it is a wait or a collection
    step_left_s: float | None = None


@dataclass
class Outcome:
    """How a run ended."""

    state: State
    exit_code: int
    message: str = ""
    session: Path | None = None
    plan: Plan | None = None
    samples: int = 0
    injections: int = 0
    results: list[SampleResult] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)
