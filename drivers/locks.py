"""Exclusive access to an instrument: who holds a port, and a lock file for VISA resources.

A serial port is opened with pyserial's ``exclusive=True`` (an ``flock`` on the
device); a VISA resource has no such lock, so ``ResourceLock`` takes an
``flock`` on a lock file in a per-user runtime folder. Either is released by
the kernel when the process dies, so a crash never leaves an instrument locked; a
released lock file is removed.
A second process gets ``PortInUse`` naming the port or resource and, where it
can be found, the process holding it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import tempfile
from pathlib import Path

from raphe.errors import InstrumentError


class PortInUse(InstrumentError):
    """Another program (or another driver in this one) holds the port or resource."""


def _describe(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return f"pid {pid}"
    command = " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)
    if len(command) > 80:
        command = command[:77] + "..."
    return f"pid {pid}" + (f" ({command})" if command else "")


def holders(path: str) -> list[str]:
    """Processes other than this one with ``path`` open (read from ``/proc``; may be empty)."""
    try:
        target = os.path.realpath(path)
    except OSError:
        return []
    found = []
    me = os.getpid()
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) == target:
                    found.append(_describe(int(entry.name)))
                    break
            except OSError:
                continue
    return found


def in_use_message(what: str, held_by: list[str]) -> str:
    who = f" (held by {', '.join(held_by)})" if held_by else ""
    return f"{what} is in use by another program or driver{who}; close it first"


def lock_folder() -> Path:
    """A per-user folder for lock files: ``$XDG_RUNTIME_DIR/raphe`` or ``<tmp>/raphe-<uid>``."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) / "raphe" if runtime else Path(tempfile.gettempdir()) / f"raphe-{os.getuid()}"
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    return base


class ResourceLock:
    """An exclusive ``flock`` on a lock file named after ``resource`` (e.g. a VISA resource)."""

    def __init__(self, resource: str, instrument: str = "") -> None:
        self.resource = resource
        self.instrument = instrument
        slug = re.sub(r"[^A-Za-z0-9.]+", "_", resource).strip("_")[:60]
        digest = hashlib.sha1(resource.encode()).hexdigest()[:8]
        self.path = lock_folder() / f"{slug}-{digest}.lock"
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                try:
                    holder = os.pread(fd, 256, 0).decode(errors="replace").strip()
                except OSError:
                    holder = ""
                os.close(fd)
                raise PortInUse(
                    in_use_message(self.resource, [holder] if holder else []), self.instrument
                ) from None
            # The holder before us removes the file as it releases it: a lock on a file no
            # longer at ``path`` guards nothing, so open the path again.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, _describe(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Remove the lock file (while still holding it, so no one locks a removed file
        unknowingly) and release the lock."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
