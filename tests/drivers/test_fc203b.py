"""FC 203B driver against the simulated collector over a real pty."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wire_helpers import WireLog, unplug_during

from raphe.clock import Clock
from raphe.drivers.fc203b import (
    COMMANDS,
    FC203B,
    SETTINGS,
    parse_identity,
    parse_position,
    parse_status,
)
from raphe.drivers.gsioc import decode_immediate
from raphe.drivers.rig_file import load_rig
from raphe.errors import (
    Disconnected,
    InputError,
    InstrumentAlarm,
    InstrumentTimeout,
    ProtocolError,
)
from raphe.simulators.fc203b import SimulatedFC203B


def echoed(command: str) -> list[tuple[bytes, bytes]]:
    return [(b"\n", b"\n")] + [(bytes([b]), bytes([b])) for b in (command + "\r").encode()]


def immediate(command: str, reply: str) -> list[tuple[bytes, bytes]]:
    data = reply.encode()
    out = [bytes([b]) for b in data[:-1]] + [bytes([data[-1] | 0x80])]
    sent = [command.encode()] + [b"\x06"] * (len(data) - 1)
    return list(zip(sent, out, strict=True))


@pytest.fixture
def sim(tmp_path):
    clock = Clock(speed=100)
    simulated = SimulatedFC203B(clock, rack_size=24, directory=str(tmp_path), seconds_per_tube=1.0)
    recorder = WireLog(simulated.device)
    simulated.port.device = recorder
    simulated.start()
    yield simulated, recorder
    simulated.close()


@pytest.fixture
def fc(sim):
    simulated, recorder = sim
    collector = FC203B.from_settings({**simulated.rig_settings(), "poll_interval_s": 0.002})
    recorder.take()
    yield collector
    collector.close()


def test_from_settings_connects_with_the_handshake(sim):
    simulated, recorder = sim
    collector = FC203B.from_settings(simulated.rig_settings())
    try:
        # Connect, then one status and one position read: does this collector answer them?
        assert recorder.take() == [(b"\xff", b""), (b"\x81", b"\x81")] + immediate(
            "S", "RD"
        ) + immediate("X", "000")
        assert collector.reads_position
        assert collector.rack_size == 24
    finally:
        collector.close()


@pytest.mark.parametrize(("parity", "baudrate"), [("E", 19200), ("N", 9600), ("O", 19200)])
def test_line_settings_are_honoured(sim, parity, baudrate):
    simulated, _ = sim
    settings = {**simulated.rig_settings(), "parity": parity, "baudrate": baudrate}
    try:
        collector = FC203B.from_settings(settings)
    except Disconnected:
        # Some kernels refuse PARENB on a pty (others drop it silently).
        assert parity != "N"
        return
    try:
        assert collector.transport.settings["parity"] == parity
        assert collector.transport.settings["baudrate"] == baudrate
        assert collector.read_status().motion == "ready"
    finally:
        collector.close()


def test_defaults_are_the_gsioc_line():
    collector = FC203B("/dev/null", rack_size=24)
    assert collector.transport.settings["parity"] == "E"
    assert collector.transport.settings["baudrate"] == 19200
    assert collector.link.unit_id == 1


def test_identify_bytes(fc, sim):
    _, recorder = sim
    assert fc.identity() == {
        "model": "FC203B",
        "firmware": "2.10",
        "serial": "",
        "reply": "FC203B V2.10",
        "unit_id": "1",
    }
    assert recorder.take() == immediate("%", "FC203B V2.10")


def test_go_to_tube_bytes_and_confirmation(fc, sim):
    simulated, recorder = sim
    fc.go_to_tube(3)
    log = recorder.take()
    assert log[:6] == echoed("T003")
    assert log[-4:] == echoed("V0")
    polls = log[6:-4]
    # Polls are status/position immediates; the last two confirm "ready at tube 3".
    assert polls[-5:] == immediate("S", "RD") + immediate("X", "003")
    assert {sent for sent, _ in polls} <= {b"S", b"X", b"\x06"}
    assert simulated.device.collecting_tube() == 3
    assert fc.current_tube() == 3
    assert fc.status() == "ready at tube 3, collecting"


def test_busy_collector_is_retried_until_ready(fc, sim):
    simulated, recorder = sim
    fc.link.buffered(COMMANDS["go_to_tube"].text.format(tube=20))  # 20 s of travel on the clock
    assert fc.read_status().motion == "moving"  # immediates still work while busy
    recorder.take()
    fc.display("SAMPLE 20", line=1)
    log = recorder.take()
    ready = log.index((b"\n", b"\n"))
    assert ready > 0 and log[:ready] == [(b"\n", b"#")] * ready
    assert log[ready:] == echoed("W1SAMPLE 20")
    assert simulated.device.display_lines[1] == "SAMPLE 20"


def test_to_drain_diverts_then_parks(fc, sim):
    simulated, recorder = sim
    fc.go_to_tube(2)
    recorder.take()
    fc.to_drain()
    log = recorder.take()
    assert log[:4] == echoed("V1")
    assert log[4:11] == echoed("Y0000")
    assert fc.current_tube() is None
    assert simulated.device.drain_valve and simulated.device.position() == 0
    assert fc.status() == "ready at drain, flow to drain"


def test_tube_outside_the_rack_is_refused_before_sending(fc, sim):
    _, recorder = sim
    for tube in (0, 25, -1):
        with pytest.raises(InputError, match=r"1–24"):
            fc.go_to_tube(tube)
    assert recorder.take() == []


def test_rack_end_on_the_instrument_raises_an_alarm(fc, sim):
    simulated, _ = sim
    simulated.device.rack_size = 10  # the rack on the collector is smaller than the rig file says
    with pytest.raises(InstrumentAlarm, match="tube 12 refused"):
        fc.go_to_tube(12)
    assert fc.status().startswith("error")
    fc.go_to_tube(4)  # the next accepted command clears the flag
    assert fc.current_tube() == 4


def test_twelve_timed_tube_changes_each_confirmed(fc, sim):
    simulated, _ = sim
    clock = simulated.device.clock
    arrivals: list[tuple[int, bool, float]] = []
    simulated.device.add_listener(lambda pos, drain, t: arrivals.append((pos, drain, t)))
    start = clock.now()
    interval = 20.0  # s of clock time per fraction
    for k in range(12):
        clock.sleep_until(start + k * interval)
        fc.go_to_tube(k + 1)
        assert fc.current_tube() == k + 1
        assert simulated.device.collecting_tube() == k + 1
    fc.to_drain()
    moves = [(pos, t) for pos, _drain, t in arrivals if pos and not _drain]
    tubes = [pos for pos, _ in moves]
    assert sorted(set(tubes)) == list(range(1, 13))
    assert simulated.device.commands.count("V0") == 12
    assert [c for c in simulated.device.commands if c.startswith("T")] == [
        f"T{n:03d}" for n in range(1, 13)
    ]


def test_no_reply_is_a_timeout_and_the_next_command_recovers(fc, sim):
    simulated, _ = sim
    simulated.port.lose_replies(1)
    with pytest.raises(InstrumentTimeout, match="0.2 s"):
        fc.read_status()
    assert fc.read_status().motion == "ready"


def test_garbage_is_a_protocol_error_and_the_next_command_recovers(fc, sim):
    simulated, _ = sim
    simulated.port.inject_garbage()
    with pytest.raises(ProtocolError):
        fc.read_position()
    assert fc.read_position() == 0


def test_unparsable_status_is_a_protocol_error(fc, sim):
    simulated, _ = sim
    simulated.port.inject_garbage(b"\xbf")  # '?' | 0x80: a valid one-character reply
    with pytest.raises(ProtocolError, match="not \\[RME\\]\\[CD\\]"):
        fc.read_status()
    assert fc.read_status().motion == "ready"


def test_unplug_mid_command_is_disconnected_then_reconnect_works(sim):
    simulated, recorder = sim
    collector = FC203B.from_settings({**simulated.rig_settings(), "timeout_s": 60.0})
    try:
        outcome = unplug_during(simulated.port, recorder, lambda: collector.read_status())
        assert len(outcome) == 1 and isinstance(outcome[0], Disconnected)
        with pytest.raises(Disconnected):
            collector.reconnect()  # still unplugged
        simulated.port.plug()
        collector.reconnect()
        collector.go_to_tube(2)
        assert collector.current_tube() == 2
    finally:
        collector.close()


def test_settings_are_checked():
    assert set(SETTINGS) >= {"port", "baudrate", "parity", "unit_id", "timeout_s", "rack_size"}
    with pytest.raises(InputError, match="rack_size"):
        FC203B.from_settings({"port": "/dev/null"})
    with pytest.raises(InputError, match="colour"):
        FC203B.from_settings({"port": "/dev/null", "rack_size": 24, "colour": 1})
    with pytest.raises(InputError, match="unit_id must be ≤ 63"):
        FC203B.from_settings({"port": "/dev/null", "rack_size": 24, "unit_id": 64})
    with pytest.raises(InputError, match="baudrate must be one of 9600, 19200"):
        FC203B.from_settings({"port": "/dev/null", "rack_size": 24, "baudrate": 38400})
    with pytest.raises(InputError, match="rack_size must be ≥ 1"):
        FC203B.from_settings({"port": "/dev/null", "rack_size": 0})
    with pytest.raises(InputError, match="parity"):
        FC203B.from_settings({"port": "/dev/null", "rack_size": 24, "parity": "X"})
    with pytest.raises(InputError, match="baudrate"):
        FC203B.from_settings({"port": "/dev/null", "rack_size": 24, "baudrate": "fast"})


def test_every_command_letter_lives_in_the_table():
    assert {c.kind for c in COMMANDS.values()} == {"immediate", "buffered"}
    assert all(c.source[:3] in ("[D]", "[C]", "[I]") for c in COMMANDS.values())


@given(st.binary(max_size=20))
def test_reply_parsers_return_a_value_or_protocol_error(data):
    for parser in (parse_status, parse_position, parse_identity):
        try:
            value = parser(decode_immediate(data))
        except ProtocolError:
            continue
        assert value is not None


def test_held_busy_collector_times_out_then_recovers(fc, sim):
    simulated, _ = sim
    fc.link.busy_timeout_s = 0.05
    simulated.device.hold_busy(3600.0)
    with pytest.raises(InstrumentTimeout, match="still busy"):
        fc.go_to_tube(2)
    assert fc.read_status().motion == "moving"
    simulated.device.hold_busy(0.0)
    fc.go_to_tube(2)
    assert fc.current_tube() == 2


def test_rig_file_from_rig_settings_opens_the_simulator(sim):
    simulated, _ = sim
    lines = [f"{key} = {json.dumps(value)}" for key, value in simulated.rig_settings().items()]
    rig = load_rig("[collector]\n" + "\n".join(lines) + "\n", source="sim-rig.toml").connect()
    try:
        assert rig.collector.rack_size == 24
        assert rig.identities()["collector"]["model"] == "FC203B"
    finally:
        rig.close()


# -- a collector that does not know S and X (no public client confirms them) ---------------


@pytest.fixture
def refusing(tmp_path):
    clock = Clock(speed=100)
    simulated = SimulatedFC203B(
        clock, rack_size=24, directory=str(tmp_path), seconds_per_tube=1.0, reads=False
    )
    recorder = WireLog(simulated.device)
    simulated.port.device = recorder
    simulated.start()
    yield simulated, recorder
    simulated.close()


def test_a_collector_refusing_s_and_x_still_collects_with_a_time_based_wait(refusing, caplog):
    simulated, recorder = refusing
    with caplog.at_level("WARNING", logger="raphe.instrument.collector"):
        collector = FC203B.from_settings(simulated.rig_settings())
        try:
            # One status read, answered 0xA3 (unknown): enough to give up on S and X.
            assert recorder.take() == [(b"\xff", b""), (b"\x81", b"\x81"), (b"S", b"\xa3")]
            assert not collector.reads_position
            collector.go_to_tube(3)
            log = recorder.take()
            assert log[:6] == echoed("T003")
            # No reads: the next buffered command waits while the collector answers busy.
            ready = log.index((b"\n", b"\n"), 6)
            assert all(step == (b"\n", b"#") for step in log[6:ready])
            assert log[ready:] == echoed("V0")
            assert simulated.device.collecting_tube() == 3
            assert collector.current_tube() == 3
            assert collector.status() == "sent at tube 3 (not read back), collecting"
            collector.go_to_tube(4)
            collector.to_drain()
            assert recorder.take()[-7:] == echoed("Y0000")
            assert collector.current_tube() is None
            assert simulated.device.drain_valve
        finally:
            collector.close()
    warnings = [r.getMessage() for r in caplog.records if "time-based" in r.getMessage()]
    assert len(warnings) == 1 and "unknown to the instrument" in warnings[0]


def test_reads_lost_mid_run_fall_back_to_the_time_based_wait(fc, sim, caplog):
    simulated, _ = sim
    simulated.device.refuse_reads()
    with caplog.at_level("WARNING", logger="raphe.instrument.collector"):
        fc.go_to_tube(5)
    assert not fc.reads_position
    assert simulated.device.position() == 5 or simulated.device.busy()
    assert fc.current_tube() == 5
    assert sum("time-based" in r.getMessage() for r in caplog.records) == 1


def test_collector_faults_rack_end(fc, sim):
    simulated, _ = sim
    fc.go_to_tube(2)
    simulated.device.rack_end()
    with pytest.raises(InstrumentAlarm, match="tube 3 refused"):
        fc.go_to_tube(3)
    fc.go_to_tube(1)
    assert fc.current_tube() == 1


def test_reconnect_reads_state_again_and_keeps_its_name(fc, sim):
    fc.go_to_tube(2)
    fc.reconnect()
    assert fc.current_tube() == 2
    assert fc.transport.log.name == "raphe.instrument.collector"
