"""Helpers for end-to-end runs of the ``raphe`` command in a subprocess."""

from __future__ import annotations

import subprocess
import sys


def raphe(*args: str, timeout: float = 240, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "raphe", *args],
        capture_output=True, text=True, timeout=timeout, check=False, **kw,
    )
