"""``raphe study`` and ``raphe simulate study`` on the command line."""

from __future__ import annotations

import json

import pytest

from raphe.gui.cli import main


def test_raphe_study_writes_the_study_and_prints_its_tests(study_folder, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["study", str(study_folder), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "model: two-way mixed ANOVA" in text
    assert "two-way mixed ANOVA: treatment × time: F(16, 96)" in text
    assert "written to" in text and (out / "figure.png").stat().st_size > 10_000
    assert main(["study", str(study_folder), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already holds table.csv" in err[0]


def test_raphe_study_json(study_folder, tmp_path, capsys):
    config = tmp_path / "s.toml"
    config.write_text('title = "vehicle vs fluoxetine"\n[exclude]\nflu05 = "probe misplaced at '
                      'histology"\n')
    assert main(["study", str(study_folder / "veh*.h5"), str(study_folder / "flu*.h5"),
                 "--config", str(config), "--out", str(tmp_path / "o"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["title"] == "vehicle vs fluoxetine"
    assert data["excluded"] == [{"animal": "flu05", "group": data["groups"][1]["name"],
                                 "session": "flu05.h5", "reason": "probe misplaced at histology"}]
    assert [g["n_included"] for g in data["groups"]] == [5, 4]
    assert data["statistics"]["model"] == "two-way mixed ANOVA"
    for t in data["tests"]:
        assert t["name"] and t["statistic"] in ("F", "t", "chi2") and t["df"]


@pytest.mark.parametrize(("argv", "message"), [
    (["study", "/no/such/folder"], "/no/such/folder: no such session, folder or pattern"),
    (["study", "--config", "/no/such.toml", "x.h5"], "study config /no/such.toml: no such file"),
    (["simulate", "study", "--groups", "aspirin:1:ip", "--out", "x"],
     "the virtual animal does not model 'aspirin'"),
    (["simulate", "study", "--groups", "fluoxetine", "--out", "x"], "give the dose and route"),
    (["simulate", "study", "--groups", "fluoxetine:10:iv", "--out", "x"], "route must be ip or sc"),
    (["simulate", "study", "--groups", "vehicle:0:ip:striatum", "--out", "x"],
     "has no probe region 'striatum'"),
    (["simulate", "study", "--groups", "vehicle", "--n", "0", "--out", "x"], "--n must be"),
    (["simulate", "study", "--groups", "vehicle"], "--out: name a new folder"),
])
def test_bad_input_is_one_line_and_no_traceback(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_simulate_study_refuses_a_folder_that_holds_files(tmp_path, capsys):
    (tmp_path / "old.h5").write_text("x")
    assert main(["simulate", "study", "--groups", "vehicle", "--out", str(tmp_path)]) == 1
    assert "not an empty folder" in capsys.readouterr().err


@pytest.mark.slow
def test_simulate_study_then_study_end_to_end(tmp_path, capsys):
    """Three groups of three virtual animals through the simulated rig (short protocol),
    then the study: the pharmacology comes out of the real recording path. Samples 18 min
    apart with 15-min runs: at 600× an interval equal to the run leaves 15 ms of real time
    before an injection a busy host delays cuts the run before it."""
    folder = tmp_path / "sessions"
    code = main(["simulate", "study", "--groups",
                 "vehicle,ipsapirone:1:sc:ventral-hippocampus,fluoxetine:10:ip",
                 "--n", "3", "--out", str(folder), "--speed", "600", "--interval", "18",
                 "--baseline-samples", "2", "--post-samples", "4", "--equilibration", "5",
                 "--seed", "100"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert len(list(folder.glob("*.h5"))) == 9
    assert main(["study", str(folder), "--out", str(tmp_path / "study"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    names = [g["name"] for g in data["groups"]]
    assert names[0].startswith("vehicle") and len(names) == 3
    auc = {a["group"]: [] for a in data["animals"]}
    for a in data["animals"]:
        auc[a["group"]].append(a["auc_pct_min"])
    ips = next(g for g in names if g.startswith("ipsapirone"))
    flx = next(g for g in names if g.startswith("fluoxetine"))
    assert max(auc[ips]) < 0 < min(auc[flx])
    inter = next(t for t in data["statistics"]["omnibus"] if t["effect"] == "treatment × time")
    assert inter["p"] < 0.05
    assert (tmp_path / "study" / "figure.png").exists()
