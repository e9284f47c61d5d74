"""Sessions → the study's tidy table: one row per animal × sample.

Each session is read through :class:`~raphe.acquisition.reader.SessionReader` and never
written. Its group comes from its own metadata — the first ``drug`` event (what was given:
drug, dose, route) and the protocol's ``region`` parameter — unless the study config maps it.
Every value is the stored one: the concentration, the % of baseline the analysis core
computed against the animal's own baseline, the ``baseline`` column and every flag. Time is
the midpoint of the sample's probe-time window, in minutes after the drug; bins are
``[k · bin, (k + 1) · bin)`` minutes after it (negative bins are the baseline).

A row is *used* by the statistics when its animal is not excluded, no flag excludes the
sample (``raphe.acquisition.analysis.flags.excludes``) and its % of baseline is a number.
"""

from __future__ import annotations

import glob
import math
import re
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

import numpy as np
import pandas as pd

from raphe import catalogue
from raphe.acquisition.analysis import flags as fl
from raphe.acquisition.reader import SessionReader
from raphe.acquisition.study.config import StudyConfig
from raphe.errors import InputError

#: Columns of the tidy table, in order (``flag_<name>`` columns follow, one per known flag).
COLUMNS = ("animal", "group", "excluded", "exclusion_reason", "session", "drug", "dose",
           "dose_unit", "route", "region", "analyte", "sample_id", "sample", "baseline",
           "probe_start_min", "probe_end_min", "time_min", "bin", "bin_start_min", "bin_end_min",
           "conc_nM", "pct_baseline", "flags", "sample_excluded", "used")
FLAG_COLUMNS = tuple(f"flag_{f.name}" for f in fl.FLAGS)
#: Names the control group goes by (besides the catalogue's vehicle aliases).
_VEHICLE = {"vehicle", "saline", "veh", "acsf", "control"}
_DOSE_TEXT = re.compile(
    r"^(?P<name>.+?)\s+(?P<dose>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*"
    r"(?P<unit>mg/kg|µM|uM|nM|mM|µg/kg|ug/kg)\s*(?P<route>.*)$")


@dataclass
class SessionData:
    """One session as the study sees it: who, what was given, and its samples."""

    path: Path
    animal: str
    drug: str
    dose: float
    dose_unit: str
    route: str
    region: str
    #: session time (s) of the drug (the first ``drug`` event), the time zero of the study
    t_drug_s: float
    status: str
    rows: list[dict] = field(default_factory=list)
    group: str = ""
    excluded: str = ""  # the reason, "" when included
    notes: list[str] = field(default_factory=list)

    @property
    def is_vehicle(self) -> bool:
        known = catalogue.compound(self.drug)
        return self.drug.lower() in _VEHICLE or (known is not None and known.name == "vehicle")

    @property
    def metadata_group(self) -> tuple:
        """The group key from the session's own metadata."""
        if self.is_vehicle:
            return ("vehicle", math.nan, "", "", self.region)
        return (self.drug, self.dose, self.dose_unit, self.route, self.region)


def expand_sources(sources: list[str] | tuple[str, ...], base: Path | None = None,
                   what: str = "study") -> list[Path]:
    """Session files named by path, folder (every ``*.h5`` in it, recursively) or glob;
    relative names are taken from ``base`` (default: the working folder). Each file once, in
    the order given (a folder's and a glob's files sorted)."""
    found: list[Path] = []
    for source in sources:
        text = str(source)
        p = Path(text)
        if base is not None and not p.is_absolute():
            p = base / p
        if any(ch in text for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(str(p), recursive=True))
            matches = [m for m in matches if m.is_file()]
            if not matches:
                raise InputError(f"{what}: {text}: no session matches")
            found += matches
        elif p.is_dir():
            matches = sorted(m for m in p.rglob("*.h5") if m.is_file())
            if not matches:
                raise InputError(f"{what}: {text}: folder holds no session (*.h5)")
            found += matches
        elif p.is_file():
            found.append(p)
        else:
            raise InputError(f"{what}: {text}: no such session, folder or pattern")
    seen: set[Path] = set()
    out = []
    for p in found:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def _param(params: dict, *names: str):
    for name in names:
        item = params.get(name)
        if isinstance(item, dict) and "value" in item:
            return item["value"]
        if item is not None and not isinstance(item, dict):
            return item
    return None


def _spelt_region(region: object) -> str:
    if region is None or not str(region).strip():
        return ""
    known = catalogue.region(str(region))
    return known.name if known is not None else " ".join(str(region).split())


