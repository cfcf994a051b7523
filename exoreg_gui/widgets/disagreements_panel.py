"""The rows where the scored versions predict different labels: the rows a scientist should look at.

One row per disagreement (``core.comparison.curves.disagreements``): the row's identifier where
the file has one, its true label, and every version's predicted label and probabilities. The
table sorts by any column (numbers as numbers, through a :class:`QSortFilterProxyModel`), filters
by text, and exports what it shows, in its order, to CSV with text cells formula-escaped
(:mod:`core.common.cells`).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from core.common.cells import CSV_OPTIONS, escape_row
from exoreg_gui.dialogs.tables import HeadModel, SortRole
from exoreg_gui.resources import icon

_HINT = "Score two or more versions on a labelled file to see the rows where they disagree."


class DisagreementsPanel(QWidget):
    #: The table was exported; carries the path.
    exported = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.columns: list[str] = []
        self.rows: list[list[Any]] = []
        self.table_model = HeadModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.table_model)
        self.proxy.setSortRole(SortRole)
        self.proxy.setFilterKeyColumn(-1)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)

        self.summary_label = QLabel(_HINT, self)
        self.summary_label.setObjectName("metricName")
        self.summary_label.setWordWrap(True)
        self.filter_edit = QLineEdit(self)
        self.filter_edit.setPlaceholderText("Filter rows…")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        self.export_button = QPushButton(icon("save"), "Export CSV…", self)
        self.export_button.setObjectName("disagreementsExport")
        self.export_button.clicked.connect(self._on_export_clicked)

        self.view = QTableView(self)
        self.view.setObjectName("disagreementsTable")
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setDefaultSectionSize(22)
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.view.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)

        bar = QHBoxLayout()
        bar.addWidget(self.summary_label, 1)
        bar.addWidget(self.filter_edit)
        bar.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)
        self._update_enabled()

    # -- public API -------------------------------------------------------------------------------
    def set_rows(self, columns: list[str], rows: list[list[Any]], summary: str = "") -> None:
        """The disagreement rows (raw values: numbers as numbers); ``summary`` says what they are."""
        self.columns = [str(c) for c in columns]
        self.rows = [list(r) for r in rows]
        self.view.setSortingEnabled(False)
        self.table_model.set_rows(self.columns, self.rows)
        self.view.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.proxy.sort(-1)
        self.view.setSortingEnabled(True)
        metrics = self.fontMetrics()
        for column, name in enumerate(self.columns):
            self.view.setColumnWidth(column, min(220, max(70, metrics.horizontalAdvance(name) + 30)))
        self.summary_label.setText(summary or (_HINT if not rows else ""))
        self._update_enabled()

    def shown_rows(self) -> list[list[Any]]:
        """The rows as the table shows them (filtered and sorted), raw values."""
        out = []
        for r in range(self.proxy.rowCount()):
            source = self.proxy.mapToSource(self.proxy.index(r, 0)).row()
            out.append(self.rows[source])
        return out

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, **CSV_OPTIONS)
        writer.writerow(escape_row(self.columns))
        for row in self.shown_rows():
            writer.writerow(escape_row(_csv_value(v) for v in row))
        return buffer.getvalue()

    def export_csv(self, path: str | Path) -> Path:
        from core.common.files import atomic_write_text

        path = Path(path)
        atomic_write_text(path, self.to_csv())
        self.exported.emit(str(path))
        return path

    # -- private ------------------------------------------------------------------------------------
    def _update_enabled(self) -> None:
        has = bool(self.rows)
        self.export_button.setEnabled(has)
        self.filter_edit.setEnabled(has)

    def _on_export_clicked(self) -> None:
        from exoreg_gui.dialogs.common import choose_save_file
        from exoreg_gui.dialogs.messages import Messages

        path = choose_save_file(self, "Export disagreements", "table", "disagreements.csv", "CSV files (*.csv)")
        if not path:
            return
        try:
            self.export_csv(path)
        except Exception as exc:  # noqa: BLE001 - shown to the person, never fatal
            Messages.error(self, "Could not export the disagreements", exc)


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return value
