"""Helpers for end-to-end runs of the ``raphe`` command in a subprocess."""

from __future__ import annotations

import subprocess
import sys


def raphe(*args: str, timeout: float = 240, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "raphe", *args],
        capture_output=True, text=True, timeout=timeout, check=False, **kw,
    )


def one_line_error(result: subprocess.CompletedProcess, *fragments: str, code: int = 1) -> str:
    """The command failed with exit ``code`` and one line on stderr holding ``fragments``:
    no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout[-500:], result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]
