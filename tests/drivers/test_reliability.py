"""Driver-level reliability: typed link errors, exclusive access, reconnect after a replug,
idempotent safe states, one command and its reply at a time, clock checks, faults."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from wire_helpers import WireLog

from raphe.clock import Clock
from raphe.drivers.base import PumpStatus, ValvePosition
from raphe.drivers.dmm34465a import DMM34465A
from raphe.drivers.fc203b import FC203B
from raphe.drivers.locks import PortInUse
from raphe.drivers.ne1000 import NE1000
from raphe.drivers.rig_file import Rig, RigConfig
from raphe.drivers.vici import VICIValve
from raphe.errors import Disconnected, InstrumentError
from raphe.simulators.dmm34465a import SimulatedDMM34465A
from raphe.simulators.faults import HELP, apply_fault
from raphe.simulators.fc203b import SimulatedFC203B
from raphe.simulators.ne1000 import SimulatedNE1000
from raphe.simulators.signal import Ramp
from raphe.simulators.simulated_rig import RigOptions, SimulatedRig
from raphe.simulators.vici import SimulatedVICI

SERIAL = {
    "pump": (lambda clock, d: SimulatedNE1000(clock, directory=d), NE1000),
    "valve": (lambda clock, d: SimulatedVICI(clock, d), VICIValve),
    "collector": (lambda clock, d: SimulatedFC203B(clock, 24, d, seconds_per_tube=0.5), FC203B),
}


@pytest.fixture(params=list(SERIAL))
def serial_pair(request, tmp_path):
    make_sim, driver_class = SERIAL[request.param]
    sim = make_sim(Clock(speed=100), str(tmp_path)).start()
    driver = driver_class.from_settings(sim.rig_settings())
    yield request.param, sim, driver
    driver.close()
    sim.close()


READS = {"pump": "status", "valve": "position", "collector": "current_tube"}


def read_state(role: str, driver):
    return getattr(driver, READS[role])()


# -- typed errors --------------------------------------------------------------------------


def test_a_vanished_port_path_is_disconnected(serial_pair):
    role, sim, driver = serial_pair
    sim.port.unplug()  # the symlink is gone, the pty closed
    with pytest.raises(Disconnected, match=role):
        read_state(role, driver)  # flush or write on a dead pty: termios/OS error, typed
    driver.close()
    with pytest.raises(Disconnected, match="cannot open"):
        SERIAL[role][1].from_settings(sim.rig_settings())


def test_a_closed_port_is_disconnected_not_a_pyserial_error(serial_pair):
    role, _sim, driver = serial_pair
    driver.transport._serial.close()  # pyserial's own object, closed under the driver
    with pytest.raises(Disconnected):
        read_state(role, driver)
    with pytest.raises(Disconnected, match="not open"):
        read_state(role, driver)


def test_reconnect_after_unplug_and_replug_rereads_state(serial_pair):
    role, sim, driver = serial_pair
    driver.to_safe_state()
    before = read_state(role, driver)
    sim.port.unplug()
    with pytest.raises(Disconnected):
        read_state(role, driver)
    with pytest.raises(Disconnected):
        driver.reconnect()  # still unplugged
    sim.port.plug()  # the same stable path, a new pty
    driver.reconnect()
    assert read_state(role, driver) == before
    driver.to_safe_state()  # safe twice in a row: never fails because already safe
    driver.to_safe_state()
    assert read_state(role, driver) == before


# -- exclusive access ------------------------------------------------------------------------


def second_process(code: str) -> str:
    """Run ``code`` in another Python process; return what it printed."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        check=False, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_a_second_process_gets_one_line_naming_the_port_and_its_holder(serial_pair):
    role, sim, driver = serial_pair
    cls = type(driver)
    printed = second_process(f"""
        from {cls.__module__} import {cls.__name__}
        from raphe.errors import RapheError
        try:
            {cls.__name__}.from_settings({sim.rig_settings()!r})
        except RapheError as exc:
            print(type(exc).__name__, exc)
    """)
    assert printed.startswith(f"PortInUse {role}: {sim.path} is in use")
    assert f"pid {os.getpid()}" in printed and "\n" not in printed
    with pytest.raises(PortInUse):  # a second driver in this process too
        cls.from_settings(sim.rig_settings())
    read_state(role, driver)  # the first driver still works


