"""Files the command line creates: always new, never over or into an existing one.

Part of the core: the command line, the engine and the GUI all use it.
"""

from __future__ import annotations

import os
from pathlib import Path

from raphe.errors import InputError


def new_file(path: str | Path, what: str) -> Path:
    """``path`` if it names a new file in a folder that exists and can be written.

    ``what`` names it in the message (an option such as ``--log-file``, or ``session``).
    Existing files are never overwritten or appended to.
    """
    target = Path(path)
    if target.exists():
        raise InputError(f"{what} {target}: already exists (never overwritten or appended to; "
                         "choose a new name)")
    folder = target.parent
    if not folder.is_dir():
        raise InputError(f"{what} {target}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{what} {target}: folder {folder} is not writable")
    return target
