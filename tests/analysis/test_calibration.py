"""Calibration fits against an independent least-squares computation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raphe.acquisition.analysis.calibration import Standard, fit, fit_standards
from raphe.errors import InputError

X = np.array([5.0, 5.0, 10.0, 10.0, 20.0, 20.0, 40.0, 40.0, 100.0, 100.0])
Y = np.array([0.562, 0.532, 1.121, 1.091, 2.176, 2.217, 4.431, 4.373, 11.06, 10.95])


def _lstsq(x, y, w, origin):
    """Weighted LS via numpy.linalg.lstsq on sqrt(w)-scaled rows."""
    a = x[:, None] if origin else np.column_stack([x, np.ones_like(x)])
    sw = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(a * sw[:, None], y * sw, rcond=None)
    return (coef[0], 0.0) if origin else (coef[0], coef[1])


@pytest.mark.parametrize("model", ["linear", "origin"])
@pytest.mark.parametrize("weighting,w", [("none", np.ones_like(X)), ("1/x", 1 / X),
                                         ("1/x2", 1 / X**2)])
def test_fit_matches_lstsq(model, weighting, w):
    cal = fit(X, Y, model, weighting)
    slope, icpt = _lstsq(X, Y, w, model == "origin")
    assert cal.slope == pytest.approx(slope, rel=1e-10)
    assert cal.intercept == pytest.approx(icpt, abs=1e-12)
    # LOD/LOQ: 3.3σ/S and 10σ/S with σ the weighted residual SD (weights normalised to mean 1)
    p = 1 if model == "origin" else 2
    wn = w / w.mean()
    sd = np.sqrt(np.sum(wn * (Y - slope * X - icpt) ** 2) / (len(X) - p))
    assert cal.lod_fmol == pytest.approx(3.3 * sd / slope)
    assert cal.loq_fmol == pytest.approx(10 * sd / slope)
    assert 0 < cal.lod_fmol < cal.loq_fmol


@settings(max_examples=50, deadline=None)
@given(slope=st.floats(0.01, 10), icpt=st.floats(-1, 1),
       noise=st.lists(st.floats(-0.01, 0.01), min_size=6, max_size=6))
def test_back_calculated_standards_are_recovered(slope, icpt, noise):
    amounts = np.array([1.0, 2.0, 5.0, 10.0, 20.0, 50.0])
    areas = slope * amounts + icpt + np.array(noise) * slope
    cal = fit(amounts, areas, "linear", "none")
    back = np.array([cal.amount(a) for a in areas])
    # each standard comes back within its own scatter (|noise| ≤ 0.01 amount units) + fit error
    np.testing.assert_allclose(back, amounts, atol=0.03)


def test_exact_line_is_recovered_and_conc_uses_volume():
    stds = [Standard(c, 20.0, 0.11 * c * 20.0 + 0.05) for c in (0.25, 0.5, 1.0, 2.0)]
    cal = fit_standards(stds, "linear", "1/x")
    assert cal.slope == pytest.approx(0.11) and cal.intercept == pytest.approx(0.05)
    area = 0.11 * 12.0 + 0.05  # 12 fmol on column
    assert cal.amount(area) == pytest.approx(12.0)
    assert cal.conc_nM(area, 20.0) == pytest.approx(0.6)
    assert cal.conc_nM(area, 10.0) == pytest.approx(1.2)  # half the loop, twice the conc


@pytest.mark.parametrize("args,message", [
    (([1.0, 1.0, 1.0], [1.0, 1.0, 1.0], "linear"), "at 2 or more levels"),
    (([1.0], [1.0], "origin"), "at least 2 standards"),
    (([0.0, 1.0, 2.0], [0.0, 1.0, 2.0], "linear", "1/x"), "amount > 0"),
    (([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], "cubic"), "model must be"),
    (([1.0, 2.0, 3.0], [3.0, 2.0, 1.0], "linear"), "slope is not positive"),
])
def test_bad_calibrations_are_input_errors(args, message):
    with pytest.raises(InputError, match=message):
        fit(*args)
