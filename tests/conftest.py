"""Shared fixtures: paths to the public data and a scaled clock."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_DATA = ROOT / "tests" / "data" / "public"


@pytest.fixture
def public_data() -> Path:
    """The real instrument exports in ``tests/data/public`` (read only; licences in NOTICE.md)."""
    return PUBLIC_DATA
