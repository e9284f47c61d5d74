"""Analysis methods: TOML files naming the peaks, integration settings and calibration.

``load_method("simulated-5ht")`` loads a bundled method; any other value is
a path. Every mistake is an ``InputError`` naming the file, the key and the
line. The format is documented in ``docs/analysis-method.md``.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from raphe.acquisition.analysis.baseline import BASELINES
from raphe.acquisition.analysis.calibration import (
    MODELS,
    WEIGHTINGS,
    Calibration,
    Standard,
    fit_standards,
)
from raphe.acquisition.analysis.fitting import MODELS as FIT_MODELS
from raphe.acquisition.analysis.settings import SKIMS, IntegrationSettings
from raphe.errors import InputError
from raphe.names import lookup

BUNDLED_PACKAGE = "raphe.acquisition.analysis.methods"


@dataclass(frozen=True)
class PeakSpec:
    """A named peak: where to look for it and how to turn its area into an amount."""

    name: str
    rt_s: float
    window_s: float
    report: bool = True
    standards: tuple[Standard, ...] = ()
    calibration: Calibration | None = None
    #: The calibration's model and weighting when the peak has a ``[peaks.calibration]``
    #: table (with or without standards: a ``calibration`` event refits it in a session).
    cal_model: str | None = None
    cal_weighting: str = "none"
    #: Name of the peak whose found RT this peak's expected RT follows (relative retention).
    rt_reference: str | None = None
    #: Plausible concentration (nM) or area range: outside it the result is ``implausible``.
    plausible_nM: tuple[float, float] | None = None
    plausible_area: tuple[float, float] | None = None

    @property
    def calibrated(self) -> bool:
        """Whether the analyte is quantified by calibration (now or after a refit)."""
        return self.cal_model is not None


@dataclass(frozen=True)
class AnalysisMethod:
    """Everything the analysis core needs to quantify a chromatogram or a session."""

    name: str
    description: str = ""
    run_length_s: float | None = None
    units: str = "nA"
    integration: IntegrationSettings = field(default_factory=IntegrationSettings)
    peaks: tuple[PeakSpec, ...] = ()
    baseline_samples: tuple[str, ...] | None = None
    track_rt: bool = True
    text: str = ""
    source: str = ""

    @property
    def analytes(self) -> tuple[PeakSpec, ...]:
        """The named peaks reported per sample."""
        return tuple(p for p in self.peaks if p.report)


def default_method() -> AnalysisMethod:
    """No named peaks, automatic widths: report every peak over the default S/N (2)."""
    return AnalysisMethod(name="default", description="automatic detection, no named peaks")


def bundled_methods() -> list[str]:
    """Names usable as ``--method NAME``."""
    return sorted(p.name[:-5] for p in resources.files(BUNDLED_PACKAGE).iterdir()
                  if p.name.endswith(".toml"))


def load_live_method(name_or_path: str | Path | None) -> AnalysisMethod | None:
    """The method to quantify with as the run goes (None: record only); it must say how
    long each chromatogram runs, since that is when a sample is cut from the stream."""
    if not name_or_path:
        return None
    method = load_method(name_or_path)
    if not method.run_length_s:
        raise InputError(f"method {method.name}: run_length_s is needed to quantify live "
                         "(the length of each chromatogram); add it to [method]")
    return method


def load_method(name_or_path: str | Path) -> AnalysisMethod:
    """A bundled method by name, or a method file by path."""
    text_name = str(name_or_path)
    if "/" not in text_name and "\\" not in text_name and not text_name.endswith(".toml"):
        try:
            name = lookup(text_name, bundled_methods(), "method")
        except ValueError:
            name = None
        if name is not None:
            bundled = resources.files(BUNDLED_PACKAGE) / f"{name}.toml"
            return parse_method(bundled.read_text(encoding="utf-8"), f"method {name}",
                                base=None)
    path = Path(name_or_path)
    if not path.is_file():
        raise InputError(f"method {text_name}: no such file and no bundled method of that name "
                         f"(bundled: {', '.join(bundled_methods())})")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the method ({exc})") from None
    return parse_method(text, str(path), base=path.parent)


class _Where:
    """Line numbers of keys, for error messages (tomllib reports none once parsed)."""

    def __init__(self, text: str, source: str) -> None:
        self.source = source
        self.lines: list[tuple[str, int, str]] = []  # (table, occurrence, line)
        table, counts = "", {}
        for raw in text.splitlines():
            line = raw.strip()
            if line.startswith("[[") and "]]" in line:
                table = line[2:line.index("]]")].strip()
                counts[table] = counts.get(table, -1) + 1
            elif line.startswith("[") and "]" in line:
                table = line[1:line.index("]")].strip()
            self.lines.append((table, counts.get(table.split(".")[0], 0), line))

    def line(self, table: str, key: str, occurrence: int = 0) -> int | None:
        for i, (tab, occ, line) in enumerate(self.lines, 1):
            if tab == table and occ == occurrence and line.split("=")[0].strip() == key:
                return i
        for i, (tab, occ, line) in enumerate(self.lines, 1):
            if tab == table and (occ == occurrence or not key):
                return i
        return None

    def error(self, table: str, key: str, message: str, occurrence: int = 0) -> InputError:
        line = self.line(table, key, occurrence)
        where = f"line {line}: " if line else ""
        name = ".".join(x for x in (table, key) if x)
        if table == "peaks" or table.startswith("peaks."):
            name = f"peaks[{occurrence + 1}]" + name[len("peaks"):]
        return InputError(f"{self.source}: {where}{name}: {message}")


def _number(where: _Where, table: str, key: str, value, occurrence: int = 0,
            positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise where.error(table, key, f"expected a number, got {value!r}", occurrence)
    if positive and value <= 0:
        raise where.error(table, key, f"must be > 0, got {value!r}", occurrence)
    return float(value)


def _check_keys(where: _Where, table: str, data: dict, allowed: set[str],
                occurrence: int = 0) -> None:
    for key in data:
        if key not in allowed:
            raise where.error(table, key, f"unknown key (allowed: {', '.join(sorted(allowed))})",
                              occurrence)


def parse_method(text: str, source: str = "method", base: Path | None = None) -> AnalysisMethod:
    """Validate method TOML ``text``; ``base`` resolves relative calibration files."""
    where = _Where(text, source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{source}: not valid TOML ({exc})") from None
    top = {"name", "description", "run_length_s", "units", "integration", "peaks",
           "baseline", "track_rt"}
    _check_keys(where, "", data, top)
    run_length = data.get("run_length_s")
    if run_length is not None:
        run_length = _number(where, "", "run_length_s", run_length, positive=True)
    integration = _integration(where, data.get("integration", {}))
    peaks = []
    raw_peaks = data.get("peaks", [])
    if not isinstance(raw_peaks, list):
        raise where.error("", "peaks", "expected [[peaks]] tables")
    names = set()
    for i, raw in enumerate(raw_peaks):
        spec = _peak(where, raw, i, base)
        if spec.name in names:
            raise where.error("peaks", "name", f"duplicate peak name {spec.name!r}", i)
        names.add(spec.name)
        peaks.append(spec)
    for i, spec in enumerate(peaks):
        if spec.rt_reference is not None and spec.rt_reference not in names:
            raise where.error("peaks", "rt_reference",
                              f"no peak named {spec.rt_reference!r} in this method", i)
    baseline = data.get("baseline", {})
    _check_keys(where, "baseline", baseline, {"samples"})
    samples = baseline.get("samples")
    if samples is not None:
        if not isinstance(samples, list) or not all(isinstance(x, str) for x in samples):
            raise where.error("baseline", "samples", "expected a list of sample ids")
        samples = tuple(samples)
    track = data.get("track_rt", True)
    if not isinstance(track, bool):
        raise where.error("", "track_rt", "expected true or false")
    name = data.get("name", Path(source).stem if source else "method")
    return AnalysisMethod(name=str(name), description=str(data.get("description", "")),
                          run_length_s=run_length, units=str(data.get("units", "nA")),
                          integration=integration, peaks=tuple(peaks),
                          baseline_samples=samples, track_rt=track, text=text, source=source)


#: Text settings of ``[integration]`` and their allowed values.
_CHOICES = {"skim": SKIMS, "baseline": BASELINES, "fit": ("none", *FIT_MODELS)}
_SWITCHES = ("despike", "detect_steps")
_SIGNED = ("detector_max", "detector_min")


def _integration(where: _Where, raw: dict) -> IntegrationSettings:
    if not isinstance(raw, dict):
        raise where.error("", "integration", "expected an [integration] table")
    fields = {f.name: f for f in dataclasses.fields(IntegrationSettings)}
    # ``tangent_skim = true`` is what methods said before skims had kinds: still read
    _check_keys(where, "integration", raw, set(fields) | {"tangent_skim"})
    values = {}
    for key, value in raw.items():
        if key in _SWITCHES or key == "tangent_skim":
            if not isinstance(value, bool):
                raise where.error("integration", key, "expected true or false")
            if key == "tangent_skim":
                if value and "skim" not in raw:
                    values["skim"] = "tangent"
                continue
            values[key] = value
        elif key in _CHOICES:
            if value not in _CHOICES[key]:
                raise where.error("integration", key,
                                  f"expected one of {', '.join(_CHOICES[key])}, got {value!r}")
            values[key] = value
        elif key in ("noise_window_s", "time_range_s"):
            if (not isinstance(value, list) or len(value) != 2
                    or not all(isinstance(v, int | float) for v in value)
                    or not value[0] < value[1]):
                raise where.error("integration", key, "expected [start, end] with start < end")
            values[key] = (float(value[0]), float(value[1]))
        else:
            values[key] = _number(where, "integration", key, value)
            if values[key] < 0 and key not in _SIGNED:
                raise where.error("integration", key, f"must be ≥ 0, got {value!r}")
    return IntegrationSettings(**values)


def _peak(where: _Where, raw: dict, i: int, base: Path | None) -> PeakSpec:
    _check_keys(where, "peaks", raw, {"name", "rt_s", "window_s", "report", "calibration",
                                      "rt_reference", "plausible_nM", "plausible_area"}, i)
    for key in ("name", "rt_s", "window_s"):
        if key not in raw:
            raise where.error("peaks", "", f"missing key {key!r}", i)
    name = raw["name"]
    if not isinstance(name, str) or not name:
        raise where.error("peaks", "name", "expected a non-empty string", i)
    rt = _number(where, "peaks", "rt_s", raw["rt_s"], i, positive=True)
    window = _number(where, "peaks", "window_s", raw["window_s"], i, positive=True)
    report = raw.get("report", True)
    if not isinstance(report, bool):
        raise where.error("peaks", "report", "expected true or false", i)
    standards: tuple[Standard, ...] = ()
    calibration = None
    cal = raw.get("calibration")
    if cal is not None:
        table = "peaks.calibration"
        if not isinstance(cal, dict):
            raise where.error("peaks", "calibration", "expected a [peaks.calibration] table", i)
        _check_keys(where, table, cal, {"model", "weighting", "standards", "file"}, i)
        model = cal.get("model", "linear")
        if model not in MODELS:
            raise where.error(table, "model", f"expected one of {', '.join(MODELS)}", i)
        weighting = cal.get("weighting", "none")
        if weighting not in WEIGHTINGS:
            raise where.error(table, "weighting", f"expected one of {', '.join(WEIGHTINGS)}", i)
        if "standards" in cal and "file" in cal:
            raise where.error(table, "", "give standards or file, not both", i)
        if "file" in cal:
            path = Path(cal["file"])
            if not path.is_absolute() and base is not None:
                path = base / path
            standards = read_standards_csv(path)
        elif "standards" in cal:
            standards = _standards(where, cal["standards"], i)
        if standards:
            try:
                calibration = fit_standards(list(standards), model, weighting)
            except InputError as exc:
                raise where.error(table, "standards", str(exc), i) from None
        cal_model, cal_weighting = model, weighting
    else:
        cal_model, cal_weighting = None, "none"
    reference = raw.get("rt_reference")
    if reference is not None and (not isinstance(reference, str) or reference == name):
        raise where.error("peaks", "rt_reference", "expected the name of another peak", i)
    ranges = {key: _range(where, raw[key], key, i)
              for key in ("plausible_nM", "plausible_area") if key in raw}
    return PeakSpec(name=name, rt_s=rt, window_s=window, report=report,
                    standards=standards, calibration=calibration, cal_model=cal_model,
                    cal_weighting=cal_weighting, rt_reference=reference, **ranges)


def _range(where: _Where, value, key: str, i: int) -> tuple[float, float]:
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
            or not 0 <= value[0] < value[1]):
        raise where.error("peaks", key, "expected [low, high] with 0 <= low < high", i)
    return float(value[0]), float(value[1])


def _standards(where: _Where, raw, i: int) -> tuple[Standard, ...]:
    table = "peaks.calibration"
    if not isinstance(raw, list) or not raw:
        raise where.error(table, "standards", "expected a list of {conc_nM, volume_uL, area}", i)
    out = []
    for j, item in enumerate(raw, 1):
        if not isinstance(item, dict) or set(item) != {"conc_nM", "volume_uL", "area"}:
            raise where.error(table, "standards",
                              f"standard {j}: expected {{conc_nM, volume_uL, area}}", i)
        vals = [item["conc_nM"], item["volume_uL"], item["area"]]
        if not all(isinstance(v, int | float) and not isinstance(v, bool)
                   and math.isfinite(v) for v in vals) or vals[1] <= 0 or vals[0] < 0:
            raise where.error(table, "standards",
                              f"standard {j}: conc ≥ 0, volume > 0 and area must be numbers", i)
        out.append(Standard(float(vals[0]), float(vals[1]), float(vals[2])))
    return tuple(out)


def read_standards_csv(path: Path) -> tuple[Standard, ...]:
    """Standards from a CSV with header ``conc_nM,volume_uL,area``."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the calibration file ({exc})") from None
    if not rows or [c.strip() for c in rows[0]] != ["conc_nM", "volume_uL", "area"]:
        raise InputError(f"{path}: line 1: expected the header conc_nM,volume_uL,area")
    out = []
    for n, row in enumerate(rows[1:], 2):
        if not row or not "".join(row).strip():
            continue
        try:
            conc, vol, area = (float(c) for c in row)
        except ValueError:
            raise InputError(f"{path}: line {n}: expected three numbers, got {row!r}") from None
        if vol <= 0 or conc < 0:
            raise InputError(f"{path}: line {n}: conc must be ≥ 0 and volume > 0")
        out.append(Standard(conc, vol, area))
    if not out:
        raise InputError(f"{path}: no standards")
    return tuple(out)
