"""Calibration: a series of external standards that refits the method's calibration.

Each standard (5-HT in aCSF, at the concentrations listed, each injected
``replicates`` times, lowest first) is loaded into the injection loop — by the
operator, who confirms, on a real rig — and injected, one chromatogram run
apart. The analysis then fits the calibration anew from these standards
(weighting and model as the method says), stores the fit (slope, intercept,
LOD, LOQ) in the session, and quantifies every later sample with it. Last, the
system-suitability test of the series is stored and printed: replicate area RSD
per level, the fit's R², LOD/LOQ at S/N 3 and 10 (docs/analysis-method.md).
"""

from raphe.protocols import Parameter

requires = {"raphe": "1"}  # the Rig API level this protocol is written for
metadata = {"name": "Calibration", "version": 1}

parameters = [
    Parameter("concentrations_nM", "0.1, 0.3, 1, 3",
              help="standard concentrations, nM, separated by commas"),
    Parameter("replicates", 3, range=(1, 5),
              help="injections of each standard (3 or more: a replicate RSD to trust)"),
    Parameter("rsd_max_pct", 3.0, unit="%", range=(0.1, 50.0),
              help="suitability: largest replicate area RSD accepted"),
    Parameter("r2_min", 0.998, range=(0.5, 1.0), help="suitability: smallest R² accepted"),
]


def run(rig, params):
    concentrations = sorted(float(c) for c in params.concentrations_nM.split(",") if c.strip())
    if not concentrations:
        raise ValueError("concentrations_nM lists no concentration")
    rig.phase("calibration")
    first = True
    for conc in concentrations:
        for k in range(params.replicates):
            if not first:
                rig.wait((rig.run_length_min or 15.0) + 1)  # a minute spare: runs never touch
            rig.inject_standard(conc, label=f"STD-{conc:g}nM-{k + 1}")
            first = False
    rig.refit_calibration()
    rig.wait((rig.run_length_min or 15.0) + 1)
    rig.suitability(rsd_max=params.rsd_max_pct, r2_min=params.r2_min, ask=False)
