"""How loud each alarm is: one place decides, for the window, the console, the status page
and the notifications alike.

``LOUD`` alarms need a person now — the animal unperfused, the data not acquired, the rig
unsafe, the disk about to stop the run: as loud as an operator prompt, they stay until
someone acknowledges them. Everything else is a ``NOTICE``: shown and recorded, not
demanding.
"""

from __future__ import annotations

LOUD = "loud"
NOTICE = "notice"

#: Loud alarms by kind: (kind, how the alarm text starts or what it holds).
_LOUD: tuple[tuple[str, str], ...] = (
    ("perfusion", "perfusion stopped"),
    ("unsafe", "safe state:"),
    ("acquisition", "acquisition stopped"),
    ("detector", "detector:"),
    ("disk", "mb free"),
    ("disk", "disk almost full"),
    ("disk", "session file:"),
)


#: An alarm that says a loud alarm's cause went away, by kind (the engine's own texts).
_RECOVERED: tuple[tuple[str, str], ...] = (
    ("perfusion", "perfusion restored"),
    ("detector", "detector: reconnected"),
)


def recovery_of(alarm: str) -> str | None:
    """The kind of loud alarm whose cause ``alarm`` says is gone (``perfusion`` for
    "perfusion restored"), or None."""
    text = alarm.strip().lower()
    return next((name for name, mark in _RECOVERED if text.startswith(mark)), None)


def kind(alarm: str) -> str | None:
    """The kind of a loud alarm (``perfusion``, ``unsafe``, ``acquisition``, ``detector``,
    ``disk``), or None when it is a notice."""
    text = alarm.strip().lower()
    for name, mark in _LOUD:
        if name == "detector":
            # the detector lost (its link down), not recovered incidents or reconnections
            if text.startswith(mark) and text.endswith("reconnecting"):
                return name
        elif name == "disk":
            if mark in text:
                return name
        elif text.startswith(mark):
            return name
    return None


def severity(alarm: str) -> str:
    """``LOUD`` or ``NOTICE``."""
    return LOUD if kind(alarm) is not None else NOTICE
