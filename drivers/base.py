"""Role interfaces: what protocols, the recorder and the GUI may ask of an instrument.

Code above the drivers talks to roles, never to models, so another pump or
collector is one new driver module. Every role declares its safe state
(``to_safe_state``) which an abort or an error path puts it in.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from raphe.drivers.settings import Setting, resolve
from raphe.records import DetectorBlock


class Instrument(abc.ABC):
    """Common life cycle of every driver.

    A driver declares its rig-file keys once in ``SETTINGS``; its constructor
    validates through them (``_declared``) and ``from_settings`` builds,
    opens and configures it from a rig-file table. Keys in ``LATER`` may be
    missing from a constructor call: a hook applies them (``_apply_settings``).
    """

    #: Role name used in rig files and logs ("pump", "collector", "valve", "detector").
    role: str = ""
    #: Model name, e.g. "NE-1000".
    model: str = ""
    #: Rig-file keys of this driver: the one declaration of each setting.
    SETTINGS: ClassVar[dict[str, Setting]] = {}
    #: Keys a constructor may leave out (applied later by ``_apply_settings`` or a call).
    LATER: ClassVar[tuple[str, ...]] = ()
    #: The instrument's name in logs and messages: the rig-file table name (its role).
    name: str = ""

    def note_incident(self, text: str) -> None:
        """A fault the driver recovered from by itself (a garbled reply asked again): kept
        for whoever records the session (``take_incidents``), so it is data, not only a log
        line."""
        incidents = self.__dict__.setdefault("_incidents", [])
        incidents.append(text)

    def take_incidents(self) -> list[str]:
        """The incidents noted since the last call (and forget them)."""
        incidents = self.__dict__.get("_incidents", [])
        taken = list(incidents)
        incidents.clear()
        return taken

    @classmethod
    def _declared(cls, name: str, **given: Any) -> dict[str, Any]:
        """Constructor arguments checked against ``SETTINGS``, defaults filled in."""
        return resolve(cls.SETTINGS, given, f"{name}:", optional=cls.LATER)

    @classmethod
    def from_settings(cls, settings: dict[str, Any], *, name: str | None = None, **extra: Any):
        """Open and set up the instrument described by a rig-file table (``driver`` ignored).

        ``name`` is the table name (default: the role); ``extra`` goes to the
        constructor (e.g. the detector's ``session_clock``).
        """
        name = name or cls.role
        values = resolve(cls.SETTINGS, settings, f"[{name}]")
        instrument = cls(**values, name=name, **extra)
        try:
            instrument.open()
            instrument._apply_settings()
        except BaseException:
            instrument.close()
            raise
        return instrument

    def open(self) -> None:
        """Open the port or socket and bring the instrument to a known state."""

    def _apply_settings(self) -> None:
        """After ``open``: apply configured values that take instrument commands."""

    @abc.abstractmethod
    def identity(self) -> dict[str, str]:
        """Model, serial number and firmware as reported by the instrument."""

    @abc.abstractmethod
    def reconnect(self) -> None:
        """Restore the link (reopen the port/socket) and re-read the instrument's state."""

    @abc.abstractmethod
    def to_safe_state(self) -> None:
        """Put the instrument in its declared safe state."""

    def safe_state(self) -> tuple[bool, str]:
        """Read the instrument's state back: (whether it is in its safe state, the state as
        text). Instruments with nothing to read back are taken to be safe."""
        return True, "stopped"

    @abc.abstractmethod
    def close(self) -> None:
        """Release the port or socket. Does not change the instrument's state."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class PumpStatus(enum.Enum):
    INFUSING = "infusing"
    WITHDRAWING = "withdrawing"
    STOPPED = "stopped"
    PAUSED = "paused"
    TIMED_PAUSE = "timed pause"
    TRIGGER_WAIT = "trigger wait"
    PURGING = "purging"


@dataclass(frozen=True)
class Syringe:
    inner_diameter_mm: float
    volume_uL: float


class SyringePump(Instrument):
    """A syringe pump perfusing the probe. Safe state: stopped (idempotent)."""

    role = "pump"

    @classmethod
    def rate_limits_uL_min(cls, diameter_mm: float) -> tuple[float, float] | None:
        """Slowest and fastest flow (µL/min) this pump model drives a syringe of
        ``diameter_mm`` at; None when the model does not say (no flow is then refused)."""
        return None

    @property
    def syringe(self) -> Syringe | None:
        """The syringe set on the pump (from the rig file or ``set_syringe``); None if unknown."""
        return getattr(self, "_syringe", None)

    @abc.abstractmethod
    def set_syringe(self, syringe: Syringe) -> None: ...

    @abc.abstractmethod
    def set_rate(self, rate) -> None:
        """Rate in µL/min (a float), or any pint flow quantity / string such as "1.5 uL/min"."""

    @abc.abstractmethod
    def rate_uL_min(self) -> float: ...

    @abc.abstractmethod
    def infuse(self) -> None: ...

    @abc.abstractmethod
    def withdraw(self) -> None: ...

    @abc.abstractmethod
    def pause(self) -> None: ...

    @abc.abstractmethod
    def stop(self) -> None: ...

    @abc.abstractmethod
    def dispensed_uL(self) -> tuple[float, float]:
        """(infused, withdrawn) volume in µL since the counters were last cleared."""

    @abc.abstractmethod
    def status(self) -> PumpStatus: ...

    def to_safe_state(self) -> None:
        self.stop()

    def safe_state(self) -> tuple[bool, str]:
        status = self.status()
        return status is PumpStatus.STOPPED, status.value


class FractionCollector(Instrument):
    """A fraction collector. Safe state: diverted to drain."""

    role = "collector"

    @property
    @abc.abstractmethod
    def rack_size(self) -> int: ...

    @abc.abstractmethod
    def go_to_tube(self, tube: int) -> None:
        """Move to tube ``tube`` (1-based) and collect there; returns once the move is confirmed."""

    @abc.abstractmethod
    def to_drain(self) -> None:
        """Divert the flow to drain/waste."""

    @abc.abstractmethod
    def current_tube(self) -> int | None:
        """The tube under the outlet, or None when diverted to drain."""

    @abc.abstractmethod
    def status(self) -> str: ...

    def to_safe_state(self) -> None:
        self.to_drain()

    def safe_state(self) -> tuple[bool, str]:
        tube = self.current_tube()
        return tube is None, "drain" if tube is None else f"tube {tube}"


class ValvePosition(enum.Enum):
    LOAD = "A"
    INJECT = "B"


class InjectionValve(Instrument):
    """A two-position HPLC injection valve. Safe state: LOAD."""

    role = "valve"

    @property
    def loop_volume_uL(self) -> float | None:
        """Volume of the sample loop, µL (from the rig file); None if unknown."""
        return getattr(self, "_loop_volume_uL", None)

    @abc.abstractmethod
    def load(self) -> None: ...

    @abc.abstractmethod
    def inject(self, on_sent: Callable[[], None] | None = None) -> None:
        """Switch to INJECT; ``on_sent`` is called the moment the command leaves the host
        (the injection's time: the chromatogram's zero), before the switch is confirmed."""

    @abc.abstractmethod
    def position(self) -> ValvePosition: ...

    @abc.abstractmethod
    def timed_inject(self, seconds: float) -> None:
        """Switch to INJECT, and back to LOAD after ``seconds`` (done by the instrument)."""

    def to_safe_state(self) -> None:
        self.load()

    def safe_state(self) -> tuple[bool, str]:
        position = self.position()
        return position is ValvePosition.LOAD, position.name


def stream_text(position: int) -> str:
    """A selector's state as the session's instrument table holds it: ``stream 2``."""
    return f"stream {position}"


def stream_of(text: str) -> int | None:
    """The stream a selector state names (:func:`stream_text`), None if it names none."""
    head, _, number = str(text).strip().rpartition(" ")
    return int(number) if head == "stream" and number.isdigit() else None


class StreamSelector(Instrument):
    """A multi-position stream selector ahead of the injection valve: which probe's dialysate
    fills the loop (several animals on one HPLC). Safe state: where it is (any position is
    safe: it only routes dialysate); the state read back is its position."""

    role = "selector"

    @property
    @abc.abstractmethod
    def positions(self) -> int:
        """How many positions (streams) the selector has."""

    @abc.abstractmethod
    def select(self, position: int) -> None:
        """Go to ``position`` (1-based) and return once it is confirmed there."""

    @abc.abstractmethod
    def position(self) -> int:
        """The position it is at (1-based)."""

    def to_safe_state(self) -> None:
        """Nothing to do: a selector routes dialysate, it cannot harm the animal."""

    def safe_state(self) -> tuple[bool, str]:
        return True, stream_text(self.position())


class Detector(Instrument):
    """The ECD read-out: a digitiser of the detector's analog output."""

    role = "detector"

    @property
    def interval_s(self) -> float | None:
        """Sample interval, s (from the rig file or ``configure``); None if unknown."""
        return getattr(self, "_interval_s", None)

    @property
    def scale_nA_per_V(self) -> float | None:
        """Scale of the detector's analog output, nA per V; None if unknown."""
        return getattr(self, "_scale_nA_per_V", None)

    @abc.abstractmethod
    def configure(self, interval_s: float, scale_nA_per_V: float) -> None: ...

    @abc.abstractmethod
    def start(self, session_time: float = 0.0) -> None:
        """Start acquiring; sample 0 is at ``session_time`` (s), later ones at index × interval."""

    @abc.abstractmethod
    def stop(self) -> None: ...

    @abc.abstractmethod
    def read_block(self) -> DetectorBlock | None:
        """What has arrived since the last call, or None when nothing has."""

    def to_safe_state(self) -> None:
        self.stop()
