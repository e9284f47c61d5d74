"""Simulated VICI Valco multiposition stream selector (universal electric actuator, mode AM3).

The same actuator as ``raphe.simulators.vici`` (line framing, ID or NUL reply prefix,
``CNT``, ``IFM``, ``LG``, ``VR``/``VR2``, ``ID`` come from ``VICIActuatorDevice``),
set to multiposition mode with ``NP`` positions (default 4). Commands of mode 3, as
the universal actuator manual gives them:

* ``CP`` → ``CPnn`` (two digits, ``\\0CP01``); legacy (``LG1``) ``Position is = 1``
* ``GOnn`` to position nn by the direction set with ``SM``; ``GO`` one position on
* ``CWnn`` / ``CCnn`` to nn clockwise / counterclockwise; ``CW`` / ``CC`` one position
* ``HM`` to position 1 (ignored when there)
* ``NP`` → ``NPnn``; ``NPnn`` sets it (even, 2–40); legacy ``NP = 6``
* ``SM`` → ``SMl``; ``SMF`` forward (up), ``SMR`` reverse (down), ``SMA`` shortest route
* ``SO`` → ``SOnn``; ``SOnn`` numbers the first position nn (positions SO … SO+NP−1)
* ``AM`` → ``AM3``; ``CNT`` counts one per position passed (2 → 4 adds 2)

Action commands are silent (IFM0). Timing runs on the shared clock: the rotor
moves one position per ``step_time_s``, and ``CP`` reads each position as the
rotor reaches it; moves asked for during a move queue behind it.

Choices where the sources are silent: ``CW`` is the forward direction (toward
higher numbers), ``SMA`` breaks a tie forward, the factory direction is ``A``;
``NP``/``SO`` replies are two digits like ``CP``; a position out of range, an
odd ``NP`` or an unknown command is answered ``Bad command``; ``AM1``/``AM2``
are answered ``Bad command`` (this simulator is a selector: ``SimulatedVICI``
is the two-position actuator).
"""

from __future__ import annotations

import re

from raphe.clock import Clock
from raphe.simulators.pty_port import PtyPort, PtySimulator
from raphe.simulators.vici import VICIActuatorDevice

#: Numbers of positions ``NPnn`` accepts in mode 3 (the manual: even, 2–40).
NP_CHOICES = tuple(range(2, 41, 2))
#: Highest position number with the offset (``SO`` + ``NP`` − 1 ≤ 96).
MAX_NUMBER = 96
DIRECTIONS = ("F", "R", "A")


