"""Simulated Gilson FC 203B fraction collector: a GSIOC slave with an arm that takes time to move.

Commands (the same table as the driver's, see ``docs/drivers/fc203b.md``):
immediate ``%`` identify, ``$`` reset, ``S`` status (``[RME][CD]``: ready /
moving / error, valve collect / drain), ``X`` position (3 digits, ``000`` =
drain); buffered ``T###`` go to tube, ``Y0000`` go to drain, ``V0``/``V1``
valve collect/drain, ``W<line><text>`` display, ``L0``/``L1`` keypad lock.
Fault hooks: ``hold_busy(seconds)`` keeps the collector busy (e.g. an operator
at the keypad); ``rack_end()`` makes the rack end at the current tube (later
tubes are refused); ``reads=False`` (or ``refuse_reads()``) answers ``S`` and
``X`` with ``0xA3``, as a collector whose firmware lacks them would: no public
client confirms either letter on an FC 203B.

Moves run on the shared clock: ``min_move_s + seconds_per_tube × distance``
(the drain sits before tube 1). While moving, LF is answered ``#`` (busy) and
``X`` reports the tube the arm is passing over. Rack end: ``T###`` outside
1..rack_size (or any unknown buffered command) is echoed like any buffered
command — GSIOC has no negative acknowledge — but not executed; the status
reports ``E`` until the next accepted buffered command.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from raphe.clock import Clock
from raphe.simulators.gsioc import GSIOCSlave
from raphe.simulators.pty_port import PtyPort, PtySimulator

Listener = Callable[[int, bool, float], None]


class FC203BDevice(GSIOCSlave):
    """The collector's state machine; position 0 is the drain, tubes are 1..rack_size."""

    def __init__(
        self,
        clock: Clock,
        rack_size: int = 96,
        *,
        unit_id: int = 1,
        seconds_per_tube: float = 0.2,
        min_move_s: float = 0.3,
        identity: str = "FC203B V2.10",
        reads: bool = True,
    ) -> None:
        super().__init__(unit_id)
        self.reads = reads
        self.clock = clock
        self.rack_size = rack_size
        self.seconds_per_tube = seconds_per_tube
        self.min_move_s = min_move_s
        self.identity_text = identity
        self.drain_valve = True
        self.error = False
        self.keypad_locked = False
        self.display_lines = ["", "", ""]
        self.commands: list[str] = []  # buffered commands received, for tests and logs
        self._from = self._to = 0
        self._start = self._end = 0.0
        self._moving = False
        self._busy_until = float("-inf")
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()  # the pty thread and the simulated world both advance

    def add_listener(self, callback: Listener) -> None:
        """``callback(position, drain, t)`` when a move ends or the valve switches."""
        self._listeners.append(callback)

    def _notify(self, t: float) -> None:
        for callback in self._listeners:
            callback(self._to, self.drain_valve, t)

    # -- physics ----------------------------------------------------------
    def _advance(self) -> None:
        with self._lock:
            arrived = self._moving and self.clock.now() >= self._end
            if arrived:
                self._moving = False
        if arrived:
            self._notify(self._end)

    def position(self) -> int:
        """Tube under the outlet now (0 = drain); mid-move, the tube being passed."""
        self._advance()
        if not self._moving:
            return self._to
        frac = (self.clock.now() - self._start) / (self._end - self._start)
        span = (self._to - self._from) * max(0.0, min(frac, 1.0))
        return self._from + int(span)  # int() truncates toward the start tube

    def collecting_tube(self) -> int | None:
        """The tube receiving flow, or None (drain valve, drain position or moving)."""
        self._advance()
        if self.drain_valve or self._moving or self._to == 0:
            return None
        return self._to

    def _move(self, target: int) -> None:
        now = self.clock.now()
        here = self.position()
        self._from, self._to = here, target
        self._start = now
        self._end = now + self.min_move_s + self.seconds_per_tube * abs(target - here)
        self._moving = True

    def hold_busy(self, seconds: float) -> None:
        """Fault: stay busy (LF answered ``#``, status ``M``) for ``seconds`` of clock time."""
        self._busy_until = self.clock.now() + seconds

    def rack_end(self) -> None:
        """Fault: the rack ends at the tube under the outlet; later tubes are refused."""
        with self._lock:
            self.rack_size = max(self._to, 1)

    def refuse_reads(self, refuse: bool = True) -> None:
        """Answer ``S`` and ``X`` with ``0xA3`` (unknown command) from now on."""
        self.reads = not refuse

    # -- GSIOC ------------------------------------------------------------
    def busy(self) -> bool:
        self._advance()
        return self._moving or self.clock.now() < self._busy_until

    def poll(self) -> bytes:
        self._advance()
        return b""

    def identify(self) -> str:
        return self.identity_text

    def reset(self) -> None:
        self.error = False

    def immediate(self, command: str) -> str | None:
        if not self.reads:
            return None
        if command == "S":
            self._advance()
            motion = "M" if self.busy() else ("E" if self.error else "R")
            return motion + ("D" if self.drain_valve else "C")
        if command == "X":
            return f"{self.position():03d}"
        return None

    def buffered(self, command: str) -> None:
        self.commands.append(command)
        self.error = False
        if len(command) == 4 and command[0] == "T" and command[1:].isdigit():
            tube = int(command[1:])
            if 1 <= tube <= self.rack_size:
                self._move(tube)
            else:
                self.error = True
        elif command == "Y0000":
            self._move(0)
        elif command in ("V0", "V1"):
            self.drain_valve = command == "V1"
            self._notify(self.clock.now())
        elif len(command) >= 2 and command[0] == "W" and command[1] in "012":
            self.display_lines[int(command[1])] = command[2:]
        elif command in ("L0", "L1"):
            self.keypad_locked = command == "L0"
        else:
            self.error = True


class SimulatedFC203B(PtySimulator):
    """An FC 203B served on a pty at a stable path; ``port`` exposes link faults."""

    def __init__(
        self,
        clock: Clock,
        rack_size: int = 96,
        directory: str | None = None,
        *,
        unit_id: int = 1,
        seconds_per_tube: float = 0.2,
        reads: bool = True,
    ) -> None:
        self.clock = clock
        self.device = FC203BDevice(
            clock, rack_size, unit_id=unit_id, seconds_per_tube=seconds_per_tube, reads=reads
        )
        self.port = PtyPort(self.device, "fc203b", directory)

    def rig_settings(self) -> dict:
        """The ``[collector]`` rig-file table that opens this simulator (a pty: parity N)."""
        return {
            "driver": "fc203b",
            "port": self.path,
            "baudrate": 19200,
            "parity": "N",
            "unit_id": self.device.unit_id,
            "rack_size": self.device.rack_size,
            # The travel estimate (used only if S/X go unanswered), on the simulator's clock.
            "move_min_s": self.device.min_move_s / self.clock.speed,
            "travel_s_per_tube": self.device.seconds_per_tube / self.clock.speed,
        }
