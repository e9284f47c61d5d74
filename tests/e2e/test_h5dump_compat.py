"""Session files are readable by HDF5 1.10's own tools (h5dump), as MATLAB and HDFView are.

A short simulated session is recorded with ``raphe record --sim``; h5dump (Debian's
hdf5-tools, HDF5 1.10) must read every dataset in it, tables included, with the rows
h5py sees. The same for a recovered crashed session and a reanalysed one. Text shows
as the text and nothing after it: no padding NULs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import h5py
import pytest

from raphe.acquisition.reader import SessionReader
from raphe.acquisition.session import Session
from raphe.records import Event, Fraction, Injection

from crash_writer import kill_mid_write
from tests_e2e_helpers import raphe

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("h5dump") is None,
                       reason="h5dump not installed (Debian package hdf5-tools; .ci/run installs it)"),
]


def datasets(path: Path) -> dict[str, int]:
    """Every dataset in the file and its number of rows, as h5py sees them."""
    found: dict[str, int] = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: found.__setitem__(f"/{name}", obj.shape[0])
                     if isinstance(obj, h5py.Dataset) else None)
    return found


def h5dump_rows(path: Path, dataset: str) -> int:
    result = subprocess.run(["h5dump", "-d", dataset, str(path)], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, f"h5dump -d {dataset}: {result.stderr or result.stdout}"
    assert "error" not in result.stderr.lower(), result.stderr
    match = re.search(r"DATASPACE\s+SIMPLE\s+\{\s*\(\s*(\d+)", result.stdout)
    assert match, result.stdout[:400]
    return int(match.group(1))


#: An octal escape of h5dump: a byte >= 0x80 is a negative (signed) char printed as a
#: 32-bit octal number (``\37777777702`` is 0xC2), a control byte as ``\000``.
_ESCAPE = re.compile(r"\\(37777777[0-7]{3}|[0-7]{3})")


def h5dump_text(path: Path, dataset: str) -> tuple[str, list[str]]:
    """h5dump's output for ``dataset`` and every string value in its data, decoded: h5dump's
    octal escapes turned back into bytes, read as UTF-8."""
    result = subprocess.run(["h5dump", "-w", "0", "-d", dataset, str(path)],
                            capture_output=True, timeout=120, check=False)
    out = result.stdout.decode("utf-8")
    assert result.returncode == 0, f"h5dump -d {dataset}: {result.stderr!r}"
    data = out[out.index("DATA {"):].split('ATTRIBUTE "units"')[0]
    values = []
    for quoted in re.findall(r'^\s*"(.*)",?$', data, re.MULTILINE):
        raw = bytearray()
        pos = 0
        for m in _ESCAPE.finditer(quoted):
            raw += quoted[pos:m.start()].encode("ascii")
            raw.append(int(m.group(1), 8) & 0xFF)
            pos = m.end()
        raw += quoted[pos:].encode("ascii")
        values.append(raw.decode("utf-8"))
    return out, values


def test_h5dump_shows_each_text_and_nothing_after_it(tmp_path):
    path = tmp_path / "text.h5"
    label64 = "rat17-PFC-" + "0123456789" * 5 + "abcd"  # 64 bytes: fills str64
    micro = "a" + "µ" * 32                                 # 65 bytes: cut to 63, never mid-µ
    events = [Event(1.0, "flow", "1 -> 1.5 µL/min; operator: Dr. Müller", "operator"),
              Event(2.0, "drug", "ipsapirone 0.3 mg/kg s.c.", "protocol"),
              Event(3.0, "medium", "aCSF; 5 nM 5-HT", "operator"),
              Event(4.0, "end", "completed", "protocol")]
    with Session.create(path, signal_dt=0.1) as s:
        for e in events:
            s.add_event(e)
        s.add_injection(Injection(2.5, label64, 20.0))
        s.add_fraction(Fraction(1, 0.0, 5.0, 7.5, micro))
    with SessionReader(path) as r:
        assert r.events() == events

    out, texts = h5dump_text(path, "/events")
    assert "\\000" not in out, out
    assert "STRPAD H5T_STR_NULLTERM" in out and "CSET H5T_CSET_UTF8" in out
    assert "STRPAD H5T_STR_NULLPAD" not in out
    assert '"ipsapirone 0.3 mg/kg s.c.",' in out and '"aCSF; 5 nM 5-HT",' in out
    # Non-ASCII bytes are h5dump's octal escapes; the ASCII around them is verbatim.
    assert 'L/min; operator: Dr. M' in out and 'ller",' in out
    assert texts == [v for e in events for v in (e.kind, e.text, e.source)]

    out, texts = h5dump_text(path, "/injections")
    assert "\\000" not in out and f'"{label64}",' in out
    assert texts[0] == label64
    out, texts = h5dump_text(path, "/fractions")
    assert "\\000" not in out
    assert texts == ["a" + "µ" * 31, ""]


def assert_h5dump_reads_everything(path: Path) -> None:
    found = datasets(path)
    for table in ("/events", "/injections", "/fractions", "/pump", "/audit", "/instruments",
                  "/analysis/results", "/analysis/calibration", "/analysis/baseline",
                  "/analysis/calibration_standards", "/analysis/recovery",
                  "/analysis/suitability", "/signals/ecd_blocks", "/signals/ecd"):
        assert table in found, table
    for name, rows in found.items():
        assert h5dump_rows(path, name) == rows, name
    listing = subprocess.run(["h5ls", "-r", str(path)], capture_output=True, text=True,
                             timeout=60, check=False)
    assert listing.returncode == 0 and "*ERROR*" not in listing.stdout, listing.stdout
    attrs = subprocess.run(["h5dump", "-A", "-g", "/rig", str(path)], capture_output=True,
                           text=True, timeout=60, check=False)
    assert attrs.returncode == 0 and 'ATTRIBUTE "text"' in attrs.stdout


def test_a_recorded_and_a_reanalysed_session_read_with_h5dump(tmp_path):
    session = tmp_path / "run.h5"
    result = raphe("record", "--sim", "--out", str(session), "--minutes", "16",
                   "--inject-every", "15", "--method", "simulated-5ht", "--speed", "600")
    assert result.returncode == 0, result.stderr
    found = datasets(session)
    assert found["/analysis/results"] > 0 and found["/injections"] == 1
    assert_h5dump_reads_everything(session)

    again = tmp_path / "again.h5"
    result = raphe("replay", str(session), "--out", str(again))
    assert result.returncode == 0, result.stderr
    assert datasets(again)["/audit"] >= 1
    assert_h5dump_reads_everything(again)


def test_a_recovered_session_reads_with_h5dump(tmp_path):
    path, log = tmp_path / "crashed.h5", tmp_path / "writer.log"
    kill_mid_write(path, log)
    out = tmp_path / "recovered.h5"
    result = raphe("recover", str(path), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert datasets(out)["/signals/ecd"] > 0
    assert_h5dump_reads_everything(out)
    # h5clear on a copy opens the crashed file itself to non-Raphe readers (docs/file-format.md).
    if shutil.which("h5clear"):
        copy = tmp_path / "copy.h5"
        shutil.copy(path, copy)
        cleared = subprocess.run(["h5clear", "-s", str(copy)], capture_output=True, text=True,
                                 timeout=60, check=False)
        assert cleared.returncode == 0, cleared.stderr
        assert h5dump_rows(copy, "/signals/ecd") > 0


def test_inspect_shows_the_format_bounds(tmp_path):
    session = tmp_path / "short.h5"
    result = raphe("record", "--sim", "--out", str(session), "--minutes", "1", "--speed", "300")
    assert result.returncode == 0, result.stderr
    shown = raphe("inspect", str(session))
    assert "superblock v3, library-version bounds v110/v110; readable from HDF5 1.10" in shown.stdout
