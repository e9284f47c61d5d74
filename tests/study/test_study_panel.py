"""The Study dialog of the window: sessions in, the groups' time courses, AUC and statistics
drawn, the figure and the table exported."""

from __future__ import annotations

import pandas as pd
import pytest

pytest.importorskip("pytestqt")


@pytest.fixture
def dialog(qtbot):
    from raphe.gui.app.panels.study import StudyDialog

    d = StudyDialog()
    qtbot.addWidget(d)
    d.show()
    return d


def test_the_dialog_draws_the_study_and_exports_it(dialog, study_folder, tmp_path, qtbot):
    dialog.add_paths([str(study_folder)])
    dialog.add_paths([str(study_folder)])  # once only
    assert dialog.paths() == [str(study_folder)]
    dialog.analyse()
    assert dialog.wait(60)
    assert dialog.study is not None and len(dialog.study.groups) == 3
    curves = [i for i in dialog.course.getPlotItem().listDataItems() if i.name()]
    assert len(curves) == 3 and any("fluoxetine" in c.name() for c in curves)
    assert "treatment × time" in dialog.statistics.toPlainText()
    assert "two-way mixed ANOVA" in dialog.status.text()
    dialog.resize(1300, 860)
    qtbot.wait(50)
    dialog.grab().save(str(tmp_path / "study-dialog.png"))
    png = dialog.export_figure(tmp_path / "fig.png")
    assert png is not None and png.stat().st_size > 10_000
    csv = dialog.export_table(tmp_path / "table.csv")
    assert len(pd.read_csv(csv)) == len(dialog.study.table)
    parquet = dialog.export_table(tmp_path / "table.parquet")
    assert len(pd.read_parquet(parquet)) == len(dialog.study.table)
    folder = dialog.write_folder(tmp_path / "study")
    assert (folder / "report.md").exists()


def test_a_bad_source_is_said_in_the_dialog(dialog, tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_text("no")
    dialog.add_paths([str(bad)])
    dialog.analyse()
    assert dialog.wait(30)
    assert dialog.status.text().startswith("Not analysed:") and "bad.h5" in dialog.status.text()
    assert not dialog.export_figure_button.isEnabled()


def test_the_window_opens_it_from_the_file_menu(qtbot, tmp_path):
    from PySide6.QtCore import QSettings

    from raphe.gui.app.window import MainWindow

    w = MainWindow(settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                   folder=tmp_path)
    qtbot.addWidget(w)
    texts = [a.text() for a in w.menuBar().actions()[0].menu().actions()]
    assert "Study of several sessions…" in texts
    d = w.open_study()
    assert d.isVisible() and w.open_study() is d
    d.close()
