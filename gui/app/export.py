"""Export and print: each plot as PNG (300 dpi), SVG or PDF, the time course's table as CSV,
and the one-page summary of the session (:mod:`raphe.gui.app.summary`) to a file or a
printer.

One code path for every figure: the widget (a plot, or the summary page) draws itself
into the paint device the format needs — an SVG generator or a PDF page at 96 dpi
(vectors and text), a 300 dpi image (its device pixel ratio scales text and symbols; the
plots' one-pixel lines are widened in proportion for the time being, or they would be
hairlines), or the printer's page. Figures are drawn in the light theme whatever the
window's, without the plots' on-screen buttons. Files the window names itself
(:func:`free_path`) are always new; a file chosen in a save dialog is replaced only after
that dialog asked.
"""

from __future__ import annotations

import contextlib
import csv
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QMarginsF, QPoint, QRect, QRectF, QSizeF
from PySide6.QtGui import QColor, QImage, QPageLayout, QPageSize, QPainter, QPdfWriter, QPen
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QApplication, QWidget

from raphe.acquisition.analysis import flags as fl
from raphe.gui.app import theme

#: Raster figures: dots per inch (journals ask for 300 at least).
DPI = 300
SCREEN_DPI = 96
FIGURE_FORMATS = (("PNG image, 300 dpi", "png"), ("SVG vector drawing", "svg"),
                  ("PDF document", "pdf"))
FILTER = ";;".join(f"{name} (*.{ext})" for name, ext in FIGURE_FORMATS)


def free_path(path: Path) -> Path:
    """``path``, or ``name-2.png``, ``name-3.png``… when it exists (nothing is overwritten)."""
    if not path.exists():
        return path
    for i in range(2, 10_000):
        candidate = path.with_name(f"{path.stem}-{i}{path.suffix}")
        if not candidate.exists():
            return candidate
    raise FileExistsError(path)


def plots_in(widget: QWidget) -> list[pg.PlotWidget]:
    if isinstance(widget, pg.PlotWidget):
        return [widget]
    return widget.findChildren(pg.PlotWidget)


def _thicken(scene, factor: float) -> list[Callable[[], None]]:
    """Widen every cosmetic line of ``scene`` by ``factor``; returns the undo."""
    undo: list[Callable[[], None]] = []

    def wider(pen: QPen) -> QPen:
        out = QPen(pen)
        out.setWidthF(max(pen.widthF(), 1.0) * factor)
        return out

    for item in scene.items():
        if isinstance(item, pg.PlotCurveItem):
            pen = QPen(item.opts["pen"])
            item.setPen(wider(pen))
            undo.append(lambda i=item, p=pen: i.setPen(p))
        elif isinstance(item, pg.InfiniteLine):
            pen = QPen(item.pen)
            item.setPen(wider(pen))
            undo.append(lambda i=item, p=pen: i.setPen(p))
        elif isinstance(item, pg.AxisItem):
            pen, text = QPen(item.pen()), QPen(item.textPen())
            item.setPen(wider(pen))
            item.setTextPen(text)
            undo.append(lambda i=item, p=pen, t=text: (i.setPen(p), i.setTextPen(t)))
        elif hasattr(item, "pen_scale"):
            item.pen_scale = factor
            undo.append(lambda i=item: setattr(i, "pen_scale", 1.0))
    return undo


@contextlib.contextmanager
def prepared(widget: QWidget, pen_scale: float = 1.0) -> Iterator[None]:
    """Draw ``widget``'s plots for a figure for the time being: the light theme, pyqtgraph's
    export mode (no buttons, symbols drawn as vectors), lines widened by ``pen_scale``."""
    from raphe.gui.app.plots import style

    plots = plots_in(widget)
    dark = theme.current() is not theme.LIGHT
    undo: list[Callable[[], None]] = []
    items = []
    for plot in plots:
        if dark:
            style(plot, theme.LIGHT)
        for item in plot.scene().items():
            if isinstance(item, pg.GraphicsItem):
                item.setExportMode(True, {"antialias": True, "background": None,
                                          "painter": None, "resolutionScale": 1.0})
                items.append(item)
        if pen_scale != 1.0:
            undo += _thicken(plot.scene(), pen_scale)
    QApplication.processEvents()
    try:
        yield
    finally:
        for fn in reversed(undo):
            fn()
        for item in items:
            item.setExportMode(False)
        if dark:
            for plot in plots:
                style(plot, theme.current())


