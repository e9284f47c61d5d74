"""One declaration per record: the dataclass fields are the table, the CSV and the JSON."""

from __future__ import annotations

import math

import h5py
import numpy as np

from raphe.acquisition import store
from raphe.acquisition.export import headers
from raphe.acquisition.reader import SessionReader
from raphe.records import Injection, SampleResult, as_json, columns, values


def test_store_row_types_follow_the_record_fields():
    for name, (_path, record) in store.RECORDS.items():
        if record is None:
            continue
        dtype = store.TABLES[name][1]
        assert dtype.names == ("seq", *(c.name for c in columns(record)))
        for c in columns(record):
            kind = dtype[c.name].kind
            assert kind == {float: "f", int: "i", str: "S"}[c.kind], (name, c.name)
            if c.kind is str:
                assert dtype[c.name].itemsize == c.size


def test_csv_headers_carry_units():
    assert headers("results")[:11] == [
        "sample_id", "inject_t_s", "analyte", "rt_s", "area_nA_s", "height_nA", "sn",
        "conc_nM", "amount_fmol", "pct_baseline_pct", "flags"]
    assert headers("pump") == ["t_s", "rate_uL_min", "dispensed_uL", "status"]


def test_rows_with_nan_compare_equal_and_json_has_null():
    a = Injection(1.0, "S001", 20.0)
    b = Injection(1.0, "S001", 20.0, probe_start_s=float("nan"), probe_end_s=float("nan"))
    assert a == b and hash(a) == hash(b)
    assert a != Injection(1.0, "S002", 20.0)
    assert as_json(a)["probe_start_s"] is None
    assert values(a)[:3] == (1.0, "S001", 20.0)


def test_a_file_without_the_newer_columns_reads_with_their_defaults(tmp_path):
    path = tmp_path / "old.h5"
    f = store.create(path, signal_dt=0.5)
    old = np.dtype([(n, store.TABLES["results"][1][n]) for n in store.TABLES["results"][1].names
                    if n not in ("probe_t", "code", "baseline", "conc_corrected_nM")])
    del f["analysis/results"]
    ds = f.create_dataset("analysis/results", shape=(1,), maxshape=(None,), dtype=old)
    ds[0] = (0, b"S001", 10.0, b"5-HT", 400.0, 3.0, 0.1, 30.0, 0.5, 10.0, 100.0, b"")
    f.attrs["complete"] = True
    f.close()
    with SessionReader(path) as r:
        (result,) = r.results()
    assert isinstance(result, SampleResult)
    assert result.conc_nM == 0.5 and math.isnan(result.probe_t) and result.code == ""
    with h5py.File(path) as f:  # the reader changed nothing
        assert "probe_t" not in f["analysis/results"].dtype.names
