"""``raphe inspect``, ``raphe recover`` and ``raphe export`` on good, crashed and bad files."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from raphe.acquisition.session import Session
from raphe.gui.cli import main
from raphe.records import DetectorBlock, Event, Fraction, Injection, PumpState, SampleResult

ROOT = Path(__file__).resolve().parents[2]
WRITER = ROOT / "tests" / "acquisition" / "crash_writer.py"


def make_session(path: Path) -> Path:
    with Session.create(path, operator="ana", animal_id="R17", signal_dt=0.5) as s:
        for i in range(4):
            values = np.linspace(i, i + 1, 120)
            s.add_block(DetectorBlock(i * 120, i * 60.0, 0.5, values))
        s.add_event(Event(30.0, "drug", "ipsapirone 0.3 mg/kg s.c.", "operator"))
        s.add_injection(Injection(10.0, "S001", 20.0))
        s.add_injection(Injection(130.0, "S002", 20.0))
        s.add_fraction(Fraction(1, 0.0, 120.0, 3.0, "S001"))
        s.add_pump_state(PumpState(0.0, 1.5, 0.0, "infusing"))
        s.add_result(SampleResult("S001", 10.0, "5-HT", 400.0, 3.0, 0.1, 30.0, 0.5, 10.0,
                                  100.0, ""))
        s.add_result(SampleResult("S002", 130.0, "5-HT", 401.0, 1.5, 0.05, 15.0, 0.25, 5.0,
                                  50.0, "below_loq"))
    return path


def crashed(tmp_path: Path) -> Path:
    path, log = tmp_path / "crashed.h5", tmp_path / "writer.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, str(WRITER), str(path)], stdout=fh,
                                env=dict(os.environ, PYTHONPATH=str(ROOT)))
    while log.read_text().count("block") < 150:  # killed ~0.75 s into the run
        assert proc.poll() is None
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    log.unlink()
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_inspect_json_summary(tmp_path, capsys):
    path = make_session(tmp_path / "s.h5")
    assert main(["inspect", str(path), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["complete"] is True and s["status"] == "complete"
    assert s["duration_s"] == 240.0 and s["samples"] == 480 and s["sample_rate_Hz"] == 2.0
    assert s["injections"] == 2 and s["fractions"] == 1
    assert s["events"] == [{"t": 30.0, "kind": "drug", "text": "ipsapirone 0.3 mg/kg s.c.",
                            "source": "operator", "t_end": None}]
    keys = ("sample_id", "analyte", "conc_nM", "pct_baseline", "flags")
    assert [{k: x[k] for k in keys} for x in s["results"]] == [
        {"sample_id": "S001", "analyte": "5-HT", "conc_nM": 0.5, "pct_baseline": 100.0,
         "flags": ""},
        {"sample_id": "S002", "analyte": "5-HT", "conc_nM": 0.25, "pct_baseline": 50.0,
         "flags": "below_loq"}]
    # Every column of the results table, NaN as null.
    assert s["results"][0]["rt_s"] == 400.0 and s["results"][0]["probe_t"] is None
    assert s["timestamps_monotonic"] and s["tables_consistent"]


def test_inspect_text(tmp_path, capsys):
    path = make_session(tmp_path / "s.h5")
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "status      complete" in out
    assert "480 samples at 2 Hz in 4 blocks" in out
    assert "1 events, 2 injections, 1 fractions" in out
    assert "S002" in out and "below_loq" in out and "50.0" in out


def test_export_csv_with_units(tmp_path, capsys):
    path = make_session(tmp_path / "s.h5")
    out = tmp_path / "csv"
    assert main(["export", str(path), "--format", "csv", "--out", str(out)]) == 0
    with open(out / "signal.csv") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["t_s", "current_nA", "overload"]
    assert len(rows) == 481 and rows[2] == ["0.5", repr(float(np.linspace(0, 1, 120)[1])), "0"]
    with open(out / "results.csv") as fh:
        results = list(csv.DictReader(fh))
    assert results[1]["conc_nM"] == "0.25" and results[1]["pct_baseline_pct"] == "50.0"
    with open(out / "fractions.csv") as fh:
        assert next(csv.reader(fh)) == ["tube", "t_start_s", "t_end_s", "volume_uL",
                                        "sample_id", "probe_start_s", "probe_end_s", "flags"]
    with open(out / "events.csv") as fh:
        assert list(csv.reader(fh))[1] == ["30.0", "drug", "ipsapirone 0.3 mg/kg s.c.",
                                           "operator", ""]
    # A second export into the same folder never overwrites.
    before = sha(out / "signal.csv")
    assert main(["export", str(path), "--out", str(out)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert sha(out / "signal.csv") == before


def test_recover_a_crashed_session(tmp_path, capsys):
    path = crashed(tmp_path)
    before = sha(path)
    assert main(["inspect", str(path), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["complete"] is False and s["status"] == "open" and s["samples"] > 0
    assert main(["recover", str(path)]) == 0
    out = capsys.readouterr().out
    assert "crashed.recovered.h5" in out and "samples" in out
    assert sha(path) == before
    assert main(["inspect", str(tmp_path / "crashed.recovered.h5"), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["complete"] is True and r["status"] == "recovered"
    assert r["samples"] >= s["samples"] and r["tables_consistent"]
    # Recovering again would overwrite the copy: refused.
    assert main(["recover", str(path)]) == 1
    assert "already exists" in capsys.readouterr().err


def bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    good = make_session(tmp_path / "good.h5")
    files = {}
    data = good.read_bytes()
    (tmp_path / "truncated.h5").write_bytes(data[: len(data) // 3])
    files["truncated"] = (tmp_path / "truncated.h5", "")
    (tmp_path / "random.h5").write_bytes(np.random.default_rng(0).bytes(5000))
    files["random bytes"] = (tmp_path / "random.h5", "not an HDF5 file")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = np.arange(10)
    files["non-Raphe HDF5"] = (tmp_path / "other.h5", "not a Raphe session")
    shutil.copy(good, tmp_path / "future.h5")
    with h5py.File(tmp_path / "future.h5", "r+") as f:
        f.attrs["format_version"] = 99
    files["future version"] = (tmp_path / "future.h5", "format version 99")
    shutil.copy(good, tmp_path / "missing.h5")
    with h5py.File(tmp_path / "missing.h5", "r+") as f:
        del f["injections"]
    files["missing group"] = (tmp_path / "missing.h5", "missing /injections")
    files["no such file"] = (tmp_path / "absent.h5", "no such file")
    good.unlink()
    return files


@pytest.mark.parametrize("command", [["inspect"], ["inspect", "--json"], ["recover"],
                                     ["export", "--format", "csv"]])
def test_bad_files_get_one_clear_message_and_nothing_is_modified(tmp_path, capsys, command):
    files = bad_files(tmp_path)
    for what, (path, needle) in files.items():
        listing = sorted(p.name for p in tmp_path.iterdir())
        before = sha(path) if path.exists() else None
        argv = [command[0], str(path), *command[1:]]
        assert main(argv) == 1, what
        captured = capsys.readouterr()
        err = captured.err.strip().splitlines()
        assert len(err) == 1, (what, captured.err)
        assert err[0].startswith(f"raphe {command[0]}: error: session {path}"), err[0]
        assert needle in err[0], (what, err[0])
        assert "Traceback" not in captured.err
        assert (sha(path) if path.exists() else None) == before, what
        assert sorted(p.name for p in tmp_path.iterdir()) == listing, what
