"""NE-1000 pumps chained on one RS-232 line by network address (the pump manual's network):
one port opened once for every pump on it, each command addressed, only the addressed pump
answering — through a real pty, byte-exact — and the line's faults shared by all of them."""

from __future__ import annotations

import pytest

from raphe.clock import Clock
from raphe.drivers.base import PumpStatus
from raphe.drivers.locks import PortInUse
from raphe.drivers.ne1000 import NE1000
from raphe.errors import Disconnected
from raphe.simulators.ne1000 import chained_pumps

STX, ETX = b"\x02", b"\x03"


@pytest.fixture
def line(tmp_path):
    pumps = chained_pumps(Clock(speed=600), 3, str(tmp_path), syringe_volume_uL=1000.0,
                          syringe_diameter_mm=4.61)
    for p in pumps:
        p.start()
    yield pumps
    for p in reversed(pumps):
        p.close()


def _driver(sim, name: str = "pump") -> NE1000:
    settings = {**sim.rig_settings(), "timeout_s": 0.5}
    return NE1000(settings.pop("port"), name=name, **settings).open()


def test_every_pump_answers_to_its_own_address_on_one_port(line):
    assert len({p.path for p in line}) == 1  # one line
    heard: list[bytes] = []
    network = line[0].port.device
    receive = network.receive

    def recording(data: bytes) -> bytes:
        reply = receive(data)
        heard.append(reply)
        return reply

    network.receive = recording
    drivers = [_driver(p, name=f"pump_{k}") for k, p in enumerate(line)]
    try:
        assert drivers[0].transport.transaction() is drivers[2].transport.transaction()
        heard.clear()
        assert drivers[2].status() is PumpStatus.STOPPED
        assert heard == [STX + b"02S" + ETX]  # pump 2 alone answered its "2\r"
        drivers[1].set_rate(2.5)
        drivers[1].infuse()
        assert line[1].device.flow_uL_min() == pytest.approx(2.5)
        assert line[0].device.flow_uL_min() == 0.0 and line[2].device.flow_uL_min() == 0.0
        assert drivers[1].status() is PumpStatus.INFUSING
        assert drivers[0].status() is PumpStatus.STOPPED
        drivers[1].stop()
    finally:
        for d in drivers:
            d.close()


def test_the_port_closes_when_the_last_pump_on_it_closes(line):
    first, second = _driver(line[0]), _driver(line[1], name="pump_2")
    first.close()
    assert second.status() is PumpStatus.STOPPED  # the line is still open for pump 2
    second.close()
    again = _driver(line[0])  # opened anew: nothing held it
    assert again.status() is PumpStatus.STOPPED
    again.close()


def test_two_pumps_at_one_address_are_refused(line):
    first = _driver(line[1])
    try:
        with pytest.raises(PortInUse, match="address 1"):
            _driver(line[1], name="pump_b")
    finally:
        first.close()


def test_a_lost_line_is_lost_for_every_pump_and_back_for_all(line):
    drivers = [_driver(p, name=f"pump_{k}") for k, p in enumerate(line[:2])]
    try:
        line[0].port.unplug()
        for d in drivers:
            with pytest.raises(Disconnected):
                d.status()
        line[0].port.plug()
        drivers[1].reconnect()
        assert drivers[1].status() is PumpStatus.STOPPED
        drivers[0].reconnect()
        assert drivers[0].status() is PumpStatus.STOPPED
        assert drivers[1].status() is PumpStatus.STOPPED
    finally:
        for d in drivers:
            d.close()
