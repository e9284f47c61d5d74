"""Unit parsing for drivers: numbers, pint quantities and strings to µL/min, µL, mm."""

from __future__ import annotations

import math

import numpy as np
import pint
import pytest
from hypothesis import given
from hypothesis import strategies as st

from raphe.drivers.units import flow_uL_min, length_mm, registry, volume_uL
from raphe.errors import InputError


def test_one_shared_registry():
    assert registry() is registry()
    assert isinstance(registry(), pint.UnitRegistry)


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        (1.5, 1.5),
        (2, 2.0),
        (np.float64(0.75), 0.75),
        ("1.5 uL/min", 1.5),
        ("90 uL/h", 1.5),
        ("90uL/hour", 1.5),
        ("1.5 µL/min", 1.5),
        ("0.002 mL/min", 2.0),
        ("  3 ", 3.0),
        ("500 nL/min", 0.5),
        ("1e-1 ml/min", 100.0),
    ],
)
def test_flow_rate_inputs(rate, expected):
    assert flow_uL_min(rate) == pytest.approx(expected, rel=1e-12)


def test_flow_rate_from_pint_quantities_of_any_registry():
    assert flow_uL_min(registry().Quantity(90, "uL/h")) == pytest.approx(1.5)
    other = pint.UnitRegistry()
    assert flow_uL_min(other.Quantity(0.001, "mL/min")) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("rate", "message"),
    [
        ("5 mm", "wrong dimension"),
        ("1.5 uL", "wrong dimension"),
        ("abc", "not understood"),
        ("", "not understood"),
        ("1..5 uL/min", "not understood"),
        ("1.5 furlongs/fortnight/", "unknown unit"),
        ("1.5 blorps/min", "unknown unit"),
        (None, "not a quantity"),
        (True, "not a quantity"),
        ([1.5], "not a quantity"),
        (math.nan, "not a finite number"),
        ("inf uL/min", "not understood"),
        ("1e999 uL/min", "not a finite number"),
        (-1.0, "negative"),
        ("-2 uL/min", "negative"),
    ],
)
def test_flow_rate_rejects_bad_input_with_one_clear_message(rate, message):
    with pytest.raises(InputError) as err:
        flow_uL_min(rate)
    assert message in str(err.value)
    assert "flow rate" in str(err.value)


def test_wrong_dimension_quantity_is_an_input_error():
    with pytest.raises(InputError, match="wrong dimension"):
        flow_uL_min(registry().Quantity(3, "mm"))


def test_volume_and_length():
    assert volume_uL("0.5 mL") == pytest.approx(500.0)
    assert volume_uL(30) == 30.0
    assert length_mm("4.61 mm") == pytest.approx(4.61)
    assert length_mm("0.461 cm") == pytest.approx(4.61)
    with pytest.raises(InputError, match="volume"):
        volume_uL("2 uL/min")
    with pytest.raises(InputError, match="length"):
        length_mm("3 mL")


FACTORS = {"uL/min": 1.0, "uL/h": 1 / 60, "mL/min": 1000.0, "mL/h": 1000 / 60, "nL/min": 1e-3}


@given(
    st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False),
    st.sampled_from(sorted(FACTORS)),
)
def test_string_rates_convert_by_their_unit(x, unit):
    assert flow_uL_min(f"{x!r} {unit}") == pytest.approx(x * FACTORS[unit], rel=1e-9)


@pytest.mark.parametrize("typed, expected", [("2,5", 2.5), ("2,5 uL/min", 2.5),
                                             ("1,5 ul/h", 0.025), ("0,75", 0.75)])
def test_a_decimal_comma_reads_as_a_point(typed, expected):
    assert flow_uL_min(typed) == pytest.approx(expected)


@pytest.mark.parametrize("typed", ["1,000", "2,500 uL/min"])
def test_a_comma_before_three_digits_is_asked_not_guessed(typed):
    with pytest.raises(InputError, match="decimal comma or a thousands separator"):
        flow_uL_min(typed)


def test_the_command_line_and_the_form_read_a_comma_alike():
    from raphe.protocols.parameters import Parameter

    dose = Parameter("dose_mg_kg", 1.0, unit="mg/kg", range=(0, 10))
    assert dose.check("2,5") == 2.5
    count = Parameter("n_baseline", 3)
    assert count.check(" 4 ") == 4
    with pytest.raises(ValueError, match="thousands separator"):
        Parameter("volume", 10.0).check("1,000")
