"""Simulated VICI Valco two-position actuator (universal electric actuator, serial option).

Text commands ending in CR (LF ignored), 9600 8N1. Two-position commands:
``CP`` (→ ``CPA``/``CPB``), ``GOA``/``GOB``/``GO``, ``CW``/``CC``, ``TO``,
``DTnnnnn``/``DT``, ``TT``, ``AMn``/``AM``, ``CNT``/``CNTn``, ``IFMn``/``IFM``,
``VR``/``VR2``, ``IDn``/``ID``, ``LGn``/``LG``. Action commands are silent (IFM0).

As on a universal actuator (PNNL LCMSNet's records): every reply is prefixed
by the actuator's ID, or by a NUL byte when no ID is set (``"\0CPA\r"``,
``"\0ID\r"``, ``"5ID5\r"``); ``VR`` answers ``UA_MAIN_…``. In legacy mode
(``LG1``, left by other software) ``CP`` answers the older ``Position is "A"``.

Timing runs on the shared clock: a switch takes ``switch_time_s`` and ``CP``
reports the old position until it completes; moves requested during a
switch queue behind it. ``TT`` switches, waits DT ms after the switch ends,
and switches back; a later GO/CW/CC/TO cancels a pending return.

Choices where the manual is silent: with an ID set, commands without that ID
(or ``*``) are ignored and replies carry the ID as prefix (``1CPA``); an
unknown command or bad argument is answered ``Bad command``.

What every universal actuator shares whatever its mode — the line framing, the
ID (or NUL) prefix, ``CNT``, ``IFM``, ``LG``, ``VR``/``VR2``, ``ID`` — is
``VICIActuatorDevice``; the multiposition selector
(``raphe.simulators.vici_selector``) is built on it too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from raphe.clock import Clock
from raphe.simulators.pty_port import PtyPort, PtySimulator

Listener = Callable[[str, float], None]
OTHER = {"A": "B", "B": "A"}


class VICIActuatorDevice:
    """The part of a universal actuator every mode shares (a ``SerialDevice`` base).

    Bytes are framed into CR-terminated lines (LF ignored, at most 64 characters
    kept); a line is executed when its ID (or ``*``) matches, and a reply goes back
    prefixed by the ID, or NUL when none is set. A subclass implements ``_execute``
    for its mode and ends it with ``return self._shared(cmd)``.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        valve_id: str | None = None,
        version: str = "UA_MAIN_EQ",
        serial_board_version: str = "UA_SERIAL_2.04",
        nul_prefix: bool = True,
        legacy: bool = False,
    ) -> None:
        self.clock = clock
        self.valve_id = valve_id
        self.version = version
        self.serial_board_version = serial_board_version
        self.nul_prefix = nul_prefix
        self.legacy = 1 if legacy else 0
        self.ifm = 0
        self.counter = 0
        self._line = bytearray()
        self._listeners: list[Callable] = []
        self._lock = threading.RLock()

    def add_listener(self, callback: Callable) -> None:
        """``callback(position, t)`` each time a move completes (t on the clock)."""
        self._listeners.append(callback)

    def _advance(self) -> None:
        """Bring the motion up to the clock's present (subclasses move)."""

    # -- SerialDevice -----------------------------------------------------
    def poll(self) -> bytes:
        with self._lock:
            self._advance()
        return b""

    def receive(self, data: bytes) -> bytes:
        out = bytearray()
        with self._lock:
            for byte in data:
                if byte == 0x0D:
                    line, self._line = bytes(self._line), bytearray()
                    out += self._command(line.decode("ascii", errors="replace"))
                elif byte != 0x0A and len(self._line) < 64:
                    self._line.append(byte)
        return bytes(out)

    def _command(self, text: str) -> bytes:
        if self.valve_id is not None:
            if text[:1] not in (self.valve_id, "*"):
                return b""
            text = text[1:]
        elif text[:1] == "*":
            text = text[1:]
        self._advance()
        reply = self._execute(text)
        if reply is None:
            return b""
        prefix = self.valve_id or ("\0" if self.nul_prefix else "")
        return f"{prefix}{reply}\r".encode("ascii")

    def _execute(self, cmd: str) -> str | None:
        return self._shared(cmd)

    def _shared(self, cmd: str) -> str | None:
        """Commands every mode answers alike; anything else is ``Bad command``."""
        if cmd.startswith("CNT"):
            return self._number(cmd, "CNT", 65535, "counter")
        if cmd.startswith("IFM"):
            return self._number(cmd, "IFM", 2, "ifm")
        if cmd.startswith("LG"):
            return self._number(cmd, "LG", 1, "legacy")
        if cmd == "VR":
            return self.version
        if cmd == "VR2":
            return self.serial_board_version
        if cmd.startswith("ID"):
            arg = cmd[2:]
            if arg == "":
                return f"ID{self.valve_id or ''}"
            if arg == "*":
                self.valve_id = None
                return None
            if len(arg) == 1 and (arg.isdigit() or "A" <= arg <= "Z"):
                self.valve_id = arg
                return None
        return "Bad command"

    def _number(self, cmd: str, name: str, maximum: int, attribute: str) -> str | None:
        arg = cmd[len(name):]
        if arg == "":
            return f"{name}{getattr(self, attribute)}"
        if arg.isdigit() and int(arg) <= maximum:
            setattr(self, attribute, int(arg))
            return None
        return "Bad command"


