"""VICI Valco two-position injection valve (universal electric actuator, serial option).

ASCII commands ending in CR at 9600 8N1. Action commands (``GOA``, ``GOB``,
``TT``, ``DTnnnnn``) are silent in the factory response mode (IFM0), so every
move is confirmed by polling ``CP`` until the new position reads back; the
actuator reports the old position until the switch completes. With an ID set
on the actuator (``IDn``) every command is prefixed by it and replies carry
it. Position A is LOAD, B is INJECT. Safe state: LOAD.
"""

from __future__ import annotations

import re
import time
from typing import Any

from raphe.drivers.base import InjectionValve, ValvePosition
from raphe.drivers.settings import REQUIRED, Setting, resolve
from raphe.drivers.transport import SerialTransport
from raphe.errors import InputError, InstrumentError, InstrumentTimeout, ProtocolError

NAME = "vici"
CR = b"\r"
MAX_REPLY = 64
MAX_DELAY_MS = 65535

SETTINGS: dict[str, Setting] = {
    "port": Setting(str, REQUIRED, "serial device path, e.g. /dev/ttyUSB1"),
    "baudrate": Setting(int, 9600, "baud rate, bit/s (8N1 fixed; SB on the actuator sets it)"),
    "valve_id": Setting(str, "", "actuator ID 0-9 or A-Z when its ID feature is on; '' = off"),
    "timeout_s": Setting(float, 1.0, "wait for a reply line, s"),
    "move_timeout_s": Setting(float, 2.0, "longest switch until CP confirms it, s"),
    "poll_interval_s": Setting(float, 0.005, "spacing of CP polls while switching, s"),
    "loop_volume_uL": Setting(float, REQUIRED, "sample loop volume, µL"),
}


def _payload(raw: bytes, valve_id: str, what: str) -> str:
    """The reply text without CR and ID prefix; non-printable or foreign replies raise."""
    body = raw[:-1] if raw.endswith(CR) else raw
    if not body or any(not 0x20 <= b <= 0x7E for b in body):
        raise ProtocolError(f"{what}: garbled reply {raw!r}")
    text = body.decode("ascii")
    if valve_id:
        if not text.startswith(valve_id):
            raise ProtocolError(f"{what}: reply {raw!r} lacks the valve ID {valve_id!r}")
        text = text[len(valve_id):]
    if text == "Bad command":
        raise ProtocolError(f"{what}: the actuator answered 'Bad command'")
    return text


def _field(raw: bytes, valve_id: str, name: str, pattern: str) -> str:
    text = _payload(raw, valve_id, name)
    match = re.fullmatch(name + pattern, text)
    if not match:
        raise ProtocolError(f"{name}: unexpected reply {raw!r}")
    return match.group(1)


def parse_position(raw: bytes, valve_id: str = "") -> ValvePosition:
    """``b"CPA\\r"`` → LOAD, ``b"CPB\\r"`` → INJECT; else ``ProtocolError``."""
    return ValvePosition(_field(raw, valve_id, "CP", "([AB])"))


def parse_number(raw: bytes, name: str, valve_id: str = "") -> int:
    """``b"DT500\\r"`` with name ``"DT"`` → 500 (also CNT, AM, IFM); else ``ProtocolError``."""
    value = int(_field(raw, valve_id, name, "([0-9]{1,5})"))
    if value > MAX_DELAY_MS:
        raise ProtocolError(f"{name}: value {value} out of range in reply {raw!r}")
    return value


def parse_version(raw: bytes, valve_id: str = "") -> str:
    """Any printable version line."""
    return _payload(raw, valve_id, "VR").strip()


