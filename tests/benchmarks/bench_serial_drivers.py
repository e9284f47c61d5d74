"""Command round trip of the FC 203B and VICI drivers vs bare pyserial and the wire time.

Each figure is the median over rounds of the median round trip of one
command, against two references measured or computed in the same run:

- baseline: the same bytes exchanged with bare pyserial on the same pty and
  simulator (what any code must pay on this machine);
- wire time: the bytes of the exchange at the real line's baud rate
  (bytes × 10 / baud, both directions, every GSIOC echo and ACK counted).

Driver overhead = driver − baseline; target ≤ 1 ms per command.
Run: ``python tests/benchmarks/bench_serial_drivers.py``.
"""

from __future__ import annotations

import statistics
import time

import serial

from raphe.clock import Clock
from raphe.drivers.fc203b import COMMANDS, FC203B
from raphe.drivers.vici import VICIValve
from raphe.simulators.fc203b import SimulatedFC203B
from raphe.simulators.vici import SimulatedVICI

ROUNDS = 15
REPEATS = 200
TARGET_OVERHEAD_S = 1e-3


def median_time(action) -> float:
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        action()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def compare(driver, baseline) -> tuple[float, float, float]:
    """Alternate driver and baseline rounds so both see the same machine load.

    Returns medians over rounds of (driver, baseline, driver − baseline).
    """
    rows = []
    for _ in range(ROUNDS):
        d, b = median_time(driver), median_time(baseline)
        rows.append((d, b, d - b))
    return tuple(statistics.median(column) for column in zip(*rows, strict=True))


def raw_exchange(port: serial.Serial, steps: list[tuple[bytes, int]]):
    """Write each chunk and read the given number of reply bytes: no checks, no logging."""

    def run() -> None:
        for data, n in steps:
            port.write(data)
            port.read(n)

    return run


def raw_line(port: serial.Serial, data: bytes):
    def run() -> None:
        port.write(data)
        port.read_until(b"\r")

    return run


def main() -> None:
    clock = Clock(1.0)
    with SimulatedVICI(clock) as vici_sim, SimulatedFC203B(clock, rack_size=24) as fc_sim:
        # The driver spaces commands by poll_interval_s on purpose (a real actuator needs
        # 0.1 s); that wait is not overhead, so it is set to ~0 here.
        valve = VICIValve.from_settings({**vici_sim.rig_settings(), "poll_interval_s": 1e-6})
        collector = FC203B.from_settings(fc_sim.rig_settings())
        valve_collect = COMMANDS["valve_collect"].text
        # Bare pyserial on a second descriptor of the same ptys; only one side talks at a time.
        vici_raw = serial.Serial(vici_sim.path, 9600, timeout=1)
        fc_raw = serial.Serial(fc_sim.path, 19200, timeout=1)
        try:
            cases = {
                # name: (driver call, bare-pyserial call, baud, bytes on the wire both ways)
                "VICI CP query": (valve.position, raw_line(vici_raw, b"CP\r"), 9600, 3 + 5),
                "GSIOC immediate status": (  # S > R < ACK > C|0x80 <
                    collector.read_status,
                    raw_exchange(fc_raw, [(b"S", 1), (b"\x06", 1)]),
                    19200,
                    4,
                ),
                "GSIOC buffered V0": (  # LF V 0 CR, each echoed
                    lambda: collector.link.buffered(valve_collect),
                    raw_exchange(fc_raw, [(b"\n", 1), (b"V", 1), (b"0", 1), (b"\r", 1)]),
                    19200,
                    8,
                ),
            }
            results = {name: compare(drv, raw) for name, (drv, raw, _, _) in cases.items()}
        finally:
            vici_raw.close()
            fc_raw.close()
            valve.close()
            collector.close()

    print(f"median of {ROUNDS} alternating rounds × {REPEATS} commands; pty + simulator thread")
    print(
        f"{'command':<24}{'driver':>10}{'baseline':>10}{'×base':>7}{'overhead':>10}"
        f"{'wire':>10}{'ovh/wire':>9}"
    )
    worst = 0.0
    for name, (_, _, baud, nbytes) in cases.items():
        driver, base, overhead = results[name]
        wire = nbytes * 10 / baud
        worst = max(worst, overhead)
        print(
            f"{name:<24}{driver * 1e3:>8.3f}ms{base * 1e3:>8.3f}ms{driver / base:>7.2f}"
            f"{overhead * 1e3:>8.3f}ms{wire * 1e3:>8.3f}ms{overhead / wire:>9.3f}"
        )
    verdict = "meets" if worst <= TARGET_OVERHEAD_S else "MISSES"
    print(
        f"verdict: worst driver overhead {worst * 1e3:.3f} ms per command {verdict} the "
        f"≤ {TARGET_OVERHEAD_S * 1e3:.0f} ms target; on a real line the wire time dominates"
    )


if __name__ == "__main__":
    main()
