"""The simulated HPLC's assays: which peaks elute when, and how long a run lasts.

``standard`` is the 15-min isocratic monoamine assay (NA, DA, 5-HIAA, 5-HT at 10 min);
``fast`` is a 5.5-min run with 5-HT near 3.5 min, as fast commercial DA/5-HT methods
(small particles, short columns) give: three or four animals share one HPLC at 20-min
samples. ``dialysate`` is the 15-min run as real dialysates often look: 5-HT on the tail of
a 5-HIAA peak some 90 times its area, at realistic widths (``hplc.dialysate_params``). Each
has its bundled analysis method (``simulated-5ht``, ``simulated-5ht-fast``,
``simulated-5ht-dialysate``).
"""

from __future__ import annotations

from dataclasses import replace

from raphe.simulators.hplc import DEFAULT_PEAKS, HPLCParams, PeakSpec, dialysate_params

#: The analysis method that quantifies each assay.
METHODS = {"standard": "simulated-5ht", "fast": "simulated-5ht-fast",
           "dialysate": "simulated-5ht-dialysate"}

_FAST_RT = {"NA": 60.0, "DA": 95.0, "5-HIAA": 150.0, "5-HT": 210.0}


def assay(name: str, **changes) -> HPLCParams:
    """The HPLC parameters of assay ``name`` (``standard``, ``fast`` or ``dialysate``),
    with ``changes``."""
    if name == "standard":
        return HPLCParams(**changes)
    if name == "fast":
        peaks = tuple(PeakSpec(p.name, _FAST_RT[p.name], p.response_nA_s_per_fmol)
                      for p in DEFAULT_PEAKS)
        return replace(HPLCParams(run_length_s=330.0, peaks=peaks, solvent_front_rt_s=25.0,
                                  sigma0_s=1.5, sigma_per_rt=0.012), **changes)
    if name == "dialysate":
        return dialysate_params(**changes)
    raise ValueError(f"unknown assay {name!r} (known: {', '.join(METHODS)})")
