"""Events: the session's event log, newest at the bottom, and a marker at the current time."""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from raphe.gui.app.widgets import ALARM, DRUG, MARKER, NoWheelComboBox, clock

COLUMNS = ("min", "clock", "kind", "source", "text")
#: The filter choices: name → kinds shown (None: all).
FILTERS = {
    "all events": None,
    "drugs, markers, prompts": {"drug", "marker", "prompt", "phase"},
    "alarms and faults": {"alarm", "perfusion", "gap"},
}
COLOURS = {"drug": DRUG, "marker": MARKER, "prompt": MARKER, "alarm": ALARM,
           "perfusion": ALARM, "gap": ALARM}


class EventTable(QAbstractTableModel):
    """The model's events as a table (appended rows only; reset with the model)."""

    def __init__(self, model) -> None:
        super().__init__()
        self.model = model
        self._rows = len(model.events)
        model.changed.connect(self._on_model)

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._rows

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        event = self.model.events[index.row()]
        col = COLUMNS[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole and col == "text":
            return event.text
        if role == Qt.ItemDataRole.DisplayRole:
            if col == "min":
                return f"{event.t / 60:.2f}"
            if col == "clock":
                return clock(self.model.wall_of(index.row()))
            return getattr(event, col)
        recovered = event.kind == "alarm" and ("reconnected" in event.text
                                                or event.text.startswith("acknowledged"))
        if role == Qt.ItemDataRole.ForegroundRole and event.kind in COLOURS and not recovered:
            return QBrush(QColor(COLOURS[event.kind]))
        if role == Qt.ItemDataRole.UserRole:
            return event.kind
        return None

    def _on_model(self, kinds) -> None:
        if "reset" in kinds:
            self.beginResetModel()
            self._rows = len(self.model.events)
            self.endResetModel()
        elif "events" in kinds and len(self.model.events) > self._rows:
            self.beginInsertRows(QModelIndex(), self._rows, len(self.model.events) - 1)
            self._rows = len(self.model.events)
            self.endInsertRows()


class _KindFilter(QSortFilterProxyModel):
    def __init__(self) -> None:
        super().__init__()
        self.kinds: set[str] | None = None

    def set_kinds(self, kinds: set[str] | None) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt >= 6.10
            self.beginFilterChange()
            self.kinds = kinds
            self.endFilterChange()
        else:
            self.kinds = kinds
            self.invalidateFilter()

    def filterAcceptsRow(self, row: int, parent: QModelIndex) -> bool:
        if self.kinds is None:
            return True
        index = self.sourceModel().index(row, 0, parent)
        return self.sourceModel().data(index, Qt.ItemDataRole.UserRole) in self.kinds


class EventsPanel(QWidget):
    """See the module docstring. ``mark_requested(text)`` asks the run for a marker."""

    mark_requested = Signal(str)

    def __init__(self, model, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.table_model = EventTable(model)
        self.proxy = _KindFilter()
        self.proxy.setSourceModel(self.table_model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        for i, width in enumerate((70, 70, 80, 80)):
            header.setSectionResizeMode(i, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(i, width)
        header.setStretchLastSection(True)
        # compact rows: three at least in view (on a 768-pixel screen), more as the dock grows
        rows = self.fontMetrics().height() + 4
        self.table.verticalHeader().setDefaultSectionSize(rows)
        self.table.verticalHeader().setMinimumSectionSize(rows)
        self.table.setMinimumHeight(header.sizeHint().height() + 3 * rows + 4)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.filter_box = NoWheelComboBox()
        self.filter_box.addItems(list(FILTERS))
        self.filter_box.currentTextChanged.connect(
            lambda name: self.proxy.set_kinds(FILTERS[name]))
        self.marker_edit = QLineEdit()
        self.marker_edit.setPlaceholderText("marker text, e.g. 'animal moved'")
        self.marker_button = QPushButton("Add marker")
        self.marker_button.setToolTip("Add a marker with this text at the current time (Ctrl+M)")
        self.marker_button.clicked.connect(self._mark)
        self.marker_edit.returnPressed.connect(self._mark)
        self.set_can_mark(False)
        bar = QHBoxLayout()
        bar.addWidget(self.marker_edit, 1)
        bar.addWidget(self.marker_button)
        bar.addWidget(self.filter_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addWidget(self.table)
        self.table_model.rowsInserted.connect(lambda *_: self._scroll())

    def set_can_mark(self, on: bool) -> None:
        """Markers go into a running session only (a replay never changes its file)."""
        self.marker_edit.setEnabled(on)
        self.marker_button.setEnabled(on)

    def focus_marker(self) -> None:
        if self.marker_edit.isEnabled():
            self.marker_edit.setFocus()
            self.marker_edit.selectAll()

    def _mark(self) -> None:
        text = self.marker_edit.text().strip()
        if not text or not self.marker_button.isEnabled():
            return
        self.mark_requested.emit(text)
        self.marker_edit.clear()

    def _scroll(self) -> None:
        """Keep the newest event in view, unless the operator is looking at one."""
        if not self.table.selectionModel().hasSelection():
            self.table.scrollToBottom()
