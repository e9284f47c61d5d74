"""Rig-file settings of a driver: declared once per driver module, validated in one place.

A driver module declares ``SETTINGS = {key: Setting(type, default, "description")}``
(a plain ``(type, default, description)`` tuple is accepted too); ``REQUIRED`` marks
a key without a default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from raphe.errors import InputError


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Setting:
    type: type
    default: Any = REQUIRED
    description: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED or (
            isinstance(self.default, str) and self.default == "REQUIRED"
        ) or self.default is Ellipsis


def as_setting(spec: Any) -> Setting:
    if isinstance(spec, Setting):
        return spec
    return Setting(*spec)


def check_value(key: str, spec: Setting, value: Any) -> Any | str:
    """Return the value converted to the declared type, or raise ValueError with a reason."""
    want = spec.type
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
    spec: dict[str, Any],
    values: dict[str, Any],
    context: str,
    locate: Callable[[str | None], str] | None = None,
) -> dict[str, Any]:
    """Check ``values`` against ``spec`` (a driver's ``SETTINGS``) and fill in defaults.

    Unknown, missing or mistyped keys raise ``InputError`` naming ``context``
    (e.g. ``[pump]``) and, through ``locate(key)``, the file and line.
    """
    where = (lambda key: f"{locate(key)}: ") if locate else (lambda key: "")
    settings = {key: as_setting(s) for key, s in spec.items()}
    given = {k: v for k, v in values.items() if k != "driver"}
    out: dict[str, Any] = {}
    for key, value in given.items():
        if key not in settings:
            raise InputError(
                f"{where(key)}{context} unknown key {key!r} (expected one of: {', '.join(settings)})"
            )
        try:
            out[key] = check_value(key, settings[key], value)
        except ValueError as exc:
            raise InputError(f"{where(key)}{context} {key} {exc}") from None
    for key, setting in settings.items():
        if key in out:
            continue
        if setting.required:
            raise InputError(
                f"{where(None)}{context} missing required key {key!r} ({setting.description})"
            )
        out[key] = setting.default
    return out
