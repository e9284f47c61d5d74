"""The bundled simulated-5ht method quantifies the simulator's HPLC-ECD output."""

from __future__ import annotations

import numpy as np
import pytest

from raphe.acquisition.analysis.method import load_method
from raphe.acquisition.analysis.quantifier import quantify_session_stream
from raphe.records import DetectorBlock, Injection

hplc = pytest.importorskip("raphe.simulators.hplc")

AMOUNTS = [2.0, 4.0, 8.0, 12.0, 20.0, 1.0]  # 5-HT fmol on column


@pytest.mark.parametrize("spikes_per_h", [0.5, 20.0])
def test_simulated_chromatograms_are_quantified(spikes_per_h):
    model = hplc.HPLCECD(hplc.HPLCParams(spike_rate_per_h=spikes_per_h), seed=3)
    injections = []
    for k, amount in enumerate(AMOUNTS):
        t0 = 30.0 + 1000.0 * k
        model.inject(t0, {"NA": 10.0, "DA": 8.0, "5-HIAA": 100.0, "5-HT": amount})
        injections.append(Injection(t0, f"S{k}", 20.0, "B", "sample"))
    t = np.arange(round(1000.0 * len(AMOUNTS) / 0.1)) * 0.1
    y = model.nA(t)
    blocks = [DetectorBlock(i, t[i], 0.1, y[i:i + 50]) for i in range(0, len(y), 50)]
    results = quantify_session_stream(blocks, injections, [], load_method("simulated-5ht"))
    ht = [r for r in results if r.analyte == "5-HT"]
    # What went on the column: the loop's amount times the injection's volume factor
    # (the simulated injection precision, CV 2 %).
    on_column = [rec.amounts_fmol["5-HT"] for rec in model.injections]
    assert on_column != pytest.approx(AMOUNTS, rel=1e-6)
    (spec,) = [p for p in load_method("simulated-5ht").peaks if p.name == "5-HT"]
    loq = spec.calibration.loq_fmol  # ~2 fmol
    for r, amount in zip(ht, on_column, strict=True):
        assert r.amount_fmol == pytest.approx(amount, rel=0.05, abs=0.1), r.sample_id
        assert r.rt_s == pytest.approx(600.0, abs=1.0)
        assert r.conc_nM == pytest.approx(amount / 20.0, rel=0.05, abs=0.005)
        # 1 fmol: above the LOD (~0.65), below the LOQ; 2 fmol sits at the LOQ and is
        # flagged or not as its injection put a little less or more on the column
        if amount < 0.95 * loq:
            assert r.flags == "below_loq", r.sample_id
        elif amount > 1.05 * loq:
            assert r.flags == "", r.sample_id
        else:
            assert r.flags in ("", "below_loq"), r.sample_id
    assert ht[-1].flags == "below_loq"
    na = [r for r in results if r.analyte == "NA"]
    assert all(r.area == pytest.approx(rec.amounts_fmol["NA"] * 0.12, rel=0.05)
               for r, rec in zip(na, model.injections, strict=True))
