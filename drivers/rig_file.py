"""The rig file (``rig.toml``): which driver plays each role, and its settings.

One table per role (``[pump]``, ``[collector]``, ``[valve]``, ``[detector]``)
names its ``driver`` and that driver's settings; ``[fluidics]`` holds the
outlet tubing dead volume. Loading validates every key against the driver's
declared ``SETTINGS`` and reports a wrong key, type or value with the file and
line. ``RigConfig.connect()`` builds connected role instances.
"""

from __future__ import annotations

import importlib
import logging
import re
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raphe.clock import MAX_SPEED, MIN_SPEED
from raphe.drivers.base import (
    Detector,
    FractionCollector,
    InjectionValve,
    Instrument,
    StreamSelector,
    SyringePump,
)
from raphe.drivers.settings import Setting, resolve
from raphe.errors import InputError, InstrumentTimeout, ProtocolError, RapheError

#: driver name -> (module, class). Adding a model is one line here and one module.
DRIVERS: dict[str, tuple[str, str]] = {
    "ne1000": ("raphe.drivers.ne1000", "NE1000"),
    "fc203b": ("raphe.drivers.fc203b", "FC203B"),
    "vici": ("raphe.drivers.vici", "VICIValve"),
    "vici_selector": ("raphe.drivers.vici_selector", "VICISelector"),
    "dmm34465a": ("raphe.drivers.dmm34465a", "DMM34465A"),
}

ROLES: dict[str, type[Instrument]] = {
    "pump": SyringePump,
    "collector": FractionCollector,
    "valve": InjectionValve,
    "selector": StreamSelector,
    "detector": Detector,
}

RIG: dict[str, Setting] = {
    "name": Setting(str, "", "a name for this bench, stored in every session"),
    "speed": Setting(
        float, 1.0, "clock speed of a simulated rig (1 for real instruments)",
        minimum=MIN_SPEED, maximum=MAX_SPEED,
    ),
    "simulated": Setting(bool, False, "true when the instruments are Raphe's simulators"),
    "method": Setting(str, "", "the analysis method runs on this rig quantify with when none "
                      "is given: a bundled name or a TOML file (relative to the rig file)"),
    "run_length_min": Setting(float, 0.0, "how long each chromatogram runs on this HPLC, min "
                              "(the method's run length wins; 0: not said)", minimum=0),
}

FLUIDICS: dict[str, Setting] = {
    "outlet_dead_volume_uL": Setting(
        float, 0.0, "volume of the outlet tubing from probe to collector/valve, µL", minimum=0
    ),
}

OPEN_ORDER = ("pump", "valve", "selector", "collector", "detector")
#: An instrument that is there but answers late or garbled at open (a USB adapter just
#: plugged in, an actuator waking up, a host too busy to serve a simulator) is opened again
#: after a pause, this many times in all; a missing port or a refused setting is not retried.
OPEN_ATTEMPTS = 3
OPEN_RETRY_S = 1.0

log = logging.getLogger(__name__)


def driver_class(name: str) -> type[Instrument]:
    module_name, class_name = DRIVERS[name]
    return getattr(importlib.import_module(module_name), class_name)


def driver_settings(name: str) -> dict[str, Setting]:
    """The driver's rig-file keys: its ``SETTINGS`` declaration."""
    return driver_class(name).SETTINGS


def _line_of(text: str, table: str | None, key: str | None = None) -> int | None:
    """1-based line of ``[table]`` (or of ``key`` inside it) in TOML ``text``."""
    lines = text.splitlines()
    start = 0
    if table is not None:
        header = re.compile(rf"^\s*\[\s*{re.escape(table)}\s*\]\s*(#.*)?$")
        for i, line in enumerate(lines):
            if header.match(line):
                start = i
                break
        else:
            return None
        if key is None:
            return start + 1
        start += 1
    key_re = re.compile(rf"^\s*{re.escape(key)}\s*=") if key else None
    for i in range(start, len(lines)):
        if table is not None and re.match(r"^\s*\[", lines[i]):
            break
        if key_re and key_re.match(lines[i]):
            return i + 1
    return None


