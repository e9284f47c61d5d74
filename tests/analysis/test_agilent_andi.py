"""The real Agilent ANDI/AIA export: vendor areas reproduced, own detection within 3 %."""

from __future__ import annotations

import numpy as np
import pytest

from raphe.acquisition.analysis.integrate import area_above_line
from raphe.acquisition.analysis.io_andi import read_andi, read_andi_peaks, write_andi
from raphe.acquisition.analysis.peaks import find_peaks
from raphe.errors import InputError


@pytest.fixture
def agilent(public_data):
    path = public_data / "agilent-hplc.cdf"
    return read_andi(path), read_andi_peaks(path)


def test_reads_raw_data(agilent):
    chrom, table = agilent
    assert len(chrom) == 4651
    assert chrom.units == "mAU"
    assert chrom.dt == pytest.approx(0.4, rel=1e-6)
    assert chrom.t[0] == pytest.approx(0.012, rel=1e-6)
    assert len(table.area) == 8


def test_vendor_boundaries_reproduce_vendor_areas(agilent):
    chrom, tab = agilent
    for i in range(len(tab.area)):
        area = area_above_line(
            chrom.t, chrom.values, tab.start_s[i], tab.end_s[i],
            (tab.baseline_start_s[i], tab.baseline_start_value[i]),
            (tab.baseline_stop_s[i], tab.baseline_stop_value[i]))
        assert area == pytest.approx(tab.area[i], rel=1e-6), f"peak {i + 1}"


def test_own_detection_matches_vendor(agilent):
    chrom, tab = agilent
    found = find_peaks(chrom.t, chrom.values).peaks
    for i, rt in enumerate(tab.rt_s):
        near = [p for p in found if abs(p.rt_s - rt) <= chrom.dt]
        assert len(near) == 1, f"vendor peak {i + 1} at {rt:.2f} s"
        assert near[0].area == pytest.approx(tab.area[i], rel=0.03), f"peak {i + 1} area"
    # the drop-line pair keeps its vendor detection codes
    pair = [p for p in found if abs(p.rt_s - tab.rt_s[3]) <= chrom.dt or
            abs(p.rt_s - tab.rt_s[4]) <= chrom.dt]
    assert (pair[0].start_code + pair[0].end_code, pair[1].start_code + pair[1].end_code) \
        == ("BV", "VB")


def test_writer_round_trip(agilent, tmp_path):
    chrom, _ = agilent
    peaks = find_peaks(chrom.t, chrom.values).peaks
    peaks[0].name = "first"
    out = tmp_path / "out.cdf"
    write_andi(out, chrom, peaks)
    back = read_andi(out)
    np.testing.assert_array_equal(back.values, chrom.values)  # source data are float32
    np.testing.assert_allclose(back.t, chrom.t, rtol=1e-12)
    table = read_andi_peaks(out)
    np.testing.assert_allclose(table.area, [p.area for p in peaks])
    assert table.names[0] == "first"
    assert back.metadata["dataset_completeness"] == "C1+C2"


def test_writer_never_overwrites(agilent, tmp_path):
    chrom, _ = agilent
    out = tmp_path / "exists.cdf"
    out.write_bytes(b"keep me")
    with pytest.raises(InputError, match="already exists"):
        write_andi(out, chrom)
    assert out.read_bytes() == b"keep me"
