"""The simulated assay's dialysate-like mode: 5-HT on the 5-HIAA tail at realistic widths
(``raphe.simulators.hplc.dialysate_params``), quantified live with the bundled method
``simulated-5ht-dialysate``: the same numbers as the clean assay, and no sample lost to
``unresolved`` at S/N ≥ 10."""

from __future__ import annotations

import numpy as np
import pytest

from raphe.acquisition.analysis import flags as fl
from raphe.acquisition.analysis.chromatogram import Chromatogram
from raphe.acquisition.analysis.method import load_method
from raphe.acquisition.analysis.method_check import check
from raphe.acquisition.analysis.quantify import quantify
from raphe.simulators.hplc import HPLCECD, dialysate_params

METHOD = load_method("simulated-5ht-dialysate")
T = np.arange(9000) * 0.1


def _run(seed: int, fmol: float, hiaa_fmol: float = 260.0):
    model = HPLCECD(dialysate_params(), seed=seed)
    record = model.inject(100.0, {"NA": 10.0, "DA": 6.0, "5-HIAA": hiaa_fmol, "5-HT": fmol})
    res = quantify(Chromatogram(T, model.nA(100.0 + T), "nA"), METHOD, 20.0)
    return res, record.amounts_fmol


def test_the_dialysate_mode_puts_5ht_on_the_5hiaa_tail():
    model = HPLCECD(dialysate_params())
    hiaa, ht = model.shape("5-HIAA"), model.shape("5-HT")
    assert ht.rt_s - hiaa.rt_s == pytest.approx(60.0)
    assert 15.0 <= 2.3548 * ht.sigma_s <= 25.0  # W½ of a 15-25 min isocratic run
    assert hiaa.tau_s == pytest.approx(11.0)
    # at baseline (13 nM 5-HIAA, 0.6 nM 5-HT in 20 µL) 5-HIAA is ~90 times 5-HT's area
    ratio = 13 * 20 * model.response("5-HIAA") / (0.6 * 20 * model.response("5-HT"))
    assert 30 <= ratio <= 300


@pytest.mark.parametrize("fmol", [2.0, 5.0, 12.0, 30.0])
def test_5ht_is_quantified_on_the_tail(fmol):
    for seed in range(3):
        res, truth = _run(seed, fmol)
        ht = res.analytes["5-HT"]
        assert ht.peak is not None and ht.peak.code.startswith("EE"), (seed, ht.flags)
        assert ht.amount_fmol == pytest.approx(truth["5-HT"], rel=0.05, abs=0.1), seed
        if ht.peak.sn >= 10:
            assert not fl.excludes(ht.flags), (seed, ht.flags)
        assert check(METHOD, res) == []


def test_the_bundled_method_is_listed():
    from raphe.acquisition.analysis.method import bundled_methods

    assert "simulated-5ht-dialysate" in bundled_methods()
    assert METHOD.integration.skim == "exponential"
    assert {p.name for p in METHOD.analytes} == {"NA", "DA", "5-HIAA", "5-HT"}
