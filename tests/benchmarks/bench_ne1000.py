"""NE-1000 driver: command round trip through a real pty, against a bare pyserial baseline.

For each command (status query, DIS, RAT set) it measures, as medians of
repeated runs: the driver's round trip; the same bytes written and read back
with bare pyserial on the same pty (baseline, measured in this run); the time
spent inside the simulated pump. Driver overhead = round trip − simulator time
(target ≤ 1 ms). Wire time is what the bytes would take on a real RS-232 line
at the configured baud (bytes × 10 / baud, both directions), which a pty does
not impose.

    python tests/benchmarks/bench_ne1000.py [--runs 7] [--reps 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import serial

from raphe.clock import Clock
from raphe.drivers.ne1000 import NE1000
from raphe.simulators.ne1000 import SimulatedNE1000

TARGET_OVERHEAD_S = 1e-3


class Timed:
    """Wraps the device's ``receive`` to add up its own time and the bytes exchanged."""

    def __init__(self, device) -> None:
        self.seconds = 0.0
        self.bytes = 0
        self.calls = 0
        receive = device.receive

        def timed(data: bytes) -> bytes:
            start = time.perf_counter()
            reply = receive(data)
            self.seconds += time.perf_counter() - start
            self.bytes += len(data) + len(reply)
            self.calls += 1
            return reply

        device.receive = timed

    def reset(self) -> None:
        self.seconds, self.bytes, self.calls = 0.0, 0, 0


def run_driver(pump: NE1000, timed: Timed, call, reps: int) -> tuple[float, float, float]:
    """(round trip, simulator time, bytes) per command."""
    timed.reset()
    start = time.perf_counter()
    for _ in range(reps):
        call(pump)
    elapsed = time.perf_counter() - start
    return elapsed / reps, timed.seconds / reps, timed.bytes / reps


def run_raw(port: serial.Serial, command: bytes, reps: int) -> float:
    """Bare pyserial round trip of the same command bytes."""
    start = time.perf_counter()
    for _ in range(reps):
        port.write(command)
        port.read_until(b"\x03")
    return (time.perf_counter() - start) / reps


COMMANDS = {
    "status query": (lambda p: p.status(), b"0\r"),
    "DIS": (lambda p: p.dispensed_uL(), b"0DIS\r"),
    "RAT set": (lambda p: p.set_rate(1.5), b"0RAT1.5UM\r"),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--reps", type=int, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        sim = SimulatedNE1000(Clock(1.0), directory=folder, powered_up=False).start()
        timed = Timed(sim.device)
        settings = sim.rig_settings()
        baud = settings["baudrate"]
        try:
            results = {}
            with NE1000.from_settings(settings) as pump:
                for name, (call, _) in COMMANDS.items():
                    call(pump)  # warm up
                    runs = [run_driver(pump, timed, call, args.reps) for _ in range(args.runs)]
                    results[name] = [statistics.median(col) for col in zip(*runs, strict=True)]
            raw = serial.Serial(settings["port"], baudrate=baud, timeout=1.0)
            try:
                for name, (_, command) in COMMANDS.items():
                    run_raw(raw, command, 5)
                    results[name].append(
                        statistics.median(
                            run_raw(raw, command, args.reps) for _ in range(args.runs)
                        )
                    )
            finally:
                raw.close()
        finally:
            sim.close()

    print(f"NE-1000 round trip through a pty, median of {args.runs} runs × {args.reps} commands")
    header = (
        f"{'command':<14}{'driver':>10}{'raw':>10}{'drv/raw':>9}{'sim':>9}"
        f"{'overhead':>10}{'wire@' + str(baud):>12}{'ovh/wire':>10}"
    )
    print(header)
    worst = 0.0
    for name, (trip, sim_s, nbytes, raw_s) in results.items():
        wire = nbytes * 10 / baud
        overhead = trip - sim_s
        worst = max(worst, overhead)
        print(
            f"{name:<14}{trip * 1e3:>8.3f}ms{raw_s * 1e3:>8.3f}ms{trip / raw_s:>9.2f}"
            f"{sim_s * 1e3:>7.3f}ms{overhead * 1e3:>8.3f}ms{wire * 1e3:>10.2f}ms"
            f"{overhead / wire:>10.3f}"
        )
    verdict = "meets" if worst <= TARGET_OVERHEAD_S else "misses"
    print(
        f"verdict: worst driver overhead {worst * 1e3:.3f} ms {verdict} the ≤ 1 ms target; "
        "on a real line the wire time dominates"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
