"""One registry of flags: the quantifier writes only registered flags, the docs explain
every one, and the excluding ones keep a sample out of % of baseline."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from raphe.acquisition.analysis import flags as fl

ROOT = Path(__file__).resolve().parents[2]


def test_the_registry_holds_what_the_live_contract_needs():
    for name in ("not_found", "saturated", "implausible", "incomplete", "gap",
                 "perfusion_stopped", "unfilled", "baseline_step", "no_noise"):
        assert fl.BY_NAME[name].excludes, name
    for name in ("below_lod", "below_loq", "drift", "fit_mismatch", "uncalibrated"):
        assert not fl.BY_NAME[name].excludes, name
    assert len(fl.BY_NAME) == len(fl.FLAGS)


def test_order_and_reasons():
    assert fl.order_flags(["gap", "below_loq", "not_found", "gap"]) == (
        "not_found", "below_loq", "gap")
    assert fl.order_flags(["out_of_range"]) == ("implausible", "out_of_range")
    with pytest.raises(ValueError, match="unknown flag"):
        fl.order_flags(["made_up"])
    assert fl.excludes(("below_lod", "gap")) and not fl.excludes(("below_lod", "drift"))
    assert fl.parse("a, b,,c") == ("a", "b", "c")
    assert fl.describe(["gap", "x"])[0].startswith("gap: detector readings were lost")


def test_every_flag_is_explained_in_the_docs():
    text = (ROOT / "docs" / "analysis-method.md").read_text(encoding="utf-8")
    table = text[text.index("## Flags"):]
    for flag in fl.FLAGS:
        row = next(line for line in table.splitlines() if line.startswith(f"| `{flag.name}` |"))
        assert row.rstrip().endswith("**yes** |" if flag.excludes else "no |"), flag.name


def test_the_quantifier_writes_only_registered_flags():
    sources = (ROOT / "acquisition" / "analysis").glob("*.py")
    written = set()
    for path in sources:
        text = path.read_text(encoding="utf-8")
        written |= set(re.findall(r'flags(?:\.append\(| \+= \[)"([a-z_]+)"', text))
    assert written and written <= set(fl.BY_NAME), written - set(fl.BY_NAME)
