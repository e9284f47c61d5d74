"""Analysis methods: TOML files naming the peaks, integration settings and calibration.

``load_method("simulated-5ht")`` loads a bundled method; any other value is
a path. Every mistake is an ``InputError`` naming the file, the key and the
line. The format is documented in ``docs/analysis-method.md``.

A method travels with the sessions it quantifies: its ``text`` (what a session stores)
is self-contained. Standards read from a CSV file (``file = ...``) or taken from a
calibration session (``session = ...``, ``--calibration``) are written into it inline,
with where they came from, and a probe recovery taken from a probe-recovery session
(``[recovery] session = ...``, ``--recovery``) as its numbers, so a stored session
replays anywhere, without the files its method named.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import re
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
    fit_record,
    fit_standards,
)
from raphe.acquisition.analysis.fitting import MODELS as FIT_MODELS
from raphe.acquisition.analysis.settings import PEAK_BASELINES, SKIMS, IntegrationSettings
from raphe.errors import InputError
from raphe.names import lookup
from raphe.records import ProbeRecovery

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
    #: Sample ids of ``standards`` (empty when they have none, e.g. from a CSV file).
    standard_ids: tuple[str, ...] = ()
    #: Where ``standards`` were measured: the CSV's name, ``session <file> (<created>)``,
    #: or "" for standards typed into the method (``method <name>``).
    cal_source: str = ""

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
    #: The method's TOML, self-contained: what a session stores (standards inline, a
    #: probe recovery as numbers; see :meth:`portable_text`).
    text: str = ""
    #: Where the method was read from (a path, ``method NAME`` for a bundled one …).
    source: str = ""
    #: analyte → the probe's in-vitro recovery applied to ``conc_corrected_nM``.
    recovery: dict[str, ProbeRecovery] = field(default_factory=dict, compare=False)

    @property
    def analytes(self) -> tuple[PeakSpec, ...]:
        """The named peaks reported per sample."""
        return tuple(p for p in self.peaks if p.report)

    def portable_text(self) -> str:
        """The method's self-contained TOML (the same as :attr:`text`): calibration files
        and sessions replaced by the standards themselves, a recovery session by its
        numbers, each with a ``source`` saying where they came from."""
        return self.text

    def initial_fits(self) -> list[tuple[str, dict]]:
        """The calibration in force when a session starts: ``(analyte, fit record)`` for
        every analyte whose standards the method gives (inline, from a CSV file or from a
        calibration session), the record as :func:`calibration.fit_record` makes it
        (slope, intercept, LOD/LOQ, standards …) with ``source`` saying where the standards
        were measured. A session stores them at t = 0."""
        out = []
        for p in self.peaks:
            if p.calibration is None or not p.standards:
                continue
            ids = p.standard_ids if len(p.standard_ids) == len(p.standards) \
                else ("",) * len(p.standards)
            _, record = fit_record(p.name, 0.0, p.cal_model or "linear", p.cal_weighting,
                                   list(zip(ids, p.standards)), [],
                                   source=p.cal_source or f"method {self.name}")
            out.append((p.name, record))
        return out


def default_method() -> AnalysisMethod:
    """No named peaks, automatic widths: report every peak over the default S/N (2)."""
    return AnalysisMethod(name="default", description="automatic detection, no named peaks")


def bundled_methods() -> list[str]:
    """Names usable as ``--method NAME``."""
    return sorted(p.name[:-5] for p in resources.files(BUNDLED_PACKAGE).iterdir()
                  if p.name.endswith(".toml"))


def load_live_method(name_or_path: str | Path | None, *,
                     calibration: str | Path | None = None,
                     recovery: str | Path | None = None) -> AnalysisMethod | None:
    """The method to quantify with as the run goes (None: record only); it must say how
    long each chromatogram runs, since that is when a sample is cut from the stream.
    ``calibration`` and ``recovery`` name sessions to take them from (as :func:`load_method`)."""
    if not name_or_path:
        if calibration or recovery:
            raise InputError(f"--{'calibration' if calibration else 'recovery'} applies to an "
                             "analysis method: give one with --method")
        return None
    method = load_method(name_or_path, calibration=calibration, recovery=recovery)
    if not method.run_length_s:
        raise InputError(f"method {method.name}: run_length_s is needed to quantify live "
                         "(the length of each chromatogram); add it to [method]")
    return method


def load_method(name_or_path: str | Path, *, calibration: str | Path | None = None,
                recovery: str | Path | None = None) -> AnalysisMethod:
    """A bundled method by name, or a method file by path.

    ``calibration``: a session whose last successful fit of each analyte the method
    calibrates replaces the method's standards (``--calibration``); ``recovery``: a
    probe-recovery session whose measured recovery the method applies (``--recovery``).
    """
    text_name = str(name_or_path)
    if "/" not in text_name and "\\" not in text_name and not text_name.endswith(".toml"):
        try:
            name = lookup(text_name, bundled_methods(), "method")
        except ValueError:
            name = None
        if name is not None:
            bundled = resources.files(BUNDLED_PACKAGE) / f"{name}.toml"
            return parse_method(bundled.read_text(encoding="utf-8"), f"method {name}",
                                base=None, calibration=calibration, recovery=recovery)
    path = Path(name_or_path)
    if not path.is_file():
        raise InputError(f"method {text_name}: no such file and no bundled method of that name "
                         f"(bundled: {', '.join(bundled_methods())})")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the method ({exc})") from None
    return parse_method(text, str(path), base=path.parent, calibration=calibration,
                        recovery=recovery)


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


def parse_method(text: str, source: str = "method", base: Path | None = None, *,
                 calibration: str | Path | None = None,
                 recovery: str | Path | None = None) -> AnalysisMethod:
    """Validate method TOML ``text``; ``base`` resolves relative calibration files and
    sessions. ``calibration`` and ``recovery`` name sessions that replace the method's own
    (see :func:`load_method`). The method's ``text`` is ``text`` made self-contained."""
    where = _Where(text, source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{source}: not valid TOML ({exc})") from None
    top = {"name", "description", "run_length_s", "units", "integration", "peaks",
           "baseline", "track_rt", "recovery"}
    _check_keys(where, "", data, top)
    name = str(data.get("name", Path(source).stem if source else "method"))
    context = _Context(base, name, None if calibration is None else Path(calibration))
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
        spec = _peak(where, raw, i, context)
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
    if calibration is not None and not any(p.calibrated for p in peaks):
        raise InputError(f"calibration session {calibration}: method {name} calibrates no "
                         "analyte (no [peaks.calibration] table) to take it for")
    if recovery is not None:
        recoveries = _recovery_session(Path(recovery), peaks, f"recovery session {recovery}")
        context.changes[("recovery", 0, "")] = (data.get("recovery"),
                                                _recovery_table(recoveries))
    else:
        recoveries = _recovery(where, data.get("recovery"), peaks, context)
    portable = _portable(text, data, context.changes, source)
    return AnalysisMethod(name=name, description=str(data.get("description", "")),
                          run_length_s=run_length, units=str(data.get("units", "nA")),
                          integration=integration, peaks=tuple(peaks),
                          baseline_samples=samples, track_rt=track, text=portable,
                          source=source, recovery=recoveries)


#: Text settings of ``[integration]`` and their allowed values.
_CHOICES = {"skim": SKIMS, "baseline": BASELINES, "fit": ("none", *FIT_MODELS),
            "peak_baseline": PEAK_BASELINES}
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


class _Context:
    """What resolving a method's calibration and recovery needs, and what it changed."""

    def __init__(self, base: Path | None, name: str, calibration: Path | None) -> None:
        self.base = base
        self.name = name
        #: ``--calibration``: a session replacing every calibrated analyte's standards
        self.calibration = calibration
        #: (table, occurrence, "") → (table as written or None, table as it is stored)
        self.changes: dict[tuple[str, int, str], tuple[dict | None, dict]] = {}

    def path(self, value: str) -> Path:
        path = Path(value)
        return path if path.is_absolute() or self.base is None else self.base / path


def _peak(where: _Where, raw: dict, i: int, context: _Context) -> PeakSpec:
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
    ids: tuple[str, ...] = ()
    cal_source = ""
    calibration = None
    cal = raw.get("calibration")
    if cal is not None:
        table = "peaks.calibration"
        if not isinstance(cal, dict):
            raise where.error("peaks", "calibration", "expected a [peaks.calibration] table", i)
        _check_keys(where, table, cal, {"model", "weighting", "standards", "file", "session",
                                        "source"}, i)
        model = cal.get("model")
        if model is not None and model not in MODELS:
            raise where.error(table, "model", f"expected one of {', '.join(MODELS)}", i)
        weighting = cal.get("weighting")
        if weighting is not None and weighting not in WEIGHTINGS:
            raise where.error(table, "weighting", f"expected one of {', '.join(WEIGHTINGS)}", i)
        given = [k for k in ("standards", "file", "session") if k in cal]
        if len(given) > 1:
            raise where.error(table, "", f"give one of standards, file or session, not "
                                         f"{' and '.join(given)}", i)
        if "source" in cal and not isinstance(cal["source"], str):
            raise where.error(table, "source", "expected text", i)
        key = "standards"
        fitted = False  # model and weighting taken from a calibration session's fit
        if context.calibration is not None:  # --calibration: the method's own do not count
            fit = _fit_from_session(context.calibration, name,
                                    f"calibration session {context.calibration}")
            ids, standards, cal_source, fit_model, fit_weighting = fit
            model, weighting = model or fit_model, weighting or fit_weighting
            fitted = True
        elif "file" in cal:
            key = "file"
            if not isinstance(cal["file"], str) or not cal["file"]:
                raise where.error(table, "file", "expected the path of a CSV file", i)
            path = context.path(cal["file"])
            standards = read_standards_csv(path)
            cal_source = Path(cal["file"]).name
        elif "session" in cal:
            key = "session"
            if not isinstance(cal["session"], str) or not cal["session"]:
                raise where.error(table, "session", "expected the path of a session file", i)
            path = context.path(cal["session"])
            try:
                fit = _fit_from_session(path, name, f"calibration session {path}")
            except InputError as exc:
                raise where.error(table, "session", str(exc), i) from None
            ids, standards, cal_source, fit_model, fit_weighting = fit
            model, weighting = model or fit_model, weighting or fit_weighting
            fitted = True
        elif "standards" in cal:
            ids, standards = _standards(where, cal["standards"], i)
            cal_source = cal.get("source", "")
        model, weighting = model or "linear", weighting or "none"
        if model not in MODELS or weighting not in WEIGHTINGS:  # a fit stored by another tool
            raise where.error(table, key, f"{name}: the calibration session's fit has model "
                                          f"{model!r} and weighting {weighting!r}", i)
        if standards:
            try:
                calibration = fit_standards(list(standards), model, weighting)
            except InputError as exc:
                raise where.error(table, key, f"{name}: {exc}" if key != "standards"
                                  else str(exc), i) from None
        if context.calibration is not None or key in ("file", "session"):
            stored = {k: v for k, v in cal.items()
                      if k not in ("standards", "file", "session", "source")}
            if fitted:  # the fit's, unless the method said: written, so replays agree
                stored.update(model=model, weighting=weighting)
            if cal_source:
                stored["source"] = cal_source
            if standards:
                stored["standards"] = _standards_table(ids, standards)
            context.changes[(table, i, "peaks")] = (cal, stored)
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
                    cal_weighting=cal_weighting, rt_reference=reference,
                    standard_ids=ids if any(ids) else (), cal_source=cal_source, **ranges)


