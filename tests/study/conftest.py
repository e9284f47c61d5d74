"""Fixtures of the study tests: a 3 × 5 study written straight from the virtual animal."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from study_helpers import write_study


@pytest.fixture(scope="session")
def study_folder(tmp_path_factory) -> Path:
    """Vehicle (PFC), ipsapirone 1 mg/kg s.c. (vHipp), fluoxetine 10 mg/kg i.p. (PFC), five
    animals each, every sample there."""
    folder = tmp_path_factory.mktemp("study")
    write_study(folder, n=5)
    return folder


@pytest.fixture(scope="session")
def gappy_folder(tmp_path_factory) -> Path:
    """The same study with one fluoxetine animal missing a sample and another with one
    flagged (left out of % of baseline), and an animal to exclude."""
    folder = tmp_path_factory.mktemp("gappy")
    write_study(folder, n=5, flu02={"missing": ("P4",)},
                ips03={"flagged": {"P2": "incomplete"}})
    return folder
