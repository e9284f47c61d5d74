"""The 34465A driver against the stateful SCPI simulator, through pyvisa-py over loopback TCP."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from raphe.clock import Clock
from raphe.drivers.dmm34465a import (
    DMM34465A,
    SETTINGS,
    ScpiError,
    decode_reply,
    parse_error,
    parse_idn,
    parse_points,
    parse_readings,
)
from raphe.errors import (
    Disconnected,
    InputError,
    InstrumentError,
    InstrumentTimeout,
    ProtocolError,
)
from raphe.simulators.dmm34465a import MEMORY_READINGS, DMM34465ADevice, SimulatedDMM34465A
from raphe.simulators.signal import ConstantNoise, Ramp

SLOPE = 1e-4  # V per simulated second: every reading's value identifies its time


@pytest.fixture
def clock() -> Clock:
    return Clock(speed=100.0)


@pytest.fixture
def sim(clock):
    with SimulatedDMM34465A(clock, Ramp(SLOPE)) as server:
        yield server


def connect(sim, clock, **kwargs) -> DMM34465A:
    kwargs.setdefault("timeout_s", 1.0)
    kwargs.setdefault("nplc", 0.2)
    return DMM34465A(sim.resource, session_clock=clock.now, **kwargs)


def sample_times(block, sim, segment_init: float, interval: float, seg_index0: int) -> np.ndarray:
    """Simulator clock time of each sample of ``block`` from its index."""
    return segment_init + (block.index0 - seg_index0 + np.arange(len(block))) * interval


def drain(dmm: DMM34465A, until, pause: float = 0.02) -> list:
    blocks = []
    while not until(blocks):
        block = dmm.read_block()
        if block is not None:
            blocks.append(block)
        time.sleep(pause)
    return blocks


def assert_contiguous(blocks, start: int = 0) -> int:
    index = start
    for block in blocks:
        assert block.index0 == index
        index += len(block)
    return index


# -- wire traffic -------------------------------------------------------------------------
def test_configuration_start_stop_send_exactly_these_commands(sim, clock):
    with connect(sim, clock, range_V=1.0, nplc=1.0) as dmm:
        dmm.configure(0.1, 50.0)
        dmm.start(0.0)
        dmm.stop()
        dmm.check_errors("end")  # a round trip: everything before it has been received
    assert sim.received == [
        "*IDN?",
        "*RST",
        "*CLS",
        "CONF:VOLT:DC 1",
        "VOLT:DC:NPLC 1",
        "TRIG:SOUR IMM",
        "SAMP:SOUR TIM",
        "SAMP:TIM 0.1",
        "SAMP:COUN 1000000",
        "SYST:ERR?",
        "ABOR",
        "INIT",
        "ABOR",
        "SYST:ERR?",
    ]


def test_read_block_drains_with_points_then_remove(sim, clock):
    with connect(sim, clock) as dmm:
        dmm.configure(0.01, 1.0)
        dmm.start(0.0)
        blocks = drain(dmm, lambda b: len(b) >= 1)
        n = len(blocks[0])
    tail = sim.received[sim.received.index("INIT") + 1 :]
    assert f"DATA:REM? {n}" in tail
    removes = [c for c in tail if c.startswith("DATA:REM?")]
    assert all(tail[tail.index(c) - 1] == "DATA:POIN?" for c in removes)


def test_identity_comes_from_idn(sim, clock):
    with connect(sim, clock) as dmm:
        assert dmm.identity() == {
            "model": "34465A",
            "serial": "MY59001234",
            "firmware": "A.03.03-03.15-03.03-00.52-03-02",
        }


# -- streaming ------------------------------------------------------------------------------
def test_one_simulated_hour_at_10_hz_loses_and_duplicates_nothing():
    clock = Clock(speed=720.0)  # one hour in five seconds
    with SimulatedDMM34465A(clock, Ramp(SLOPE)) as sim, connect(sim, clock) as dmm:
        dmm.configure(0.1, 2.0)
        dmm.start(clock.now())
        blocks = drain(dmm, lambda b: sum(map(len, b)) >= 36_000, pause=0.05)
        dmm.stop()
        t_init = sim.device.init_times[0]
    assert assert_contiguous(blocks) >= 36_000
    values = np.concatenate([b.values for b in blocks])[:36_000]
    assert not np.isnan(values).any()
    # The ramp turns each value back into the index of the sample that produced it.
    k = (values / 2.0 / SLOPE - t_init) / 0.1
    np.testing.assert_allclose(k, np.arange(36_000), atol=0.01)
    # Times come from the index: one block's t0 continues the previous one exactly.
    for a, b in itertools.pairwise(blocks):
        assert b.t0 == pytest.approx(a.t0 + len(a) * a.dt, abs=1e-9)
    assert dmm.alignment.index0 == 0 and dmm.alignment.wall_time > 1e9


def test_rearms_when_the_sample_count_runs_out(sim, clock):
    with connect(sim, clock, samples_per_run=300) as dmm:
        dmm.configure(0.01, 1.0)
        dmm.start(clock.now())
        blocks = drain(dmm, lambda b: len(dmm.segments) >= 4)
        dmm.stop()
        segments = list(dmm.segments)
    total = assert_contiguous(blocks)
    assert total == 900 and sim.device.readings_taken >= 900
    assert [s.index0 for s in segments[:4]] == [0, 300, 600, 900]
    inits = sim.device.init_times
    values = np.concatenate([b.values for b in blocks])
    for n, seg in enumerate(segments[:3]):
        run = values[seg.index0 : seg.index0 + 300]
        k = (run / SLOPE - inits[n]) / 0.01
        np.testing.assert_allclose(k, np.arange(300), atol=0.01)
        assert seg.t0 <= inits[n]  # the segment's t0 is read before its INIT is sent


def test_overload_is_nan_with_mask_never_a_number(sim, clock):
    class Steps:
        def volts(self, t):
            return np.where(t % 4 < 1, 2.0, np.where(t % 4 < 2, -2.0, 0.5))

    sim.device.source = Steps()
    with connect(sim, clock, range_V=1.0) as dmm:
        dmm.configure(0.05, 10.0)
        dmm.start(clock.now())
        dmm.check_errors("start")  # a round trip: INIT has been executed
        t_init = sim.device.init_times[-1]
        sim.force_overload(t_init + 10.0, t_init + 11.0)
        blocks = drain(dmm, lambda b: sum(map(len, b)) >= 300)
    values = np.concatenate([b.values for b in blocks])
    mask = np.concatenate([b.overload for b in blocks])
    t = t_init + np.arange(len(values)) * 0.05
    expected = (t % 4 < 2) | ((t >= t_init + 10.0) & (t < t_init + 11.0))
    np.testing.assert_array_equal(mask, expected)
    assert np.isnan(values[mask]).all()
    np.testing.assert_allclose(values[~mask], 5.0)
    assert any(b.saturated for b in blocks)


def test_memory_overflow_is_reported_not_hidden(sim, clock):
    with connect(sim, clock, nplc=0.02) as dmm:
        dmm.configure(0.001, 1.0)
        dmm.start(clock.now())
        clock.sleep(MEMORY_READINGS * 0.001 * 1.2)  # more than memory holds
        with pytest.raises(InstrumentError, match="overflowed"):
            dmm.read_block()


# -- failure paths --------------------------------------------------------------------------
def test_no_reply_is_a_timeout_and_a_late_reply_is_not_taken_for_the_next(sim, clock):
    with connect(sim, clock, timeout_s=0.3) as dmm:
        sim.lose_replies(1)
        t = time.monotonic()
        with pytest.raises(InstrumentTimeout, match="0.3 s"):
            dmm.check_errors("probe")
        assert time.monotonic() - t >= 0.3
        sim.slow_replies(0.5)  # the reply comes after the timeout...
        with pytest.raises(InstrumentTimeout):
            dmm.check_errors("probe")
        sim.slow_replies(0.0)
        time.sleep(0.3)
        sim.device.handle("FOO")  # ...so the next query must see this error, not "+0"
        with pytest.raises(ScpiError, match="-113"):
            dmm.check_errors("probe")


@pytest.mark.parametrize("garbage", [b"\xff\xfe\x00", b"#junk", b"12,abc", b"1e3"])
def test_garbage_to_points_is_a_protocol_error(sim, clock, garbage):
    with connect(sim, clock) as dmm:
        dmm.configure(0.01, 1.0)
        dmm.start(clock.now())
        sim.garbage_replies(garbage)
        with pytest.raises(ProtocolError):
            dmm.read_block()


def assert_times_exact(blocks, t_init: float) -> None:
    """Each reading's value is its instrument time: its index must say the same time."""
    for block in blocks:
        k = (block.values / SLOPE - t_init) / block.dt
        np.testing.assert_allclose(k, block.index0 + np.arange(len(block)), atol=0.01)


