"""The simulator options of the CLI build the world the rig runs: doses and a dosing history."""

from __future__ import annotations

import argparse

import pytest

from raphe.errors import InputError
from raphe.gui.cli.commands._sim_options import add_sim_options, rig_options
from raphe.simulators.drugs import Regimen


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_sim_options(parser)
    return parser.parse_args(list(argv))


def test_sim_history_becomes_the_rig_options_history():
    options = rig_options(parse("--sim-history", "citalopram:10:ip:2x14",
                                "--sim-history", "fluoxetine:5:sc:1x7:48",
                                "--sim-region", "dorsal-hippocampus"))
    assert options.history == [Regimen("citalopram", 10.0, "ip", days=14, per_day=2),
                               Regimen("fluoxetine", 5.0, "sc", days=7, washout_h=48.0)]
    assert options.region == "dorsal_hippocampus"
    assert rig_options(parse()).history == []


def test_a_bad_history_is_one_input_error_naming_the_option():
    with pytest.raises(InputError, match="--sim-history 'citalopram:10:ip': history spec"):
        rig_options(parse("--sim-history", "citalopram:10:ip"))
