"""QC: the session's system suitability tests and the calibration in force.

The top line gives the verdict of the latest check (passed, FAILED naming the tests, or
not judged). The first table lists every suitability test the session ran (replicate
area RSD, r², LOD/LOQ from S/N, bracketing drift), each against its limit: failed rows
are red, tests with too little to go on are grey. The second table is the calibration
each analyte is quantified with now: slope, intercept, r², LOD/LOQ on column, the
number of standards and where they were measured; a refit that failed is said there
(the previous calibration stays in force).

It reads the window's session model: ``model.suitability`` (``SuitabilityTest`` rows)
and ``model.calibrations`` (``CalibrationFit`` rows), redrawn when the model says
``suitability``, ``calibration`` or ``reset`` changed.
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from raphe.gui.app.widgets import ALARM, OK, minutes, number

#: What the model says changed that redraws the panel.
KINDS = frozenset({"reset", "suitability", "calibration"})
TEST_COLUMNS = ("min", "analyte", "test", "value", "limit", "result", "detail")
CAL_COLUMNS = ("analyte", "slope (nA·s/fmol)", "intercept (nA·s)", "r²", "LOD (fmol)",
               "LOQ (fmol)", "n", "since", "source")
#: Test names as the table shows them.
TEST_NAMES = {"rsd": "replicate RSD", "r_squared": "r² (linearity)", "lod_nM": "LOD (S/N 3)",
              "loq_nM": "LOQ (S/N 10)", "drift": "bracketing drift"}
FAILED_BACKGROUND = "#fadbd8"
NOT_JUDGED = "#7f8c8d"


def _value(row) -> str:
    if not math.isfinite(row.value):
        return "n/a"
    if row.test == "r_squared":
        return f"{row.value:.4f}"
    if row.test == "drift":
        return f"{row.value:+.1f} %".replace("-", "−")
    if row.unit == "%":
        return f"{row.value:.2f} %"
    return number(row.value, row.unit)


def _limit(row) -> str:
    if not math.isfinite(row.limit):
        return "–"
    if row.test == "r_squared":
        return f"≥ {row.limit:g}"
    text = f"≤ {row.limit:g}" + (f" {row.unit}" if row.unit else "")
    return ("|drift| " if row.test == "drift" else "") + text


def _result(passed: int) -> str:
    return {1: "passed", 0: "FAILED"}.get(int(passed), "not judged")


class QualityPanel(QWidget):
    """See the module docstring."""

    def __init__(self, model, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.verdict = QLabel()
        self.verdict.setWordWrap(True)
        self.verdict.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.tests = self._table(TEST_COLUMNS, (60, 60, 120, 80, 90, 80))
        self.calibration = self._table(CAL_COLUMNS, (60, 120, 110, 70, 80, 80, 40, 80))
        self.cal_label = QLabel("<b>Calibration in force</b>")
        lower = QWidget()
        lower_layout = QVBoxLayout(lower)
        lower_layout.setContentsMargins(0, 0, 0, 0)
        lower_layout.addWidget(self.cal_label)
        lower_layout.addWidget(self.calibration)
        upper = QWidget()
        upper_layout = QVBoxLayout(upper)
        upper_layout.setContentsMargins(0, 0, 0, 0)
        upper_layout.addWidget(self.verdict)
        upper_layout.addWidget(self.tests)
        # side by side: the bottom area is wide and low (a 768-pixel screen)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(upper)
        split.addWidget(lower)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(split)
        model.changed.connect(self._on_model)
        self.refresh()

    @staticmethod
    def _table(columns: tuple[str, ...], widths: tuple[int, ...]) -> QTableWidget:
        table = QTableWidget(0, len(columns))
        table.setHorizontalHeaderLabels(list(columns))
        table.verticalHeader().setVisible(False)
        table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 6)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setWordWrap(False)
        table.setMinimumHeight(2 * (table.fontMetrics().height() + 6) + 4)
        header = table.horizontalHeader()
        for i, width in enumerate(widths):
            header.setSectionResizeMode(i, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(i, width)
        header.setStretchLastSection(True)
        return table

    # -- what the model holds --------------------------------------------------------------

    def suitability_rows(self) -> list:
        """The session's suitability tests, in time order."""
        rows = list(getattr(self.model, "suitability", None) or [])
        return sorted(rows, key=lambda r: r.t)

    def calibrations_in_force(self) -> list[tuple[object, str]]:
        """(calibration, note) per analyte: the last session fit with a line, else the
        method's own; the note says when a later refit failed."""
        fits = list(getattr(self.model, "calibrations", None) or [])
        in_force: dict[str, object] = {}
        failed: dict[str, object] = {}
        for fit in fits:
            ok = not fit.error and math.isfinite(fit.slope)
            if ok:
                in_force[fit.analyte] = fit
                failed.pop(fit.analyte, None)
            else:
                failed[fit.analyte] = fit
        method = getattr(self.model, "method", None)
        for peak in getattr(method, "peaks", ()) or ():
            cal = getattr(peak, "calibration", None)
            if cal is not None and peak.name not in in_force:
                source = getattr(peak, "cal_source", "") or f"method {method.name}"
                in_force[peak.name] = _MethodFit(peak.name, cal, source)
        out = []
        for analyte in dict.fromkeys([*in_force, *failed]):
            fit = in_force.get(analyte)
            bad = failed.get(analyte)
            note = (f"refit at {minutes(bad.t)} failed: {bad.error}" if bad is not None
                    else "")
            out.append((fit if fit is not None else bad, note))
        return out

    # -- drawing ---------------------------------------------------------------------------

    def _on_model(self, kinds) -> None:
        if kinds & KINDS:
            self.refresh()

    def refresh(self) -> None:
        rows = self.suitability_rows()
        self._fill_tests(rows)
        self._fill_calibration(self.calibrations_in_force())
        self.verdict.setText(self._verdict(rows))

    def _verdict(self, rows: list) -> str:
        if not rows:
            return ("<b>System suitability</b>: no check yet (a protocol asks for one with "
                    "<code>rig.suitability(…)</code> after its standards)")
        last_t = rows[-1].t
        last = [r for r in rows if r.t == last_t]
        failed = [f"{r.analyte} {TEST_NAMES.get(r.test, r.test)}" for r in last
                  if r.passed == 0]
        judged = [r for r in last if r.passed >= 0]
        when = f"at {minutes(last_t)}"
        if failed:
            return (f"<b>System suitability {when}: <span style='color:{ALARM}'>FAILED</span>"
                    f"</b> — {', '.join(failed)}")
        if judged:
            return (f"<b>System suitability {when}: <span style='color:{OK}'>passed</span>"
                    f"</b> ({len(judged)} tests judged)")
        return f"<b>System suitability {when}: not judged</b> (too few standards)"

    def _fill_tests(self, rows: list) -> None:
        self.tests.setRowCount(len(rows))
        bold = QFont()
        bold.setBold(True)
        for i, row in enumerate(rows):
            cells = (f"{row.t / 60:.1f}", row.analyte, TEST_NAMES.get(row.test, row.test),
                     _value(row), _limit(row), _result(row.passed), row.detail)
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(row.detail or text)
                if TEST_COLUMNS[j] in ("value", "limit"):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                if row.passed == 0:
                    item.setBackground(QBrush(QColor(FAILED_BACKGROUND)))
                    if TEST_COLUMNS[j] == "result":
                        item.setForeground(QBrush(QColor(ALARM)))
                        item.setFont(bold)
                elif row.passed == 1 and TEST_COLUMNS[j] == "result":
                    item.setForeground(QBrush(QColor(OK)))
                elif row.passed < 0:
                    item.setForeground(QBrush(QColor(NOT_JUDGED)))
                item.setData(Qt.ItemDataRole.UserRole, int(row.passed))
                self.tests.setItem(i, j, item)

    def _fill_calibration(self, fits: list[tuple[object, str]]) -> None:
        self.calibration.setRowCount(len(fits))
        for i, (fit, note) in enumerate(fits):
            t = getattr(fit, "t", math.nan)
            source = getattr(fit, "source", "") or ""
            if getattr(fit, "error", ""):
                source = f"no calibration: {fit.error}"
            elif note:
                source = f"{source} ({note}; this one stays in force)"
            cells = (fit.analyte, number(fit.slope, digits=4), number(fit.intercept, digits=3),
                     f"{fit.r_squared:.4f}" if math.isfinite(fit.r_squared) else "n/a",
                     number(fit.lod_fmol), number(fit.loq_fmol), str(int(fit.n)),
                     minutes(t) if math.isfinite(t) else "method", source)
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if 1 <= j <= 6:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                if note or getattr(fit, "error", ""):
                    item.setForeground(QBrush(QColor(ALARM)))
                self.calibration.setItem(i, j, item)


class _MethodFit:
    """The method's own calibration, shaped like a ``CalibrationFit`` row."""

    def __init__(self, analyte: str, cal, source: str) -> None:
        self.analyte = analyte
        self.t = math.nan
        self.slope = cal.slope
        self.intercept = cal.intercept
        self.r_squared = cal.r_squared
        self.lod_fmol = cal.lod_fmol
        self.loq_fmol = cal.loq_fmol
        self.n = cal.n
        self.source = source
        self.error = ""
