"""Gilson Serial Input/Output Channel (GSIOC) master over a serial line.

GSIOC addresses one slave on a shared bus (unit ID 0–63) and speaks in
single bytes, each one answered before the next is sent:

- connect: ``0xFF`` (every slave lets go), wait ≥ 20 ms, ``0x80 + ID``; the
  slave echoes that byte.
- immediate command (a status read; runs even while the slave is busy): one
  ASCII byte; the slave answers one character at a time, the master ACKs
  (``0x06``) every character, and the last character has bit 7 set. An
  unknown immediate command is answered ``#`` | 0x80 (``0xA3``).
- buffered command (an instruction): LF; the slave echoes LF when ready or
  ``#`` while busy (the master sends LF again); then every character is
  echoed, and CR ends the command (echoed too).

After any error the link re-synchronises (disconnect + connect) before the
next command, so a half-finished exchange never leaks into the next one.
"""

from __future__ import annotations

import time

from raphe.drivers.transport import SerialTransport
from raphe.errors import InstrumentError, InstrumentTimeout, ProtocolError

DISCONNECT_ALL = 0xFF
ACK = 0x06
LF = 0x0A
CR = 0x0D
BUSY = ord("#")
UNKNOWN_IMMEDIATE = 0xA3  # '#' with bit 7 set
#: The bus needs at least 20 ms between "disconnect all" and the unit's address.
CONNECT_WAIT_S = 0.025
#: A silent unit is addressed this many times before the connect fails.
CONNECT_ATTEMPTS = 3
#: Longest immediate reply accepted before the reply is declared garbled.
MAX_REPLY_CHARS = 64


class UnknownCommand(ProtocolError):
    """The slave answered ``0xA3``: it does not know this immediate command."""


class ImmediateReply:
    """Accumulates the characters of one immediate reply, validating each byte."""

    def __init__(self, command: str = "?") -> None:
        self.command = command
        self.chars: list[str] = []
        self.done = False

    def feed(self, byte: int) -> bool:
        """Add one received byte; True when it was the last (bit 7 set)."""
        if self.done:
            raise ProtocolError(f"immediate {self.command!r}: byte {byte:#04x} after the reply ended")
        if byte == UNKNOWN_IMMEDIATE and not self.chars:
            raise UnknownCommand(f"immediate command {self.command!r} unknown to the instrument")
        char = byte & 0x7F
        if not 0x20 <= char <= 0x7E:
            raise ProtocolError(
                f"immediate {self.command!r}: non-printable byte {byte:#04x} in reply "
                f"{''.join(self.chars)!r}"
            )
        self.chars.append(chr(char))
        if byte & 0x80:
            self.done = True
        elif len(self.chars) >= MAX_REPLY_CHARS:
            raise ProtocolError(
                f"immediate {self.command!r}: reply longer than {MAX_REPLY_CHARS} characters"
            )
        return self.done

    @property
    def text(self) -> str:
        return "".join(self.chars)


def decode_immediate(data: bytes, command: str = "?") -> str:
    """The text of one complete immediate reply ``data`` (as received), or ``ProtocolError``."""
    reply = ImmediateReply(command)
    for byte in data:
        reply.feed(byte)
    if not reply.done:
        raise ProtocolError(f"immediate {command!r}: reply {data!r} has no last character")
    return reply.text


def check_unit_id(unit_id: int) -> int:
    if isinstance(unit_id, bool) or not isinstance(unit_id, int) or not 0 <= unit_id <= 63:
        raise ValueError(f"GSIOC unit_id must be an integer 0–63, got {unit_id!r}")
    return unit_id


