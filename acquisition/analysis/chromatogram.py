"""The chromatogram record every reader returns and every analysis step takes.

Every analysis step assumes evenly spaced samples. Readers hand their time
column to ``validated``, which accepts jitter in the sampling steps up to a
stated bound: steps within 0.1 % of the median are taken as they are; up to
``JITTER_LIMIT`` (10 %) the trace is resampled onto an even grid by linear
interpolation, with a warning in ``metadata["warnings"]`` (the error this
adds to an area is far below 0.1 % for peaks ten samples wide); beyond that
— a missing sample, a restart — the file is refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from raphe.errors import InputError

#: Largest relative deviation of a sampling step from the median step still called uniform.
UNIFORM_TOLERANCE = 1e-3
#: Largest relative deviation that is resampled (with a warning) rather than refused.
JITTER_LIMIT = 0.1


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

    Times must be finite, strictly increasing and evenly spaced (within 0.1 %, or
    within ``JITTER_LIMIT`` and then resampled with a warning); there must be at
    least 3 points. ``source`` names the file in messages.
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
    deviation = np.abs(step - median) / median
    if np.isinf(values).any():
        raise InputError(f"{source}: signal holds an infinite value")
    if np.isnan(values).all():
        raise InputError(f"{source}: signal holds no numeric value")
    metadata = dict(metadata or {})
    worst = int(np.argmax(deviation))
    if deviation[worst] > JITTER_LIMIT:
        raise InputError(
            f"{source}: sampling is not uniform at point {worst + 2} (step {step[worst]:g} s, "
            f"median {median:g} s: {100 * deviation[worst]:.0f} % off, more than the "
            f"{100 * JITTER_LIMIT:.0f} % that is resampled)"
        )
    if deviation[worst] > UNIFORM_TOLERANCE:
        grid = t[0] + median * np.arange(round((t[-1] - t[0]) / median) + 1)
        grid = grid[grid <= t[-1] + 1e-9 * median]
        message = (f"{source}: sampling steps vary by up to {100 * deviation[worst]:.2g} % "
                   f"(point {worst + 2}); resampled onto an even {median:g} s grid")
        metadata.setdefault("warnings", []).append(message)
        values = np.interp(grid, t, values)
        t = grid
    return Chromatogram(t=t, values=values, units=units, metadata=metadata)