@dataclass(frozen=True)
class AnimalConfig:
    """One animal of a rig that serves several on one HPLC (``[[animals]]``)."""

    id: str
    pump: str  # the table of its pump ("pump", "pump_2" …)
    stream: int  # its position on the stream selector
    region: str = ""
    collector: str | None = None  # the table of its own collector, when it has one


@dataclass
class RigConfig:
    """A validated rig file: roles with their driver and settings, not yet connected.

    ``roles`` is keyed by table: a role's own table (``pump``) or, for a second
    instrument of a role, ``<role>_<name>`` (``pump_2``: another animal's pump).
    """

    source: str
    text: str
    roles: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    fluidics: dict[str, Any] = field(default_factory=dict)
    rig: dict[str, Any] = field(default_factory=dict)
    animals: list[AnimalConfig] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.rig.get("name", "")

    @property
    def speed(self) -> float:
        return float(self.rig.get("speed", 1.0))

    def where(self, table: str | None = None, key: str | None = None) -> str:
        line = _line_of(self.text, table, key)
        return f"{self.source}" + (f", line {line}" if line else "")

    def connect(self, session_clock: Callable[[], float] | None = None) -> Rig:
        """Open every instrument (pump first, detector last); close all on any failure.

        ``session_clock`` gives session time to the detector (sample times after a re-arm).
        """
        rig = Rig(config=self)
        try:
            for role in self.opening_order():
                driver, settings = self.roles[role]
                cls = driver_class(driver)
                extra = (
                    {"session_clock": session_clock}
                    if role == "detector" and session_clock is not None else {}
                )
                try:
                    instrument = _open_instrument(cls, settings, role, extra)
                except RapheError as exc:
                    # Driver messages start with the instrument's name: say it once.
                    text = str(exc).removeprefix(f"{role}: ").removeprefix(f"[{role}] ")
                    raise RapheError(f"{self.where(role)}: [{role}] {text}") from None
                except ValueError as exc:
                    raise InputError(f"{self.where(role)}: [{role}] {exc}") from None
                if role in OPEN_ORDER:
                    setattr(rig, role, instrument)
                else:
                    rig.more[role] = instrument
        except BaseException:
            rig.close()
            raise
        return rig

    def opening_order(self) -> list[str]:
        """Every table, by role in ``OPEN_ORDER`` (a role's extra tables after its own)."""
        return sorted(self.roles, key=lambda t: (OPEN_ORDER.index(role_of(t)), t != role_of(t), t))


def _open_instrument(cls: type[Instrument], settings: dict[str, Any], role: str,
                     extra: dict[str, Any]) -> Instrument:
    """Open one instrument, again after a pause when it answered late or garbled."""
    for attempt in range(1, OPEN_ATTEMPTS):
        try:
            return cls.from_settings(settings, name=role, **extra)
        except (InstrumentTimeout, ProtocolError) as exc:
            log.warning("%s (open, attempt %d of %d); trying again in %g s",
                        exc, attempt, OPEN_ATTEMPTS, OPEN_RETRY_S)
            time.sleep(OPEN_RETRY_S)
    return cls.from_settings(settings, name=role, **extra)


#: How long :meth:`Rig.make_safe` keeps trying to bring an instrument to its safe state.
SAFE_DEADLINE_S = 10.0
SAFE_RETRY_S = 0.5


@dataclass(frozen=True)
class SafeState:
    """One instrument after :meth:`Rig.make_safe`: its state as read back, whether that is
    its safe state, and what went wrong when it is not (or could not be read)."""

    role: str
    safe: bool
    state: str
    problem: str = ""