def _standards_table(ids: tuple[str, ...], standards: tuple[Standard, ...]) -> list[dict]:
    """Standards as the method's inline ``standards`` list."""
    out = []
    for k, s in enumerate(standards):
        row: dict = {"sample_id": ids[k]} if k < len(ids) and ids[k] else {}
        row.update(conc_nM=s.conc_nM, volume_uL=s.volume_uL, area=s.area)
        out.append(row)
    return out


def session_source(path: Path, metadata: dict) -> str:
    """How a fit or recovery taken from another session names it: ``session <file>
    (<created>)``."""
    created = str(metadata.get("created", "") or "")
    return f"session {path.name}" + (f" ({created})" if created else "")


def _read_session(path: Path, label: str, analyte: str, what: str):
    """An open SessionReader of ``path``, or one InputError naming the file and analyte."""
    from raphe.acquisition.reader import SessionReader

    if not path.is_file():
        raise InputError(f"{label}: no such file (wanted for the {what} of {analyte})")
    try:
        return SessionReader(path)
    except (InputError, OSError) as exc:
        raise InputError(f"{label}: cannot read it for the {what} of {analyte} "
                         f"({exc})") from None


def _fit_from_session(path: Path, analyte: str, label: str
                      ) -> tuple[tuple[str, ...], tuple[Standard, ...], str, str, str]:
    """The last successful calibration fit of ``analyte`` in session ``path``: its used
    standards' (ids, standards), the source naming the session, model and weighting."""
    with _read_session(path, label, analyte, "calibration") as reader:
        try:
            fits = reader.calibration()
            meta = reader.metadata
        except InputError as exc:
            raise InputError(f"{label}: cannot read its calibration for {analyte} "
                             f"({exc})") from None
    mine = [f for f in fits if f.get("analyte") == analyte]
    if not mine:
        others = sorted({str(f.get("analyte")) for f in fits})
        held = f"it holds fits for {', '.join(others)}" if others else \
            "it holds no calibration fit"
        raise InputError(f"{label}: no calibration fit for {analyte} ({held})")
    good = [f for f in mine if not f["fit"].get("error") and _finite(f["fit"].get("slope"))]
    if not good:
        last = mine[-1]
        why = last["fit"].get("error") or "no slope"
        raise InputError(f"{label}: the calibration fit of {analyte} at "
                         f"{float(last['t']) / 60:.1f} min failed ({why}): no calibration "
                         "to take")
    fit = good[-1]["fit"]
    ids, standards = [], []
    for s in fit.get("standards", []):
        if not int(s.get("used", 1)):
            continue
        values = [s.get("conc_nM"), s.get("volume_uL"), s.get("area")]
        if not all(_finite(v) for v in values) or float(values[1]) <= 0:
            continue
        ids.append(str(s.get("sample_id") or ""))
        standards.append(Standard(float(values[0]), float(values[1]), float(values[2])))
    if not standards:
        raise InputError(f"{label}: the calibration fit of {analyte} lists no standards "
                         "to take (written by a version of Raphe that did not keep them)")
    source = session_source(path, meta)
    earlier = str(fit.get("source") or "")
    if earlier and earlier != "this session":
        source += f", from {earlier}"
    return (tuple(ids), tuple(standards), source, str(fit.get("model") or "linear"),
            str(fit.get("weighting") or "none"))


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