def test_a_garbled_transfer_skips_exactly_the_readings_it_removed(sim, clock):
    """``DATA:REM?`` was carried out and its reply garbled: those readings are gone from the
    instrument. The index skips exactly them (a gap of their span); the run goes on."""
    with connect(sim, clock) as dmm:
        dmm.configure(0.01, 1.0)
        dmm.start(clock.now())
        first = drain(dmm, lambda b: len(b) >= 1)
        time.sleep(0.05)
        sim.garbage_replies(b"+1.0,nope", to="DATA:REM?")
        with pytest.raises(ProtocolError):
            dmm.read_block()
        rest = drain(dmm, lambda b: len(b) >= 2)
        assert len(dmm.segments) == 1  # no re-arm: what the memory holds is kept
        t_init = sim.device.init_times[-1]
    removed = [c for c in sim.received if c.startswith("DATA:REM?")][len(first)]
    skipped = rest[0].index0 - (first[-1].index0 + len(first[-1]))
    assert skipped == int(removed.split()[1]) > 0
    assert_times_exact(first + rest, t_init)


def test_a_transfer_the_instrument_never_saw_loses_nothing(sim, clock):
    """The link failed as ``DATA:REM?`` was sent, before the instrument carried it out: the
    readings are still in its memory and the stream goes on without a gap."""
    with connect(sim, clock, timeout_s=30.0) as dmm:
        dmm.configure(0.01, 1.0)
        dmm.start(clock.now())
        first = drain(dmm, lambda b: len(b) >= 1)
        time.sleep(0.05)
        sim.drop_on_next_command(to="DATA:REM?")
        with pytest.raises(Disconnected):
            dmm.read_block()
        dmm.reconnect()
        rest = drain(dmm, lambda b: len(b) >= 2)
        t_init = sim.device.init_times[-1]
    assert_contiguous(first + rest)
    assert_times_exact(first + rest, t_init)


