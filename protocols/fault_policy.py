"""What a run does about faults the acquisition loop reports: the fault policy.

A link fault holds the schedule until the instrument is back; a recovered fault is an
alarm; lost readings are counted (the run ends "affected"). When perfusion stops (a pump
stall, an empty syringe, a pump unreachable) the run's ``on_alarm`` decides:

* ``pause`` (the default): hold the schedule until the operator resumes (the pump then
  restarts);
* ``continue`` (unattended runs): restart the pump at once and go on;
* ``abort``: stop the run, every instrument to its safe state.

The policy only posts what a button would post (pause, resume, abort, a pump restart); it
never talks to an instrument itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from raphe.protocols.live_backend import Control
from raphe.protocols.states import ON_ALARM, State


@dataclass
class FaultCounts:
    """What faults did to the run (for its exit code)."""

    perfusion_lost: bool = False
    gaps: int = 0


class FaultPolicy:
    """Turns the recorder's fault reports into alarms, pauses, restarts and aborts."""

    def __init__(self, on_alarm: str, *, control: Callable[[], Control | None],
                 set_state: Callable[[State, str], object], alarm: Callable[[str], None],
                 restart_pump: Callable[[], None], abort: Callable[[str], None]) -> None:
        if on_alarm not in ON_ALARM:
            raise ValueError(f"on_alarm must be one of {', '.join(ON_ALARM)}, got {on_alarm!r}")
        self.on_alarm = on_alarm
        self._control = control
        self._set_state = set_state
        self._alarm = alarm
        self._restart_pump = restart_pump
        self._abort = abort
        self.counts = FaultCounts()

    def __call__(self, kind: str, role: str, text: str) -> None:
        """The recorder's listener: ``kind`` is ``fault``, ``recovered``, ``incident``,
        ``gap``, ``perfusion_stopped``, ``perfusion_restored`` or ``write_error``."""
        control = self._control()
        if kind == "fault":
            if control is not None:
                control.pause(f"fault {role}", f"{role} link lost, reconnecting: {text}")
            self._set_state(State.PAUSED, f"{role} fault")
            # the recorder's text names the instrument already ("valve: Disconnected: …")
            self._alarm(f"{text}; reconnecting")
        elif kind == "incident":  # a fault the driver recovered from by itself (a retry)
            self._alarm(f"{role}: {text} (recovered)")
        elif kind == "recovered":
            self._alarm(f"{role}: reconnected")
            if control is not None and control.resume(f"fault {role}"):
                self._set_state(State.RUNNING, f"{role} back")
        elif kind == "perfusion_stopped":
            self.counts.perfusion_lost = True
            self._alarm(f"perfusion stopped: {text}")
            if self.on_alarm == "abort":
                self._abort(f"perfusion stopped: {text}")
            elif self.on_alarm == "pause" and control is not None:
                control.pause("perfusion", f"perfusion stopped ({text}): check the syringe and "
                              "the line, then resume (the pump restarts)")
                self._set_state(State.PAUSED, f"perfusion stopped: {text}")
            else:
                self._restart_pump()
        elif kind == "gap":
            self.counts.gaps += 1
            self._alarm(text)
        elif kind == "perfusion_restored":
            self._alarm("perfusion restored")