# -- the paint devices ---------------------------------------------------------------------

def _fit(painter: QPainter, widget: QWidget, area: QRectF) -> None:
    """Scale and centre ``widget`` into ``area`` of the painter's device (aspect kept)."""
    scale = min(area.width() / max(1, widget.width()), area.height() / max(1, widget.height()))
    painter.translate(area.left() + (area.width() - widget.width() * scale) / 2, area.top())
    painter.scale(scale, scale)


def write_png(widget: QWidget, path: Path, dpi: int = DPI) -> Path:
    scale = dpi / SCREEN_DPI
    image = QImage(round(widget.width() * scale), round(widget.height() * scale),
                   QImage.Format.Format_ARGB32)
    image.setDevicePixelRatio(scale)
    image.fill(QColor("white"))
    with prepared(widget, scale):
        QWidget.render(widget, image)  # (a pyqtgraph view has a render() of its own)
    image.setDevicePixelRatio(1.0)
    per_metre = round(dpi / 0.0254)
    image.setDotsPerMeterX(per_metre)
    image.setDotsPerMeterY(per_metre)
    if not image.save(str(path), "PNG"):
        raise OSError(f"could not write {path}")
    return path


def write_svg(widget: QWidget, path: Path, title: str = "figure") -> Path:
    generator = QSvgGenerator()
    generator.setFileName(str(path))
    generator.setSize(widget.size())
    generator.setViewBox(QRect(0, 0, widget.width(), widget.height()))
    generator.setResolution(SCREEN_DPI)
    generator.setTitle(title)
    generator.setDescription("Raphe")
    painter = QPainter(generator)
    if not painter.isActive():
        raise OSError(f"could not write {path}")
    try:
        with prepared(widget):
            QWidget.render(widget, painter, QPoint(0, 0))
    finally:
        painter.end()
    return path


def paint_page(widget: QWidget, device) -> None:
    """``widget`` on one page of ``device`` (a PDF writer or a printer), as large as the page
    allows; vectors and text."""
    painter = QPainter(device)
    if not painter.isActive():
        raise OSError("the page could not be opened")
    try:
        area = QRectF(device.pageLayout().paintRectPixels(device.resolution()))
        _fit(painter, widget, QRectF(0, 0, area.width(), area.height()))
        pen_scale = device.resolution() / SCREEN_DPI * painter.transform().m11() \
            if device.resolution() > SCREEN_DPI else 1.0
        with prepared(widget, pen_scale):
            QWidget.render(widget, painter, QPoint(0, 0))
    finally:
        painter.end()


def write_pdf(widget: QWidget, path: Path, title: str = "figure", page: bool = False) -> Path:
    """A PDF of the figure: its own size (a plot), or an A4 landscape page (the summary)."""
    writer = QPdfWriter(str(path))
    writer.setTitle(title)
    writer.setCreator("Raphe")
    writer.setResolution(SCREEN_DPI)
    if page:
        writer.setPageLayout(QPageLayout(QPageSize(QPageSize.PageSizeId.A4),
                                         QPageLayout.Orientation.Landscape,
                                         QMarginsF(8, 8, 8, 8)))
    else:
        points = 72 / SCREEN_DPI  # the figure's size on paper as on screen
        writer.setPageSize(QPageSize(QSizeF(widget.width() * points,
                                            widget.height() * points),
                                     QPageSize.Unit.Point, "figure"))
        writer.setPageMargins(QMarginsF(0, 0, 0, 0))
    paint_page(widget, writer)
    return path


def write_figure(widget: QWidget, path: str | Path, title: str = "figure",
                 page: bool = False) -> Path:
    """Write ``widget`` as ``path``'s suffix says: .png (300 dpi), .svg, .pdf."""
    path = Path(path)
    suffix = path.suffix.lower().lstrip(".")
    QApplication.processEvents()
    if suffix == "png":
        return write_png(widget, path)
    if suffix == "svg":
        return write_svg(widget, path, title)
    if suffix == "pdf":
        return write_pdf(widget, path, title, page)
    raise ValueError(f"{path.name}: export as .png, .svg or .pdf")


