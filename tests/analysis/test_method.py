"""Analysis method files: the bundled method, and errors that name key and line."""

from __future__ import annotations

import pytest

from raphe.acquisition.analysis.method import bundled_methods, load_method, parse_method
from raphe.errors import InputError


def test_bundled_simulated_5ht():
    m = load_method("simulated-5ht")
    assert "simulated-5ht" in bundled_methods()
    assert m.run_length_s == 900.0
    assert [p.name for p in m.analytes] == ["NA", "DA", "5-HIAA", "5-HT"]
    ht = next(p for p in m.peaks if p.name == "5-HT")
    assert ht.rt_s == 600.0 and ht.window_s >= 20.0
    cal = ht.calibration
    assert cal.slope == pytest.approx(0.11, rel=0.02)  # nA·s per fmol
    assert 0.1 <= cal.lod_fmol <= 1.0 and cal.loq_fmol == pytest.approx(cal.lod_fmol * 10 / 3.3)


def test_method_by_path_with_calibration_file(tmp_path):
    (tmp_path / "cal.csv").write_text("conc_nM,volume_uL,area\n1,10,1.1\n2,10,2.2\n4,10,4.4\n")
    path = tmp_path / "m.toml"
    path.write_text('name = "x"\nrun_length_s = 600\n[[peaks]]\nname = "A"\nrt_s = 100\n'
                    'window_s = 10\n[peaks.calibration]\nfile = "cal.csv"\n')
    m = load_method(str(path))
    assert m.peaks[0].calibration.slope == pytest.approx(0.11)


@pytest.mark.parametrize("text,message", [
    ("run_length_s = -5\n", "line 1: run_length_s: must be > 0"),
    ("name = 'x'\n\n[integration]\nmin_sn = 'three'\n", "line 4: integration.min_sn: expected a number"),
    ("[integration]\npeak_widht_s = 3\n", "line 2: integration.peak_widht_s: unknown key"),
    (("[[peaks]]\nname = 'A'\nrt_s = 1\nwindow_s = 1\n[[peaks]]\nname = 'B'\nrt_s = 0\n"
      "window_s = 2\n"), "line 7: peaks[2].rt_s: must be > 0"),
    ("[[peaks]]\nname = 'A'\nwindow_s = 1\n", "peaks[1]: missing key 'rt_s'"),
    (("[[peaks]]\nname = 'A'\nrt_s = 1\nwindow_s = 1\n[peaks.calibration]\nmodel = 'cubic'\n"
      "standards = []\n"), "line 6: peaks[1].calibration.model: expected one of"),
    (("[[peaks]]\nname = 'A'\nrt_s = 1\nwindow_s = 1\n[peaks.calibration]\n"
      "standards = [{conc_nM = 1, volume_uL = 10, area = 1}]\n"), "at least 3 standards"),
    ("name = \n", "not valid TOML"),
])
def test_errors_name_key_and_line(text, message):
    with pytest.raises(InputError) as err:
        parse_method(text, "m.toml")
    assert message in str(err.value)
    assert str(err.value).startswith("m.toml: ")


def test_unknown_method_name():
    with pytest.raises(InputError, match="no such file and no bundled method"):
        load_method("no-such-method")
