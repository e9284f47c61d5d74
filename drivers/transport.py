"""Serial transport shared by the serial drivers: pyserial with typed errors, traffic logs,
exclusive access and a transaction lock.

Every byte sent and received is logged at DEBUG under the instrument's
logger (``raphe.instrument.<name>``, the rig-file table name). Whatever
pyserial or the OS raise (``SerialException``, ``OSError``, ``termios.error``,
``ValueError``/``TypeError`` on a port closed under a reader) becomes
``Disconnected``; a read that runs past its deadline becomes
``InstrumentTimeout``. The port is opened with ``exclusive=True``: a second
program gets ``PortInUse`` naming the port and, where it can be found, the
process holding it. ``with transport.transaction():`` holds the line for one
command and its reply, so two threads (a heartbeat and a caller, a GUI poll
and the protocol engine) never interleave them.
"""

from __future__ import annotations

import contextlib
import errno as errnos
import logging
import os
import termios
import threading
import time

import serial

from raphe.drivers.locks import PortInUse, holders, in_use_message
from raphe.errors import Disconnected, InstrumentTimeout, ProtocolError

#: Everything pyserial and the OS raise on a vanished, closed or unusable port.
LINK_ERRORS = (serial.SerialException, OSError, termios.error, ValueError, TypeError, AttributeError)


def _reason(exc: BaseException) -> str:
    code = getattr(exc, "errno", None)
    if isinstance(code, int) and code:
        return os.strerror(code)
    if isinstance(exc, termios.error) and exc.args and isinstance(exc.args[0], int):
        return os.strerror(exc.args[0])
    return str(exc) or type(exc).__name__


class SerialTransport:
    """A pyserial port that can be reopened at the same path after an unplug."""

    def __init__(
        self,
        port: str,
        *,
        name: str,
        baudrate: int = 9600,
        parity: str = "N",
        bytesize: int = 8,
        stopbits: float = 1,
        timeout: float = 1.0,
    ) -> None:
        self.port = port
        self.name = name
        self.settings = {
            "baudrate": baudrate, "parity": parity, "bytesize": bytesize, "stopbits": stopbits
        }
        self.timeout = timeout
        self.log = logging.getLogger(f"raphe.instrument.{name}")
        self._serial: serial.Serial | None = None
        self._lock = threading.RLock()
        #: Monotonic time of the last write (drivers that must space commands use it).
        self.last_write = float("-inf")

    # -- life cycle -------------------------------------------------------
    def open(self) -> None:
        try:
            self._serial = serial.Serial(
                self.port, timeout=0.05, write_timeout=2.0, exclusive=True, **self.settings
            )
        except LINK_ERRORS as exc:
            self._serial = None
            code = getattr(exc, "errno", None)
            if code in (errnos.EAGAIN, errnos.EWOULDBLOCK) or "exclusively lock" in str(exc):
                raise PortInUse(in_use_message(self.port, holders(self.port)), self.name) from None
            raise Disconnected(f"cannot open {self.port}: {_reason(exc)}", self.name) from None
        self.log.debug("opened %s %s", self.port, self.settings)

    def close(self) -> None:
        port, self._serial = self._serial, None
        if port is not None:
            with contextlib.suppress(*LINK_ERRORS):
                port.close()

    def reopen(self) -> None:
        with self._lock:
            self.close()
            self.open()

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    def transaction(self) -> contextlib.AbstractContextManager:
        """Hold the line for one command and its reply (re-entrant)."""
        return self._lock

    def _port(self) -> serial.Serial:
        port = self._serial
        if port is None:
            raise Disconnected(f"port {self.port} is not open", self.name)
        return port

    def _lost(self, action: str, exc: BaseException) -> Disconnected:
        self.close()
        return Disconnected(f"{action} {self.port} failed: {_reason(exc)}", self.name)

    # -- I/O --------------------------------------------------------------
    def write(self, data: bytes) -> None:
        self.log.debug("> %r", data)
        port = self._port()
        try:
            port.write(data)
        except LINK_ERRORS as exc:
            raise self._lost("write to", exc) from None
        self.last_write = time.monotonic()

    def discard_input(self) -> None:
        port = self._port()
        try:
            port.reset_input_buffer()
        except LINK_ERRORS as exc:
            raise self._lost("flushing", exc) from None

    def _read_some(self, n: int) -> bytes:
        port = self._port()
        try:
            return port.read(n)
        except LINK_ERRORS as exc:
            raise self._lost("read from", exc) from None

    def _timeout(self, buf: bytearray, timeout: float | None, what: str) -> InstrumentTimeout:
        self.log.debug("< %r (timeout)", bytes(buf))
        seconds = self.timeout if timeout is None else timeout
        return InstrumentTimeout(f"{what} within {seconds:g} s (got {bytes(buf)!r})", self.name)

    def read_exact(self, n: int, timeout: float | None = None) -> bytes:
        """Read exactly ``n`` bytes or raise ``InstrumentTimeout``."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        buf = bytearray()
        while len(buf) < n:
            chunk = self._read_some(n - len(buf))
            if chunk:
                buf += chunk
            elif time.monotonic() > deadline:
                raise self._timeout(buf, timeout, "no reply")
        self.log.debug("< %r", bytes(buf))
        return bytes(buf)

    def read_until(self, terminator: bytes, timeout: float | None = None, max_len: int = 4096) -> bytes:
        """Read up to and including ``terminator``, or raise ``InstrumentTimeout``."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        buf = bytearray()
        while not buf.endswith(terminator):
            chunk = self._read_some(1)
            if chunk:
                buf += chunk
                if len(buf) > max_len:
                    raise ProtocolError(
                        f"reply longer than {max_len} bytes: {bytes(buf[:40])!r}…", self.name
                    )
            elif time.monotonic() > deadline:
                raise self._timeout(buf, timeout, "no complete reply")
        self.log.debug("< %r", bytes(buf))
        return bytes(buf)

    def wait_quiet(self, seconds: float) -> bytes:
        """Read and return whatever arrives within ``seconds`` (for settling after a mode change)."""
        deadline = time.monotonic() + seconds
        buf = bytearray()
        while time.monotonic() < deadline:
            buf += self._read_some(256)
        if buf:
            self.log.debug("< %r (discarded)", bytes(buf))
        return bytes(buf)

    def pace(self, gap_s: float) -> None:
        """Wait until ``gap_s`` has passed since the last write (instruments that need a pause)."""
        wait = self.last_write + gap_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)
