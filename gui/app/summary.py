"""The one-page summary of a session: what `raphe demo --headless` writes beside the session,
and what File ▸ Export summary / Print summary make in the window — one code path.

An A4 landscape page (1123 × 794 px at 96 dpi): the protocol, animal, drugs and file; who,
when, how long and how it ended; the protocol's parameters; the time course (5-HT in % of
baseline, the drug marked, every flag's look); the last sample's chromatogram with its
integration; the flags the results hold with their meanings; and the events worth reading
(drugs, markers, prompts and their answers, alarms and their acknowledgements, pauses).
The panels are the window's own, drawn offscreen in the light theme.
"""

from __future__ import annotations

import contextlib
import html
import math
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QGridLayout, QLabel, QVBoxLayout, QWidget

from raphe.acquisition.analysis import flags as fl
from raphe.gui.app.app import application
from raphe.gui.app.export import free_path, print_widget, write_figure
from raphe.gui.app.model import SessionModel
from raphe.gui.app.panels.chromatogram import ChromatogramPanel
from raphe.gui.app.panels.timecourse import UNITS, TimeCoursePanel, calibrated, reference_text
from raphe.gui.app.replay_session import ReplaySession
from raphe.gui.app.widgets import ALARM, DRUG, MARKER, OK
from raphe.names import spelling

__all__ = ["PAGE", "SummaryPage", "free_path", "print_summary", "save_summary",
           "summary_page", "write_summary"]

#: A4 landscape at 96 dpi.
PAGE = (1123, 794)
#: Event kinds the page lists.
LISTED = ("drug", "marker", "prompt", "alarm", "perfusion", "pause", "gap", "flow", "end")
MAX_EVENTS = 18
MAX_VALUES = 36
STYLE = "color: #000; background: #fff;"


def _esc(text: str) -> str:
    return html.escape(str(text))


