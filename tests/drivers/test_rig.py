"""The rig file: validation with file and line, and the shipped example."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from raphe.clock import Clock
from raphe.drivers.rig_file import (
    DRIVERS,
    OPEN_ATTEMPTS,
    ROLES,
    driver_class,
    driver_settings,
    load_rig,
)
from raphe.errors import InputError, RapheError
from raphe.simulators.simulated_rig import to_toml
from raphe.simulators.vici import SimulatedVICI

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "rig.example.toml"

GOOD = """\
[pump]
driver = "ne1000"
port = "/dev/ttyUSB0"
syringe_diameter_mm = 4.61
syringe_volume_uL = 1000.0

[detector]
driver = "dmm34465a"
resource = "TCPIP::127.0.0.1::5025::SOCKET"
scale_nA_per_V = 10.0
"""


def test_shipped_example_validates_every_role():
    """The example is one animal's rig: every role but the stream selector, which only a
    rig of several animals on one HPLC has."""
    config = load_rig(EXAMPLE)
    assert set(config.roles) == set(ROLES) - {"selector"}
    assert config.roles["pump"][0] == "ne1000"
    assert config.roles["pump"][1]["syringe_diameter_mm"] == 4.61
    assert config.roles["collector"][1]["parity"] == "E"
    assert config.fluidics["outlet_dead_volume_uL"] == 5.0
    assert config.name.startswith("Bench 2")


def test_every_registered_driver_declares_its_settings_and_role():
    for name in DRIVERS:
        cls = driver_class(name)
        assert any(issubclass(cls, role) for role in ROLES.values()), name
        settings = driver_settings(name)
        assert settings, name
        for key, setting in settings.items():
            assert setting.description, f"{name}.{key} has no description"


def test_defaults_are_filled_and_ints_accepted_for_floats():
    config = load_rig(GOOD.replace("4.61", "5"), source="rig.toml")
    pump = config.roles["pump"][1]
    assert pump["syringe_diameter_mm"] == 5.0 and isinstance(pump["syringe_diameter_mm"], float)
    assert pump["baudrate"] == 19200
    assert config.fluidics == {"outlet_dead_volume_uL": 0.0}


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda t: t.replace("syringe_volume_uL", "syringe_volume"), r"rig.toml, line 5: \[pump\] unknown key 'syringe_volume'"),
        (lambda t: t.replace("4.61", '"4.61"'), r"rig.toml, line 4: \[pump\] syringe_diameter_mm must be a number"),
        (lambda t: t.replace('driver = "ne1000"', 'driver = "ne2000"'), r"rig.toml, line 2: \[pump\] unknown driver 'ne2000'"),
        (lambda t: t.replace('driver = "ne1000"', 'driver = "vici"'), r"line 2: driver 'vici' cannot be the pump"),
        (lambda t: t.replace("[detector]", "[detektor]"), r"rig.toml, line 7: unknown table \[detektor\]"),
        (lambda t: t.replace("scale_nA_per_V = 10.0\n", ""), r"rig.toml, line 7: \[detector\] missing required key 'scale_nA_per_V'"),
        (lambda t: t.replace('driver = "ne1000"\n', ""), r"\[pump\] has no 'driver' key"),
        (lambda t: t + "[pump\n", r"rig.toml: not valid TOML"),
    ],
)
def test_bad_rig_files_name_what_and_where(edit, expected):
    with pytest.raises(InputError, match=expected):
        load_rig(edit(GOOD), source="rig.toml")


def test_missing_file_is_one_clear_message(tmp_path):
    with pytest.raises(InputError, match="rig file not found: .*nope.toml"):
        load_rig(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda t: "[rig]\nspeed = 0\n" + t, r"rig.toml, line 2: \[rig\] speed must be ≥ 0.1"),
        (lambda t: t + "[fluidics]\noutlet_dead_volume_uL = -1\n",
         r"line 12: \[fluidics\] outlet_dead_volume_uL must be ≥ 0"),
        (lambda t: t.replace("scale_nA_per_V = 10.0", "scale_nA_per_V = 0"),
         r"line 10: \[detector\] scale_nA_per_V must be > 0"),
        (lambda t: t.replace('port = "/dev/ttyUSB0"', 'port = "/dev/ttyUSB0"\nbaudrate = 12345'),
         r"line 4: \[pump\] baudrate must be one of 300, 1200, 2400, 9600, 19200, got 12345"),
        (lambda t: t.replace("4.61", "95.0"), r"syringe_diameter_mm must be ≤ 80"),
    ],
)
def test_values_are_checked_by_the_one_declaration(edit, expected):
    with pytest.raises(InputError, match=expected):
        load_rig(edit(GOOD), source="rig.toml")


def test_every_driver_uses_the_one_declaration_in_its_constructor():
    """A bad constructor value is refused by the same checks as a bad rig-file value."""
    from raphe.drivers.dmm34465a import DMM34465A
    from raphe.drivers.fc203b import FC203B
    from raphe.drivers.ne1000 import NE1000
    from raphe.drivers.vici import VICIValve

    for make, message in (
        (lambda: NE1000("/dev/null", address=100), r"pump: address must be ≤ 99"),
        (lambda: VICIValve("/dev/null", loop_volume_uL=20.0, valve_id="12"),
         r"valve: valve_id must be '' or one character"),
        (lambda: FC203B("/dev/null", rack_size=24, parity="X"), r"collector: parity must be one"),
        (lambda: DMM34465A("TCPIP::127.0.0.1::1::SOCKET", range_V=3.0), r"detector: range_V"),
    ):
        with pytest.raises(InputError, match=message):
            make()
    # Defaults come from the declaration: nothing else holds them.
    assert NE1000("/dev/null").transport.settings["baudrate"] == driver_settings("ne1000")[
        "baudrate"].default


def _valve_rig(tmp_path, lost_replies: int, **valve_settings):
    """A rig file whose valve is a simulated actuator that drops its first replies."""
    simulated = SimulatedVICI(Clock(10.0), str(tmp_path)).start()
    simulated.port.lose_replies(lost_replies)
    table = {**simulated.rig_settings(), "timeout_s": 0.3, **valve_settings}
    return simulated, load_rig(to_toml({"valve": table}), source="rig.toml")


def test_an_instrument_silent_at_open_is_opened_again_after_a_pause(tmp_path, caplog):
    simulated, config = _valve_rig(tmp_path, lost_replies=1)
    try:
        with caplog.at_level(logging.WARNING, logger="raphe.drivers.rig_file"):
            rig = config.connect()
        try:
            assert rig.valve is not None and rig.valve.identity()["model"]
        finally:
            rig.close()
    finally:
        simulated.close()
    (warning,) = [r.getMessage() for r in caplog.records]
    assert "no complete reply" in warning and "attempt 1 of 3" in warning, warning


def test_an_instrument_that_never_answers_fails_after_the_last_attempt(tmp_path, caplog):
    simulated, config = _valve_rig(tmp_path, lost_replies=1000)
    try:
        with caplog.at_level(logging.WARNING, logger="raphe.drivers.rig_file"), \
                pytest.raises(RapheError, match=r"rig.toml, line 1: \[valve\] .*no complete reply"):
            config.connect()
    finally:
        simulated.close()
    assert len(caplog.records) == OPEN_ATTEMPTS - 1


def test_a_missing_port_is_not_retried(tmp_path, caplog):
    text = f'[valve]\ndriver = "vici"\nport = "{tmp_path / "ttyNOTHERE"}"\nloop_volume_uL = 10\n'
    with caplog.at_level(logging.WARNING, logger="raphe.drivers.rig_file"), \
            pytest.raises(RapheError, match=r"cannot open .*ttyNOTHERE"):
        load_rig(text, source="rig.toml").connect()
    assert caplog.records == []
