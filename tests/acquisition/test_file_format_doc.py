"""docs/file-format.md describes the session file exactly, and text is stored as it says.

The page is parsed — the layout block, the root and group attribute tables, and the
column table of every table (name, type, text size, unit) — and compared with a file
written by ``Session.create`` and closed. Anything documented but missing, present but
undocumented, in another order or of another type fails, naming it.
"""

from __future__ import annotations

import inspect
import math
import re
from pathlib import Path

import h5py
import numpy as np
import pytest

from raphe.acquisition import session as session_module
from raphe.acquisition import store
from raphe.acquisition.reader import SessionReader
from raphe.acquisition.session import Session
from raphe.records import (
    EVENT_KINDS,
    EVENT_SOURCES,
    DetectorBlock,
    Event,
    Fraction,
    Injection,
    PumpState,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "file-format.md"
#: Root attributes the session writer sets when it closes the file, being added to it:
#: expected in a closed file once the writer's code names them.
SET_ON_CLOSE = ("end_reason", "end_detail")
NONE = "–"


# -- the page --------------------------------------------------------------------------------


def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def section(text: str, heading: str) -> str:
    """The text under the heading line starting with ``heading`` up to the next heading."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(heading):
            body = []
            for rest in lines[i + 1:]:
                if rest.startswith("#"):
                    break
                body.append(rest)
            return "\n".join(body)
    raise AssertionError(f"{DOC.name}: no heading {heading!r}")


def md_tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """Every markdown table in ``text``: (header cells, rows of cells)."""
    out: list[tuple[list[str], list[list[str]]]] = []
    rows: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif rows:
            header, body = rows[0], rows[2:]
            out.append((header, body))
            rows = []
    return out


def name(cell: str) -> str:
    """The name in a cell written as ```name```."""
    match = re.fullmatch(r"`([^`]+)`", cell)
    assert match, f"{DOC.name}: expected a `name`, got {cell!r}"
    return match.group(1)


def doc_layout(text: str) -> dict[str, str]:
    """Path → ``group``, ``table`` or the dataset's type, from the layout block."""
    block = re.search(r"```\n(.*?)```", section(text, "## Layout"), re.DOTALL)
    assert block, f"{DOC.name}: the Layout section has no code block"
    out: dict[str, str] = {}
    for line in block.group(1).splitlines():
        if not line.startswith("/"):
            continue
        path, kind = line.split()[:2]
        levels = re.search(r"k = 1\.\.(\d+)", line)
        paths = ([path.replace("{k}", str(k)) for k in range(1, int(levels.group(1)) + 1)]
                 if "{k}" in path and levels else [path])
        for p in paths:
            assert p not in out, f"{DOC.name}: {p} listed twice in the layout"
            out[p] = kind
    return out


def doc_attributes(text: str) -> dict[str, str]:
    """Root attribute → documented type."""
    ((header, rows),) = md_tables(section(text, "### Root attributes"))
    assert header[:2] == ["attribute", "type"], header
    return {name(r[0]): r[1] for r in rows}


def doc_group_attributes(text: str) -> dict[str, set[str]]:
    """Group path → documented attribute names (``/rig``, ``/protocol``, ``/analysis/method``)."""
    ((header, rows),) = md_tables(section(text, "### `/rig`"))
    assert header[:2] == ["path", "attribute"], header
    out: dict[str, set[str]] = {}
    for r in rows:
        out.setdefault(name(r[0]), set()).add(name(r[1]))
    return out


def doc_tables(text: str) -> dict[str, list[tuple[str, str, str]]]:
    """Table path → [(column, type, unit)] from every ``### `/path` `` section's column table."""
    out: dict[str, list[tuple[str, str, str]]] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = re.match(r"#{2,4} `(/[^`]+)`", line)
        if not match:
            continue
        body = []
        for rest in lines[i + 1:]:
            if rest.startswith("#"):
                break
            body.append(rest)
        for header, rows in md_tables("\n".join(body)):
            if header[:3] == ["column", "type", "unit"]:
                assert match.group(1) not in out, f"{DOC.name}: {match.group(1)} twice"
                out[match.group(1)] = [(name(r[0]), r[1], r[2]) for r in rows]
    return out


# -- the file --------------------------------------------------------------------------------


def write_session(path: Path) -> None:
    """A short closed session with a row in the main tables."""
    with Session.create(path, operator="ana", animal_id="R17", notes="PFC",
                        rig={"text": "[pump]\n", "identities": {}},
                        protocol={"name": "p", "source": "pass\n"}, method_toml="[peaks]\n",
                        signal_dt=0.1, scale_nA_per_V=10.0) as s:
        s.add_block(DetectorBlock(0, 0.0, 0.1, np.linspace(1.0, 2.0, 50)))
        s.add_event(Event(1.0, "flow", "1.0 -> 1.5 uL/min; operator: test", "operator"))
        s.add_injection(Injection(2.0, "S001", 20.0))
        s.add_fraction(Fraction(1, 0.0, 5.0, 7.5, "S001"))
        s.add_pump_state(PumpState(0.0, 1.5, 0.0, "infusing"))


def h5_type(tid) -> str:
    """An HDF5 type in the page's words: float64, int64, strN, or what it is instead."""
    cls, size = tid.get_class(), tid.get_size()
    if cls == h5py.h5t.FLOAT and size == 8 and tid.get_order() == h5py.h5t.ORDER_LE:
        return "float64"
    if (cls == h5py.h5t.INTEGER and size == 8 and tid.get_order() == h5py.h5t.ORDER_LE
            and tid.get_sign() == h5py.h5t.SGN_2):
        return "int64"
    if cls == h5py.h5t.STRING and not tid.is_variable_str():
        pad, cset = tid.get_strpad(), tid.get_cset()
        if pad == h5py.h5t.STR_NULLTERM and cset == h5py.h5t.CSET_UTF8:
            return f"str{size - 1}"
        return f"fixed string of {size} bytes, strpad {pad}, cset {cset} (not NULLTERM UTF-8)"
    return f"HDF5 class {cls}, {size} bytes"


def file_columns(ds: h5py.Dataset) -> list[tuple[str, str, str]]:
    """[(column, type, unit)] of a table, its units from its ``units`` attribute."""
    units: dict[str, str] = {}
    for part in store.attr_text(ds.attrs.get("units", "")).split("; "):
        if ": " in part:
            names, unit = part.split(": ", 1)
            units.update({n.strip(): unit for n in names.split(",")})
    tid = ds.id.get_type()
    out = []
    for i in range(tid.get_nmembers()):
        column = tid.get_member_name(i).decode()
        out.append((column, h5_type(tid.get_member_type(i)), units.get(column, NONE)))
    return out


def attr_type(attrs: h5py.AttributeManager, key: str) -> str:
    value = attrs[key]
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int"
    if isinstance(value, (float, np.floating)):
        return "float"
    if isinstance(value, str):
        tid = attrs.get_id(key).get_type()
        if tid.is_variable_str() and tid.get_cset() == h5py.h5t.CSET_UTF8:
            return "str"
        return "fixed-length or non-UTF-8 str"
    return type(value).__name__


def file_objects(f: h5py.File) -> dict[str, str]:
    """Path → ``group``, ``table`` or the dataset's type, for every object in the file."""
    out = {"/": "group"}

    def visit(path: str, obj) -> None:
        if isinstance(obj, h5py.Group):
            out[f"/{path}"] = "group"
        elif obj.dtype.names:
            out[f"/{path}"] = "table"
        else:
            out[f"/{path}"] = {"<f8": "float64", "|u1": "uint8"}.get(obj.dtype.str, obj.dtype.str)

    f.visititems(visit)
    return out


def writer_sets(attribute: str) -> bool:
    """Whether the session writer's code names root attribute ``attribute``."""
    code = inspect.getsource(session_module) + inspect.getsource(store)
    return f'"{attribute}"' in code or f"'{attribute}'" in code


# -- the checks ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def closed_session(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("doc") / "session.h5"
    write_session(path)
    return path


def test_the_page_is_of_the_current_format_version():
    title = doc_text().splitlines()[0]
    assert title == f"# The session file (HDF5), format version {store.FORMAT_VERSION}", title


def test_every_dataset_and_group_is_documented_and_nothing_else(closed_session):
    documented = doc_layout(doc_text())
    with h5py.File(closed_session, "r") as f:
        found = file_objects(f)
    problems = [f"{p}: documented ({kind}) but not in the file"
                for p, kind in documented.items() if p not in found]
    problems += [f"{p}: in the file ({kind}) but not documented"
                 for p, kind in found.items() if p not in documented]
    problems += [f"{p}: documented as {documented[p]}, the file has {kind}"
                 for p, kind in found.items() if p in documented and documented[p] != kind]
    assert not problems, "docs/file-format.md layout:\n" + "\n".join(problems)


def test_every_table_has_its_columns_types_sizes_and_units_documented(closed_session):
    text = doc_text()
    documented = doc_tables(text)
    tables = {p for p, kind in doc_layout(text).items() if kind == "table"}
    problems = [f"{p}: a table in the layout without a column table"
                for p in sorted(tables - set(documented))]
    with h5py.File(closed_session, "r") as f:
        found = {f"/{hpath}": file_columns(f[hpath]) for hpath, _ in store.TABLES.values()}
        for p in sorted(set(documented) - set(found)):
            problems.append(f"{p}: columns documented but the file has no such table")
    for p in sorted(set(found) - set(documented)):
        problems.append(f"{p}: table in the file without a column table in the page")
    for p in sorted(set(found) & set(documented)):
        doc_cols, file_cols = documented[p], found[p]
        doc_names, file_names = [c[0] for c in doc_cols], [c[0] for c in file_cols]
        for c in doc_names:
            if c not in file_names:
                problems.append(f"{p}.{c}: documented but not in the file")
        for c in file_names:
            if c not in doc_names:
                problems.append(f"{p}.{c}: in the file but not documented")
        if set(doc_names) == set(file_names) and doc_names != file_names:
            problems.append(f"{p}: columns in another order: page {doc_names}, "
                            f"file {file_names}")
        file_by_name = {c[0]: c for c in file_cols}
        for column, kind, unit in doc_cols:
            if column not in file_by_name:
                continue
            _, file_kind, file_unit = file_by_name[column]
            if kind != file_kind:
                problems.append(f"{p}.{column}: documented as {kind}, the file has {file_kind}")
            if unit != file_unit:
                problems.append(f"{p}.{column}: documented unit {unit!r}, the file's units "
                                f"attribute says {file_unit!r}")
    assert not problems, "docs/file-format.md tables:\n" + "\n".join(problems)


def test_every_root_attribute_is_documented_and_nothing_else(closed_session):
    documented = doc_attributes(doc_text())
    with h5py.File(closed_session, "r") as f:
        found = {key: attr_type(f.attrs, key) for key in f.attrs}
    pending = {a for a in SET_ON_CLOSE if not writer_sets(a)}
    problems = [f"/ attribute {a}: documented but not in a closed session"
                for a in documented if a not in found and a not in pending]
    problems += [f"/ attribute {a}: in the file ({kind}) but not documented"
                 for a, kind in found.items() if a not in documented]
    problems += [f"/ attribute {a}: documented as {documented[a]}, the file has {kind}"
                 for a, kind in found.items() if a in documented and documented[a] != kind]
    assert not problems, "docs/file-format.md root attributes:\n" + "\n".join(problems)


def test_group_attributes_are_documented_and_nothing_else(closed_session):
    documented = doc_group_attributes(doc_text())
    problems = []
    with h5py.File(closed_session, "r") as f:
        for group in ("/rig", "/protocol", "/analysis/method"):
            found, doc = set(f[group].attrs), documented.get(group, set())
            problems += [f"{group} attribute {a}: documented but not in the file"
                         for a in sorted(doc - found)]
            problems += [f"{group} attribute {a}: in the file but not documented"
                         for a in sorted(found - doc)]
        problems += [f"{g}: attributes documented for a group the page does not check"
                     for g in sorted(set(documented) - {"/rig", "/protocol", "/analysis/method"})]
    assert not problems, "docs/file-format.md group attributes:\n" + "\n".join(problems)


def test_event_kinds_and_sources_are_the_declared_ones():
    body = section(doc_text(), "### `/events`")
    rows = {name(r[0]): r for _, rs in md_tables(body) for r in rs}
    assert re.findall(r"`(\w+)`", rows["kind"][3]) == list(EVENT_KINDS)
    assert re.findall(r"`(\w+)`", rows["source"][3]) == list(EVENT_SOURCES)
    listed = re.findall(r"^\* (`\w+`(?:, `\w+`)*):", body, re.MULTILINE)
    kinds = {k for item in listed for k in re.findall(r"`(\w+)`", item)}
    assert kinds == set(EVENT_KINDS), sorted(kinds ^ set(EVENT_KINDS))


# -- text storage ----------------------------------------------------------------------------


def test_text_is_null_terminated_utf8_and_keeps_its_full_size(tmp_path):
    path = tmp_path / "text.h5"
    label64 = "S" + "0123456789abcdef" * 3 + "x" * 15  # 64 bytes: fills a str64 column
    micro64 = "µ" * 32                                   # 64 bytes of 2-byte characters
    micro65 = "a" + "µ" * 32                             # 65 bytes: cut to 63, never mid-µ
    flow = "1 -> 1.5 µL/min; operator: Dr. Müller"
    assert len(label64.encode()) == len(micro64.encode()) == 64
    with Session.create(path, signal_dt=0.1) as s:
        s.add_injection(Injection(1.0, label64, 20.0))
        s.add_fraction(Fraction(1, 0.0, 5.0, 7.5, micro64))
        s.add_fraction(Fraction(2, 5.0, 10.0, 7.5, micro65))
        s.add_event(Event(2.0, "flow", flow, "operator"))
        s.add_event(Event(3.0, "é" * 8, "", "operator"))  # 16 bytes: fills str16
    assert store.superblock_version(path) == 3
    with SessionReader(path) as r:
        assert r.injections()[0].sample_id == label64
        assert [x.sample_id for x in r.fractions()] == [micro64, "a" + "µ" * 31]
        assert [(e.kind, e.text) for e in r.events()] == [("flow", flow), ("é" * 8, "")]
    with h5py.File(path, "r") as f:
        assert f.attrs["hdf5_libver_bounds"] == ",".join(store.LIBVER)
        assert f["injections"]["sample_id"][0] == label64.encode()
        assert f["fractions"]["sample_id"][1] == ("a" + "µ" * 31).encode()
        assert f["events"]["text"][0].decode("utf-8") == flow
        for hpath, dtype in store.TABLES.values():
            tid = f[hpath].id.get_type()
            for i in range(tid.get_nmembers()):
                column = tid.get_member_name(i).decode()
                member = tid.get_member_type(i)
                if dtype[column].kind != "S":
                    continue
                where = f"/{hpath}.{column}"
                assert member.get_class() == h5py.h5t.STRING, where
                assert not member.is_variable_str(), where  # SWMR writers need fixed length
                assert member.get_strpad() == h5py.h5t.STR_NULLTERM, where
                assert member.get_cset() == h5py.h5t.CSET_UTF8, where
                assert member.get_size() == dtype[column].itemsize + 1, where
                assert f[hpath].dtype[column].kind == "S", where


def test_numbers_and_empty_tables_read_back(closed_session):
    with SessionReader(closed_session) as r:
        assert r.fractions()[0].tube == 1 and math.isclose(r.fractions()[0].volume_uL, 7.5)
        assert r.records("instruments") == [] and r.baseline_references() == []
        assert r.pump()[0].status == "infusing"
