"""``python -m raphe``: the ``raphe`` command line."""

import sys

from raphe.gui.cli import main

sys.exit(main())
