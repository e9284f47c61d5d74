"""A command run on a pseudo-terminal, as an operator at a terminal runs it (POSIX)."""

from __future__ import annotations

import os
import re
import select
import subprocess
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    """A command run on a pseudo-terminal (stdin, stdout and stderr), read as it prints."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        master, slave = os.openpty()
        env = dict(os.environ, TERM="xterm-256color", COLUMNS="250", LINES="50",
                   PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, cwd=cwd,
                                     env=env, close_fds=True, start_new_session=True)
        os.close(slave)
        self.master = master
        self.raw = b""
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if not ready:
                if self.proc.poll() is not None:
                    return
                continue
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # the other end closed
                return
            if not chunk:
                return
            with self.lock:
                self.raw += chunk

    def output(self, start: int = 0) -> str:
        """What was printed from byte ``start`` on, without escape sequences."""
        with self.lock:
            raw = self.raw[start:]
        return ESCAPE.sub("", raw.decode("utf-8", "replace")).replace("\r", "")

    def size(self) -> int:
        with self.lock:
            return len(self.raw)

    def wait_for(self, text: str, timeout: float = 90.0, start: int = 0) -> int:
        """Wait until ``text`` is printed; returns the byte count then."""
        deadline = time.monotonic() + timeout
        while text not in self.output(start):
            assert self.proc.poll() is None, ("ended", self.proc.returncode, self.output())
            assert time.monotonic() < deadline, ("never printed", text, self.output()[-3000:])
            time.sleep(0.05)
        return self.size()

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\n")

    def finish(self, timeout: float = 180.0) -> int:
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.reader.join(10)
            os.close(self.master)
        return code
