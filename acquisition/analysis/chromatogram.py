"""The chromatogram record every reader returns and every analysis step takes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from raphe.errors import InputError

#: Largest relative deviation of a sampling step from the median step still called uniform.
UNIFORM_TOLERANCE = 1e-3


@dataclass
class Chromatogram:
    """One detector trace: time from injection in seconds, the signal, its units.

    ``values`` may hold NaN where the detector overloaded; ``metadata`` keeps
    whatever the source said about the run (sample name, detector, vendor peaks).
    """

    t: np.ndarray
    values: np.ndarray
    units: str = ""
    metadata: dict = field(default_factory=dict)

    @property
    def dt(self) -> float:
        """The sampling interval (s)."""
        return float((self.t[-1] - self.t[0]) / (len(self.t) - 1))

    def __len__(self) -> int:
        return len(self.t)


def validated(t, values, units: str = "", metadata: dict | None = None,
              source: str = "chromatogram") -> Chromatogram:
    """Build a ``Chromatogram`` after checking what every analysis step relies on.

    Times must be finite, strictly increasing and evenly spaced (within 0.1 %);
    there must be at least 3 points. ``source`` names the file in messages.
    """
    t = np.asarray(t, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if t.ndim != 1 or values.ndim != 1 or len(t) != len(values):
        raise InputError(f"{source}: time and signal must be two columns of equal length")
    if len(t) < 3:
        raise InputError(f"{source}: {len(t)} data points; a chromatogram needs at least 3")
    if not np.all(np.isfinite(t)):
        raise InputError(f"{source}: time column holds a non-numeric or infinite value")
    step = np.diff(t)
    bad = np.flatnonzero(step <= 0)
    if bad.size:
        i = int(bad[0])
        raise InputError(
            f"{source}: time is not increasing at point {i + 2} ({t[i]:g} s then {t[i + 1]:g} s)"
        )
    median = float(np.median(step))
    uneven = np.flatnonzero(np.abs(step - median) > UNIFORM_TOLERANCE * median + 1e-9)
    if uneven.size:
        i = int(uneven[0])
        raise InputError(
            f"{source}: sampling is not uniform at point {i + 2} "
            f"(step {step[i]:g} s, median {median:g} s)"
        )
    if np.isinf(values).any():
        raise InputError(f"{source}: signal holds an infinite value")
    if np.isnan(values).all():
        raise InputError(f"{source}: signal holds no numeric value")
    return Chromatogram(t=t, values=values, units=units, metadata=dict(metadata or {}))