def test_dropped_connection_is_disconnected_at_once_and_reconnect_resumes(sim, clock):
    # A 30 s timeout: only detecting the closed socket itself can raise Disconnected here.
    with connect(sim, clock, timeout_s=30.0) as dmm:
        dmm.configure(0.01, 1.0)
        dmm.start(clock.now())
        before = drain(dmm, lambda b: len(b) >= 2)
        sim.drop_on_next_command()
        with pytest.raises(Disconnected):
            dmm.read_block()
        with pytest.raises(Disconnected):
            dmm.read_block()
        dmm.reconnect()
        after = drain(dmm, lambda b: len(b) >= 2)
        assert len(dmm.segments) == 1  # configuration intact: the same run goes on
        t_init = sim.device.init_times[-1]
    blocks = before + after
    assert_contiguous(blocks)
    values = np.concatenate([b.values for b in blocks])
    k = (values / SLOPE - t_init) / 0.01
    np.testing.assert_allclose(k, np.arange(len(values)), atol=0.01)
    assert sim.connections == 2


def test_reconnect_to_a_reset_instrument_configures_and_rearms(sim, clock):
    with connect(sim, clock) as dmm:
        dmm.configure(0.01, 1.0)
        dmm.start(clock.now())
        drain(dmm, lambda b: len(b) >= 1)
        sim.device.handle("*RST")
        sim.drop_connection()
        dmm.reconnect()
        assert len(dmm.segments) == 2
        dmm.check_errors("end")
        assert sim.received[-3:] == ["SYST:ERR?", "INIT", "SYST:ERR?"]
        assert sim.device.handle("SAMP:COUN?") == "+1000000"