class SummaryPage(QWidget):
    """The page for the session in ``model`` (live or replayed); render it with
    :func:`summary_svg`."""

    def __init__(self, model, analyte: str = "5-HT", size: tuple[int, int] = PAGE) -> None:
        super().__init__()
        self.model = model
        self.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen)
        self.setStyleSheet(f"QWidget {{ {STYLE} }} QLabel {{ {STYLE} }}")
        self.setAutoFillBackground(True)
        self.course = TimeCoursePanel(model, controls=False)
        if analyte in model.analytes():
            self.course.analyte_box.setCurrentText(analyte)
        self.course.unit_box.setCurrentText(UNITS[1])
        self.chrom = ChromatogramPanel(model, controls=False)
        samples = [v for v in model.chromatograms if v.injection.kind == "sample"]
        if samples:
            self.chrom.select(samples[-1].sample_id)
        self.course.redraw()
        self.chrom.redraw()
        self.title = self._label(self._title(), 14)
        self.subtitle = self._label(self._subtitle(), 9)
        self.parameters = self._label(self._parameters(), 8)
        self.values = self._label(self._values(), 8)
        self.flags = self._label(self._flags(), 8)
        self.events = self._label(self._events(), 8)
        self.reference = self._label(_esc(reference_text(model, self.course.analyte)), 8)
        left = QVBoxLayout()
        left.setSpacing(6)
        for w in (self.parameters, self.values, self.flags, self.events):
            left.addWidget(w)
        left.addStretch(1)
        right = QVBoxLayout()
        right.setSpacing(2)
        right.addWidget(self._label(f"<b>{_esc(self.course.analyte)}, % of baseline</b> "
                                    "(probe time: when the dialysate left the probe)", 9))
        right.addWidget(self.reference)
        right.addWidget(self.course, 5)
        right.addWidget(self._label("<b>Last sample's chromatogram</b> (integrated peaks "
                                    "shaded, baselines dashed, RT windows in blue)", 9))
        right.addWidget(self.chrom, 4)
        grid = QGridLayout(self)
        grid.setContentsMargins(14, 10, 14, 10)
        grid.setHorizontalSpacing(14)
        grid.addWidget(self.title, 0, 0, 1, 2)
        grid.addWidget(self.subtitle, 1, 0, 1, 2)
        grid.addLayout(left, 2, 0)
        grid.addLayout(right, 2, 1)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 7)
        grid.setRowStretch(2, 1)
        self.resize(*size)

    @staticmethod
    def _label(text: str, points: int) -> QLabel:
        label = QLabel(text)
        label.setTextFormat(Qt.TextFormat.RichText)
        label.setWordWrap(True)
        label.setStyleSheet(f"{STYLE} font-size: {points}pt;")
        label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        return label

    # -- texts -----------------------------------------------------------------------------

    def _title(self) -> str:
        meta = self.model.meta
        drugs = [e.text for e in self.model.events if e.kind == "drug"]
        protocol = (meta.get("protocol") or {}).get("name") or "session"
        parts = [f"<b>{_esc(protocol)}</b>", _esc(meta.get("animal_id") or ""),
                 _esc(", ".join(drugs))]
        name = Path(meta.get("path") or "").name
        return " · ".join(p for p in parts if p) + \
            (f" · <span style='color:#666'>{_esc(name)}</span>" if name else "")

    def _subtitle(self) -> str:
        meta, m = self.model.meta, self.model
        start = meta.get("wall_start")
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(start)) if start else ""
        method = getattr(m.method, "name", "") or "none (record only)"
        end = next((e.text for e in reversed(m.events) if e.kind == "end"), "")
        status = meta.get("status") or ("in progress" if m.live and not end else "")
        samples = len({r.sample_id for r in m.results})
        parts = [f"operator {_esc(meta['operator'])}" if meta.get("operator") else "",
                 f"started {when}" if when else "", f"{m.now / 60:.0f} min of session",
                 f"{samples} samples quantified", f"method {_esc(method)}",
                 _esc(end or status), f"printed {time.strftime('%Y-%m-%d %H:%M')}"]
        return "<span style='color:#333'>" + " · ".join(p for p in parts if p) + "</span>"

    def _parameters(self) -> str:
        params = (self.model.meta.get("protocol") or {}).get("parameters") or {}
        if not params:
            return "<b>Parameters</b><br>—"
        rows = []
        for name, entry in params.items():
            value = entry.get("value") if isinstance(entry, dict) else entry
            unit = entry.get("unit", "") if isinstance(entry, dict) else ""
            if isinstance(value, float):
                value = f"{value:g}"
            elif isinstance(value, str) and re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)+", value):
                value = spelling(value)  # a name, as users see it everywhere
            rows.append(f"<tr><td style='color:#555;padding-right:6px'>{_esc(name)}</td>"
                        f"<td>{_esc(value)} {_esc(unit)}</td></tr>")
        return "<b>Parameters</b><table cellspacing=0>" + "".join(rows) + "</table>"

    def _values(self) -> str:
        """The time course's numbers: each sample's value in nM (or area) and % of baseline."""
        points = [p for p in self.course.points if not p.missing]
        if not points:
            return ""
        rows = []
        for p in points[:MAX_VALUES]:
            pct = f"{p.y:.0f}" if math.isfinite(p.y) else "–"
            mark = "†" if p.excluded else ("*" if p.baseline else "")
            rows.append(f"<td nowrap>{_esc(p.sample_id)}{mark}</td>"
                        f"<td align=right>{p.x_min:.0f}</td>"
                        f"<td align=right>{p.level:.3g}</td><td align=right>{pct}</td>")
        more = f"<br>… {len(points) - MAX_VALUES} more" if len(points) > MAX_VALUES else ""
        more += "<br><span style='color:#555'>* baseline sample · † left out of % of " \
            "baseline</span>"
        unit = "nM" if calibrated(self.model, self.course.analyte) else "nA·s"
        head = ("<tr style='color:#555'><td nowrap>sample&nbsp;</td><td nowrap>min&nbsp;</td>"
                f"<td nowrap>&nbsp;{unit}&nbsp;</td><td nowrap>&nbsp;%</td></tr>")
        # two columns of rows side by side when there are many
        cols = [rows[:(len(rows) + 1) // 2], rows[(len(rows) + 1) // 2:]] if len(rows) > 8 \
            else [rows]
        tables = "".join("<td valign=top><table cellspacing=0 cellpadding=2>" + head
                         + "".join(f"<tr>{r}</tr>" for r in col) + "</table></td><td>&nbsp;&nbsp;</td>"
                         for col in cols)
        return (f"<b>{_esc(self.course.analyte)} by sample</b> (probe time, value, % of "
                f"baseline)<table><tr>{tables}</tr></table>{more}")

    def _flags(self) -> str:
        # samples per flag (a flag of several analytes of one sample counts once)
        held = {(r.sample_id, f) for r in self.model.results for f in fl.parse(r.flags)}
        counts = Counter(f for _, f in held)
        if not counts:
            return "<b>Flags</b><br>none: every sample quantified cleanly"
        rows = []
        for name, n in sorted(counts.items(), key=lambda x: -x[1]):
            meaning = fl.BY_NAME[name].meaning if name in fl.BY_NAME else ""
            out = " (left out of % of baseline)" if name in fl.EXCLUDING else ""
            rows.append(f"<tr><td style='padding-right:6px'><b>{_esc(name)}</b> ×{n}</td>"
                        f"<td>{_esc(meaning)}{out}</td></tr>")
        return "<b>Flags</b><table cellspacing=0>" + "".join(rows) + "</table>"

    def _events(self) -> str:
        colours = {"drug": DRUG, "marker": MARKER, "prompt": MARKER, "alarm": ALARM,
                   "perfusion": ALARM, "gap": ALARM}
        events = [e for e in self.model.events if e.kind in LISTED
                  and not (e.kind == "perfusion" and e.text.startswith("started"))]
        shown = events if len(events) <= MAX_EVENTS else \
            events[:MAX_EVENTS // 2] + events[-(MAX_EVENTS // 2):]
        rows = []
        for i, e in enumerate(shown):
            if len(events) > MAX_EVENTS and i == MAX_EVENTS // 2:
                rows.append(f"<tr><td></td><td>… {len(events) - MAX_EVENTS} more (raphe "
                            "inspect lists them all)</td></tr>")
            text = e.text if len(e.text) <= 90 else e.text[:88] + "…"
            if e.kind == "pause" and math.isfinite(e.t_end):
                text = f"paused {(e.t_end - e.t) / 60:.1f} min: {text}"
            colour = colours.get(e.kind, "#000")
            if e.text.startswith(("restored", "acknowledged", "reconnected")) or \
                    "reconnected" in e.text:
                colour = OK  # the fault is over, or someone saw it
            rows.append(f"<tr><td style='color:#555;padding-right:6px'>{e.t / 60:.1f}</td>"
                        f"<td style='color:{colour}'>{_esc(e.kind)}: {_esc(text)}</td></tr>")
        body = "".join(rows) or "<tr><td>none</td></tr>"
        return "<b>Events</b> (session min)<table cellspacing=0>" + body + "</table>"

    def close_panels(self) -> None:
        """Disconnect the panels from the model (a live model goes on changing)."""
        for panel in (self.course, self.chrom):
            try:
                self.model.changed.disconnect(panel._on_model)
            except (RuntimeError, TypeError):
                pass


@contextlib.contextmanager
def summary_page(model, analyte: str = "5-HT", size: tuple[int, int] = PAGE
                 ) -> Iterator[SummaryPage]:
    """The summary page of the session in ``model``, laid out and drawn offscreen."""
    page = SummaryPage(model, analyte, size)
    try:
        page.show()
        for _ in range(3):
            QApplication.processEvents()
        yield page
    finally:
        page.close_panels()
        page.close()
        page.deleteLater()


def write_summary(model, path: str | Path, analyte: str = "5-HT",
                  size: tuple[int, int] = PAGE) -> Path:
    """The summary of the session in ``model`` into ``path`` (.png at 300 dpi, .pdf on an
    A4 landscape page, .svg)."""
    with summary_page(model, analyte, size) as page:
        return write_figure(page, path, "session summary", page=True)


def print_summary(model, printer, analyte: str = "5-HT") -> None:
    """The summary of the session in ``model`` on one page of ``printer``."""
    with summary_page(model, analyte) as page:
        print_widget(page, printer)


def save_summary(session: str | Path, path: str | Path, size: tuple[int, int] = PAGE,
                 analyte: str = "5-HT") -> Path:
    """The summary page of the recorded ``session`` into ``path`` (.png at 300 dpi, .pdf, .svg;
    a new file, see :func:`free_path`)."""
    application()
    path = free_path(Path(path))
    model = SessionModel()
    replay = ReplaySession(session, model)
    try:
        replay.wait_analysed(300)
        replay.bridge.drain()
        model.meta.setdefault("status", replay.status)
        return write_summary(model, path, analyte, size)
    finally:
        replay.close()
