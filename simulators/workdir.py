"""Temporary folders of the simulators (pty symlinks), and the sweep of abandoned ones.

A folder is named ``raphe-<kind>-<pid>-<random>``. Closing a simulator removes
its own; one whose process died without closing (``kill -9``, a power cut)
is removed by the next simulator that starts, once its process is gone.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

_NAME = re.compile(r"^raphe-(?:rig|sim)-(\d+)-")


def make(kind: str) -> str:
    """A fresh folder for ``kind`` (``rig`` or ``sim``); abandoned ones are swept first."""
    sweep()
    return tempfile.mkdtemp(prefix=f"raphe-{kind}-{os.getpid()}-")


def sweep(parent: str | None = None) -> list[str]:
    """Remove folders left by simulator processes that no longer run; return their paths."""
    removed = []
    root = Path(parent or tempfile.gettempdir())
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _NAME.match(entry.name)
        if match is None or not entry.is_dir() or _alive(int(match.group(1))):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(str(entry))
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
