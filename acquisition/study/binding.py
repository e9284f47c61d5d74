"""Ki from radioligand competition binding — the seed's other protocol.

A binding file is a CSV table, one row per well (``docs/studies.md`` has an example):

| column | required | meaning |
|---|---|---|
| ``compound`` | yes | the unlabelled competitor; empty on a ``total``/``nsb`` row shared by the assay |
| ``well`` | yes | ``total`` (radioligand alone), ``nsb`` (with an excess of a displacer: non-specific binding) or ``competitor`` |
| ``conc_nM`` | competitor rows | the competitor's concentration (nM) |
| ``cpm`` | yes | counts per minute (``dpm`` or ``counts`` are accepted instead) |
| ``assay`` | no | the target or plate (default ``assay``): total and NSB wells are shared within it |
| ``radioligand`` | no | e.g. ``[3H]8-OH-DPAT`` |
| ``radioligand_nM``, ``kd_nM`` | no | the radioligand's concentration and K_D in this assay (else the command line's) |

Lines starting with ``#`` are comments; other columns (replicate, plate position) are kept
out of the fit. Each compound's curve is fitted by least squares to the one-site
competition (four-parameter logistic) model in log concentration::

    cpm = bottom + (top − bottom) / (1 + 10^((log10 c − log10 IC50) · nH))

with the assay's total-binding wells as observations of ``top`` and its NSB wells as
observations of ``bottom``; residuals are weighted by 1/√(predicted cpm), the counting
statistics of a scintillation counter (a count's variance is its mean). IC50's 95 % CI is the asymptotic (Wald) interval of log IC50,
t with n − 4 degrees of freedom, as Prism reports it. Ki by Cheng–Prusoff:
``Ki = IC50 / (1 + L / K_D)`` (its CI scaled alike: the radioligand's K_D is taken as known).

Flags: ``hill_slope`` — nH outside 0.75–1.25 and its 95 % CI excludes 1 (more than one site,
negative cooperativity or not at equilibrium: Cheng–Prusoff assumes nH = 1);
``no_bottom_plateau`` / ``no_top_plateau`` — the fitted curve still holds more than 10 % of
its specific binding at the highest concentration tested (or has lost more than 10 % at
the lowest): the curve never reaches that plateau, so IC50 rests on extrapolation;
``ic50_outside_range`` — IC50 beyond the concentrations tested; ``no_total_wells`` /
``no_nsb_wells`` — the plateau was fitted from the curve alone.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats
from scipy.optimize import least_squares

from raphe.errors import InputError

WELLS = {"total": "total", "tb": "total", "total_binding": "total",
         "nsb": "nsb", "nonspecific": "nsb", "non-specific": "nsb", "non_specific": "nsb",
         "competitor": "competitor", "sample": "competitor", "test": "competitor",
         "compound": "competitor"}
COUNT_COLUMNS = ("cpm", "dpm", "counts")
#: nH outside this range (and its CI excluding 1) is flagged.
HILL_RANGE = (0.75, 1.25)
#: Share of specific binding left (or lost) at the ends of the range that counts as "no
#: plateau".
PLATEAU_SHARE = 0.10


@dataclass
class Well:
    line: int
    assay: str
    compound: str
    kind: str
    conc_nM: float
    cpm: float


@dataclass
class Assay:
    name: str
    radioligand: str = ""
    radioligand_nM: float = math.nan
    kd_nM: float = math.nan
    wells: list[Well] = field(default_factory=list)


@dataclass
class Fit:
    """One compound's competition curve."""

    assay: str
    compound: str
    radioligand: str
    radioligand_nM: float
    kd_nM: float
    n_points: int
    n_concentrations: int
    conc_range_nM: tuple[float, float]
    top: float = math.nan
    bottom: float = math.nan
    log_ic50: float = math.nan
    log_ic50_se: float = math.nan
    ic50_nM: float = math.nan
    ic50_ci_nM: tuple[float, float] = (math.nan, math.nan)
    hill: float = math.nan
    hill_ci: tuple[float, float] = (math.nan, math.nan)
    ki_nM: float = math.nan
    ki_ci_nM: tuple[float, float] = (math.nan, math.nan)
    df: int = 0
    r_squared: float = math.nan
    flags: list[str] = field(default_factory=list)
    error: str = ""

    def as_json(self) -> dict:
        from raphe.acquisition.study.stats import clean

        return clean({k: getattr(self, k) for k in self.__dataclass_fields__})


