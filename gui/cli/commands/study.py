"""``raphe study SOURCES… [--config STUDY.toml] [--out DIR] [--json]``: a study from sessions.

Also ``raphe simulate study`` (its options and its run live here; ``simulate.py`` hands
over): N virtual animals per group through the simulated rig, one session each.
"""

from __future__ import annotations

import argparse

NAME = "study"
HELP = ("a study from sessions: tidy table (CSV, Parquet), group time courses, AUC, "
        "treatment × time statistics, report and figure (sessions are only read)")
ORDER = 64


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sources", nargs="*", metavar="SOURCE",
                        help="sessions: files, folders (every .h5 in them) or globs")
    parser.add_argument("--config", metavar="STUDY.toml",
                        help="groups, control, exclusions, bins, windows, correction "
                             "(docs/studies.md); default: groups from each session's metadata")
    parser.add_argument("--out", metavar="DIR",
                        help="folder for the table, report and figure (default: "
                             "study-YYYYmmdd-HHMMSS); never written over")
    parser.add_argument("--json", action="store_true", help="print the study as JSON")


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    import time

    from raphe.acquisition.study.config import load_config
    from raphe.acquisition.study.study import (
        all_tests,
        analyse_study,
        load_study,
        out_paths,
        summary,
        write_study,
    )

    config = load_config(args.config)
    out = args.out or time.strftime("study-%Y%m%d-%H%M%S")
    out_paths(out)  # refused before any work if it would overwrite

    def progress(i: int, n: int, name: str) -> None:
        if n >= 10 and sys.stderr.isatty():
            end = "\n" if i == n else ""
            print(f"\rreading sessions {i}/{n} {name:<40.40}", end=end, file=sys.stderr,
                  flush=True)

    study = load_study(args.sources, config, progress=progress)
    result = analyse_study(study)
    written = write_study(study, result, out)
    data = summary(study, result)
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    st = result.statistics
    print(f"{len(study.sessions)} sessions, {study.analyte}, bins of {study.bin_min:g} min")
    for g in data["groups"]:
        mark = "  (vehicle)" if g["vehicle"] else ""
        print(f"  {g['name']}: {len(g['animals'])} animals, {g['n_included']} included{mark}")
    for x in data["excluded"]:
        print(f"  excluded from the statistics: {x['animal']} ({x['group']}): {x['reason']}")
    for w in study.warnings:
        print(f"  note: {w}")
    print(f"model: {st['model']} — {st['model_reason']}")
    from raphe.acquisition.study.study import format_test

    for t in all_tests(result):
        if t in st["posthoc"]["tests"] and not t.get("significant"):
            continue
        print(f"  {format_test(t)}")
    hidden = sum(1 for t in st["posthoc"]["tests"] if not t.get("significant"))
    if hidden:
        print(f"  ({hidden} post hoc comparisons not significant: see report.md)")
    print(f"written to {out}/: " + ", ".join(p.name for p in written))
    return 0


# -- raphe simulate study ------------------------------------------------------------------

