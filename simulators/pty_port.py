"""A serial instrument behind a real pseudo-terminal, reached through a stable path.

The simulator holds the master side of an ``os.openpty()`` pair; a driver
opens the slave with pyserial exactly as it would open a USB adapter. The
stable path is a symlink (like ``/dev/serial/by-id/...``) that is repointed
to a fresh pty after a simulated unplug/replug, so a driver reconnects to the
same address. A pty carries no parity, so simulated lines are 8N1.

Faults (``unplug``, ``plug``, ``inject_garbage``, ``slow_replies``,
``lose_replies``) act on the link; instrument faults live in the device.
"""

from __future__ import annotations

import logging
import os
import select
import shutil
import threading
import time
import tty
from typing import Protocol, Self

from raphe.simulators import workdir

log = logging.getLogger(__name__)


class SerialDevice(Protocol):
    """An instrument's state machine: bytes in, bytes out.

    A device whose rules depend on the time between bytes (GSIOC's wait after
    ``0xFF``) may have an ``arrived_after`` attribute: before each ``receive`` the
    port sets it to the last moment the line was seen empty, the earliest the
    bytes can have arrived. A starved simulator thread reads bytes that came
    apart in one chunk; the window keeps it from blaming the host for that.
    """

    def receive(self, data: bytes) -> bytes:
        """Consume bytes from the host; return the bytes the instrument sends back."""

    def poll(self) -> bytes:
        """Unsolicited output (e.g. auto-alarms); called every few ms. Usually ``b""``."""


class PtyPort:
    """Serve ``device`` on a pty; ``path`` is the stable symlink a driver opens."""

    def __init__(self, device: SerialDevice, name: str, directory: str | None = None) -> None:
        self.device = device
        self.name = name
        self._own_dir = directory is None
        self._dir = directory or workdir.make("sim")
        self.path = os.path.join(self._dir, name)
        self._lock = threading.Lock()
        self._master: int | None = None
        self._slave: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._garbage: list[bytes] = []
        self._reply_delay = 0.0
        self._lose = 0
        self.connected = False

    # -- life cycle -------------------------------------------------------
    def start(self) -> PtyPort:
        self.plug()
        self._thread = threading.Thread(target=self._serve, name=f"sim-{self.name}", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.unplug()
        if self._own_dir:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- link faults ------------------------------------------------------
    def plug(self) -> None:
        """Create a fresh pty and point the stable path at it."""
        with self._lock:
            if self.connected:
                return
            master, slave = os.openpty()
            tty.setraw(slave)
            tty.setraw(master)
            self._master, self._slave = master, slave
            tmp = self.path + ".new"
            if os.path.lexists(tmp):
                os.unlink(tmp)
            os.symlink(os.ttyname(slave), tmp)
            os.replace(tmp, self.path)
            self.connected = True
        log.debug("%s plugged at %s -> %s", self.name, self.path, os.ttyname(slave))

    def unplug(self) -> None:
        """Close the pty (the driver sees EIO) and remove the stable path."""
        with self._lock:
            if not self.connected:
                return
            self.connected = False
            for fd in (self._master, self._slave):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._master = self._slave = None
            if os.path.lexists(self.path):
                os.unlink(self.path)
        log.debug("%s unplugged", self.name)

    def inject_garbage(self, data: bytes = b"\x7f\xfe#!garbage\x00", count: int = 1) -> None:
        """Send ``data`` instead of each of the next ``count`` replies."""
        self._garbage.extend([data] * count)

    def slow_replies(self, delay_s: float) -> None:
        """Delay every reply by ``delay_s`` real seconds (0 restores)."""
        self._reply_delay = delay_s

    def lose_replies(self, count: int = 1) -> None:
        """Drop the next ``count`` replies (the command is still executed)."""
        self._lose = count

    # -- serving ----------------------------------------------------------
    def _send(self, data: bytes) -> None:
        if not data:
            return
        if self._lose > 0:
            self._lose -= 1
            return
        if self._garbage:
            data = self._garbage.pop(0)
        if self._reply_delay:
            time.sleep(self._reply_delay)
        with self._lock:
            if self._master is None:
                return
            try:
                os.write(self._master, data)
            except OSError:
                pass

    def _serve(self) -> None:
        timed = hasattr(self.device, "arrived_after")
        seen_empty = time.monotonic()  # the line held no unread byte at this moment
        while not self._stop.is_set():
            master = self._master
            if master is None:
                time.sleep(0.01)
                seen_empty = time.monotonic()
                continue
            try:
                ready, _, _ = select.select([master], [], [], 0.005)
            except (OSError, ValueError):
                time.sleep(0.005)
                continue
            if not ready:
                seen_empty = time.monotonic()
            else:
                try:
                    data = os.read(master, 4096)
                except OSError:
                    time.sleep(0.005)
                    continue
                arrived_after, seen_empty = seen_empty, time.monotonic()
                if data:
                    if timed:
                        self.device.arrived_after = arrived_after
                    self._send(self.device.receive(data))
            unsolicited = self.device.poll()
            if unsolicited:
                self._send(unsolicited)


class PtySimulator:
    """Life cycle shared by the serial simulators: a ``device`` served on ``port``."""

    device: SerialDevice
    port: PtyPort

    @property
    def path(self) -> str:
        """The stable path a driver opens (survives unplug/replug)."""
        return self.port.path

    def start(self) -> Self:
        self.port.start()
        return self

    def close(self) -> None:
        self.port.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
