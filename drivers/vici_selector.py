"""VICI Valco multiposition stream selector (universal electric actuator in mode AM3).

The same actuator and serial option as the injection valve (``raphe.drivers.vici``),
set to multiposition: it picks which probe's dialysate fills the loop when several
animals share one HPLC. Everything on the wire but the mode's own commands is
shared with the two-position driver (``VICIActuator``): CR framing with the ID
prefix, ``IFM0``/``LG0`` at open, command spacing, the fail-fast line reader, the
reply prefix (the ID, or NUL when none is set), a garbled reply asked once more
and noted as an incident, a move confirmed by polling ``CP``.

Open: ``IFM0``, ``LG0``, ``VR`` (identify), ``AM`` (must be 3, multiposition),
``NP`` (must equal the rig file's ``positions``), ``SO`` (must be 1: position
numbers as the rig file counts them), ``CP``. ``select(n)``: ``GOn`` (silent in
IFM0), then ``CP`` until it reads ``CPnn`` = n, within ``move_timeout_s``. A stream
out of range is refused before anything is sent. Safe state: where it is (a
selector only routes dialysate).
"""

from __future__ import annotations

import operator
import re

from raphe.drivers.base import StreamSelector
from raphe.drivers.settings import REQUIRED, Setting
from raphe.drivers.vici import SETTINGS as VALVE_SETTINGS
from raphe.drivers.vici import VICIActuator, parse_version, reply_text
from raphe.errors import InputError, InstrumentError, ProtocolError

#: Numbers of positions a universal actuator indexes in mode 3 (``NPnn``: even, 2–40).
POSITION_COUNTS = tuple(range(2, 41, 2))
MULTIPOSITION = 3

SETTINGS: dict[str, Setting] = {
    "port": VALVE_SETTINGS["port"],
    "baudrate": VALVE_SETTINGS["baudrate"],
    "valve_id": VALVE_SETTINGS["valve_id"],
    "positions": Setting(
        int, REQUIRED, "streams: positions the actuator indexes (its NP, checked at open)",
        choices=POSITION_COUNTS,
    ),
    "timeout_s": VALVE_SETTINGS["timeout_s"],
    "move_timeout_s": Setting(
        float, 5.0, "longest move until CP confirms it (half a turn with SMA, a whole one "
        "with SMF/SMR), s", above=0,
    ),
    "poll_interval_s": VALVE_SETTINGS["poll_interval_s"],
}

_LEGACY_POSITION = re.compile(r'Position is\s*=?\s*"?([0-9]{1,2})"?')


def parse_stream(raw: bytes, valve_id: str = "") -> int:
    """``b"\\0CP03\\r"`` (or ``b"CP3\\r"``, or legacy ``b"Position is = 3\\r"``) → 3."""
    text = reply_text(raw, valve_id, "CP")
    match = re.fullmatch(r"CP([0-9]{1,2})", text) or _LEGACY_POSITION.fullmatch(text)
    if not match:
        raise ProtocolError(f"CP: unexpected reply {raw!r}")
    return int(match.group(1))


def parse_count(raw: bytes, name: str, valve_id: str = "") -> int:
    """``b"\\0NP04\\r"`` with name ``"NP"`` → 4 (also ``NP4``, legacy ``NP = 4``; and SO)."""
    text = reply_text(raw, valve_id, name)
    match = re.fullmatch(re.escape(name) + r"\s*=?\s*([0-9]{1,2})", text)
    if not match:
        raise ProtocolError(f"{name}: unexpected reply {raw!r}")
    return int(match.group(1))


class VICISelector(VICIActuator, StreamSelector):
    """A VICI universal actuator in multiposition mode on a serial port."""

    model = "VICI universal electric actuator (multiposition)"
    SETTINGS = SETTINGS

    def __init__(self, port: str, *, name: str = "selector", **settings) -> None:
        values = self._declared(name, port=port, **settings)
        self._link(port, name, values)
        self._positions = values["positions"]
        self.firmware = ""

    @property
    def positions(self) -> int:
        """The rig file's ``positions``, equal to the actuator's ``NP`` once open."""
        return self._positions

    # -- life cycle -------------------------------------------------------
    def _prepare(self) -> None:
        """Response modes, identify, check mode, number of positions and offset, read CP."""
        with self.transport.transaction():
            self._set_response_modes()
            self.firmware = self._parsed(parse_version, self.query("VR"), self.valve_id)
            mode = self.mode()
            if mode != MULTIPOSITION:
                raise InstrumentError(
                    f"actuator is in mode AM{mode}, not multiposition (AM3); "
                    'a two-position valve is driver = "vici"', self.name,
                )
            count = self._count("NP")
            if count != self._positions:
                raise InstrumentError(
                    f"actuator indexes {count} positions (NP{count}) but the rig file says "
                    f"positions = {self._positions}: set positions = {count}, or "
                    f"NP{self._positions} on the actuator", self.name,
                )
            offset = self._count("SO")
            if offset != 1:
                raise InstrumentError(
                    f"actuator numbers its first position {offset} (SO{offset}), not 1: "
                    "send SO1 to the actuator", self.name,
                )
            self.position()

    def _count(self, name: str) -> int:
        return self._parsed(parse_count, self.query(name), name, self.valve_id)

    # -- role -------------------------------------------------------------
    def position(self) -> int:
        """``CP`` → the stream (1-based); a garbled, unexpected or out-of-range reply is
        asked once more before it raises."""
        return self._asked_twice("CP", self._stream)

    def _stream(self, raw: bytes) -> int:
        stream = self._parsed(parse_stream, raw, self.valve_id)
        if not 1 <= stream <= self._positions:
            raise ProtocolError(
                f"CP: position {stream} outside 1–{self._positions} in reply {raw!r}", self.name
            )
        return stream

    def select(self, position: int) -> None:
        """``GOn``, then ``CP`` until it reads n (``move_timeout_s``); nothing is sent for a
        stream outside 1 … ``positions``."""
        try:
            stream = operator.index(position)
        except TypeError:
            stream = None
        if stream is None or isinstance(position, bool) or not 1 <= stream <= self._positions:
            raise InputError(
                f"{self.name}: stream {position!r} is out of range 1–{self._positions} "
                f"(positions = {self._positions} in the rig file's [{self.name}] table)"
            )
        with self.transport.transaction():
            self.send(f"GO{stream}")
            self._confirm(lambda: self.position() == stream, f"move to position {stream}")

    def identity(self) -> dict[str, str]:
        info = super().identity()
        self.firmware = info["firmware"]
        info["positions"] = str(self._positions)
        return info
