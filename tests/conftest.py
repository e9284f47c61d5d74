"""Shared fixtures: paths to the public data and a scaled clock."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_DATA = ROOT.parent / "shared" / "data" / "public"


@pytest.fixture
def public_data() -> Path:
    """The real instrument exports in ``../shared/data/public`` (read only)."""
    if not PUBLIC_DATA.is_dir():
        pytest.skip(f"public data not found at {PUBLIC_DATA}")
    return PUBLIC_DATA
