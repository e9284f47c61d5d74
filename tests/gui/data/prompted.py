"""A short protocol that asks the operator before the drug (tests of the prompt dialog)."""

from raphe.protocols import Parameter

metadata = {"name": "Prompted drug", "version": 1}

parameters = [
    Parameter("interval_min", 20.0, unit="min", range=(15.0, 60.0), help="sample length"),
    Parameter("baseline_samples", 2, range=(1, 6), help="samples before the drug"),
    Parameter("post_samples", 2, range=(1, 12), help="samples after the drug"),
]


def run(rig, params):
    rig.phase("equilibration")
    rig.pump.infuse(1.0)
    rig.wait(5)
    rig.phase("baseline")
    for i in range(params.baseline_samples):
        rig.collect(params.interval_min, label=f"B{i + 1}")
    rig.prompt("Give fluoxetine 10 mg/kg i.p. now, then confirm")
    rig.phase("drug")
    rig.administer("fluoxetine", 10, "ip")
    rig.phase("post-drug")
    for i in range(params.post_samples):
        rig.collect(params.interval_min, label=f"P{i + 1}")
