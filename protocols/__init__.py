"""Protocols: readable Python scripts run by one engine, checked by a dry run first.

A protocol file declares ``metadata``, typed ``parameters`` and ``run(rig, params)``;
``from raphe.protocols import Parameter`` is all it needs to import. See
``docs/protocols.md``.
"""

from raphe.protocols.parameters import Parameter

__all__ = ["Parameter"]
