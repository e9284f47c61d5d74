"""Bad input to the experiment commands: one clear line, non-zero exit, no traceback,
nothing overwritten."""

from __future__ import annotations

import hashlib

import pytest

from tests_e2e_helpers import one_line_error, raphe


def test_record_never_overwrites_a_session(tmp_path):
    out = tmp_path / "s.h5"
    out.write_bytes(b"precious data")
    result = raphe("record", "--sim", "--out", str(out), "--minutes", "1")
    one_line_error(result, str(out), "already exists")
    assert out.read_bytes() == b"precious data"


@pytest.mark.parametrize(("args", "fragments"), [
    (["--sim-dose", "fluoxetin:10:ip@80"], ["--sim-dose", "fluoxetin"]),
    (["--sim-dose", "fluoxetine:ten:ip@80"], ["--sim-dose"]),
    (["--method", "no-such-method.toml"], ["no-such-method.toml"]),
    (["--speed", "0"], ["--speed"]),
    (["--inject-every", "-5"], ["--inject-every"]),
])
def test_record_rejects_bad_options_before_starting(tmp_path, args, fragments):
    out = tmp_path / "s.h5"
    result = raphe("record", "--sim", "--out", str(out), "--minutes", "1", *args)
    one_line_error(result, *fragments)
    assert not out.exists()


def test_record_names_the_rig_file_key_and_line(tmp_path):
    rig = tmp_path / "rig.toml"
    rig.write_text('[detector]\ndriver = "dmm34465a"\nresource = "TCPIP::127.0.0.1::9::SOCKET"\n'
                   "scale_nA_per_V = 10.0\nintervall_s = 0.1\n")
    result = raphe("record", "--rig", str(rig), "--out", str(tmp_path / "s.h5"))
    one_line_error(result, f"{rig}, line 5", "unknown key 'intervall_s'")


def test_record_reports_an_absent_instrument(tmp_path):
    rig = tmp_path / "rig.toml"
    rig.write_text('[valve]\ndriver = "vici"\nport = "/dev/serial/by-id/no-such-adapter"\n'
                   "loop_volume_uL = 20.0\n"
                   '[detector]\ndriver = "dmm34465a"\nresource = "TCPIP::127.0.0.1::9::SOCKET"\n'
                   "scale_nA_per_V = 10.0\n")
    result = raphe("record", "--rig", str(rig), "--out", str(tmp_path / "s.h5"),
                   "--no-analysis")
    one_line_error(result, "[valve]", "no-such-adapter")


def test_record_needs_a_detector(tmp_path):
    rig = tmp_path / "rig.toml"
    rig.write_text('[valve]\ndriver = "vici"\nport = "/dev/ttyUSB9"\nloop_volume_uL = 20.0\n')
    result = raphe("record", "--rig", str(rig), "--out", str(tmp_path / "s.h5"))
    one_line_error(result, str(rig), "no [detector]")


def test_replay_of_a_missing_or_foreign_file(tmp_path):
    one_line_error(raphe("replay", str(tmp_path / "none.h5")), "none.h5")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 8)
    digest = hashlib.sha256(junk.read_bytes()).hexdigest()
    one_line_error(raphe("replay", str(junk)), "junk.h5")
    assert hashlib.sha256(junk.read_bytes()).hexdigest() == digest


def test_demo_runs_the_whole_experiment(tmp_path):
    out = tmp_path / "demo.h5"
    result = raphe("demo", "--headless", "--out", str(out), "--minutes", "60", "--speed", "300",
                   "--sim-dose", "ipsapirone:1:sc@45", "--sim-region", "ventral_hippocampus")
    assert result.returncode == 0, result.stderr
    assert out.exists()
    assert "5-HT, % of this animal's baseline" in result.stdout
    assert "baseline" in result.stdout and "raphe inspect" in result.stdout
