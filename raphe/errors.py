"""Typed errors shared by every layer of Raphe.

``RapheError`` is what the command line turns into one clear message and a
non-zero exit; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class RapheError(Exception):
    """Base of every error the user should see as one clear message."""


class InputError(RapheError):
    """Bad user input: a file, a method, a rig file, a protocol, a session.

    The message names what is wrong and where (file, key, line).
    """


class InstrumentError(RapheError):
    """Base of errors raised by instrument drivers."""

    def __init__(self, message: str, instrument: str = "") -> None:
        self.instrument = instrument
        super().__init__(f"{instrument}: {message}" if instrument else message)


class InstrumentTimeout(InstrumentError):
    """The instrument did not answer within the configured timeout."""


class ProtocolError(InstrumentError):
    """A garbled, truncated or unexpected reply."""


class InstrumentAlarm(InstrumentError):
    """The instrument reports an alarm; ``code`` is its own code (e.g. ``A?S``)."""

    def __init__(self, code: str, message: str = "", instrument: str = "") -> None:
        self.code = code
        super().__init__(f"alarm {code}" + (f": {message}" if message else ""), instrument)


class Disconnected(InstrumentError):
    """The link to the instrument is gone (port closed, cable pulled, socket dropped)."""
