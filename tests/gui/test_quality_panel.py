"""The QC panel: the session's suitability tests against their limits (failed rows marked)
and the calibration in force, read from the session model; a dock of the main window."""

from __future__ import annotations

import math

import pytest
from PySide6.QtGui import QColor

from raphe.acquisition.analysis import suitability as su
from raphe.gui.app.model import SessionModel
from raphe.gui.app.panels.quality import FAILED_BACKGROUND, QualityPanel
from raphe.gui.app.widgets import ALARM, OK
from raphe.records import CalibrationFit, Injection, SampleResult, SuitabilityTest

SCREENSHOT = "/tmp/qc-panel.png"


def session_rows(t: float) -> list[SuitabilityTest]:
    """A check made by the suitability module: good replicates, a drifting bracket."""
    injections, results = [], []
    at = 600.0

    def add(sid: str, kind: str, area: float, sn: float = 60.0) -> None:
        nonlocal at
        injections.append(Injection(at, sid, 20.0, "B", kind))
        results.append(SampleResult(sid, at, "5-HT", 600.0, area, area / 20, sn, math.nan,
                                    math.nan, math.nan, ""))
        at += 960.0

    for conc, areas, sn in ((0.3, (0.652, 0.668, 0.660, 0.671, 0.655), 31.0),
                            (1.0, (2.21, 2.18, 2.24, 2.20, 2.19), 100.0),
                            (3.0, (6.55, 6.71, 6.62, 6.60, 6.49), 300.0)):
        for k, area in enumerate(areas):
            add(f"STD-{conc:g}nM-{k + 1}", f"standard:{conc:g}", area, sn)
    add("S1", "sample", 0.9)
    add("S2", "sample", 0.95)
    add("STD-after", "standard:1", 1.85)  # −16 % from the first 1 nM standard
    fits = [{"t": 4500.0, "analyte": "5-HT",
             "fit": {"model": "linear", "weighting": "1/x", "n": 15, "slope": 0.1102,
                     "intercept": 0.0031, "r_squared": 0.99937, "source": "this session"}}]
    return su.evaluate(injections, results, fits, t)


def calibrations() -> list[CalibrationFit]:
    return [
        CalibrationFit(t=0.0, analyte="5-HT", model="linear", weighting="1/x", n=10,
                       slope=0.1101, intercept=0.0021, r_squared=0.99952, residual_sd=0.018,
                       lod_fmol=0.54, loq_fmol=1.64, source="method simulated-5ht"),
        CalibrationFit(t=4500.0, analyte="5-HT", model="linear", weighting="1/x", n=15,
                       slope=0.1102, intercept=0.0031, r_squared=0.99937, residual_sd=0.021,
                       lod_fmol=0.63, loq_fmol=1.91, source="this session"),
        CalibrationFit(t=4500.0, analyte="DA", model="linear", weighting="none", n=1,
                       error="a linear fit needs at least 3 standards at 2 or more levels; "
                             "got 1"),
    ]


def populate(model: SessionModel, tests, fits) -> None:
    """What the window's model will hold once it takes ``suitability`` and ``calibration``
    records; until then the lists are set here."""
    model.suitability = list(tests)
    model.calibrations = list(fits)
    model.changed.emit(frozenset({"suitability", "calibration"}))


def cell(table, row: int, column: int) -> str:
    return table.item(row, column).text()


