"""NE-1000 driver against the wire-level simulator through a real pty (pyserial both ends).

``Wire`` records every exchange at the simulated pump (bytes in, bytes out), so
tests pin the exact bytes while the transport stays real.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raphe.clock import Clock
from raphe.drivers.base import PumpStatus, Syringe
from raphe.drivers.ne1000 import (
    NE1000,
    RATE_UNITS,
    SETTINGS,
    PumpCommandError,
    Reply,
    choose_rate,
    format_number,
    parse_reply,
    safe_frame,
)
from raphe.errors import (
    Disconnected,
    InputError,
    InstrumentAlarm,
    InstrumentTimeout,
    ProtocolError,
)
from raphe.simulators import ne1000 as sim_ne1000
from raphe.simulators.ne1000 import NE1000Device, SimulatedNE1000

STX, ETX = b"\x02", b"\x03"


def basic(text: str | bytes) -> bytes:
    return STX + (text.encode() if isinstance(text, str) else text) + ETX


class Wire:
    """Records what the simulated pump receives and sends back."""

    def __init__(self, device: NE1000Device) -> None:
        self.exchanges: list[tuple[bytes, bytes]] = []
        receive = device.receive

        def recording(data: bytes) -> bytes:
            reply = receive(data)
            self.exchanges.append((data, reply))
            return reply

        device.receive = recording

    def take(self) -> tuple[bytes, bytes]:
        """(all bytes sent, all bytes replied) since the last take."""
        sent = b"".join(d for d, _ in self.exchanges)
        got = b"".join(r for _, r in self.exchanges)
        self.exchanges.clear()
        return sent, got


class ManualClock:
    """A clock tests move by hand (for link timers: watchdog, inter-byte timeout)."""

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t


@pytest.fixture
def clock():
    return Clock(speed=600)


@pytest.fixture
def sim(clock, tmp_path):
    with SimulatedNE1000(clock, syringe_volume_uL=1000.0, directory=str(tmp_path)) as s:
        yield s


@pytest.fixture
def wire(sim):
    return Wire(sim.device)


@pytest.fixture
def pump(sim, wire):
    p = NE1000.from_settings({**sim.rig_settings(), "timeout_s": 0.5})
    wire.take()
    yield p
    p.close()


# -- framing -----------------------------------------------------------------------


def test_safe_frame_reproduces_the_manuals_example():
    manual = bytes([0x02, 0x08]) + b"SAF0" + bytes([0x55, 0x43, 0x03])
    assert safe_frame(b"SAF0") == manual
    assert sim_ne1000.safe_frame(b"SAF0") == manual


def test_parse_reply_fields():
    assert parse_reply(basic("00II0.512W0.000UL")) == Reply(0, "I", "I0.512W0.000UL", None)
    assert parse_reply(basic("07S?OOR")) == Reply(7, "S", "", "?OOR")
    assert parse_reply(basic("00A?S")).alarm == "A?S"
    assert parse_reply(safe_frame(b"00S1.500UM"), safe=True) == Reply(0, "S", "1.500UM")
    with pytest.raises(ProtocolError, match="CRC"):
        parse_reply(safe_frame(b"00S")[:-2] + b"\x00\x03", safe=True)
    with pytest.raises(ProtocolError):
        parse_reply(basic("00Q"))


# -- bytes on the wire, per command family ----------------------------------------------


def test_connect_absorbs_power_up_quirks(sim, wire, caplog):
    with caplog.at_level(logging.INFO, logger="raphe.instrument"):
        p = NE1000.from_settings(sim.rig_settings())
    try:
        assert wire.exchanges[:4] == [
            (b"*DIS\r", b""),  # first command after power-up: ignored
            (b"0\r", basic("00A?R")),  # first valid one: A?R, not executed
            (b"0\r", basic("00S")),
            (b"0SAF\r", basic("00S0")),
        ]
        # Expected at power-up: reported, but not as a warning.
        assert [r.levelname for r in caplog.records if "A?R" in r.getMessage()] == ["INFO"]
        assert p.status() is PumpStatus.STOPPED
    finally:
        p.close()


def test_connect_to_a_running_pump_discards_the_throw_away_reply(sim, wire):
    NE1000.from_settings(sim.rig_settings()).close()
    wire.take()
    p = NE1000.from_settings(sim.rig_settings())
    try:
        assert wire.exchanges[0] == (b"*DIS\r", basic("00SI0.000W0.000UL"))
        assert wire.exchanges[1] == (b"0\r", basic("00S"))
    finally:
        p.close()


@pytest.mark.parametrize(
    ("call", "sent", "replied"),
    [
        (lambda p: p.status(), b"0\r", basic("00S")),
        (lambda p: p.identity(), b"0VER\r", basic("00SNE1000V3.928")),
        (
            lambda p: p.set_syringe(Syringe(4.61, 1000.0)),
            b"0DIA4.61\r0VOL0\r",
            basic("00S") * 2,
        ),
        (lambda p: p.query("diameter"), b"0DIA\r", basic("00S4.610")),
        (lambda p: p.set_target_volume(30), b"0VOL30\r", basic("00S")),
        (lambda p: p.query("volume"), b"0VOL\r", basic("00S0.000UL")),
        (lambda p: p.dispensed_uL(), b"0DIS\r", basic("00SI0.000W0.000UL")),
        (lambda p: p.clear_dispensed(), b"0CLDINF\r0CLDWDR\r", basic("00S") * 2),
        (lambda p: p.query("direction"), b"0DIR\r", basic("00SINF")),
        (lambda p: p.infuse(), b"0RUN\r", basic("00I")),
        (lambda p: p.withdraw(), b"0DIRWDR\r0RUN\r", basic("00S") + basic("00W")),
        (lambda p: p.query("safe_mode"), b"0SAF\r", basic("00S0")),
        (lambda p: p.rate_uL_min(), b"0RAT\r", basic("00S1.500UM")),
    ],
)
def test_command_bytes(pump, wire, call, sent, replied):
    pump.set_rate(1.5)
    wire.take()
    call(pump)
    assert wire.take() == (sent, replied)


@pytest.mark.parametrize(
    ("diameter", "rate_uL_min", "sent"),
    [
        (4.61, 1.5, b"0RAT1.5UM\r"),
        (4.61, "90 uL/h", b"0RAT1.5UM\r"),
        (4.61, 0.0123, b"0RAT0.738UH\r"),
        (26.59, 12500.0, b"0RAT12.5MM\r"),
        (26.59, 1001000 / 60, b"0RAT1001MH\r"),
    ],
)
def test_rate_units_keep_the_most_digits(pump, wire, diameter, rate_uL_min, sent):
    pump.set_syringe(Syringe(diameter, 60000.0))
    wire.take()
    pump.set_rate(rate_uL_min)
    assert wire.take() == (sent, basic("00S"))
    expected = rate_uL_min if isinstance(rate_uL_min, float) else 1.5
    assert pump.rate_uL_min() == pytest.approx(expected, rel=5e-4)


def test_volume_units_follow_the_diameter(pump, wire):
    pump.set_syringe(Syringe(26.59, 60000.0))
    pump.set_target_volume("2.5 mL")
    wire.take()
    assert pump.query("volume") == {"value": "2.500", "units": "ML"}
    assert pump.dispensed_uL() == (0.0, 0.0)
    assert wire.take()[1].endswith(basic("00SI0.000W0.000ML"))


def test_stp_pauses_then_stops(pump, wire):
    pump.set_rate(1.5)
    pump.infuse()
    wire.take()
    pump.pause()
    assert wire.take() == (b"0\r0STP\r", basic("00I") + basic("00P"))
    assert pump.status() is PumpStatus.PAUSED
    pump.infuse()
    wire.take()
    pump.stop()
    assert wire.take() == (b"0STP\r0STP\r", basic("00P") + basic("00S"))
    pump.stop()  # already stopped: the pump answers ?NA, which means stopped
    assert wire.take() == (b"0STP\r", basic("00S?NA"))
    pump.to_safe_state()
    assert wire.take() == (b"0STP\r", basic("00S?NA"))
    assert pump.status() is PumpStatus.STOPPED


def test_stop_after_a_stall_acknowledges_the_alarm_and_never_fails(pump, wire, sim, caplog):
    pump.set_rate(1.5)
    pump.infuse()
    sim.device.stall()
    wire.take()
    with caplog.at_level(logging.WARNING, logger="raphe.instrument.pump"):
        pump.to_safe_state()
    assert wire.take() == (b"0STP\r0STP\r", basic("00A?S") + basic("00S?NA"))
    assert "A?S" in caplog.text
    assert pump.status() is PumpStatus.STOPPED


def test_address_prefix(clock, tmp_path):
    with SimulatedNE1000(clock, directory=str(tmp_path), address=7) as s:
        w = Wire(s.device)
        with NE1000.from_settings({**s.rig_settings(), "timeout_s": 0.3}) as p:
            w.take()
            assert p.status() is PumpStatus.STOPPED
            assert w.take() == (b"7\r", basic("07S"))
        other = {**s.rig_settings(), "address": 3, "timeout_s": 0.3}
        with pytest.raises(InstrumentTimeout):
            NE1000.from_settings(other)


@pytest.mark.parametrize(("saf_reply", "framing"), [("new", safe_frame), ("old", basic)])
def test_safe_mode_framing(clock, tmp_path, saf_reply, framing):
    """Which framing answers SAF n is undocumented: the driver takes either."""
    with SimulatedNE1000(clock, directory=str(tmp_path), saf_reply=saf_reply) as s:
        w = Wire(s.device)
        with NE1000.from_settings({**s.rig_settings(), "safe_mode_s": 5}) as p:
            assert (b"0SAF5\r", framing(b"00S")) in w.exchanges  # switched on in basic mode
            w.take()
            p.set_rate(1.5)
            assert p.status() is PumpStatus.STOPPED
            assert w.take() == (
                safe_frame(b"0RAT1.5UM") + safe_frame(b"0"),
                safe_frame(b"00S") * 2,
            )
        # Safe mode persists: a new driver asking for basic mode finds it and switches back.
        w.take()
        with NE1000.from_settings({**s.rig_settings(), "timeout_s": 0.3}) as p:
            back = {"new": basic, "old": safe_frame}[saf_reply](b"00S")
            assert (safe_frame(b"0SAF0"), back) in w.exchanges
            w.take()
            p.status()
            assert w.take() == (b"0\r", basic("00S"))


# -- errors ---------------------------------------------------------------------------


def test_unrecognised_command(pump, wire):
    with pytest.raises(PumpCommandError) as err:
        pump.command("clear", "XYZ")
    assert err.value.code == "?"
    assert wire.take() == (b"0CLDXYZ\r", basic("00S?"))


def test_out_of_range_rate(pump, wire):
    with pytest.raises(PumpCommandError) as err:
        pump.set_rate(5000)  # a 4.61 mm syringe tops out near 850 µL/min
    assert err.value.code == "?OOR"
    assert wire.take() == (b"0RAT5000UM\r", basic("00S?OOR"))
    assert isinstance(err.value, ProtocolError)


def test_unit_change_while_pumping_is_refused_and_avoided(pump, wire):
    pump.set_rate(1.5)
    pump.infuse()
    wire.take()
    with pytest.raises(PumpCommandError) as err:
        pump.command("rate", "90", "UH")
    assert err.value.code == "?NA"
    assert wire.take() == (b"0RAT90UH\r", basic("00I?NA"))
    pump.set_rate("120 uL/h")  # keeps UM while pumping
    assert wire.take() == (b"0RAT2UM\r", basic("00I"))
    assert pump.status() is PumpStatus.INFUSING


def test_corrupted_packet_gets_com_error(clock, tmp_path):
    with (
        SimulatedNE1000(clock, directory=str(tmp_path)) as s,
        NE1000.from_settings({**s.rig_settings(), "safe_mode_s": 5}) as p,
    ):
        write = p.transport.write
        p.transport.write = lambda data: write(data[:-3] + b"\x00\x00" + data[-1:])
        with pytest.raises(PumpCommandError) as err:
            p.status()
        assert err.value.code == "?COM"
        p.transport.write = write
        assert p.status() is PumpStatus.STOPPED


# -- alarms ---------------------------------------------------------------------------


def test_stall_alarm_is_reported_once(pump, sim):
    pump.set_rate(1.5)
    pump.infuse()
    sim.device.stall()
    with pytest.raises(InstrumentAlarm) as err:
        pump.status()
    assert err.value.code == "A?S"
    assert pump.status() is PumpStatus.STOPPED


def test_empty_syringe_stalls(clock, tmp_path):
    with (
        SimulatedNE1000(clock, syringe_volume_uL=10.0, directory=str(tmp_path)) as s,
        NE1000.from_settings(s.rig_settings()) as p,
    ):
        p.set_rate(100)
        p.infuse()
        clock.sleep(12.0)  # 10 µL at 100 µL/min take 6 s
        assert s.flow_uL_min() == 0.0
        with pytest.raises(InstrumentAlarm, match="A.S"):
            p.dispensed_uL()
        assert p.dispensed_uL() == (10.0, 0.0)
        assert p.status() is PumpStatus.STOPPED


def test_power_cycle_then_reconnect(pump, sim, caplog):
    sim.device.power_cycle()
    with pytest.raises(InstrumentTimeout):
        pump.status()  # the pump ignores the first command after power-up
    with caplog.at_level(logging.WARNING, logger="raphe.instrument"):
        pump.reconnect()
    assert "A?R" in caplog.text
    assert pump.status() is PumpStatus.STOPPED
    assert pump.query("diameter") == {"value": "4.610"}


def test_opening_a_pump_found_infusing_adopts_it_without_stopping_it(pump, sim, wire):
    """A run before ended without stopping the pump (a crash): the next run opens it as it
    is — no DIA, which a pumping pump refuses — and the probe stays perfused."""
    pump.set_rate(1.25)
    pump.infuse()
    pump.close()
    wire.take()
    again = NE1000.from_settings({**sim.rig_settings(), "timeout_s": 0.5})
    try:
        sent, _ = wire.take()
        assert b"DIA4" not in sent and b"STP" not in sent  # read back, never set or stopped
        assert again.status() is PumpStatus.INFUSING
        assert again.rate_uL_min() == pytest.approx(1.25)
        assert sim.flow_uL_min() == pytest.approx(1.25)
        assert any("adopted" in text for text in again.take_incidents())
    finally:
        again.close()


def test_a_pump_found_pumping_with_another_syringe_is_refused_in_one_line(pump, sim):
    pump.set_rate(1.0)
    pump.infuse()
    pump.close()
    with pytest.raises(InputError, match=r"\[pump\] is pumping with a 4\.61 mm syringe but "
                                         r"the rig file says 8\.5 mm: stop the pump"):
        NE1000.from_settings({**sim.rig_settings(), "syringe_diameter_mm": 8.5,
                              "timeout_s": 0.5})
    assert sim.flow_uL_min() == pytest.approx(1.0)  # still perfusing


def test_safe_mode_watchdog_alarm(clock, tmp_path):
    link = ManualClock()
    with (
        SimulatedNE1000(clock, directory=str(tmp_path), link_clock=link) as s,
        NE1000.from_settings({**s.rig_settings(), "safe_mode_s": 2}) as p,
    ):
        p.set_rate(1.5)
        p.infuse()
        link.t += 3.0  # no packet for 3 s of link time
        deadline = time.monotonic() + 5
        while s.device.alarm != "A?T" and p._deferred_alarm is None:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        with pytest.raises(InstrumentAlarm) as err:
            p.status()
        assert err.value.code == "A?T"
        assert p.status() is PumpStatus.STOPPED


# -- the device's own link rules (no pty needed) --------------------------------------


def device(clock=None):
    link = ManualClock()
    return NE1000Device(clock or Clock(600), powered_up=False, link_clock=link), link


def test_device_auto_alarm_and_inter_byte_timeout():
    dev, link = device()
    assert dev.receive(b"0SAF2\r") == safe_frame(b"00S")  # framed in the new mode
    frame = safe_frame(b"0DIS")
    assert dev.receive(frame[:4]) == b""
    link.t += 0.6  # > 0.5 s between bytes: the partial packet is discarded
    assert dev.receive(frame[4:]) == b""
    assert dev.receive(frame) == safe_frame(b"00SI0.000W0.000UL")
    dev.stall()
    assert dev.poll() == safe_frame(b"00A?S")  # unsolicited, once
    assert dev.poll() == b""
    assert dev.receive(safe_frame(b"0")) == safe_frame(b"00A?S")  # acknowledged here
    link.t += 2.5
    assert dev.poll() == safe_frame(b"00A?T")
    assert dev.receive(safe_frame(b"0")) == safe_frame(b"00A?T")
    assert dev.receive(safe_frame(b"0")) == safe_frame(b"00S")


def test_device_flow_follows_the_motor():
    clock = Clock(600)
    dev, _ = device(clock)
    assert dev.receive(b"0RAT1.5UM\r0RUN\r") == basic("00S") + basic("00I")
    assert dev.flow_uL_min() == 1.5
    dev.receive(b"0STP\r0STP\r0DIRWDR\r0RUN\r")
    assert dev.state == "W"
    assert dev.flow_uL_min() == 0.0
    dev.receive(b"0STP\r")
    assert dev.flow_uL_min() == 0.0


# -- scenario ---------------------------------------------------------------------------


def test_twenty_minutes_at_1_5_uL_min_dispense_30_uL(tmp_path):
    clock = Clock(speed=300)
    with (
        SimulatedNE1000(clock, directory=str(tmp_path)) as s,
        NE1000.from_settings(s.rig_settings()) as p,
    ):
        p.set_syringe(Syringe(4.61, 1000.0))
        p.set_rate("1.5 uL/min")
        before_run = clock.now()
        p.infuse()
        after_run = clock.now()
        clock.sleep_until(after_run + 20 * 60)
        before_stop = clock.now()
        p.pause()
        after_stop = clock.now()
        infused, withdrawn = p.dispensed_uL()
    # The pump ran between RUN and STP: bound the integral by the commands' time windows
    # (DIS writes 4 digits: 30.00, so allow its 0.005 µL rounding).
    assert 1.5 * (before_stop - after_run) / 60 - 0.005 <= infused
    assert infused <= 1.5 * (after_stop - before_run) / 60 + 0.005
    assert infused >= 30.0 - 0.005  # 20 min at 1.5 µL/min, however late the STP came
    assert withdrawn == 0.0


# -- failure paths ---------------------------------------------------------------------


def test_no_reply_times_out(pump, sim):
    sim.port.lose_replies(1)
    start = time.monotonic()
    with pytest.raises(InstrumentTimeout, match="0.5 s"):
        pump.status()
    assert time.monotonic() - start >= 0.5
    assert pump.status() is PumpStatus.STOPPED


@pytest.mark.parametrize("garbage", [b"\x7f\xfe#!garbage\x00", b"\x0200Z\x03", b"\x02\xff\xfe\x03"])
def test_garbage_is_a_protocol_error(pump, sim, garbage):
    sim.port.inject_garbage(garbage)
    with pytest.raises(ProtocolError):
        pump.status()
    assert pump.status() is PumpStatus.STOPPED


def test_unplug_mid_command_then_reconnect(sim):
    pump = NE1000.from_settings({**sim.rig_settings(), "timeout_s": 60.0})
    try:
        sim.port.lose_replies(1)  # the command is in flight when the cable goes
        threading.Timer(0.1, sim.port.unplug).start()
        start = time.monotonic()
        with pytest.raises(Disconnected):
            pump.status()
        assert time.monotonic() - start < 30.0  # the unplug, not the 60 s timeout, ended it
        with pytest.raises(Disconnected):
            pump.reconnect()  # still unplugged
        sim.port.plug()
        pump.reconnect()
        assert pump.status() is PumpStatus.STOPPED
        assert pump.query("diameter") == {"value": "4.610"}
    finally:
        pump.close()


# -- rig-file settings ---------------------------------------------------------------------


def test_settings_table_and_validation(sim):
    assert set(SETTINGS) >= {"port", "baudrate", "address", "timeout_s", "safe_mode_s"}
    good = sim.rig_settings()
    for key, bad, message in [
        ("port", None, r"\[pump\] missing required key 'port'"),
        ("syringe_diameter_mm", "4.61", "syringe_diameter_mm must be a number"),
        ("address", 2.5, "address must be an integer"),
        ("baudrat", 9600, "unknown key 'baudrat'"),
    ]:
        settings_ = {k: v for k, v in good.items() if not (key == "port" and k == "port")}
        if bad is not None:
            settings_[key] = bad
        with pytest.raises(InputError, match=message):
            NE1000.from_settings(settings_)
    with pytest.raises(InputError, match="address"):
        NE1000.from_settings({**good, "address": 100})
    with pytest.raises(InputError, match="diameter"):
        NE1000.from_settings({**good, "syringe_diameter_mm": 95.0})


def test_bad_rates_are_input_errors(pump):
    with pytest.raises(InputError):
        pump.set_rate("1 mm")
    with pytest.raises(InputError):
        pump.set_rate(0)
    with pytest.raises(InputError):
        pump.set_rate(1e9)


# -- properties --------------------------------------------------------------------------


@given(st.binary(max_size=40), st.booleans())
def test_parse_reply_never_fails_otherwise(data, safe):
    try:
        reply = parse_reply(data, safe)
    except ProtocolError:
        return
    assert isinstance(reply, Reply)


@given(
    st.integers(0, 99),
    st.sampled_from(list("IWSPTUX") + ["A?R", "A?S", "A?T", "A?E", "A?O"]),
    st.text(alphabet="0123456789.IWULMH", max_size=20),
    st.sampled_from([None, "?", "?NA", "?OOR", "?COM", "?IGN"]),
    st.booleans(),
)
def test_valid_replies_round_trip(address, prompt, data, error, safe):
    body = f"{address:02d}{prompt}{data}{error or ''}".encode()
    packet = safe_frame(body) if safe else STX + body + ETX
    assert parse_reply(packet, safe) == Reply(address, prompt, data, error)


@given(st.floats(min_value=0.01, max_value=9000.0))
def test_chosen_rate_is_writable_and_faithful(rate):
    number, code = choose_rate(rate)
    whole, _, frac = number.partition(".")
    assert len(whole) + len(frac) <= 4 and len(frac) <= 3
    assert float(number) * RATE_UNITS[code] == pytest.approx(rate, rel=5e-4)
    assert format_number(float(number)) == number


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(min_size=1, max_size=24))
def test_arbitrary_bytes_on_the_line_never_hang_the_driver(pump, sim, data):
    pump.transport.timeout = 0.1
    sim.port.inject_garbage(data)
    try:
        assert isinstance(pump.status(), PumpStatus)
    except (ProtocolError, InstrumentTimeout, InstrumentAlarm):
        pass


def test_alarm_absorbed_by_the_reconnect_handshake_is_still_reported(pump, sim):
    pump.set_rate(1.5)
    pump.infuse()
    sim.device.stall()
    pump.reconnect()  # the throw-away *DIS acknowledges A?S on the pump
    with pytest.raises(InstrumentAlarm) as err:
        pump.status()
    assert err.value.code == "A?S"
    assert pump.status() is PumpStatus.STOPPED


def test_safe_mode_heartbeat_keeps_the_watchdog_fed(clock, tmp_path):
    with (
        SimulatedNE1000(clock, directory=str(tmp_path)) as s,
        NE1000.from_settings({**s.rig_settings(), "safe_mode_s": 2}) as p,
    ):  # real-time link clock
        p.set_rate(1.5)
        p.infuse()
        time.sleep(3.0)  # longer than the watchdog, no user command
        assert p.status() is PumpStatus.INFUSING


# -- what real pumps and independent clients show (nesp-lib, NE-500 manual) ----------------


def test_device_takes_a_safe_mode_packet_in_basic_mode():
    dev, _ = device()
    assert dev.receive(safe_frame(b"0SAF0")) == basic("00S")  # nesp-lib's first packet
    assert dev.receive(safe_frame(b"0DIA")) == basic("00S4.610")
    assert dev.receive(b"0VER\r") == basic("00SNE1000V3.928")  # nothing left over


def test_device_numbers_from_1000_keep_a_decimal_point():
    dev, _ = device()
    dev.infused_uL = 2000.0
    assert dev.receive(b"0DIS\r") == basic("00SI2000.W0.000UL")
    assert sim_ne1000.format_number(999.94) == "999.9"
    assert sim_ne1000.format_number(1234.4) == "1234."


def test_device_reverses_while_pumping_only_without_a_volume_target():
    dev, _ = device()
    dev.refill(500.0)  # room to withdraw
    assert dev.receive(b"0RAT1.5UM\r0RUN\r") == basic("00S") + basic("00I")
    assert dev.receive(b"0DIRWDR\r") == basic("00W")  # continuous: the motor reverses
    assert dev.receive(b"0STP\r0STP\r0VOL5\r0RUN\r") == (
        basic("00P") + basic("00S") + basic("00S") + basic("00W")
    )
    assert dev.receive(b"0DIRINF\r") == basic("00W?NA")  # a volume target is running


def test_device_in_safe_mode_sends_the_reset_alarm_at_power_up_and_waits_to_watch():
    dev, link = device()
    dev.receive(b"0SAF2\r")
    dev.power_cycle()
    assert dev.poll() == safe_frame(b"00A?R")  # unsolicited, at power-up
    link.t += 10.0  # no packet yet: the watchdog has not started
    assert dev.poll() == b""
    assert dev.receive(safe_frame(b"0")) == b""  # the first command after power-up: ignored
    assert dev.receive(safe_frame(b"0")) == safe_frame(b"00A?R")  # acknowledged here
    link.t += 2.5  # now it runs
    assert dev.poll() == safe_frame(b"00A?T")


def test_version_with_a_firmware_upgrade(clock, tmp_path):
    with (
        SimulatedNE1000(clock, directory=str(tmp_path), firmware="NE1000X2V3.928") as s,
        NE1000.from_settings(s.rig_settings()) as p,
    ):
        assert p.identity() == {"model": "NE-1000", "serial": "", "firmware": "3.928"}
        assert p.query("version")["upgrade"] == "2"


def test_role_properties_come_from_the_rig_file(pump):
    assert pump.syringe == Syringe(4.61, 1000.0)
    assert pump.name == "pump"
    assert pump.transport.log.name == "raphe.instrument.pump"