# -- probe recovery ------------------------------------------------------------------------

_RECOVERY_KEYS = {"session", "percent", "flow_uL_min", "source"}


def _recovery(where: _Where, raw, peaks: list[PeakSpec], context: _Context
              ) -> dict[str, ProbeRecovery]:
    """The ``[recovery]`` table: ``session`` (a probe-recovery session), or ``percent``
    (every calibrated analyte) and/or ``"<analyte>" = percent`` (or ``{percent,
    flow_uL_min, n}``), with ``flow_uL_min`` (the flow it was measured at) and ``source``."""
    if raw is None:
        return {}
    table = "recovery"
    if not isinstance(raw, dict):
        raise where.error("", "recovery", "expected a [recovery] table")
    names = {p.name for p in peaks}
    for key in raw:
        if key not in _RECOVERY_KEYS and key not in names:
            raise where.error(table, key, "neither a key of [recovery] ("
                              f"{', '.join(sorted(_RECOVERY_KEYS))}) nor a peak of this method")
    if "session" in raw:
        extra = set(raw) - {"session"}
        if extra:
            raise where.error(table, min(extra), "give the session or the numbers, "
                                                       "not both")
        if not isinstance(raw["session"], str) or not raw["session"]:
            raise where.error(table, "session", "expected the path of a session file")
        path = context.path(raw["session"])
        try:
            recoveries = _recovery_session(path, peaks, f"recovery session {path}")
        except InputError as exc:
            raise where.error(table, "session", str(exc)) from None
        context.changes[(table, 0, "")] = (raw, _recovery_table(recoveries))
        return recoveries
    flow = math.nan
    if "flow_uL_min" in raw:
        flow = _number(where, table, "flow_uL_min", raw["flow_uL_min"], positive=True)
    source = raw.get("source", f"method {context.name}")
    if not isinstance(source, str):
        raise where.error(table, "source", "expected text")
    out: dict[str, ProbeRecovery] = {}
    if "percent" in raw:
        pct = _percent(where, table, "percent", raw["percent"])
        calibrated = [p.name for p in peaks if p.calibrated]
        if not calibrated:
            raise where.error(table, "percent", "this method calibrates no analyte to apply "
                                                "it to; name the analyte: \"5-HT\" = 20.0")
        for analyte in calibrated:
            out[analyte] = ProbeRecovery(0.0, analyte, pct, flow, 0, source)
    for analyte in (k for k in raw if k in names):
        value = raw[analyte]
        n = 0
        own_flow = flow
        if isinstance(value, dict):
            allowed = {"percent", "flow_uL_min", "n"}
            bad = set(value) - allowed
            if bad or "percent" not in value:
                raise where.error(table, analyte, "expected a percentage or "
                                                  "{percent, flow_uL_min, n}")
            if "flow_uL_min" in value:
                own_flow = _number(where, table, analyte, value["flow_uL_min"], positive=True)
            n_value = value.get("n", 0)
            if isinstance(n_value, bool) or not isinstance(n_value, int) or n_value < 0:
                raise where.error(table, analyte, f"n: expected a whole number, got {n_value!r}")
            n = n_value
            value = value["percent"]
        out[analyte] = ProbeRecovery(0.0, analyte, _percent(where, table, analyte, value),
                                     own_flow, n, source)
    return out