def test_the_dmm_resource_is_locked_against_a_second_process():
    with SimulatedDMM34465A(Clock(1.0)) as sim, DMM34465A(sim.resource, timeout_s=1.0) as dmm:
        printed = second_process(f"""
            from raphe.drivers.dmm34465a import DMM34465A
            from raphe.errors import RapheError
            try:
                DMM34465A({sim.resource!r}, timeout_s=1.0)
            except RapheError as exc:
                print(type(exc).__name__, exc)
        """)
        assert printed.startswith(f"PortInUse detector: {sim.resource} is in use")
        assert f"pid {os.getpid()}" in printed
        assert dmm.identity()["model"] == "34465A"
        with pytest.raises(PortInUse):
            DMM34465A(sim.resource, timeout_s=1.0)
    # Released on close: the next driver opens it, and no lock file is left behind.
    with SimulatedDMM34465A(Clock(1.0)) as sim:
        first = DMM34465A(sim.resource, timeout_s=1.0)
        lock = first.link._resource_lock.path
        assert lock.exists()
        first.close()
        assert not lock.exists()
        DMM34465A(sim.resource, timeout_s=1.0).close()
        assert not lock.exists()


def test_a_lock_file_removed_under_a_new_holder_is_taken_again(tmp_path, monkeypatch):
    """A holder releases (and removes the lock file) just after another driver opened that
    file: the newcomer's lock on the removed file guards nothing, so it locks the path anew
    and a third driver is refused."""
    import fcntl

    from raphe.drivers import locks

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    resource = "TCPIP::127.0.0.1::5025::SOCKET"
    holder, newcomer = locks.ResourceLock(resource), locks.ResourceLock(resource)
    holder.acquire()
    real_flock, released = fcntl.flock, []

    def flock(fd, operation):
        if operation & fcntl.LOCK_EX and not released:  # the newcomer has opened the file
            released.append(True)
            holder.release()
        return real_flock(fd, operation)

    monkeypatch.setattr(locks.fcntl, "flock", flock)
    newcomer.acquire()
    assert released and newcomer.held
    with pytest.raises(PortInUse):
        locks.ResourceLock(resource, "detector").acquire()
    newcomer.release()
    assert list((tmp_path / "raphe").iterdir()) == []


# -- one command and its reply at a time -----------------------------------------------------


def hammer(*actions, rounds: int = 60) -> list[BaseException]:
    errors: list[BaseException] = []

    def run(action) -> None:
        try:
            for _ in range(rounds):
                action()
        except BaseException as exc:  # noqa: BLE001 - collected for the test thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(a,)) for a in actions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    return errors


def test_two_threads_and_the_heartbeat_never_interleave_on_the_pump(tmp_path):
    with (
        SimulatedNE1000(Clock(100), directory=str(tmp_path)) as sim,
        NE1000.from_settings({**sim.rig_settings(), "safe_mode_s": 1}) as pump,
    ):
        pump.set_rate(1.5)
        pump.infuse()

        def status():
            assert pump.status() is PumpStatus.INFUSING

        def rate():
            assert pump.rate_uL_min() == 1.5

        def dispensed():
            infused, withdrawn = pump.dispensed_uL()
            assert infused >= 0 and withdrawn == 0

        assert hammer(status, rate, dispensed) == []


def test_two_threads_never_interleave_on_the_valve(tmp_path):
    with SimulatedVICI(Clock(100), str(tmp_path)) as sim:
        valve = VICIValve.from_settings({**sim.rig_settings(), "poll_interval_s": 0.001})
        try:
            def moves():
                valve.inject()
                valve.load()

            def reads():
                assert valve.position() in (ValvePosition.LOAD, ValvePosition.INJECT)
                assert valve.counter() >= 0

            assert hammer(moves, reads, rounds=25) == []
        finally:
            valve.close()


def test_two_threads_never_interleave_on_the_collector(tmp_path):
    with SimulatedFC203B(Clock(200), 24, str(tmp_path), seconds_per_tube=0.1) as sim:
        collector = FC203B.from_settings({**sim.rig_settings(), "poll_interval_s": 0.001})
        try:
            tubes = iter(range(10**6))

            def moves():
                collector.go_to_tube(next(tubes) % 24 + 1)

            def reads():
                assert collector.read_status().motion in ("ready", "moving")
                assert collector.identity()["model"] == "FC203B"

            assert hammer(moves, reads, rounds=20) == []
        finally:
            collector.close()


# -- the rig ---------------------------------------------------------------------------------


class Broken:
    """An instrument whose safe state and close fail with a bug, not a typed error."""

    model = "broken"

    def to_safe_state(self) -> None:
        raise RuntimeError("bug in a driver")

    def close(self) -> None:
        raise RuntimeError("bug on close")


