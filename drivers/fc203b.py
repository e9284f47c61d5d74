"""Gilson FC 203B fraction collector over GSIOC.

The GSIOC link layer is documented by Gilson; the collector's own command
letters are known only from third-party code or inferred, so every one of
them lives in ``COMMANDS`` below with its provenance (see
``docs/drivers/fc203b.md``). A tube move is confirmed by reading the position
back until the arm has arrived. Safe state: flow diverted to drain.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from raphe.drivers.base import FractionCollector
from raphe.drivers.gsioc import GSIOCLink, check_unit_id
from raphe.drivers.settings import REQUIRED, Setting, resolve
from raphe.drivers.transport import SerialTransport
from raphe.errors import InputError, InstrumentAlarm, InstrumentTimeout, ProtocolError

NAME = "fc203b"

SETTINGS: dict[str, Setting] = {
    "port": Setting(str, REQUIRED, "serial device path, e.g. /dev/ttyUSB0"),
    "baudrate": Setting(int, 19200, "GSIOC baud rate, bit/s (set on the collector)"),
    "parity": Setting(str, "E", "parity N, E or O (GSIOC: E; a simulated pty line: N)"),
    "unit_id": Setting(int, 1, "GSIOC unit ID of the collector, 0–63"),
    "timeout_s": Setting(float, 0.2, "wait for each reply byte, s"),
    "move_timeout_s": Setting(float, 30.0, "longest tube move or busy wait, s"),
    "poll_interval_s": Setting(float, 0.02, "spacing of position polls while moving, s"),
    "rack_size": Setting(int, REQUIRED, "number of tubes in the rack (tubes 1..rack_size)"),
}


@dataclass(frozen=True)
class Command:
    """One collector command: its text (a format string), GSIOC kind and provenance."""

    text: str
    kind: str  # "immediate" or "buffered"
    source: str


#: Every FC 203B command the driver sends. [D] Gilson document, [C] third-party code,
#: [I] inferred and unverified on hardware (documented in docs/drivers/fc203b.md).
COMMANDS: dict[str, Command] = {
    "identify": Command("%", "immediate", "[D] GSIOC universal: module identification"),
    "reset": Command("$", "immediate", "[D] GSIOC universal: master reset"),
    "status": Command("S", "immediate", "[I] 2 chars: motion R/M/E, valve C/D"),
    "position": Command("X", "immediate", "[I] 3 digits: tube under the outlet, 000 = drain"),
    "go_to_tube": Command("T{tube:03d}", "buffered", "[C] MechWolf, fc-cycle: go to tube"),
    "to_drain": Command("Y0000", "buffered", "[C] MechWolf: move to the drain position"),
    "valve_collect": Command("V0", "buffered", "[C] fc-cycle; [I] V0 = collect"),
    "valve_drain": Command("V1", "buffered", "[C] fc-cycle; [I] V1 = divert to drain"),
    "display": Command("W{line:d}{text}", "buffered", "[C] write text on display line 0-2"),
    "lock_keypad": Command("L0", "buffered", "[C] keypad lock; [I] which of L0/L1 locks"),
    "unlock_keypad": Command("L1", "buffered", "[C] keypad unlock"),
}

_MOTION = {"R": "ready", "M": "moving", "E": "error"}
_VALVE = {"C": "collecting", "D": "drain"}


@dataclass(frozen=True)
class CollectorStatus:
    """Parsed reply of the status command."""

    motion: str  # "ready", "moving" or "error" (last command refused)
    drain: bool  # the divert valve sends the flow to drain


def parse_status(reply: str) -> CollectorStatus:
    """``"RC"`` → ready, collecting. Anything else than ``[RME][CD]`` → ``ProtocolError``."""
    if len(reply) != 2 or reply[0] not in _MOTION or reply[1] not in _VALVE:
        raise ProtocolError(f"status reply {reply!r} is not [RME][CD]")
    return CollectorStatus(_MOTION[reply[0]], reply[1] == "D")


def parse_position(reply: str) -> int:
    """``"005"`` → 5; ``"000"`` → 0 (the drain position). Else ``ProtocolError``."""
    if not re.fullmatch(r"[0-9]{3}", reply):
        raise ProtocolError(f"position reply {reply!r} is not 3 digits")
    return int(reply)


def parse_identity(reply: str) -> dict[str, str]:
    """``"FC203B V2.10"`` → model and firmware; any printable non-empty reply is accepted."""
    text = reply.strip()
    if not text:
        raise ProtocolError(f"identify reply {reply!r} is empty")
    match = re.fullmatch(r"(.*?)\s*[Vv](\d[0-9A-Za-z.]*)", text)
    model, firmware = (match.group(1), match.group(2)) if match and match.group(1) else (text, "")
    return {"model": model, "firmware": firmware, "serial": "", "reply": text}


class FC203B(FractionCollector):
    """A Gilson FC 203B on a GSIOC line (RS-232/RS-422 adapter)."""

    model = "FC 203B"

    def __init__(
        self,
        port: str,
        *,
        rack_size: int,
        baudrate: int = 19200,
        parity: str = "E",
        unit_id: int = 1,
        timeout_s: float = 0.2,
        move_timeout_s: float = 30.0,
        poll_interval_s: float = 0.02,
    ) -> None:
        if isinstance(rack_size, bool) or not isinstance(rack_size, int) or rack_size < 1:
            raise InputError(f"FC 203B rack_size must be a positive integer, got {rack_size!r}")
        if parity not in ("N", "E", "O"):
            raise InputError(f"FC 203B parity must be N, E or O, got {parity!r}")
        try:
            check_unit_id(unit_id)
        except ValueError as exc:
            raise InputError(f"FC 203B {exc}") from None
        self._rack_size = rack_size
        self.move_timeout_s = move_timeout_s
        self.poll_interval_s = poll_interval_s
        self.transport = SerialTransport(
            port, name=NAME, baudrate=baudrate, parity=parity, timeout=timeout_s
        )
        self.link = GSIOCLink(
            self.transport,
            unit_id,
            char_timeout_s=timeout_s,
            busy_timeout_s=move_timeout_s,
            poll_interval_s=poll_interval_s,
        )

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> FC203B:
        """Open and connect from a rig-file table (``driver`` key ignored)."""
        values = resolve(SETTINGS, settings, f"{NAME}:")
        collector = cls(
            values["port"],
            rack_size=values["rack_size"],
            baudrate=values["baudrate"],
            parity=values["parity"],
            unit_id=values["unit_id"],
            timeout_s=values["timeout_s"],
            move_timeout_s=values["move_timeout_s"],
            poll_interval_s=values["poll_interval_s"],
        )
        collector.open()
        return collector

    # -- life cycle -------------------------------------------------------
    def open(self) -> None:
        """Open the port and address the unit."""
        self.transport.open()
        try:
            self.link.connect()
        except BaseException:
            self.transport.close()
            raise

    def reconnect(self) -> None:
        self.transport.reopen()
        self.link.connect()
        self.read_status()

    def close(self) -> None:
        self.transport.close()

    # -- commands ---------------------------------------------------------
    def _send(self, name: str, **fields: Any) -> str | None:
        command = COMMANDS[name]
        text = command.text.format(**fields)
        if command.kind == "immediate":
            return self.link.immediate(text)
        self.link.buffered(text)
        return None

    @property
    def rack_size(self) -> int:
        return self._rack_size

    def identity(self) -> dict[str, str]:
        info = parse_identity(self._send("identify"))
        info["unit_id"] = str(self.link.unit_id)
        return info

    def read_status(self) -> CollectorStatus:
        return self._parse(parse_status, self._send("status"))

    def read_position(self) -> int:
        """Arm position: a tube number, or 0 at the drain position."""
        return self._parse(parse_position, self._send("position"))

    def _parse(self, parser, reply: str):
        try:
            return parser(reply)
        except ProtocolError as exc:
            self.link.invalidate()
            raise ProtocolError(str(exc), NAME) from None

    def status(self) -> str:
        state = self.read_status()
        if state.motion != "ready":
            where = state.motion
        else:
            position = self.read_position()
            where = "ready at drain" if position == 0 else f"ready at tube {position}"
        return f"{where}, {'flow to drain' if state.drain else 'collecting'}"

    def current_tube(self) -> int | None:
        state = self.read_status()
        position = self.read_position()
        if state.drain or position == 0:
            return None
        return position

    def go_to_tube(self, tube: int) -> None:
        if isinstance(tube, bool) or not isinstance(tube, int) or not 1 <= tube <= self._rack_size:
            raise InputError(f"tube {tube!r} is outside the rack (1–{self._rack_size})")
        self._send("go_to_tube", tube=tube)
        self._wait_arrival(tube, f"tube {tube}")
        self._send("valve_collect")

    def to_drain(self) -> None:
        """Divert the flow first (fast), then park the arm over the drain."""
        self._send("valve_drain")
        self._send("to_drain")
        self._wait_arrival(0, "drain")

    def display(self, text: str, line: int = 0) -> None:
        """Show ``text`` on display line 0–2."""
        if line not in (0, 1, 2):
            raise InputError(f"display line must be 0, 1 or 2, got {line!r}")
        self._send("display", line=line, text=text)

    def lock_keypad(self, locked: bool = True) -> None:
        self._send("lock_keypad" if locked else "unlock_keypad")

    def _wait_arrival(self, target: int, what: str) -> None:
        """Poll status and position until the arm rests at ``target``."""
        deadline = time.monotonic() + self.move_timeout_s
        while True:
            state = self.read_status()
            if state.motion == "error":
                raise InstrumentAlarm("E", f"move to {what} refused by the collector", NAME)
            if state.motion == "ready" and self.read_position() == target:
                return
            if time.monotonic() > deadline:
                raise InstrumentTimeout(
                    f"move to {what} not confirmed within {self.move_timeout_s:g} s", NAME
                )
            time.sleep(self.poll_interval_s)

