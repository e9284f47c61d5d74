"""Benchmark: the dry run of a 24-hour protocol (target < 1 s).

Run: ``python tests/benchmarks/bench_protocols.py``. Prints medians over repeats, and as
the baseline measured in the same run the same script against a Rig API that does
nothing (the script's own cost): the ratio is what the checks, the accounting and the
timeline cost on top.
"""

from __future__ import annotations

import argparse
import statistics
import time

from raphe.protocols.dryrun import check
from raphe.protocols.protocol import parse_protocol
from raphe.protocols.rig_spec import RigSpec

SOURCE = """\
from raphe.protocols import Parameter

parameters = [Parameter("interval_min", 20.0, unit="min", range=(5, 60))]


def run(rig, params):
    rig.phase("equilibration")
    rig.pump.infuse(0.5)
    rig.wait(60)
    rig.phase("baseline")
    for i in range(6):
        rig.collect(params.interval_min, label=f"B{i + 1}")
    rig.administer("fluoxetine", 10, "ip")
    rig.phase("post-drug")
    for i in range(63):
        rig.collect(params.interval_min, label=f"P{i + 1}")
        if i % 12 == 11:
            rig.mark(f"{(i + 1) // 3} h after the drug")
"""


class NullRig:
    """The same calls, doing nothing."""

    class _Pump:
        def infuse(self, rate=None):
            pass

    def __init__(self):
        self.pump = self._Pump()

    def __getattr__(self, name):
        return lambda *a, **k: None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=21)
    args = ap.parse_args()
    protocol = parse_protocol(SOURCE, "bench_day.py")
    spec = RigSpec(roles=frozenset(("pump", "collector", "valve", "detector")),
                   syringe_volume_uL=2500.0, syringe_diameter_mm=7.29,
                   rate_limits_uL_min=(0.03, 2000.0), rack_size=96, loop_volume_uL=10.0,
                   dead_volume_uL=5.0, interval_s=0.1, simulated=True)
    plan = check(protocol, {}, spec, run_length_s=900)
    assert plan.ok, plan.errors
    dry, null = [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        check(protocol, {}, spec, run_length_s=900)
        dry.append(time.perf_counter() - t)
        t = time.perf_counter()
        protocol.run(NullRig(), type("Params", (), {"interval_min": 20.0}))
        null.append(time.perf_counter() - t)
    d, n = statistics.median(dry), statistics.median(null)
    print(f"dry run of a {plan.duration_s / 3600:.1f} h protocol ({len(plan.timeline)} steps, "
          f"{len(plan.samples)} samples): median {d * 1000:.2f} ms (target < 1000 ms)")
    print(f"  the same script against a do-nothing rig: {n * 1000:.3f} ms (baseline 1.00x); "
          f"dry run {d / n:.0f}x its time, {d / len(plan.timeline) * 1e6:.0f} µs per step")


if __name__ == "__main__":
    main()