def test_unreachable_instrument_is_disconnected(clock):
    sim = SimulatedDMM34465A(clock).start()
    resource = sim.resource
    sim.close()
    with pytest.raises(Disconnected, match="cannot open"):
        DMM34465A(resource, timeout_s=0.5)


def test_instrument_rejections_name_the_scpi_error(sim, clock):
    with connect(sim, clock, nplc=0.001) as dmm:  # 0.001 PLC needs the DIG option
        with pytest.raises(ScpiError, match='-222,"Data out of range"') as err:
            dmm.configure(0.1, 1.0)
        assert err.value.errors == [(-222, "Data out of range")]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"interval_s": 0.0, "scale_nA_per_V": 1.0}, "interval_s"),
        ({"interval_s": 0.01, "scale_nA_per_V": 1.0}, "integration time"),
        ({"interval_s": 0.1, "scale_nA_per_V": 0.0}, "scale_nA_per_V"),
    ],
)
def test_bad_configuration_is_an_input_error(sim, clock, kwargs, match):
    with connect(sim, clock, nplc=1.0) as dmm, pytest.raises(InputError, match=match):
        dmm.configure(**kwargs)


# -- rig file -------------------------------------------------------------------------------
def test_from_settings_uses_the_simulators_rig_settings(sim, clock):
    settings = sim.rig_settings()
    assert settings["driver"] == "dmm34465a"
    for key, setting in SETTINGS.items():
        assert setting.description
        if key in settings:
            assert isinstance(settings[key], setting.type)
    with DMM34465A.from_settings(settings) as dmm:
        assert dmm.interval_s == 0.1 and dmm.scale_nA_per_V == 1.0
    with pytest.raises(InputError, match="resource"):
        DMM34465A.from_settings({"scale_nA_per_V": 1.0})


# -- simulator ------------------------------------------------------------------------------
def test_simulator_accepts_short_long_and_any_case():
    dev = DMM34465ADevice(Clock(speed=1.0))
    for line in ("SAMP:COUN 7", "sample:count 7", "SAMPle:COUNt 7", ":Samp:Coun 7"):
        dev.handle("SAMP:COUN 1")
        assert dev.handle(line) is None
        assert dev.handle("SAMP:COUN?") == "+7"
    assert dev.handle("DATA:POINTS?") == dev.handle("data:poin?") == "+0"
    assert dev.handle("SENSe:VOLTage:DC:NPLCycles 10;VOLT:NPLC?") == "+1.00000000E+01"
    assert dev.handle("SYSTem:ERRor:NEXT?") == '+0,"No error"'
    dev.handle("SAMP:COUNTS 3")
    dev.handle("SAMP:COUN 0")
    assert dev.handle("SYST:ERR?") == '-113,"Undefined header"'
    assert dev.handle("SYST:ERR?") == '-222,"Data out of range"'
    assert dev.handle("SYST:ERR?") == '+0,"No error"'


def test_simulator_memory_overwrites_oldest_and_flags_overflow():
    clock = Clock(speed=1000.0)
    dev = DMM34465ADevice(clock, Ramp(1.0))
    for line in ("CONF:VOLT:DC 1000", "SAMP:SOUR TIM", "SAMP:TIM 0.001", "SAMP:COUN 60000", "INIT"):
        dev.handle(line)
    clock.sleep_until(dev.t_init + 60.0)
    assert dev.handle("DATA:POIN?") == f"+{MEMORY_READINGS}"
    assert int(dev.handle("STAT:QUES:COND?")) & (1 << 14)
    first = float(dev.handle("DATA:REM? 1"))
    assert first == pytest.approx(dev.t_init + 10_000 * 0.001, abs=1e-6)  # oldest 10,000 gone
    assert dev.handle("SYST:ERR?") == '+0,"No error"'  # overflow queues no error
    dev.handle("INIT")  # clears memory: only readings taken since remain
    assert int(dev.handle("DATA:POIN?")) < 10_000
    assert float(dev.handle("DATA:REM? 1")) == pytest.approx(dev.t_init, abs=1e-6)


