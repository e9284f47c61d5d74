"""GSIOC link layer against the simulated slave, byte for byte over a real pty."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wire_helpers import WireLog

from raphe.drivers.gsioc import GSIOCLink, UnknownCommand, decode_immediate
from raphe.drivers.transport import SerialTransport
from raphe.errors import InstrumentTimeout, ProtocolError
from raphe.simulators.gsioc import GSIOCSlave
from raphe.simulators.pty_port import PtyPort


class Slave(GSIOCSlave):
    """A minimal unit: identifies, answers ``S`` with ``status``, busy ``busy_left`` times."""

    def __init__(self, unit_id: int = 1) -> None:
        super().__init__(unit_id)
        self.status = "RC"
        self.busy_left = 0
        self.commands: list[str] = []

    def identify(self) -> str:
        return "FC203B V2.10"

    def immediate(self, command: str) -> str | None:
        return self.status if command == "S" else None

    def busy(self) -> bool:
        if self.busy_left:
            self.busy_left -= 1
            return True
        return False

    def buffered(self, command: str) -> None:
        self.commands.append(command)


def acked(text: str) -> list[tuple[bytes, bytes]]:
    """Host ACKs after the first character; the last character carries bit 7."""
    data = text.encode()
    out = []
    for i, byte in enumerate(data):
        reply = bytes([byte | 0x80]) if i == len(data) - 1 else bytes([byte])
        out.append(reply)
    return out


def buffered_bytes(command: str) -> list[tuple[bytes, bytes]]:
    return [(bytes([b]), bytes([b])) for b in (command + "\r").encode()]


@pytest.fixture
def rig(tmp_path):
    slave = Slave()
    recorder = WireLog(slave)
    port = PtyPort(recorder, "gsioc", str(tmp_path)).start()
    transport = SerialTransport(port.path, name="gsioc-test", timeout=0.2)
    transport.open()
    link = GSIOCLink(transport, 1, char_timeout_s=0.2, busy_timeout_s=2.0, poll_interval_s=0.001)
    yield slave, recorder, port, link
    transport.close()
    port.close()


def test_connect_sends_disconnect_then_address_and_reads_the_echo(rig):
    slave, recorder, _port, link = rig
    link.connect()
    assert recorder.take() == [(b"\xff", b""), (b"\x81", b"\x81")]
    assert slave.selected


def test_immediate_acks_every_character_and_stops_at_bit_7(rig):
    _slave, recorder, _port, link = rig
    link.connect()
    recorder.take()
    assert link.immediate("%") == "FC203B V2.10"
    replies = acked("FC203B V2.10")
    sent = [b"%"] + [b"\x06"] * (len(replies) - 1)
    assert recorder.take() == list(zip(sent, replies, strict=True))


def test_single_character_reply_needs_no_ack(rig):
    slave, recorder, _port, link = rig
    slave.status = "M"
    link.connect()
    recorder.take()
    assert link.immediate("S") == "M"
    assert recorder.take() == [(b"S", b"\xcd")]


def test_buffered_command_echoes_every_byte_then_runs(rig):
    slave, recorder, _port, link = rig
    link.connect()
    recorder.take()
    link.buffered("T005")
    assert recorder.take() == [(b"\n", b"\n"), *buffered_bytes("T005")]
    assert slave.commands == ["T005"]


def test_busy_slave_answers_hash_and_the_master_sends_lf_again(rig):
    slave, recorder, _port, link = rig
    link.connect()
    recorder.take()
    slave.busy_left = 3
    link.buffered("V1")
    assert recorder.take() == [(b"\n", b"#")] * 3 + [(b"\n", b"\n"), *buffered_bytes("V1")]
    assert slave.commands == ["V1"]


def test_busy_beyond_the_timeout_is_an_instrument_timeout(rig):
    slave, _recorder, _port, link = rig
    link.busy_timeout_s = 0.05
    slave.busy_left = 10**9
    with pytest.raises(InstrumentTimeout, match="still busy"):
        link.buffered("V1")
    assert slave.commands == []


def test_unknown_immediate_is_its_own_error_and_the_link_stays_in_step(rig):
    _slave, recorder, _port, link = rig
    link.connect()
    recorder.take()
    with pytest.raises(UnknownCommand, match="unknown"):
        link.immediate("Q")
    assert recorder.take() == [(b"Q", b"\xa3")]
    # 0xA3 is a complete exchange: no re-synchronisation is needed before the next one.
    assert link.immediate("S") == "RC"
    assert recorder.take() == [(b"S", b"R"), (b"\x06", b"\xc3")]


def test_a_garbled_immediate_reply_resyncs_the_link(rig):
    _slave, recorder, port, link = rig
    link.connect()
    recorder.take()
    port.inject_garbage(b"\x01")
    with pytest.raises(ProtocolError, match="non-printable"):
        link.immediate("S")
    recorder.take()
    assert link.immediate("S") == "RC"
    assert recorder.take() == [(b"\xff", b""), (b"\x81", b"\x81"), (b"S", b"R"), (b"\x06", b"\xc3")]


def test_silent_unit_is_addressed_three_times_then_times_out(tmp_path):
    recorder = WireLog(Slave(unit_id=5))
    port = PtyPort(recorder, "gsioc", str(tmp_path)).start()
    transport = SerialTransport(port.path, name="gsioc-test", timeout=0.05)
    transport.open()
    try:
        with pytest.raises(InstrumentTimeout, match="connect to unit 6"):
            GSIOCLink(transport, 6, char_timeout_s=0.05).connect()
        assert recorder.take() == [(b"\xff", b""), (b"\x86", b"")] * 3
    finally:
        transport.close()
        port.close()


def test_slave_state_machine_rules():
    slave = Slave(unit_id=1)
    assert slave.receive(b"S") == b""  # not addressed yet
    assert slave.receive(b"\xff\x81") == b""  # address too soon after 0xFF: ignored
    slave._disconnect_at = float("-inf")
    assert slave.receive(b"\x81") == b"\x81"
    assert slave.receive(b"%") == b"F"
    assert slave.receive(b"S") == b"R"  # a new command abandons the pending reply
    assert slave.receive(b"\x82") == b""  # another unit addressed: this one lets go
    assert slave.receive(b"S") == b""


def test_the_gap_after_0xff_counts_from_the_earliest_moment_it_can_have_arrived():
    slave = Slave(unit_id=1)
    slave.arrived_after = time.monotonic()  # the port saw the line empty just now
    assert slave.receive(b"\xff\x81") == b""  # both came within the same instant: too soon
    slave.arrived_after = time.monotonic() - 0.05  # read together, but may have come 50 ms apart
    assert slave.receive(b"\xff\x81") == b"\x81"


class Stalling(Slave):
    """Stalls its serving thread on ``Z``, as a simulator starved of CPU does."""

    def __init__(self) -> None:
        super().__init__()
        self.stalled = threading.Event()

    def receive(self, data: bytes) -> bytes:
        if data.startswith(b"Z"):
            self.stalled.set()
            time.sleep(0.3)
            data = data[1:]
        return super().receive(data)


def test_a_stalled_simulator_answers_a_host_that_waited_after_0xff(tmp_path):
    # The host's 0xFF, its 25 ms wait and its address all reach the line while the
    # simulator's thread is stalled, so it reads them in one chunk: the port's window
    # shows they may have come apart, and the unit answers as a real one would.
    slave = Stalling()
    port = PtyPort(slave, "gsioc", str(tmp_path)).start()
    transport = SerialTransport(port.path, name="gsioc-test", timeout=1.0)
    transport.open()
    try:
        transport.write(b"Z")
        assert slave.stalled.wait(10)
        GSIOCLink(transport, 1, char_timeout_s=2.0).connect(attempts=1)
        assert slave.selected
    finally:
        transport.close()
        port.close()


def test_bad_command_text_is_refused_before_anything_is_sent(rig):
    _slave, recorder, _port, link = rig
    link.connect()
    recorder.take()
    with pytest.raises(ValueError):
        link.immediate("ST")
    with pytest.raises(ValueError):
        link.buffered("T\r5")
    assert recorder.take() == []


@given(st.binary(max_size=80))
def test_decode_immediate_returns_text_or_protocol_error(data):
    try:
        text = decode_immediate(data)
    except ProtocolError:
        return
    assert data[-1] & 0x80 and len(text) == len(data)
    assert all(0x20 <= ord(c) <= 0x7E for c in text)


class Scripted(GSIOCSlave):
    """Answers the connect handshake properly, then every byte with the next scripted byte."""

    def __init__(self) -> None:
        super().__init__(1, min_connect_gap_s=0.0)
        self.script = b""

    def _byte(self, byte: int) -> bytes:
        if byte in (0xFF, 0x81):
            return super()._byte(byte)
        head, self.script = self.script[:1], self.script[1:]
        return head


@pytest.fixture(scope="module")
def scripted(tmp_path_factory):
    device = Scripted()
    port = PtyPort(device, "gsioc", str(tmp_path_factory.mktemp("gsioc"))).start()
    transport = SerialTransport(port.path, name="gsioc-fuzz", timeout=0.03)
    transport.open()
    link = GSIOCLink(transport, 1, char_timeout_s=0.03, busy_timeout_s=0.05, poll_interval_s=0.001)
    yield device, link
    transport.close()
    port.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reply=st.binary(max_size=12), buffered=st.booleans())
def test_arbitrary_replies_over_the_wire_give_a_reply_or_a_typed_error(scripted, reply, buffered):
    device, link = scripted
    link.invalidate()
    device.script = reply
    try:
        result = link.buffered("V0") if buffered else link.immediate("S")
    except (ProtocolError, InstrumentTimeout):
        return
    if buffered:
        assert reply.lstrip(b"#").startswith(b"\nV0\r")
    else:
        assert result == decode_immediate(reply[: len(result)])
