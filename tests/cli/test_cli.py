"""The command line: help, version, usage errors, logging, and no Qt on the headless path."""

from __future__ import annotations

import logging
import re
import subprocess
import sys

import pytest

from raphe.gui import cli
from raphe.gui.cli import log


def run_raphe(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "raphe", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_help_lists_every_registered_command():
    result = run_raphe("--help")
    assert result.returncode == 0
    names = [m.NAME for m in cli._command_modules()]
    for name in names:
        assert re.search(rf"^\s+{re.escape(name)}\s", result.stdout, re.MULTILINE), name


def test_version_prints_distribution_version():
    from importlib.metadata import version

    result = run_raphe("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"raphe {version('raphe')}"


@pytest.mark.parametrize("args", [("no-such-command",), ("--no-such-option",)])
def test_usage_errors_exit_2_with_one_line_and_usage(args):
    result = run_raphe(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("usage: raphe")
    assert len([ln for ln in lines if "error:" in ln]) == 1


def test_help_and_version_do_not_import_qt():
    code = (
        "import sys, contextlib, io\n"
        "from raphe.gui import cli\n"
        "for argv in (['--help'], ['--version']):\n"
        "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "        cli.main(argv)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'h5py')]\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_raphe_error_becomes_one_line_and_exit_1(monkeypatch, capsys):
    from raphe.errors import InputError

    def boom(args):
        raise InputError("method file x.toml, line 3: key 'rt' must be a number")

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    sub = next(a for a in parser._actions if a.dest == "command")
    p = sub.add_parser("boom")
    p.set_defaults(_run=boom)
    assert cli.main(["boom"]) == 1
    err = capsys.readouterr().err
    assert err == "raphe boom: error: method file x.toml, line 3: key 'rt' must be a number\n"


def test_log_file_has_iso_timestamps_and_instrument_traffic(tmp_path):
    path = tmp_path / "raphe.log"
    log.configure(verbose=0, log_file=str(path))
    logging.getLogger("raphe.instrument.ne1000").debug("> %r", b"0DIS\r")
    for handler in logging.getLogger("raphe").handlers:
        handler.flush()
    text = path.read_text()
    assert re.match(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d DEBUG   raphe\.instrument\.ne1000: "
        r"> b'0DIS\\r'",
        text,
    ), text
    log.configure(verbose=0)


def test_every_module_logs_under_its_import_name():
    """One rule: ``logging.getLogger(__name__)``; instruments log as raphe.instrument.<name>."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    found = []
    for top in ("raphe", "drivers", "simulators", "acquisition", "protocols", "gui"):
        for path in (root / top).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "getLogger"
                        and node.args):
                    arg = node.args[0]
                    name = ast.unparse(arg)
                    if name != "__name__" and "raphe.instrument." not in name and name != "'raphe'":
                        found.append(f"{path.relative_to(root)}: getLogger({name})")
    assert found == []
