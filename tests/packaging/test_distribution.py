"""The installed distribution: one top-level import package, ``raphe``, holding every layer."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import sysconfig
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYER_FOLDERS = ("raphe", "drivers", "simulators", "acquisition", "protocols", "gui")


def _declared_packages() -> list[str]:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["tool"]["setuptools"]["packages"]


def test_every_package_folder_is_declared():
    """A new sub-package folder that pyproject.toml forgets would be missing from the wheel."""
    found = set()
    for top in LAYER_FOLDERS:
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT).parts
            found.add(".".join(rel) if rel[0] == "raphe" else ".".join(("raphe", *rel)))
    assert found == set(_declared_packages())


def _is_editable(dist: metadata.Distribution) -> bool:
    text = dist.read_text("direct_url.json")
    return bool(text) and json.loads(text).get("dir_info", {}).get("editable", False)


def _installed() -> metadata.Distribution:
    """The distribution in site-packages (not a build's ``raphe.egg-info`` in the checkout)."""
    purelib = sysconfig.get_paths()["purelib"]
    found = [d for d in metadata.distributions(name="raphe", path=[purelib])]
    assert found, f"raphe is not installed in {purelib}"
    return found[0]


def test_installed_distribution_has_one_top_level_package():
    dist = _installed()
    files = [str(f) for f in dist.files or []]
    if _is_editable(dist):
        # An editable install maps import names to the checkout: only ``raphe.*`` may be mapped.
        finders = [f for f in dist.files if str(f).endswith("_finder.py")]
        mapped = set()
        for finder in finders:
            for node in ast.walk(ast.parse(Path(finder.locate()).read_text())):
                if isinstance(node, ast.AnnAssign | ast.Assign) and "MAPPING" in ast.dump(
                        node.targets[0] if isinstance(node, ast.Assign) else node.target):
                    mapped |= set(ast.literal_eval(node.value))
        pth = [f for f in files if f.endswith(".pth")]
        assert pth and all(name.split(".")[0] == "raphe" for name in mapped), (mapped, pth)
        return
    tops = {Path(f).parts[0] for f in files if not f.startswith("..")}
    tops = {t for t in tops if not t.endswith(".dist-info")}
    assert tops == {"raphe"}, tops
    for layer in ("drivers", "simulators", "acquisition", "protocols", "gui"):
        assert any(f.startswith(f"raphe/{layer}/") for f in files), layer


def test_python_m_raphe_and_version():
    import raphe

    result = subprocess.run([sys.executable, "-m", "raphe", "--version"], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"raphe {raphe.__version__}"
    assert _installed().version == raphe.__version__


def test_layers_import_as_raphe_subpackages():
    import raphe.acquisition
    import raphe.drivers
    import raphe.gui
    import raphe.protocols
    import raphe.simulators

    for module in (raphe.drivers, raphe.simulators, raphe.acquisition, raphe.protocols,
                   raphe.gui):
        assert module.__name__.startswith("raphe.")
    for bare in ("drivers", "simulators", "acquisition", "protocols", "gui"):
        assert bare not in sys.modules or not getattr(sys.modules[bare], "__file__", "").startswith(
            str(ROOT)), bare
