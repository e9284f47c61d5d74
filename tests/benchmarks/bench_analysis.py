"""Benchmark: chromatogram quantification throughput and accuracy.

Run: python tests/benchmarks/bench_analysis.py [--quick]

1. Throughput on one core: 20-minute, 10 Hz simulated 5-HT assay runs
   (12 000 points, 5 peaks) through ``quantify`` with the bundled
   ``simulated-5ht`` method. Target: >= 500 chromatograms/s. Baseline measured in
   the same run: ``scipy.signal.find_peaks`` alone on the same traces.
2. Against hplc-py (GPL peer, installed only for benchmarking: ``pip install
   hplc-py``) on the same synthetic set: speed ratio (target >= 100x) and area
   error against the known truth (target: no worse). Skipped, and said so, when
   hplc-py is absent.

Figures are medians of repeated runs.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core

import argparse
import statistics
import time
import warnings

import numpy as np
from scipy import signal

from raphe.acquisition.analysis import synthetic as sy
from raphe.acquisition.analysis.chromatogram import Chromatogram
from raphe.acquisition.analysis.method import load_method
from raphe.acquisition.analysis.quantify import quantify

DT = 0.1
T = np.arange(12000) * DT
NAMES = ["front", "NA", "DA", "5-HIAA", "5-HT"]


def synthetic_set(n: int, seed: int = 1) -> list[tuple[np.ndarray, list[sy.TruePeak]]]:
    """Assay runs with varying 5-HT amounts, drift, white and low-frequency noise."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        peaks = sy.assay_peaks({"5-HT": 0.11 * rng.uniform(4.0, 20.0)})
        y = sy.trace(T, peaks, rng, white_sd=0.00025, lf_sd=0.0002, lf_s=150.0, offset=2.0,
                     drift_per_s=rng.uniform(-2e-5, 2e-5))
        out.append((y, peaks))
    return out


def timed(fn, items, repeats: int) -> float:
    """Median over ``repeats`` of the seconds per item."""
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for item in items:
            fn(item)
        runs.append((time.perf_counter() - t0) / len(items))
    return statistics.median(runs)


def raphe_areas(y: np.ndarray, method) -> list[float]:
    res = quantify(Chromatogram(T, y, "nA"), method, 20.0)
    named = {"solvent front": "front"}
    by = {named.get(k, k): a.peak.area if a.peak else np.nan for k, a in res.analytes.items()}
    return [by[n] for n in NAMES]


def hplc_py_areas(y: np.ndarray, hplc_chrom, pd) -> list[float]:
    """hplc-py fit; its area is the sum over samples, so × dt gives signal·s."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = hplc_chrom(pd.DataFrame({"time": T, "signal": y}))
        table = c.fit_peaks(verbose=False, approx_peak_width=20.0)
    out = []
    for p in sy.assay_peaks():
        rt = sy.apex(p)[0]
        near = table[(table["retention_time"] - rt).abs() <= 10.0]
        out.append(float(near["area"].iloc[0]) * DT if len(near) else np.nan)
    return out


def area_errors(results, truth) -> np.ndarray:
    """Relative |area error| per (chromatogram, peak); NaN for a missed peak."""
    return np.array([[abs(a / p.area - 1) for a, p in zip(r, peaks, strict=True)]
                     for r, (_, peaks) in zip(results, truth, strict=True)])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer chromatograms and repeats")
    args = ap.parse_args()
    n, repeats, n_peer = (40, 3, 3) if args.quick else (200, 5, 8)
    method = load_method("simulated-5ht")
    data = synthetic_set(n)
    traces = [y for y, _ in data]

    base = timed(lambda y: signal.find_peaks(y, prominence=0.01), traces, repeats)
    ours = timed(lambda y: quantify(Chromatogram(T, y, "nA"), method, 20.0), traces, repeats)
    rate = 1.0 / ours
    print("== throughput: 20-min 10 Hz chromatograms (12 000 points, 5 peaks), one core")
    print(f"   baseline  scipy.signal.find_peaks only : {1 / base:10.0f} /s   (ratio 1.00)")
    print(f"   raphe     quantify (detect, integrate, S/N, identify, calibrate) : "
          f"{rate:8.0f} /s   (ratio {base / ours:.3f} of baseline speed; "
          f"{ours * 1e3:.2f} ms each)")
    print(f"   target >= 500 /s: {'MET' if rate >= 500 else 'NOT MET'} ({rate / 500:.2f}x target)")

    ours_err = area_errors([raphe_areas(y, method) for y in traces], data)
    print("\n== accuracy vs truth (all chromatograms): |area error|")
    print(f"   raphe  median {np.nanmedian(ours_err) * 100:.2f} %  max "
          f"{np.nanmax(ours_err) * 100:.2f} %  missed {int(np.isnan(ours_err).sum())}")

    try:
        import pandas as pd
        from hplc.quant import Chromatogram as HplcChromatogram
    except ImportError:
        print("\n== hplc-py: NOT INSTALLED - comparison skipped "
              "(pip install hplc-py into the benchmark environment to run it)")
        return 0
    subset = data[:n_peer]
    peer_times, peer_results = [], []
    for y, _ in subset:
        t0 = time.perf_counter()
        peer_results.append(hplc_py_areas(y, HplcChromatogram, pd))
        peer_times.append(time.perf_counter() - t0)
    peer = statistics.median(peer_times)
    peer_err = area_errors(peer_results, subset)
    sub_err = ours_err[:n_peer]
    speedup = peer / ours
    print(f"\n== against hplc-py (same {n_peer} synthetic chromatograms)")
    print(f"   hplc-py  {peer * 1e3:9.1f} ms each   raphe {ours * 1e3:.2f} ms each   "
          f"speed ratio {speedup:.0f}x  (target >= 100x: {'MET' if speedup >= 100 else 'NOT MET'})")
    print(f"   |area error| median: hplc-py {np.nanmedian(peer_err) * 100:.2f} %  "
          f"raphe {np.nanmedian(sub_err) * 100:.2f} %;  max: hplc-py "
          f"{np.nanmax(peer_err) * 100:.2f} %  raphe {np.nanmax(sub_err) * 100:.2f} %;  "
          f"missed: hplc-py {int(np.isnan(peer_err).sum())}  raphe {int(np.isnan(sub_err).sum())}")
    no_worse = (np.nanmedian(sub_err) <= np.nanmedian(peer_err)
                and np.isnan(sub_err).sum() <= np.isnan(peer_err).sum())
    print(f"   area error no worse than hplc-py: {'MET' if no_worse else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
