"""Study: several sessions as one study — the groups' time courses, AUC per animal, the
statistics — and its figure and table exported.

A dialog beside the main window (File ▸ Study…), independent of the session on screen:
add sessions (files or a folder) and, optionally, a study config (``docs/studies.md``),
then Analyse. The work runs on a thread of its own (a live run's display is never held up);
the dialog draws what ``raphe.acquisition.study`` computed — the same numbers as
``raphe study`` — and never writes a session. Exports: the publication figure (PNG, SVG or
PDF, drawn by matplotlib as the command line draws it), the tidy table (CSV or Parquet),
or the whole study folder (table, summaries, JSON, report, figure).
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from raphe.gui.app.plots import plot_widget

FIGURE_FILTER = "PNG image (*.png);;SVG vector drawing (*.svg);;PDF document (*.pdf)"
TABLE_FILTER = "CSV table (*.csv);;Parquet table (*.parquet)"


class _Relay(QObject):
    """Carries the worker thread's outcome to the GUI thread (queued)."""

    finished = Signal(object, object)  # (study, result) or (None, error text)


class StudyDialog(QDialog):
    """See the module docstring."""

    _open: StudyDialog | None = None

    @classmethod
    def show_for(cls, parent: QWidget | None) -> StudyDialog:
        """The one study dialog of the window, raised (created the first time)."""
        if cls._open is None or cls._open.parent() is not parent:
            cls._open = cls(parent)
        cls._open.show()
        cls._open.raise_()
        cls._open.activateWindow()
        return cls._open

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Study")
        self.setModal(False)
        self.resize(1180, 780)
        self.study = None
        self.result = None
        self.config_path: str | None = None
        self._busy = False
        self._relay = _Relay()
        self._relay.finished.connect(self._on_finished)

        self.sessions = QListWidget()
        self.sessions.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.sessions.setMaximumHeight(90)
        add = QPushButton("Add sessions…")
        add.clicked.connect(self.add_files)
        folder = QPushButton("Add folder…")
        folder.clicked.connect(self.add_folder)
        remove = QPushButton("Remove")
        remove.clicked.connect(self.remove_selected)
        config = QPushButton("Config…")
        config.clicked.connect(self.choose_config)
        self.config_label = QLabel("groups from each session's metadata")
        self.analyse_button = QPushButton("Analyse")
        self.analyse_button.setDefault(True)
        self.analyse_button.clicked.connect(self.analyse)
        buttons = QHBoxLayout()
        for b in (add, folder, remove, config):
            buttons.addWidget(b)
        buttons.addWidget(self.config_label, 1)
        buttons.addWidget(self.analyse_button)

        self.course = plot_widget(("time after drug", "min"), ("% of baseline", ""),
                                  name="study time course")
        self.auc = plot_widget(("group", ""), ("AUC of % baseline − 100", "%·min"),
                               name="study AUC")
        self.course.addLegend(offset=(8, 8))
        plots = QSplitter(Qt.Orientation.Horizontal)
        plots.addWidget(self.course)
        plots.addWidget(self.auc)
        plots.setStretchFactor(0, 3)
        plots.setStretchFactor(1, 2)
        self.statistics = QTextBrowser()
        self.statistics.setOpenExternalLinks(False)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(plots)
        split.addWidget(self.statistics)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)

        self.status = QLabel("Add sessions, then Analyse.")
        self.status.setWordWrap(True)
        self.export_figure_button = QPushButton("Export figure…")
        self.export_figure_button.clicked.connect(self.export_figure)
        self.export_table_button = QPushButton("Export table…")
        self.export_table_button.clicked.connect(self.export_table)
        self.write_button = QPushButton("Write study folder…")
        self.write_button.clicked.connect(self.write_folder)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        for b in (self.export_figure_button, self.export_table_button, self.write_button):
            b.setEnabled(False)
            bottom.addWidget(b)

        layout = QVBoxLayout(self)
        layout.addWidget(self.sessions)
        layout.addLayout(buttons)
        layout.addWidget(split, 1)
        layout.addLayout(bottom)

    # -- inputs ----------------------------------------------------------------------------

    def paths(self) -> list[str]:
        return [self.sessions.item(i).text() for i in range(self.sessions.count())]

    def add_paths(self, paths) -> None:
        have = set(self.paths())
        for p in paths:
            if str(p) not in have:
                self.sessions.addItem(str(p))
                have.add(str(p))

    def add_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Sessions of the study", "",
                                                "Sessions (*.h5);;All files (*)")
        self.add_paths(files)

    def add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "A folder of sessions")
        if folder:
            self.add_paths([folder])

    def remove_selected(self) -> None:
        for item in self.sessions.selectedItems():
            self.sessions.takeItem(self.sessions.row(item))

    def choose_config(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Study config", "",
                                              "Study config (*.toml);;All files (*)")
        self.set_config(path or None)

    def set_config(self, path: str | None) -> None:
        self.config_path = path
        self.config_label.setText(f"config: {Path(path).name}" if path
                                  else "groups from each session's metadata")

    # -- the work ------------------------------------------------------------------------

    def analyse(self) -> None:
        """Read the sessions and compute the study on a thread; the dialog draws it after."""
        if self._busy:
            return
        sources = self.paths()
        if not sources:
            self.status.setText("Add sessions first.")
            return
        self._busy = True
        self.analyse_button.setEnabled(False)
        self.status.setText(f"Reading {len(sources)} source(s)…")
        config_path = self.config_path

        def work() -> None:
            from raphe.acquisition.study.config import load_config
            from raphe.acquisition.study.study import analyse_study, load_study
            from raphe.errors import RapheError

            try:
                study = load_study(sources, load_config(config_path))
                result = analyse_study(study)
            except RapheError as exc:
                self._relay.finished.emit(None, str(exc))
                return
            except Exception as exc:  # noqa: BLE001 - shown, the window goes on
                self._relay.finished.emit(None, f"{type(exc).__name__}: {exc}")
                return
            self._relay.finished.emit(study, result)

        threading.Thread(target=work, name="raphe-study", daemon=True).start()

    def wait(self, timeout_s: float = 60.0) -> bool:
        """For tests and scripts: process events until the analysis has finished."""
        import time

        from PySide6.QtWidgets import QApplication

        end = time.monotonic() + timeout_s
        while self._busy and time.monotonic() < end:
            QApplication.processEvents()
            time.sleep(0.01)
        return not self._busy

    def _on_finished(self, study, result) -> None:
        self._busy = False
        self.analyse_button.setEnabled(True)
        if study is None:
            self.status.setText(f"Not analysed: {result}")
            for b in (self.export_figure_button, self.export_table_button, self.write_button):
                b.setEnabled(False)
            return
        self.study, self.result = study, result
        self.draw()
        for b in (self.export_figure_button, self.export_table_button, self.write_button):
            b.setEnabled(True)

    # -- drawing -------------------------------------------------------------------------

    def draw(self) -> None:
        from raphe.acquisition.study.figures import MARKERS, colours
        from raphe.acquisition.study.study import report

        study, result = self.study, self.result
        colour = colours(study.groups, study.vehicle)
        symbols = {"o": "o", "s": "s", "^": "t1", "D": "d", "v": "t", "P": "+", "X": "x",
                   "h": "h"}
        self.course.clear()
        legend = self.course.getPlotItem().legend
        if legend is not None:
            legend.clear()
        self.course.addItem(pg.InfiniteLine(0.0, angle=90, pen=pg.mkPen("#444444", width=1,
                                                                         style=Qt.PenStyle.DashLine)))
        self.course.addItem(pg.InfiniteLine(100.0, angle=0, pen=pg.mkPen("#aaaaaa", width=1,
                                                                           style=Qt.PenStyle.DotLine)))
        course = result.timecourse
        for i, g in enumerate(study.groups):
            sub = course[course["group"] == g].sort_values("bin")
            if not len(sub):
                continue
            x = sub["time_min"].to_numpy(float)
            y = sub["mean_pct"].to_numpy(float)
            sem = np.nan_to_num(sub["sem_pct"].to_numpy(float))
            c = QColor(colour[g])
            n = int(sub["n"].max())
            self.course.addItem(pg.ErrorBarItem(x=x, y=y, top=sem, bottom=sem, beam=2.0,
                                                pen=pg.mkPen(c, width=1)))
            self.course.plot(x, y, pen=pg.mkPen(c, width=2),
                             symbol=symbols[MARKERS[i % len(MARKERS)]], symbolSize=7,
                             symbolBrush=c, symbolPen=c, name=f"{g} (n = {n})")
        self.auc.clear()
        animals = result.animals
        rng = np.random.default_rng(0)
        ticks = []
        for i, g in enumerate(study.groups):
            sub = animals[(animals["group"] == g)]
            c = QColor(colour[g])
            inc = sub[~sub["excluded"]]["auc_pct_min"].to_numpy(float)
            inc = inc[np.isfinite(inc)]
            exc = sub[sub["excluded"]]["auc_pct_min"].to_numpy(float)
            exc = exc[np.isfinite(exc)]
            if len(inc):
                self.auc.plot(i + rng.uniform(-0.12, 0.12, len(inc)), inc, pen=None,
                              symbol=symbols[MARKERS[i % len(MARKERS)]], symbolSize=7,
                              symbolBrush=c, symbolPen=c)
                mean = float(inc.mean())
                sem = float(inc.std(ddof=1) / math.sqrt(len(inc))) if len(inc) > 1 else 0.0
                self.auc.addItem(pg.ErrorBarItem(x=np.array([i + 0.3]), y=np.array([mean]),
                                                 top=np.array([sem]), bottom=np.array([sem]),
                                                 beam=0.15, pen=pg.mkPen("k", width=1.5)))
                self.auc.plot([i + 0.2, i + 0.4], [mean, mean], pen=pg.mkPen("k", width=2))
            if len(exc):
                self.auc.plot(i + rng.uniform(-0.12, 0.12, len(exc)), exc, pen=None,
                              symbol="o", symbolSize=7, symbolBrush=None,
                              symbolPen=pg.mkPen("#999999"))
            short = g.split(" (")[0].replace(" mg/kg", "")  # the legend has the full name
            ticks.append((i, short if len(short) <= 18 else short[:16] + "…"))
        self.auc.getPlotItem().getAxis("bottom").setTicks([ticks])
        self.auc.addItem(pg.InfiniteLine(0.0, angle=0, pen=pg.mkPen("#aaaaaa", width=1,
                                                                     style=Qt.PenStyle.DotLine)))
        self.auc.getPlotItem().setXRange(-0.6, len(study.groups) - 0.4)
        self.statistics.setMarkdown(report(study, result))
        st = result.statistics
        inter = next((t for t in st["omnibus"] if t["effect"] == "treatment × time"), None)
        line = f"{len(study.sessions)} sessions, {len(study.groups)} groups; {st['model']}"
        if inter is not None:
            from raphe.acquisition.study.study import format_test

            line += f": {format_test(inter).split(': ', 1)[1]}"
        self.status.setText(line)

    # -- exports -------------------------------------------------------------------------

    def _ask(self, title: str, suggested: str, filters: str) -> Path | None:
        from raphe.gui.app.export import _ask, free_path

        return _ask(self, title, free_path(Path.cwd() / suggested), filters)

    def export_figure(self, path: str | Path | None = None) -> Path | None:
        """The publication figure (PNG, SVG or PDF, by the file's suffix)."""
        if self.study is None:
            return None
        path = Path(path) if path else self._ask("Export the study figure", "study-figure.png",
                                                 FIGURE_FILTER)
        if path is None:
            return None
        from raphe.acquisition.study.figures import study_figure

        try:
            study_figure(self.study, self.result).savefig(path, dpi=300)
        except (OSError, ValueError) as exc:
            QMessageBox.warning(self, "Export", f"{path.name} could not be written:\n{exc}")
            return None
        self.status.setText(f"Figure written: {path}")
        return path

    def export_table(self, path: str | Path | None = None) -> Path | None:
        """The tidy table (one row per animal × sample), CSV or Parquet by the suffix."""
        if self.study is None:
            return None
        path = Path(path) if path else self._ask("Export the study table", "study-table.csv",
                                                 TABLE_FILTER)
        if path is None:
            return None
        try:
            if path.suffix.lower() == ".parquet":
                self.study.table.to_parquet(path, engine="pyarrow", index=False)
            else:
                self.study.table.to_csv(path, index=False, float_format="%.6g")
        except (OSError, ValueError) as exc:
            QMessageBox.warning(self, "Export", f"{path.name} could not be written:\n{exc}")
            return None
        self.status.setText(f"Table written: {path}")
        return path

    def write_folder(self, folder: str | Path | None = None) -> Path | None:
        """Everything ``raphe study --out`` writes, into a new (or empty) folder."""
        if self.study is None:
            return None
        if folder is None:
            chosen = QFileDialog.getExistingDirectory(self, "A new or empty folder for the study")
            if not chosen:
                return None
            folder = chosen
        from raphe.acquisition.study.study import write_study
        from raphe.errors import RapheError

        try:
            write_study(self.study, self.result, folder)
        except (RapheError, OSError) as exc:
            QMessageBox.warning(self, "Study", str(exc))
            return None
        self.status.setText(f"Study written to {folder}")
        return Path(folder)
