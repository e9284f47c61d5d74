"""A GSIOC slave as a byte-level state machine, the base of simulated Gilson modules.

It answers exactly as the bus does: it listens only after ``0x80 + ID``
(echoed) and lets go on ``0xFF`` or another unit's address; immediate
replies go out one character per host ACK, the last with bit 7 set, and an
unknown immediate letter gets ``0xA3``; buffered commands start with LF
(answered LF, or ``#`` while ``busy()``), every character is echoed and CR
runs the command. A byte other than ACK while a reply is pending abandons the
reply and is taken as a new command.

Subclasses implement ``identify``, ``immediate``, ``buffered`` and ``busy``.
"""

from __future__ import annotations

import time

DISCONNECT_ALL = 0xFF
ACK = 0x06
LF = 0x0A
CR = 0x0D
BUSY = ord("#")
UNKNOWN_IMMEDIATE = 0xA3
#: Longest buffered command kept; longer input is cut (the bytes are still echoed).
MAX_BUFFERED = 64


class GSIOCSlave:
    """One unit on a GSIOC bus. ``min_connect_gap_s``: real time required after ``0xFF``.

    The address is ignored only when it provably came too soon: the gap is taken
    from the earliest moment the ``0xFF`` can have arrived (``arrived_after``, set
    by the port that reads the line; None means the moment it is processed).
    """

    def __init__(self, unit_id: int, min_connect_gap_s: float = 0.01) -> None:
        if not 0 <= unit_id <= 63:
            raise ValueError(f"GSIOC unit ID must be 0–63, got {unit_id}")
        self.unit_id = unit_id
        self.min_connect_gap_s = min_connect_gap_s
        self.selected = False
        self._pending: bytes = b""  # immediate reply characters not sent yet
        self._buffer: bytearray | None = None  # buffered command being received
        self._disconnect_at = float("-inf")
        self.arrived_after: float | None = None

    # -- to implement -----------------------------------------------------
    def identify(self) -> str:
        """Reply to ``%``."""
        raise NotImplementedError

    def immediate(self, command: str) -> str | None:
        """Reply text to an immediate command, or None when the letter is unknown."""
        return None

    def buffered(self, command: str) -> None:
        """Run a complete buffered command (without its CR)."""

    def busy(self) -> bool:
        """True while a buffered command is still running (LF is then answered ``#``)."""
        return False

    def reset(self) -> None:
        """Master reset (``$``)."""

    # -- SerialDevice -----------------------------------------------------
    def receive(self, data: bytes) -> bytes:
        return b"".join(self._byte(b) for b in data)

    def poll(self) -> bytes:
        return b""

    def _byte(self, byte: int) -> bytes:
        if byte == DISCONNECT_ALL:
            self._release()
            now = time.monotonic()
            earliest = now if self.arrived_after is None else min(self.arrived_after, now)
            self._disconnect_at = earliest
            return b""
        if byte >= 0x80 and self._buffer is None:
            self._release()
            if byte - 0x80 == self.unit_id and (
                time.monotonic() - self._disconnect_at >= self.min_connect_gap_s
            ):
                self.selected = True
                return bytes([byte])
            return b""
        if not self.selected:
            return b""
        if self._buffer is not None:
            return self._buffered_byte(byte)
        if self._pending:
            if byte == ACK:
                return self._next_char()
            self._pending = b""
        if byte == LF:
            if self.busy():
                return bytes([BUSY])
            self._buffer = bytearray()
            return bytes([LF])
        return self._start_immediate(chr(byte))

    def _release(self) -> None:
        self.selected = False
        self._pending = b""
        self._buffer = None

    def _buffered_byte(self, byte: int) -> bytes:
        if byte == CR:
            command = self._buffer.decode("ascii", errors="replace")
            self._buffer = None
            self.buffered(command)
            return bytes([CR])
        if len(self._buffer) < MAX_BUFFERED:
            self._buffer.append(byte)
        return bytes([byte])

    def _start_immediate(self, command: str) -> bytes:
        if command == "%":
            reply = self.identify()
        elif command == "$":
            self.reset()
            reply = "$"
        else:
            reply = self.immediate(command)
        if not reply:
            return bytes([UNKNOWN_IMMEDIATE])
        self._pending = reply.encode("ascii")
        return self._next_char()

    def _next_char(self) -> bytes:
        char, self._pending = self._pending[0], self._pending[1:]
        return bytes([char | 0x80 if not self._pending else char])
