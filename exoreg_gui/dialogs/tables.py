"""Small read-only tables for the workflow dialogs: the first rows of a result file, sortable.

Numbers are shown rounded, sorted by their raw value and given in full in the tooltip; they
are right-aligned. Files are read on a worker thread (:func:`read_head`); the table only
displays the rows it is given.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

#: Raw value of a cell, used for sorting.
SortRole = Qt.ItemDataRole.UserRole + 1


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


def _cell(value: Any) -> QStandardItem:
    item = QStandardItem()
    item.setEditable(False)
    if isinstance(value, bool) or value is None:
        item.setText("" if value is None else str(value))
        item.setData("" if value is None else str(value), SortRole)
    elif isinstance(value, int | float):
        number = float(value)
        text = str(int(value)) if isinstance(value, int) or number.is_integer() and abs(number) < 1e15 \
            else f"{number:.4f}"
        item.setText(text)
        item.setData(number, SortRole)
        item.setToolTip(repr(value))
        item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    else:
        item.setText(str(value))
        item.setData(str(value), SortRole)
    return item


class HeadTable(QTableView):
    """A sortable, read-only table of a few rows."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.table_model = QStandardItemModel(self)
        self.table_model.setSortRole(SortRole)
        self.setModel(self.table_model)
        self.setSortingEnabled(True)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.verticalHeader().setDefaultSectionSize(22)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.horizontalHeader().setStretchLastSection(True)

    def set_rows(self, columns: list[str], rows: list[list[Any]]) -> None:
        self.setSortingEnabled(False)
        self.table_model.clear()
        self.table_model.setHorizontalHeaderLabels(columns)
        for row in rows:
            self.table_model.appendRow([_cell(v) for v in row])
        self.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.setSortingEnabled(True)
        self.resizeColumnsToContents()
        for column in range(len(columns)):
            self.setColumnWidth(column, min(220, max(70, self.columnWidth(column))))

    def column_values(self, column: int) -> list[str]:
        return [self.table_model.index(r, column).data() for r in range(self.table_model.rowCount())]