class VICISelectorDevice(VICIActuatorDevice):
    """A universal actuator in multiposition mode (a ``SerialDevice`` for ``PtyPort``)."""

    def __init__(
        self,
        clock: Clock,
        *,
        positions: int = 4,
        step_time_s: float = 0.05,
        direction: str = "A",
        offset: int = 1,
        valve_id: str | None = None,
        **options,
    ) -> None:
        super().__init__(clock, valve_id=valve_id, **options)
        if positions not in NP_CHOICES:
            raise ValueError(f"positions must be even, 2–40, got {positions!r}")
        self.mode = 3
        self.positions = positions
        self.step_time_s = step_time_s
        self.direction = direction
        self.offset = offset
        self._index = 1  # the rotor's position, 1 … NP (before the SO offset)
        #: Steps still to come: (clock time reached, index, last step of its move).
        self._steps: list[tuple[float, int, bool]] = []

    # -- motion -----------------------------------------------------------
    def _advance(self) -> None:
        now = self.clock.now()
        while self._steps and self._steps[0][0] <= now:
            t, index, last = self._steps.pop(0)
            self._index = index
            self.counter = (self.counter + 1) % 65536
            if last:
                for callback in self._listeners:
                    callback(self._number_of(index), t)

    def position(self) -> int:
        """The position ``CP`` reports now (with the offset): each one the rotor reaches."""
        with self._lock:
            self._advance()
            return self._number_of(self._index)

    def _number_of(self, index: int) -> int:
        return index + self.offset - 1

    def _final(self) -> tuple[int, float]:
        """Where the rotor ends once every requested move is done, and when."""
        if self._steps:
            t, index, _ = self._steps[-1]
            return index, t
        return self._index, self.clock.now()

    def _route(self, start: int, target: int, way: str) -> list[int]:
        """The indices passed from ``start`` to ``target`` going ``way`` (F up, R down, A)."""
        n = self.positions
        up = (target - start) % n
        if way == "A":
            way = "F" if up <= n - up else "R"
        steps = up if way == "F" else (start - target) % n
        sign = 1 if way == "F" else -1
        return [(start - 1 + sign * k) % n + 1 for k in range(1, steps + 1)]

    def _move(self, target: int, way: str) -> None:
        """Queue a move to index ``target`` behind any move under way."""
        start, free_at = self._final()
        begin = max(self.clock.now(), free_at)
        route = self._route(start, target, way)
        for k, index in enumerate(route, 1):
            self._steps.append((begin + k * self.step_time_s, index, k == len(route)))
        self._advance()

    def _step(self, way: str) -> None:
        start, _ = self._final()
        self._move((start - 1 + (1 if way == "F" else -1)) % self.positions + 1, way)

    # -- commands ---------------------------------------------------------
    def _target(self, arg: str) -> int | None:
        """The index of position number ``arg`` (1–2 digits, within SO … SO+NP−1), or None."""
        if not re.fullmatch(r"[0-9]{1,2}", arg):
            return None
        index = int(arg) - self.offset + 1
        return index if 1 <= index <= self.positions else None

    def _execute(self, cmd: str) -> str | None:
        if cmd == "CP":
            number = self._number_of(self._index)
            return f"Position is = {number}" if self.legacy else f"CP{number:02d}"
        for name, way in (("GO", self.direction), ("CW", "F"), ("CC", "R")):
            if cmd.startswith(name):
                arg = cmd[2:]
                if arg == "":
                    self._step("F" if name == "GO" else way)
                    return None
                target = self._target(arg)
                if target is None:
                    return "Bad command"
                self._move(target, way)
                return None
        if cmd == "HM":
            self._move(1, self.direction)
            return None
        if cmd.startswith("NP"):
            arg = cmd[2:]
            if arg == "":
                return f"NP = {self.positions}" if self.legacy else f"NP{self.positions:02d}"
            if arg.isdigit() and int(arg) in NP_CHOICES and self.offset + int(arg) - 1 <= MAX_NUMBER:
                self.positions = int(arg)
                return None
            return "Bad command"
        if cmd.startswith("SM"):
            arg = cmd[2:]
            if arg == "":
                return f"SM{self.direction}"
            if arg in DIRECTIONS:
                self.direction = arg
                return None
            return "Bad command"
        if cmd.startswith("SO"):
            arg = cmd[2:]
            if arg == "":
                return f"SO{self.offset:02d}"
            if arg.isdigit() and 1 <= int(arg) and int(arg) + self.positions - 1 <= MAX_NUMBER:
                self.offset = int(arg)
                return None
            return "Bad command"
        if cmd.startswith("AM"):
            arg = cmd[2:]
            if arg == "":
                return f"AM{self.mode}"
            if arg == "3":
                self.mode = 3
                return None
            return "Bad command"
        return self._shared(cmd)


class SimulatedVICISelector(PtySimulator):
    """A VICI multiposition actuator served on a pty at a stable path; ``port`` has the
    link faults (unplug/plug, garbage, slow, lose)."""

    def __init__(
        self,
        clock: Clock,
        directory: str | None = None,
        *,
        positions: int = 4,
        step_time_s: float = 0.05,
        valve_id: str | None = None,
        poll_interval_s: float = 0.005,
        **device_options,
    ) -> None:
        self.device = VICISelectorDevice(
            clock, positions=positions, step_time_s=step_time_s, valve_id=valve_id,
            **device_options,
        )
        self.poll_interval_s = poll_interval_s
        self.port = PtyPort(self.device, "vici_selector", directory)

    def rig_settings(self) -> dict:
        """The ``[selector]`` rig-file table that opens this simulator."""
        return {
            "driver": "vici_selector",
            "port": self.path,
            "baudrate": 9600,
            "valve_id": self.device.valve_id or "",
            "positions": self.device.positions,
            # As for the two-position simulator: faster polling than a real actuator's 0.1 s,
            # so a scaled clock does not turn command spacing into seconds of simulated time.
            "poll_interval_s": self.poll_interval_s,
        }