@dataclass
class Rig:
    """Connected role instances; any role may be absent (None)."""

    config: RigConfig
    pump: SyringePump | None = None
    collector: FractionCollector | None = None
    valve: InjectionValve | None = None
    selector: StreamSelector | None = None
    detector: Detector | None = None
    #: the instruments of extra tables (``pump_2`` …: other animals' pumps), by table
    more: dict[str, Instrument] = field(default_factory=dict)

    def instruments(self) -> dict[str, Instrument]:
        """Every instrument by its table (the role's own first), in opening order."""
        out = {role: inst for role in OPEN_ORDER if (inst := getattr(self, role)) is not None}
        out.update(sorted(self.more.items(), key=lambda kv: OPEN_ORDER.index(role_of(kv[0]))))
        return out

    def pump_of(self, table: str) -> SyringePump | None:
        """The pump of table ``table`` (``pump``, ``pump_2`` …)."""
        inst = self.instruments().get(table)
        return inst if isinstance(inst, SyringePump) else None

    def identities(self) -> dict[str, dict[str, str]]:
        out = {}
        for role, inst in self.instruments().items():
            try:
                out[role] = dict(inst.identity())
            except Exception as exc:  # noqa: BLE001 - an identity is informative only
                out[role] = {"model": inst.model, "error": str(exc)}
        return out

    def make_safe(self, deadline_s: float = SAFE_DEADLINE_S,
                  sleep: Callable[[float], None] = time.sleep) -> list[SafeState]:
        """Bring every instrument to its safe state and check it by reading its state back.

        The instruments are made safe at the same time, each on its own thread: its safe
        command, then its state read back; a failure (a slow or lost link) is retried —
        reconnecting first — every ``SAFE_RETRY_S`` until ``deadline_s`` has passed. An
        instrument still busy then (its own waits can be longer) is reported not safe and
        left to finish on its own. Never raises: the report says per instrument what is
        safe and what is not.
        """
        deadline = time.monotonic() + deadline_s
        results: dict[str, SafeState] = {}
        threads = []
        for role, inst in self.instruments().items():
            thread = threading.Thread(target=self._make_one_safe, name=f"raphe-safe-{role}",
                                      args=(role, inst, deadline, sleep, results), daemon=True)
            thread.start()
            threads.append((role, thread))
        out = []
        for role, thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()) + 0.5)
            state = results.get(role)
            if state is None:
                state = SafeState(role, False, "unknown",
                                  f"not confirmed within {deadline_s:g} s (still busy)")
                log.error("safe state: %s: %s", role, state.problem)
            out.append(state)
        return out

    @staticmethod
    def _make_one_safe(role: str, inst: Instrument, deadline: float,
                       sleep: Callable[[float], None], results: dict) -> None:
        problem = ""
        while True:
            try:
                inst.to_safe_state()
                safe, state = inst.safe_state()
                if safe:
                    results[role] = SafeState(role, True, state)
                    return
                problem = f"still {state} after the safe command"
            except Exception as exc:  # noqa: BLE001 - every instrument must be tried
                problem = _problem(role, exc).removeprefix(f"{role}: ")
                state = "unknown"
            if time.monotonic() + SAFE_RETRY_S > deadline:
                results[role] = SafeState(role, False, state, problem)
                log.error("safe state: %s: %s", role, problem)
                return
            sleep(SAFE_RETRY_S)
            try:
                inst.reconnect()
            except Exception as exc:  # noqa: BLE001 - tried again until the deadline
                log.info("safe state: %s: reconnect failed: %s", role, exc)

    def close(self) -> list[str]:
        """Close every instrument (detector first); return the problems met (never raises)."""
        problems = []
        for role, inst in reversed(list(self.instruments().items())):
            try:
                inst.close()
            except Exception as exc:  # noqa: BLE001 - every port must be released
                problems.append(_problem(role, exc))
        for problem in problems:
            log.warning("close: %s", problem)
        return problems


def role_of(table: str) -> str:
    """The role of a rig-file table: its name, or what precedes ``_`` (``pump_2`` → pump)."""
    if table in ROLES:
        return table
    head = table.split("_", 1)[0]
    return head if head in ROLES and head in MULTIPLE else table


#: Roles a rig can have several of, one per animal (``[pump_2]``, ``[collector_2]``).
MULTIPLE = ("pump", "collector")


def _problem(role: str, exc: Exception) -> str:
    text = str(exc)
    if isinstance(exc, RapheError):  # instrument errors already start with the role
        return text if text.startswith(f"{role}:") else f"{role}: {text}"
    return f"{role}: {type(exc).__name__}: {text}"


