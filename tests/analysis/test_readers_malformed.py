"""Every reader rejects malformed files with one clear InputError naming file and fault."""

from __future__ import annotations

import random

import numpy as np
import pytest

from raphe.acquisition.analysis.chromatogram import Chromatogram
from raphe.acquisition.analysis.io_andi import read_andi
from raphe.acquisition.analysis.io_any import read_chromatogram
from raphe.acquisition.analysis.io_chromeleon import read_chromeleon
from raphe.acquisition.analysis.io_csv import read_csv, write_csv
from raphe.errors import InputError

CHROMELEON_HEAD = "Channel\tED_1\nData Points\t{n}\n\nChromatogram Data:\nTime (min)\tStep (s)\tValue (nC)\n"


def _chromeleon(rows: list[str], n: int | None = None) -> str:
    return CHROMELEON_HEAD.format(n=len(rows) if n is None else n) + "\n".join(rows) + "\n"


GOOD_CSV = "time_s,signal (nA)\n0,1.0\n0.1,1.5\n0.2,1.2\n0.3,1.1\n"
GOOD_CHROMELEON = _chromeleon(["0,0\tn.a.\t1,0", "0,1\t6\t1,5", "0,2\t6\t1,2"])

CASES = [
    # (reader, suffix, content, message fragment)
    (read_csv, ".csv", "", "empty"),
    (read_csv, ".csv", "seconds,signal\n0,1\n1,2\n2,3\n", "first column must be time_s or time_min"),
    (read_csv, ".csv", "time_s\n0\n1\n2\n", "header with time and signal"),
    (read_csv, ".csv", "time_s,signal\n0,1\n1,x\n2,3\n", "line 3: not a number"),
    (read_csv, ".csv", "time_s,signal\n0,1\n2,2\n1,3\n", "not increasing at point 3"),
    (read_csv, ".csv", "time_s,signal\n0,1\n1\n2,3\n", "line 3: expected 2 columns"),
    (read_csv, ".csv", "time_s,signal\n", "no data rows"),
    (read_csv, ".csv", b"\x00\x01\x02garbage\xff" * 20, "binary data"),
    (read_chromeleon, ".txt", "", "empty"),
    (read_chromeleon, ".txt", "Channel\tED_1\n0,0\t1,0\n", "no 'Chromatogram Data:' line"),
    (read_chromeleon, ".txt", _chromeleon(["0,0\tn.a.\t1,0", "0,2\t6\t1,5", "0,1\t6\t1,2"]),
     "not increasing"),
    (read_chromeleon, ".txt", _chromeleon(["0,0\tn.a.\t1,0", "0,1\t6\tabc", "0,2\t6\t1,2"]),
     "line 7: not a number"),
    (read_chromeleon, ".txt", _chromeleon(["0,0\tn.a.\t1,0", "0,1"]), "line 7: expected 3"),
    (read_chromeleon, ".txt", _chromeleon(["0,0\tn.a.\t1,0", "0,1\t6\t1,5", "0,2\t6\t1,2"], 9),
     "header says 9 data points"),
    (read_chromeleon, ".txt", b"\x89PNG\r\n\x1a\n\x00\x00" * 30, "binary data"),
    (read_andi, ".cdf", b"", "not an ANDI/AIA netCDF file"),
    (read_andi, ".cdf", random.Random(7).randbytes(64) + b"\x00garbage", "not an ANDI/AIA netCDF file"),
    (read_andi, ".cdf", b"CDF\x01" + b"\xff" * 40, "not an ANDI/AIA netCDF file"),
]


@pytest.mark.parametrize("reader,suffix,content,message", CASES)
def test_malformed_files_are_rejected(tmp_path, reader, suffix, content, message):
    path = tmp_path / f"bad{suffix}"
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    with pytest.raises(InputError) as err:
        reader(path)
    text = str(err.value)
    assert message in text
    assert str(path) in text and "\n" not in text


def test_andi_without_raw_data(tmp_path):
    from scipy.io import netcdf_file

    path = tmp_path / "peaks_only.cdf"
    f = netcdf_file(path, "w")
    f.createDimension("peak_number", 1)
    v = f.createVariable("peak_area", "d", ("peak_number",))
    v[:] = [1.0]
    f.close()
    with pytest.raises(InputError, match="'ordinate_values' missing"):
        read_andi(path)


