"""Whether a window can be shown: the command line asks before it imports Qt."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

#: Qt platforms that render without showing anything to anyone.
HEADLESS_PLATFORMS = ("offscreen", "minimal", "vnc")


def platform(env: Mapping[str, str] | None = None) -> str:
    """The Qt platform plugin requested by ``QT_QPA_PLATFORM`` (lower case, '' if unset)."""
    env = os.environ if env is None else env
    return env.get("QT_QPA_PLATFORM", "").split(":", 1)[0].strip().lower()


def has_display(env: Mapping[str, str] | None = None, system: str | None = None) -> bool:
    """True when a window would be seen: a display server (``DISPLAY``, ``WAYLAND_DISPLAY``),
    a windowing Qt platform named by ``QT_QPA_PLATFORM``, or macOS/Windows. An offscreen
    platform means no display, whatever else is set."""
    env = os.environ if env is None else env
    system = sys.platform if system is None else system
    requested = platform(env)
    if requested in HEADLESS_PLATFORMS:
        return False
    if requested:
        return True
    if system in ("darwin", "win32"):
        return True
    return bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def render_offscreen() -> None:
    """Make Qt render without a display (before the application exists)."""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
