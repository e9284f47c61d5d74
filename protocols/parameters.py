"""Typed protocol parameters: name, unit, default, range, help — declared once in the protocol.

A protocol declares ``parameters = [Parameter("flow_ul_min", 1.0, unit="uL/min",
range=(0.1, 5.0), help="perfusion flow"), ...]``. Values given on the command
line (``--set flow_ul_min=1.5`` or ``--set "flow_ul_min=90 uL/h"``) or from the
GUI form are converted to the declared unit with pint and checked against the
range; text parameters with ``choices`` accept the names as users type them
(hyphens or underscores). The script sees plain numbers in the declared unit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from raphe.drivers.units import number_text, to_unit
from raphe.errors import InputError
from raphe.names import lookup, spelling


@dataclass(frozen=True)
class Parameter:
    """One parameter of a protocol. ``kind`` follows the default (float, int, str, bool)."""

    name: str
    default: Any
    unit: str = ""
    range: tuple[float, float] | None = None  # inclusive, in ``unit``
    choices: tuple[str, ...] | None = None
    help: str = ""

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"parameter name {self.name!r} is not a Python identifier")
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))
        if self.range is not None:
            object.__setattr__(self, "range", (float(self.range[0]), float(self.range[1])))

    @property
    def kind(self) -> type:
        return type(self.default) if isinstance(self.default, (bool, int, float, str)) else str

    def convert(self, value: Any) -> Any:
        """``value`` (from a form, the command line or the script) as this parameter's type;
        raises ValueError saying what is wrong."""
        kind = self.kind
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"must be true or false, got {value!r}")
        if kind is str:
            text = str(value).strip()
            if self.choices is not None:
                return spelling(lookup(text, self.choices, "value"))
            return text
        if isinstance(value, str):
            try:
                value = number_text(value.strip())
            except InputError as exc:
                raise ValueError(str(exc)) from None
        if self.unit:
            try:
                number = to_unit(value, self.unit, self.name,
                                 f"{self.default} ({self.unit}) or '{self.default} {self.unit}'")
            except InputError as exc:
                raise ValueError(str(exc).removeprefix(f"{self.name} ")) from None
        else:
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"must be a number, got {value!r}") from None
        if not math.isfinite(number):
            raise ValueError(f"must be a finite number, got {value!r}")
        if kind is int:
            if number != int(number):
                raise ValueError(f"must be a whole number, got {value!r}")
            number = int(number)
        return number

    def check(self, value: Any) -> Any:
        """Convert and check against the range and choices."""
        value = self.convert(value)
        if self.range is not None and self.kind in (int, float):
            low, high = self.range
            if not low <= value <= high:
                unit = f" {self.unit}" if self.unit else ""
                raise ValueError(f"{value:g}{unit} is outside {low:g}–{high:g}{unit}")
        return value

    def describe(self) -> str:
        """One line for ``--help``-like listings: name, default with unit, range, help."""
        unit = f" {self.unit}" if self.unit else ""
        text = f"{self.name} = {self.default!r}{unit}"
        if self.range is not None:
            text += f" [{self.range[0]:g}–{self.range[1]:g}{unit}]"
        if self.choices is not None:
            text += f" ({', '.join(spelling(c) for c in self.choices)})"
        return text + (f": {self.help}" if self.help else "")


class Params(Mapping[str, Any]):
    """Resolved parameter values: ``params.flow_ul_min`` or ``params["flow_ul_min"]``."""

    def __init__(self, values: dict[str, Any], declared: Sequence[Parameter]) -> None:
        self._values = dict(values)
        self.declared = {p.name: p for p in declared}

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            known = ", ".join(self._values) or "none"
            raise AttributeError(f"no parameter {name!r} (declared: {known})") from None

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Params({self._values!r})"

    def with_units(self) -> dict[str, dict[str, Any]]:
        """``{name: {"value", "unit"}}`` for the session file."""
        return {name: {"value": value, "unit": self.declared[name].unit}
                for name, value in self._values.items()}


class ParameterError(InputError):
    """A bad parameter value or declaration; ``line`` is where it was declared (or None)."""

    def __init__(self, message: str, file: str = "", line: int | None = None) -> None:
        self.file, self.line, self.bare = file, line, message
        where = f"{file}, line {line}: " if file and line else (f"{file}: " if file else "")
        super().__init__(where + message)


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """``["drug=ipsapirone", "flow_ul_min=1.5"]`` → ``{"drug": "ipsapirone", ...}``."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name:
            raise InputError(f"--set {item!r}: expected NAME=VALUE, e.g. --set drug=ipsapirone")
        out[name] = value
    return out


def resolve(declared: Sequence[Parameter], given: Mapping[str, Any], *, file: str = "",
            lines: Mapping[str, int] | None = None) -> Params:
    """Defaults overridden by ``given``, each converted and checked.

    Errors name the parameter, the protocol file and the line of its declaration.
    """
    lines = lines or {}
    names = [p.name for p in declared]
    for name in given:
        if name not in names:
            raise ParameterError(
                f"unknown parameter {name!r} (this protocol has: {', '.join(names) or 'none'})",
                file)
    values: dict[str, Any] = {}
    for p in declared:
        raw = given.get(p.name, p.default)
        try:
            values[p.name] = p.check(raw)
        except ValueError as exc:
            origin = "" if p.name in given else " (its default)"
            raise ParameterError(f"parameter {p.name}{origin}: {exc}", file,
                                 lines.get(p.name)) from None
    return Params(values, declared)
