"""Refused before anything is created, and nothing that exists is ever modified: one line,
a non-zero exit, no traceback, no stray file or folder."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from raphe.acquisition.session import Session
from raphe.records import DetectorBlock

from tests_e2e_helpers import one_line_error as one_line
from tests_e2e_helpers import raphe


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def private_tmp(tmp_path_factory) -> tuple[Path, dict]:
    """A temporary folder of this test's own (other tests run beside it) and the
    environment that makes the command use it."""
    folder = tmp_path_factory.mktemp("tmpdir")
    return folder, dict(os.environ, TMPDIR=str(folder))


@pytest.mark.parametrize(("args", "fragments"), [
    (["--seed", "-1"], ["--seed"]),
    (["--flow", "1e9"], ["--flow", "5"]),
    (["--equilibrate", "nan"], ["--equilibrate"]),
    (["--inject-every", "0.001"], ["injected", "valve stays in INJECT"]),
    (["--minutes", "inf"], ["--minutes"]),
])
def test_bad_record_options_create_nothing(tmp_path, tmp_path_factory, args, fragments):
    tmp, env = private_tmp(tmp_path_factory)
    out = tmp_path / "s.h5"
    one_line(raphe("record", "--sim", "--out", str(out), "--minutes", "5", *args, env=env),
             *fragments)
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert list(tmp.iterdir()) == []  # no temporary folder left behind


def test_a_method_without_a_run_length_is_refused_before_the_session(tmp_path):
    method = tmp_path / "m.toml"
    method.write_text('[method]\nname = "no run length"\n\n[[peaks]]\nname = "5-HT"\n'
                      "rt_s = 600.0\nwindow_s = 30.0\n", encoding="utf-8")
    out = tmp_path / "s.h5"
    one_line(raphe("record", "--sim", "--out", str(out), "--minutes", "5", "--method",
                   str(method)), "run_length_s")
    assert not out.exists()


def test_log_files_are_new_files_in_existing_folders(tmp_path):
    session = tmp_path / "s.h5"
    session.write_bytes(b"\x89HDF precious")
    before = digest(session)
    one_line(raphe("--log-file", str(session), "check", "systemic-drug"), "already exists")
    assert digest(session) == before
    one_line(raphe("--log-file", str(tmp_path / "missing" / "x.log"), "check", "systemic-drug"),
             "does not exist")
    assert not (tmp_path / "missing").exists()


def test_a_ground_truth_log_is_never_appended_to(tmp_path):
    truth = tmp_path / "truth.jsonl"
    truth.write_text('{"old": true}\n')
    before = digest(truth)
    one_line(raphe("record", "--sim", "--out", str(tmp_path / "s.h5"), "--minutes", "1",
                   "--ground-truth", str(truth)), "--ground-truth", "already exists")
    assert digest(truth) == before and not (tmp_path / "s.h5").exists()


def test_a_simulated_rig_file_is_never_overwritten(tmp_path):
    rig = tmp_path / "rig.toml"
    rig.write_text("# my rig\n")
    one_line(raphe("simulate", "rig", "--rig-out", str(rig)), "--rig-out", "already exists")
    assert rig.read_text() == "# my rig\n"
    one_line(raphe("simulate", "rig", "--rig-out", str(tmp_path / "no" / "rig.toml")),
             "does not exist")


def test_recover_leaves_a_users_part_file_alone_and_refuses_a_live_session(tmp_path):
    live = tmp_path / "live.h5"
    session = Session.create(live, signal_dt=0.1)
    try:
        session.add_block(DetectorBlock(0, 0.0, 0.1, [1.0, 2.0, 3.0]))
        assert session.sync(timeout=30)
        part = tmp_path / "out.h5.part"
        part.write_text("a user's file")
        from raphe.gui.cli import main

        # This process writes it: the writer is alive, so there is nothing to recover.
        assert main(["recover", str(live), "--out", str(tmp_path / "out.h5")]) == 1
        assert part.read_text() == "a user's file"
        assert not (tmp_path / "out.h5").exists()
    finally:
        session.close()


def test_output_in_an_ascii_terminal_never_fails(tmp_path):
    result = raphe("check", "systemic-drug", env=dict(os.environ, PYTHONIOENCODING="ascii"))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "syringe" in result.stdout
