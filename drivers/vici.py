"""VICI Valco two-position injection valve (universal electric actuator, serial option).

ASCII commands ending in CR at 9600 8N1. Action commands (``GOA``, ``GOB``,
``TT``, ``DTnnnnn``) are silent in the factory response mode (IFM0), so every
move is confirmed by polling ``CP`` until the new position reads back; the
actuator reports the old position until the switch completes. Replies carry
the actuator's ID as a prefix, or a NUL byte when no ID is set (``"\\0CPA"``,
as PNNL's LCMSNet records from universal actuators); the driver accepts both.
At open the driver puts the actuator in the response modes it expects
(``IFM0``, ``LG0``) and also reads the legacy reply form (``Position is "A"``).
Commands are spaced by at least ``poll_interval_s`` (LCMSNet keeps 100 ms).
A garbled position reply is asked again before anything is raised. Position A
is LOAD, B is INJECT. Safe state: LOAD.

What every universal actuator shares — the link, CR framing with the ID
prefix, command spacing, reply reading and parsing, asking a garbled state
again, confirming a move by polling, identity — is ``VICIActuator``, which the
multiposition selector (``raphe.drivers.vici_selector``) uses too.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TypeVar

from raphe.drivers.base import InjectionValve, ValvePosition
from raphe.drivers.settings import REQUIRED, Setting
from raphe.drivers.transport import SerialTransport
from raphe.errors import InputError, InstrumentError, InstrumentTimeout, ProtocolError

CR = b"\r"
NUL = 0x00
MAX_REPLY = 64
MAX_DELAY_MS = 65535
T = TypeVar("T")

SETTINGS: dict[str, Setting] = {
    "port": Setting(str, REQUIRED, "serial device path, e.g. /dev/ttyUSB1"),
    "baudrate": Setting(
        int, 9600, "baud rate, bit/s (8N1 fixed; SB on the actuator sets it)",
        choices=(1200, 2400, 4800, 9600, 19200, 38400),
    ),
    "valve_id": Setting(
        str, "", "actuator ID when its ID feature is on; '' = off",
        pattern=r"[0-9A-Z]?", pattern_text="'' or one character 0-9 or A-Z",
    ),
    "timeout_s": Setting(float, 1.0, "wait for a reply line, s", above=0),
    "move_timeout_s": Setting(float, 2.0, "longest switch until CP confirms it, s", above=0),
    "poll_interval_s": Setting(
        float, 0.1, "least time between two commands, also the CP polling period, s "
        "(LCMSNet keeps 0.1 s on real actuators)", above=0,
    ),
    "loop_volume_uL": Setting(float, REQUIRED, "sample loop volume, µL", above=0),
}

#: Sent at open so replies take the form the driver parses (universal actuator modes).
RESPONSE_MODES = ("IFM0", "LG0")
#: Time allowed for any reply to the mode commands before the input is discarded, s.
SETTLE_S = 0.05


def reply_text(raw: bytes, valve_id: str, what: str) -> str:
    """The reply text without CR and the ID (or NUL) prefix; non-printable replies raise."""
    body = raw[:-1] if raw.endswith(CR) else raw
    body = body.lstrip(b"\0")
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


def reply_field(raw: bytes, valve_id: str, name: str, pattern: str) -> str:
    """The one group of ``pattern`` after ``name`` in the reply (``CNT`` + digits), or raise."""
    text = reply_text(raw, valve_id, name)
    match = re.fullmatch(name + pattern, text)
    if not match:
        raise ProtocolError(f"{name}: unexpected reply {raw!r}")
    return match.group(1)


_LEGACY_POSITION = re.compile(r'Position is\s*=?\s*"?([AB])"?')


def parse_position(raw: bytes, valve_id: str = "") -> ValvePosition:
    """``b"CPA\\r"`` (or ``b"\\0CPA\\r"``, or legacy ``b'Position is "A"\\r'``) → LOAD."""
    text = reply_text(raw, valve_id, "CP")
    match = re.fullmatch(r"CP([AB])", text) or _LEGACY_POSITION.fullmatch(text)
    if not match:
        raise ProtocolError(f"CP: unexpected reply {raw!r}")
    return ValvePosition(match.group(1))


def parse_number(raw: bytes, name: str, valve_id: str = "") -> int:
    """``b"DT500\\r"`` with name ``"DT"`` → 500 (also CNT, AM, IFM); else ``ProtocolError``."""
    value = int(reply_field(raw, valve_id, name, "([0-9]{1,5})"))
    if value > MAX_DELAY_MS:
        raise ProtocolError(f"{name}: value {value} out of range in reply {raw!r}")
    return value


def parse_version(raw: bytes, valve_id: str = "") -> str:
    """Any printable version line (a universal actuator's starts ``UA_MAIN_``)."""
    return reply_text(raw, valve_id, "VR").strip()


class VICIActuator:
    """What every VICI universal-actuator driver shares (a mixin ahead of the role class).

    The subclass's constructor calls ``_link``; it implements ``_prepare`` (what open and
    reconnect do once the port is open and under the transaction lock). Provided: the
    port's life cycle, ``send``/``query`` (ID prefix, CR, spacing), the fail-fast line
    reader, ``_asked_twice`` (a garbled state reply asked once more, noted as an
    incident through the role's ``note_incident``), ``_confirm`` (poll until a move reads
    back, bounded), ``mode`` and ``identity``.
    """

    model = "VICI universal electric actuator"
    name: str
    valve_id: str
    move_timeout_s: float
    poll_interval_s: float
    transport: SerialTransport

    def _link(self, port: str, name: str, values: dict) -> None:
        """Keep the link settings (``values`` checked by the driver's ``SETTINGS``)."""
        self.name = name
        self.valve_id = values["valve_id"]
        self.move_timeout_s = values["move_timeout_s"]
        self.poll_interval_s = values["poll_interval_s"]
        self.transport = SerialTransport(
            port, name=name, baudrate=values["baudrate"], timeout=values["timeout_s"]
        )

    # -- life cycle -------------------------------------------------------
    def open(self) -> None:
        """Open the port and bring the actuator to a known state (``_prepare``)."""
        self.transport.open()
        try:
            self._prepare()
        except BaseException:
            self.transport.close()
            raise

    def _prepare(self) -> None:
        """The driver's own setup on an open port (response modes, mode check, state)."""
        raise NotImplementedError

    def reconnect(self) -> None:
        """Reopen the same path and prepare the actuator again (response modes, checks)."""
        with self.transport.transaction():
            self.transport.reopen()
            self._prepare()

    def close(self) -> None:
        self.transport.close()

    def _set_response_modes(self) -> None:
        """``IFM0``, ``LG0``; whatever an actuator in another mode answers is discarded."""
        for command in RESPONSE_MODES:
            self.send(command)
        self.transport.wait_quiet(SETTLE_S)

    # -- wire -------------------------------------------------------------
    def send(self, command: str) -> None:
        """Send a command (silent, or the first half of ``query``), spaced from the last one."""
        with self.transport.transaction():
            self.transport.pace(self.poll_interval_s)
            self.transport.discard_input()
            self.transport.write(f"{self.valve_id}{command}\r".encode("ascii"))

    def query(self, command: str) -> bytes:
        """Send ``command`` and return its raw reply line (CR included)."""
        with self.transport.transaction():
            self.send(command)
            return self._read_line(command)

    def _read_line(self, command: str) -> bytes:
        """Read to CR, failing fast on a byte no reply contains (a leading NUL is allowed)."""
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
                    self.name,
                ) from None
            line += byte
            leading_nul = byte[0] == NUL and not line.strip(b"\0")
            printable = 0x20 <= byte[0] <= 0x7E or byte == CR
            if not (printable or leading_nul) or len(line) > MAX_REPLY:
                self.transport.discard_input()
                raise ProtocolError(f"{command}: garbled reply {bytes(line)!r}", self.name)
        return bytes(line)

    def _parsed(self, parser, *args):
        try:
            return parser(*args)
        except ProtocolError as exc:
            raise ProtocolError(str(exc), self.name) from None

    def _asked_twice(self, command: str, parse: Callable[[bytes], T],
                     shown: Callable[[T], str] = str) -> T:
        """``parse(query(command))``; a garbled or unexpected reply is asked once more before
        it raises, and the recovery is noted as an incident."""
        with self.transport.transaction():
            try:
                return parse(self.query(command))
            except ProtocolError as exc:
                self.transport.log.warning("%s; asking %s again", exc, command)
                value = parse(self.query(command))
                self.note_incident(f"{exc}; asked {command} again: {shown(value)}")
                return value

    def _confirm(self, done: Callable[[], bool], what: str) -> None:
        """Poll until ``done()``; commands are already spaced by ``poll_interval_s``."""
        deadline = time.monotonic() + self.move_timeout_s
        while not done():
            if time.monotonic() > deadline:
                raise InstrumentTimeout(
                    f"{what} not confirmed by CP within {self.move_timeout_s:g} s", self.name
                )

    def mode(self) -> int:
        """``AM`` → 1 (two-position with stops), 2 (without stops) or 3 (multiposition)."""
        return self._parsed(parse_number, self.query("AM"), "AM", self.valve_id)

    def identity(self) -> dict[str, str]:
        with self.transport.transaction():
            firmware = self._parsed(parse_version, self.query("VR"), self.valve_id)
            info = {"model": self.model, "firmware": firmware, "serial": ""}
            if firmware.upper().startswith("UA_MAIN_"):  # a universal actuator: serial board too
                info["serial_board"] = self._parsed(parse_version, self.query("VR2"), self.valve_id)
            return info


