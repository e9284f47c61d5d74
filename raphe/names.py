"""How users type names on the command line and in protocol parameters.

Names of regions, drugs, routes and methods are shown with hyphens
(``prefrontal-cortex``) and accepted with hyphens or underscores, in any case:
:func:`spelling` is the form shown, :func:`lookup` finds the known name a
user meant.
"""

from __future__ import annotations

from collections.abc import Iterable


def spelling(name: str) -> str:
    """The form shown to users: lower case, words joined by hyphens."""
    return "-".join(name.strip().lower().replace("_", " ").replace("-", " ").split())


def lookup(name: str, known: Iterable[str], what: str) -> str:
    """The entry of ``known`` that ``name`` spells (hyphens or underscores, any case).

    Raises ValueError naming ``what`` and the known names as users type them.
    """
    known = list(known)
    wanted = spelling(name)
    for key in known:
        if spelling(key) == wanted:
            return key
    raise ValueError(f"unknown {what} {name!r} (known: {', '.join(spelling(k) for k in known)})")
