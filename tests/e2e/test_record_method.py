"""``raphe record`` / ``raphe run`` choose their analysis method: ``--method``, else the rig's
default (``simulated-5ht`` on ``--sim``, a rig file's ``[rig] method``), else a one-line
refusal before anything starts; ``--no-analysis`` records without quantifying, and says so.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from raphe.acquisition.reader import SessionReader
from raphe.errors import InputError
from raphe.gui.cli.commands._protocol_run import rig_default_method

from tests_e2e_helpers import one_line_error, raphe

ROOT = Path(__file__).resolve().parents[2]
REAL_RIG = ('[detector]\ndriver = "dmm34465a"\nresource = "TCPIP::127.0.0.1::9::SOCKET"\n'
            "scale_nA_per_V = 10.0\n")


def test_record_sim_without_method_quantifies_with_the_simulated_assay(tmp_path):
    out = tmp_path / "s.h5"
    # one 15-min sample and its whole chromatogram: 30 min of session time at 300×
    result = raphe("record", "--sim", "--out", str(out), "--speed", "300", "--minutes", "16",
                   "--inject-every", "15")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "simulated-5ht" in result.stdout and "5-HT" in result.stdout
    with SessionReader(out) as r:
        results = r.results()
        assert "simulated-5ht" in r.metadata["method_toml"]
        fits = r.calibration()
    assert {x.analyte for x in results} >= {"5-HT"} and len(results) >= 4
    # the calibration in force from the start, when the engine writes it
    assert all(f["fit"]["source"] for f in fits)


def test_record_no_analysis_says_so_and_quantifies_nothing(tmp_path):
    out = tmp_path / "s.h5"
    result = raphe("record", "--sim", "--out", str(out), "--speed", "300", "--minutes", "2",
                   "--no-analysis")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no analysis" in result.stdout and "not quantified" in result.stdout
    with SessionReader(out) as r:
        assert r.results() == [] and r.metadata["method_toml"] == ""


@pytest.mark.parametrize("command", [["record"], ["run", "online-monitoring"],
                                     ["check", "online-monitoring"]])
def test_a_real_rig_without_a_method_is_refused_in_one_line(tmp_path, command):
    """The dry run refuses what the run would refuse, with the same line."""
    rig = tmp_path / "rig.toml"
    rig.write_text(REAL_RIG)
    out = tmp_path / "s.h5"
    extra = [] if command[0] == "check" else ["--out", str(out)]
    line = one_line_error(raphe(*command, "--rig", str(rig), *extra),
                          str(rig), "names no analysis method", "--method", "--no-analysis")
    assert line.startswith(f"raphe {command[0]}: error: ")
    assert not out.exists()


def test_options_that_do_not_go_together_are_refused(tmp_path):
    out = tmp_path / "s.h5"
    one_line_error(raphe("record", "--sim", "--out", str(out), "--no-analysis", "--method",
                         "simulated-5ht"), "--no-analysis", "--method")
    one_line_error(raphe("record", "--sim", "--out", str(out), "--calibration",
                         str(tmp_path / "none.h5")), "none.h5", "no such file", "5-HT")
    one_line_error(raphe("record", "--sim", "--out", str(out), "--recovery",
                         str(tmp_path / "none.h5")), "none.h5", "no such file")
    assert not out.exists()


def test_the_rig_default_method(tmp_path):
    rig = tmp_path / "rig.toml"
    rig.write_text(REAL_RIG)
    assert rig_default_method(str(rig)) is None
    rig.write_text('[rig]\nmethod = "simulated-5ht"\n' + REAL_RIG)
    assert rig_default_method(str(rig)) == "simulated-5ht"
    rig.write_text('[rig]\nmethod = "methods/assay.toml"\n' + REAL_RIG)
    assert rig_default_method(str(rig)) == str(tmp_path / "methods" / "assay.toml")
    rig.write_text('[rig]\nsimulated = true\n' + REAL_RIG)  # a rig file of the simulators
    assert rig_default_method(str(rig)) == "simulated-5ht"
    rig.write_text("not toml [")
    with pytest.raises(InputError, match="not valid TOML"):
        rig_default_method(str(rig))
