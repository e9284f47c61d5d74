"""Independently written clients, unmodified, drive the simulators through short sessions.

nesp-lib (New Era pumps), QCoDeS' ``Keysight34465A`` and PyMeasure's
``Agilent34410A`` are installed from PyPI (the ``test`` extra); MechWolf is
archived, so its GSIOC framing is re-typed here (our own code, same bytes).
What these clients send and expect is what real instruments answer them, so
a simulator that satisfies them behaves more like the instrument than one
that only satisfies Raphe's own drivers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import serial

from raphe.clock import Clock
from raphe.simulators.dmm34465a import SimulatedDMM34465A
from raphe.simulators.fc203b import SimulatedFC203B
from raphe.simulators.ne1000 import SimulatedNE1000
from raphe.simulators.signal import ConstantNoise

nesp_lib = pytest.importorskip("nesp_lib")


def within(seconds: float, action: Callable[[], object]) -> object:
    """Run ``action`` on a thread; fail (instead of hanging) if it takes longer than
    ``seconds``. nesp-lib reads its port without a timeout, so a silent simulator
    would otherwise block the test forever."""
    result: list[object] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            result.append(action())
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            error.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"the client got no answer within {seconds} s"
    if error:
        raise error[0]
    return result[0] if result else None


# -- nesp-lib (New Era NE-1000) ------------------------------------------------------------


def test_nesp_lib_runs_a_whole_pump_session(tmp_path):
    from nesp_lib import PumpingDirection, Status
    from nesp_lib.exceptions import StateException

    clock = Clock(speed=600)
    with SimulatedNE1000(clock, directory=str(tmp_path), powered_up=False) as sim:
        port = nesp_lib.Port(sim.path, 19200)
        try:
            # Its first SAF is a safe-mode packet answered in basic framing.
            pump = within(10, lambda: nesp_lib.Pump(port))
            assert (pump.model_number, pump.firmware_version) == (1000, (3, 928))

            def session():
                pump.syringe_diameter_mm = 4.61
                assert pump.syringe_diameter_mm == 4.61
                pump.pumping_direction = PumpingDirection.INFUSE
                pump.pumping_rate_ml_per_min = 0.0015  # 1.5 µL/min, sent as 90 µL/h
                assert pump.pumping_rate_ml_per_min == pytest.approx(0.0015)
                pump.pumping_volume_ml = 0.005  # 5 µL: 200 s of clock, 1/3 s here
                assert pump.pumping_volume_ml == pytest.approx(0.005)
                pump.volume_infused_clear()
                pump.run()  # polls the status until the volume is dispensed
                assert pump.status is Status.STOPPED
                assert pump.volume_infused_ml == pytest.approx(0.005, abs=1e-6)
                with pytest.raises(StateException):  # ?NA: the pump is already idle
                    pump.stop()
                pump.run(wait_while_running=False)
                assert pump.running
                pump.stop()  # STP pauses a running pump
                assert pump.status is Status.PAUSED

            within(20, session)
        finally:
            port.close()
    assert sim.device.infused_uL >= 5.0


def test_nesp_lib_reads_volumes_of_1000_and_more(tmp_path):
    """nesp-lib's numbers need a decimal point, so the pump writes ``2000.``."""
    with SimulatedNE1000(Clock(600), directory=str(tmp_path), powered_up=False) as sim:
        port = nesp_lib.Port(sim.path, 19200)
        try:
            pump = within(10, lambda: nesp_lib.Pump(port))

            def session():
                pump.syringe_diameter_mm = 26.59  # a 60 mL syringe: the pump works in mL
                pump.pumping_volume_ml = 2.0  # sent as 2000 µL
                return pump.pumping_volume_ml

            assert within(10, session) == pytest.approx(2.0)
        finally:
            port.close()