def _number(text: str, what: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{where}: {what} {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise InputError(f"{where}: {what} must be a number >= 0, got {text!r}")
    return value


def read_binding(path: str | Path, radioligand_nM: float | None = None,
                 kd_nM: float | None = None) -> dict[str, Assay]:
    """The assays of a binding CSV; each needs its radioligand concentration and K_D from
    the file or from ``radioligand_nM`` / ``kd_nM`` (which must agree with the file's)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"binding file {p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"binding file {p}: cannot read it ({exc})") from None
    lines = [(i + 1, line) for i, line in enumerate(text.splitlines())
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise InputError(f"binding file {p}: no rows")
    reader = csv.reader(io.StringIO("\n".join(line for _, line in lines)))
    rows = list(reader)
    header = [h.strip().lower() for h in rows[0]]
    where0 = f"{p}:{lines[0][0]}"
    missing = [c for c in ("compound", "well") if c not in header]
    counts = next((c for c in COUNT_COLUMNS if c in header), None)
    if missing or counts is None:
        need = missing + ([] if counts else ["cpm"])
        raise InputError(f"{where0}: the header lacks {', '.join(need)} (columns: compound, "
                         "well, conc_nM, cpm; optional assay, radioligand, radioligand_nM, "
                         "kd_nM)")
    col = {name: header.index(name) for name in header}
    assays: dict[str, Assay] = {}
    for (lineno, _), row in zip(lines[1:], rows[1:]):
        where = f"{p}:{lineno}"
        if len(row) < len(header):
            row = row + [""] * (len(header) - len(row))

        def get(name: str, row: list[str] = row) -> str:
            return row[col[name]].strip() if name in col else ""

        kind = WELLS.get(get("well").lower())
        if kind is None:
            raise InputError(f"{where}: well {get('well')!r} is not total, nsb or competitor")
        name = get("assay") or "assay"
        assay = assays.setdefault(name, Assay(name))
        for key, attr in (("radioligand_nM", "radioligand_nM"), ("kd_nM", "kd_nM")):
            if get(key.lower()):
                value = _number(get(key.lower()), key, where)
                old = getattr(assay, attr)
                if math.isfinite(old) and not math.isclose(old, value, rel_tol=1e-9):
                    raise InputError(f"{where}: {key} {value:g} differs from {old:g} given "
                                     f"earlier for assay {name!r}")
                setattr(assay, attr, value)
        if get("radioligand"):
            assay.radioligand = get("radioligand")
        compound = get("compound")
        conc = math.nan
        if kind == "competitor":
            if not compound:
                raise InputError(f"{where}: a competitor well needs its compound")
            if not get("conc_nm"):
                raise InputError(f"{where}: a competitor well needs conc_nM")
            conc = _number(get("conc_nm"), "conc_nM", where)
            if conc <= 0:
                raise InputError(f"{where}: conc_nM must be > 0 for a competitor well "
                                 "(a well without competitor is a total well)")
        if not get(counts):
            raise InputError(f"{where}: {counts} is empty")
        cpm = _number(get(counts), counts, where)
        assay.wells.append(Well(lineno, name, compound, kind, conc, cpm))
    for assay in assays.values():
        for value, attr, flag in ((radioligand_nM, "radioligand_nM", "--radioligand-nM"),
                                  (kd_nM, "kd_nM", "--kd-nM")):
            if value is None:
                continue
            old = getattr(assay, attr)
            if math.isfinite(old) and not math.isclose(old, value, rel_tol=1e-9):
                raise InputError(f"{flag} {value:g} differs from the file's {attr} {old:g} for "
                                 f"assay {assay.name!r} ({p}); give one of them")
            setattr(assay, attr, float(value))
        for attr, flag in (("radioligand_nM", "--radioligand-nM"), ("kd_nM", "--kd-nM")):
            if not math.isfinite(getattr(assay, attr)):
                raise InputError(f"binding file {p}: assay {assay.name!r} has no {attr}: give "
                                 f"{flag} or a {attr} column")
        if assay.kd_nM <= 0:
            raise InputError(f"binding file {p}: assay {assay.name!r}: kd_nM must be > 0")
        if not any(w.kind == "competitor" for w in assay.wells):
            raise InputError(f"binding file {p}: assay {assay.name!r} has no competitor wells")
    return assays


def model(x: np.ndarray, top: float, bottom: float, log_ic50: float, hill: float) -> np.ndarray:
    """One-site competition in log10 molar... concentration units of ``x`` (log10 nM here)."""
    return bottom + (top - bottom) / (1.0 + 10.0 ** ((x - log_ic50) * hill))


#: How residuals are weighted: "poisson" divides each by √(predicted counts per minute)
#: (counting statistics: the variance of a count is its mean), "none" is unweighted.
WEIGHTING = "poisson"


def fit_compound(assay: Assay, compound: str, weighting: str = WEIGHTING) -> Fit:
    """Fit one compound of ``assay`` (see the module docstring)."""
    comp = [w for w in assay.wells if w.kind == "competitor" and w.compound == compound]
    total = [w.cpm for w in assay.wells if w.kind == "total" and w.compound in ("", compound)]
    nsb = [w.cpm for w in assay.wells if w.kind == "nsb" and w.compound in ("", compound)]
    x = np.log10([w.conc_nM for w in comp])
    y = np.array([w.cpm for w in comp])
    concs = sorted({w.conc_nM for w in comp})
    result = Fit(assay.name, compound, assay.radioligand, assay.radioligand_nM, assay.kd_nM,
                 n_points=len(comp) + len(total) + len(nsb), n_concentrations=len(concs),
                 conc_range_nM=(concs[0], concs[-1]))
    if not total:
        result.flags.append("no_total_wells")
    if not nsb:
        result.flags.append("no_nsb_wells")
    if len(concs) < 4:
        result.error = f"{len(concs)} concentrations: a curve needs at least 4"
        return result
    t = np.asarray(total, float)
    n = np.asarray(nsb, float)
    top0 = float(t.mean()) if len(t) else float(y.max())
    bot0 = float(n.mean()) if len(n) else float(y.min())
    half = (top0 + bot0) / 2
    order = np.argsort(x)
    xs, ys = x[order], y[order]
    below = np.nonzero(ys < half)[0]
    x50 = float(xs[below[0]]) if len(below) else float(xs[-1])

    def residuals(p: np.ndarray) -> np.ndarray:
        top, bottom, log_ic50, hill = p
        predicted = np.concatenate([model(x, top, bottom, log_ic50, hill),
                                    np.full(len(t), top), np.full(len(n), bottom)])
        r = predicted - np.concatenate([y, t, n])
        if weighting == "poisson":
            r = r / np.sqrt(np.maximum(predicted, 1.0))
        return r

    span = max(abs(top0 - bot0), 1.0)
    try:
        fit = least_squares(residuals, [top0, bot0, x50, 1.0], x_scale=[span, span, 1.0, 1.0],
                            bounds=([-np.inf, -np.inf, xs[0] - 6, 0.05],
                                    [np.inf, np.inf, xs[-1] + 6, 10.0]))
    except (ValueError, np.linalg.LinAlgError) as exc:
        result.error = f"the fit failed ({exc})"
        return result
    top, bottom, log_ic50, hill = fit.x
    m = len(fit.fun)
    df = m - 4
    result.top, result.bottom, result.log_ic50, result.hill = top, bottom, log_ic50, hill
    result.df = df
    if not fit.success or df < 1:
        result.error = "the fit did not converge" if not fit.success else "too few points"
        return result
    sse = float(np.sum(fit.fun ** 2))
    s2 = sse / df
    try:
        cov = np.linalg.inv(fit.jac.T @ fit.jac) * s2
    except np.linalg.LinAlgError:
        cov = np.full((4, 4), np.nan)
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    q = float(stats.t.ppf(0.975, df))
    factor = 1.0 + assay.radioligand_nM / assay.kd_nM
    result.log_ic50_se = float(se[2])
    result.ic50_nM = float(10.0 ** log_ic50)
    result.ic50_ci_nM = (float(10.0 ** (log_ic50 - q * se[2])),
                         float(10.0 ** (log_ic50 + q * se[2])))
    result.hill_ci = (float(hill - q * se[3]), float(hill + q * se[3]))
    result.ki_nM = result.ic50_nM / factor
    result.ki_ci_nM = (result.ic50_ci_nM[0] / factor, result.ic50_ci_nM[1] / factor)
    all_y = np.concatenate([y, t, n])
    predicted = np.concatenate([model(x, *fit.x), np.full(len(t), top), np.full(len(n), bottom)])
    sst = float(np.sum((all_y - all_y.mean()) ** 2))
    result.r_squared = 1.0 - float(np.sum((predicted - all_y) ** 2)) / sst if sst > 0 else math.nan
    lo, hi = HILL_RANGE
    if not lo <= hill <= hi and not result.hill_ci[0] <= 1.0 <= result.hill_ci[1]:
        result.flags.append("hill_slope")
    left_at_top = 1.0 / (1.0 + 10.0 ** ((xs[-1] - log_ic50) * hill))
    lost_at_bottom = 1.0 - 1.0 / (1.0 + 10.0 ** ((xs[0] - log_ic50) * hill))
    if left_at_top > PLATEAU_SHARE:
        result.flags.append("no_bottom_plateau")
    if lost_at_bottom > PLATEAU_SHARE:
        result.flags.append("no_top_plateau")
    if not xs[0] <= log_ic50 <= xs[-1]:
        result.flags.append("ic50_outside_range")
    return result


def fit_all(assays: dict[str, Assay]) -> list[Fit]:
    """Every compound of every assay, in file order."""
    out = []
    for assay in assays.values():
        names = list(dict.fromkeys(w.compound for w in assay.wells if w.kind == "competitor"))
        out += [fit_compound(assay, name) for name in names]
    return out


def ranking(fits: list[Fit]) -> list[str]:
    """Compounds by affinity, highest first (smallest Ki); failed fits last."""
    return [f"{f.compound} ({f.assay})" if _dupes(fits, f) else f.compound
            for f in sorted(fits, key=lambda f: (not math.isfinite(f.ki_nM), f.ki_nM))]


def _dupes(fits: list[Fit], f: Fit) -> bool:
    return sum(1 for g in fits if g.compound == f.compound) > 1


# -- a simulated plate -----------------------------------------------------------------------

@dataclass(frozen=True)
class AssaySpec:
    """How a simulated assay is run: the radioligand and the counts it gives."""

    name: str
    radioligand: str
    radioligand_nM: float
    kd_nM: float
    #: specific binding without competitor (cpm) and non-specific binding (cpm)
    specific_cpm: float = 3000.0
    nsb_cpm: float = 300.0
    #: the unlabelled displacer of the NSB wells and its concentration
    displacer: str = ""
    displacer_nM: float = 10000.0


#: Half-log steps either side of a compound's expected IC50 on a simulated plate: 13
#: concentrations over six decades, as a lab centres a dilution series on the expected
#: affinity (both plateaus then have points).
PLATE_STEPS = 6


def plate_concentrations(ic50_nM: float, steps: int = PLATE_STEPS) -> tuple[float, ...]:
    """Half-log dilutions (nM) centred on the half-log nearest ``ic50_nM``."""
    centre = round(2.0 * math.log10(ic50_nM)) / 2.0
    return tuple(float(10.0 ** (centre + k / 2.0)) for k in range(-steps, steps + 1))


def simulate_plate(assays: list[AssaySpec], compounds: list[tuple[str, str, float]], *,
                   seed: int = 0, replicates: int = 3, count_min: float = 1.0,
                   well_cv: float = 0.03, conc_nM: tuple[float, ...] | None = None,
                   hill: float = 1.0) -> str:
    """A binding CSV from known Ki: ``compounds`` are (assay name, compound, Ki nM). Each
    compound gets ``replicates`` total and NSB wells and ``replicates`` wells per
    concentration (``conc_nM``, default: :func:`plate_concentrations` around the expected
    IC50). Counts: each well's binding (one site, Cheng–Prusoff IC50, slope ``hill``)
    times a pipetting/filtration factor (CV ``well_cv``), counted for ``count_min`` minutes
    (Poisson)."""
    rng = np.random.default_rng(seed)
    spec = {a.name: a for a in assays}
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    out.write("# simulated competition binding: counts = Poisson((specific + NSB) x well factor"
              f" x {count_min:g} min) / {count_min:g} min; well CV {well_cv:g}; seed {seed}\n")
    w.writerow(["assay", "radioligand", "radioligand_nM", "kd_nM", "compound", "well",
                "conc_nM", "cpm", "replicate"])

    def count(mean_cpm: float) -> float:
        factor = math.exp(well_cv * rng.standard_normal() - well_cv ** 2 / 2)
        return float(rng.poisson(mean_cpm * factor * count_min) / count_min)

    for assay_name, compound, ki in compounds:
        a = spec[assay_name]
        ic50 = ki * (1.0 + a.radioligand_nM / a.kd_nM)
        head = [a.name, a.radioligand, f"{a.radioligand_nM:g}", f"{a.kd_nM:g}", compound]
        for r in range(replicates):
            w.writerow([*head, "total", "", f"{count(a.specific_cpm + a.nsb_cpm):g}", r + 1])
        for r in range(replicates):
            w.writerow([*head, "nsb", f"{a.displacer_nM:g}", f"{count(a.nsb_cpm):g}", r + 1])
        for c in conc_nM or plate_concentrations(ic50):
            specific = a.specific_cpm / (1.0 + (c / ic50) ** hill)
            for r in range(replicates):
                w.writerow([*head, "competitor", f"{c:.6g}",
                            f"{count(specific + a.nsb_cpm):g}", r + 1])
    return out.getvalue()


# -- figure ----------------------------------------------------------------------------------

def binding_figure(assays: dict[str, Assay], fits: list[Fit]):
    """% specific binding against log concentration per compound (mean ± SEM of the
    replicates) with its fitted curve; one panel per assay."""
    from matplotlib.figure import Figure

    from raphe.acquisition.study.figures import COLOURS, MARKERS

    names = list(assays)
    fig = Figure(figsize=(5.2 * len(names), 4.4), layout="constrained")
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names):
        assay = assays[name]
        for k, fit in enumerate(f for f in fits if f.assay == name):
            colour, marker = COLOURS[k % len(COLOURS)], MARKERS[k % len(MARKERS)]
            comp = [w for w in assay.wells if w.kind == "competitor" and w.compound == fit.compound]
            top = fit.top if math.isfinite(fit.top) else max(w.cpm for w in comp)
            bottom = fit.bottom if math.isfinite(fit.bottom) else min(w.cpm for w in comp)
            span = (top - bottom) or 1.0
            concs = sorted({w.conc_nM for w in comp})
            mean, sem = [], []
            for c in concs:
                v = np.array([100.0 * (w.cpm - bottom) / span for w in comp if w.conc_nM == c])
                mean.append(v.mean())
                sem.append(v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else 0.0)
            x = np.log10(np.array(concs) * 1e-9)
            label = fit.compound
            if math.isfinite(fit.ki_nM):
                label += f": Ki {fit.ki_nM:.3g} nM"
            shown = [f for f in fit.flags if f not in ("no_total_wells", "no_nsb_wells")]
            if shown or fit.error:
                label += f" [{', '.join(shown) or fit.error}]"
            ax.errorbar(x, mean, yerr=sem, color=colour, marker=marker, ls="none", ms=4,
                        capsize=2, label=label)
            if math.isfinite(fit.log_ic50):
                xx = np.linspace(x[0] - 0.5, x[-1] + 0.5, 200)
                yy = 100.0 * (model(xx + 9.0, top, bottom, fit.log_ic50, fit.hill) - bottom) / span
                ax.plot(xx, yy, color=colour, lw=1.2)
        ax.axhline(0.0, color="#999999", lw=0.7, ls=":")
        ax.axhline(100.0, color="#999999", lw=0.7, ls=":")
        ligand = f"{assay.radioligand} " if assay.radioligand else ""
        ax.set_title(f"{name}: {ligand}{assay.radioligand_nM:g} nM (K_D {assay.kd_nM:g} nM)",
                     fontsize=10, loc="left")
        ax.set_xlabel("log [competitor] (M)")
        ax.set_ylabel("specific binding (%)")
        ax.legend(fontsize=7.5, frameon=False, loc="upper right")
        ax.spines[["top", "right"]].set_visible(False)
    return fig
