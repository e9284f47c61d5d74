"""VICI two-position valve driver against the simulated actuator over a real pty."""

from __future__ import annotations

import itertools
import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wire_helpers import WireLog, unplug_during

from raphe.clock import Clock
from raphe.drivers.base import ValvePosition
from raphe.drivers.rig_file import load_rig
from raphe.drivers.vici import SETTINGS, VICIValve, parse_number, parse_position, parse_version
from raphe.errors import (
    Disconnected,
    InputError,
    InstrumentError,
    InstrumentTimeout,
    ProtocolError,
)
from raphe.simulators.pty_port import PtyPort
from raphe.simulators.vici import SimulatedVICI, VICIDevice


def make_sim(tmp_path, valve_id=None, speed=10.0, **options):
    simulated = SimulatedVICI(Clock(speed), str(tmp_path), valve_id=valve_id, **options)
    recorder = WireLog(simulated.device)
    simulated.port.device = recorder
    return simulated.start(), recorder


@pytest.fixture
def sim(tmp_path):
    simulated, recorder = make_sim(tmp_path)
    yield simulated, recorder
    simulated.close()


@pytest.fixture
def valve(sim):
    simulated, recorder = sim
    driver = VICIValve.from_settings({**simulated.rig_settings(), "timeout_s": 0.3})
    recorder.take_bytes()
    yield driver
    driver.close()


def polls_until(sent: bytes, replies: bytes, command: bytes, final: bytes) -> None:
    """``sent`` is ``command`` then CP polls; the replies end with ``final``."""
    assert sent.startswith(command)
    polls = sent[len(command):]
    n = polls.count(b"CP\r")
    assert n >= 1 and polls == b"CP\r" * n
    assert replies.endswith(final) and replies.count(b"\r") == n


def test_open_checks_mode_and_position(sim):
    simulated, recorder = sim
    driver = VICIValve.from_settings(simulated.rig_settings())
    driver.close()
    # Response modes first (silent), then mode and position; replies start with NUL (no ID).
    assert recorder.take_bytes() == (b"IFM0\rLG0\rAM\rCP\r", b"\0AM1\r\0CPA\r")


def test_cp_query_bytes(valve, sim):
    _, recorder = sim
    assert valve.position() is ValvePosition.LOAD
    assert recorder.take_bytes() == (b"CP\r", b"\0CPA\r")


def test_inject_and_load_are_confirmed_by_cp(valve, sim):
    simulated, recorder = sim
    valve.inject()
    polls_until(*recorder.take_bytes(), b"GOB\r", b"\0CPB\r")
    assert simulated.device.position() == "B"
    valve.load()
    polls_until(*recorder.take_bytes(), b"GOA\r", b"\0CPA\r")


def test_inject_says_when_go_left_before_the_switch_is_confirmed(valve, sim):
    """The injection's time is when GOB is written, not when CP confirms it."""
    _, recorder = sim
    seen = []

    def sent() -> None:  # the driver waits here: no CP poll can be written meanwhile
        deadline = time.monotonic() + 2
        while not seen[-1:] and time.monotonic() < deadline:
            written = recorder.take_bytes()[0]
            if written:
                seen.append(written)
            time.sleep(0.005)

    valve.inject(on_sent=sent)
    assert seen == [b"GOB\r"]
    polls_until(*recorder.take_bytes(), b"", b"\0CPB\r")


def test_cp_reports_the_old_position_until_the_switch_completes(sim):
    simulated, _ = sim
    device = simulated.device
    device.switch_time_s = 1000.0
    assert device.receive(b"GOB\r") == b""
    assert device.receive(b"CP\r") == b"\0CPA\r"
    device.switch_time_s = 0.0
    device.receive(b"GOA\r")  # queued behind the slow switch, which still reads A
    assert device.receive(b"CP\r") == b"\0CPA\r"


def test_toggle_bytes(valve, sim):
    _, recorder = sim
    assert valve.toggle() is ValvePosition.INJECT
    sent, replies = recorder.take_bytes()
    assert sent.startswith(b"CP\r") and replies.startswith(b"\0CPA\r")
    polls_until(sent[3:], replies[5:], b"TO\r", b"\0CPB\r")


