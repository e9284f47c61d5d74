"""The summary figure of a session as a PNG: the 5-HT time course with its drug markers beside
one chromatogram with its integration — the same panels as the window, drawn offscreen.

``raphe demo --headless`` (or without a display) saves it next to the session.
The caller makes Qt render offscreen before Qt is imported
(:func:`raphe.gui.app.display.render_offscreen`).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from raphe.gui.app.app import application
from raphe.gui.app.model import SessionModel
from raphe.gui.app.panels.chromatogram import ChromatogramPanel
from raphe.gui.app.panels.timecourse import UNITS, TimeCoursePanel
from raphe.gui.app.replay_session import ReplaySession


def free_path(path: Path) -> Path:
    """``path``, or ``name-2.png``, ``name-3.png``… when it exists (nothing is overwritten)."""
    if not path.exists():
        return path
    for i in range(2, 10_000):
        candidate = path.with_name(f"{path.stem}-{i}{path.suffix}")
        if not candidate.exists():
            return candidate
    raise FileExistsError(path)


def save_summary(session: str | Path, png: str | Path, size: tuple[int, int] = (1500, 560),
                 analyte: str = "5-HT") -> Path:
    """Draw the summary of ``session`` into ``png`` (a new file; see :func:`free_path`)."""
    application()
    png = free_path(Path(png))
    model = SessionModel()
    replay = ReplaySession(session, model)
    try:
        replay.wait_analysed(300)
        replay.bridge.drain()
        figure = QWidget()
        figure.setStyleSheet("background: white;")
        course = TimeCoursePanel(model, controls=False)
        if analyte in model.analytes():
            course.analyte_box.setCurrentText(analyte)
        course.unit_box.setCurrentText(UNITS[1])
        course.redraw()
        chrom = ChromatogramPanel(model, controls=False)
        samples = [v for v in model.chromatograms if v.injection.kind == "sample"]
        if samples:
            chrom.select(samples[-1].sample_id)
            chrom.redraw()
        title = QLabel(_title(model, replay))
        title.setTextFormat(Qt.TextFormat.RichText)
        title.setStyleSheet("font-size: 13pt; padding: 4px;")
        row = QHBoxLayout()
        row.addWidget(course, 1)
        row.addWidget(chrom, 1)
        layout = QVBoxLayout(figure)
        layout.addWidget(title)
        layout.addLayout(row)
        figure.resize(*size)
        figure.show()
        for _ in range(3):
            QApplication.processEvents()
        if not figure.grab().save(str(png)):
            raise OSError(f"could not write {png}")
        figure.close()
        return png
    finally:
        replay.close()


def _title(model, replay) -> str:
    meta = model.meta
    drugs = [e.text for e in model.events if e.kind == "drug"]
    who = meta.get("animal_id") or ""
    protocol = meta.get("protocol", {}).get("name") or "session"
    parts = [f"<b>{protocol}</b>", who, ", ".join(drugs)]
    return " · ".join(p for p in parts if p) + f" · <span style='color:#666'>{replay.path.name}" \
        "</span>"