def _percent(where: _Where, table: str, key: str, value) -> float:
    pct = _number(where, table, key, value, positive=True)
    if pct > 100.0:
        raise where.error(table, key, f"a recovery is a percentage ≤ 100, got {value!r}")
    return pct


def _recovery_session(path: Path, peaks: list[PeakSpec], label: str
                      ) -> dict[str, ProbeRecovery]:
    """The recovery measured in probe-recovery session ``path``, for this method's peaks."""
    from raphe.acquisition.analysis.recovery import from_session

    return from_session(path, [p.name for p in peaks], label)


def _recovery_table(recoveries: dict[str, ProbeRecovery]) -> dict:
    """Recoveries as the ``[recovery]`` table a session stores."""
    sources = {r.source for r in recoveries.values()}
    out: dict = {"source": sources.pop()} if len(sources) == 1 else {}
    for analyte, r in recoveries.items():
        entry: dict = {"percent": r.recovery_pct}
        if math.isfinite(r.flow_uL_min):
            entry["flow_uL_min"] = r.flow_uL_min
        if r.n:
            entry["n"] = r.n
        out[analyte] = entry
    return out


def _range(where: _Where, value, key: str, i: int) -> tuple[float, float]:
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
            or not 0 <= value[0] < value[1]):
        raise where.error("peaks", key, "expected [low, high] with 0 <= low < high", i)
    return float(value[0]), float(value[1])


