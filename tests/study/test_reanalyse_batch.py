"""Archive reanalysis: new files only, resumable, failures reported, on Dask or in process."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from raphe.acquisition.reader import SessionReader
from raphe.acquisition.study.batch import method_hash, reanalyse_many, totals
from raphe.gui.cli import main

SHORT = {"equilibration_min": 20, "baseline_samples": 2, "post_samples": 1,
         "interval_min": 16}


def record_short(out: Path, speed: float = 1000.0) -> Path:
    """A short simulated systemic-drug session (about 10 s of wall time)."""
    from raphe.acquisition.analysis.method import load_method
    from raphe.protocols.engine import Engine, Settings
    from raphe.protocols.protocol import load_protocol
    from raphe.protocols.rig_spec import SimOptions

    engine = Engine(load_protocol("systemic-drug"), SHORT, Settings(
        out=out, sim=SimOptions(speed=speed, seed=0), method=load_method("simulated-5ht"),
        animal_id="rat-1", auto_answer=True, on_alarm="continue"))
    outcome = engine.run()
    assert outcome.exit_code == 0, outcome.message
    return out


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    """Two days of an archive, one session each (the same recording), and a damaged file."""
    root = tmp_path_factory.mktemp("archive")
    session = record_short(tmp_path_factory.mktemp("rec") / "rat.h5")
    for day in ("day1", "day2"):
        (root / day).mkdir()
        shutil.copy(session, root / day / "rat1.h5")
    (root / "day2" / "broken.h5").write_bytes(b"not a session")
    return root


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sources(root: Path) -> list[Path]:
    return sorted(root.rglob("*.h5"))


def test_reanalysis_writes_new_files_resumes_and_reports_failures(archive, tmp_path):
    before = {p: digest(p) for p in sources(archive)}
    out = tmp_path / "out"
    seen = []
    outcomes = reanalyse_many(sources(archive), "simulated-5ht", out, workers=0,
                              progress=lambda done, total, o: seen.append((done, total)))
    assert seen[-1] == (3, 3)
    status = {Path(o.source).relative_to(archive).as_posix(): o for o in outcomes}
    assert status["day2/broken.h5"].status == "failed"
    assert "broken.h5" in status["day2/broken.h5"].error
    assert status["day1/rat1.h5"].status == status["day2/rat1.h5"].status == "done"
    h = method_hash((out / next(out.glob("method-*.toml")).name).read_text())
    for day in ("day1", "day2"):
        target = out / day / f"rat1.{h}.h5"
        assert Path(status[f"{day}/rat1.h5"].target) == target
        with SessionReader(target) as r:
            assert r.complete and r.results()
    assert not list(out.rglob("*.partial"))
    assert {p: digest(p) for p in sources(archive)} == before  # the originals: only read
    changes = status["day1/rat1.h5"].changes
    assert changes["results_before"] == changes["results_after"] > 0
    assert changes["peaks_lost"] == 0

    again = reanalyse_many(sources(archive), "simulated-5ht", out, workers=0)
    t = totals(again)
    assert (t["skipped"], t["done"], t["failed"]) == (2, 0, 1)


def test_a_local_dask_cluster_gives_the_same_files(archive, tmp_path):
    one = [p for p in sources(archive) if p.name == "rat1.h5"]
    outcomes = reanalyse_many(one, "simulated-5ht", tmp_path / "dask", workers=2)
    assert [o.status for o in outcomes] == ["done", "done"]
    for o in outcomes:
        with SessionReader(o.target) as r:
            assert r.complete


def test_the_command_line(archive, tmp_path, capsys):
    out = tmp_path / "cli"
    code = main(["reanalyse", str(archive), "--method", "simulated-5ht", "--out", str(out),
                 "--workers", "0", "--json"])
    assert code == 1  # one session failed; the others were reanalysed
    data = json.loads(capsys.readouterr().out)
    assert (data["totals"]["done"], data["totals"]["failed"]) == (2, 1)
    code = main(["reanalyse", str(archive / "day1"), "--method", "simulated-5ht", "--out",
                 str(out), "--workers", "0"])
    assert code == 0
    assert "1 skipped (already reanalysed with this method)" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    (["--method", "no-such-method"], "method no-such-method"),
    (["--workers", "-1"], "--workers must be 0-256"),
    (["--scheduler", "tcp://127.0.0.1:9", "--workers", "2"], "a --scheduler has its own"),
])
def test_bad_input_is_one_line(archive, tmp_path, capsys, argv, message):
    full = ["reanalyse", str(archive / "day1"), "--out", str(tmp_path / "o")]
    if "--method" not in argv:
        full += ["--method", "simulated-5ht"]
    assert main(full + argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_a_missing_source_is_refused(tmp_path, capsys):
    assert main(["reanalyse", str(tmp_path / "none"), "--method", "simulated-5ht", "--out",
                 str(tmp_path / "o")]) == 1
    assert "no such session, folder or pattern" in capsys.readouterr().err
