"""Filter the registry tree by text (name, algorithm, tag, alias), hide deleted versions, and sort.

Filtering and sorting run in C++ (a regular expression over each version's ``FilterRole`` text,
and the ``SortRole`` numbers), so neither calls back into Python per row. A name is shown when
one of its versions is (recursive filtering); name rows carry no filter text of their own.
"""

from __future__ import annotations

from PySide6.QtCore import QRegularExpression, QSortFilterProxyModel, Qt

from exoreg_gui.models.registry_tree_model import (
    COL_METRIC,
    COL_MODEL,
    FILTER_SEPARATOR,
    FilterRole,
    RegistryTreeModel,
    SortRole,
)

_US = QRegularExpression.escape(FILTER_SEPARATOR)


class RegistryFilterProxy(QSortFilterProxyModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._text = ""
        self._show_deleted = False
        self.setRecursiveFilteringEnabled(True)
        self.setFilterKeyColumn(COL_MODEL)
        self.setFilterRole(FilterRole)
        self.setSortCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self._apply_filter()

    # -- public API ---------------------------------------------------------------------------
    @property
    def filter_text(self) -> str:
        return self._text

    def set_filter_text(self, text: str) -> None:
        text = text.strip().lower()
        if text != self._text:
            self._text = text
            self._apply_filter()

    @property
    def show_deleted(self) -> bool:
        return self._show_deleted

    def set_show_deleted(self, show: bool) -> None:
        if bool(show) != self._show_deleted:
            self._show_deleted = bool(show)
            self._apply_filter()

    def tree_model(self) -> RegistryTreeModel:
        return self.sourceModel()  # type: ignore[return-value]

    # -- Qt overrides ----------------------------------------------------------------------------
    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Version and metric columns sort by their numbers, the others by their text."""
        self.setSortRole(SortRole if column in (COL_MODEL, COL_METRIC) else Qt.ItemDataRole.DisplayRole)
        super().sort(column, order)

    # -- private ------------------------------------------------------------------------------------
    def _apply_filter(self) -> None:
        # The filter text is "status<US>name<US>algorithm<US>tags<US>aliases"; typed text is
        # searched after the status, and deleted versions are excluded unless shown.
        text = QRegularExpression.escape(self._text)
        if self._show_deleted:
            pattern = f"{_US}.*{text}" if text else ""
        else:
            pattern = f"^(?!deleted{_US})[^{_US}]*{_US}.*{text}"
        self.setFilterRegularExpression(
            QRegularExpression(pattern, QRegularExpression.PatternOption.CaseInsensitiveOption))
