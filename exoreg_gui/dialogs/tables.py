"""Small read-only tables for the workflow dialogs: the first rows of a result file, sortable.

Numbers are shown rounded, sorted by their raw value (before any text) and given in full in
the tooltip; they are right-aligned. Files are read on a worker thread (:func:`read_head`); the
table only displays the rows it is given, from a model that formats each cell once (no item
object per cell), so showing 200 rows costs the window a few milliseconds.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

#: Raw value of a cell, used for sorting.
SortRole = Qt.ItemDataRole.UserRole + 1
#: Rows looked at to size the columns.
SIZE_ROWS = 40


def read_head(path: str | Path, rows: int = 200) -> tuple[list[str], list[list[Any]]]:
    """The columns and first ``rows`` rows of a CSV or Parquet file (runs on a worker thread)."""
    path = Path(path)
    if path.name.lower().endswith((".parquet", ".pq")):
        import pyarrow.parquet as pq

        source = pq.ParquetFile(path)
        batch = next(source.iter_batches(batch_size=rows), None)
        columns = list(source.schema_arrow.names)
        return columns, [list(r.values()) for r in batch.to_pylist()] if batch is not None else []
    import pandas as pd

    frame = pd.read_csv(path, nrows=rows, keep_default_na=False, na_values=[""])
    values = [[None if (isinstance(v, float) and math.isnan(v)) else v for v in row]
              for row in frame.itertuples(index=False, name=None)]
    return [str(c) for c in frame.columns], values


def _cell(value: Any) -> tuple[str, Any, str | None, bool]:
    """``(text, sort value, tooltip, is a number)`` of one cell."""
    if isinstance(value, bool) or value is None:
        text = "" if value is None else str(value)
        return text, text, None, False
    if isinstance(value, int | float):
        number = float(value)
        text = str(int(value)) if isinstance(value, int) or number.is_integer() and abs(number) < 1e15 \
            else f"{number:.4f}"
        return text, number, repr(value), True
    return str(value), str(value), None, False


_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


class HeadModel(QAbstractTableModel):
    """The rows of a :class:`HeadTable` (or another view): cells formatted once, no item object per cell."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.columns: list[str] = []
        self.cells: list[list[tuple[str, Any, str | None, bool]]] = []

    def set_rows(self, columns: list[str], rows: list[list[Any]]) -> None:
        self.beginResetModel()
        self.columns = [str(c) for c in columns]
        self.cells = [[_cell(v) for v in row] for row in rows]
        self.endResetModel()

    def rowCount(self, parent=None) -> int:  # noqa: N802 - Qt override
        return 0 if parent is not None and parent.isValid() else len(self.cells)

    def columnCount(self, parent=None) -> int:  # noqa: N802 - Qt override
        return 0 if parent is not None and parent.isValid() else len(self.columns)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row = self.cells[index.row()]
        if index.column() >= len(row):
            return None
        text, key, tip, number = row[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return text
        if role == SortRole:
            return key
        if role == Qt.ItemDataRole.ToolTipRole:
            return tip
        if role == Qt.ItemDataRole.TextAlignmentRole and number:
            return int(_RIGHT.value)
        return None

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802 - Qt override
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return self.columns[section] if 0 <= section < len(self.columns) else None
        return str(section + 1)

    def flags(self, index):
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable if index.isValid() else Qt.ItemFlag.NoItemFlags

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(self.columns):
            return
        self.layoutAboutToBeChanged.emit()

        def key(row):
            value = row[column][1] if column < len(row) else ""
            return (0, value, "") if isinstance(value, float) else (1, 0.0, str(value))

        self.cells.sort(key=key, reverse=order == Qt.SortOrder.DescendingOrder)
        self.layoutChanged.emit()


class HeadTable(QTableView):
    """A sortable, read-only table of a few rows."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.table_model = HeadModel(self)
        self.setModel(self.table_model)
        self.setSortingEnabled(True)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.verticalHeader().setDefaultSectionSize(22)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)

    def set_rows(self, columns: list[str], rows: list[list[Any]]) -> None:
        self.setSortingEnabled(False)
        self.table_model.set_rows(columns, rows)
        self.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.setSortingEnabled(True)
        # Widths from the texts themselves: asking the view would call data() for every role of every cell.
        text = self.fontMetrics()
        bold = self.horizontalHeader().fontMetrics()
        cells = self.table_model.cells[:SIZE_ROWS]
        for column, name in enumerate(self.table_model.columns):
            widest = max([text.horizontalAdvance(row[column][0]) for row in cells if column < len(row)] or [0])
            widest = max(widest, bold.horizontalAdvance(name) + 18)  # room for the sort arrow
            self.setColumnWidth(column, min(220, max(70, widest + 12)))

    def column_values(self, column: int) -> list[str]:
        return [self.table_model.index(r, column).data() for r in range(self.table_model.rowCount())]