def test_delay_query_and_timed_toggle(valve, sim):
    simulated, recorder = sim
    switches: list[tuple[str, float]] = []
    simulated.device.add_listener(lambda pos, t: switches.append((pos, t)))
    valve.timed_inject(2.0)  # 2 s on a 10× clock
    sent, replies = recorder.take_bytes()
    assert sent.startswith(b"CP\rDT2000\rDT\rCNT\rTT\r")
    assert replies.startswith(b"\0CPA\r\0DT2000\r\0CNT0\r")
    assert valve.position() is ValvePosition.INJECT
    while len(switches) < 2:
        simulated.device.clock.sleep(0.1)
    (first, t1), (second, t2) = switches
    assert (first, second) == ("B", "A")
    assert t2 - t1 == pytest.approx(2.0 + simulated.device.switch_time_s)
    assert valve.position() is ValvePosition.LOAD
    assert valve.counter() == 2


def test_tt_is_ignored_while_dt_is_zero(sim):
    device = sim[0].device
    device.receive(b"TT\r")
    device.clock.sleep(0.2)
    assert device.receive(b"CNT\r") == b"\0CNT0\r"


def test_timed_inject_range_is_checked_before_sending(valve, sim):
    _, recorder = sim
    for seconds in (0, 65.536, -1):
        with pytest.raises(InputError, match="65.535"):
            valve.timed_inject(seconds)
    assert recorder.take_bytes() == (b"", b"")


def test_version_counter_mode_and_unknown_commands(valve, sim):
    _, recorder = sim
    assert valve.identity() == {
        "model": "VICI universal electric actuator",
        "firmware": "UA_MAIN_EQ",
        "serial": "",
        "serial_board": "UA_SERIAL_2.04",
    }
    # A universal actuator (VR starts UA_MAIN_, as LCMSNet detects it) has a serial board too.
    assert recorder.take_bytes() == (b"VR\rVR2\r", b"\0UA_MAIN_EQ\r\0UA_SERIAL_2.04\r")
    assert valve.query("XYZ") == b"\0Bad command\r"
    with pytest.raises(ProtocolError, match="Bad command"):
        parse_position(b"\0Bad command\r")
    assert valve.query("AM") == b"\0AM1\r"
    valve.send("CNT7")
    assert valve.counter() == 7


def test_id_prefix_on_every_command_and_reply(tmp_path):
    simulated, recorder = make_sim(tmp_path, valve_id="1")
    try:
        driver = VICIValve.from_settings(simulated.rig_settings())
        assert simulated.rig_settings()["valve_id"] == "1"
        recorder.take_bytes()
        driver.inject()
        sent, replies = recorder.take_bytes()
        assert sent.startswith(b"1GOB\r1CP\r") and replies.endswith(b"1CPB\r")
        assert simulated.device.receive(b"CP\r") == b""  # no ID: ignored
        assert simulated.device.receive(b"*CP\r") == b"1CPB\r"  # broadcast
        driver.close()
        other = VICIValve(simulated.path, loop_volume_uL=20.0, valve_id="2", timeout_s=0.1)
        with pytest.raises(InstrumentTimeout):
            other.open()
    finally:
        simulated.close()


def test_twelve_load_inject_cycles(valve, sim):
    simulated, _ = sim
    switches: list[tuple[str, float]] = []
    simulated.device.add_listener(lambda pos, t: switches.append((pos, t)))
    for _ in range(12):
        valve.inject()
        assert valve.position() is ValvePosition.INJECT
        valve.load()
        assert valve.position() is ValvePosition.LOAD
    assert [pos for pos, _ in switches] == ["B", "A"] * 12
    times = [t for _, t in switches]
    assert times == sorted(times)
    assert valve.counter() == 24


def test_multiposition_mode_is_refused_on_open(sim):
    simulated, _ = sim
    simulated.device.mode = 3
    with pytest.raises(InstrumentError, match="AM3"):
        VICIValve.from_settings(simulated.rig_settings())