class VICIValve(VICIActuator, InjectionValve):
    """A VICI two-position actuator on a serial port."""

    model = "VICI universal electric actuator"
    SETTINGS = SETTINGS

    def __init__(self, port: str, *, name: str = "valve", **settings) -> None:
        values = self._declared(name, port=port, **settings)
        self._link(port, name, values)
        self._loop_volume_uL = values["loop_volume_uL"]

    # -- life cycle -------------------------------------------------------
    def _prepare(self) -> None:
        """Set the response modes, check a two-position mode and read CP."""
        with self.transport.transaction():
            self._set_response_modes()
            mode = self.mode()
            if mode not in (1, 2):
                raise InstrumentError(
                    f"actuator is in mode AM{mode}, not two-position (1 or 2)", self.name
                )
            self.position()

    # -- role -------------------------------------------------------------
    def position(self) -> ValvePosition:
        """``CP``; a garbled or unexpected reply is asked once more before it raises."""
        return self._asked_twice(
            "CP", lambda raw: self._parsed(parse_position, raw, self.valve_id),
            lambda position: position.value,
        )

    def load(self) -> None:
        self.move_to(ValvePosition.LOAD)

    def inject(self, on_sent: Callable[[], None] | None = None) -> None:
        self.move_to(ValvePosition.INJECT, on_sent)

    def move_to(self, position: ValvePosition,
                on_sent: Callable[[], None] | None = None) -> None:
        """Switch to ``position`` and return once ``CP`` reads it back; ``on_sent`` is
        called as soon as ``GO`` is written."""
        with self.transport.transaction():
            self.send(f"GO{position.value}")
            if on_sent is not None:
                on_sent()
            self._confirm(lambda: self.position() == position, f"switch to {position.value}")

    def toggle(self) -> ValvePosition:
        """Switch to the other position (``TO``); returns the confirmed new position."""
        with self.transport.transaction():
            here = self.position()
            target = ValvePosition.INJECT if here == ValvePosition.LOAD else ValvePosition.LOAD
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
        with self.transport.transaction():
            if self.position() != ValvePosition.LOAD:
                self.load()
            self.send(f"DT{delay_ms}")
            if self.delay_ms() != delay_ms:
                raise ProtocolError(f"DT{delay_ms} not taken by the actuator", self.name)
            before = self.counter()
            self.send("TT")
            # Confirmed once INJECT reads back, or once both switches already happened.
            self._confirm(
                lambda: self.position() == ValvePosition.INJECT
                or (self.counter() - before) % 65536 >= 2,
                "timed injection",
            )

    def delay_ms(self) -> int:
        return self._parsed(parse_number, self.query("DT"), "DT", self.valve_id)

    def counter(self) -> int:
        """Actuation counter (wraps at 65536)."""
        return self._parsed(parse_number, self.query("CNT"), "CNT", self.valve_id)
