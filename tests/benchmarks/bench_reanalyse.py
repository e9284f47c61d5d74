"""Benchmark: archive reanalysis — Dask workers against one process, in the same run.

One short simulated systemic-drug session is recorded (simulated rig, 1000×) and copied into
an archive of N sessions (default 200, in ten day folders). The archive is then reanalysed
with the bundled ``simulated-5ht`` method:

1. in one process, without Dask (``workers=0``): wall time, per-session median;
2. on a local Dask cluster of ``--workers`` processes (default 2; its start-up included in
   the wall time, and given on its own);
3. once more into the same folder: every session is skipped (resumable), and how long
   finding that out takes.

Steps 1 and 2 alternate ``--repeats`` times (default 3), each into a fresh folder, and the
medians are printed with the speed-up of the cluster over one process (wall time, one
process ÷ Dask), so that load from other programs during the run weighs on both alike. On a
2-core machine the ceiling is 2; the load average at the start is printed: a core busy with
something else takes the second worker's share.

Run: python tests/benchmarks/bench_reanalyse.py [--sessions 200] [--workers 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from raphe.acquisition.study.batch import reanalyse_many, totals


def record(out: Path) -> Path:
    from raphe.acquisition.analysis.method import load_method
    from raphe.protocols.engine import Engine, Settings
    from raphe.protocols.protocol import load_protocol
    from raphe.protocols.rig_spec import SimOptions

    params = {"equilibration_min": 20, "baseline_samples": 2, "post_samples": 2,
              "interval_min": 16}
    engine = Engine(load_protocol("systemic-drug"), params, Settings(
        out=out, sim=SimOptions(speed=1000.0), method=load_method("simulated-5ht"),
        animal_id="rat", auto_answer=True, on_alarm="continue"))
    outcome = engine.run()
    if outcome.exit_code != 0:
        raise SystemExit(f"recording failed: {outcome.message}")
    return out


def run(sources: list[Path], out: Path, workers: int) -> tuple[float, list]:
    t = time.perf_counter()
    outcomes = reanalyse_many(sources, "simulated-5ht", out, workers=workers)
    return time.perf_counter() - t, outcomes


def cluster_start(workers: int) -> float:
    from dask.distributed import Client, LocalCluster

    t = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster):
        pass
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import os

    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start")
    with tempfile.TemporaryDirectory(prefix="raphe-bench-") as tmp:
        root = Path(tmp)
        template = record(root / "template.h5")
        archive = root / "archive"
        sources = []
        for i in range(args.sessions):
            day = archive / f"day{i % 10:02d}"
            day.mkdir(parents=True, exist_ok=True)
            sources.append(Path(shutil.copy(template, day / f"rat{i:03d}.h5")))
        print(f"{args.sessions} sessions of {template.stat().st_size / 1e6:.1f} MB "
              f"(simulated, {sum(1 for _ in archive.rglob('*.h5'))} files)")

        walls1, wallsn, per1, pern, starts = [], [], [], [], []
        for k in range(args.repeats):
            one, serial = run(sources, root / f"one{k}", 0)
            starts.append(cluster_start(args.workers))
            many, parallel = run(sources, root / f"dask{k}", args.workers)
            for name, outcomes in (("one process", serial), ("dask", parallel)):
                t = totals(outcomes)
                assert t["done"] == args.sessions and t["failed"] == 0, (name, t)
            walls1.append(one)
            wallsn.append(many)
            per1.append(statistics.median(o.seconds for o in serial))
            pern.append(statistics.median(o.seconds for o in parallel))
            print(f"  round {k + 1}: one process {one:6.1f} s, dask {many:6.1f} s "
                  f"({one / many:.2f}×), load {os.getloadavg()[0]:.2f}", flush=True)
        again, repeat = run(sources, root / "dask0", args.workers)
        assert totals(repeat)["skipped"] == args.sessions
        one, many = statistics.median(walls1), statistics.median(wallsn)
        startup = statistics.median(starts)
        print(f"one process           : {one:7.1f} s wall (median of {args.repeats}), "
              f"median {statistics.median(per1) * 1000:5.0f} ms/session")
        print(f"dask, {args.workers} workers        : {many:7.1f} s wall (median; cluster "
              f"start-up {startup:.1f} s), median {statistics.median(pern) * 1000:5.0f} "
              "ms/session on a worker")
        print(f"speed-up              : {one / many:.2f}× wall "
              f"({one / max(many - startup, 1e-9):.2f}× without the start-up)")
        print(f"second call           : {again:7.2f} s, {totals(repeat)['skipped']} of "
              f"{args.sessions} skipped (already reanalysed with this method)")


if __name__ == "__main__":
    main()
