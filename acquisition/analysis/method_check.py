"""A method's settings checked against the chromatogram it integrates.

``check(method, chromatogram_or_result)`` returns one line per setting that does
not fit the peaks measured in the chromatogram, naming the setting and the
peak, e.g.::

    integration.baseline_window_s = 90 s is shorter than the base of 5-HIAA
    (312 s) with its tail (148 s): 185 s was used; set it to at least 185

What is checked:

- ``baseline_window_s`` shorter than the base of a tall peak, tail included
  (the baseline would climb the tail; ``peaks.find_peaks`` lengthens it, and
  says so here);
- ``peak_width_s`` far from the widths at half height of the named peaks
  (less than half, or more than twice, the narrowest one's: it smooths
  peaks away, or barely smooths the noise);
- a named peak's ``window_s`` narrower than the peak itself;
- a named peak that stands on a larger peak's tail integrated with a drop
  line or a tangent (``skim`` "drop"/"tangent"): suggest ``skim =
  "exponential"``;
- a named peak on a larger peak's tail that the model skim left on a drop
  line because of ``skim_height_ratio``;
- a named analyte flagged ``unresolved``.

The live session calls it on the first chromatograms it quantifies, the dry
run on the method and a simulated chromatogram, ``raphe quantify`` on its
file.
"""

from __future__ import annotations

import math

from raphe.acquisition.analysis.chromatogram import Chromatogram
from raphe.acquisition.analysis.method import AnalysisMethod
from raphe.acquisition.analysis.quantify import ChromatogramResult, quantify

#: ``peak_width_s`` is questioned outside these multiples of the narrowest named peak's W½.
WIDTH_RANGE = (0.5, 2.0)


def _name(result: ChromatogramResult, rt_s: float) -> str:
    """The named peak at ``rt_s``, or "the peak at … s"."""
    near = [p for p in result.peaks if p.name and abs(p.rt_s - rt_s) <= 2.0]
    return f"{near[0].name} ({rt_s:.0f} s)" if near else f"the peak at {rt_s:.0f} s"


def check(method: AnalysisMethod, data: Chromatogram | ChromatogramResult) -> list[str]:
    """Warnings, one line each, naming the setting and the peak (see the module docstring).

    ``data`` is a chromatogram (quantified here with ``method``) or a result of
    ``quantify`` with that method."""
    result = quantify(data, method) if isinstance(data, Chromatogram) else data
    s = method.integration
    out: list[str] = []
    found = result.found
    if found is not None and found.window_note is not None and s.baseline_window_s:
        rt, base, used = found.window_note
        out.append(f"integration.baseline_window_s = {s.baseline_window_s:g} s is shorter "
                   f"than the base of {_name(result, rt)} with its tail ({base:.0f} s): "
                   f"{used:.0f} s was used; set it to at least {math.ceil(used):d}")
    named = [a for a in result.analytes.values() if a.peak is not None]
    reported = {p.name for p in method.analytes}
    widths = [(a.peak.width_half_s, a.name) for a in named if a.name in reported
              if math.isfinite(a.peak.width_half_s) and a.peak.width_half_s > 0]
    if s.peak_width_s and widths:
        narrow, who = min(widths)
        if s.peak_width_s < WIDTH_RANGE[0] * narrow:
            out.append(f"integration.peak_width_s = {s.peak_width_s:g} s is less than half the "
                       f"width at half height of the narrowest named peak, {who} "
                       f"({narrow:.1f} s): the noise is barely smoothed; set it to about "
                       f"{narrow:.0f}")
        elif s.peak_width_s > WIDTH_RANGE[1] * narrow:
            out.append(f"integration.peak_width_s = {s.peak_width_s:g} s is more than twice "
                       f"the width at half height of {who} ({narrow:.1f} s): narrow peaks "
                       f"are smoothed away; set it to about {narrow:.0f}")
    specs = {p.name: p for p in method.peaks}
    for a in named:
        spec = specs.get(a.name)
        pk = a.peak
        if spec is not None and math.isfinite(pk.width_half_s) \
                and spec.window_s < 0.5 * pk.width_half_s:
            out.append(f"peaks.{a.name}.window_s = {spec.window_s:g} s is narrower than half "
                       f"the peak ({pk.width_half_s:.1f} s at half height): a small shift "
                       f"loses it; set it to at least {math.ceil(pk.width_half_s):d}")
        on_tail = pk.start_code in ("V", "T") or math.isfinite(pk.cluster_area)
        said = len(out)  # the skim warnings below already name this analyte's unresolved peak
        if s.skim in ("drop", "tangent") and on_tail and pk.unresolved:
            out.append(f"integration.skim = \"{s.skim}\": {a.name} stands on a larger peak's "
                       f"tail and its {'drop line' if s.skim == 'drop' else 'tangent'} "
                       f"disagrees with the whole-cluster fit; set skim = \"exponential\"")
        elif s.skim in ("exponential", "gaussian") and pk.start_code == "V" \
                and math.isfinite(pk.cluster_area) and pk.unresolved:
            out.append(f"integration.skim_height_ratio = {s.skim_height_ratio:g} leaves "
                       f"{a.name} on a drop line on a larger peak's tail; lower it (to 3, "
                       f"say) so the {s.skim} skim separates it")
        if pk.unresolved and pk.start_code == "F":
            out.append(f"{a.name} showed no valley or inflection on the tail of the peak "
                       f"before it: its area is the whole-cluster fit's, and it is left out "
                       f"of % of baseline")
        elif pk.unresolved and len(out) == said:
            out.append(f"{a.name} is unresolved: its integrated area "
                       f"({pk.area:.4g}) and the whole-cluster fit's ({pk.cluster_area:.4g}) "
                       f"disagree, or the fit cannot separate it; it is left out of % of "
                       f"baseline")
    return out
