"""Integration settings: the knobs of detection, integration and S/N, with defaults."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IntegrationSettings:
    """How peaks are found and integrated in one chromatogram.

    ``peak_width_s`` is the half-height width of the narrowest peak of interest;
    it sets the smoothing window. ``None`` estimates it from the trace's
    prominent peaks (as it does the baseline window).
    """

    peak_width_s: float | None = None
    #: Local-baseline window (s): longer than the widest peak's base. ``None``: 6 × widest W½.
    baseline_window_s: float | None = None
    #: Minimum EP/USP signal-to-noise (2H/h) for a peak to be reported.
    min_sn: float = 2.0
    #: Minimum width at half height (s); ``None`` means a quarter of ``peak_width_s``.
    min_width_s: float | None = None
    min_height: float = 0.0
    min_area: float = 0.0
    #: A peak starts/ends where the signal falls to this fraction of its height ...
    boundary_fraction: float = 0.005
    #: ... or to this many noise SDs of the smoothed signal, whichever is larger ...
    boundary_noise: float = 4.0
    #: ... then the boundary moves out by this many half-height widths (to reach the baseline).
    boundary_extend: float = 0.5
    #: A valley lower than this fraction of the taller neighbour's height (above the local
    #: baseline) ends both peaks on the baseline; a higher valley gets a drop line.
    valley_baseline_fraction: float = 0.025
    tangent_skim: bool = False
    #: Skim a rider when parent height / rider height is at least this.
    skim_height_ratio: float = 10.0
    #: EP 2.2.46 noise window = this × width at half height (EDQM: at least 5).
    sn_window_factor: float = 5.0
    #: Fixed noise window (s from injection) instead of the automatic peak-free one.
    noise_window_s: tuple[float, float] | None = None
    #: Bridge spikes (a few samples long) before detection.
    despike: bool = False
    #: Only integrate peaks whose apex lies in this range (s from injection).
    time_range_s: tuple[float, float] | None = None
    #: Flag ``drift`` when the run's baseline slope exceeds this (signal units per minute).
    drift_limit_per_min: float | None = None
