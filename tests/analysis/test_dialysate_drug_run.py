"""A fluoxetine systemic-drug run on the simulated rig in its dialysate-like mode (5-HT on
the 5-HIAA tail at realistic widths), quantified live with ``simulated-5ht-dialysate``:
the same pharmacology as the clean mode, no sample lost to ``unresolved`` at S/N ≥ 10."""

from __future__ import annotations

import dataclasses

import pytest

from raphe.acquisition.analysis import flags as fl
from raphe.acquisition.analysis.method import load_method
from raphe.acquisition.reader import SessionReader
from raphe.protocols.engine import Engine, Settings
from raphe.protocols.protocol import load_protocol
from raphe.protocols.rig_spec import SimOptions

pytestmark = pytest.mark.slow

SPEED = 1000.0
SHORT = {"equilibration_min": 20, "baseline_samples": 3, "post_samples": 5,
         "interval_min": 20, "drug": "fluoxetine", "dose_mg_kg": 10.0}


def test_fluoxetine_through_live_analysis_in_the_dialysate_mode(tmp_path):
    engine = Engine(load_protocol("systemic-drug"), SHORT, Settings(
        out=tmp_path / "rat.h5", sim=SimOptions(speed=SPEED, assay="dialysate"),
        method=load_method("simulated-5ht-dialysate"), auto_answer=True,
        on_alarm="continue"))
    outcome = engine.run()
    assert outcome.exit_code == 0, outcome.message
    latest = {}
    for r in outcome.results:  # a result is reported again as the reference changes
        if r.analyte == "5-HT":
            latest[r.sample_id] = r
    samples = [r for r in latest.values() if r.sample_id.startswith(("B", "P"))]
    assert len(samples) >= 7
    for r in samples:
        flags = fl.parse(r.flags)
        assert "not_found" not in flags, r.sample_id
        if r.sn >= 10:
            assert "unresolved" not in flags, (r.sample_id, r.flags, r.code)
        assert r.code.startswith("EE"), (r.sample_id, r.code)
    post = [r.pct_baseline for r in samples if r.sample_id.startswith("P")
            and not fl.excludes(fl.parse(r.flags))]
    assert max(post) > 150.0, post


def test_a_live_run_records_each_kind_of_method_warning_once(tmp_path):
    """A baseline window shorter than 5-HIAA's base with its tail (an easy mistake): the
    session says so, naming the setting, once, as an event of the analysis."""
    method = load_method("simulated-5ht-dialysate")
    method = dataclasses.replace(method, integration=dataclasses.replace(
        method.integration, baseline_window_s=60.0))
    out = tmp_path / "rat.h5"
    engine = Engine(load_protocol("systemic-drug"), {
        "equilibration_min": 10, "baseline_samples": 2, "post_samples": 1,
        "interval_min": 20, "drug": "vehicle"}, Settings(
        out=out, sim=SimOptions(speed=SPEED, assay="dialysate"), method=method,
        auto_answer=True, on_alarm="continue"))
    outcome = engine.run()
    assert outcome.exit_code == 0, outcome.message
    with SessionReader(out) as r:
        checks = [e for e in r.events() if e.kind == "info" and "method check" in e.text]
    window = [e for e in checks if "integration.baseline_window_s = 60 s" in e.text]
    assert len(window) == 1, [e.text for e in checks]
    assert window[0].source == "analysis" and "5-HIAA" in window[0].text
