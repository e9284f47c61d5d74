"""The dry run: timeline, probe-time windows, volumes, tubes, warnings — the plan a run follows."""

from __future__ import annotations

import json
import math

import pytest

from raphe.gui.cli import main
from raphe.protocols.dryrun import check
from raphe.protocols.parameters import Parameter, parse_assignments, resolve
from raphe.protocols.protocol import bundled_protocols, load_protocol, parse_protocol
from raphe.protocols.rig_spec import RigSpec, simulated_spec


def spec(**kw) -> RigSpec:
    base = {"roles": frozenset(("pump", "collector", "valve", "detector")),
                "syringe_volume_uL": 1000.0, "syringe_diameter_mm": 4.61,
                "rate_limits_uL_min": (0.01, 800.0), "rack_size": 48, "loop_volume_uL": 20.0,
                "dead_volume_uL": 10.0, "interval_s": 0.1}
    base.update(kw)
    return RigSpec(**base)


def protocol(body: str):
    return parse_protocol("from raphe.protocols import Parameter\n" + body, "/lab/p.py")


@pytest.mark.parametrize("name", bundled_protocols())
def test_every_bundled_protocol_passes_its_dry_run(name):
    plan = check(load_protocol(name), {}, simulated_spec(), run_length_s=900,
                 method_name="simulated-5ht")
    assert plan.ok, plan.errors
    assert plan.duration_s > 0


def test_probe_windows_shift_by_dead_volume_over_flow_across_a_flow_change():
    p = protocol("def run(rig, params):\n"
                 "    rig.pump.infuse(2.0)\n"          # 10 µL / 2 µL/min = 5 min
                 "    rig.wait(30)\n"
                 "    rig.collect(20)\n"
                 "    rig.pump.infuse(1.0)\n"          # after the change: 10 min
                 "    rig.wait(30)\n"
                 "    rig.collect(20)\n")
    plan = check(p, {}, spec(), run_length_s=900)
    assert plan.ok, plan.errors
    first, second = plan.samples
    assert (first.t_start, first.t_end) == (1800.0, 3000.0)
    assert first.probe_start_s == pytest.approx(1500.0) and first.probe_end_s == pytest.approx(
        2700.0)
    assert second.probe_start_s == pytest.approx(4800.0 - 600.0)
    assert second.volume_uL == pytest.approx(20.0) and first.volume_uL == pytest.approx(40.0)
    assert plan.syringe_ul == pytest.approx(2 * 50 + 1 * 50 + 1 * 15)  # the last run included
    assert plan.duration_s == pytest.approx(6000.0 + 900.0)
    assert (plan.tubes, plan.injections) == (2, 2)
    assert [s.tube for s in plan.samples] == [1, 2]


def test_a_sample_leaving_the_probe_before_the_fluid_path_filled_is_not_a_baseline():
    p = protocol("def run(rig, params):\n"
                 "    rig.pump.infuse(1.0)\n"
                 "    rig.collect(20)\n"       # probe window starts 10 min before perfusion
                 "    rig.collect(20)\n"
                 "    rig.administer('fluoxetine', 10, 'ip')\n"
                 "    rig.collect(20)\n")
    plan = check(p, {}, spec(), run_length_s=900)
    assert plan.ok
    assert [s.unfilled for s in plan.samples] == [True, False, False]
    assert any("S001 left the probe before the fluid path was filled" in w.message
               for w in plan.warnings)


def test_no_complete_baseline_sample_before_the_drug_is_a_warning_with_its_line():
    p = protocol("def run(rig, params):\n"
                 "    rig.pump.infuse(1.0)\n"
                 "    rig.wait(5)\n"
                 "    rig.collect(20)\n"       # left the probe from -5 min (unfilled) to 15
                 "    rig.wait(5)\n"
                 "    rig.administer('fluoxetine', 10, 'ip')\n"   # line 7, at 30 min
                 "    rig.collect(20)\n")      # left the probe from 20 to 40 min
    plan = check(p, {}, spec(), run_length_s=900)
    assert plan.ok  # a warning, not an error: the run is possible
    (warning,) = [w for w in plan.warnings if "% of baseline" in w.message]
    assert warning.line == 7 and "% of baseline will stay empty" in warning.message