def parse_drug_text(text: str) -> tuple[str, float, str, str]:
    """(drug, dose, unit, route key) from a ``drug`` event's text, e.g.
    ``Prozac (fluoxetine) 10 mg/kg i.p.`` → ("fluoxetine", 10.0, "mg/kg", "ip")."""
    m = _DOSE_TEXT.match(" ".join(text.split()))
    if m is None:
        name, dose, unit, route_text = text.strip(), math.nan, "", ""
    else:
        name, dose, unit = m["name"], float(m["dose"]), m["unit"].replace("uM", "µM")
        route_text = m["route"]
    canon = re.search(r"\(([^()]+)\)\s*$", name)
    if canon is not None:
        name = canon.group(1)
    known = catalogue.compound(name)
    drug = known.name if known is not None else name.strip()
    route = ""
    if route_text:
        if "reverse dialysis" in route_text:
            route = "rd"
        else:
            try:
                route = catalogue.route(route_text.split()[0])
            except ValueError:
                route = ""
    return drug, dose, unit, route


def read_session(path: Path, analyte: str) -> SessionData:
    """One session's identity, treatment and sample rows (the study's analyte only)."""
    with SessionReader(path) as r:
        meta = r.metadata
        events = r.events()
        injections = r.injections()
        results = r.results()
        status = r.status
    params = meta.get("protocol", {}).get("parameters", {}) or {}
    animal = str(meta.get("animal_id", "") or "").strip() or path.stem
    notes: list[str] = []
    drug_events = [e for e in events if e.kind == "drug"]
    if drug_events:
        t_drug = float(drug_events[0].t)
        drug, dose, unit, route = parse_drug_text(drug_events[0].text)
        if len(drug_events) > 1:
            notes.append(f"{len(drug_events)} drug events; time zero is the first "
                         f"({drug_events[0].text!r})")
    else:
        drug = str(_param(params, "drug") or "").strip()
        dose_value = _param(params, "dose_mg_kg", "dose", "conc_uM")
        dose = float(dose_value) if isinstance(dose_value, int | float) else math.nan
        unit = "mg/kg" if _param(params, "dose_mg_kg", "dose") is not None else (
            "µM" if _param(params, "conc_uM") is not None else "")
        route = str(_param(params, "route") or "")
        ends = [x.probe_t for x in results if x.baseline and math.isfinite(x.probe_t)]
        t_drug = max(ends) if ends else 0.0
        notes.append("no drug event: time zero is the end of the baseline" if ends
                     else "no drug event and no baseline: time zero is the session start")
    if not drug:
        drug = "unknown"
    known = catalogue.compound(drug)
    drug = known.name if known is not None else drug
    region = _spelt_region(_param(params, "region"))
    # the probe-time window of each injected sample
    windows = {(i.sample_id, round(i.t, 3)): i for i in injections}
    kinds = {i.sample_id: i.kind for i in injections}
    want = analyte.lower()
    rows = []
    for res in results:
        if res.analyte.lower() != want:
            continue
        if not kinds.get(res.sample_id, "sample").startswith("sample"):
            continue  # standards and blanks are not samples of the animal
        inj = windows.get((res.sample_id, round(res.inject_t, 3)))
        start = inj.probe_start_s if inj is not None else math.nan
        end = inj.probe_end_s if inj is not None else math.nan
        mid = res.probe_t if math.isfinite(res.probe_t) else (start + end) / 2
        names = fl.parse(res.flags)
        rows.append({
            "sample_id": res.sample_id, "analyte": res.analyte, "baseline": int(res.baseline),
            "probe_start_min": (start - t_drug) / 60.0, "probe_end_min": (end - t_drug) / 60.0,
            "time_min": (mid - t_drug) / 60.0, "conc_nM": res.conc_nM,
            "pct_baseline": res.pct_baseline, "flags": ",".join(names),
            "sample_excluded": bool(fl.excludes(names)),
            **{f"flag_{f.name}": f.name in names for f in fl.FLAGS},
        })
    rows.sort(key=lambda x: (not math.isfinite(x["time_min"]), x["time_min"]))
    for k, row in enumerate(rows, 1):
        row["sample"] = k
    if not rows:
        notes.append(f"no {analyte} results")
    return SessionData(path=path, animal=animal, drug=drug, dose=dose, dose_unit=unit,
                       route=route, region=region, t_drug_s=t_drug, status=status, rows=rows,
                       notes=notes)


def group_label(key: tuple, with_region: bool) -> str:
    drug, dose, unit, route, region = key
    if drug == "vehicle":
        text = "vehicle"
    else:
        text = drug
        if math.isfinite(dose):
            text += f" {dose:g} {unit}".rstrip()
        if route:
            text += f" {catalogue.route_text(route)}"
    if with_region and region:
        text += f" ({region.replace('-', ' ')})"
    return text


def _matches(session: SessionData, pattern: str) -> bool:
    return any(fnmatch(name, pattern) for name in
               (session.path.name, session.path.stem, session.animal, str(session.path)))


