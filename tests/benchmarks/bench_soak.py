"""Benchmark (soak): 72 hours of the detector path at high speed — memory and time base.

The simulated 34465A digitises the simulated HPLC-ECD (a sample injected every 20 min);
the driver reads it through pyvisa-py over loopback TCP, the recorder drains it into a
session file, and the live analysis quantifies every chromatogram as it closes: the path
a 72-hour run takes, on a clock running ``--speed`` times faster. Every ``--every``
simulated hours it prints the resident memory (VmRSS), the readings taken against the
readings the elapsed time holds, the gaps and holes so far, and the sizes of the
containers that could grow; at the end, what grew between the first checkpoint and the
last (Python objects by type; with ``--tracemalloc``, allocations by line — slower).

A flat time base: readings == elapsed / interval (to within the bracket of one poll), no
gap, one INIT. A flat memory: RSS after the first checkpoint grows by less than the
signal buffers of one poll.

``--parts`` runs only some of the path, to tell where memory goes: ``dmm`` (simulator and
driver, drained every 50 ms of real time as the recorder does), ``session`` (+ recorder and
session file), ``analysis`` (+ live analysis: the default, everything).

Run: python tests/benchmarks/bench_soak.py [--hours 72] [--speed 1000] [--every 6]
     [--parts dmm|session|analysis] [--tracemalloc] [--keep FILE]
"""

from __future__ import annotations

import argparse
import gc
import resource
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path

from raphe.acquisition.analysis.method import load_method
from raphe.acquisition.analysis.quantifier import LiveQuantifier
from raphe.acquisition.reader import SessionReader
from raphe.acquisition.recorder import Recorder
from raphe.acquisition.session import Session
from raphe.clock import Clock
from raphe.drivers.dmm34465a import DMM34465A
from raphe.records import Injection
from raphe.simulators.dmm34465a import SimulatedDMM34465A
from raphe.simulators.hplc import HPLCECD, HPLCParams

DT = 0.1
SCALE = 10.0  # nA per V, as the simulated rig's ECD
INJECT_EVERY_S = 20 * 60.0
LOOP_UL = 20.0
#: A dialysate sample as the simulated animal gives it (fmol in a 20 µL loop).
AMOUNTS = {"NA": 12.0, "DA": 4.0, "5-HIAA": 300.0, "5-HT": 10.0}


def rss_mb() -> float:
    """Resident memory now (VmRSS), MB; the peak from ``resource`` where /proc is absent."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def type_counts() -> Counter:
    gc.collect()
    return Counter(type(o).__name__ for o in gc.get_objects())


class DrainOnly:
    """The recorder's detector loop alone: ``read_block`` until empty, every 50 ms."""

    def __init__(self, dmm: DMM34465A, clock: Clock) -> None:
        self.dmm, self.clock = dmm, clock
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self.dmm.start(self.clock.now())
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.wait(0.05):
                for _ in range(4):
                    if self.dmm.read_block() is None:
                        break
        except Exception as exc:  # noqa: BLE001 - reported by the main loop
            self.error = exc

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.dmm.stop()