def test_no_reply_is_a_timeout(valve, sim):
    simulated, _ = sim
    simulated.port.lose_replies(1)
    with pytest.raises(InstrumentTimeout, match="0.3 s"):
        valve.position()
    assert valve.position() is ValvePosition.LOAD


@pytest.mark.parametrize("garbage", [b"\x7f\xfe#!garbage\x00", b"CPX\r", b"PC A\r", b"\xff\r"])
def test_garbage_twice_is_a_protocol_error(valve, sim, garbage):
    simulated, recorder = sim
    simulated.port.inject_garbage(garbage, count=2)
    with pytest.raises(ProtocolError):
        valve.position()
    assert recorder.take_bytes()[0] == b"CP\rCP\r"  # asked again before raising
    assert valve.position() is ValvePosition.LOAD


@pytest.mark.parametrize("garbage", [b"\x7f\xfe#!garbage\x00", b"CPX\r", b"\xff\r"])
def test_one_garbled_reply_is_asked_again_and_the_move_succeeds(valve, sim, garbage):
    simulated, recorder = sim
    simulated.port.inject_garbage(garbage)
    assert valve.position() is ValvePosition.LOAD
    assert recorder.take_bytes()[0] == b"CP\rCP\r"
    (incident,) = valve.take_incidents()  # recovered, but kept for the session's record
    assert "reply" in incident and incident.endswith("asked CP again: A")
    assert valve.take_incidents() == []
    simulated.port.inject_garbage(garbage)
    valve.inject()  # the first CP poll after GOB is garbled: polled again, confirmed
    assert simulated.device.position() == "B"
    assert valve.position() is ValvePosition.INJECT


def test_unplug_mid_command_is_disconnected_then_reconnect_works(sim):
    simulated, recorder = sim
    driver = VICIValve.from_settings({**simulated.rig_settings(), "timeout_s": 60.0})
    try:
        outcome = unplug_during(simulated.port, recorder, lambda: driver.position())
        assert len(outcome) == 1 and isinstance(outcome[0], Disconnected)
        with pytest.raises(Disconnected):
            driver.reconnect()
        simulated.port.plug()
        driver.reconnect()
        driver.inject()
        assert driver.position() is ValvePosition.INJECT
    finally:
        driver.close()


def test_settings_are_checked():
    assert set(SETTINGS) >= {"port", "baudrate", "valve_id", "timeout_s", "loop_volume_uL"}
    with pytest.raises(InputError, match="loop_volume_uL"):
        VICIValve.from_settings({"port": "/dev/null"})
    with pytest.raises(InputError, match="valve_id"):
        VICIValve.from_settings({"port": "/dev/null", "loop_volume_uL": 20.0, "valve_id": "12"})
    with pytest.raises(InputError, match="loop_volume_uL"):
        VICIValve.from_settings({"port": "/dev/null", "loop_volume_uL": 0.0})
    with pytest.raises(InputError, match="speed"):
        VICIValve.from_settings({"port": "/dev/null", "loop_volume_uL": 20.0, "speed": 1})


@given(st.binary(max_size=24), st.sampled_from(["", "1"]))
def test_reply_parsers_return_a_value_or_protocol_error(raw, valve_id):
    for parse in (
        lambda: parse_position(raw, valve_id),
        lambda: parse_number(raw, "DT", valve_id),
        lambda: parse_number(raw, "CNT", valve_id),
        lambda: parse_version(raw, valve_id),
    ):
        try:
            parse()
        except ProtocolError:
            pass


class Scripted:
    """Answers every CR-terminated line with the next scripted reply."""

    def __init__(self) -> None:
        self.script = b""

    def receive(self, data: bytes) -> bytes:
        if b"\r" in data:
            reply, self.script = self.script, b""
            return reply
        return b""

    def poll(self) -> bytes:
        return b""


@pytest.fixture(scope="module")
def scripted(tmp_path_factory):
    device = Scripted()
    port = PtyPort(device, "vici", str(tmp_path_factory.mktemp("vici"))).start()
    driver = VICIValve(port.path, loop_volume_uL=20.0, timeout_s=0.03, poll_interval_s=0.001)
    driver.transport.open()
    yield device, driver
    driver.close()
    port.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=16))
