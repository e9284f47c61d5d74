"""Protocols: readable Python scripts run by one engine, checked by a dry run first.

A protocol file declares ``metadata``, typed ``parameters`` and ``run(rig, params)``;
``from raphe.protocols import Parameter`` is all it needs to import. See
``docs/protocols.md``.
"""

__all__ = ["Parameter"]


def __getattr__(name: str):
    """``Parameter`` on first use: importing a submodule (e.g. ``raphe.protocols.control``
    for ``raphe --help``) does not load the units library."""
    if name == "Parameter":
        from raphe.protocols.parameters import Parameter

        return Parameter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
