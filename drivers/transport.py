"""The link layers drivers talk through, one per medium: ``SerialTransport`` (pyserial) for
the serial instruments and ``VisaTransport`` (pyvisa + pyvisa-py) for VISA ones (the DMM),
each with typed errors, traffic logs, exclusive access and a transaction lock.

Serial:

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

Instruments on one RS-232 network (NE-1000 pumps chained by network address) share one
port: each opens its transport with ``shared=True`` and its ``member`` name (its
address); the port is opened once for all of them, their transactions share one lock, a
lost link is lost for all, and the port closes when the last of them closes it.
"""

from __future__ import annotations

import contextlib
import errno as errnos
import logging
import os
import select
import socket
import termios
import threading
import time
from collections.abc import Callable
from typing import Any

import pyvisa
import serial
from pyvisa.rname import InvalidResourceName, parse_resource_name

from raphe.drivers.locks import PortInUse, ResourceLock, holders, in_use_message
from raphe.errors import (
    Disconnected,
    InputError,
    InstrumentError,
    InstrumentTimeout,
    ProtocolError,
)

#: Everything pyserial and the OS raise on a vanished, closed or unusable port.
LINK_ERRORS = (serial.SerialException, OSError, termios.error, ValueError, TypeError, AttributeError)


def _reason(exc: BaseException) -> str:
    code = getattr(exc, "errno", None)
    if isinstance(code, int) and code:
        return os.strerror(code)
    if isinstance(exc, termios.error) and exc.args and isinstance(exc.args[0], int):
        return os.strerror(exc.args[0])
    return str(exc) or type(exc).__name__


class _Line:
    """One serial port and its lock; shared by the instruments of one RS-232 network."""

    def __init__(self, port: str, settings: dict[str, Any]) -> None:
        self.port = port
        self.settings = dict(settings)
        self.serial: serial.Serial | None = None
        self.lock = threading.RLock()
        self.members: set[str] = set()

    def open(self, name: str) -> None:
        try:
            self.serial = serial.Serial(
                self.port, timeout=0.05, write_timeout=2.0, exclusive=True, **self.settings
            )
        except LINK_ERRORS as exc:
            self.serial = None
            code = getattr(exc, "errno", None)
            if code in (errnos.EAGAIN, errnos.EWOULDBLOCK) or "exclusively lock" in str(exc):
                raise PortInUse(in_use_message(self.port, holders(self.port)), name) from None
            raise Disconnected(f"cannot open {self.port}: {_reason(exc)}", name) from None

    def close(self) -> None:
        port, self.serial = self.serial, None
        if port is not None:
            with contextlib.suppress(*LINK_ERRORS):
                port.close()


#: Ports opened once for several instruments (real path → line), while any has it open.
_SHARED: dict[str, _Line] = {}
_SHARED_LOCK = threading.Lock()


class SerialTransport:
    """A pyserial port that can be reopened at the same path after an unplug (``shared``:
    one port of an RS-232 network, opened once for its ``member`` instruments)."""

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
        shared: bool = False,
        member: str = "",
    ) -> None:
        self.port = port
        self.name = name
        self.settings = {
            "baudrate": baudrate, "parity": parity, "bytesize": bytesize, "stopbits": stopbits
        }
        self.timeout = timeout
        self.shared = shared
        self.member = member or name
        self.log = logging.getLogger(f"raphe.instrument.{name}")
        self._line = _Line(port, self.settings)
        self._attached = False
        self._key = ""
        #: Monotonic time of the last write (drivers that must space commands use it).
        self.last_write = float("-inf")

    # -- life cycle -------------------------------------------------------
    def open(self) -> None:
        if self.shared:
            self._attach()
        else:
            self._line.open(self.name)
        self.log.debug("opened %s %s", self.port, self.settings)

    def _attach(self) -> None:
        """Join the network's line, opening its port if no instrument on it has."""
        key = os.path.realpath(self.port)
        with _SHARED_LOCK:
            line = _SHARED.get(key)
            if line is None:
                line = _SHARED[key] = _Line(self.port, self.settings)
            elif line.settings != self.settings:
                raise InputError(f"{self.name}: {self.port} is shared with other instruments at "
                                 f"{line.settings['baudrate']} baud: every instrument on one "
                                 "line needs the same settings")
            if self.member in line.members and not self._attached:
                raise PortInUse(f"{self.port} is in use by another driver here at "
                                f"{self.member}: each instrument on one line needs its own "
                                "network address", self.name)
            with line.lock:
                if line.serial is None:
                    try:
                        line.open(self.name)
                    except BaseException:
                        if not line.members:
                            del _SHARED[key]
                        raise
            line.members.add(self.member)
            self._line, self._attached, self._key = line, True, key

    def close(self) -> None:
        if not self.shared:
            self._line.close()
            return
        if not self._attached:
            return
        key = self._key  # as attached (the path may be gone by now)
        with _SHARED_LOCK:
            line = self._line
            line.members.discard(self.member)
            self._attached = False
            self._line = _Line(self.port, self.settings)  # detached: not open
            if not line.members:
                with line.lock:
                    line.close()
                if _SHARED.get(key) is line:
                    del _SHARED[key]

    def reopen(self) -> None:
        with self.transaction():
            if self.shared and self._attached:
                self._line.close()  # for every instrument on the line: it was lost
                self._line.open(self.name)
            else:
                self.close()
                self.open()

    @property
    def _serial(self) -> serial.Serial | None:
        return self._line.serial

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    def transaction(self) -> contextlib.AbstractContextManager:
        """Hold the line for one command and its reply (re-entrant; a shared line's lock is
        every instrument's on it)."""
        return self._line.lock

    def _port(self) -> serial.Serial:
        port = self._serial
        if port is None:
            raise Disconnected(f"port {self.port} is not open", self.name)
        return port

    def _lost(self, action: str, exc: BaseException) -> Disconnected:
        self._line.close()  # a lost port is lost for every instrument on it
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


