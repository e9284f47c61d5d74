"""Benchmark: sustained DMM streaming through pyvisa-py over loopback TCP.

The simulated 34465A samples every 1 ms of a scaled clock (a ramp, so every
value identifies its sample); the driver drains it with DATA:POIN? /
DATA:REM? for a fixed real time. Figures, medians of repeated runs:

* sustained readings/s with none lost or duplicated, at 1x and 10x the
  1 kHz rate (target >= 1,000 readings/s);
* drain capacity: readings/s when emptying 40,000 stored readings;
* poll rate: empty DATA:POIN? round trips per second (the fixed cost of a poll);

each as a ratio against a raw-socket client doing the same SCPI exchange in
the same run (the cost of pyvisa + the driver over the bare protocol).

Run: python tests/benchmarks/bench_dmm_stream.py [--repeats 5] [--seconds 2]
"""

from __future__ import annotations

import argparse
import socket
import statistics
import time

import numpy as np

from raphe.clock import Clock
from raphe.drivers.dmm34465a import DMM34465A
from raphe.simulators.dmm34465a import SimulatedDMM34465A
from raphe.simulators.signal import Ramp

INTERVAL = 0.001
SLOPE = 1e-3
TARGET = 1_000.0


class RawClient:
    """The same exchange over a bare socket: the baseline."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def write(self, line: str) -> None:
        self.sock.sendall(line.encode() + b"\n")

    def query(self, line: str) -> str:
        self.write(line)
        while b"\n" not in self.buf:
            self.buf += self.sock.recv(1 << 20)
        reply, self.buf = self.buf.split(b"\n", 1)
        return reply.decode()

    def configure(self, count: int) -> None:
        for cmd in ("*RST", "CONF:VOLT:DC 1", "VOLT:DC:NPLC 0.02", "TRIG:SOUR IMM",
                    "SAMP:SOUR TIM", f"SAMP:TIM {INTERVAL}", f"SAMP:COUN {count}"):
            self.write(cmd)
        self.query("SYST:ERR?")

    def start(self) -> None:
        self.write("INIT")

    def read(self) -> np.ndarray | None:
        n = int(self.query("DATA:POIN?"))
        if n == 0:
            return None
        return np.array(self.query(f"DATA:REM? {n}").split(","), dtype=np.float64)

    def close(self) -> None:
        self.sock.close()


class DriverClient:
    def __init__(self, sim: SimulatedDMM34465A, clock: Clock) -> None:
        self.dmm = DMM34465A(sim.resource, nplc=0.02, timeout_s=5.0, session_clock=clock.now)
        self.next_index = 0

    def configure(self, count: int) -> None:
        self.dmm.samples_per_run = count
        self.dmm.configure(INTERVAL, 1.0)

    def start(self) -> None:
        self.dmm.start(0.0)

    def read(self) -> np.ndarray | None:
        block = self.dmm.read_block()
        if block is None:
            return None
        if block.index0 != self.next_index:
            raise AssertionError(f"index gap at {self.next_index}")
        self.next_index += len(block)
        return block.values

    def close(self) -> None:
        self.dmm.close()


def sustained(kind: str, speed: float, seconds: float) -> tuple[float, int]:
    """(readings/s received, readings lost or duplicated) over ``seconds`` of streaming."""
    clock = Clock(speed=speed)
    with SimulatedDMM34465A(clock, Ramp(SLOPE)) as sim:
        client = RawClient(sim.port) if kind == "raw" else DriverClient(sim, clock)
        try:
            client.configure(1_000_000)
            client.start()
            chunks = []
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                values = client.read()
                if values is not None:
                    chunks.append(values)
                time.sleep(0.005)
            elapsed = time.perf_counter() - t0
        finally:
            client.close()
        t_init = sim.device.init_times[0]
    values = np.concatenate(chunks)
    k = np.rint((values / SLOPE - t_init) / INTERVAL)
    bad = int(np.count_nonzero(k != np.arange(len(values))))
    return len(values) / elapsed, bad


def capacity(kind: str, n: int = 40_000) -> float:
    """Readings/s when draining ``n`` stored readings."""
    clock = Clock(speed=1000.0)
    with SimulatedDMM34465A(clock, Ramp(SLOPE)) as sim:
        client = RawClient(sim.port) if kind == "raw" else DriverClient(sim, clock)
        try:
            client.configure(n)
            client.start()
            while int(float(sim.device.handle("DATA:POIN?"))) < n:  # acquisition never ends
                time.sleep(0.01)
            got = 0
            t0 = time.perf_counter()
            while got < n:
                values = client.read()
                got += 0 if values is None else len(values)
            return n / (time.perf_counter() - t0)
        finally:
            client.close()


def poll_rate(kind: str, seconds: float = 1.0) -> float:
    """``read`` calls per second when nothing is waiting (one DATA:POIN? each)."""
    clock = Clock(speed=1.0)
    with SimulatedDMM34465A(clock, Ramp(SLOPE)) as sim:
        client = RawClient(sim.port) if kind == "raw" else DriverClient(sim, clock)
        try:
            client.configure(1)  # one reading, then the memory stays empty
            client.start()
            while client.read() is None:
                pass
            polls = 0
            t0 = time.perf_counter()
            while time.perf_counter() - t0 < seconds:
                client.read()
                polls += 1
            return polls / (time.perf_counter() - t0)
        finally:
            client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()

    print(f"34465A streaming, 1 ms sample timer, medians of {args.repeats} runs "
          f"of {args.seconds:g} s\n")
    verdict_ok = True
    for speed in (1.0, 10.0):
        rates = {"raw": [], "driver": []}
        lost = 0
        for _ in range(args.repeats):
            for kind in ("raw", "driver"):
                rate, bad = sustained(kind, speed, args.seconds)
                rates[kind].append(rate)
                lost += bad if kind == "driver" else 0
        raw, drv = statistics.median(rates["raw"]), statistics.median(rates["driver"])
        print(f"sustained at {1000 * speed:>6.0f} rdg/s offered: raw socket {raw:9.0f} rdg/s, "
              f"driver {drv:9.0f} rdg/s, ratio {drv / raw:5.2f}, lost/duplicated {lost}")
        if speed == 1.0:
            verdict_ok &= drv >= TARGET * 0.95 and lost == 0
    caps = {"raw": [], "driver": []}
    for _ in range(args.repeats):
        for kind in ("raw", "driver"):
            caps[kind].append(capacity(kind))
    raw, drv = statistics.median(caps["raw"]), statistics.median(caps["driver"])
    print(f"drain capacity (40,000 stored):   raw socket {raw:9.0f} rdg/s, "
          f"driver {drv:9.0f} rdg/s, ratio {drv / raw:5.2f}")
    verdict_ok &= drv >= TARGET
    polls = {"raw": [], "driver": []}
    for _ in range(args.repeats):
        for kind in ("raw", "driver"):
            polls[kind].append(poll_rate(kind))
    raw, drv = statistics.median(polls["raw"]), statistics.median(polls["driver"])
    print(f"empty polls (DATA:POIN? round trips): raw {raw:7.0f}/s, driver {drv:7.0f}/s, "
          f"ratio {drv / raw:5.2f}")
    print(f"\nverdict: {'PASS' if verdict_ok else 'FAIL'} — target >= {TARGET:,.0f} readings/s "
          "sustained with none lost (1 kHz sampling keeps up; capacity is the headroom)")


if __name__ == "__main__":
    main()
