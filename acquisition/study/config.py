"""The study configuration: an optional TOML file that names, maps and excludes.

Everything has a default, so a study runs without one: groups come from each session's own
metadata (drug, dose, route, region), the control group is the vehicle group, time bins are
the sessions' sample interval. ``docs/studies.md`` documents every key; an unknown key or a
value of the wrong kind is refused with the file and the key.

```toml
title = "Ipsapirone vs fluoxetine"
analyte = "5-HT"
vehicle = "vehicle"                    # the control group
order = ["vehicle", "ipsapirone 1 mg/kg s.c.", "fluoxetine 10 mg/kg i.p."]
bin_min = 20
auc_window_min = [0, 60]
stats_window_min = [0, 180]
include_baseline = false
correction = "holm"
posthoc_family = "bin"
alpha = 0.05
sources = ["sessions/*.h5"]            # used when the command line names none

[groups]                               # group name -> sessions (file names, globs, animal ids)
"vehicle" = ["veh-*.h5"]

[exclude]                              # animal -> reason: kept in the table, out of statistics
rat07 = "probe outside the ventral hippocampus at histology"
```
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from raphe.errors import InputError

#: p-value corrections the post hoc tests accept (pingouin.multicomp / statsmodels names).
CORRECTIONS = ("holm", "bonferroni", "sidak", "fdr_bh", "none")


@dataclass(frozen=True)
class StudyConfig:
    """What the study is told beyond its sessions. See the module docstring."""

    title: str = ""
    analyte: str = "5-HT"
    #: name of the control group; "" = the one vehicle group found in the metadata
    vehicle: str = ""
    #: group order in tables and figures (others follow, vehicle first)
    order: tuple[str, ...] = ()
    #: time bin (min); None = the sessions' median sample interval
    bin_min: float | None = None
    #: a second AUC window (min after the drug), besides the whole post-drug period
    auc_window_min: tuple[float, float] | None = None
    #: statistics over bins within this window (min after the drug); None = every post-drug bin
    stats_window_min: tuple[float, float] | None = None
    #: statistics over the baseline bins too (default: post-drug bins only)
    include_baseline: bool = False
    correction: str = "holm"
    #: the family a post hoc correction runs over: "bin" (the comparisons at one time point)
    #: or "all" (every group × bin comparison)
    posthoc_family: str = "bin"
    alpha: float = 0.05
    #: group name -> patterns matching a session's file name, stem or animal id
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: animal (id or file stem) -> reason it is left out of the statistics
    exclude: dict[str, str] = field(default_factory=dict)
    #: sessions to use when the command line names none (relative to the config file)
    sources: tuple[str, ...] = ()
    #: where the config was read from ("" = defaults)
    path: str = ""

    @property
    def folder(self) -> Path:
        return Path(self.path).parent if self.path else Path.cwd()


_KEYS = {"title", "analyte", "vehicle", "order", "bin_min", "auc_window_min", "stats_window_min",
         "include_baseline", "correction", "posthoc_family", "alpha", "groups", "exclude",
         "sources"}


def load_config(path: str | Path | None) -> StudyConfig:
    """The study config at ``path`` (None: every default). Bad input: one InputError naming
    the file and the key."""
    if path is None:
        return StudyConfig()
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"study config {p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"study config {p}: cannot read it ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"study config {p}: not valid TOML ({exc})") from None
    return parse_config(data, str(p))


def parse_config(data: dict[str, Any], where: str = "study config") -> StudyConfig:
    """A :class:`StudyConfig` from parsed TOML ``data``; ``where`` names it in errors."""
    if "study" in data and isinstance(data["study"], dict):  # a [study] table is accepted too
        data = {**{k: v for k, v in data.items() if k != "study"}, **data["study"]}
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise InputError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})")

    def text(key: str, default: str = "") -> str:
        value = data.get(key, default)
        if not isinstance(value, str):
            raise InputError(f"{where}: {key} must be text, got {value!r}")
        return value.strip()

    def texts(key: str) -> tuple[str, ...]:
        value = data.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InputError(f"{where}: {key} must be a list of text, got {value!r}")
        return tuple(v.strip() for v in value)

    def number(key: str, default: float | None, low: float = 0.0) -> float | None:
        value = data.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value) or value <= low:
            raise InputError(f"{where}: {key} must be a number > {low:g}, got {value!r}")
        return float(value)

    def window(key: str) -> tuple[float, float] | None:
        value = data.get(key)
        if value is None:
            return None
        if (not isinstance(value, list) or len(value) != 2
                or not all(isinstance(v, int | float) and not isinstance(v, bool)
                           and math.isfinite(v) for v in value) or value[1] <= value[0]):
            raise InputError(f"{where}: {key} must be [start, end] in minutes after the drug "
                             f"with start < end, got {value!r}")
        return float(value[0]), float(value[1])

    correction = text("correction", "holm").lower()
    if correction not in CORRECTIONS:
        raise InputError(f"{where}: correction must be one of {', '.join(CORRECTIONS)}, "
                         f"got {correction!r}")
    family = text("posthoc_family", "bin").lower()
    if family not in ("bin", "all"):
        raise InputError(f"{where}: posthoc_family must be \"bin\" or \"all\", got {family!r}")
    alpha = number("alpha", 0.05)
    if alpha >= 1:
        raise InputError(f"{where}: alpha must be between 0 and 1, got {alpha:g}")
    include = data.get("include_baseline", False)
    if not isinstance(include, bool):
        raise InputError(f"{where}: include_baseline must be true or false, got {include!r}")
    groups: dict[str, tuple[str, ...]] = {}
    raw_groups = data.get("groups", {})
    if not isinstance(raw_groups, dict):
        raise InputError(f"{where}: [groups] must be a table of group name = [sessions]")
    for name, patterns in raw_groups.items():
        if isinstance(patterns, str):
            patterns = [patterns]
        if not isinstance(patterns, list) or not patterns \
                or not all(isinstance(p, str) and p.strip() for p in patterns):
            raise InputError(f"{where}: groups.{name} must be a list of session names, globs "
                             f"or animal ids, got {patterns!r}")
        groups[str(name).strip()] = tuple(p.strip() for p in patterns)
    raw_exclude = data.get("exclude", {})
    if not isinstance(raw_exclude, dict):
        raise InputError(f"{where}: [exclude] must be a table of animal = \"reason\"")
    exclude: dict[str, str] = {}
    for animal, reason in raw_exclude.items():
        if not isinstance(reason, str) or not reason.strip():
            raise InputError(f"{where}: exclude.{animal} must give the reason as text "
                             f"(e.g. \"probe misplaced at histology\"), got {reason!r}")
        exclude[str(animal).strip()] = reason.strip()
    return StudyConfig(
        title=text("title"), analyte=text("analyte", "5-HT") or "5-HT", vehicle=text("vehicle"),
        order=texts("order"), bin_min=number("bin_min", None),
        auc_window_min=window("auc_window_min"), stats_window_min=window("stats_window_min"),
        include_baseline=include, correction=correction, posthoc_family=family, alpha=alpha,
        groups=groups,
        exclude=exclude, sources=texts("sources"),
        path=where if where != "study config" else "",
    )