def test_the_panel_lists_the_tests_and_marks_the_failed_ones(qtbot):
    model = SessionModel()
    panel = QualityPanel(model)
    qtbot.addWidget(panel)
    panel.resize(1100, 560)
    panel.show()
    qtbot.waitExposed(panel)
    assert panel.tests.rowCount() == 0 and panel.calibration.rowCount() == 0
    assert "no check yet" in panel.verdict.text()

    rows = session_rows(t=20000.0)
    populate(model, rows, calibrations())
    assert panel.tests.rowCount() == len(rows) == 5
    texts = [[cell(panel.tests, i, j) for j in range(7)] for i in range(5)]
    by_test = {r[2]: r for r in texts}
    assert by_test["replicate RSD"][1] == "5-HT"
    rsd = next(r for r in rows if r.test == "rsd")
    assert by_test["replicate RSD"][3] == f"{rsd.value:.2f} %"
    assert by_test["replicate RSD"][4:6] == ["≤ 3 %", "passed"]
    assert by_test["r² (linearity)"][3:6] == ["0.9994", "≥ 0.998", "passed"]
    assert by_test["LOD (S/N 3)"][3].endswith(" nM")
    assert by_test["LOD (S/N 3)"][4:6] == ["–", "not judged"]
    assert by_test["bracketing drift"][3].startswith("−16.")
    assert by_test["bracketing drift"][4:6] == ["|drift| ≤ 10 %", "FAILED"]
    assert "STD-after" in by_test["bracketing drift"][6]
    assert "FAILED" in panel.verdict.text() and "bracketing drift" in panel.verdict.text()
    # failed rows stand out: a red background on every cell, the verdict in the alarm colour
    for i in range(5):
        failed = panel.tests.item(i, 5).text() == "FAILED"
        background = panel.tests.item(i, 0).background().color()
        assert (background == QColor(FAILED_BACKGROUND)) == failed
        colour = panel.tests.item(i, 5).foreground().color()
        if failed:
            assert colour == QColor(ALARM)
        elif panel.tests.item(i, 5).text() == "passed":
            assert colour == QColor(OK)

    # the calibration in force: the last good fit; a failed refit is said, not shown as one
    assert panel.calibration.rowCount() == 2
    ht = [cell(panel.calibration, 0, j) for j in range(9)]
    assert ht[:7] == ["5-HT", "0.1102", "0.0031", "0.9994", "0.63", "1.91", "15"]
    assert ht[7] == "75.0 min" and ht[8] == "this session"
    da = [cell(panel.calibration, 1, j) for j in range(9)]
    assert da[0] == "DA" and da[8].startswith("no calibration: a linear fit needs")
    panel.grab().save(SCREENSHOT)


def test_a_passing_check_and_a_reset(qtbot):
    model = SessionModel()
    panel = QualityPanel(model)
    qtbot.addWidget(panel)
    rows = [SuitabilityTest(t=3600.0, analyte="5-HT", test="rsd", value=2.1, limit=3.0,
                            unit="%", passed=1, detail="1 nM: n=5, areas mean 2.2 nA·s"),
            SuitabilityTest(t=3600.0, analyte="5-HT", test="drift", value=math.nan,
                            limit=10.0, unit="%", passed=-1, detail="no bracketing standards")]
    populate(model, rows, [])
    assert "passed" in panel.verdict.text() and "at 60.0 min" in panel.verdict.text()
    assert cell(panel.tests, 1, 3) == "n/a" and cell(panel.tests, 1, 5) == "not judged"
    model.reset()
    if not hasattr(model, "suitability") or model.suitability:  # until the model clears them
        populate(model, [], [])
    assert panel.tests.rowCount() == 0


def test_the_method_calibration_is_shown_until_a_session_fit(qtbot):
    from raphe.acquisition.analysis.method import load_method

    model = SessionModel()
    model.reset(method=load_method("simulated-5ht"))
    panel = QualityPanel(model)
    qtbot.addWidget(panel)
    populate(model, [], [])
    assert panel.calibration.rowCount() == 1
    row = [cell(panel.calibration, 0, j) for j in range(9)]
    assert row[0] == "5-HT" and row[7] == "method" and row[8].startswith("method")
    assert float(row[1]) == pytest.approx(0.11, rel=0.05)


def test_the_window_has_a_qc_dock(qtbot, window):
    assert window.docks["qc"].widget() is window.quality_panel
    assert window.docks["qc"].windowTitle() == "QC"
    assert window.quality_panel.model is window.model
    populate(window.model, session_rows(t=20000.0), calibrations())
    assert window.quality_panel.tests.rowCount() == 5
    window.reset_layout()
    assert window.docks["qc"].isVisible() or window.tabifiedDockWidgets(window.docks["qc"])


def test_records_added_to_the_model_show(qtbot):
    """The stream's ``suitability`` and ``calibration`` records, as a run or a replay adds
    them, reach the panel."""
    model = SessionModel()
    if not hasattr(model, "suitability"):
        pytest.skip("the session model does not take suitability records yet")
    panel = QualityPanel(model)
    qtbot.addWidget(panel)
    model.add([("calibration", fit) for fit in calibrations()]
              + [("suitability", row) for row in session_rows(t=20000.0)])
    assert panel.tests.rowCount() == 5 and panel.calibration.rowCount() == 2
    assert "FAILED" in panel.verdict.text()
    model.reset()
    assert panel.tests.rowCount() == 0 and panel.calibration.rowCount() == 0