def test_good_files_read(tmp_path):
    csv = tmp_path / "ok.csv"
    csv.write_text(GOOD_CSV)
    chrom = read_csv(csv)
    assert chrom.units == "nA" and list(chrom.values) == [1.0, 1.5, 1.2, 1.1]
    minutes = tmp_path / "min.csv"
    minutes.write_text("time_min;signal\n0;1\n0.5;2\n1;3\n")
    assert list(read_csv(minutes).t) == [0.0, 30.0, 60.0]
    txt = tmp_path / "ok.txt"
    txt.write_text(GOOD_CHROMELEON)
    assert list(read_chromatogram(txt).values) == [1.0, 1.5, 1.2]


def test_csv_round_trip_and_no_overwrite(tmp_path):
    chrom = Chromatogram(np.arange(5) * 0.1, np.array([1.0, 2.5, 3.25, 2.0, 1.0]), "nA")
    out = tmp_path / "c.csv"
    write_csv(out, chrom)
    back = read_csv(out)
    np.testing.assert_array_equal(back.values, chrom.values)
    np.testing.assert_allclose(back.t, chrom.t)
    assert back.units == "nA"
    with pytest.raises(InputError, match="already exists"):
        write_csv(out, chrom)


# -- sampling jitter: resampled with a warning up to a stated bound, refused beyond --------

def _csv_with_times(tmp_path, times):
    path = tmp_path / "jitter.csv"
    rows = "\n".join(f"{t:.6f},{np.sin(t):.6f}" for t in times)
    path.write_text("time_s,signal (nA)\n" + rows + "\n")
    return path


def test_small_jitter_is_resampled_with_a_warning(tmp_path):
    from raphe.acquisition.analysis.chromatogram import JITTER_LIMIT

    times = np.arange(200) * 0.1
    times[50] += 0.008  # 8 % of the step: within the bound
    chrom = read_csv(_csv_with_times(tmp_path, times))
    assert JITTER_LIMIT == 0.1
    (warning,) = chrom.metadata["warnings"]
    assert "resampled onto an even 0.1 s grid" in warning and "point 51" in warning
    np.testing.assert_allclose(np.diff(chrom.t), 0.1)
    # linear interpolation at the moved sample's own time gives the sample back
    assert np.interp(times[50], chrom.t, chrom.values) == pytest.approx(np.sin(times[50]),
                                                                        abs=1e-3)


def test_jitter_below_a_thousandth_is_taken_as_it_is(tmp_path):
    times = np.arange(200) * 0.1
    times[50] += 0.00005
    chrom = read_csv(_csv_with_times(tmp_path, times))
    assert "warnings" not in chrom.metadata and chrom.t[50] == pytest.approx(times[50])


def test_jitter_beyond_the_bound_is_refused(tmp_path):
    times = np.arange(200) * 0.1
    times[50:] += 0.1  # a missing sample: a step twice the median
    path = _csv_with_times(tmp_path, times)
    with pytest.raises(InputError, match=r"not uniform at point 51 .*more than the 10 %"):
        read_csv(path)


def test_andi_raw_data_retention_gives_the_times(tmp_path):
    from scipy.io import netcdf_file

    path = tmp_path / "retention.cdf"
    n = 300
    times = 2.0 + 0.25 * np.arange(n)
    times[100] += 0.01  # 4 % jitter in the stored times
    f = netcdf_file(path, "w", version=1)
    f.retention_unit = "seconds"
    f.detector_unit = "nA"
    f.createDimension("point_number", n)
    for name, value in (("actual_sampling_interval", 0.5), ("actual_delay_time", 0.0)):
        v = f.createVariable(name, "f", ())
        v.data[()] = value  # deliberately wrong: the stored times win
    v = f.createVariable("ordinate_values", "f", ("point_number",))
    v[:] = np.linspace(0, 1, n).astype(np.float32)
    v = f.createVariable("raw_data_retention", "f", ("point_number",))
    v[:] = times.astype(np.float32)
    f.close()
    chrom = read_andi(path)
    assert chrom.t[0] == pytest.approx(2.0) and chrom.dt == pytest.approx(0.25, rel=1e-4)
    assert "resampled" in chrom.metadata["warnings"][0]
