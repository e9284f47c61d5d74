"""A dry run's answer as the protocol panel shows it: what the protocol will do, and why
it cannot run when it cannot."""

from __future__ import annotations

import html
import math

from raphe.gui.app import theme
from raphe.gui.app.widgets import ALARM, duration


def plan_html(plan, speed: float | None = None) -> str:
    """Duration, samples, syringe, tubes, injections, drugs; warnings and errors with lines."""
    esc = html.escape
    parts = []
    if plan.errors:
        parts.append(f"<p style='color:{ALARM}'><b>Cannot run:</b></p><ul>"
                     + "".join(f"<li style='color:{ALARM}'>{esc(str(e))}</li>"
                               for e in plan.errors) + "</ul>")
    if plan.samples or plan.duration_s:
        real = ""
        if speed and speed != 1.0 and math.isfinite(plan.duration_s):
            real = f" (about {duration(plan.duration_s / speed)} at {speed:g}×)"
        rows = [("duration", duration(plan.duration_s) + real),
                ("samples", str(len(plan.samples))),
                ("injections", str(plan.injections)),
                ("tubes", str(plan.tubes)),
                ("syringe", f"{plan.syringe_ul:.0f} µL")]
        if plan.prompts:
            rows.append(("operator prompts", str(plan.prompts)))
        for d in plan.drugs:
            rows.append(("drug", f"{esc(d.text)} at {d.t / 60:.0f} min"))
        parts.append(_table(rows))
    parts.append(_warnings(plan.warnings))
    return "".join(parts) or "<p>Nothing to do.</p>"


def _table(rows: list[tuple[str, str]]) -> str:
    """Label/value rows, the labels muted."""
    muted = theme.current().muted
    return "<table>" + "".join(f"<tr><td style='color:{muted};padding-right:8px'>{k}"
                               f"</td><td>{v}</td></tr>" for k, v in rows) + "</table>"


def _warnings(warnings) -> str:
    """The dry run's warnings as a list (nothing when there are none)."""
    if not warnings:
        return ""
    return ("<p style='color:#9a7d0a'><b>Warnings:</b></p><ul>"
            + "".join(f"<li style='color:#9a7d0a'>{html.escape(str(w))}</li>"
                      for w in warnings) + "</ul>")


def shared_plan_html(plan, colors: dict[str, str], speed: float | None = None) -> str:
    """The dry run of several animals on one HPLC: the slot each chromatogram takes, the
    duration, each animal (in its colour) with when its schedule starts, its injections and
    its drug; why it cannot run (the first collision named) and the warnings."""
    esc = html.escape
    parts = []
    errors = plan.first_errors
    if errors:
        parts.append(f"<p style='color:{ALARM}'><b>Cannot run:</b></p><ul>"
                     + "".join(f"<li style='color:{ALARM}'>{esc(str(e))}</li>"
                               for e in errors) + "</ul>")
    run = plan.run_length_s or 0.0
    real = ""
    if speed and speed != 1.0 and math.isfinite(plan.duration_s):
        real = f" (about {duration(plan.duration_s / speed)} at {speed:g}×)"
    rows = [("animals", f"{len(plan.animals)} on one HPLC"),
            ("one slot", f"{plan.slot_s / 60:.2f} min (a {run / 60:g}-min chromatogram)"),
            ("duration", duration(plan.duration_s) + real)]
    for part in plan.animals:
        color = colors.get(part.animal, theme.current().text)
        p = part.plan
        drugs = "; ".join(f"{esc(d.text)} at {d.t / 60:.0f} min" for d in p.drugs)
        rows.append((f"<b style='color:{color}'>{esc(part.animal)}</b>",
                     f"starts +{part.offset_s / 60:.1f} min · {p.injections} injections"
                     + (f" · {drugs}" if drugs else "")))
    parts.append(_table(rows))
    parts.append(_warnings(plan.warnings))
    return "".join(parts)
