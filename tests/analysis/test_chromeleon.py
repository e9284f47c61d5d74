"""The real Chromeleon ED export (European decimals) and its point-decimal twin."""

from __future__ import annotations

import math

import pytest

from raphe.acquisition.analysis.io_chromeleon import read_chromeleon
from raphe.acquisition.analysis.peaks import find_peaks


def test_imports_comma_decimals(public_data):
    chrom = read_chromeleon(public_data / "chromeleon_comma.txt")
    assert len(chrom) == 3241
    assert chrom.units == "nC"
    assert chrom.t[-1] == pytest.approx(54 * 60.0)
    assert chrom.dt == pytest.approx(1.0, rel=1e-4)
    assert chrom.values[0] == pytest.approx(-0.0896)
    assert chrom.metadata["injection_volume_uL"] == 25.0
    assert chrom.metadata["Injection"] == "20170526_MME_AA_STD-Mix2"


def test_point_decimals_read_the_same(public_data, tmp_path):
    text = (public_data / "chromeleon_comma.txt").read_text(encoding="utf-8-sig")
    head, _, table = text.partition("Chromatogram Data:\n")
    point = tmp_path / "point.txt"
    point.write_text(head + "Chromatogram Data:\n" + table.replace(",", "."), encoding="utf-8")
    a = read_chromeleon(public_data / "chromeleon_comma.txt")
    b = read_chromeleon(point)
    assert (a.values == b.values).all() and (a.t == b.t).all()


def test_peaks_found_with_sn(public_data):
    chrom = read_chromeleon(public_data / "chromeleon_comma.txt")
    peaks = find_peaks(chrom.t, chrom.values).peaks
    assert len(peaks) >= 10
    tallest = max(peaks, key=lambda p: p.height)
    # the largest peak of this run: ~210 nC signal maximum at ~13.3 min
    assert tallest.rt_s == pytest.approx(797.8, abs=2.0)
    assert all(math.isfinite(p.sn) and p.sn >= 2.0 for p in peaks)
    assert tallest.sn > 1000
