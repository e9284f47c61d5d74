"""Benchmark: the scheduler of several animals on one HPLC, against one animal's dry run.

Four animals run ``systemic-drug`` for 24 h on the fast simulated assay (5.5-min runs) at
30-min samples (48 samples each, 192 injections on the one HPLC). Measured in the same run,
alternating ``--repeats`` times (default 7), medians printed:

1. the baseline: four single-animal dry runs (what the four would cost checked apart);
2. ``check_animals``: the four dry runs in their slots, merged, every pair of injections
   checked for overlap and every turn of the selector for loop filling;
3. the run-time turn keeper (``SharedHPLC``): take → release for each of the 192
   injections, on a clock that never waits.

The scheduler's cost is (2) ÷ (1) — what proving the interleaving adds to checking the
animals — and (3) per injection against the 375-s slot each injection holds the HPLC.

Run: python tests/benchmarks/bench_animals.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import threading
import time

from raphe.protocols.animals import animal_ids, check_animals, slot_s, split_assignments
from raphe.protocols.dryrun import check
from raphe.protocols.protocol import load_protocol
from raphe.protocols.rig_spec import SHARED_LOOP_UL, simulated_spec
from raphe.protocols.shared_hplc import SharedHPLC

RUN_S = 330.0
DAY = ["equilibration_min=60", "interval_min=30", "baseline_samples=4", "post_samples=43"]


class _NoWaitClock:
    speed = 1.0

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep_until(self, t: float, cancel=None) -> None:
        self.t = max(self.t, t)


def _turns(injections: list, ids: list[str]) -> float:
    """Seconds per injection the turn keeper spends (take, move, release), never waiting."""
    clock = _NoWaitClock()
    hplc = SharedHPLC({a: k + 1 for k, a in enumerate(ids)}, RUN_S, clock,
                      schedule=lambda t, position, what: hplc.moved(position, t))
    cancel = threading.Event()
    t = time.perf_counter()
    for when, animal, _ in injections:
        clock.t = max(clock.t, when)
        hplc.take(animal, cancel, lambda p: hplc.moved(p, clock.now()))
        hplc.release(animal, clock.now())
    return (time.perf_counter() - t) / len(injections)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    protocol = load_protocol("systemic-drug")
    ids = animal_ids(4)
    given = split_assignments(DAY + ["A1:drug=vehicle", "A2:drug=ipsapirone",
                                     "A3:drug=fluoxetine", "A4:drug=citalopram"], ids)
    spec = dataclasses.replace(simulated_spec(), roles=frozenset(
        ("pump", "valve", "selector", "detector")), rack_size=None,
        loop_volume_uL=SHARED_LOOP_UL, syringe_volume_uL=2500.0)  # a 2.5-mL syringe: 24 h
    specs = {a: spec for a in ids}

    apart, together, turns = [], [], []
    plan = None
    for _ in range(args.repeats):
        t = time.perf_counter()
        for a in ids:
            check(protocol, given[a], spec, run_length_s=RUN_S)
        apart.append(time.perf_counter() - t)
        t = time.perf_counter()
        plan = check_animals(protocol, given, specs, run_length_s=RUN_S)
        together.append(time.perf_counter() - t)
        turns.append(_turns(plan.injections(), ids))
    assert plan is not None and plan.ok, plan.errors
    n = len(plan.injections())
    one, four = statistics.median(apart), statistics.median(together)
    print(f"4 animals × 24 h on one HPLC: {n} injections, slot {slot_s(RUN_S):g} s, "
          f"span {plan.duration_s / 3600:.1f} h")
    print(f"dry runs apart (baseline):   {one * 1e3:8.1f} ms")
    print(f"check_animals (interleaved): {four * 1e3:8.1f} ms  "
          f"= {four / one:.2f}× the dry runs apart")
    per = statistics.median(turns)
    print(f"turn keeper per injection:   {per * 1e6:8.1f} µs  "
          f"= {per / slot_s(RUN_S):.1e} of the slot it schedules")


if __name__ == "__main__":
    main()
