"""Reverse dialysis: a drug delivered through the probe itself, then washed out.

Local delivery: after equilibration and baseline samples with plain aCSF, the
perfusate is switched to aCSF containing the drug (on a real rig Raphe asks
the operator to switch the syringe or the liquid switch, and records the
moment of the confirmation), samples are collected while the drug is
perfused, and the perfusate is switched back to aCSF for a washout.
Optionally a drug is also given systemically during the local perfusion —
e.g. local WAY-100635 with a systemic SSRI, the classic test of terminal
5-HT1A feedback. Only the fraction of the drug that crosses the membrane
reaches the tissue: the perfusate concentration is typically 10–100× what is
wanted around the probe.
"""

from raphe.protocols import Parameter

requires = {"raphe": "1"}  # the Rig API level this protocol is written for
metadata = {"name": "Reverse dialysis", "version": 1}

parameters = [
    Parameter("drug", "way-100635", help="drug in the perfusate"),
    Parameter("conc_uM", 10.0, unit="uM", range=(0.001, 1000.0),
              help="drug concentration in the perfusate"),
    Parameter("systemic_drug", "none", help="also given i.p./s.c. during the local perfusion "
                                            "(none: no systemic drug)"),
    Parameter("systemic_dose_mg_kg", 10.0, unit="mg/kg", range=(0.0, 100.0),
              help="dose of the systemic drug"),
    Parameter("systemic_route", "ip", choices=("ip", "sc"), help="route of the systemic drug"),
    Parameter("region", "prefrontal-cortex", help="where the probe is"),
    Parameter("flow_ul_min", 1.0, unit="uL/min", range=(0.1, 5.0), help="perfusion flow"),
    Parameter("interval_min", 20.0, unit="min", range=(5.0, 60.0), help="length of each sample"),
    Parameter("equilibration_min", 60.0, unit="min", range=(0.0, 240.0),
              help="perfusion before the first sample"),
    Parameter("baseline_samples", 4, range=(1, 12), help="samples with plain aCSF"),
    Parameter("drug_samples", 6, range=(1, 36), help="samples while the drug is perfused"),
    Parameter("systemic_after", 2, range=(0, 36),
              help="drug samples before the systemic drug is given"),
    Parameter("washout_samples", 3, range=(0, 36), help="samples after switching back"),
]


def run(rig, params):
    rig.phase("equilibration")
    rig.pump.infuse(params.flow_ul_min)
    if params.equilibration_min > 0:
        rig.wait(params.equilibration_min)

    rig.phase("baseline")
    for i in range(params.baseline_samples):
        rig.collect(params.interval_min, label=f"B{i + 1}")

    rig.phase("local drug")
    rig.switch_perfusate(f"aCSF + {params.drug} {params.conc_uM:g} µM", drug=params.drug,
                         conc_uM=params.conc_uM)
    systemic = params.systemic_drug.strip().lower() not in ("", "none")
    for i in range(params.drug_samples):
        if systemic and i == params.systemic_after:
            rig.administer(params.systemic_drug, params.systemic_dose_mg_kg,
                           params.systemic_route)
        rig.collect(params.interval_min, label=f"D{i + 1}")

    if params.washout_samples:
        rig.phase("washout")
        rig.switch_perfusate("aCSF")
        for i in range(params.washout_samples):
            rig.collect(params.interval_min, label=f"W{i + 1}")