class VICIValve(InjectionValve):
    """A VICI two-position actuator on a serial port."""

    model = "VICI universal electric actuator"

    def __init__(
        self,
        port: str,
        *,
        loop_volume_uL: float,
        baudrate: int = 9600,
        valve_id: str = "",
        timeout_s: float = 1.0,
        move_timeout_s: float = 2.0,
        poll_interval_s: float = 0.005,
    ) -> None:
        if valve_id and not re.fullmatch(r"[0-9A-Z]", valve_id):
            raise InputError(f"VICI valve_id must be one character 0-9 or A-Z, got {valve_id!r}")
        if not loop_volume_uL > 0:
            raise InputError(f"VICI loop_volume_uL must be > 0 µL, got {loop_volume_uL!r}")
        self.valve_id = valve_id
        self.loop_volume_uL = float(loop_volume_uL)
        self.move_timeout_s = move_timeout_s
        self.poll_interval_s = poll_interval_s
        self.transport = SerialTransport(port, name=NAME, baudrate=baudrate, timeout=timeout_s)

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> VICIValve:
        """Open and connect from a rig-file table (``driver`` key ignored)."""
        values = resolve(SETTINGS, settings, f"{NAME}:")
        valve = cls(
            values["port"],
            loop_volume_uL=values["loop_volume_uL"],
            baudrate=values["baudrate"],
            valve_id=values["valve_id"],
            timeout_s=values["timeout_s"],
            move_timeout_s=values["move_timeout_s"],
            poll_interval_s=values["poll_interval_s"],
        )
        valve.open()
        return valve

    # -- life cycle -------------------------------------------------------
    def open(self) -> None:
        """Open the port and check the actuator answers in a two-position mode."""
        self.transport.open()
        try:
            self._check_mode()
        except BaseException:
            self.transport.close()
            raise

    def _check_mode(self) -> None:
        mode = parse_number(self.query("AM"), "AM", self.valve_id)
        if mode not in (1, 2):
            raise InstrumentError(f"actuator is in mode AM{mode}, not two-position (1 or 2)", NAME)
        self.position()

    def reconnect(self) -> None:
        self.transport.reopen()
        self._check_mode()

    def close(self) -> None:
        self.transport.close()

    # -- wire -------------------------------------------------------------
    def send(self, command: str) -> None:
        """Send a silent action command."""
        self.transport.discard_input()
        self.transport.write(f"{self.valve_id}{command}\r".encode("ascii"))

    def query(self, command: str) -> bytes:
        """Send ``command`` and return its raw reply line (CR included)."""
        self.send(command)
        return self._read_line(command)

    def _read_line(self, command: str) -> bytes:
        """Read to CR, failing fast on a byte no reply contains."""
        deadline = time.monotonic() + self.transport.timeout
        line = bytearray()
        while not line.endswith(CR):
            remaining = deadline - time.monotonic()
            try:
                byte = self.transport.read_exact(1, timeout=max(remaining, 0.0))
            except InstrumentTimeout:
                raise InstrumentTimeout(
                    f"{command}: no complete reply within {self.transport.timeout:g} s "
                    f"(got {bytes(line)!r})",
                    NAME,
                ) from None
            line += byte
            if not (0x20 <= byte[0] <= 0x7E or byte == CR) or len(line) > MAX_REPLY:
                self.transport.discard_input()
                raise ProtocolError(f"{command}: garbled reply {bytes(line)!r}", NAME)
        return bytes(line)

    def _parsed(self, parser, *args):
        try:
            return parser(*args)
        except ProtocolError as exc:
            raise ProtocolError(str(exc), NAME) from None

    # -- role -------------------------------------------------------------
    def position(self) -> ValvePosition:
        return self._parsed(parse_position, self.query("CP"), self.valve_id)

    def load(self) -> None:
        self.move_to(ValvePosition.LOAD)

    def inject(self) -> None:
        self.move_to(ValvePosition.INJECT)

    def move_to(self, position: ValvePosition) -> None:
        """Switch to ``position`` and return once ``CP`` reads it back."""
        self.send(f"GO{position.value}")
        self._confirm(lambda: self.position() == position, f"switch to {position.value}")

    def toggle(self) -> ValvePosition:
        """Switch to the other position (``TO``); returns the confirmed new position."""
        target = ValvePosition.INJECT if self.position() == ValvePosition.LOAD else ValvePosition.LOAD
        self.send("TO")
        self._confirm(lambda: self.position() == target, f"toggle to {target.value}")
        return target

    def timed_inject(self, seconds: float) -> None:
        """INJECT now; the actuator returns to LOAD after ``seconds`` (DT + TT, 1 ms–65.535 s)."""
        delay_ms = round(seconds * 1000)
        if not 1 <= delay_ms <= MAX_DELAY_MS:
            raise InputError(
                f"timed injection must last 0.001–{MAX_DELAY_MS / 1000:g} s, got {seconds!r} s"
            )
        if self.position() != ValvePosition.LOAD:
            self.load()
        self.send(f"DT{delay_ms}")
        if self.delay_ms() != delay_ms:
            raise ProtocolError(f"DT{delay_ms} not taken by the actuator", NAME)
        before = self.counter()
        self.send("TT")
        # Confirmed once INJECT reads back, or once both switches already happened.
        self._confirm(
            lambda: self.position() == ValvePosition.INJECT
            or (self.counter() - before) % 65536 >= 2,
            "timed injection",
        )

    def _confirm(self, done, what: str) -> None:
        deadline = time.monotonic() + self.move_timeout_s
        while not done():
            if time.monotonic() > deadline:
                raise InstrumentTimeout(
                    f"{what} not confirmed by CP within {self.move_timeout_s:g} s", NAME
                )
            time.sleep(self.poll_interval_s)

    def delay_ms(self) -> int:
        return self._parsed(parse_number, self.query("DT"), "DT", self.valve_id)

    def counter(self) -> int:
        """Actuation counter (wraps at 65536)."""
        return self._parsed(parse_number, self.query("CNT"), "CNT", self.valve_id)

    def identity(self) -> dict[str, str]:
        firmware = self._parsed(parse_version, self.query("VR"), self.valve_id)
        return {"model": self.model, "firmware": firmware, "serial": ""}

