"""``raphe simulate``: simulators in their own process that any program can talk to."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import pyvisa
import serial

from raphe.drivers.rig_file import load_rig

pytestmark = pytest.mark.slow  # end-to-end runs of the simulated rig


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "raphe", "simulate", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.PIPE, text=True,
    )


def read_lines(proc: subprocess.Popen, n: int) -> list[str]:
    lines = []
    for _ in range(n):
        line = proc.stdout.readline()
        assert line, f"simulator ended early: {proc.stderr.read()}"
        lines.append(line.rstrip("\n"))
    return lines


def stop(proc: subprocess.Popen, sig=signal.SIGTERM) -> int:
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=10)
    finally:
        proc.kill()


def test_simulated_rig_serves_until_sigterm_and_speaks_the_wire_protocols(tmp_path):
    rig_file = tmp_path / "sim-rig.toml"
    proc = start("rig", "--speed", "20", "--rig-out", str(rig_file))
    try:
        lines = read_lines(proc, 4)
        table = [line.split(" ", 2) for line in lines]
        assert [row[0] for row in table] == ["pump", "valve", "collector", "detector"]
        assert [row[1] for row in table] == ["NE-1000", "VICI-EUH", "FC203B", "34465A"]
        pump_path, valve_path = table[0][2], table[1][2]
        assert os.path.islink(pump_path) and os.path.islink(valve_path)
        assert table[3][2].startswith("TCPIP::127.0.0.1::") and table[3][2].endswith("::SOCKET")

        # Any program can talk to them: plain pyserial and plain pyvisa, no Raphe driver.
        with serial.Serial(valve_path, 9600, timeout=1) as port:
            port.write(b"CP\r")
            # A universal actuator without an ID starts each reply with NUL.
            assert port.read_until(b"\r") in (b"\0CPA\r", b"\0CPB\r")
        with serial.Serial(pump_path, 19200, timeout=0.5) as port:
            port.write(b"*DIS\r")  # the pump ignores the first command after power-up
            port.read_until(b"\x03")
            port.write(b"0VER\r")
            assert port.read_until(b"\x03") == b"\x0200A?R\x03"  # power-up alarm, once
            port.write(b"0VER\r")
            reply = port.read_until(b"\x03")
            assert reply.startswith(b"\x0200S") and b"NE1000" in reply
        rm = pyvisa.ResourceManager("@py")
        dmm = rm.open_resource(table[3][2], read_termination="\n", write_termination="\n",
                               timeout=2000)
        assert dmm.query("*IDN?").split(",")[1] == "34465A"
        dmm.close()

        # The rig file it wrote opens the same instruments.
        config = load_rig(rig_file)
        assert config.speed == 20.0 and config.rig["simulated"] is True
        assert config.roles["pump"][1]["port"] == pump_path
        assert config.roles["collector"][1]["parity"] == "N"
    finally:
        code = stop(proc)
    assert code == 0


@pytest.mark.parametrize(("name", "role", "model"), [
    ("ne1000", "pump", "NE-1000"), ("fc203b", "collector", "FC203B"),
    ("vici", "valve", "VICI-EUH"), ("dmm34465a", "detector", "34465A"),
])
def test_single_simulator_prints_its_line_and_exits_0_on_sigint(name, role, model):
    proc = start(name)
    try:
        (line,) = read_lines(proc, 1)
        assert line.split(" ")[:2] == [role, model]
    finally:
        code = stop(proc, signal.SIGINT)
    assert code == 0


def test_fault_console_stalls_the_pump(tmp_path):
    proc = start("rig", "--faults")
    try:
        lines = read_lines(proc, 4)
        pump_path = lines[0].split(" ", 2)[2]
        proc.stdin.write("pump stall\n")
        proc.stdin.flush()
        deadline = time.monotonic() + 5
        reply = b""
        with serial.Serial(pump_path, 19200, timeout=0.5) as port:
            port.write(b"*DIS\r")
            port.read_until(b"\x03")
            while b"A?S" not in reply and time.monotonic() < deadline:
                port.write(b"0\r")
                reply = port.read_until(b"\x03")
        assert b"A?S" in reply
    finally:
        stop(proc)


def test_simulated_doses_are_given_from_the_simulator_start(tmp_path):
    truth = tmp_path / "truth.jsonl"
    proc = start("rig", "--sim-dose", "ipsapirone:1:sc@2", "--ground-truth", str(truth))
    try:
        read_lines(proc, 4)
    finally:
        assert stop(proc) == 0
    rows = [json.loads(line) for line in truth.read_text().splitlines()]
    (t0,) = [r["t"] for r in rows if r["event"] == "session_start"]
    (dose,) = [r for r in rows if r["event"] == "dose"]
    assert dose["dose"].startswith("ipsapirone:1:sc@")
    assert dose["t"] == pytest.approx(t0 + 120.0)
