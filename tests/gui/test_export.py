"""Nothing stays in the window: every plot to PNG (300 dpi), SVG and PDF, the time course's
table to CSV, the one-page summary to a file or a printer — each file read back."""

from __future__ import annotations

import csv
import math
import re
import xml.etree.ElementTree as ET

import pytest
from PySide6.QtGui import QImage

from raphe.gui.app import export
from raphe.gui.app.summary import PAGE, print_summary, save_summary, write_summary

from gui_helpers import WAIT_MS


@pytest.fixture
def replayed_window(qtbot, window, recorded_session):
    replay = window.open_session(recorded_session)
    assert replay is not None
    qtbot.waitUntil(lambda: len(window.model.chromatograms) == len(window.model.injections),
                    timeout=WAIT_MS)
    window.chromatogram_panel.redraw()
    window.timecourse_panel.redraw()
    return window


def pdf_pages(path) -> int:
    data = path.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    return len(re.findall(rb"/Type\s*/Page\b", data))


def svg_root(path):
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    return root


def png(path) -> QImage:
    image = QImage(str(path))
    assert not image.isNull()
    return image


def test_every_plot_exports_as_png_svg_and_pdf(qtbot, replayed_window, tmp_path):
    w = replayed_window
    scale = export.DPI / export.SCREEN_DPI
    for panel in (w.trace_panel, w.timecourse_panel, w.chromatogram_panel):
        plot = panel.plot
        stem = tmp_path / plot.name.replace(" ", "-")
        image = png(export.save_plot(plot, stem.with_suffix(".png")))
        assert image.width() == round(plot.width() * scale)
        assert image.height() == round(plot.height() * scale)
        assert round(image.dotsPerMeterX() * 0.0254) == export.DPI
        # drawn, not blank: the signal's colour is in it
        assert len({image.pixel(x, y) for x in range(0, image.width(), 11)
                    for y in range(0, image.height(), 11)}) > 20
        root = svg_root(export.save_plot(plot, stem.with_suffix(".svg")))
        assert len(list(root.iter())) > 50
        assert pdf_pages(export.save_plot(plot, stem.with_suffix(".pdf"))) == 1
        # the same on the plot's right-click menu
        texts = [a.text() for a in plot.build_menu().actions()]
        assert any(t.startswith("Export figure") for t in texts), texts
    assert "Export table (CSV)…" in [a.text() for a in
                                     w.timecourse_panel.plot.build_menu().actions()]


def test_the_time_course_table_is_the_analysis_numbers(qtbot, replayed_window, tmp_path):
    w = replayed_window
    path = export.save_table(w.model, tmp_path / "course.csv")
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == export.TABLE_HEADER
    samples = {i.sample_id for i in w.model.injections if i.kind == "sample"}
    body = rows[1:]
    assert {r[0] for r in body} == samples
    five = [r for r in body if r[4] == "5-HT"]
    by_id = {p.sample_id: p for p in w.timecourse_panel.points}
    for r in five:
        result = next(x for x in w.model.results if x.sample_id == r[0] and x.analyte == "5-HT")
        assert float(r[5]) == pytest.approx(result.conc_nM, rel=1e-5)
        assert float(r[3]) == pytest.approx(by_id[r[0]].x_min, rel=1e-5)
        if math.isfinite(result.pct_baseline):
            assert float(r[7]) == pytest.approx(result.pct_baseline, rel=1e-4)


def test_the_summary_page_is_one_code_path_to_png_svg_pdf_and_the_printer(qtbot, window,
                                                                          replayed_window,
                                                                          recorded_session,
                                                                          tmp_path):
    from PySide6.QtPrintSupport import QPrinter

    model = replayed_window.model
    image = png(write_summary(model, tmp_path / "summary.png"))
    scale = export.DPI / export.SCREEN_DPI
    assert (image.width(), image.height()) == (round(PAGE[0] * scale), round(PAGE[1] * scale))
    svg = svg_root(write_summary(model, tmp_path / "summary.svg"))
    text = " ".join(t.text or "" for t in svg.iter() if t.text)
    assert "Parameters" in text and "Events" in text and "fluoxetine" in text
    assert pdf_pages(write_summary(model, tmp_path / "summary.pdf")) == 1
    printer = QPrinter(QPrinter.PrinterMode.ScreenResolution)
    printer.setOutputFormat(QPrinter.OutputFormat.PdfFormat)
    printer.setOutputFileName(str(tmp_path / "printed.pdf"))
    print_summary(model, printer)
    assert pdf_pages(tmp_path / "printed.pdf") == 1
    # what raphe demo --headless writes: the same page, never over an existing file
    first = save_summary(recorded_session, tmp_path / "demo-summary.png")
    second = save_summary(recorded_session, tmp_path / "demo-summary.png")
    assert first.name == "demo-summary.png" and second.name == "demo-summary-2.png"
    assert png(first).width() == image.width()
