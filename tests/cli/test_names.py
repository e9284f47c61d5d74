"""Names typed on the command line: hyphens shown, hyphens or underscores accepted."""

from __future__ import annotations

import argparse

import pytest

from raphe.acquisition.analysis.method import load_method
from raphe.gui.cli.commands import _sim_options
from raphe.names import lookup, spelling
from raphe.simulators.animal import REGIONS
from raphe.simulators.drugs import canonical_drug, canonical_route, parse_dose_spec


def test_spelling_and_lookup():
    assert spelling(" Prefrontal_Cortex ") == "prefrontal-cortex"
    assert lookup("ventral-hippocampus", REGIONS, "region") == "ventral_hippocampus"
    assert lookup("VENTRAL_HIPPOCAMPUS", REGIONS, "region") == "ventral_hippocampus"
    with pytest.raises(ValueError, match="unknown region 'amygdala' .*prefrontal-cortex"):
        lookup("amygdala", REGIONS, "region")


def test_help_lists_every_region_as_typed():
    assert set(_sim_options.REGION_NAMES) == {spelling(r) for r in REGIONS}


@pytest.mark.parametrize("typed", ["prefrontal-cortex", "prefrontal_cortex", "Prefrontal-Cortex"])
def test_sim_region_option_accepts_both_spellings(typed):
    parser = argparse.ArgumentParser()
    _sim_options.add_sim_options(parser)
    assert parser.parse_args(["--sim-region", typed]).sim_region == "prefrontal_cortex"
    assert parser.parse_args([]).sim_region == "prefrontal_cortex"


def test_sim_region_option_rejects_an_unknown_region(capsys):
    parser = argparse.ArgumentParser()
    _sim_options.add_sim_options(parser)
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["--sim-region", "striatum"])
    assert exc.value.code == 2
    assert "ventral-hippocampus" in capsys.readouterr().err


def test_drugs_routes_and_methods_accept_both_spellings():
    assert canonical_drug("WAY_100635") == "way-100635"
    assert canonical_drug("8_OH_DPAT") == "8-oh-dpat"
    assert canonical_route("reverse-dialysis") == canonical_route("reverse_dialysis") == "rd"
    assert parse_dose_spec("way_100635:0.3:s.c.@10").drug == "way-100635"
    assert load_method("simulated_5ht").name == load_method("simulated-5ht").name
