"""Unit handling for drivers: one shared pint registry and parsers to the units drivers use.

A flow rate, volume or length may be given as a plain number (already in the
driver's unit: µL/min, µL, mm), a pint ``Quantity`` from any registry, or a
string such as ``"1.5 uL/min"``, ``"90 µL/h"`` or ``"0.5 mL"``. Anything else
is an ``InputError`` that names the value and what was expected.
"""

from __future__ import annotations

import functools
import math
import numbers
import re
import tokenize

import pint

from raphe.errors import InputError

#: "<number> [unit]": a bare number means the default unit, as a bare float does.
_QUANTITY = re.compile(
    r"\s*(?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(?P<unit>[^\d\s.+-].*?)?\s*"
)
#: What pint raises on a malformed unit expression.
_PARSE_ERRORS = (pint.PintError, ValueError, AssertionError, AttributeError, tokenize.TokenError)


@functools.cache
def registry() -> pint.UnitRegistry:
    """The one ``UnitRegistry`` shared by every driver (built on first use, ~0.3 s)."""
    return pint.UnitRegistry()


#: ``1,000``: a decimal comma or a thousands separator? Refused with a question, never guessed.
_AMBIGUOUS_COMMA = re.compile(r"\s*[-+]?[1-9]\d{0,2},\d{3}(\s.*|[^\d,.].*)?")
_DECIMAL_COMMA = re.compile(r"(\s*[-+]?\d+),(\d*)(\s*[^\d,.]*)")


def ambiguous_comma(text: str) -> str | None:
    """The question to ask when ``text`` (``1,000``) may be a decimal comma or a thousands
    separator; None when it is not ambiguous."""
    if not _AMBIGUOUS_COMMA.fullmatch(text):
        return None
    whole = text.strip().split()[0]
    return (f"{whole}: a decimal comma or a thousands separator? Type "
            f"{whole.replace(',', '.')} or {whole.replace(',', '')}")


def decimal_point(text: str) -> str:
    """A number typed with a decimal comma (``2,5``, ``-0,75 h``) as Python reads it (``2.5``).
    Only a comma between digits with no other comma or point in the number is changed: a
    thousands separator (``1,000.5``) or a list (``1,2,3``) is left for the parser to refuse."""
    match = _DECIMAL_COMMA.fullmatch(text)
    return f"{match.group(1)}.{match.group(2)}{match.group(3)}" if match else text


def number_text(text: str) -> str:
    """Typed text as a number the parser reads: a decimal comma becomes a point; an ambiguous
    ``1,000`` raises InputError with the question."""
    question = ambiguous_comma(text)
    if question is not None:
        raise InputError(question)
    return decimal_point(text)


def _convert(value: object, target: str, what: str, example: str) -> float:
    """``value`` converted to ``target`` units as a finite, non-negative float."""
    if isinstance(value, bool):
        raise InputError(f"{what} {value!r} is not a quantity (expected e.g. {example})")
    if isinstance(value, numbers.Real):
        result = float(value)
    elif isinstance(value, pint.Quantity):
        try:
            result = float(value.to(target).magnitude)
        except pint.DimensionalityError:
            raise InputError(
                f"{what} {value} has the wrong dimension (expected e.g. {example})"
            ) from None
    elif isinstance(value, str):
        try:
            value = number_text(value)
        except InputError as exc:
            raise InputError(f"{what} {exc}") from None
        match = _QUANTITY.fullmatch(value)
        if match is None:
            raise InputError(f"{what} {value!r} is not understood (expected e.g. {example})")
        result = float(match["number"])
        if match["unit"]:
            try:
                unit = registry().Unit(match["unit"])
                result = registry().Quantity(result, unit).to(target).magnitude
            except pint.DimensionalityError:
                raise InputError(
                    f"{what} {value!r} has the wrong dimension (expected e.g. {example})"
                ) from None
            except _PARSE_ERRORS:
                raise InputError(
                    f"{what} {value!r}: unknown unit {match['unit']!r} (expected e.g. {example})"
                ) from None
    else:
        raise InputError(
            f"{what} {value!r} ({type(value).__name__}) is not a quantity (expected e.g. {example})"
        )
    if not math.isfinite(result):
        raise InputError(f"{what} {value!r} is not a finite number")
    if result < 0:
        raise InputError(f"{what} {value!r} is negative")
    return result


def flow_uL_min(rate: object) -> float:
    """A flow rate in µL/min: float (µL/min), pint quantity, or a string like ``"90 uL/h"``."""
    return _convert(rate, "microliter / minute", "flow rate", '1.5 (µL/min) or "90 uL/h"')


def volume_uL(volume: object) -> float:
    """A volume in µL: float (µL), pint quantity, or a string like ``"0.5 mL"``."""
    return _convert(volume, "microliter", "volume", '30 (µL) or "0.5 mL"')


def length_mm(length: object) -> float:
    """A length in mm (e.g. a syringe inner diameter): float (mm), quantity or ``"4.61 mm"``."""
    return _convert(length, "millimeter", "length", '4.61 (mm) or "4.61 mm"')


def to_unit(value: object, unit: str, what: str, example: str) -> float:
    """``value`` (number in ``unit``, pint quantity or text such as ``"90 uL/h"``) in ``unit``."""
    return _convert(value, unit, what, example)
