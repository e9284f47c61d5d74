"""Serial transport shared by the serial drivers: pyserial with typed errors and traffic logs.

Every byte sent and received is logged at DEBUG under the driver's
instrument logger (``raphe.instrument.<name>``). OS-level failures become
``Disconnected``; a read that runs past its deadline becomes ``InstrumentTimeout``.
"""

from __future__ import annotations

import logging
import os
import time

import serial

from raphe.errors import Disconnected, InstrumentTimeout, ProtocolError


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

    # -- life cycle -------------------------------------------------------
    def open(self) -> None:
        try:
            self._serial = serial.Serial(self.port, timeout=0.05, write_timeout=2.0, **self.settings)
        except (serial.SerialException, OSError, ValueError) as exc:
            self._serial = None
            errno = getattr(exc, "errno", None)
            reason = os.strerror(errno) if isinstance(errno, int) else str(exc)
            raise Disconnected(f"cannot open {self.port}: {reason}", self.name) from None
        self.log.debug("opened %s %s", self.port, self.settings)

    def close(self) -> None:
        if self._serial is not None:
            try:
                self._serial.close()
            except (serial.SerialException, OSError):
                pass
            self._serial = None

    def reopen(self) -> None:
        self.close()
        self.open()

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    def _port(self) -> serial.Serial:
        if self._serial is None:
            raise Disconnected(f"port {self.port} is not open", self.name)
        return self._serial

    # -- I/O --------------------------------------------------------------
    def write(self, data: bytes) -> None:
        self.log.debug("> %r", data)
        try:
            self._port().write(data)
        except (serial.SerialException, OSError) as exc:
            self.close()
            raise Disconnected(f"write to {self.port} failed: {exc}", self.name) from None

    def discard_input(self) -> None:
        try:
            self._port().reset_input_buffer()
        except (serial.SerialException, OSError) as exc:
            self.close()
            raise Disconnected(f"{self.port}: {exc}", self.name) from None

    def _read_some(self, n: int) -> bytes:
        try:
            return self._port().read(n)
        except (serial.SerialException, OSError) as exc:
            self.close()
            raise Disconnected(f"read from {self.port} failed: {exc}", self.name) from None

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