def test_rig_safe_state_and_close_try_every_instrument_and_never_raise(tmp_path):
    clock = Clock(100)
    with SimulatedNE1000(clock, directory=str(tmp_path)) as pump_sim, \
            SimulatedVICI(clock, str(tmp_path)) as valve_sim:
        pump = NE1000.from_settings(pump_sim.rig_settings())
        valve = VICIValve.from_settings(valve_sim.rig_settings())
        valve.inject()
        rig = Rig(RigConfig(source="t", text=""), pump=pump, valve=valve, collector=Broken())
        pump_sim.port.unplug()
        report = {s.role: s for s in rig.make_safe(deadline_s=1.0)}
        assert [role for role, s in report.items() if not s.safe] == ["pump", "collector"]
        assert "RuntimeError: bug in a driver" in report["collector"].problem
        assert report["valve"].safe and report["valve"].state == "LOAD"
        assert valve.position() is ValvePosition.LOAD  # tried despite the pump before it
        assert [p.split(":")[0] for p in rig.close()] == ["collector"]


# -- the rig clock and the DMM's sample timer -------------------------------------------------


def test_readings_faster_than_the_rig_clock_are_refused_before_any_is_stored():
    sim_clock, rig_clock = Clock(speed=50.0), Clock(speed=1.0)  # [rig] speed 1, simulator 50
    with SimulatedDMM34465A(sim_clock, Ramp()) as sim:
        dmm = DMM34465A(sim.resource, session_clock=rig_clock.now, nplc=0.2, timeout_s=2.0,
                        interval_s=0.01, scale_nA_per_V=1.0)
        try:
            dmm._apply_settings()
            dmm.start(rig_clock.now())
            deadline = time.monotonic() + 10
            with pytest.raises(InstrumentError, match=r"faster than the session clock.*\[rig\] speed"):
                while time.monotonic() < deadline:
                    assert dmm.read_block() is None or len(dmm.segments) == 1
                    time.sleep(0.05)
        finally:
            dmm.close()


def test_a_dmm_that_stops_delivering_readings_is_reported():
    clock = Clock(speed=1.0)
    with SimulatedDMM34465A(clock, Ramp()) as sim, DMM34465A(
        sim.resource, session_clock=clock.now, nplc=0.2, interval_s=0.01, scale_nA_per_V=1.0
    ) as dmm:
        dmm._apply_settings()
        dmm.start(clock.now())
        sim.stall()  # reading loss
        deadline = time.monotonic() + 20
        with pytest.raises(InstrumentError, match="stopped sampling"):
            while time.monotonic() < deadline:
                dmm.read_block()
                time.sleep(0.05)


# -- faults, as `raphe simulate rig --faults` takes them ---------------------------------------


def test_every_fault_of_the_console_applies_to_the_simulated_rig():
    with SimulatedRig(RigOptions(speed=50.0)) as rig:
        for line in (
            "pump garbage 2", "pump slow 0", "pump lose 1", "pump empty", "pump refill",
            "pump stall", "pump power_cycle", "pump unplug", "pump plug",
            "valve garbage", "valve unplug", "valve plug",
            "collector busy 1", "collector rack_end", "collector refuse_reads",
            "collector unplug", "collector plug",
            "detector garbage 2", "detector slow 0", "detector lose 1", "detector overload 5",
            "detector stall", "detector resume", "detector unplug", "detector plug",
            "detector drop",
        ):
            assert apply_fault(rig, line) == line
        assert rig.pump.device.alarm == "A?R"  # the power cycle came last
        assert not rig.collector.device.reads and rig.detector.plugged
        for bad, message in (("pump", "expected ROLE"), ("rat stall", "no simulated"),
                             ("valve stall", "no fault 'stall'"), ("pump slow x", "number")):
            with pytest.raises(ValueError, match=message):
                apply_fault(rig, bad)
    for word in ("empty", "rack_end", "refuse_reads", "stall", "unplug"):
        assert word in HELP


def test_an_unplugged_dmm_refuses_connections_until_plugged():
    with SimulatedDMM34465A(Clock(1.0)) as sim:
        sim.unplug()
        with pytest.raises(Disconnected, match="cannot open"):
            DMM34465A(sim.resource, timeout_s=1.0)
        sim.plug()
        with DMM34465A(sim.resource, timeout_s=1.0) as dmm:
            assert dmm.identity()["model"] == "34465A"


def test_wire_helpers_still_log(tmp_path):
    """The garbage count reaches the wire: two replies replaced, the third real."""
    with SimulatedVICI(Clock(100), str(tmp_path)) as sim:
        log = WireLog(sim.device)
        sim.port.device = log
        sim.port.inject_garbage(b"XX\r", count=2)
        valve = VICIValve(sim.path, loop_volume_uL=20.0, poll_interval_s=0.001)
        valve.transport.open()
        try:
            with pytest.raises(Exception, match="unexpected reply"):
                valve.position()
            assert valve.position() is ValvePosition.LOAD
        finally:
            valve.close()