class GSIOCLink:
    """One GSIOC slave reached through ``transport``.

    ``char_timeout_s`` bounds the wait for every single reply byte;
    ``busy_timeout_s`` bounds how long a buffered command waits for the slave
    to stop answering ``#``; ``poll_interval_s`` spaces those retries.
    """

    def __init__(
        self,
        transport: SerialTransport,
        unit_id: int,
        *,
        char_timeout_s: float = 0.2,
        busy_timeout_s: float = 30.0,
        poll_interval_s: float = 0.01,
    ) -> None:
        self.transport = transport
        self.unit_id = check_unit_id(unit_id)
        self.char_timeout_s = char_timeout_s
        self.busy_timeout_s = busy_timeout_s
        self.poll_interval_s = poll_interval_s
        self._synced = False

    @property
    def name(self) -> str:
        return self.transport.name

    # -- link -------------------------------------------------------------
    def connect(self, attempts: int = CONNECT_ATTEMPTS) -> None:
        """Disconnect every slave, wait, address this unit and check its echo (retried)."""
        with self.transport.transaction():
            self._synced = False
            for attempt in range(1, attempts + 1):
                try:
                    self._connect_once()
                except InstrumentTimeout:
                    if attempt == attempts:
                        raise
                else:
                    self._synced = True
                    return

    def _connect_once(self) -> None:
        self.transport.discard_input()
        self.transport.write(bytes([DISCONNECT_ALL]))
        time.sleep(CONNECT_WAIT_S)
        self.transport.discard_input()
        address = 0x80 + self.unit_id
        self.transport.write(bytes([address]))
        echo = self._read_byte(f"connect to unit {self.unit_id}")
        if echo != address:
            raise ProtocolError(
                f"connect to unit {self.unit_id}: expected echo {address:#04x}, got {echo:#04x}",
                self.name,
            )

    def invalidate(self) -> None:
        """Re-synchronise before the next command (after a reply the caller found garbled)."""
        self._synced = False

    def _ensure_synced(self) -> None:
        if not self._synced:
            self.connect()

    def _read_byte(self, what: str) -> int:
        try:
            return self.transport.read_exact(1, timeout=self.char_timeout_s)[0]
        except InstrumentTimeout:
            raise InstrumentTimeout(
                f"{what}: no reply within {self.char_timeout_s:g} s", self.name
            ) from None

    def _guarded(self, action, *args):
        """Run one exchange under the line's transaction lock; a failure leaves the link to be
        re-synchronised (an unknown immediate command is a complete exchange: it does not)."""
        with self.transport.transaction():
            self._ensure_synced()
            try:
                return action(*args)
            except UnknownCommand:
                raise
            except InstrumentError:
                self._synced = False
                raise

    # -- commands ---------------------------------------------------------
    def immediate(self, command: str) -> str:
        """Send a one-letter immediate command and return its reply text."""
        if len(command) != 1 or not 0x20 < ord(command) < 0x7F:
            raise ValueError(f"an immediate command is one printable character, got {command!r}")
        return self._guarded(self._immediate, command)

    def _immediate(self, command: str) -> str:
        self.transport.write(command.encode("ascii"))
        reply = ImmediateReply(command)
        try:
            while not reply.feed(self._read_byte(f"immediate {command!r}")):
                self.transport.write(bytes([ACK]))
        except ProtocolError as exc:
            raise type(exc)(str(exc), self.name) from None
        return reply.text

    def buffered(self, command: str) -> None:
        """Send a buffered command (waiting while the slave is busy) with per-byte echo."""
        if not command or any(not 0x20 <= ord(c) <= 0x7E for c in command):
            raise ValueError(f"a buffered command is printable ASCII, got {command!r}")
        self._guarded(self._buffered, command, command.encode("ascii"))

    def _buffered(self, command: str, data: bytes) -> None:
        deadline = time.monotonic() + self.busy_timeout_s
        while True:
            self.transport.write(bytes([LF]))
            answer = self._read_byte(f"buffered {command!r} (ready?)")
            if answer == LF:
                break
            if answer != BUSY:
                raise ProtocolError(
                    f"buffered {command!r}: expected LF or '#' after LF, got {answer:#04x}",
                    self.name,
                )
            if time.monotonic() > deadline:
                raise InstrumentTimeout(
                    f"buffered {command!r}: still busy after {self.busy_timeout_s:g} s", self.name
                )
            time.sleep(self.poll_interval_s)
        for byte in data + bytes([CR]):
            self.transport.write(bytes([byte]))
            echo = self._read_byte(f"buffered {command!r} (echo)")
            if echo != byte:
                raise ProtocolError(
                    f"buffered {command!r}: sent {byte:#04x}, echo {echo:#04x}", self.name
                )
