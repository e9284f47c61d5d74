"""``raphe quantify``: table and JSON output, methods by name or path, clean errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from raphe.acquisition.analysis import synthetic as sy
from raphe.acquisition.analysis.chromatogram import Chromatogram
from raphe.acquisition.analysis.io_csv import write_csv
from raphe.gui.cli import main


def _run(capsys, *argv):
    code = main(["quantify", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_without_method(public_data, capsys):
    code, out, _ = _run(capsys, str(public_data / "chromeleon_comma.txt"), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["units"] == "nC" and len(data["peaks"]) >= 10
    for p in data["peaks"]:
        assert {"name", "rt_s", "start_s", "end_s", "area", "height", "sn"} <= set(p)
        assert p["name"] is None and p["sn"] >= 2.0


def test_simulated_assay_with_bundled_method(tmp_path, capsys):
    t = np.arange(9001) * 0.1
    rng = np.random.default_rng(11)
    y = sy.trace(t, sy.assay_peaks({"5-HT": 0.11 * 10.0}), rng, white_sd=0.00025, offset=2.0)
    path = tmp_path / "run.csv"
    write_csv(path, Chromatogram(t, y, "nA"))
    code, out, _ = _run(capsys, str(path), "--method", "simulated-5ht", "--json")
    assert code == 0
    peaks = {p["name"]: p for p in json.loads(out)["peaks"]}
    assert {"solvent front", "NA", "DA", "5-HIAA", "5-HT"} <= set(peaks)
    assert peaks["5-HT"]["conc_nM"] == pytest.approx(0.5, rel=0.05)  # 10 fmol in 20 µL
    code, out, _ = _run(capsys, str(path), "--method", "simulated-5ht", "--volume-ul", "10")
    assert code == 0 and "5-HT" in out and "conc nM" in out
    row = next(line for line in out.splitlines() if " 5-HT " in line)
    assert float(row.split()[-1]) == pytest.approx(1.0, rel=0.05)


@pytest.mark.parametrize("argv,message", [
    (["/no/such/file.cdf"], "no such file"),
    (["{csv}", "--method", "no-such-method"], "no bundled method"),
    (["{csv}", "--volume-ul", "0"], "--volume-ul must be a finite number > 0"),
    (["{csv}", "--volume-ul", "inf"], "--volume-ul must be a finite number > 0"),
])
def test_errors_are_one_line(tmp_path, capsys, argv, message):
    csv = tmp_path / "x.csv"
    csv.write_text("time_s,signal\n0,1\n1,2\n2,1\n")
    argv = [a.format(csv=csv) for a in argv]
    code, out, err = _run(capsys, *argv)
    assert code == 1 and out == ""
    assert err.startswith("raphe quantify: error: ") and message in err
    assert err.count("\n") == 1