def _standards(where: _Where, raw, i: int) -> tuple[tuple[str, ...], tuple[Standard, ...]]:
    """Inline standards: (sample ids, "" where none is given; standards)."""
    table = "peaks.calibration"
    if not isinstance(raw, list) or not raw:
        raise where.error(table, "standards", "expected a list of {conc_nM, volume_uL, area}", i)
    out, ids = [], []
    for j, item in enumerate(raw, 1):
        if not isinstance(item, dict) or set(item) - {"sample_id"} != {"conc_nM", "volume_uL",
                                                                        "area"}:
            raise where.error(table, "standards",
                              f"standard {j}: expected {{conc_nM, volume_uL, area}}", i)
        vals = [item["conc_nM"], item["volume_uL"], item["area"]]
        if not all(isinstance(v, int | float) and not isinstance(v, bool)
                   and math.isfinite(v) for v in vals) or vals[1] <= 0 or vals[0] < 0:
            raise where.error(table, "standards",
                              f"standard {j}: conc ≥ 0, volume > 0 and area must be numbers", i)
        if not isinstance(item.get("sample_id", ""), str):
            raise where.error(table, "standards", f"standard {j}: sample_id must be text", i)
        ids.append(item.get("sample_id", ""))
        out.append(Standard(float(vals[0]), float(vals[1]), float(vals[2])))
    return tuple(ids), tuple(out)


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