def save_plot(plot: pg.PlotWidget, path: str | Path) -> Path:
    """One plot of the window, as it is on screen, to ``path`` (.png, .svg, .pdf)."""
    return write_figure(plot, path, getattr(plot, "name", "plot"))


def print_widget(widget: QWidget, printer) -> None:
    """``widget`` (the summary page) on one page of ``printer`` (a ``QPrinter``)."""
    paint_page(widget, printer)


# -- the time course's table ---------------------------------------------------------------

TABLE_HEADER = ("sample", "kind", "inject_time_min", "probe_time_min", "analyte", "conc_nM",
                "area_nA_s", "pct_baseline", "baseline_sample", "used_for_pct_baseline",
                "flags", "flag_meanings")


def _cell(value: float, digits: int = 6) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.{digits}g}"


def timecourse_rows(model) -> list[list[str]]:
    """Every dialysate sample's result, every analyte: what the time course plots, with the
    analysis' own numbers (concentration, area, % of baseline, flags)."""
    rows = []
    for r in sorted(model.results, key=lambda r: (model.probe_t(r), r.analyte)):
        inj = model.injection(r.sample_id)
        kind = inj.kind if inj is not None else "sample"
        if kind != "sample":
            continue
        flags = fl.parse(r.flags)
        used = "" if not math.isfinite(r.pct_baseline) else "yes"
        meanings = "; ".join(fl.BY_NAME[f].meaning if f in fl.BY_NAME else f for f in flags)
        rows.append([r.sample_id, kind, _cell(r.inject_t / 60), _cell(model.probe_t(r) / 60),
                     r.analyte, _cell(r.conc_nM), _cell(r.area), _cell(r.pct_baseline, 5),
                     "yes" if r.baseline else "", used, ";".join(flags), meanings])
    return rows


def save_table(model, path: str | Path) -> Path:
    """The time course's table as CSV (UTF-8, a header row with units)."""
    path = Path(path)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(TABLE_HEADER)
        writer.writerows(timecourse_rows(model))
    return path


# -- asking where --------------------------------------------------------------------------

def default_path(model, what: str, ext: str) -> Path:
    """``<session>-<what>.<ext>`` beside the session on screen (a new name)."""
    path = Path(model.meta.get("path") or "raphe.h5")
    folder = path.parent if str(path.parent) not in ("", ".") else Path.cwd()
    return free_path(folder / f"{path.stem}-{what}.{ext}")


def _ask(parent: QWidget, title: str, suggested: Path, filters: str) -> Path | None:
    from PySide6.QtWidgets import QFileDialog

    chosen, selected = QFileDialog.getSaveFileName(parent, title, str(suggested), filters)
    if not chosen:
        return None
    path = Path(chosen)
    if not path.suffix:  # the filter chosen says which format
        ext = selected.rsplit("*.", 1)[-1].rstrip(")") if "*." in selected else suggested.suffix
        path = path.with_suffix("." + ext.lstrip("."))
    return path


def _report(parent: QWidget, what: str, exc: Exception) -> None:
    from PySide6.QtWidgets import QMessageBox

    QMessageBox.warning(parent, "Export", f"{what} could not be written:\n{exc}")


def ask_plot(parent: QWidget, plot: pg.PlotWidget, model) -> Path | None:
    """Ask where, then save the plot as a figure; the path written (None: cancelled)."""
    path = _ask(parent, f"Export the {plot.name} figure",
                default_path(model, plot.name.replace(" ", "-"), "png"), FILTER)
    if path is None:
        return None
    try:
        return save_plot(plot, path)
    except (OSError, ValueError) as exc:
        _report(parent, path.name, exc)
        return None


def ask_table(parent: QWidget, model) -> Path | None:
    path = _ask(parent, "Export the time course's table", default_path(model, "timecourse",
                                                                       "csv"),
                "CSV table (*.csv)")
    if path is None:
        return None
    try:
        return save_table(model, path)
    except OSError as exc:
        _report(parent, path.name, exc)
        return None
