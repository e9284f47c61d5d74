"""Options shared by every command that starts the simulated rig (``--sim``)."""

from __future__ import annotations

import argparse

#: Probe regions of the virtual animal as typed, for the help text (a test checks they are
#: ``raphe.simulators.animal.REGIONS``; importing it here would slow every ``--help``).
REGION_NAMES = ("prefrontal-cortex", "ventral-hippocampus", "dorsal-hippocampus")

from raphe.clock import MAX_SPEED, MIN_SPEED


def add_sim_options(parser: argparse.ArgumentParser, *, speed_default: float = 1.0,
                    protocol: bool = False) -> None:
    """The simulated rig's options. With ``protocol`` the protocol itself gives the drugs and
    the probe region (its ``region`` parameter), so ``--sim-dose`` and ``--sim-region`` are
    left out."""
    group = parser.add_argument_group("simulated rig")
    group.add_argument(
        "--speed", type=float, default=speed_default, metavar="N",
        help=f"run the simulated clock N times faster than real time (default {speed_default:g})",
    )
    group.add_argument("--seed", type=int, default=0, help="random seed of the virtual animal")
    if not protocol:
        group.add_argument(
            "--sim-region", default="prefrontal-cortex", type=_region, metavar="REGION",
            help="brain region of the probe in the virtual animal: "
            f"{', '.join(REGION_NAMES)} (default prefrontal-cortex)",
        )
        group.add_argument(
            "--sim-dose", action="append", default=[], metavar="DRUG:MG_PER_KG:ROUTE@MINUTE",
            help="administer a drug to the virtual animal, e.g. fluoxetine:10:ip@80 "
            "(repeatable)",
        )
    group.add_argument(
        "--sim-history", action="append", default=[], metavar="DRUG:MG_PER_KG:ROUTE:PER_DAYxDAYS",
        help="dose the virtual animal before the session, e.g. citalopram:10:ip:2x14 (twice a day "
        "for 14 days, last dose 24 h before; append :HOURS for another washout; repeatable)",
    )
    group.add_argument(
        "--sim-assay", choices=("standard", "fast", "dialysate"), default=None,
        help="the simulated HPLC's assay: standard (15-min runs, 5-HT at 10 min), fast "
             "(5.5-min runs, 5-HT at 3.5 min; the default with --animals 2 or more) or "
             "dialysate (15-min runs, broad peaks, 5-HT on the tail of a 5-HIAA peak some 90 "
             "times its area)")
    group.add_argument(
        "--ground-truth", metavar="FILE",
        help="log the model's dialysate 5-HT per injection as JSON lines (never in the session)",
    )


def _region(text: str) -> str:
    """A region as typed (hyphens or underscores) → the model's key."""
    from raphe.names import lookup
    from raphe.simulators.animal import REGIONS

    try:
        return lookup(text, REGIONS, "region")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def rig_options(args: argparse.Namespace):
    """Build ``RigOptions`` from parsed arguments; bad values become one InputError."""
    from raphe.errors import InputError
    from raphe.simulators.drugs import parse_dose_spec, parse_regimen_spec
    from raphe.simulators.simulated_rig import RigOptions

    if not MIN_SPEED <= args.speed <= MAX_SPEED:  # also refuses NaN
        raise InputError(f"--speed must be from {MIN_SPEED:g} to {MAX_SPEED:g} (times real "
                         f"time), got {args.speed:g}")
    if not 0 <= args.seed < 2**32:
        raise InputError(f"--seed must be a whole number from 0 to {2**32 - 1}, got {args.seed}")
    truth = getattr(args, "ground_truth", None)
    if truth:
        from raphe.files import new_file

        new_file(truth, "--ground-truth")
    doses = []
    for text in getattr(args, "sim_dose", None) or []:
        try:
            doses.append(parse_dose_spec(text))
        except ValueError as exc:
            raise InputError(f"--sim-dose {text!r}: {exc}") from None
    history = []
    for text in getattr(args, "sim_history", None) or []:
        try:
            history.append(parse_regimen_spec(text))
        except ValueError as exc:
            raise InputError(f"--sim-history {text!r}: {exc}") from None
    return RigOptions(
        speed=args.speed, seed=args.seed,
        region=getattr(args, "sim_region", None) or RigOptions.region, doses=doses,
        history=history, ground_truth_path=args.ground_truth, assay=sim_assay(args),
    )


def sim_method(args: argparse.Namespace) -> str:
    """The bundled analysis method of the simulated HPLC's assay."""
    from raphe.simulators.assays import METHODS

    return METHODS[sim_assay(args)]


def sim_assay(args: argparse.Namespace) -> str:
    """The simulated HPLC's assay: ``--sim-assay``, else fast for several animals."""
    chosen = getattr(args, "sim_assay", None)
    if chosen:
        return chosen
    return "fast" if (getattr(args, "animals", None) or 1) > 1 else "standard"


#: What a simulated basal chromatogram holds (fmol in a 20-µL loop): some 0.6 nM 5-HT and
#: 13 nM 5-HIAA, as the virtual animal's dialysate.
BASAL_FMOL = {"NA": 10.0, "DA": 6.0, "5-HIAA": 260.0, "5-HT": 12.0}


def basal_chromatogram(method_name: str, length_s: float | None = None):
    """One basal chromatogram (times from injection, nA) of the simulated assay whose
    bundled method is ``method_name`` (else ``standard``), 10 Hz, ``length_s`` long
    (default: the assay's run)."""
    import numpy as np

    from raphe.simulators.assays import METHODS, assay
    from raphe.simulators.hplc import HPLCECD

    name = next((a for a, m in METHODS.items() if m == method_name), "standard")
    params = assay(name)
    model = HPLCECD(params, seed=0)
    model.inject(0.0, BASAL_FMOL)
    t = np.arange(round((length_s or params.run_length_s) / 0.1)) * 0.1
    return t, model.nA(t)
