"""The 34465A driver against the stateful SCPI simulator, through pyvisa-py over loopback TCP."""

from __future__ import annotations

import itertools
import random
import threading
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from raphe.clock import Clock
from raphe.drivers import dmm34465a as driver
from raphe.drivers.dmm34465a import (
    DMM34465A,
    SETTINGS,
    ScpiError,
    TimeBase,
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
from raphe.simulators.dmm34465a import (
    MEMORY_READINGS,
    SET_LATENCY_S,
    DMM34465ADevice,
    SimulatedDMM34465A,
)
from raphe.simulators.signal import ConstantNoise, Ramp

SLOPE = 1e-4  # V per simulated second: every reading's value identifies its time


@pytest.fixture
def clock() -> Clock:
    return Clock(speed=100.0)


class ManualClock:
    """Session time that moves only when a test says so (shared by simulator and driver):
    the bracket around each ``DATA:POIN?`` is exact and every stall lasts what it says."""

    speed = 1.0

    def __init__(self, t: float = 100.0) -> None:
        self.t = float(t)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self.t

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.t += seconds

    def sleep(self, seconds: float) -> None:
        self.advance(max(seconds, 0.0))

    def sleep_until(self, t: float, stop=None) -> bool:
        with self._lock:
            self.t = max(self.t, t)
        return True

    def real_seconds(self, seconds: float) -> float:
        return seconds


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
        "TRIG:COUN INF",  # the DMM re-arms itself after every set: continuous acquisition
        "TRIG:DEL 0.08",  # 0.1 s interval - 20 ms integration: the grid goes on across sets
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
    # One block's t0 continues the previous one: never a hole, never a step of half an
    # interval (the time base moves by less than that when it follows the bracket).
    assert not dmm.holes and len(sim.device.init_times) == 1
    for a, b in itertools.pairwise(blocks):
        assert abs(b.t0 - (a.t0 + len(a) * a.dt)) < 0.5 * a.dt
    assert dmm.alignment.index0 == 0 and dmm.alignment.wall_time > 1e9


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
        dmm.reconnect()  # what the recorder does next: a new segment, from its own INIT
        assert len(dmm.segments) == 2 and dmm.segments[1].index0 == 0
        blocks = drain(dmm, lambda b: len(b) >= 2)
    assert_contiguous(blocks)


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
        assert sim.received[-3:] == ["ABOR", "INIT", "SYST:ERR?"]
        assert sim.device.handle("SAMP:COUN?") == "+1000000"
        assert sim.device.handle("TRIG:COUN?") == "+9.90000000E+37"


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


# -- the time base: the DMM's count against the session clock --------------------------------
DT = 0.1


def manual_dmm(sim, clock, **kwargs) -> DMM34465A:
    kwargs.setdefault("range_V", 10.0)  # the ramp stays in range for 10^5 s
    return connect(sim, clock, **kwargs)


def drain_now(dmm: DMM34465A, blocks: list) -> None:
    """What the recorder does each cycle: up to four reads, until one brings nothing."""
    for _ in range(4):
        block = dmm.read_block()
        if block is None:
            return
        blocks.append(block)


def poll(dmm, clock: ManualClock, rng: random.Random, n: int, blocks: list,
         step: tuple[float, float] = (0.13, 0.37)) -> None:
    for _ in range(n):
        clock.advance(rng.uniform(*step))
        drain_now(dmm, blocks)


def timing_errors(blocks) -> np.ndarray:
    """Each reading's time minus the time the simulator took it (the ramp's value), in
    intervals."""
    if not blocks:
        return np.empty(0)
    return np.concatenate([(b.times - b.values / SLOPE) / b.dt for b in blocks])


def true_hole(blocks) -> int:
    """Readings the simulator never took: the longest step between consecutive readings."""
    t = np.concatenate([b.values / SLOPE for b in blocks])
    return round(float(np.diff(t).max()) / DT) - 1


@pytest.mark.parametrize("spanning", [False, True], ids=["between-polls", "over-polls"])
@pytest.mark.parametrize("intervals", [1, 3, 10])
def test_a_stall_skips_exactly_the_readings_lost_and_times_what_follows(intervals, spanning):
    """A stalled ADC delivers nothing for a while, then readings resume on the same grid:
    the index skips exactly the readings never taken, the recorder sees a block starting
    that much late (a gap), and every reading after the hole is timed within half an
    interval of when it was taken.

    Where in a block the hole lies cannot be known: a stall between two polls puts it at
    the start of the next block, so the few readings taken before the stall in that block
    are timed after it. A stall seen over several polls releases the readings taken before
    it first: then every reading is timed right. A single lost reading may look like none
    at the first poll after it (the bracket cannot tell): the readings drained then are
    early by it, and it is skipped at the next poll or so."""
    for seed in range(6):
        rng = random.Random(1000 * intervals + 10 * seed + spanning)
        clock = ManualClock(rng.uniform(50.0, 500.0))
        with SimulatedDMM34465A(clock, Ramp(SLOPE)) as sim, manual_dmm(sim, clock) as dmm:
            dmm.configure(DT, 1.0)
            dmm.start(clock.now())
            blocks: list = []
            poll(dmm, clock, rng, rng.randrange(40, 160), blocks)
            n_before = len(blocks)
            t_poll = clock.now()
            clock.advance(rng.uniform(0.0, 0.2) if not spanning else 0.0)
            t_stall = clock.now()
            sim.stall()
            if spanning:  # polled while stalled: ~every 0.06 s, whatever the length
                steps = max(intervals * 10 // 6, 2)
                for _ in range(steps):
                    clock.advance(intervals * DT / steps)
                    drain_now(dmm, blocks)
            else:
                clock.advance(intervals * DT)
            sim.resume()
            t_resume = clock.now()
            poll(dmm, clock, rng, 40, blocks)
            incidents = dmm.take_incidents()
        assert len(dmm.holes) == 1, (seed, list(dmm.holes))
        hole = dmm.holes[0]
        assert hole.n == true_hole(blocks) and abs(hole.n - intervals) <= 1, (seed, hole)
        assert len(incidents) == 1 and "lost" in incidents[0]
        before = [b for b in blocks if b.index0 < hole.index]
        after = [b for b in blocks if b.index0 >= hole.index + hole.n]
        assert len(before) + len(after) == len(blocks)
        assert_contiguous(before)
        assert after[0].index0 == hole.index + hole.n
        gap = after[0].t0 - (before[-1].t0 + len(before[-1]) * DT)
        assert gap > 0.5 * DT and abs(gap - hole.n * DT) < 0.5 * DT  # what the recorder sees
        # After the hole: right, but for readings taken before the stall (no later than the
        # poll before it) in the first block.
        taken = np.concatenate([b.values / SLOPE for b in after])
        err = timing_errors(after)
        early = taken < t_stall
        assert np.all(np.abs(err[~early]) < 0.5), (seed, np.abs(err[~early]).max())
        assert np.all(taken[early] > t_poll) and (not spanning or not early.any())
        assert early.sum() <= len(after[0]) and np.all(taken[~early] > t_resume - DT)
        # Before it: right, but for readings taken after the stall and drained before the
        # loss was seen (only when one reading was lost, within two polls)
        taken = np.concatenate([b.values / SLOPE for b in before[5:]])
        err = timing_errors(before[5:])
        unseen = taken > t_stall
        assert np.all(np.abs(err[~unseen]) < 0.5)
        assert np.all(np.abs(err[unseen] + hole.n) < 0.5)
        assert not unseen.any() or (hole.n == 1 and len(before) - n_before <= 8)


def test_a_stall_of_minutes_that_lasts_a_moment_is_a_gap_not_a_fault():
    """Five minutes of session time without a reading (a second of real time at 300×) is
    lost readings, not a DMM that stopped: one hole, no error, acquisition goes on."""
    rng = random.Random(7)
    clock = ManualClock(200.0)
    with SimulatedDMM34465A(clock, Ramp(SLOPE)) as sim, manual_dmm(sim, clock) as dmm:
        dmm.configure(DT, 1.0)
        dmm.start(clock.now())
        blocks: list = []
        poll(dmm, clock, rng, 400, blocks)  # 100 s: the DMM's drift is known from then on
        sim.stall()
        poll(dmm, clock, rng, 60, blocks, step=(4.0, 6.0))  # ~300 s, polled as at 300×
        sim.resume()
        poll(dmm, clock, rng, 60, blocks)
    (hole,) = dmm.holes
    assert abs(hole.n - true_hole(blocks)) <= 1 and 2_800 < hole.n < 3_300
    after = [b for b in blocks if b.index0 > hole.index]
    assert np.all(np.abs(timing_errors(after)) < 0.5)  # readings before it were released
    assert np.all(np.abs(timing_errors(blocks[5:])) < 0.5)


def test_a_long_run_without_a_stall_skips_nothing_and_stays_on_time():
    rng = random.Random(3)
    clock = ManualClock(30.0)
    with SimulatedDMM34465A(clock, Ramp(SLOPE)) as sim, manual_dmm(sim, clock) as dmm:
        dmm.configure(DT, 1.0)
        dmm.start(clock.now())
        blocks: list = []
        poll(dmm, clock, rng, 3000, blocks, step=(0.1, 3.0))
    assert not dmm.holes and dmm.readings_lost == 0
    assert assert_contiguous(blocks) > 40_000 and len(sim.device.init_times) == 1
    assert np.all(np.abs(timing_errors(blocks[5:])) < 0.5)
    for a, b in itertools.pairwise(blocks):
        assert abs(b.t0 - (a.t0 + len(a) * DT)) < 0.5 * DT


@pytest.mark.parametrize("ppm", [-900.0, -50.0, 50.0, 900.0])
def test_the_dmms_timer_drifting_against_the_host_clock_never_makes_a_gap(ppm, caplog):
    """A DMM whose timer runs ``ppm`` fast or slow against the session clock accumulates
    whole intervals over hours (90 readings in 3 h at 900 ppm): the time base follows it in
    steps of less than half an interval, never a hole, and every reading stays timed when
    it was taken (within the bracket's uncertainty)."""
    rng = random.Random(int(ppm))
    clock = ManualClock(10.0)
    with SimulatedDMM34465A(clock, Ramp(SLOPE / 10)) as sim, manual_dmm(sim, clock) as dmm:
        sim.device.timer_ppm = ppm
        dmm.configure(DT, 1.0)
        dmm.start(clock.now())
        blocks: list = []
        with caplog.at_level("WARNING", logger="raphe.instrument.detector"):
            poll(dmm, clock, rng, 5000, blocks, step=(1.0, 3.0))
    count = assert_contiguous(blocks)
    elapsed = (blocks[-1].values[-1] * 10 / SLOPE - blocks[0].values[0] * 10 / SLOPE)
    assert abs((count - 1) - elapsed / DT) > 0.9 * abs(ppm) * 1e-6 * elapsed / DT  # it drifted
    assert not dmm.holes and not caplog.records
    for a, b in itertools.pairwise(blocks):
        assert abs(b.t0 - (a.t0 + len(a) * DT)) < 0.5 * DT
    err = np.concatenate([(b.times - b.values * 10 / SLOPE) / DT for b in blocks[5:]])
    assert np.abs(err).max() < 0.75


def test_continuous_acquisition_crosses_set_boundaries_without_a_gap():
    """``TRIG:COUN INF``: after every ``SAMP:COUN`` set the DMM triggers itself again, and
    ``TRIG:DEL`` puts the next set's first sample one interval after the last: one INIT,
    no re-arm, no hole, and the sample grid goes on within the re-arm latency."""
    rng = random.Random(11)
    clock = ManualClock(40.0)
    with SimulatedDMM34465A(clock, Ramp(SLOPE)) as sim, \
            manual_dmm(sim, clock, samples_per_run=100) as dmm:
        dmm.configure(DT, 1.0)
        dmm.start(clock.now())
        blocks: list = []
        poll(dmm, clock, rng, 1300, blocks)
    count = assert_contiguous(blocks)
    assert count > 3_000 and len(sim.device.init_times) == 1 and len(dmm.segments) == 1
    assert sim.received.count("INIT") == 1 and not dmm.holes
    taken = np.concatenate([b.values / SLOPE for b in blocks])
    steps = np.diff(taken)
    np.testing.assert_allclose(steps, DT, atol=SET_LATENCY_S + 1e-6)
    assert np.any(steps > DT + SET_LATENCY_S / 2)  # the boundaries are there
    assert np.all(np.abs(timing_errors(blocks[5:])) < 0.5)
    for a, b in itertools.pairwise(blocks):
        assert abs(b.t0 - (a.t0 + len(a) * DT)) < 0.5 * DT


def test_continuous_acquisition_over_loopback_at_speed_has_no_gap(sim, clock):
    with connect(sim, clock, samples_per_run=300) as dmm:
        dmm.configure(0.01, 1.0)
        dmm.start(clock.now())
        blocks = drain(dmm, lambda b: sum(map(len, b)) >= 1500)
        dmm.stop()
    assert_contiguous(blocks)
    assert not dmm.holes and len(dmm.segments) == 1 and sim.received.count("INIT") == 1
    for a, b in itertools.pairwise(blocks):
        assert b.t0 - (a.t0 + len(a) * a.dt) < 0.5 * a.dt


def test_a_dmm_that_stops_for_good_is_a_fault_and_the_reconnect_rearms_it(monkeypatch):
    """No reading for ``STALL_FAULT_REAL_S`` (and 100 intervals) is a lost link: the loss
    sized so far is skipped, ``InstrumentError`` names the cause, and ``reconnect()`` sends
    ``ABOR``/``INIT``: a new segment, timed from its own first readings."""
    monkeypatch.setattr(driver, "STALL_FAULT_REAL_S", 0.3)
    rng = random.Random(5)
    clock = ManualClock(60.0)
    with SimulatedDMM34465A(clock, Ramp(SLOPE)) as sim, manual_dmm(sim, clock) as dmm:
        dmm.configure(DT, 1.0)
        dmm.start(clock.now())
        blocks: list = []
        poll(dmm, clock, rng, 50, blocks)
        sim.stall()
        deadline = time.monotonic() + 10
        with pytest.raises(InstrumentError, match="stopped sampling"):
            while time.monotonic() < deadline:
                poll(dmm, clock, rng, 1, blocks, step=(1.0, 2.0))
                time.sleep(0.01)
        assert dmm.holes and dmm.holes[-1].n > 100
        dmm.reconnect()
        dmm.check_errors("re-armed")  # a round trip: the INIT has been carried out
        assert len(dmm.segments) == 2 and len(sim.device.init_times) == 2
        assert dmm.segments[1].index0 == dmm.holes[-1].index + dmm.holes[-1].n
        poll(dmm, clock, rng, 5, blocks)
        assert not any(b.index0 >= dmm.segments[1].index0 for b in blocks)  # still stalled
        sim.resume()
        poll(dmm, clock, rng, 30, blocks)
    new = [b for b in blocks if b.index0 >= dmm.segments[1].index0]
    assert new and new[0].index0 == dmm.segments[1].index0
    assert np.all(np.abs(timing_errors(new)) < 1.0)  # the first block is placed on its own


def test_readings_far_slower_than_the_session_clock_are_a_fault(monkeypatch):
    """A rig clock three times faster than the simulator's: a third of the readings it
    expects. Stalls are gaps, but a rate this far off over a long window is a fault."""
    monkeypatch.setattr(driver, "SLOW_WINDOW_REAL_S", 0.0)
    rng = random.Random(9)
    clock = ManualClock(60.0)
    with SimulatedDMM34465A(clock, Ramp(SLOPE)) as sim:
        dmm = DMM34465A(sim.resource, session_clock=lambda: 3 * clock.now(), nplc=0.2,
                        timeout_s=1.0, range_V=10.0)
        try:
            dmm.configure(DT, 1.0)
            dmm.start(3 * clock.now())
            with pytest.raises(InstrumentError, match=r"33% of the rate.*\[rig\] speed"):
                poll(dmm, clock, rng, 1000, [])
        finally:
            dmm.close()


def test_time_base_sizes_a_loss_from_counts_alone():
    """The reconciliation on its own: counts as a DMM would report them, polled at random
    moments; a loss of 7 readings is held one poll, sized exactly, skipped once."""
    rng = random.Random(2)
    tb = TimeBase(100.0, DT, 1_000_000)
    start, lost, position, now = 100.03, 0, 0, 100.0
    skipped = []
    for i in range(300):
        now += rng.uniform(0.13, 0.37)
        if i == 150:
            lost += 7
        c = int(np.floor((now - start) / DT)) + 1 - lost + sum(skipped)  # positions + memory
        verdict = tb.reconcile(c, c - position, now, now, now_host=i * 0.2)
        if verdict.drain:
            if verdict.skip:
                skipped.append(verdict.skip)
            position = c + verdict.skip
        assert not verdict.release
    assert skipped == [7] and abs(tb.base - start) < 0.5 * DT


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


def test_simulator_trigger_count_inf_sets_follow_each_other():
    """``TRIG:COUN INF``: sets of ``SAMP:COUN`` readings until ``ABOR``; each set's first
    sample one trigger delay after the previous set ended (its last sample plus the
    integration time plus the re-arm latency)."""
    clock = ManualClock(0.0)
    dev = DMM34465ADevice(clock, Ramp(1.0))
    for line in ("CONF:VOLT:DC 1000", "VOLT:DC:NPLC 1", "SAMP:SOUR TIM", "SAMP:TIM 0.1",
                 "SAMP:COUN 5", "TRIG:COUN INF", "TRIG:DEL 0.08"):
        dev.handle(line)
    assert dev.handle("TRIG:COUN?") == "+9.90000000E+37"
    assert dev.handle("TRIG:DEL?") == "+8.00000000E-02"
    dev.handle("INIT")
    assert dev.t_init == pytest.approx(0.08)  # one trigger delay after INIT
    clock.advance(10.0)
    t = np.array([float(v) for v in dev.handle("DATA:REM? 50").split(",")])
    np.testing.assert_allclose(np.diff(t), 0.1, atol=SET_LATENCY_S + 1e-9)  # seamless
    assert dev.running
    dev.handle("ABOR")
    clock.advance(10.0)
    assert not dev.running and int(dev.handle("DATA:POIN?")) < 100
    dev.handle("TRIG:DEL 0")
    dev.handle("INIT")
    assert int(dev.handle("DATA:POIN?")) == 1  # INIT cleared memory; the first set began
    clock.advance(1.0)
    t = np.array([float(v) for v in dev.handle("DATA:REM? 8").split(",")])
    # With no trigger delay the next set starts one integration (20 ms) after the last
    # sample began: early against the 0.1 s grid.
    assert np.diff(t)[4] == pytest.approx(0.02 + SET_LATENCY_S)
    assert dev.handle("READ?") is None  # it could never return
    assert dev.handle("SYST:ERR?") == '-221,"Settings conflict"'


def test_simulator_timer_error_in_ppm():
    clock = ManualClock(0.0)
    dev = DMM34465ADevice(clock, Ramp(1.0))
    dev.timer_ppm = 1000.0  # 0.1 % fast
    for line in ("CONF:VOLT:DC 1000", "SAMP:SOUR TIM", "SAMP:TIM 0.1", "SAMP:COUN 1000000",
                 "TRIG:COUN INF", "TRIG:DEL 0", "INIT"):
        dev.handle(line)
    clock.advance(1000.0)
    assert int(dev.handle("DATA:POIN?")) == 10_011  # 10,001 on time, 10 more


def test_simulator_keeps_the_recent_command_lines_only(monkeypatch):
    from raphe.simulators import dmm34465a as simulator

    monkeypatch.setattr(simulator, "RECEIVED_MAX", 10)
    with SimulatedDMM34465A(Clock(speed=1.0)) as sim, connect(sim, Clock(speed=1.0)) as dmm:
        for _ in range(30):
            dmm.check_errors("probe")
        assert 5 <= len(sim.received) <= 10 and sim.received[-1] == "SYST:ERR?"


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
    from raphe.drivers.rig_file import load_rig

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


def test_closing_one_detector_leaves_another_rigs_detector_open(clock):
    """Two rigs in one process (one window's tabs): the VISA resource manager they share
    is closed only when the last detector is."""
    with SimulatedDMM34465A(clock, Ramp(SLOPE)) as one, \
            SimulatedDMM34465A(clock, Ramp(SLOPE)) as two:
        first, second = connect(one, clock), connect(two, clock)
        try:
            first.close()
            assert "34465A" in second._query("*IDN?")
        finally:
            second.close()
