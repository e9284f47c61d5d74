"""Integration settings: the knobs of detection, integration and S/N, with defaults."""

from __future__ import annotations

from dataclasses import dataclass

#: How riders are separated from their parent (see ``skim.py``).
SKIMS = ("drop", "tangent", "exponential", "gaussian")
#: The baseline drawn under each peak (see ``peaks._swells``).
PEAK_BASELINES = ("auto", "line")


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
    #: Optionally, as a CDS's slope sensitivity: a peak also starts/ends where the smoothed
    #: signal has climbed or fallen slower than this (signal units per second) for
    #: ``baseline_plateau_s`` (default half of ``peak_width_s``) — a peak on a shelf ends
    #: at the shelf, not where the shelf meets the baseline.
    slope_threshold: float | None = None
    #: The slope that ends a peak, when it differs from the one that starts it.
    slope_threshold_end: float | None = None
    baseline_plateau_s: float | None = None
    #: A valley lower than this fraction of the smaller neighbour's height (above the local
    #: baseline, and never less than ``boundary_noise`` noise SDs) ends both peaks on the
    #: baseline; a higher valley gets a drop line, or a skim (below).
    valley_baseline_fraction: float = 0.05
    #: How a rider on a larger peak's tail is separated: "drop" (drop line at the valley),
    #: "tangent" (straight skim), "exponential" (the tail modelled as an exponential decay,
    #: which also finds shoulders with no valley) or "gaussian" (the parent modelled as a
    #: Gaussian).
    skim: str = "drop"
    #: Skim a rider when parent height / rider height is at least this (OpenLab's skim height
    #: ratio Hp/Hc) ...
    skim_height_ratio: float = 10.0
    #: ... and rider height / valley height (both above the baseline) is at most this
    #: (OpenLab's skim valley ratio Hc/Hv): a valley near the baseline is not a rider's.
    skim_valley_ratio: float = 20.0
    #: Look for riders and shoulders on every peak whose tail (apex to 10 % height) is at
    #: least this many times its front (exponential and Gaussian skims only).
    tail_asymmetry: float = 1.8
    #: The baseline: "local" (morphological lower envelope, exact for straight drift) or a
    #: pybaselines algorithm: arpls, asls, airpls, iarpls, psalsa, aspls, drpls, snip, mor,
    #: fastchrom (window = ``baseline_window_s``).
    baseline: str = "local"
    #: The baseline under each peak: "auto" (a straight line from the peak's start to its
    #: end, as a CDS draws it, unless the peak sits on a swell — wander, a hump — that the
    #: line would cut under: then a quadratic through the signal either side of the peak's
    #: own extent) or "line" (always the straight line).
    peak_baseline: str = "auto"
    #: A peak on a larger peak's tail (or on a swell) whose integrated area and the
    #: whole-cluster fit's differ by more than this fraction — or whose fitted area is
    #: uncertain by more than half of it — is ``unresolved``.
    resolve_tolerance: float = 0.1
    #: Find abrupt baseline steps, take them out, and flag the peaks they touch.
    detect_steps: bool = True
    #: Detector limits: readings at or beyond them are clipped (``saturated``).
    detector_max: float | None = None
    detector_min: float | None = None
    #: Fit a peak model to every reported peak and report its area beside the integrated
    #: one: "none", "emg" (exponentially modified Gaussian) or "skewnorm" (skew-normal).
    fit: str = "none"
    #: Flag ``fit_mismatch`` when fitted and integrated areas differ by more than this.
    fit_tolerance: float = 0.1
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
