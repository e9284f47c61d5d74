"""Make the serial-test helpers (``wire_helpers``) importable from the driver tests."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
