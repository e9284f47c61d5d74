"""Gilson FC 203B fraction collector over GSIOC.

The GSIOC link layer is documented by Gilson; the collector's own command
letters are known only from third-party code or inferred, so every one of
them lives in ``COMMANDS`` below with its provenance (see
``docs/drivers/fc203b.md``). Moves use the buffered commands independent
clients send to these collectors (``T###``, ``Y0000``, ``V0``/``V1``). The
immediate status (``S``) and position (``X``) reads are unconfirmed, so they
are optional: at connect the driver asks each once; if the collector answers
``0xA3`` (unknown command) or an unexpected format, arrival is awaited for the
estimated travel time instead (the next buffered command then waits while the
collector answers busy), and the log says so once. Safe state: flow diverted
to drain.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from raphe.drivers.base import FractionCollector
from raphe.drivers.gsioc import GSIOCLink, UnknownCommand
from raphe.drivers.settings import REQUIRED, Setting
from raphe.drivers.transport import SerialTransport
from raphe.errors import InputError, InstrumentAlarm, InstrumentTimeout, ProtocolError

SETTINGS: dict[str, Setting] = {
    "port": Setting(str, REQUIRED, "serial device path, e.g. /dev/ttyUSB0"),
    "baudrate": Setting(
        int, 19200, "GSIOC baud rate, bit/s (set on the collector)", choices=(9600, 19200)
    ),
    "parity": Setting(
        str, "E", "parity: E for GSIOC, N for a simulated pty line", choices=("N", "E", "O")
    ),
    "unit_id": Setting(int, 1, "GSIOC unit ID of the collector", minimum=0, maximum=63),
    "timeout_s": Setting(float, 0.2, "wait for each reply byte, s", above=0),
    "move_timeout_s": Setting(float, 30.0, "longest tube move or busy wait, s", above=0),
    "poll_interval_s": Setting(float, 0.02, "spacing of position polls while moving, s", above=0),
    "move_min_s": Setting(
        float, 1.0, "shortest move, s (time-based arrival when S/X are not understood)",
        minimum=0,
    ),
    "travel_s_per_tube": Setting(
        float, 0.25, "arm travel per tube, s (time-based arrival when S/X are not understood)",
        minimum=0,
    ),
    "rack_size": Setting(int, REQUIRED, "number of tubes in the rack (tubes 1..rack_size)",
                         minimum=1),
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
    "reset": Command("$", "immediate", "[D] GSIOC universal: master reset; [C] fc-cycle"),
    "status": Command("S", "immediate", "[I] optional: 2 chars, motion R/M/E, valve C/D"),
    "position": Command("X", "immediate", "[I] optional: 3 digits, tube under the outlet"),
    "go_to_tube": Command("T{tube:03d}", "buffered", "[C] MechWolf (FC 203B), fc-cycle (FC 204)"),
    "to_drain": Command("Y0000", "buffered", "[C] MechWolf (FC 203B): drain"),
    "valve_collect": Command("V0", "buffered", "[C] fc-cycle (FC 204): V0 while collecting"),
    "valve_drain": Command("V1", "buffered", "[C] fc-cycle (FC 204): V1 during the waste delay"),
    "display": Command("W{line:d}{text}", "buffered", "[C] MechWolf W1/W2, fc-cycle W0"),
    "lock_keypad": Command("L0", "buffered", "[C] MechWolf lock()"),
    "unlock_keypad": Command("L1", "buffered", "[C] MechWolf unlock()"),
    "beep": Command("G{code:03d}", "buffered", "[C] fc-cycle G010"),
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
    SETTINGS = SETTINGS

    def __init__(self, port: str, *, name: str = "collector", **settings) -> None:
        values = self._declared(name, port=port, **settings)
        self.name = name
        self._rack_size = values["rack_size"]
        self.move_timeout_s = values["move_timeout_s"]
        self.poll_interval_s = values["poll_interval_s"]
        self.move_min_s = values["move_min_s"]
        self.travel_s_per_tube = values["travel_s_per_tube"]
        self.transport = SerialTransport(
            port, name=name, baudrate=values["baudrate"], parity=values["parity"],
            timeout=values["timeout_s"],
        )
        self.link = GSIOCLink(
            self.transport,
            values["unit_id"],
            char_timeout_s=values["timeout_s"],
            busy_timeout_s=values["move_timeout_s"],
            poll_interval_s=values["poll_interval_s"],
        )
        #: Whether the collector answers the status/position reads (found at connect).
        self.reads_position = True
        self._position = 0  # where the arm was last sent (0 = drain), when it cannot be read
        self._diverted = True

    # -- life cycle -------------------------------------------------------
    def open(self) -> None:
        """Open the port, address the unit and find out whether it answers S and X."""
        self.transport.open()
        try:
            self._connect()
        except BaseException:
            self.transport.close()
            raise

    def _connect(self) -> None:
        with self.transport.transaction():
            self.link.connect()
            self._probe_reads()

    def _probe_reads(self) -> None:
        """Ask S and X once; without both, moves are confirmed by a time-based wait."""
        try:
            self._read_status()
            self._read_position()
        except ProtocolError as exc:  # 0xA3 (UnknownCommand) or a reply of another format
            self._reads_unavailable(exc)
        else:
            self.reads_position = True

    def _reads_unavailable(self, exc: Exception) -> None:
        if isinstance(exc, ProtocolError) and not isinstance(exc, UnknownCommand):
            self.link.invalidate()
        if self.reads_position:
            self.transport.log.warning(
                "the collector does not answer status/position reads (%s); tube moves are "
                "confirmed by a time-based wait (%.3g s + %.3g s per tube) and its busy answer",
                exc, self.move_min_s, self.travel_s_per_tube,
            )
        self.reads_position = False

    def reconnect(self) -> None:
        """Reopen the same path, address the unit again and re-read its state."""
        with self.transport.transaction():
            self.transport.reopen()
            self._connect()

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

    def _read_status(self) -> CollectorStatus:
        return self._parse(parse_status, self._send("status"))

    def _read_position(self) -> int:
        return self._parse(parse_position, self._send("position"))

    def read_status(self) -> CollectorStatus:
        """The collector's status read (``S``); ``ProtocolError`` if it does not answer it."""
        return self._read_status()

    def read_position(self) -> int:
        """Arm position: a tube number, or 0 at the drain position (``X``)."""
        return self._read_position()

    def _parse(self, parser, reply: str):
        try:
            return parser(reply)
        except ProtocolError as exc:
            self.link.invalidate()
            raise ProtocolError(str(exc), self.name) from None

    def status(self) -> str:
        if not self.reads_position:
            where = "at drain" if self._position == 0 else f"at tube {self._position}"
            return (f"sent {where} (not read back), "
                    f"{'flow to drain' if self._diverted else 'collecting'}")
        with self.transport.transaction():
            state = self.read_status()
            if state.motion != "ready":
                where = state.motion
            else:
                position = self.read_position()
                where = "ready at drain" if position == 0 else f"ready at tube {position}"
        return f"{where}, {'flow to drain' if state.drain else 'collecting'}"

    def current_tube(self) -> int | None:
        if not self.reads_position:
            return None if self._diverted or self._position == 0 else self._position
        with self.transport.transaction():
            state = self.read_status()
            position = self.read_position()
        if state.drain or position == 0:
            return None
        return position

    def go_to_tube(self, tube: int) -> None:
        if isinstance(tube, bool) or not isinstance(tube, int) or not 1 <= tube <= self._rack_size:
            raise InputError(f"{self.name}: tube {tube!r} is outside the rack (1–{self._rack_size})")
        with self.transport.transaction():
            start = self._position
            self._send("go_to_tube", tube=tube)
            self._wait_arrival(tube, start, f"tube {tube}")
            self._send("valve_collect")
            self._diverted = False

    def to_drain(self) -> None:
        """Divert the flow first (fast), then park the arm over the drain."""
        with self.transport.transaction():
            self._send("valve_drain")
            self._diverted = True
            start = self._position
            self._send("to_drain")
            self._wait_arrival(0, start, "drain")

    def display(self, text: str, line: int = 0) -> None:
        """Show ``text`` on display line 0–2."""
        if line not in (0, 1, 2):
            raise InputError(f"display line must be 0, 1 or 2, got {line!r}")
        self._send("display", line=line, text=text)

    def lock_keypad(self, locked: bool = True) -> None:
        self._send("lock_keypad" if locked else "unlock_keypad")

    def travel_time_s(self, start: int, target: int) -> float:
        """Estimated move time between two positions (0 = drain), for the time-based wait."""
        return self.move_min_s + self.travel_s_per_tube * abs(target - start)

    def _wait_arrival(self, target: int, start: int, what: str) -> None:
        """Wait until the arm rests at ``target``: read back, or for the estimated travel."""
        self._position = target
        deadline = time.monotonic() + self.move_timeout_s
        while self.reads_position:
            try:
                state = self._read_status()
                arrived = state.motion == "ready" and self._read_position() == target
            except UnknownCommand as exc:
                self._reads_unavailable(exc)
                break
            if state.motion == "error":
                raise InstrumentAlarm("E", f"move to {what} refused by the collector", self.name)
            if arrived:
                return
            if time.monotonic() > deadline:
                raise InstrumentTimeout(
                    f"move to {what} not confirmed within {self.move_timeout_s:g} s", self.name
                )
            time.sleep(self.poll_interval_s)
        time.sleep(min(self.travel_time_s(start, target), self.move_timeout_s))