def test_nesp_lib_after_power_up_and_in_safe_mode(tmp_path):
    from nesp_lib import Status

    with SimulatedNE1000(Clock(600), directory=str(tmp_path)) as sim:  # just powered up
        with serial.Serial(sim.path, 19200, timeout=0.2) as plain:
            plain.write(b"*DIS\r")  # the command a fresh pump ignores (yaqd-new-era's remedy)
            assert plain.read(16) == b""
        port = nesp_lib.Port(sim.path, 19200)
        try:
            # A?R answers its first SAF; nesp-lib acknowledges it and sends SAF again.
            pump = within(10, lambda: nesp_lib.Pump(port))
            assert sim.device.alarm is None

            def session():
                pump.safe_mode_timeout_s = 4  # answered in safe-mode framing: the new mode
                assert sim.device.safe_timeout_s == 4
                assert pump.status is Status.STOPPED  # heartbeats now keep the watchdog fed
                pump.syringe_diameter_mm = 4.61
                assert pump.syringe_diameter_mm == 4.61
                pump.safe_mode_timeout_s = 0  # a safe packet, answered in basic framing

            within(10, session)
            assert sim.device.safe_timeout_s == 0 and sim.device.alarm is None
        finally:
            port.close()


# -- QCoDeS and PyMeasure (Keysight 34465A) ------------------------------------------------


@pytest.fixture
def dmm_sim():
    with SimulatedDMM34465A(Clock(speed=20.0), ConstantNoise(0.25, 0.0)) as sim:
        yield sim


def test_qcodes_keysight34465a_connects_and_reads(dmm_sim):
    pytest.importorskip("qcodes")
    from qcodes.instrument_drivers.Keysight import Keysight34465A

    dmm = Keysight34465A("raphe_sim_dmm", dmm_sim.resource, visalib="@py", terminator="\n",
                         timeout=5)
    try:
        assert dmm.IDN()["model"] == "34465A"
        assert dmm.volt() == pytest.approx(0.25)  # SENS:FUNC?, SAMP:COUN, READ?
        dmm.NPLC(1)
        dmm.range(1.0)
        assert (dmm.NPLC(), dmm.range()) == (1.0, 1.0)
        dmm.autozero("OFF")
        dmm.display.text("RAPHE")
        assert dmm.display.text.get() == "RAPHE"  # a round trip: the write was executed
        assert dmm_sim.device.display_text == "RAPHE"
        dmm.sample.count(5)
        dmm.init_measurement()
        assert dmm.fetch() == pytest.approx([0.25] * 5)
        assert dmm.snapshot(update=True)["parameters"]["line_frequency"]["value"] == 50
        dmm.reset()  # *RST, *OPC?, snapshot
    finally:
        dmm.close()
    assert dmm_sim.device.errors == []  # every command understood


def test_pymeasure_agilent34410a_reads_a_voltage(dmm_sim):
    pytest.importorskip("pymeasure")
    from pymeasure.instruments.agilent import Agilent34410A

    with pytest.warns(FutureWarning):  # PyMeasure's notice that SCPI support is unconfirmed
        dmm = Agilent34410A(dmm_sim.resource, visa_library="@py", read_termination="\n",
                            write_termination="\n", timeout=5000)
    try:
        assert dmm.id.startswith("Keysight Technologies,34465A,")
        assert dmm.voltage_dc == pytest.approx(0.25)  # MEAS:VOLT:DC? DEF,DEF
        dmm.clear()
        dmm.reset()
        assert dmm.complete == "1"
        assert dmm.check_errors() == []
        assert dmm.voltage_dc == pytest.approx(0.25)
    finally:
        dmm.adapter.close()
    assert "MEAS:VOLT:DC? DEF,DEF" in dmm_sim.received