def load_rig(path_or_text: str | Path, *, source: str | None = None) -> RigConfig:
    """Read and validate a rig file (a path, or TOML text with ``source`` naming it)."""
    if isinstance(path_or_text, Path) or (
        isinstance(path_or_text, str) and "\n" not in path_or_text and source is None
    ):
        path = Path(path_or_text)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError(f"rig file not found: {path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read rig file {path}: {exc}") from None
        source = str(path)
    else:
        text = str(path_or_text)
        source = source or "<rig>"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{source}: not valid TOML: {exc}") from None

    config = RigConfig(source=source, text=text)
    for table, value in data.items():
        if table in ("rig", "fluidics"):
            if not isinstance(value, dict):
                raise InputError(f"{config.where(None, table)}: '{table}' must be a table")
            setattr(config, table, _validate(config, table, value, RIG if table == "rig" else FLUIDICS))
            continue
        if table == "animals":
            continue  # read once every instrument table is known (below)
        role = role_of(table)
        if role not in ROLES:
            known = ", ".join(["rig", "fluidics", *ROLES, "animals"])
            raise InputError(
                f"{config.where(table)}: unknown table [{table}] (expected one of: {known}; "
                "another animal's pump or collector: [pump_NAME], [collector_NAME])"
            )
        if not isinstance(value, dict):
            raise InputError(f"{config.where(None, table)}: '{table}' must be a table")
        driver = value.get("driver")
        if driver is None:
            raise InputError(f"{config.where(table)}: [{table}] has no 'driver' key")
        if driver not in DRIVERS:
            raise InputError(
                f"{config.where(table, 'driver')}: [{table}] unknown driver {driver!r} "
                f"(known: {', '.join(sorted(DRIVERS))})"
            )
        cls = driver_class(driver)
        if not issubclass(cls, ROLES[role]):
            raise InputError(
                f"{config.where(table, 'driver')}: driver {driver!r} cannot be the {role}"
            )
        settings = {k: v for k, v in value.items() if k != "driver"}
        config.roles[table] = (driver, _validate(config, table, settings, driver_settings(driver)))
    config.fluidics = config.fluidics or _validate(config, "fluidics", {}, FLUIDICS)
    config.rig = config.rig or _validate(config, "rig", {}, RIG)
    if "animals" in data:
        config.animals = _animals(config, data["animals"])
    return config


def _animals(config: RigConfig, raw: Any) -> list[AnimalConfig]:
    """``[[animals]]``: each animal's id, pump table, stream and region, checked."""
    where = config.where("animals")
    if not isinstance(raw, list) or not all(isinstance(a, dict) for a in raw) or not raw:
        raise InputError(f"{where}: animals must be [[animals]] tables, one per animal")
    if "selector" not in config.roles:
        raise InputError(f"{where}: several animals share the HPLC through a stream selector: "
                         "add a [selector]")
    positions = config.roles["selector"][1].get("positions")
    out: list[AnimalConfig] = []
    for k, a in enumerate(raw, 1):
        unknown = set(a) - {"id", "pump", "stream", "region", "collector"}
        if unknown:
            raise InputError(f"{where}: animal {k}: unknown key {min(unknown)!r} "
                             "(allowed: id, pump, stream, region, collector)")
        ident = str(a.get("id") or f"A{k}")
        pump = str(a.get("pump", "pump" if k == 1 else f"pump_{k}"))
        if pump not in config.roles or role_of(pump) != "pump":
            raise InputError(f"{where}: animal {ident}: no pump table [{pump}]")
        stream = a.get("stream", k)
        if isinstance(stream, bool) or not isinstance(stream, int) or not (
                1 <= stream <= (positions or stream)):
            raise InputError(f"{where}: animal {ident}: stream must be a selector position "
                             f"from 1 to {positions}, got {stream!r}")
        collector = a.get("collector")
        if collector is not None and (collector not in config.roles
                                      or role_of(str(collector)) != "collector"):
            raise InputError(f"{where}: animal {ident}: no collector table [{collector}]")
        out.append(AnimalConfig(ident, pump, stream, str(a.get("region", "")), collector))
    for field_name in ("id", "pump", "stream"):
        values = [getattr(a, field_name) for a in out]
        if len(set(values)) != len(values):
            raise InputError(f"{where}: two animals have the same {field_name}")
    return out


def _validate(config: RigConfig, table: str, values: dict, spec: dict[str, Setting]) -> dict:
    return resolve(spec, values, f"[{table}]", lambda key: config.where(table, key))
