"""Systemic drug: the classic microdialysis time course around one injection.

The probe is perfused with aCSF. After an equilibration period (nothing is
collected: the probe and tissue settle), baseline samples are collected; the
drug is then given i.p. or s.c. — on a real rig Raphe asks the operator to
inject it and records the moment the operator confirms — and samples are
collected after it. Each sample goes into a fresh tube of the fraction
collector and/or is injected into the HPLC at the end of its interval, so its
5-HT is quantified while the experiment runs and reported as % of this
animal's own baseline (the mean of the baseline samples).

Optionally a standard of known concentration is injected (``standard_replicates``
times) before the first baseline sample and once after the last sample, to
check the detector response: before the drug, the system-suitability test of
those standards (replicate area RSD, the calibration's R², LOD/LOQ) runs, and
a failing test pauses the run and asks the operator to continue or abort before
the drug is given; at the end, the drift between the first and the last
standard is reported.
"""

from raphe.protocols import Parameter

requires = {"raphe": "1"}  # the Rig API level this protocol is written for
metadata = {"name": "Systemic drug", "version": 1}

parameters = [
    Parameter("drug", "fluoxetine",
              help="drug given (vehicle for a control); see docs/virtual-animal.md for those "
                   "the simulated animal knows"),
    Parameter("dose_mg_kg", 10.0, unit="mg/kg", range=(0.0, 100.0), help="dose"),
    Parameter("route", "ip", choices=("ip", "sc"), help="ip (intraperitoneal) or sc "
                                                         "(subcutaneous)"),
    Parameter("region", "prefrontal-cortex",
              help="where the probe is (stored with the session; the simulated animal "
                   "models prefrontal-cortex and ventral-hippocampus)"),
    Parameter("flow_ul_min", 1.0, unit="uL/min", range=(0.1, 5.0), help="perfusion flow"),
    Parameter("interval_min", 20.0, unit="min", range=(5.0, 60.0),
              help="length of each sample (and the time between injections)"),
    Parameter("equilibration_min", 60.0, unit="min", range=(0.0, 240.0),
              help="perfusion before the first sample; nothing is collected"),
    Parameter("baseline_samples", 4, range=(1, 12), help="samples before the drug"),
    Parameter("post_samples", 12, range=(1, 72), help="samples after the drug"),
    Parameter("standard_nM", 0.0, unit="nM", range=(0.0, 100.0),
              help="inject a standard of this concentration before and after (0: none)"),
    Parameter("standard_replicates", 2, range=(1, 5),
              help="injections of the standard before the baseline (2 or more: replicate RSD)"),
    Parameter("rsd_max_pct", 3.0, unit="%", range=(0.1, 50.0),
              help="suitability: largest replicate area RSD accepted before the drug"),
    Parameter("drift_max_pct", 10.0, unit="%", range=(0.1, 100.0),
              help="suitability: largest drift of the standard from the first to the last"),
]


def run(rig, params):
    rig.phase("equilibration")
    rig.pump.infuse(params.flow_ul_min)
    if params.equilibration_min > 0:
        rig.wait(params.equilibration_min)
    if params.standard_nM > 0:
        for k in range(params.standard_replicates):
            if k:
                rig.wait(rig.run_length_min + 1)  # one chromatogram after the other
            rig.inject_standard(params.standard_nM, label=f"STD-before-{k + 1}")

    rig.phase("baseline")
    for i in range(params.baseline_samples):
        rig.collect(params.interval_min, label=f"B{i + 1}")

    if params.standard_nM > 0:  # is the assay fit to measure? asked before the drug
        rig.suitability(rsd_max=params.rsd_max_pct, drift_max=params.drift_max_pct)

    rig.phase("drug")
    rig.administer(params.drug, params.dose_mg_kg, params.route)

    rig.phase("post-drug")
    for i in range(params.post_samples):
        rig.collect(params.interval_min, label=f"P{i + 1}")

    if params.standard_nM > 0:
        rig.wait(rig.run_length_min + 1)  # the last sample's run ends first, a minute spare
        rig.inject_standard(params.standard_nM, label="STD-after")
        rig.suitability(rsd_max=params.rsd_max_pct, drift_max=params.drift_max_pct, ask=False)
