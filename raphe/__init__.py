"""Raphe: in vivo microdialysis at the bench — drive the rig, stream the ECD, quantify 5-HT live.

One import package. This folder holds the small core every layer may import
(``raphe.errors``, ``raphe.clock``, ``raphe.records``, ``raphe.names``,
``raphe.files``); the layers live in the repository's top-level folders and
install as its sub-packages:
``raphe.drivers``, ``raphe.simulators``, ``raphe.acquisition``,
``raphe.protocols`` and ``raphe.gui`` (imports point down that list, the
simulators import only the core).
"""

from __future__ import annotations

from pathlib import Path

__version__ = "0.2.0"

#: The layer folders that install as ``raphe.<name>``.
LAYERS = ("drivers", "simulators", "acquisition", "protocols", "gui")

# In a source checkout (the tests, ``python -m raphe`` from a clone) the layers are the
# checkout's top-level folders, beside this one: let ``raphe.<layer>`` find them there.
# An installed ``raphe`` holds them inside itself and skips this.
_checkout = Path(__file__).resolve().parent.parent
if not (Path(__file__).resolve().parent / "drivers").is_dir() and all(
    (_checkout / name / "__init__.py").is_file() for name in LAYERS
):
    __path__.append(str(_checkout))
