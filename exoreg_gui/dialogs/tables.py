"""Small read-only tables for the workflow dialogs: the first rows of a result file, sortable.

Numbers are shown rounded, sorted by their raw value (before any text) and given in full in
the tooltip; they are right-aligned. Files are read on a worker thread (:func:`read_head`); the
table only displays the rows it is given, from a model that formats a row when a view first
asks for it (no item object per cell) and columns sized from the first rows, so showing
thousands of rows costs the window what painting the visible ones costs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, Qt
from PySide6.QtGui import QStandardItemModel
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


def _sort_key(value: Any) -> tuple[int, float, str]:
    """What :meth:`HeadModel.sort` orders a raw value by: numbers by value, before any text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return 0, float(value), ""
    return 1, 0.0, "" if value is None else str(value)


_RIGHT = int((Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter).value)
#: The part of a formatted cell each role reads (other roles: nothing, answered at once).
_ROLE_PART = {int(Qt.ItemDataRole.DisplayRole): 0, int(SortRole): 1, int(Qt.ItemDataRole.ToolTipRole): 2}
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
_DISPLAY = int(Qt.ItemDataRole.DisplayRole)


class HeadModel(QAbstractTableModel):
    """The rows of a :class:`HeadTable` (or another view), no item object per cell.

    The raw rows are kept as given; a row's cells are formatted the first time a view asks for
    one of them, so handing over thousands of rows costs the window nothing until they are
    scrolled into view (a view asks only for the rows it paints).
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self.columns: list[str] = []
        self.rows: list[list[Any]] = []
        self._formatted: dict[int, list[tuple[str, Any, str | None, bool]]] = {}

    def set_rows(self, columns: list[str], rows: list[list[Any]]) -> None:
        self.beginResetModel()
        self.columns = [str(c) for c in columns]
        self.rows = list(rows)
        self._formatted = {}
        self.endResetModel()

    def row_cells(self, row: int) -> list[tuple[str, Any, str | None, bool]]:
        """``(text, sort value, tooltip, is a number)`` of each cell of ``row``, formatted once."""
        cells = self._formatted.get(row)
        if cells is None:
            cells = self._formatted[row] = [_cell(v) for v in self.rows[row]]
        return cells

    def formatted_rows(self) -> int:
        """How many rows have been formatted so far (the rows a view has asked for)."""
        return len(self._formatted)

    def rowCount(self, parent=None) -> int:  # noqa: N802 - Qt override
        return 0 if parent is not None and parent.isValid() else len(self.rows)

    def columnCount(self, parent=None) -> int:  # noqa: N802 - Qt override
        return 0 if parent is not None and parent.isValid() else len(self.columns)

    def data(self, index, role=_DISPLAY):
        part = _ROLE_PART.get(role)
        if part is None and role != _ALIGNMENT or not index.isValid():
            return None
        row = self.row_cells(index.row())
        column = index.column()
        if column >= len(row):
            return None
        cell = row[column]
        if part is None:  # the alignment: numbers to the right
            return _RIGHT if cell[3] else None
        return cell[part]

    def headerData(self, section, orientation, role=_DISPLAY):  # noqa: N802 - Qt override
        if role != _DISPLAY:
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
            return _sort_key(row[column]) if column < len(row) else (1, 0.0, "")

        self.rows.sort(key=key, reverse=order == Qt.SortOrder.DescendingOrder)
        self._formatted = {}
        self.layoutChanged.emit()


class HeadTable(QTableView):
    """A sortable, read-only table of a few rows."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.table_model = HeadModel(self)
        self.setModel(self.table_model)
        # The row numbers come from a model of Qt's own: the header measures up to 200 of its
        # sections each time the view is laid out, which through the Python model is thousands
        # of calls (tens of milliseconds) whenever the results are shown.
        self.row_numbers = QStandardItemModel(self)
        self.verticalHeader().setModel(self.row_numbers)
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
        model = self.table_model
        if not rows and not model.rows and [str(c) for c in columns] == model.columns:
            return  # empty before and after (a file without rejects): nothing to lay out again
        self.setSortingEnabled(False)
        model.set_rows(columns, rows)
        self.row_numbers.setRowCount(model.rowCount())
        self.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.setSortingEnabled(True)
        # Widths from the texts of the first rows: asking the view (resizeColumnsToContents, a
        # ResizeToContents header) would format and measure every cell of every row.
        text = self.fontMetrics()
        bold = self.horizontalHeader().fontMetrics()
        cells = [self.table_model.row_cells(r) for r in range(min(SIZE_ROWS, self.table_model.rowCount()))]
        for column, name in enumerate(self.table_model.columns):
            widest = max([text.horizontalAdvance(row[column][0]) for row in cells if column < len(row)] or [0])
            widest = max(widest, bold.horizontalAdvance(name) + 18)  # room for the sort arrow
            self.setColumnWidth(column, min(220, max(70, widest + 12)))

    def column_values(self, column: int) -> list[str]:
        return [self.table_model.index(r, column).data() for r in range(self.table_model.rowCount())]
