"""Integration arithmetic and figures of merit against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from raphe.acquisition.analysis import synthetic as sy
from raphe.acquisition.analysis.chromatogram import Chromatogram
from raphe.acquisition.analysis.integrate import area_above_line, area_indices
from raphe.acquisition.analysis.method import load_method
from raphe.acquisition.analysis.peaks import find_peaks
from raphe.acquisition.analysis.quantify import quantify


@settings(max_examples=60, deadline=None)
@given(y=arrays(np.float64, st.integers(5, 60), elements=st.floats(-100, 100)),
       data=st.data())
def test_sample_index_area_equals_interpolated_area(y, data):
    n = len(y)
    i0 = data.draw(st.integers(0, n - 3))
    i1 = data.draw(st.integers(i0 + 1, n - 1))
    t = np.arange(n) * 0.25
    fast = area_indices(y, 0.25, i0, i1, y[i0], y[i1])
    slow = area_above_line(t, y, t[i0], t[i1], (t[i0], y[i0]), (t[i1], y[i1]))
    assert fast == pytest.approx(slow, rel=1e-9, abs=1e-9)


def test_gaussian_figures():
    t = np.arange(0, 600, 0.05)
    p = sy.TruePeak(300.0, 4.0, 0.0, 10.0)
    peak = find_peaks(t, 1.0 + sy.emg(t, p)).peaks[0]
    w_half = 2 * math.sqrt(2 * math.log(2)) * 4.0
    assert peak.rt_s == pytest.approx(300.0, abs=0.01)
    assert peak.height == pytest.approx(10.0 / (4.0 * math.sqrt(2 * math.pi)), rel=2e-3)
    assert peak.width_half_s == pytest.approx(w_half, rel=5e-3)
    assert peak.plates == pytest.approx(5.54 * (300.0 / w_half) ** 2, rel=0.01)
    assert peak.tailing == pytest.approx(1.0, abs=0.01)
    assert peak.area == pytest.approx(10.0, rel=1e-3)


def test_tailing_and_resolution_of_a_tailing_pair():
    t = np.arange(0, 900, 0.1)
    a, b = sy.TruePeak(300.0, 4.0, 4.0, 10.0), sy.TruePeak(360.0, 5.0, 1.0, 10.0)
    first, second = find_peaks(t, sy.emg(t, a) + sy.emg(t, b)).peaks
    assert first.tailing > 1.2  # an exponential tail shows as USP tailing > 1
    expected = 1.18 * (second.rt_s - first.rt_s) / (first.width_half_s + second.width_half_s)
    assert second.resolution == pytest.approx(expected)
    assert math.isnan(first.resolution)


@pytest.mark.parametrize("shift", [-20.0, 20.0])
def test_rt_window_tolerates_20_s_drift(shift):
    method = load_method("simulated-5ht")
    t = np.arange(9001) * 0.1
    peaks = [sy.TruePeak(p.mu + shift, p.sigma, p.tau, p.area)
             for p in sy.assay_peaks({"5-HT": 1.1})]
    y = sy.trace(t, peaks, np.random.default_rng(2), white_sd=0.00025, offset=2.0)
    res = quantify(Chromatogram(t, y, "nA"), method, 20.0)
    for name in ("NA", "DA", "5-HIAA", "5-HT"):
        assert res.analytes[name].flags == (), name
    assert res.analytes["5-HT"].conc_nM == pytest.approx(0.5, rel=0.05)