def assign_groups(sessions: list[SessionData], config: StudyConfig) -> list[str]:
    """Set each session's group and exclusion; return the groups in display order."""
    regions = {s.region for s in sessions}
    with_region = len(regions) > 1
    for s in sessions:
        mapped = [name for name, patterns in config.groups.items()
                  if any(_matches(s, p) for p in patterns)]
        if len(mapped) > 1:
            raise InputError(f"{config.path or 'study config'}: {s.path.name} is in groups "
                             f"{mapped[0]!r} and {mapped[1]!r}")
        s.group = mapped[0] if mapped else group_label(s.metadata_group, with_region)
    animals: dict[str, Path] = {}
    for s in sessions:
        if s.animal in animals:
            raise InputError(f"study: animal {s.animal!r} is in {animals[s.animal].name} and "
                             f"{s.path.name} (one session per animal: give each session its "
                             "own animal_id)")
        animals[s.animal] = s.path
    for key, reason in config.exclude.items():
        hit = [s for s in sessions
               if any(fnmatch(x, key) for x in (s.animal, s.path.stem, s.path.name))]
        for s in hit:
            s.excluded = reason
    names = list(dict.fromkeys(s.group for s in sessions))
    for name in config.order:
        if name not in names:
            raise InputError(f"{config.path or 'study config'}: order names group {name!r}, "
                             f"which no session is in (groups: {', '.join(names)})")
    vehicle = vehicle_group(sessions, config)
    first = [g for g in config.order]
    if vehicle and vehicle not in first:
        first.insert(0, vehicle)
    rest = sorted((g for g in names if g not in first),
                  key=lambda g: next((_sort_key(s) for s in sessions if s.group == g), ()))
    return first + rest


def _sort_key(s: SessionData) -> tuple:
    return (not s.is_vehicle, s.drug, s.route, s.dose if math.isfinite(s.dose) else 0.0,
            s.region, s.group)


def vehicle_group(sessions: list[SessionData], config: StudyConfig) -> str:
    """The control group: the config's ``vehicle``, else the one group of vehicle animals
    ("" when there is none)."""
    names = {s.group for s in sessions}
    if config.vehicle:
        if config.vehicle not in names:
            raise InputError(f"{config.path or 'study config'}: vehicle = {config.vehicle!r} "
                             f"is not a group of this study (groups: {', '.join(sorted(names))})")
        return config.vehicle
    found = sorted({s.group for s in sessions if s.is_vehicle}
                   | {g for g in names if g.lower() in _VEHICLE})
    if len(found) > 1:
        raise InputError(f"study: {len(found)} vehicle groups ({', '.join(found)}): name the "
                         "control group with vehicle = \"…\" in the study config")
    return found[0] if found else ""


def default_bin(sessions: list[SessionData]) -> float:
    """The sessions' median interval between consecutive samples (min), to half a minute."""
    steps = []
    for s in sessions:
        t = np.array([r["time_min"] for r in s.rows if math.isfinite(r["time_min"])])
        if len(t) > 1:
            steps += list(np.diff(np.sort(t)))
    if not steps:
        return 20.0
    step = float(np.median(steps))
    return max(0.5, round(step * 2) / 2)


def build_table(sessions: list[SessionData], bin_min: float) -> pd.DataFrame:
    """The tidy table (``COLUMNS`` then ``FLAG_COLUMNS``) of every session's samples."""
    records = []
    for s in sessions:
        for row in s.rows:
            t = row["time_min"]
            k = math.floor(t / bin_min + 1e-9) if math.isfinite(t) else None
            pct = row["pct_baseline"]
            used = (not s.excluded and not row["sample_excluded"] and math.isfinite(pct)
                    and k is not None)
            records.append({
                "animal": s.animal, "group": s.group, "excluded": bool(s.excluded),
                "exclusion_reason": s.excluded, "session": s.path.name, "drug": s.drug,
                "dose": s.dose, "dose_unit": s.dose_unit, "route": s.route, "region": s.region,
                **row,
                "bin": k if k is not None else pd.NA,
                "bin_start_min": k * bin_min if k is not None else math.nan,
                "bin_end_min": (k + 1) * bin_min if k is not None else math.nan,
                "used": bool(used),
            })
    frame = pd.DataFrame.from_records(records, columns=[*COLUMNS, *FLAG_COLUMNS])
    frame["bin"] = frame["bin"].astype("Int64")
    for name in ("excluded", "sample_excluded", "used", *FLAG_COLUMNS):
        frame[name] = frame[name].astype(bool)
    frame["baseline"] = frame["baseline"].astype(int)
    frame["sample"] = frame["sample"].astype(int)
    return frame