# -- the self-contained text a session stores ----------------------------------------------

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key, ensure_ascii=False)


def _toml_value(value, indent: str = "") -> str:
    """A TOML value; a list of tables is written one table a line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else \
            ("nan" if math.isnan(value) else "inf" if value > 0 else "-inf")
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        items = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    if isinstance(value, list | tuple):
        if value and all(isinstance(v, dict) for v in value):
            rows = "".join(f"{indent}    {_toml_value(v)},\n" for v in value)
            return f"[\n{rows}{indent}]"
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def _dump(data: dict) -> str:
    """``data`` as a TOML document (tables after keys, ``[[peaks]]`` last)."""
    lines: list[str] = []

    def table(path: list[str], d: dict) -> None:
        for k, v in d.items():
            if not isinstance(v, dict) and not (not path and _array_of_tables(v)):
                lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
        for k, v in d.items():
            if isinstance(v, dict):
                lines.extend(["", f"[{'.'.join(_toml_key(x) for x in [*path, k])}]"])
                table([*path, k], v)
        if not path:
            for k, v in d.items():
                if _array_of_tables(v):
                    for element in v:
                        lines.extend(["", f"[[{_toml_key(k)}]]"])
                        table([k], element)

    table([], data)
    return "\n".join(lines).lstrip("\n") + "\n"


def _array_of_tables(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


class _Layout:
    """Where the headers and keys of a TOML text are, line by line (0-based), so a few
    keys can be replaced without touching the rest (comments included)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines(keepends=True)
        #: (line, table, occurrence) of every header
        self.headers: list[tuple[int, str, int]] = []
        #: (table, occurrence) → {key: (first line, line after the last)}
        self.keys: dict[tuple[str, int], dict[str, tuple[int, int]]] = {}
        depth, multiline = 0, None
        table, counts = "", {}
        current: tuple[str, int, int] | None = None  # key being read: (key, start, _)
        for n, raw in enumerate(self.lines):
            line = raw.strip()
            if depth == 0 and multiline is None and current is None and line.startswith("["):
                array = line.startswith("[[")
                close = line.find("]]" if array else "]")
                table = re.sub(r"[\s\"']", "", line[2 if array else 1:close])
                root = table.split(".")[0]
                if array:
                    counts[table] = counts.get(table, -1) + 1
                occurrence = counts.get(root, 0)
                self.headers.append((n, table, occurrence))
                depth, multiline = self._scan(raw, 0, None)
                continue
            if depth == 0 and multiline is None and current is None and line \
                    and not line.startswith("#") and "=" in line:
                key = re.sub(r"[\s\"']", "", line.split("=", 1)[0])
                current = (key, n, 0)
            depth, multiline = self._scan(raw, depth, multiline)
            if current is not None and depth == 0 and multiline is None:
                occurrence = counts.get(table.split(".")[0], 0)
                self.keys.setdefault((table, occurrence), {})[current[0]] = (current[1], n + 1)
                current = None

    @staticmethod
    def _scan(line: str, depth: int, multiline: str | None) -> tuple[int, str | None]:
        """Bracket depth and open multi-line string after ``line``."""
        i, n = 0, len(line)
        while i < n:
            if multiline is not None:
                end = line.find(multiline, i)
                if end < 0:
                    return depth, multiline
                i, multiline = end + 3, None
                continue
            c = line[i]
            if c == "#":
                break
            if c in "\"'":
                if line.startswith(c * 3, i):
                    multiline, i = c * 3, i + 3
                    continue
                j = i + 1
                while j < n and line[j] != c:
                    j += 2 if c == '"' and line[j] == "\\" else 1
                i = j + 1
                continue
            if c in "[{":
                depth += 1
            elif c in "]}":
                depth -= 1
            i += 1
        return depth, multiline

    def header(self, table: str, occurrence: int) -> int | None:
        for n, name, occ in self.headers:
            if name == table and occ == occurrence:
                return n
        return None

    def end_of(self, line: int | None) -> int:
        """The line after the table whose header is at ``line`` (None: the top level)."""
        for n, _, _ in self.headers:
            if line is None or n > line:
                return n
        return len(self.lines)


