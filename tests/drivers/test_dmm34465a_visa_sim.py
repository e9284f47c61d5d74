"""The 34465A driver's configuration and error paths against the pyvisa-sim description."""

from __future__ import annotations

from importlib.resources import files

import pytest
import pyvisa

from raphe.drivers.dmm34465a import DMM34465A, ScpiError
from raphe.errors import InputError

RESOURCE = "TCPIP::192.168.1.50::5025::SOCKET"
YAML = files("raphe.simulators.data") / "keysight_34465a.yaml"


@pytest.fixture
def rm():
    manager = pyvisa.ResourceManager(f"{YAML}@sim")
    yield manager
    manager.close()


def test_yaml_is_package_data():
    assert YAML.is_file()


def test_configuration_lands_in_the_instrument(rm):
    with DMM34465A(RESOURCE, resource_manager=rm, timeout_s=0.5, range_V=10.0, nplc=10.0) as dmm:
        assert dmm.identity()["model"] == "34465A"
        dmm.configure(0.5, 20.0)
        probe = dmm.link._inst  # the same simulated instrument, read back through its getters
        assert probe.query("VOLT:DC:RANG?") == "+1.00000000E+01"
        assert probe.query("VOLT:DC:NPLC?") == "+1.00000000E+01"
        assert probe.query("SAMP:TIM?") == "+5.00000000E-01"
        assert probe.query("SAMP:COUN?") == "+1000000"
        assert probe.query("TRIG:SOUR?") == "IMM"
        assert probe.query("SAMP:SOUR?") == "TIM"
        # continuous: the trigger system re-arms itself; the next set's first sample comes
        # one interval (0.5 s) after the last one began (integration 10 PLC = 0.2 s)
        assert probe.query("TRIG:COUN?") == "+9.90000000E+37"
        assert probe.query("TRIG:DEL?") == "+3.00000000E-01"


def test_nothing_acquired_reads_as_no_block(rm):
    with DMM34465A(RESOURCE, resource_manager=rm, timeout_s=0.5) as dmm:
        dmm.configure(0.1, 1.0)
        dmm.start()
        assert dmm.read_block() is None


def test_out_of_range_nplc_is_reported_with_the_scpi_error(rm):
    with DMM34465A(RESOURCE, resource_manager=rm, timeout_s=0.5, nplc=1000.0) as dmm:
        with pytest.raises(ScpiError, match='configuration: instrument reported -113') as err:
            dmm.configure(30.0, 1.0)
        assert err.value.errors == [(-113, "Undefined header")]


def test_every_rejected_setting_is_reported(rm):
    with DMM34465A(RESOURCE, resource_manager=rm, timeout_s=0.5, nplc=1000.0) as dmm:
        with pytest.raises(ScpiError) as err:
            dmm.configure(7200.0, 1.0)  # NPLC and SAMP:TIM both beyond the instrument's limits
        assert len(err.value.errors) == 2


def test_after_an_error_a_valid_configuration_is_clean(rm):
    with DMM34465A(RESOURCE, resource_manager=rm, timeout_s=0.5, nplc=1000.0) as dmm:
        with pytest.raises(ScpiError):
            dmm.configure(30.0, 1.0)
        dmm.nplc = 1.0
        dmm.configure(0.1, 1.0)  # the queue was drained: no stale error is reported


def test_invalid_range_is_refused_before_any_traffic(rm):
    with pytest.raises(InputError, match="range_V"):
        DMM34465A(RESOURCE, resource_manager=rm, range_V=3.0)
