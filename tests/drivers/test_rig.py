"""The rig file: validation with file and line, and the shipped example."""

from __future__ import annotations

from pathlib import Path

import pytest

from raphe.drivers.rig import DRIVERS, ROLES, driver_class, driver_settings, load_rig
from raphe.errors import InputError

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
    config = load_rig(EXAMPLE)
    assert set(config.roles) == set(ROLES)
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
