"""Ground truth: EMG peaks of known area on drifting, noisy baselines.

S/N is set the EP 2.2.46 way: the noise trace (white + low-frequency) is
scaled so 2H/h equals the target, h its mean peak-to-peak over 5 × W½
windows and H the smallest peak's height.
"""

from __future__ import annotations

import numpy as np
import pytest

from raphe.acquisition.analysis import synthetic as sy
from raphe.acquisition.analysis.figures import peak_to_peak_noise
from raphe.acquisition.analysis.peaks import find_peaks

T = np.arange(12000) * 0.1  # a 20-minute run at 10 Hz
ISOLATED = [sy.TruePeak(200, 4, 1.2, 10.0), sy.TruePeak(500, 6, 1.8, 10.0),
            sy.TruePeak(850, 8, 2.4, 6.0)]
SEEDS = range(6)


def _pair(rs: float, ratio: float) -> list[sy.TruePeak]:
    sigma = 5.0
    w_half = 2.355 * sigma
    return [sy.TruePeak(500, sigma, 0.3 * sigma, 10.0),
            sy.TruePeak(500 + rs * 2 * w_half / 1.18, sigma, 0.3 * sigma, 10.0 * ratio)]


def _noise(rng, lf: float, w_half: float) -> np.ndarray:
    n = sy.trace(T, [], rng, white_sd=1.0, lf_sd=lf, lf_s=150.0)
    m = int(5 * w_half / 0.1)
    h = np.mean([peak_to_peak_noise(n, i, i + m) for i in range(0, len(n) - m, m)])
    return n / h


def _run(peaks, sn, seed, lf=0.0, drift=0.0, wander=0.0):
    rng = np.random.default_rng(seed)
    height = min(sy.apex(p)[1] for p in peaks)
    w_half = 2.355 * min(p.sigma for p in peaks)
    y = 2.0 + _noise(rng, lf, w_half) * 2 * height / sn
    y = y + drift * height * T / T[-1] + wander * height * np.sin(T / 300.0)
    for p in peaks:
        y = y + sy.emg(T, p)
    return find_peaks(T, y).peaks


def _errors(peaks, found):
    errs = []
    for p in peaks:
        rt = sy.apex(p)[0]
        near = [q for q in found if abs(q.rt_s - rt) <= 3.0]
        assert near, f"peak at {rt:.1f} s not found"
        errs.append(abs(near[0].area / p.area - 1))
    return errs


def test_emg_generator_has_exact_area():
    for p in ISOLATED:
        t = np.arange(0, 1500, 0.01)
        assert np.trapezoid(sy.emg(t, p), t) == pytest.approx(p.area, rel=1e-9)


BACKGROUNDS = {"white": (0, 0, 0), "white+lf": (1, 0, 0), "drift": (0, 3, 0),
               "drift+lf+curve": (1, 3, 0.3)}


@pytest.mark.parametrize("background", BACKGROUNDS)
@pytest.mark.parametrize("sn,tolerance", [(100, 0.01), (10, 0.05)])
def test_isolated_peak_areas(background, sn, tolerance):
    lf, drift, wander = BACKGROUNDS[background]
    for seed in SEEDS:
        found = _run(ISOLATED, sn, seed, lf, drift, wander)
        assert len(found) == len(ISOLATED), f"seed {seed}: {[round(p.rt_s) for p in found]}"
        assert max(_errors(ISOLATED, found)) <= tolerance, f"seed {seed}"


@pytest.mark.parametrize("ratio", [1.0, 0.5])
@pytest.mark.parametrize("sn,tolerance", [(100, 0.01), (10, 0.05)])
def test_overlapping_pairs_drop_line(ratio, sn, tolerance):
    pair = _pair(1.25, ratio)
    for seed in SEEDS:
        found = _run(pair, sn, seed, lf=1.0)
        assert max(_errors(pair, found)) <= tolerance, f"seed {seed}"
        codes = [q.start_code + q.end_code for q in found]
        assert codes == ["BV", "VB"]


@pytest.mark.parametrize("background", BACKGROUNDS)
def test_detected_at_sn_3(background):
    lf, drift, wander = BACKGROUNDS[background]
    for seed in SEEDS:
        found = _run(ISOLATED, 3, seed, lf, drift, wander)
        _errors(ISOLATED, found)  # each true peak found within 3 s
        assert len(found) == len(ISOLATED), f"seed {seed}: {[round(p.rt_s) for p in found]}"


def test_no_false_peaks_in_blank_runs():
    for seed in range(20):
        rng = np.random.default_rng(1000 + seed)
        y = sy.trace(T, [], rng, white_sd=0.01, lf_sd=0.01, lf_s=150.0, offset=2.0,
                     drift_per_s=1e-4, wander=0.005)
        assert find_peaks(T, y).peaks == [], f"seed {seed}"


def test_spikes_are_not_peaks():
    from raphe.acquisition.analysis.settings import IntegrationSettings

    rng = np.random.default_rng(7)
    y = sy.trace(T, ISOLATED, rng, white_sd=0.002, offset=2.0, spikes=5, spike_height=0.5)
    found = find_peaks(T, y, IntegrationSettings(peak_width_s=9.0, despike=True)).peaks
    assert len(found) == 3
    assert max(_errors(ISOLATED, found)) <= 0.01


def test_tangent_skim_of_a_rider():
    from raphe.acquisition.analysis.settings import IntegrationSettings

    parent, rider = sy.TruePeak(500, 6, 6, 100.0), sy.TruePeak(535, 3, 0.9, 2.0)
    y = 2 + sy.emg(T, parent) + sy.emg(T, rider)
    y = y + np.random.default_rng(1).normal(0, 1e-4, len(T))
    drop = find_peaks(T, y).peaks
    skim = find_peaks(T, y, IntegrationSettings(skim="tangent")).peaks
    assert [p.start_code + p.end_code for p in drop] == ["BV", "VB"]
    assert [p.start_code + p.end_code for p in skim] == ["BV", "TT"]
    # the pair's total is kept; the parent gets back the tail the drop line gave the rider
    assert skim[0].area + skim[1].area == pytest.approx(drop[0].area + drop[1].area)
    assert abs(skim[0].area - parent.area) < abs(drop[0].area - parent.area)
    assert skim[1].area < drop[1].area
    # below the skim threshold the rider keeps its drop line
    loose = find_peaks(T, y, IntegrationSettings(skim="tangent", skim_height_ratio=50)).peaks
    assert [p.area for p in loose] == [p.area for p in drop]


def test_whole_trace_baseline_follows_a_curved_background():
    from raphe.acquisition.analysis.baseline import whole_trace_baseline

    background = 2 + 0.3 * np.sin(T / 400) + 1e-4 * T
    peaks = [sy.TruePeak(300, 5, 1.5, 5.0), sy.TruePeak(700, 8, 2, 8.0)]
    y = background + sum(sy.emg(T, p) for p in peaks)
    y = y + np.random.default_rng(0).normal(0, 1e-3, len(T))
    base = whole_trace_baseline(T, y, 60.0)
    height = min(sy.apex(p)[1] for p in peaks)
    assert np.abs(base - background).max() < 0.02 * height
