"""Probe recovery in vitro: how much of the 5-HT around the probe reaches the dialysate.

The probe is placed in a stirred standard solution of known 5-HT
concentration (on a real rig Raphe asks the operator to move it and
confirm). It is perfused at the flow of the experiments and samples are
collected and injected as in vivo; the same standard is then injected
directly. Recovery (%) = dialysate concentration ÷ standard concentration ×
100, read from the results: the ``S…`` samples against the ``STD`` injection.
Recovery falls as the flow rises, so measure it at the flow you use.
"""

from raphe.protocols import Parameter

requires = {"raphe": "1"}  # the Rig API level this protocol is written for
metadata = {"name": "Probe recovery (in vitro)", "version": 1}

parameters = [
    Parameter("standard_nM", 10.0, unit="nM", range=(0.01, 1000.0),
              help="5-HT concentration of the solution around the probe"),
    Parameter("flow_ul_min", 1.0, unit="uL/min", range=(0.1, 5.0), help="perfusion flow"),
    Parameter("interval_min", 20.0, unit="min", range=(5.0, 60.0), help="length of each sample"),
    Parameter("equilibration_min", 30.0, unit="min", range=(0.0, 240.0),
              help="perfusion in the solution before the first sample"),
    Parameter("samples", 3, range=(1, 12), help="dialysate samples"),
]


def run(rig, params):
    rig.probe_medium("standard solution", params.standard_nM)
    rig.phase("equilibration")
    rig.pump.infuse(params.flow_ul_min)
    if params.equilibration_min > 0:
        rig.wait(params.equilibration_min)
    rig.phase("recovery")
    for i in range(params.samples):
        rig.collect(params.interval_min, label=f"S{i + 1}")
    rig.wait((rig.run_length_min or 15.0) + 1)
    rig.inject_standard(params.standard_nM, label="STD")
    rig.probe_medium("animal")
