"""The real Shimadzu LabSolutions export: channels by name, the vendor's peak tables, and
Raphe's own integration beside them (``raphe quantify --compare-vendor``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from raphe.acquisition.analysis.io_any import read_chromatogram, read_vendor_peaks
from raphe.acquisition.analysis.io_labsolutions import (
    channels,
    read_labsolutions,
    read_labsolutions_peaks,
)
from raphe.acquisition.analysis.method import load_method
from raphe.acquisition.analysis.quantify import quantify
from raphe.errors import InputError
from raphe.gui.cli import main

FILE = "shimadzu-labsolutions-3ch.txt"
METHOD = Path(__file__).parent / "data" / "labsolutions-3ch.toml"
CHANNELS = ("Detector A-Ch1", "Detector A-Ch2", "Detector B-Ch1")


@pytest.fixture
def path(public_data):
    return public_data / FILE


def test_channels_and_their_traces(path):
    names = channels(path)
    assert names[:3] == list(CHANNELS)
    assert "Pump A Pressure" in names  # status traces can be read too
    a1 = read_labsolutions(path)  # the first chromatogram by default
    assert a1.metadata["channel"] == "Detector A-Ch1"
    assert len(a1) == 3360 and a1.dt == pytest.approx(0.5)
    assert a1.t[0] == pytest.approx(0.6)  # 0.010 min
    assert a1.units == "µV"  # mV × 0.001: the readings are µV
    b = read_chromatogram(path, "detector b")
    assert b.metadata["channel"] == "Detector B-Ch1" and len(b) == 3361 and b.t[0] == 0.0
    assert read_chromatogram(path, "A-Ch2").metadata["channel"] == "Detector A-Ch2"
    assert b.metadata["injection_volume_uL"] == 10.0
    assert "warnings" not in b.metadata  # the printed times are rounded, the grid is exact


@pytest.mark.parametrize("name,message", [("A-Ch9", "not found"), ("Ch1", "ambiguous")])
def test_unknown_or_ambiguous_channel(path, name, message):
    with pytest.raises(InputError) as err:
        read_labsolutions(path, name)
    assert message in str(err.value) and "Detector A-Ch1" in str(err.value)


def test_vendor_peak_tables(path):
    a2 = read_labsolutions_peaks(path, "A-Ch2")
    assert len(a2) == 7
    assert a2[4].rt_s == pytest.approx(15.361 * 60) and a2[4].area == 3835453
    assert a2[4].code == "SV" and a2[3].code == "V" and a2[0].code == ""
    b = read_labsolutions_peaks(path, "Detector B")  # "Peak Table(Detector B)"
    assert [p.name for p in b][3:] == ["Glucose", "Lactate", "Acetate", "Ethanol"]
    assert read_vendor_peaks(path, "A-Ch1")[0].area == 32406


@pytest.mark.parametrize("channel", CHANNELS)
def test_raphe_areas_match_the_vendor(path, channel):
    """Every vendor peak above 1 % of its channel's total area: within 2 % of the vendor's
    area (5 % for the ones the vendor marked S)."""
    chrom = read_chromatogram(path, channel)
    vendor = read_vendor_peaks(path, channel)
    found = quantify(chrom, load_method(METHOD)).peaks
    total = sum(v.area for v in vendor)
    checked = 0
    for v in vendor:
        if v.area < 0.01 * total:
            continue
        near = [p for p in found if abs(p.rt_s - v.rt_s) <= 3.0]
        assert len(near) == 1, f"{channel} {v.rt_s / 60:.3f} min"
        tolerance = 0.05 if "S" in v.code else 0.02
        assert near[0].area == pytest.approx(v.area, rel=tolerance), f"{v.rt_s / 60:.3f} min"
        assert not near[0].saturated
        checked += 1
    assert checked >= 2


def test_compare_vendor_on_the_command_line(path, capsys):
    code = main(["quantify", str(path), "--channel", "Detector B", "--method", str(METHOD),
                 "--compare-vendor", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["channel"] == "Detector B-Ch1" and out["units"] == "µV"
    rows = {round(r["vendor_rt_s"] / 60, 3): r for r in out["vendor"]}
    glucose = rows[11.395]
    assert glucose["vendor_name"] == "Glucose" and glucose["vendor_code"] == "S"
    assert abs(glucose["difference_pct"]) < 5 and glucose["code"] == "BB"
    assert rows[8.238]["area"] is None  # the vendor's tiny peaks are under the method's limit
    code = main(["quantify", str(path), "--channel", "A-Ch1", "--method", str(METHOD),
                 "--compare-vendor"])
    table = capsys.readouterr().out
    assert code == 0 and "vendor's peak table beside Raphe's" in table and "32406" in table


def test_compare_vendor_needs_a_vendor_table(public_data, capsys):
    code = main(["quantify", str(public_data / "chromeleon_comma.txt"), "--compare-vendor"])
    err = capsys.readouterr().err
    assert code == 1 and "no vendor peak table" in err and err.count("\n") == 1


def test_channel_only_for_multi_channel_files(public_data, capsys):
    code = main(["quantify", str(public_data / "agilent-hplc.cdf"), "--channel", "A"])
    assert code == 1 and "--channel applies to multi-channel" in capsys.readouterr().err


HEAD = "[Header]\nApplication Name\tLabSolutions\nVersion\t5.54\n\n"
TRACE = ("[LC Chromatogram(Detector A-Ch1)]\nInterval(msec)\t500\n# of Points\t{n}\n"
         "Start Time(min)\t0.000\nEnd Time(min)\t0.1\nIntensity Units\tmV\n"
         "Intensity Multiplier\t0.001\nR.Time (min)\tIntensity\n")


@pytest.mark.parametrize("body,message", [
    (TRACE.format(n=3) + "0.00000\t1\n0.00833\t2\n", "says 3 points, the table has 2"),
    (TRACE.format(n=3) + "0.00000\t1\n0.00833\tx\n0.01667\t3\n", "line 14: the intensity is not"),
    (TRACE.format(n=3) + "0.00000\t1\n0.00833\t2\n0.05000\t3\n", "off the 500 ms grid"),
    ("[LC Chromatogram(Detector A-Ch1)]\n# of Points\t1\n", "has no 'R.Time' data table"),
    ("[LC Chromatogram(Detector A-Ch1)]\nR.Time (min)\tIntensity\n0\t1\n", "needs Interval(msec)"),
    ("[Peak Table(Detector A-Ch1)]\n# of Peaks\t0\n", "no chromatogram"),
])
def test_malformed_labsolutions(tmp_path, body, message):
    path = tmp_path / "bad.txt"
    path.write_text(HEAD + body)
    with pytest.raises(InputError) as err:
        read_chromatogram(path)
    assert message in str(err.value) and str(path) in str(err.value)
