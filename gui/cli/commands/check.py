"""``raphe check PROTOCOL``: the dry run — what a protocol will do, and why it cannot."""

from __future__ import annotations

import argparse

NAME = "check"
HELP = "dry-run a protocol: timeline, duration, syringe volume, tubes, injections, errors"
ORDER = 2


def add_protocol_arguments(parser: argparse.ArgumentParser) -> None:
    """PROTOCOL and ``--set``, shared with ``raphe run``."""
    parser.add_argument("protocol", metavar="PROTOCOL",
                        help="a protocol file (.py) or a bundled protocol: systemic-drug, "
                             "reverse-dialysis, calibration, probe-recovery, online-monitoring")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        dest="assignments",
                        help="set a parameter, with or without its unit: --set drug=ipsapirone "
                             "--set 'flow_ul_min=90 uL/h' (repeatable)")
    parser.add_argument("--syringe-filled", type=float, default=None, metavar="UL",
                        help="µL in the syringe at the start (default: a full syringe); a "
                             "second run on the same syringe has what the first left")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_protocol_arguments(parser)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--sim", action="store_true",
                        help="check against the simulated rig (the default)")
    source.add_argument("--rig", metavar="RIG", help="check against this rig file")
    parser.add_argument("--method", metavar="METHOD",
                        help="analysis method whose run length spaces the injections "
                             "(default: the rig's, as raphe run: simulated-5ht on the "
                             "simulated rig, a rig file's [rig] method)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--parameters", action="store_true",
                        help="list the protocol's parameters and stop")
    from raphe.gui.cli.commands._animals import add_animal_options

    add_animal_options(parser, run=False)


def run(args: argparse.Namespace) -> int:
    import json
    import math

    from raphe.gui.cli.commands._animals import check as check_animals
    from raphe.gui.cli.commands._animals import wanted as several_animals
    from raphe.gui.cli.commands._protocol_run import choose_method
    from raphe.protocols.dryrun import check
    from raphe.protocols.parameters import parse_assignments
    from raphe.protocols.protocol import describe_parameters, load_protocol
    from raphe.protocols.rig_spec import spec_for, with_syringe

    protocol = load_protocol(args.protocol)
    if args.parameters:
        print(f"{protocol.name} ({protocol.path})")
        print(describe_parameters(protocol) or "(no parameters)")
        return 0
    # the method the run would quantify with, chosen (or refused) as `raphe run` does
    args.sim = not args.rig
    method = choose_method(args)
    animals = several_animals(args)
    if animals is not None:
        return check_animals(args, animals, method)
    given = parse_assignments(args.assignments)
    spec, _ = spec_for(args.rig, None)
    spec = with_syringe(spec, args.syringe_filled)
    plan = check(protocol, given, spec, run_length_s=getattr(method, "run_length_s", None),
                 method_name=getattr(method, "name", ""))
    # the method's settings against a simulated chromatogram of the rig's assay
    from raphe.gui.cli.commands._method_check import dry_run_warnings

    method_warnings = dry_run_warnings(method) if not args.rig else []
    if args.json:
        out = plan.as_json()
        out["method_check"] = method_warnings
        print(json.dumps(out, indent=2, default=str))
        return 0 if plan.ok else 1
    print(f"protocol    {protocol.name} ({protocol.path})")
    print(f"rig         {spec.source}")
    if plan.ok:
        duration = plan.duration_s
        print("duration    " + ("until stopped" if not math.isfinite(duration) else
                                f"{duration / 60:.0f} min ({duration / 3600:.2f} h), the last "
                                "chromatogram included"))
        print(f"syringe     {plan.syringe_ul:.0f} µL of {spec.syringe_volume_uL or 0:g} µL")
        print(f"samples     {len(plan.samples)}: {plan.tubes} tubes"
              + (f" of {spec.rack_size}" if spec.rack_size else "")
              + f", {plan.injections} injections")
        if plan.prompts:
            print(f"operator    {plan.prompts} prompt{'s' if plan.prompts > 1 else ''}")
        for item in plan.drugs:
            print(f"drug        {item.text} at {item.t / 60:.0f} min")
        if plan.samples:
            print("\n  sample        collected (min)     left the probe (min)   tube  inject")
            for s in plan.samples:
                probe = ("      -" if math.isnan(s.probe_start_s) else
                         f"{s.probe_start_s / 60:7.1f}–{s.probe_end_s / 60:<7.1f}")
                inject = "" if s.inject_t is None else f"{s.inject_t / 60:6.1f}"
                tube = "" if s.tube is None else str(s.tube)
                extra = "  (not baseline: fluid path not yet filled)" if s.unfilled else ""
                print(f"  {s.label:<12} {s.t_start / 60:7.1f}–{s.t_end / 60:<9.1f} {probe:>19}"
                      f"   {tube:>4}  {inject}{extra}")
    for w in plan.warnings:
        print(f"warning: {w}")
    for w in method_warnings:
        print(f"warning: method {method.name}: {w}")
    if not plan.ok:
        import sys

        for e in plan.errors:
            print(f"raphe check: error: {e}", file=sys.stderr)
        return 1
    print("\nok: the protocol can run")
    return 0