def test_constant_noise_is_reproducible_and_has_its_rms():
    src = ConstantNoise(0.25, 0.01, seed=3)
    t = np.arange(20_000) * 0.1
    v = src.volts(t)
    np.testing.assert_array_equal(v[100:200], src.volts(t[100:200]))
    assert abs(v.mean() - 0.25) < 0.001 and 0.009 < v.std() < 0.011
    assert not np.array_equal(v, ConstantNoise(0.25, 0.01, seed=4).volts(t))


# -- reply parsers: a value or ProtocolError, never anything else ---------------------------
PARSERS = [parse_idn, parse_error, parse_points, parse_readings]


@pytest.mark.parametrize("parser", PARSERS)
@given(raw=st.binary(max_size=200))
def test_parsers_take_any_bytes(parser, raw):
    try:
        parser(decode_reply(raw))
    except ProtocolError:
        pass


@pytest.mark.parametrize("parser", PARSERS)
@given(text=st.text(max_size=200))
def test_parsers_take_any_text(parser, text):
    try:
        parser(text)
    except ProtocolError:
        pass


@given(text=st.text(alphabet="0123456789+-.,eE#", max_size=80))
def test_readings_parser_on_number_like_text(text):
    try:
        out = parse_readings(text)
    except ProtocolError:
        return
    assert out.dtype == np.float64 and len(out) == (text.strip().count(",") + 1 if out.size else 0)


@given(values=st.lists(st.floats(-1e3, 1e3), max_size=50))
def test_readings_round_trip(values):
    text = ",".join(f"{v:+.9E}" for v in values)
    np.testing.assert_allclose(parse_readings(text), values, rtol=1e-9, atol=1e-300)
    block = f"#{len(str(len(text)))}{len(text)}{text}"
    np.testing.assert_allclose(parse_readings(block), values, rtol=1e-9, atol=1e-300)


@given(code=st.integers(-999, 999), message=st.text(alphabet="abc XYZ-", max_size=30))
def test_error_round_trip(code, message):
    assert parse_error(f'{code:+d},"{message}"') == (code, message)


@given(n=st.integers(0, 2_000_000))
def test_points_round_trip(n):
    assert parse_points(f"{n:+d}") == n


def test_traffic_is_logged_at_debug(sim, clock, caplog):
    with caplog.at_level("DEBUG", logger="raphe.instrument.detector"), connect(sim, clock):
        pass
    lines = [r.getMessage() for r in caplog.records if r.name == "raphe.instrument.detector"]
    assert "> *IDN?" in lines
    assert any(line.startswith("< b'Keysight Technologies,34465A") for line in lines)


def test_malformed_resource_is_an_input_error():
    with pytest.raises(InputError, match="bad VISA resource 'LAN::dmm'"):
        DMM34465A("LAN::dmm")


def test_rig_file_with_the_simulators_settings_connects_a_configured_detector(sim, clock):
    from raphe.drivers.rig import load_rig

    lines = ["[detector]"]
    for key, value in sim.rig_settings().items():
        lines.append(f"{key} = {value!r}".replace("'", '"'))
    config = load_rig("\n".join(lines), source="rig.toml")
    rig = config.connect()
    try:
        assert isinstance(rig.detector, DMM34465A)
        assert rig.detector.interval_s == 0.1
        assert rig.identities()["detector"]["model"] == "34465A"
    finally:
        rig.close()


def test_simulator_listens_on_loopback_only(sim):
    assert sim._server.getsockname() == ("127.0.0.1", sim.port)
    assert sim.resource == f"TCPIP::127.0.0.1::{sim.port}::SOCKET"
