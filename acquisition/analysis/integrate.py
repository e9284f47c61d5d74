"""Integration: trapezoid of the signal minus a straight baseline (CDS convention).

Areas are in signal units × seconds. Boundaries that fall between samples
are interpolated linearly, as ANDI/ChemStation peak tables do.
"""

from __future__ import annotations

import numpy as np


def baseline_at(t, t0: float, v0: float, t1: float, v1: float):
    """The straight baseline through (t0, v0) and (t1, v1), evaluated at ``t``."""
    if t1 == t0:
        return v0 + 0.0 * np.asarray(t)
    return v0 + (v1 - v0) * (np.asarray(t) - t0) / (t1 - t0)


def area_above_line(t: np.ndarray, y: np.ndarray, t_start: float, t_end: float,
                    base_start: tuple[float, float], base_end: tuple[float, float]) -> float:
    """Area of (signal − baseline) from ``t_start`` to ``t_end``.

    The baseline joins ``base_start`` = (time, value) and ``base_end``; the
    integration limits may lie between samples (the signal is interpolated).
    """
    i0 = int(np.searchsorted(t, t_start, side="right"))
    i1 = int(np.searchsorted(t, t_end, side="left"))
    tt = np.concatenate(([t_start], t[i0:i1], [t_end]))
    yy = np.concatenate(([np.interp(t_start, t, y)], y[i0:i1], [np.interp(t_end, t, y)]))
    yy = yy - baseline_at(tt, base_start[0], base_start[1], base_end[0], base_end[1])
    return float(np.sum((yy[1:] + yy[:-1]) * np.diff(tt)) * 0.5)


def area_indices(y: np.ndarray, dt: float, i0: int, i1: int, v0: float, v1: float,
                 j0: int | None = None, j1: int | None = None) -> float:
    """Trapezoid area of ``y[i0..i1]`` above the line from (j0, v0) to (j1, v1).

    Sample indices on a uniform grid of step ``dt``; the baseline anchors
    default to the integration limits (``j0 = i0``, ``j1 = i1``).
    """
    j0 = i0 if j0 is None else j0
    j1 = i1 if j1 is None else j1
    seg = y[i0:i1 + 1]
    if len(seg) < 2:
        return 0.0
    # The trapezoid of a straight line is exact: integrate it in closed form.
    slope = (v1 - v0) / (j1 - j0) if j1 != j0 else 0.0
    line_area = (v0 + slope * ((i0 + i1) / 2.0 - j0)) * (i1 - i0)
    trap = float(np.sum(seg) - 0.5 * (seg[0] + seg[-1]))
    return (trap - line_area) * dt
