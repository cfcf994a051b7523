"""Filter the registry tree by text (name, algorithm, tag, alias) and hide deleted versions.

Sorting is delegated to :class:`RegistryTreeModel` (see its docstring), so this proxy only
filters: its own sort column stays -1 and rows keep the source's order.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt

from exoreg_gui.models.registry_tree_model import RegistryTreeModel, VersionItem

_ROOT = QModelIndex()  # the invalid index, as a shared default argument


class RegistryFilterProxy(QSortFilterProxyModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._text = ""
        self._show_deleted = False
        self._sort_column = -1
        self._sort_order = Qt.SortOrder.AscendingOrder

    # -- public API ---------------------------------------------------------------------------
    @property
    def filter_text(self) -> str:
        return self._text

    def set_filter_text(self, text: str) -> None:
        text = text.strip().lower()
        if text != self._text:
            self.beginFilterChange()
            self._text = text
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    @property
    def show_deleted(self) -> bool:
        return self._show_deleted

    def set_show_deleted(self, show: bool) -> None:
        if bool(show) != self._show_deleted:
            self.beginFilterChange()
            self._show_deleted = bool(show)
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def tree_model(self) -> RegistryTreeModel:
        return self.sourceModel()  # type: ignore[return-value]

    # -- Qt overrides ----------------------------------------------------------------------------
    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort the source tree (fast); this proxy keeps the source order."""
        source = self.sourceModel()
        if source is not None and column >= 0:
            self._sort_column, self._sort_order = column, order
            source.sort(column, order)

    def hasChildren(self, parent: QModelIndex = _ROOT) -> bool:
        """Answer without filtering a collapsed name's versions (a visible name has a visible version)."""
        if not parent.isValid():
            return self.rowCount() > 0
        return parent.parent().isValid() is False and parent.column() == 0

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex) -> bool:
        source: RegistryTreeModel = self.sourceModel()  # type: ignore[assignment]
        if source_parent.isValid():
            node = source.name_node(source_parent.row())
            if source_row >= len(node.versions):
                return False
            return self._accepts_version(node.name, node.versions[source_row])
        if source_row >= source.name_count():
            return False
        node = source.name_node(source_row)
        return any(self._accepts_version(node.name, item) for item in node.versions)

    # -- private ------------------------------------------------------------------------------------
    def _accepts_version(self, name: str, item: VersionItem) -> bool:
        if item.deleted and not self._show_deleted:
            return False
        text = self._text
        if not text:
            return True
        if text in name.lower():
            return True
        entry = item.entry
        if text in str(entry.get("algorithm", "")).lower():
            return True
        for key, value in (entry.get("tags") or {}).items():
            if text in str(key).lower() or text in str(value).lower() or text in f"{key}={value}".lower():
                return True
        return any(text in str(alias).lower() for alias in entry.get("aliases") or [])