def test_arbitrary_replies_over_the_wire_give_a_position_or_a_typed_error(scripted, reply):
    device, driver = scripted
    device.script = reply
    try:
        position = driver.position()
    except (ProtocolError, InstrumentTimeout):
        return
    assert parse_position(reply) is position  # only a well-formed first reply gives one


def test_device_standalone_rules():
    device = VICIDevice(Clock(1000), switch_time_s=0.0)
    assert device.receive(b"DT70000\r") == b"\0Bad command\r"
    assert device.receive(b"AM3\r") == b"\0Bad command\r"
    assert device.receive(b"ID\r") == b"\0ID\r"  # LCMSNet: "\0ID" when no ID is set
    assert device.receive(b"ID7\r") == b""
    assert device.receive(b"CP\r") == b""
    assert device.receive(b"7CP\r") == b"7CPA\r"
    assert device.receive(b"7ID\r") == b"7ID7\r"  # LCMSNet: "5ID5" with ID 5
    assert device.receive(b"*ID*\r") == b""
    assert device.receive(b"C") + device.receive(b"P\r\n") == b"\0CPA\r"
    assert device.receive(b"LG1\r") == b""
    assert device.receive(b"CP\r") == b'\0Position is "A"\r'  # legacy reply form


def test_rig_file_from_rig_settings_opens_the_simulator(sim):
    simulated, _ = sim
    lines = [f"{key} = {json.dumps(value)}" for key, value in simulated.rig_settings().items()]
    rig = load_rig("[valve]\n" + "\n".join(lines) + "\n", source="sim-rig.toml").connect()
    try:
        assert rig.valve.loop_volume_uL == 20.0
        assert rig.valve.position() is ValvePosition.LOAD
    finally:
        rig.close()


# -- what universal actuators do (PNNL LCMSNet's records) ---------------------------------


def test_an_actuator_without_id_prefixes_nul_and_one_with_an_id_prefixes_it(tmp_path):
    for valve_id, prefix in ((None, b"\0"), ("5", b"5")):
        folder = tmp_path / (valve_id or "none")
        folder.mkdir()
        simulated, recorder = make_sim(folder, valve_id=valve_id)
        try:
            with VICIValve.from_settings(simulated.rig_settings()) as driver:
                sent, replies = recorder.take_bytes()
                command_prefix = (valve_id or "").encode()
                assert sent.endswith(command_prefix + b"AM\r" + command_prefix + b"CP\r")
                assert replies == prefix + b"AM1\r" + prefix + b"CPA\r"
                driver.inject()
                assert driver.position() is ValvePosition.INJECT
        finally:
            simulated.close()


def test_open_puts_an_actuator_left_in_legacy_mode_back_in_the_expected_mode(tmp_path):
    simulated, _ = make_sim(tmp_path, legacy=True)
    try:
        assert simulated.device.receive(b"CP\r") == b'\0Position is "A"\r'
        with VICIValve.from_settings(simulated.rig_settings()) as driver:
            assert simulated.device.legacy == 0 and simulated.device.ifm == 0
            assert driver.position() is ValvePosition.LOAD
    finally:
        simulated.close()


def test_legacy_position_replies_are_read_too():
    assert parse_position(b'Position is "B"\r') is ValvePosition.INJECT
    assert parse_position(b"\0Position is = A\r") is ValvePosition.LOAD


def test_commands_are_spaced_by_the_poll_interval(sim):
    simulated, _ = sim
    driver = VICIValve.from_settings({**simulated.rig_settings(), "poll_interval_s": 0.1})
    times: list[float] = []
    write = driver.transport.write

    def timed(data: bytes) -> None:
        times.append(time.monotonic())
        write(data)

    driver.transport.write = timed
    try:
        driver.inject()
        driver.load()
    finally:
        driver.close()
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) >= 3 and min(gaps) >= 0.1


def test_the_default_spacing_is_what_lcmsnet_keeps():
    assert SETTINGS["poll_interval_s"].default == 0.1