def _portable(text: str, data: dict, changes: dict, source: str) -> str:
    """``text`` with the tables in ``changes`` ((table, occurrence, parent) → (as written,
    as stored)) replaced; only the keys that differ are rewritten. When the text cannot be
    edited in place, the whole method is written anew."""
    if not changes:
        return text
    expected = json.loads(json.dumps(data))
    for (table, occ, _), (_, new) in changes.items():
        if table == "recovery":
            expected["recovery"] = new
        else:
            expected["peaks"][occ]["calibration"] = new
    try:
        edited = _edit(text, changes)
        if tomllib.loads(edited) == expected:
            return edited
    except (ValueError, KeyError, IndexError, tomllib.TOMLDecodeError):
        pass
    return (f"# {source}, rewritten by Raphe with its calibration and recovery inline\n"
            + _dump(expected))


def _edit(text: str, changes: dict) -> str:
    layout = _Layout(text)
    lines = list(layout.lines)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    edits: list[tuple[int, int, list[str]]] = []  # (start, end, replacement lines)
    for (table, occ, parent), (old, new) in changes.items():
        old = old if isinstance(old, dict) else {}
        note = _note(new)
        head = layout.header(table, occ)
        if head is not None:
            keys = layout.keys.get((table, occ), {})
            gone = [k for k in old if k not in new or new[k] != old[k]]
            added = [f"{_toml_key(k)} = {_toml_value(v)}\n" for k, v in new.items()
                     if k not in old or old[k] != v]
            spans = sorted(keys[k] for k in gone)  # KeyError: a key not on its own line
            if spans:
                edits.append((spans[0][0], spans[0][1], note + added))
                edits.extend((a, b, []) for a, b in spans[1:])
            else:
                edits.append((head + 1, head + 1, note + added))
            continue
        body = [f"[{table}]\n", *note] + [f"{_toml_key(k)} = {_toml_value(v)}\n"
                                          for k, v in new.items()]
        parent_head = None if not parent else layout.header(parent, occ)
        if parent and parent_head is None:
            raise ValueError("no such table")
        inline = layout.keys.get((parent, occ), {}).get(table.split(".")[-1])
        if inline is not None:
            edits.append((inline[0], inline[1], []))
        end = layout.end_of(parent_head)
        if not parent:  # a new top-level table goes at the end of the text
            end = len(lines)
        edits.append((end, end, ["\n", *body] if end == len(lines) else [*body, "\n"]))
    for start, end, replacement in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        lines[start:end] = replacement
    return "".join(lines)


def _note(table: dict) -> list[str]:
    source = table.get("source")
    if not source:
        return []
    what = "recovery" if "standards" not in table else "standards"
    return [f"# {what} written in by Raphe from where `source` says: no other file needed\n"]