def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``raphe simulate study`` and ``raphe simulate binding``."""
    group = parser.add_argument_group("simulate study / simulate binding")
    group.add_argument("--groups", metavar="DRUG[:DOSE:ROUTE[:REGION]],…",
                       help="study: the treatment groups, e.g. vehicle,ipsapirone:1:sc:"
                            "ventral-hippocampus,fluoxetine:10:ip (region default --sim-region)")
    group.add_argument("--n", type=int, default=6, metavar="N",
                       help="study: animals per group (default 6)")
    group.add_argument("--out", metavar="PATH",
                       help="study: new folder for the sessions; binding: the new CSV file")
    group.add_argument("--jobs", type=int, default=2, metavar="J",
                       help="study: animals recorded at once, one process each (default 2)")
    group.add_argument("--interval", type=float, default=20.0, metavar="MIN",
                       help="study: sample interval (default 20 min)")
    group.add_argument("--baseline-samples", type=int, default=3, metavar="K",
                       help="study: samples before the drug (default 3)")
    group.add_argument("--post-samples", type=int, default=9, metavar="K",
                       help="study: samples after the drug (default 9)")
    group.add_argument("--equilibration", type=float, default=20.0, metavar="MIN",
                       help="study: perfusion before the first sample (default 20 min)")
    group.add_argument("--replicates", type=int, default=3, metavar="R",
                       help="binding: wells per concentration, total and NSB (default 3)")


def parse_groups(text: str | None, region: str) -> list[tuple[str, float, str, str]]:
    """``vehicle,ipsapirone:1:sc[:region],…`` → (drug, dose mg/kg, route, region) each."""
    from raphe import catalogue
    from raphe.errors import InputError
    from raphe.names import spelling
    from raphe.protocols.rig_spec import simulated_models

    if not text:
        raise InputError("--groups: name the groups, e.g. vehicle,ipsapirone:1:sc,"
                         "fluoxetine:10:ip")
    drugs, regions = simulated_models()
    out = []
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        parts = [p.strip() for p in item.split(":")]
        if len(parts) not in (1, 3, 4):
            raise InputError(f"--groups {item!r}: expected DRUG or DRUG:DOSE:ROUTE[:REGION]")
        drug = parts[0]
        known = catalogue.compound(drug)
        name = known.name if known is not None else spelling(drug)
        if name not in drugs:
            raise InputError(f"--groups {item!r}: the virtual animal does not model {drug!r} "
                             f"(it models: {', '.join(sorted(drugs))})")
        dose, route = 0.0, "ip"
        if len(parts) >= 3:
            try:
                dose = float(parts[1])
            except ValueError:
                raise InputError(f"--groups {item!r}: dose {parts[1]!r} is not a number") \
                    from None
            if not 0 <= dose <= 100:
                raise InputError(f"--groups {item!r}: dose must be 0-100 mg/kg")
            try:
                route = catalogue.route(parts[2])
            except ValueError as exc:
                raise InputError(f"--groups {item!r}: {exc}") from None
            if route not in ("ip", "sc"):
                raise InputError(f"--groups {item!r}: route must be ip or sc")
        elif name != "vehicle":
            raise InputError(f"--groups {item!r}: give the dose and route, e.g. {drug}:10:ip")
        where = spelling(parts[3]) if len(parts) == 4 else spelling(region)
        if where not in regions:
            raise InputError(f"--groups {item!r}: the virtual animal has no probe region "
                             f"{where!r} (it models: {', '.join(sorted(regions))})")
        out.append((name, dose, route, where))
    if not out:
        raise InputError("--groups: no group given")
    return out


def _slug(drug: str, dose: float, route: str, region: str, regions: set[str]) -> str:
    text = "vehicle" if drug == "vehicle" else f"{drug}-{dose:g}-{route}"
    if len(regions) > 1:
        text += "-" + "".join(w[0] for w in region.split("-"))
    return text.replace(".", "p")


def record_animal(spec: dict) -> dict:
    """Record one virtual animal through the simulated rig (runs in its own process)."""
    import time
    from pathlib import Path

    from raphe.acquisition.analysis.method import load_method
    from raphe.protocols.engine import Engine, Settings
    from raphe.protocols.protocol import load_protocol
    from raphe.protocols.rig_spec import SimOptions

    t0 = time.monotonic()
    out = Path(spec["path"])
    params = {"drug": spec["drug"], "dose_mg_kg": spec["dose"], "route": spec["route"],
              "region": spec["region"], "interval_min": spec["interval"],
              "baseline_samples": spec["baseline"], "post_samples": spec["post"],
              "equilibration_min": spec["equilibration"]}
    try:
        engine = Engine(load_protocol("systemic-drug"), params, Settings(
            out=out, sim=SimOptions(speed=spec["speed"], seed=spec["seed"]),
            method=load_method("simulated-5ht"), auto_answer=True, on_alarm="continue",
            animal_id=out.stem, operator="raphe simulate study",
            notes=f"virtual animal, seed {spec['seed']}"))
        outcome = engine.run()
        return {"path": str(out), "exit": outcome.exit_code, "message": outcome.message,
                "seconds": time.monotonic() - t0}
    except Exception as exc:  # noqa: BLE001 - reported with the animal, the others go on
        return {"path": str(out), "exit": 1, "message": f"{type(exc).__name__}: {exc}",
                "seconds": time.monotonic() - t0}


def run_simulate(args: argparse.Namespace) -> int:
    """``raphe simulate study``: ``--n`` animals per group, in ``--jobs`` processes."""
    import multiprocessing
    import sys
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from pathlib import Path

    from raphe.clock import MAX_SPEED, MIN_SPEED
    from raphe.errors import InputError

    groups = parse_groups(args.groups, getattr(args, "sim_region", "prefrontal-cortex"))
    if not 1 <= args.n <= 100:
        raise InputError(f"--n must be 1-100 animals per group, got {args.n}")
    if not 1 <= args.jobs <= 32:
        raise InputError(f"--jobs must be 1-32, got {args.jobs}")
    if not MIN_SPEED <= args.speed <= MAX_SPEED:
        raise InputError(f"--speed must be from {MIN_SPEED:g} to {MAX_SPEED:g}, "
                         f"got {args.speed:g}")
    if not 0 <= args.seed < 2**31:
        raise InputError(f"--seed must be a whole number from 0 to {2**31 - 1}")
    if not 5 <= args.interval <= 60:
        raise InputError(f"--interval must be 5-60 min, got {args.interval:g}")
    if not 1 <= args.baseline_samples <= 12 or not 1 <= args.post_samples <= 72:
        raise InputError("--baseline-samples must be 1-12 and --post-samples 1-72")
    if not 0 <= args.equilibration <= 240:
        raise InputError(f"--equilibration must be 0-240 min, got {args.equilibration:g}")
    if not args.out:
        raise InputError("--out: name a new folder for the sessions")
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"--out {out}: exists and is not an empty folder (never written over)")
    if not out.parent.is_dir():
        raise InputError(f"--out {out}: folder {out.parent} does not exist")
    out.mkdir(exist_ok=True)
    regions = {g[3] for g in groups}
    specs, k = [], 0
    for drug, dose, route, region in groups:
        slug = _slug(drug, dose, route, region, regions)
        for i in range(args.n):
            k += 1  # seed 0 is the typical animal: every animal of a study is an individual
            specs.append({"path": str(out / f"{slug}-{i + 1:02d}.h5"), "drug": drug,
                          "dose": dose, "route": route, "region": region,
                          "seed": args.seed + k, "speed": args.speed,
                          "interval": args.interval, "baseline": args.baseline_samples,
                          "post": args.post_samples, "equilibration": args.equilibration})
    minutes = args.equilibration + (args.baseline_samples + args.post_samples) * args.interval
    print(f"recording {len(specs)} virtual animals ({len(groups)} groups × {args.n}), "
          f"{minutes:g} min each at {args.speed:g}×, {args.jobs} at a time, into {out}/",
          flush=True)
    failed = 0
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=context) as pool:
        futures = [pool.submit(record_animal, spec) for spec in specs]
        for done, future in enumerate(as_completed(futures), 1):
            r = future.result()
            ok = r["exit"] == 0
            failed += not ok
            print(f"[{done}/{len(specs)}] {Path(r['path']).name}: "
                  f"{'recorded' if ok else 'FAILED: ' + r['message']} ({r['seconds']:.0f} s)",
                  flush=True, file=sys.stdout if ok else sys.stderr)
    print(f"{len(specs) - failed} sessions in {out}/; next: raphe study {out}")
    return 1 if failed else 0