def test_parameters_take_units_and_names_as_typed():
    declared = [Parameter("flow", 1.0, unit="uL/min", range=(0.1, 5.0)),
                Parameter("region", "prefrontal-cortex",
                          choices=("prefrontal-cortex", "ventral-hippocampus")),
                Parameter("n", 3, range=(1, 10)), Parameter("standards", False)]
    given = parse_assignments(["flow=90 uL/h", "region=ventral_hippocampus", "n=4",
                               "standards=yes"])
    params = resolve(declared, given)
    assert params.flow == pytest.approx(1.5) and params.region == "ventral-hippocampus"
    assert params.n == 4 and params.standards is True
    assert params.with_units()["flow"] == {"value": pytest.approx(1.5), "unit": "uL/min"}


def test_check_json_has_what_a_script_needs(capsys):
    code = main(["check", "systemic-drug", "--json", "--set", "post_samples=6"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["ok"] is True
    for key in ("duration_s", "syringe_ul", "tubes", "injections", "samples", "errors"):
        assert key in out
    assert out["tubes"] == 10 and out["injections"] == 10 and len(out["samples"]) == 10
    first = out["samples"][0]
    assert first["probe_start_s"] < first["t_start"] and first["probe_end_s"] < first["t_end"]
    assert math.isclose(out["duration_s"], (60 + 10 * 20 + 15) * 60)


def test_a_day_long_protocol_is_checked_without_running_it():
    p = protocol("def run(rig, params):\n"
                 "    rig.pump.infuse(0.5)\n"
                 "    rig.wait(60)\n"
                 "    for i in range(69):\n"
                 "        rig.collect(20)\n")
    plan = check(p, {}, spec(rack_size=96), run_length_s=900)
    assert plan.ok and plan.duration_s >= 24 * 3600
    assert len(plan.timeline) == 2 + 69


def test_drugs_given_outside_the_protocol_count_for_the_baseline_warning():
    """``raphe record --equilibrate 60 --inject-every 20`` with a dose at 70 min: the first
    sample's dialysate left the probe from 55 to 75 min, across the dose."""
    plan = check(load_protocol("online-monitoring"),
                 {"equilibrate_min": 60, "inject_every_min": 20, "minutes": 180},
                 simulated_spec(), run_length_s=900, drugs=[(70 * 60.0, "fluoxetine")])
    assert plan.ok
    assert any("no complete baseline sample precedes the first drug" in w.message
               for w in plan.warnings)


def test_labels_too_long_to_store_are_refused_with_their_line(tmp_path):
    """Two 65-byte labels that share their first 64 bytes would be one sample id in the
    file: the dry run refuses the first with its line."""
    from raphe.protocols.dryrun import check
    from raphe.protocols.protocol import parse_protocol
    from raphe.protocols.rig_spec import simulated_spec

    source = ("def run(rig, params):\n    rig.pump.infuse(1.0)\n"
              f"    rig.collect(20, label='{'x' * 64}A')\n"
              f"    rig.collect(20, label='{'x' * 64}B')\n")
    plan = check(parse_protocol(source, str(tmp_path / "p.py")), {}, simulated_spec())
    assert not plan.ok
    (error,) = plan.errors
    assert error.line == 3 and "65 bytes long" in error.message and "at most 64" in error.message
    ok = ("def run(rig, params):\n    rig.pump.infuse(1.0)\n"
          f"    rig.collect(20, label='{'é' * 32}')\n")  # 64 bytes of UTF-8: stored whole
    assert check(parse_protocol(ok, str(tmp_path / "q.py")), {}, simulated_spec()).ok