def test_simulator_speaks_the_common_scpi_a_client_sends():
    from raphe.simulators.dmm34465a import DMM34465ADevice

    dev = DMM34465ADevice(Clock(speed=1000.0), ConstantNoise(0.123456789123, 0.0))
    assert dev.handle("*OPT?") == "0,0"
    assert dev.handle("*ESR?") == "+0"
    dev.handle("FOO")
    assert dev.handle("*STB?") == "+4"  # error queue not empty
    assert dev.handle("*ESR?") == "+32"  # command error, then cleared
    dev.handle("*CLS")
    dev.handle("*OPC")
    assert dev.handle("*ESR?") == "+1"
    assert dev.handle("*OPC?") == "1" and dev.handle("*WAI") is None
    assert dev.handle("SYST:LFR?") == "+50"
    assert dev.handle("FUNC?") == '"VOLT"'
    assert dev.handle("RANG?") == "+1.00000000E+01" and dev.handle("RANG:AUTO?") == "1"
    assert dev.handle("ZERO:AUTO?") == "1" and dev.handle("TRIG:DEL?") == "+0.00000000E+00"
    assert dev.handle("FORM:DATA?") == "ASC,9"
    assert dev.handle("DISP:TEXT \"HI\"") is None and dev.handle("DISP:TEXT?") == '"HI"'
    # Readings in the instrument's format: 9 significant digits.
    assert dev.handle("MEAS:VOLT:DC?") == "+1.23456789E-01"
    assert dev.handle("READ?") == "+1.23456789E-01"
    assert dev.handle("FETC?") == "+1.23456789E-01"
    assert dev.handle("R?") == "#215+1.23456789E-01"  # definite-length block, erased
    assert dev.handle("DATA:POIN?") == "+0"
    dev.handle("SAMP:COUN 3")
    dev.handle("INIT")
    assert dev.handle("FETC?").count(",") == 2
    dev.handle("VOLT:DC:NPLC 1")  # a configuration change clears reading memory
    assert dev.handle("DATA:POIN?") == "+0"
    assert dev.errors == []


# -- MechWolf's GSIOC framing, re-typed (Gilson FC 203B) ------------------------------------


class MechWolfFraming:
    """The bytes MechWolf's ``GsiocInterface`` exchanges, in our own code: a 20 ms read
    timeout, a connect (``0xFF``, flush, unit address, three tries) before every command,
    immediate replies read up to the byte with bit 7 set, buffered commands after LF is
    echoed (resent while the unit answers otherwise), each byte checked against its echo."""

    def __init__(self, path: str, unit_id: int) -> None:
        self.port = serial.Serial(path, 19200, timeout=0.02)  # a pty: no parity
        self.address = 0x80 + unit_id

    def close(self) -> None:
        self.port.close()

    def connect(self) -> None:
        self.port.write(bytes([0xFF]))
        self.port.reset_input_buffer()
        for _ in range(3):
            self.port.write(bytes([self.address]))
            if self.port.read(1) == bytes([self.address]):
                return
        raise AssertionError("unit did not answer its address")

    def immediate(self, command: str) -> str:
        self.connect()
        self.port.write(command.encode("ascii"))
        reply = bytearray()
        byte = self.port.read(1)
        while byte and byte[0] < 0x80:
            reply += byte
            self.port.write(b"\x06")
            byte = self.port.read(1)
        assert byte, f"no reply to {command!r}"
        reply.append(byte[0] - 0x80)
        return reply.decode("ascii")

    def buffered(self, command: str, deadline_s: float = 10.0) -> None:
        self.connect()
        deadline = time.monotonic() + deadline_s
        echo = b""
        while echo != b"\n":
            assert time.monotonic() < deadline, "unit stayed busy"
            self.port.write(b"\n")
            echo = self.port.read(1)
        for char in command + "\r":
            self.port.write(char.encode("ascii"))
            assert self.port.read(1) == char.encode("ascii")


def test_mechwolf_framing_drives_the_collector_simulator(tmp_path):
    clock = Clock(speed=50)
    with SimulatedFC203B(clock, rack_size=48, directory=str(tmp_path)) as sim:
        client = MechWolfFraming(sim.path, unit_id=1)
        device = sim.device
        try:
            assert client.immediate("%") == "FC203B V2.10"  # identify
            client.buffered("L0")  # MechWolf's lock()
            client.buffered("W1        MechWolf")
            assert device.keypad_locked and device.display_lines[1] == "        MechWolf"
            client.buffered("T005")  # goto(5)
            client.buffered("W2       Collect 5")  # waits while the arm moves ('#' busy)
            assert device.position() == 5 and device.commands[-2:] == ["T005",
                                                                         "W2       Collect 5"]
            client.buffered("Y0000")  # drain()
            client.buffered("W2         Drain")
            assert device.position() == 0
            client.buffered("L1")  # unlock()
            assert not device.keypad_locked
        finally:
            client.close()
