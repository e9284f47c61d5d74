"""Import layering: a lower layer never imports a higher one.

core (``raphe/``) ← drivers ← acquisition ← protocols ← gui, and the simulators
import only the core (the protocol engine and the command line may start them).
Every import counts, top-level or inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RANK = {"core": 0, "drivers": 1, "acquisition": 2, "protocols": 3, "gui": 4}
#: Who may import the simulators besides themselves: where the simulated rig is started
#: (and the command line's simulate command and its options), nothing in the run path.
SIMULATOR_USERS = {"protocols/rig_spec.py", "gui/cli/commands/simulate.py",
                   "gui/cli/commands/_sim_options.py"}
#: What only the analysis core does: the window draws what the analysis published.
ANALYSIS_MODULES = ("raphe.acquisition.analysis.quantifier", "raphe.acquisition.analysis.quantify",
                    "raphe.acquisition.analysis.peaks", "raphe.acquisition.analysis.integrate")


def layer_of_module(name: str) -> str | None:
    """The layer of an imported module name, or None when it is not Raphe's."""
    parts = name.split(".")
    if parts[0] != "raphe":
        return None
    if len(parts) > 1 and parts[1] in (*RANK, "simulators") and parts[1] != "core":
        return parts[1]
    return "core"


def layer_of_file(path: Path, root: Path) -> str:
    top = path.relative_to(root).parts[0]
    return "core" if top == "raphe" else top


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            # ``from raphe import drivers`` imports a layer by attribute.
            if node.module == "raphe":
                found += [(node.lineno, f"raphe.{a.name}") for a in node.names]
    return found


def source_files(root: Path = ROOT) -> list[Path]:
    files = []
    for top in ("raphe", "drivers", "simulators", "acquisition", "protocols", "gui"):
        files += sorted((root / top).rglob("*.py"))
    return files


def violations(root: Path = ROOT) -> list[str]:
    bad = []
    for path in source_files(root):
        if path == root / "raphe" / "__main__.py":  # the entry point runs the command line
            continue
        mine = layer_of_file(path, root)
        for line, module in imported_modules(path):
            theirs = layer_of_module(module)
            if theirs is None or theirs == mine:
                continue
            where = f"{path.relative_to(root)}:{line} imports {module}"
            if mine == "simulators":
                if theirs != "core":
                    bad.append(f"{where} (simulators import only the core)")
            elif theirs == "simulators":
                if path.relative_to(root).as_posix() not in SIMULATOR_USERS:
                    bad.append(f"{where} (only {', '.join(sorted(SIMULATOR_USERS))} start "
                               "the simulated rig)")
            elif RANK[theirs] > RANK[mine]:
                bad.append(f"{where} ({mine} is below {theirs})")
    return bad


def test_no_layer_imports_a_higher_one():
    assert violations() == []


def test_the_window_quantifies_nothing_itself():
    """The window (and the time course, the chromatogram panel, replay) draws the records
    the analysis core published; it never runs the analysis itself."""
    bad = []
    for path in sorted((ROOT / "gui" / "app").rglob("*.py")):
        for line, module in imported_modules(path):
            if module.startswith(ANALYSIS_MODULES) or module.endswith(
                    ("percent_of_baseline", "baseline_pct")):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert bad == []


def test_no_module_imports_a_folder_by_its_bare_name():
    bare = []
    for path in source_files() + sorted((ROOT / "tests").rglob("*.py")):
        for line, module in imported_modules(path):
            if module.split(".")[0] in ("drivers", "simulators", "acquisition", "protocols", "gui"):
                bare.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert bare == []


@pytest.mark.parametrize(("module", "expected"), [
    ("raphe.errors", "core"), ("raphe", "core"), ("raphe.drivers.ne1000", "drivers"),
    ("raphe.gui.cli", "gui"), ("raphe.simulators.simulated_rig", "simulators"), ("numpy", None),
])
def test_layer_of_module(module, expected):
    assert layer_of_module(module) == expected


def test_the_check_catches_an_upward_import(tmp_path):
    """The checker itself: a driver importing the acquisition layer is reported."""
    fake = tmp_path / "drivers"
    fake.mkdir()
    (fake / "bad.py").write_text("def f():\n    from raphe.acquisition import store\n")
    (tmp_path / "simulators").mkdir()
    (tmp_path / "simulators" / "s.py").write_text("import raphe.drivers.base\n")
    found = violations(tmp_path)
    assert any("drivers/bad.py:2 imports raphe.acquisition" in v for v in found)
    assert any("simulators/s.py:1 imports raphe.drivers.base" in v for v in found)
