"""Shared fixtures: paths to the public data and a scaled clock."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_DATA = ROOT / "tests" / "data" / "public"


def pytest_xdist_auto_num_workers(config) -> int:
    """``-n auto``: two workers per core (at most eight). Most of the suite waits on scaled
    clocks: with one worker per core a full run keeps 0.8 of a core busy, with two per core
    1.4 (2-core machine, ``/usr/bin/time``), and ends in 7.6 min instead of 12.6."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(2 * (cores or 1), 8)


@pytest.fixture
def public_data() -> Path:
    """The real instrument exports in ``tests/data/public`` (read only; licences in NOTICE.md)."""
    return PUBLIC_DATA