#: pyvisa shares one resource-manager session per library in a process, and closing it closes
#: every resource opened through it: a second rig's detector too (several rigs in one
#: window). It is taken by each transport and closed when the last one lets go.
_VISA_USERS = 0
_VISA_LOCK = threading.Lock()


def _take_resource_manager() -> Any:
    global _VISA_USERS
    with _VISA_LOCK:
        rm = pyvisa.ResourceManager("@py")
        _VISA_USERS += 1
        return rm


def _release_resource_manager(rm: Any) -> None:
    global _VISA_USERS
    with _VISA_LOCK:
        _VISA_USERS = max(0, _VISA_USERS - 1)
        if _VISA_USERS == 0:
            rm.close()


class VisaTransport:
    """A VISA message resource (pyvisa + pyvisa-py; a raw LAN socket or anything VISA opens)
    with typed errors, traffic logs, exclusive access and one query at a time.

    Every command and reply is logged at DEBUG under ``raphe.instrument.<name>``. A VISA
    timeout becomes ``InstrumentTimeout``; a closed or reset socket, or any other VISA or
    socket failure, ``Disconnected`` — a closed socket is seen at once, not after the
    timeout, by peeking pyvisa-py's socket. The resource is held through a lock file
    (``raphe.drivers.locks``), as serial ports are. After a timeout, a late reply is
    discarded before the next query so it is never taken for that query's reply.
    """

    def __init__(self, resource: str, *, name: str, timeout: float = 2.0,
                 resource_manager: Any = None, parse: Callable[[bytes], str] | None = None
                 ) -> None:
        self.resource = resource
        self.name = name
        self.timeout_s = timeout
        self.log = logging.getLogger(f"raphe.instrument.{name}")
        self._own_rm = resource_manager is None
        self._rm = resource_manager
        self._inst = None
        self._lock = threading.RLock()
        self._resource_lock = ResourceLock(resource, name)
        self._stale = False
        self._decode = parse or (lambda raw: raw.decode("ascii", "replace").strip())

    @property
    def is_open(self) -> bool:
        return self._inst is not None

    def transaction(self) -> contextlib.AbstractContextManager:
        """Hold the link for several commands and replies."""
        return self._lock

    def open(self) -> None:
        """Take the resource's lock and open it (TCP_NODELAY on a socket)."""
        with self._lock:
            if self._inst is not None:
                return
            self._resource_lock.acquire()
            try:
                parse_resource_name(self.resource)
                if self._rm is None:
                    self._rm = _take_resource_manager()
                self._inst = self._rm.open_resource(
                    self.resource, read_termination="\n", write_termination="\n",
                    timeout=int(self.timeout_s * 1000))
            except InvalidResourceName as exc:
                raise InputError(f"{self.name}: bad VISA resource {self.resource!r}: "
                                 f"{exc}") from None
            except Exception as exc:  # noqa: BLE001 - pyvisa-py raises bare Exceptions
                self._inst = None
                raise Disconnected(f"cannot open {self.resource}: {exc}", self.name) from None
            sock = self._socket()
            if sock is not None:  # small commands must not wait for delayed ACKs (Nagle)
                try:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                except OSError as exc:
                    raise Disconnected(f"cannot open {self.resource}: {exc}",
                                       self.name) from None
            self._stale = False
            self.log.debug("opened %s", self.resource)

    def reopen(self) -> None:
        with self._lock:
            self.close_resource()
            self.open()

    def close_resource(self) -> None:
        """Close the resource (keep the resource manager and the lock); never raises."""
        inst, self._inst = self._inst, None
        if inst is not None:
            try:
                inst.close()
            except Exception as exc:  # noqa: BLE001 - closing must not fail
                self.log.debug("closing %s: %s", self.resource, exc)

    def close(self) -> None:
        """Close the resource and release it (never raises)."""
        self.close_resource()
        if self._own_rm and self._rm is not None:
            try:
                _release_resource_manager(self._rm)
            except Exception as exc:  # noqa: BLE001 - closing must not fail
                self.log.debug("closing the resource manager: %s", exc)
            self._rm = None
        self._resource_lock.release()

    def _socket(self) -> socket.socket | None:
        """The pyvisa-py session's socket (None for other backends such as pyvisa-sim)."""
        try:
            session = self._rm.visalib.sessions[self._inst.session]
        except (AttributeError, KeyError, TypeError, pyvisa.errors.Error):
            return None
        sock = getattr(session, "interface", None)
        return sock if isinstance(sock, socket.socket) else None

    def _pending(self) -> bool:
        try:
            return bool(self._rm.visalib.sessions[self._inst.session]._pending_buffer)
        except (AttributeError, KeyError, TypeError, pyvisa.errors.Error):
            return False

    def write(self, command: str) -> None:
        with self._lock:
            inst = self._inst
            if inst is None:
                raise Disconnected(f"{self.resource} is not open", self.name)
            self.log.debug("> %s", command)
            try:
                inst.write(command)
            except pyvisa.errors.VisaIOError as exc:
                raise self._visa_error(exc, command) from None
            except (pyvisa.errors.Error, OSError, ValueError, TypeError, AttributeError) as exc:
                raise Disconnected(f"sending {command!r} failed: {exc}", self.name) from None

    def read(self, command: str) -> str:
        """The reply to ``command`` (decoded by ``parse``)."""
        inst = self._inst
        if inst is None:
            raise Disconnected(f"{self.resource} is not open", self.name)
        sock = self._socket()
        if sock is not None and not self._pending():
            self._wait_readable(sock, command)
        try:
            raw = inst.read_raw()
        except pyvisa.errors.VisaIOError as exc:
            raise self._visa_error(exc, command) from None
        except (pyvisa.errors.Error, OSError, ValueError, TypeError, AttributeError) as exc:
            raise Disconnected(
                f"reading the reply to {command!r} failed: {exc}", self.name
            ) from None
        self.log.debug("< %r", raw if len(raw) < 200 else raw[:200] + b"...")
        try:
            return self._decode(raw)
        except ProtocolError as exc:
            raise ProtocolError(str(exc), self.name) from None

    def query(self, command: str) -> str:
        """One command and its reply, never interleaved with another thread's."""
        with self._lock:
            if self._stale:
                self.discard_input()
            self.write(command)
            try:
                return self.read(command)
            except InstrumentTimeout:
                self._stale = True  # a late reply must not be taken for the next one
                raise

    def discard_input(self) -> None:
        self._stale = False
        try:
            self._inst.flush(pyvisa.constants.BufferOperation.discard_read_buffer)
        except (pyvisa.errors.Error, OSError, AttributeError, ValueError, TypeError) as exc:
            self.log.debug("discarding input failed: %s", exc)

    def _wait_readable(self, sock: socket.socket, command: str) -> None:
        """Wait for the first reply byte; EOF or reset means the link is gone."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise InstrumentTimeout(
                    f"no reply to {command!r} within {self.timeout_s:g} s", self.name)
            try:
                ready, _, _ = select.select([sock], [], [], remaining)
                if not ready:
                    continue
                data = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            except (OSError, ValueError, TypeError) as exc:
                raise Disconnected(f"link lost waiting for {command!r}: {exc}",
                                   self.name) from None
            if not data:
                raise Disconnected(f"connection closed by the instrument at {command!r}",
                                   self.name)
            return

    def _visa_error(self, exc, command: str) -> InstrumentError:
        if exc.error_code == pyvisa.constants.StatusCode.error_timeout:
            return InstrumentTimeout(
                f"no reply to {command!r} within {self.timeout_s:g} s", self.name)
        return Disconnected(f"{command!r}: {exc.description}", self.name)