class Soak:
    def __init__(self, folder: Path, speed: float, parts: str) -> None:
        self.parts = parts
        self.clock = Clock(speed=speed)
        self.hplc = HPLCECD(HPLCParams(scale_nA_per_V=SCALE), seed=3)
        self.sim = SimulatedDMM34465A(self.clock, self.hplc).start()
        self.dmm = DMM34465A(self.sim.resource, session_clock=self.clock.now, timeout_s=5.0,
                             scale_nA_per_V=SCALE, range_V=1.0, nplc=1.0)
        self.dmm.configure(DT, SCALE)
        self.method = load_method("simulated-5ht")
        self.found = 0
        self.results = 0
        self.notes: Counter = Counter()
        self.session = self.quantifier = self.analysis = None
        if parts == "dmm":
            self.recorder = DrainOnly(self.dmm, self.clock)
        else:
            self.session = Session.create(folder / "soak.h5", signal_dt=DT,
                                          scale_nA_per_V=SCALE,
                                          method_toml=getattr(self.method, "text", ""))
            if parts == "analysis":
                self.quantifier = LiveQuantifier(self.method, on_result=self._result)
                self.analysis = self.session.subscribe(self.quantifier.feed, name="analysis")
            self.recorder = Recorder(self.session, self.clock, {"detector": self.dmm},
                                     listener=lambda kind, role, text: self.notes.update([kind]))
        self.injections = 0
        self.t0 = 0.0

    def _result(self, result) -> None:
        self.session.add_result(result)
        if result.analyte == "5-HT":
            self.results += 1
            self.found += "not_found" not in result.flags

    def start(self) -> None:
        self.recorder.start()
        self.t0 = self.clock.now()

    def inject(self, t: float) -> None:
        self.injections += 1
        self.hplc.inject(t, AMOUNTS, label=f"S{self.injections:03d}")
        if self.session is not None:
            self.session.add_injection(Injection(t, f"S{self.injections:03d}", LOOP_UL))

    def readings(self) -> tuple[int, float]:
        """(readings delivered, readings the elapsed time holds) since the start."""
        dmm = self.dmm
        delivered = dmm._next_index - dmm.readings_lost
        return delivered, (self.clock.now() - self.t0) / DT

    def gaps(self) -> int:
        """Gap events so far (the recorder's), or holes when only the driver runs."""
        return self.notes["gap"] if self.session is not None else len(self.dmm.holes)

    def sizes(self) -> dict[str, int]:
        dmm, sim = self.dmm, self.sim
        out = {
            "sim.received": len(sim.received),
            "sim.init_times": len(sim.device.init_times),
            "hplc.injections": len(self.hplc.injections),
            "dmm.segments": len(dmm.segments),
            "dmm.holes": len(dmm.holes),
            "dmm._rates": len(dmm._rates),
            "dmm.time_base._history": len(dmm.time_base._history),
        }
        if self.session is not None:
            out["writer._results"] = len(self.session._writer._results)
        q = self.quantifier
        if q is not None:
            out.update({
                "q.results": len(q.results),
                "q.closed": len(q.closed),
                "q.references": len(q.references),
                "q._closed": len(q._closed),
                "q._index": len(q._index),
                "q.buffered_samples": q.buffered_samples,
            })
        return out

    def close(self) -> None:
        self.recorder.stop()
        if self.analysis is not None:
            self.analysis.call(self.quantifier.finish)
            self.session.unsubscribe(self.analysis)
        if self.session is not None:
            self.session.close()
        self.dmm.close()
        self.sim.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=72.0, help="simulated hours (72)")
    ap.add_argument("--speed", type=float, default=1000.0, help="clock speed (1000: 72 h in "
                    "4.3 min; the simulated rig's limit)")
    ap.add_argument("--every", type=float, default=6.0, help="simulated hours per checkpoint")
    ap.add_argument("--parts", choices=("dmm", "session", "analysis"), default="analysis",
                    help="what runs: the driver alone, + recorder and session, + analysis")
    ap.add_argument("--tracemalloc", action="store_true",
                    help="attribute what grows to source lines (slower)")
    ap.add_argument("--keep", type=Path, help="keep the session file here")
    args = ap.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="raphe-soak-"))
    soak = Soak(folder, args.speed, args.parts)
    print(f"soak: {args.hours:g} h of session time at {args.speed:g}× "
          f"({args.hours * 3600 / args.speed / 60:.1f} min), {DT:g} s readings, an injection "
          f"every {INJECT_EVERY_S / 60:g} min; parts: {args.parts}; "
          f"RSS at start {rss_mb():.1f} MB\n")
    print(f"{'h':>5} {'real s':>7} {'RSS MB':>7} {'readings':>10} {'elapsed/dt':>11} "
          f"{'diff':>6} {'gaps':>4} {'holes':>5} {'INITs':>5} {'5-HT found':>10}")
    soak.start()
    real0 = time.monotonic()
    end = soak.t0 + args.hours * 3600
    next_inject = soak.t0 + INJECT_EVERY_S
    next_check = soak.t0 + args.every * 3600
    checkpoints: list[tuple[float, float]] = []
    first_counts: Counter | None = None
    first_sizes: dict[str, int] = {}
    snapshot = None
    stop = threading.Event()
    while True:
        t_next = min(next_inject, next_check, end)
        soak.clock.sleep_until(t_next, stop)
        now = soak.clock.now()
        if soak.recorder.error is not None or not soak.recorder.running:
            raise SystemExit(f"the recorder stopped: {soak.recorder.error}")
        if now >= next_inject and next_inject < end:
            soak.inject(next_inject)
            next_inject += INJECT_EVERY_S
        if now >= next_check or now >= end:
            hours = (now - soak.t0) / 3600
            delivered, expected = soak.readings()
            mb = rss_mb()
            checkpoints.append((hours, mb))
            print(f"{hours:5.1f} {time.monotonic() - real0:7.1f} {mb:7.1f} {delivered:10d} "
                  f"{expected:11.0f} {delivered - expected:6.0f} {soak.notes['gap']:4d} "
                  f"{len(soak.dmm.holes):5d} {len(soak.sim.device.init_times):5d} "
                  f"{soak.found:>4d}/{soak.results:<5d}", flush=True)
            if first_counts is None:
                first_counts, first_sizes = type_counts(), soak.sizes()
                if args.tracemalloc:
                    tracemalloc.start(5)
                    snapshot = tracemalloc.take_snapshot()
            next_check += args.every * 3600
        if now >= end:
            break
    last_counts, last_sizes = type_counts(), soak.sizes()
    grown = None
    if snapshot is not None:
        grown = tracemalloc.take_snapshot().compare_to(snapshot, "lineno")
        tracemalloc.stop()
    soak.close()

    if soak.session is not None:
        with SessionReader(folder / "soak.h5") as r:
            n_samples, duration = r.n_samples, r.duration_s
            gaps = [e for e in r.events() if e.kind == "gap"]
            problems = r.check()["problems"]
        if args.keep:
            (folder / "soak.h5").replace(args.keep)
    else:
        n_samples = soak.dmm._next_index - soak.dmm.readings_lost
        duration = (n_samples - 1) * DT if n_samples else 0.0
        gaps, problems = list(soak.dmm.holes), []

    h0, mb0 = checkpoints[0]
    h1, mb1 = checkpoints[-1]
    print(f"\nRSS {mb0:.1f} MB at {h0:g} h -> {mb1:.1f} MB at {h1:g} h: "
          f"{(mb1 - mb0) / max(h1 - h0, 1e-9) * 24:+.2f} MB per simulated day")
    print(f"{'session file' if soak.session else 'driver'}: {n_samples} samples over "
          f"{duration / 3600:.2f} h "
          f"({duration / DT + 1 - n_samples:+.0f} against duration/dt), {len(gaps)} gap events, "
          f"problems {problems or 'none'}; {soak.injections} injections, 5-HT found in "
          f"{soak.found} of {soak.results} reports")
    print("\ncontainers (first checkpoint -> end):")
    for key in last_sizes:
        if last_sizes[key] != first_sizes.get(key):
            print(f"  {key:22s} {first_sizes.get(key, 0):>9} -> {last_sizes[key]:>9}")
    print("\nPython objects that grew most (first checkpoint -> end):")
    for name, n in (last_counts - first_counts).most_common(12):
        print(f"  {name:28s} +{n}")
    if grown is not None:
        print("\nallocations that grew most (tracemalloc, first checkpoint -> end):")
        for stat in grown[:15]:
            print(f"  {stat.size_diff / 1024:+9.1f} kB {stat.count_diff:+7d}  {stat.traceback}")
    flat_time = not gaps and abs(duration / DT + 1 - n_samples) < 2
    print(f"\nverdict: time base {'PASS' if flat_time else 'FAIL'} (no gap, every reading "
          f"accounted for); memory {mb1 - mb0:+.1f} MB from {h0:g} h to {h1:g} h")


if __name__ == "__main__":
    main()
