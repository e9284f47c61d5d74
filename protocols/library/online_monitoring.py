"""Online monitoring: perfuse, and inject the loop into the HPLC every few minutes.

What ``raphe record`` runs. The pump perfuses the probe at a constant flow;
after an optional equilibration, the injection valve injects the loop's
dialysate every ``inject_every_min`` minutes — and when the rig has a fraction
collector each interval's dialysate also goes into its own tube — for
``minutes`` minutes or until stopped (``minutes = 0``; then the run also ends
when the syringe runs empty or the rack is full). Drugs are given outside the protocol (the
operator marks them, or the simulated animal gets them with ``--sim-dose``);
% of baseline is then relative to the samples before the first drug.
"""

from raphe.protocols import Parameter

requires = {"raphe": "1"}  # the Rig API level this protocol is written for
metadata = {
    "name": "Online monitoring",
    "version": 1,
    # Runs until stopped when minutes = 0, and may only record the detector signal.
    "open_ended": True,
    "samples_optional": True,
}

parameters = [
    Parameter("flow_ul_min", 1.0, unit="uL/min", range=(0.1, 5.0), help="perfusion flow"),
    Parameter("inject_every_min", 0.0, unit="min", range=(0.0, 240.0),
              help="inject the loop every so many minutes (0: record the signal only)"),
    Parameter("equilibrate_min", 0.0, unit="min", range=(0.0, 1440.0),
              help="perfusion before the first sample starts filling the loop"),
    Parameter("minutes", 0.0, unit="min", range=(0.0, 10080.0),
              help="length of the recording (0: until stopped)"),
]


def run(rig, params):
    if "pump" in rig.roles:  # or the probe is perfused by a pump Raphe does not drive
        rig.pump.infuse(params.flow_ul_min)
    if params.equilibrate_min > 0:
        rig.wait(params.equilibrate_min)
    end = params.minutes
    interval = params.inject_every_min
    if interval > 0:
        while end == 0 or rig.minutes + interval <= end + 1e-9:
            rig.collect(interval, inject=True)
        if end > rig.minutes:
            rig.wait(end - rig.minutes)
    elif end > 0:
        rig.wait(end - rig.minutes)
    else:
        while True:
            rig.wait(10)
