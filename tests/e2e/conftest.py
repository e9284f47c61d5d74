"""Make ``tests_e2e_helpers`` and the killable session writer (``crash_writer``) importable
from the end-to-end tests."""

import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "acquisition"))
