"""VICI multiposition stream selector driver against the simulated actuator over a real pty."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wire_helpers import WireLog, unplug_during

from raphe.clock import Clock
from raphe.drivers.base import StreamSelector
from raphe.drivers.rig_file import load_rig
from raphe.drivers.vici import VICIActuator, VICIValve
from raphe.drivers.vici_selector import SETTINGS, VICISelector, parse_count, parse_stream
from raphe.errors import (
    Disconnected,
    InputError,
    InstrumentError,
    InstrumentTimeout,
    ProtocolError,
    RapheError,
)
from raphe.simulators.pty_port import PtyPort
from raphe.simulators.vici import SimulatedVICI
from raphe.simulators.vici_selector import SimulatedVICISelector, VICISelectorDevice

OPEN_SENT = b"IFM0\rLG0\rVR\rAM\rNP\rSO\rCP\r"


def make_sim(tmp_path, valve_id=None, speed=10.0, **options):
    simulated = SimulatedVICISelector(Clock(speed), str(tmp_path), valve_id=valve_id, **options)
    recorder = WireLog(simulated.device)
    simulated.port.device = recorder
    return simulated.start(), recorder


@pytest.fixture
def sim(tmp_path):
    simulated, recorder = make_sim(tmp_path)
    yield simulated, recorder
    simulated.close()


@pytest.fixture
def selector(sim):
    simulated, recorder = sim
    driver = VICISelector.from_settings({**simulated.rig_settings(), "timeout_s": 0.3})
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


# -- bytes on the wire -----------------------------------------------------------------------


def test_open_identifies_and_checks_mode_positions_offset_then_reads_cp(sim):
    simulated, recorder = sim
    driver = VICISelector.from_settings(simulated.rig_settings())
    driver.close()
    assert recorder.take_bytes() == (
        OPEN_SENT, b"\0UA_MAIN_EQ\r\0AM3\r\0NP04\r\0SO01\r\0CP01\r"
    )
    assert driver.firmware == "UA_MAIN_EQ"


def test_cp_query_bytes(selector, sim):
    _, recorder = sim
    assert selector.position() == 1
    assert recorder.take_bytes() == (b"CP\r", b"\0CP01\r")


def test_select_sends_go_and_confirms_with_cp(selector, sim):
    simulated, recorder = sim
    selector.select(3)
    polls_until(*recorder.take_bytes(), b"GO3\r", b"\0CP03\r")
    assert simulated.device.position() == 3
    assert selector.position() == 3
    assert recorder.take_bytes() == (b"CP\r", b"\0CP03\r")
    selector.select(1)  # shortest route, a tie goes forward: 3 → 4 → 1
    polls_until(*recorder.take_bytes(), b"GO1\r", b"\0CP01\r")


def test_two_digit_positions(tmp_path):
    simulated, recorder = make_sim(tmp_path, positions=12)
    try:
        with VICISelector.from_settings({**simulated.rig_settings(), "positions": 12}) as driver:
            assert recorder.take_bytes()[1].endswith(b"\0NP12\r\0SO01\r\0CP01\r")
            driver.select(12)
            polls_until(*recorder.take_bytes(), b"GO12\r", b"\0CP12\r")
            driver.select(10)
            polls_until(*recorder.take_bytes(), b"GO10\r", b"\0CP10\r")
    finally:
        simulated.close()


def test_select_waits_past_the_positions_the_rotor_passes(selector, sim):
    """CP reads each position the rotor reaches; only the target confirms the move."""
    simulated, recorder = sim
    simulated.device.step_time_s = 0.5  # 50 ms real per step on the 10× clock
    seen: list[int] = []
    simulated.device.add_listener(lambda position, t: seen.append(position))
    selector.select(3)
    sent, replies = recorder.take_bytes()
    polls_until(sent, replies, b"GO3\r", b"\0CP03\r")
    assert b"\0CP02\r" in replies  # passed on the way (shortest route, 1 → 2 → 3)
    assert seen == [3]
    assert simulated.device.counter == 2  # the manual: one count per position moved


def test_selecting_where_it_is_sends_go_and_is_confirmed_at_once(selector, sim):
    _, recorder = sim
    selector.select(1)
    assert recorder.take_bytes() == (b"GO1\rCP\r", b"\0CP01\r")


def test_id_prefix_on_every_command_and_reply(tmp_path):
    simulated, recorder = make_sim(tmp_path, valve_id="1")
    try:
        driver = VICISelector.from_settings(simulated.rig_settings())
        assert simulated.rig_settings()["valve_id"] == "1"
        sent, replies = recorder.take_bytes()
        assert sent == b"1IFM0\r1LG0\r1VR\r1AM\r1NP\r1SO\r1CP\r"
        assert replies == b"1UA_MAIN_EQ\r1AM3\r1NP04\r1SO01\r1CP01\r"
        driver.select(2)
        sent, replies = recorder.take_bytes()
        assert sent.startswith(b"1GO2\r1CP\r") and replies.endswith(b"1CP02\r")
        driver.close()
        other = VICISelector(simulated.path, positions=4, valve_id="2", timeout_s=0.1)
        with pytest.raises(InstrumentTimeout):
            other.open()
    finally:
        simulated.close()


def test_identity_and_safe_state(selector, sim):
    _, recorder = sim
    assert selector.identity() == {
        "model": "VICI universal electric actuator (multiposition)",
        "firmware": "UA_MAIN_EQ",
        "serial": "",
        "serial_board": "UA_SERIAL_2.04",
        "positions": "4",
    }
    assert recorder.take_bytes() == (b"VR\rVR2\r", b"\0UA_MAIN_EQ\r\0UA_SERIAL_2.04\r")
    selector.select(2)
    recorder.take_bytes()
    selector.to_safe_state()  # a selector stays where it is: nothing is sent
    assert recorder.take_bytes() == (b"", b"")
    assert selector.safe_state() == (True, "stream 2")
    assert recorder.take_bytes() == (b"CP\r", b"\0CP02\r")


# -- refusals before anything moves ---------------------------------------------------------


@pytest.mark.parametrize("stream", [0, 5, -1, 40, True, 2.0, "2", None])
def test_a_stream_out_of_range_is_refused_before_anything_is_sent(selector, sim, stream):
    _, recorder = sim
    with pytest.raises(InputError, match=r"positions = 4") as refused:
        selector.select(stream)
    assert "selector" in str(refused.value)
    assert recorder.take_bytes() == (b"", b"")


def test_a_wrong_number_of_positions_is_refused_at_open_in_one_line(tmp_path):
    simulated, _ = make_sim(tmp_path, positions=6)
    try:
        with pytest.raises(InstrumentError, match=r"positions = 4") as refused:
            VICISelector.from_settings({**simulated.rig_settings(), "positions": 4})
        message = str(refused.value)
        assert "NP6" in message and "\n" not in message
        # Through the rig file: one line naming the file, the table and the key.
        table = {**simulated.rig_settings(), "positions": 4}
        lines = [f"{key} = {json.dumps(value)}" for key, value in table.items()]
        config = load_rig("[selector]\n" + "\n".join(lines) + "\n", source="rig.toml")
        with pytest.raises(RapheError) as via_rig:
            config.connect()
        text = str(via_rig.value)
        assert text.startswith("rig.toml, line 1: [selector] ") and "\n" not in text
        assert "positions = 4" in text and "positions = 6" in text
    finally:
        simulated.close()


def test_a_two_position_actuator_is_refused(sim):
    simulated, _ = sim
    simulated.device.mode = 1
    with pytest.raises(InstrumentError, match=r"AM1, not multiposition"):
        VICISelector.from_settings(simulated.rig_settings())


def test_an_offset_first_position_is_refused(sim):
    simulated, _ = sim
    assert simulated.device.receive(b"SO5\r") == b""
    with pytest.raises(InstrumentError, match=r"SO5"):
        VICISelector.from_settings(simulated.rig_settings())


def test_the_two_position_driver_refuses_this_actuator_and_vice_versa(tmp_path):
    """Both drivers share the wire (VICIActuator); each checks the mode it needs."""
    assert issubclass(VICISelector, VICIActuator) and issubclass(VICIValve, VICIActuator)
    assert issubclass(VICISelector, StreamSelector)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (SimulatedVICISelector(Clock(10), str(tmp_path / "a")) as multi,
          pytest.raises(InstrumentError, match="AM3")):
        VICIValve(multi.path, loop_volume_uL=20.0, poll_interval_s=0.005).open()
    with (SimulatedVICI(Clock(10), str(tmp_path / "b")) as two,
          pytest.raises(InstrumentError, match="AM1")):
        VICISelector(two.path, positions=4, poll_interval_s=0.005).open()


def test_settings_are_checked():
    assert list(SETTINGS) == [
        "port", "baudrate", "valve_id", "positions", "timeout_s", "move_timeout_s",
        "poll_interval_s",
    ]
    assert SETTINGS["baudrate"].default == 9600
    with pytest.raises(InputError, match="positions"):
        VICISelector.from_settings({"port": "/dev/null"})
    with pytest.raises(InputError, match="positions"):
        VICISelector.from_settings({"port": "/dev/null", "positions": 5})  # NP is even
    with pytest.raises(InputError, match="positions"):
        VICISelector.from_settings({"port": "/dev/null", "positions": 42})
    with pytest.raises(InputError, match="valve_id"):
        VICISelector.from_settings({"port": "/dev/null", "positions": 4, "valve_id": "12"})
    with pytest.raises(InputError, match="id"):
        VICISelector.from_settings({"port": "/dev/null", "positions": 4, "id": "1"})


# -- failure paths ---------------------------------------------------------------------------


def test_no_reply_is_a_timeout(selector, sim):
    simulated, _ = sim
    simulated.port.lose_replies(1)
    with pytest.raises(InstrumentTimeout, match="CP: no complete reply within 0.3 s"):
        selector.position()
    assert selector.position() == 1


def test_a_lost_confirmation_is_a_timeout_and_the_next_read_sees_the_move(selector, sim):
    simulated, recorder = sim
    simulated.port.lose_replies(1)  # GO has no reply: the first CP reply is lost
    with pytest.raises(InstrumentTimeout):
        selector.select(2)
    assert recorder.take_bytes()[0] == b"GO2\rCP\r"
    assert selector.position() == 2


def test_a_move_not_confirmed_in_time_is_a_timeout(sim):
    simulated, _ = sim
    driver = VICISelector.from_settings({**simulated.rig_settings(), "move_timeout_s": 0.3})
    try:
        simulated.device.step_time_s = 1000.0  # the rotor never gets there
        with pytest.raises(InstrumentTimeout, match="move to position 3 not confirmed by CP "
                                                     "within 0.3 s"):
            driver.select(3)
        assert driver.position() == 1
    finally:
        driver.close()


@pytest.mark.parametrize("garbage", [b"\x7f\xfe#!garbage\x00", b"CPX\r", b"CP7\r", b"\xff\r"])
def test_garbage_twice_is_a_protocol_error(selector, sim, garbage):
    simulated, recorder = sim
    simulated.port.inject_garbage(garbage, count=2)
    with pytest.raises(ProtocolError):
        selector.position()
    assert recorder.take_bytes()[0] == b"CP\rCP\r"  # asked again before raising
    assert selector.position() == 1


@pytest.mark.parametrize("garbage", [b"\x7f\xfe#!garbage\x00", b"CPX\r", b"CP9\r"])
def test_one_garbled_reply_is_asked_again_and_the_move_succeeds(selector, sim, garbage):
    simulated, recorder = sim
    simulated.port.inject_garbage(garbage)
    assert selector.position() == 1
    assert recorder.take_bytes()[0] == b"CP\rCP\r"
    (incident,) = selector.take_incidents()  # recovered, but kept for the session's record
    assert "reply" in incident and incident.endswith("asked CP again: 1")
    assert selector.take_incidents() == []
    simulated.port.inject_garbage(garbage)
    selector.select(4)  # the first CP poll after GO4 is garbled: asked again, confirmed
    assert simulated.device.position() == 4
    assert len(selector.take_incidents()) == 1
    assert selector.position() == 4


def test_unplug_mid_command_is_disconnected_then_reconnect_and_resume(sim):
    simulated, recorder = sim
    driver = VICISelector.from_settings({**simulated.rig_settings(), "timeout_s": 60.0})
    try:
        driver.select(2)
        outcome = unplug_during(simulated.port, recorder, lambda: driver.position())
        assert len(outcome) == 1 and isinstance(outcome[0], Disconnected)
        with pytest.raises(Disconnected):
            driver.select(3)
        with pytest.raises(Disconnected):
            driver.reconnect()
        simulated.port.plug()
        recorder.take_bytes()
        driver.reconnect()
        assert recorder.take_bytes() == (
            OPEN_SENT, b"\0UA_MAIN_EQ\r\0AM3\r\0NP04\r\0SO01\r\0CP02\r"
        )
        driver.select(3)
        assert driver.position() == 3
    finally:
        driver.close()


def test_rig_file_from_rig_settings_opens_the_simulator(sim):
    simulated, _ = sim
    lines = [f"{key} = {json.dumps(value)}" for key, value in simulated.rig_settings().items()]
    rig = load_rig("[selector]\n" + "\n".join(lines) + "\n", source="sim-rig.toml").connect()
    try:
        assert isinstance(rig.selector, VICISelector) and rig.selector.positions == 4
        rig.selector.select(4)
        assert rig.selector.position() == 4
        assert [(s.role, s.safe, s.state) for s in rig.make_safe()] == [
            ("selector", True, "stream 4")
        ]
    finally:
        rig.close()


# -- the simulated actuator's rules ----------------------------------------------------------


def test_device_multiposition_commands():
    device = VICISelectorDevice(Clock(1000), step_time_s=0.0)
    assert device.receive(b"AM\r") == b"\0AM3\r"
    assert device.receive(b"NP\r") == b"\0NP04\r"
    assert device.receive(b"SM\r") == b"\0SMA\r"
    assert device.receive(b"SO\r") == b"\0SO01\r"
    assert device.receive(b"GO03\r") == b""  # two digits are taken too
    assert device.receive(b"CP\r") == b"\0CP03\r"
    assert device.receive(b"HM\r") == b""
    assert device.receive(b"CP\r") == b"\0CP01\r"
    assert device.receive(b"GO\r") + device.receive(b"CP\r") == b"\0CP02\r"  # GO: next one
    assert device.receive(b"CC\r") + device.receive(b"CP\r") == b"\0CP01\r"  # one back
    assert device.receive(b"CC3\r") + device.receive(b"CP\r") == b"\0CP03\r"
    assert device.receive(b"CW\r") + device.receive(b"CP\r") == b"\0CP04\r"
    assert device.receive(b"CW1\r") + device.receive(b"CP\r") == b"\0CP01\r"
    for bad in (b"GO5\r", b"GO0\r", b"GOX\r", b"GO123\r", b"NP5\r", b"NP42\r", b"SMX\r",
                b"AM1\r", b"TT\r", b"XYZ\r"):
        assert device.receive(bad) == b"\0Bad command\r", bad
    assert device.receive(b"AM3\r") == b""
    assert device.receive(b"NP6\r") == b""
    assert device.receive(b"NP\r") == b"\0NP06\r"
    assert device.receive(b"GO6\r") + device.receive(b"CP\r") == b"\0CP06\r"


def test_device_counts_positions_moved_and_follows_the_direction():
    device = VICISelectorDevice(Clock(1000), positions=8, step_time_s=0.0)
    device.receive(b"GO3\r")
    device.receive(b"CP\r")
    assert device.receive(b"CNT\r") == b"\0CNT2\r"  # 1 → 3: two positions
    device.receive(b"GO8\r")  # shortest route from 3 to 8: down, 3 positions
    device.receive(b"CP\r")
    assert device.receive(b"CNT\r") == b"\0CNT5\r"
    assert device.receive(b"SMF\r") == b""
    device.receive(b"GO7\r")  # forward only: 8 → 1 → … → 7, seven positions
    device.receive(b"CP\r")
    assert device.receive(b"CNT\r") == b"\0CNT12\r"
    assert device.receive(b"SMR\r") == b""
    device.receive(b"GO8\r")  # reverse only: 7 → 6 → … → 8, seven positions
    assert device.receive(b"CP\r") == b"\0CP08\r"
    assert device.receive(b"CNT\r") == b"\0CNT19\r"


def test_device_offset_legacy_and_id():
    device = VICISelectorDevice(Clock(1000), step_time_s=0.0)
    assert device.receive(b"SO10\r") == b""
    assert device.receive(b"CP\r") == b"\0CP10\r"  # positions now count 10 … 13
    assert device.receive(b"GO1\r") == b"\0Bad command\r"
    assert device.receive(b"GO12\r") + device.receive(b"CP\r") == b"\0CP12\r"
    assert device.receive(b"SO1\r") == b""
    assert device.receive(b"LG1\r") == b""
    assert device.receive(b"CP\r") == b"\0Position is = 3\r"  # legacy reply forms
    assert device.receive(b"NP\r") == b"\0NP = 4\r"
    assert device.receive(b"LG0\r") + device.receive(b"ID4\r") == b""
    assert device.receive(b"CP\r") == b""  # an ID is set: commands without it are ignored
    assert device.receive(b"4CP\r") == b"4CP03\r"
    assert device.receive(b"*NP\r") == b"4NP04\r"


def test_device_position_reads_each_step_on_the_clock():
    clock = Clock(1000)
    device = VICISelectorDevice(clock, positions=6, step_time_s=1.0)
    device.receive(b"GO4\r")  # 1 → 4: three positions either way; a tie goes forward
    assert device.receive(b"CP\r") == b"\0CP01\r"
    seen = []
    while device.position() != 4:
        if device.position() not in seen:
            seen.append(device.position())
        clock.sleep(0.1)
    assert seen[0] == 1 and set(seen) <= {1, 2, 3}


def test_legacy_replies_are_read_too():
    assert parse_stream(b"\0Position is = 3\r") == 3
    assert parse_stream(b'Position is "12"\r') == 12
    assert parse_stream(b"5CP07\r", "5") == 7
    assert parse_count(b"\0NP = 6\r", "NP") == 6
    assert parse_count(b"\0NP06\r", "NP") == 6
    assert parse_count(b"\0SO1\r", "SO") == 1
    with pytest.raises(ProtocolError, match="Bad command"):
        parse_stream(b"\0Bad command\r")
    with pytest.raises(ProtocolError):
        parse_stream(b"\0CPA\r")  # a two-position reply


@given(st.binary(max_size=24), st.sampled_from(["", "1"]))
def test_reply_parsers_return_a_value_or_protocol_error(raw, valve_id):
    for parse in (
        lambda: parse_stream(raw, valve_id),
        lambda: parse_count(raw, "NP", valve_id),
        lambda: parse_count(raw, "SO", valve_id),
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
    port = PtyPort(device, "vici_selector", str(tmp_path_factory.mktemp("sel"))).start()
    driver = VICISelector(port.path, positions=4, timeout_s=0.03, poll_interval_s=0.001)
    driver.transport.open()
    yield device, driver
    driver.close()
    port.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=16))
def test_arbitrary_replies_over_the_wire_give_a_stream_or_a_typed_error(scripted, reply):
    device, driver = scripted
    device.script = reply
    try:
        stream = driver.position()
    except (ProtocolError, InstrumentTimeout):
        return
    assert parse_stream(reply) == stream and 1 <= stream <= 4  # only a good first reply