class VICIDevice(VICIActuatorDevice):
    """The actuator's state machine in a two-position mode (a ``SerialDevice`` for ``PtyPort``)."""

    def __init__(
        self,
        clock: Clock,
        *,
        switch_time_s: float = 0.05,
        valve_id: str | None = None,
        version: str = "UA_MAIN_EQ",
        serial_board_version: str = "UA_SERIAL_2.04",
        nul_prefix: bool = True,
        legacy: bool = False,
    ) -> None:
        super().__init__(
            clock, valve_id=valve_id, version=version,
            serial_board_version=serial_board_version, nul_prefix=nul_prefix, legacy=legacy,
        )
        self.switch_time_s = switch_time_s
        self.mode = 1
        self.delay_ms = 0
        self._position = "A"
        self._motion: tuple[str, float, float] | None = None  # target, start, end
        self._schedule: list[tuple[float, str, bool]] = []  # start, target, is TT return
        self._free_at = float("-inf")

    # -- motion -----------------------------------------------------------
    def _advance(self) -> None:
        now = self.clock.now()
        while True:
            if self._motion is not None:
                target, _start, end = self._motion
                if end > now:
                    return
                self._motion = None
                self._position = target
                self._free_at = end
                self.counter = (self.counter + 1) % 65536
                for callback in self._listeners:
                    callback(target, end)
            elif self._schedule and self._schedule[0][0] <= now:
                start, target, _ = self._schedule.pop(0)
                start = max(start, self._free_at)
                if target != self._position:
                    self._motion = (target, start, start + self.switch_time_s)
            else:
                return

    def position(self) -> str:
        """Position the valve reports now ("A" or "B"): the old one until a switch completes."""
        with self._lock:
            self._advance()
            return self._position

    def _final(self) -> str:
        """Where the valve ends once every requested move is done."""
        if self._schedule:
            return self._schedule[-1][1]
        return self._motion[0] if self._motion else self._position

    def _request(self, target: str) -> None:
        self._schedule = [s for s in self._schedule if not s[2]]
        self._schedule.append((self.clock.now(), target, False))
        self._advance()

    def _timed_toggle(self) -> None:
        if self.delay_ms == 0:
            return
        self._schedule = [s for s in self._schedule if not s[2]]
        back = self._final()
        now = self.clock.now()
        busy_until = max(now, self._motion[2] if self._motion else now)
        self._schedule.append((now, OTHER[back], False))
        return_at = busy_until + self.switch_time_s + self.delay_ms / 1000.0
        self._schedule.append((return_at, back, True))
        self._advance()

    def _execute(self, cmd: str) -> str | None:
        moves = {"GOA": "A", "GOB": "B", "CW": "A", "CC": "B"}
        if cmd == "CP":
            return f'Position is "{self._position}"' if self.legacy else f"CP{self._position}"
        if cmd in moves:
            self._request(moves[cmd])
            return None
        if cmd in ("GO", "TO"):
            self._request(OTHER[self._final()])
            return None
        if cmd == "TT":
            self._timed_toggle()
            return None
        if cmd.startswith("DT"):
            return self._number(cmd, "DT", 65535, "delay_ms")
        if cmd.startswith("AM"):
            arg = cmd[2:]
            if arg in ("1", "2"):
                self.mode = int(arg)
                return None
            return f"AM{self.mode}" if arg == "" else "Bad command"
        return self._shared(cmd)


class SimulatedVICI(PtySimulator):
    """A VICI actuator served on a pty at a stable path; ``port`` exposes link faults."""

    def __init__(
        self,
        clock: Clock,
        directory: str | None = None,
        *,
        valve_id: str | None = None,
        switch_time_s: float = 0.05,
        loop_volume_uL: float = 20.0,
        poll_interval_s: float = 0.005,
        **device_options,
    ) -> None:
        self.device = VICIDevice(
            clock, valve_id=valve_id, switch_time_s=switch_time_s, **device_options
        )
        self.poll_interval_s = poll_interval_s
        self.port = PtyPort(self.device, "vici", directory)
        self.loop_volume_uL = loop_volume_uL

    def rig_settings(self) -> dict:
        """The ``[valve]`` rig-file table that opens this simulator."""
        return {
            "driver": "vici",
            "port": self.path,
            "baudrate": 9600,
            "valve_id": self.device.valve_id or "",
            "loop_volume_uL": self.loop_volume_uL,
            # A simulator tolerates faster polling than a real actuator (0.1 s): a scaled
            # clock must not turn command spacing into seconds of simulated time.
            "poll_interval_s": self.poll_interval_s,
        }
