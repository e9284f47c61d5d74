"""Rig-file settings of a driver: one validated declaration per setting, checked in one place.

A driver declares ``SETTINGS = {key: Setting(type, default, "description", checks...)}``
once; the rig-file loader, ``from_settings`` and the driver's constructor all
validate through it, so a default or a bound is written nowhere else.
``REQUIRED`` marks a key without a default. Checks a value may need:
``minimum``/``maximum`` (inclusive), ``above`` (exclusive lower bound),
``choices`` (the allowed values, e.g. standard baud rates) and ``pattern``
(a regular expression a string must match in full).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from raphe.errors import InputError


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Setting:
    """One rig-file key: its type, default (or ``REQUIRED``), meaning and checks."""

    type: type
    default: Any = REQUIRED
    description: str = ""
    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None
    choices: tuple | None = None
    pattern: str | None = None
    #: Shown instead of the pattern in messages, e.g. "one character 0-9 or A-Z".
    pattern_text: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def check(self, value: Any) -> Any:
        """``value`` converted to the declared type and checked, or ``ValueError`` with a reason."""
        value = _convert(self.type, value)
        if self.type in (int, float) and not math.isfinite(value):
            raise ValueError(f"must be a finite number, got {value!r}")
        if self.choices is not None and value not in self.choices:
            allowed = ", ".join(_show(c) for c in self.choices)
            raise ValueError(f"must be one of {allowed}, got {_show(value)}")
        if self.above is not None and not value > self.above:
            raise ValueError(f"must be > {_show(self.above)}, got {_show(value)}")
        if self.minimum is not None and value < self.minimum:
            raise ValueError(f"must be ≥ {_show(self.minimum)}, got {_show(value)}")
        if self.maximum is not None and value > self.maximum:
            raise ValueError(f"must be ≤ {_show(self.maximum)}, got {_show(value)}")
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise ValueError(f"must be {self.pattern_text or 'like ' + self.pattern}, got {value!r}")
        return value

    @property
    def summary(self) -> str:
        """The checks in words, for documentation tables."""
        parts = []
        if self.choices is not None:
            parts.append("one of " + ", ".join(_show(c) for c in self.choices))
        if self.above is not None:
            parts.append(f"> {_show(self.above)}")
        if self.minimum is not None and self.maximum is not None:
            parts.append(f"{_show(self.minimum)}–{_show(self.maximum)}")
        elif self.minimum is not None:
            parts.append(f"≥ {_show(self.minimum)}")
        elif self.maximum is not None:
            parts.append(f"≤ {_show(self.maximum)}")
        if self.pattern is not None:
            parts.append(self.pattern_text or self.pattern)
        return "; ".join(parts)


def _show(value: Any) -> str:
    if isinstance(value, float) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value) if isinstance(value, str) else str(value)


def _convert(want: type, value: Any) -> Any:
    if want is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if want is bool and not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r}")
    if want in (int, float) and isinstance(value, bool):
        raise ValueError(f"must be a number, got {value!r}")
    if not isinstance(value, want):
        raise ValueError(  # noqa: TRY004 - reported to the user as a bad rig-file value
            f"must be {_type_name(want)}, got {_type_name(type(value))} {value!r}"
        )
    return value


def _type_name(t: type) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        t, t.__name__
    )


def resolve(
    spec: dict[str, Setting],
    values: dict[str, Any],
    context: str,
    locate: Callable[[str | None], str] | None = None,
    *,
    optional: Iterable[str] = (),
) -> dict[str, Any]:
    """Check ``values`` against ``spec`` (a driver's ``SETTINGS``) and fill in defaults.

    Unknown, missing or bad keys raise ``InputError`` naming ``context``
    (e.g. ``[pump]``) and, through ``locate(key)``, the file and line. Keys in
    ``optional`` may be missing even when required (they come out as None):
    a constructor that takes them later (e.g. the syringe) passes them here.
    """
    where = (lambda key: f"{locate(key)}: ") if locate else (lambda key: "")
    given = {k: v for k, v in values.items() if k != "driver"}
    out: dict[str, Any] = {}
    for key, value in given.items():
        if key not in spec:
            raise InputError(
                f"{where(key)}{context} unknown key {key!r} (expected one of: {', '.join(spec)})"
            )
        if value is None and key in optional:
            out[key] = None
            continue
        try:
            out[key] = spec[key].check(value)
        except ValueError as exc:
            raise InputError(f"{where(key)}{context} {key} {exc}") from None
    skip = set(optional)
    for key, setting in spec.items():
        if key in out:
            continue
        if setting.required:
            if key in skip:
                out[key] = None
                continue
            raise InputError(
                f"{where(None)}{context} missing required key {key!r} ({setting.description})"
            )
        out[key] = setting.default
    return out


#: Standard RS-232 baud rates, for ``Setting(choices=...)``.
BAUD_RATES = (300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
