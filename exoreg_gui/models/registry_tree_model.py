"""The registry as a two-level tree: model names, each with its versions.

The model adapts the rows of ``ModelRegistry.list_models(include_deleted=True)`` (plain dicts
served from the registry index). Refreshing with new rows changes the tree in place — rows
removed, inserted and changed one by one — so selections and expanded names survive a
live refresh. Sorting happens here (a Python sort on prepared keys is far faster than
letting a proxy call back into Python for every comparison); :class:`RegistryFilterProxy`
forwards the view's sort requests to :meth:`RegistryTreeModel.sort`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from exoreg_gui.resources import icon

_ROOT = QModelIndex()  # the invalid index, as a shared default argument

HEADLINE_METRICS = ("accuracy", "precision", "recall", "f1_score")
METRIC_LABELS = {"accuracy": "Accuracy", "precision": "Precision", "recall": "Recall", "f1_score": "F1"}

#: Raw, sortable value of a cell (numbers as numbers).
SortRole = Qt.ItemDataRole.UserRole + 1
#: ``model_id`` of a version row, None on a name row.
ModelIdRole = Qt.ItemDataRole.UserRole + 2
#: Model name of either kind of row.
NameRole = Qt.ItemDataRole.UserRole + 3
#: The aliases of a version row (list of str), for the badge delegate.
AliasesRole = Qt.ItemDataRole.UserRole + 4
#: True on the best active version of its name.
IsBestRole = Qt.ItemDataRole.UserRole + 5
#: The list_models() row of a version (dict), None on a name row.
EntryRole = Qt.ItemDataRole.UserRole + 6

_ROLES = frozenset({
    Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.DecorationRole, Qt.ItemDataRole.ToolTipRole,
    Qt.ItemDataRole.FontRole, Qt.ItemDataRole.TextAlignmentRole, Qt.ItemDataRole.ForegroundRole,
    SortRole, ModelIdRole, NameRole, AliasesRole, IsBestRole, EntryRole,
})

COL_MODEL, COL_ALGORITHM, COL_METRIC, COL_CREATED, COL_ALIASES = range(5)
COLUMN_COUNT = 5

_DELETED_BRUSH = QBrush(QColor("#8a8f98"))


def _metric_value(entry: dict, metric: str) -> float | None:
    value = entry.get(metric)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _short_date(iso: str) -> str:
    # "2026-11-26T09:21:33.123456" -> "2026-11-26 09:21"
    return iso[:16].replace("T", " ") if iso else ""


class VersionItem:
    """One version row: its ``list_models()`` dict plus the fields read on every paint and sort."""

    __slots__ = ("entry", "model_id", "version", "deleted")

    def __init__(self, entry: dict):
        self.set_entry(entry)

    def set_entry(self, entry: dict) -> None:
        self.entry = entry
        self.model_id = str(entry["model_id"])
        self.version = int(entry.get("version") or 0)
        self.deleted = entry.get("status", "active") == "deleted"


@dataclass(eq=False)
class NameNode:
    name: str
    key: int
    versions: list[VersionItem] = field(default_factory=list)
    best_id: str | None = None


class RegistryTreeModel(QAbstractItemModel):
    """Names at the top level, versions below; see the module docstring."""

    def __init__(self, parent=None, *, primary_metric: str = "f1_score"):
        super().__init__(parent)
        self._nodes: list[NameNode] = []
        self._by_key: dict[int, NameNode] = {}
        self._keys = itertools.count(1)
        self._primary_metric = primary_metric if primary_metric in HEADLINE_METRICS else "f1_score"
        self._sort_column = COL_MODEL
        self._sort_order = Qt.SortOrder.AscendingOrder
        self._bold = QFont()
        self._bold.setBold(True)
        self._italic = QFont()
        self._italic.setItalic(True)
        self._row_cache: dict[int, int] | None = None
        self._items: dict[str, tuple[NameNode, VersionItem]] = {}
        self._counts: tuple[int, int] | None = None

    # -- public API ---------------------------------------------------------------------------
    @property
    def primary_metric(self) -> str:
        return self._primary_metric

    def set_primary_metric(self, metric: str) -> None:
        if metric not in HEADLINE_METRICS or metric == self._primary_metric:
            return
        self._primary_metric = metric
        for node in self._nodes:
            self._update_best(node)
        self.headerDataChanged.emit(Qt.Orientation.Horizontal, COL_METRIC, COL_METRIC)
        self._emit_all_changed()
        if self._sort_column == COL_METRIC:
            self.sort(self._sort_column, self._sort_order)

    def set_entries(self, entries: Iterable[dict]) -> None:
        """Show these ``list_models()`` rows, changing the tree in place where it already has rows."""
        grouped: dict[str, dict[str, dict]] = {}
        for entry in entries:
            grouped.setdefault(str(entry["model_name"]), {})[str(entry["model_id"])] = entry
        if not self._nodes:
            self.beginResetModel()
            self._nodes = []
            self._by_key = {}
            for name, by_id in grouped.items():
                node = self._new_node(name)
                node.versions = [VersionItem(e) for e in by_id.values()]
                self._nodes.append(node)
            self._sort_in_place()
            self._row_cache = None
            self._reindex_items()
            self.endResetModel()
            return
        root = QModelIndex()
        names_changed = False
        touched: list[NameNode] = []
        # 1. names that are gone
        for row in range(len(self._nodes) - 1, -1, -1):
            if self._nodes[row].name not in grouped:
                self.beginRemoveRows(root, row, row)
                node = self._nodes.pop(row)
                del self._by_key[node.key]
                self._row_cache = None
                self.endRemoveRows()
        # 2. versions of the remaining names: removed, changed, added (at their sorted place)
        last = COLUMN_COUNT - 1
        for row, node in enumerate(self._nodes):
            wanted = grouped.pop(node.name)
            parent = self.index(row, 0)
            removed = False
            for vrow in range(len(node.versions) - 1, -1, -1):
                if node.versions[vrow].model_id not in wanted:
                    self.beginRemoveRows(parent, vrow, vrow)
                    node.versions.pop(vrow)
                    self.endRemoveRows()
                    removed = True
            changed: set[str] = set()
            for item in node.versions:
                new_entry = wanted.pop(item.model_id)
                if new_entry != item.entry:
                    item.set_entry(new_entry)
                    changed.add(item.model_id)
            for entry in wanted.values():
                item = VersionItem(entry)
                vrow = self._insert_position(node.versions, item, self._version_sort_key)
                self.beginInsertRows(parent, vrow, vrow)
                node.versions.insert(vrow, item)
                self.endInsertRows()
            old_best = node.best_id
            if changed or wanted or removed:
                self._update_best(node)
            if changed and not self._in_order(node.versions, self._version_sort_key):
                touched.append(node)
            if changed or wanted or old_best != node.best_id:
                names_changed = True
                self.dataChanged.emit(self.index(row, 0), self.index(row, last))
                for vrow, item in enumerate(node.versions):
                    if item.model_id in changed or item.model_id in (old_best, node.best_id):
                        self.dataChanged.emit(self.index(vrow, 0, parent), self.index(vrow, last, parent))
        # 3. new names, at their sorted place
        for name, by_id in grouped.items():
            node = self._new_node(name)
            node.versions = [VersionItem(e) for e in by_id.values()]
            node.versions.sort(key=self._version_sort_key,
                               reverse=self._sort_order == Qt.SortOrder.DescendingOrder)
            self._update_best(node)
            row = self._insert_position(self._nodes, node, self._name_sort_key)
            self.beginInsertRows(root, row, row)
            self._nodes.insert(row, node)
            self._row_cache = None
            self.endInsertRows()
        self._reindex_items()
        # Values that sort the names (best score, latest date) may have moved: re-sort only if needed.
        names_out_of_order = names_changed and not self._in_order(self._nodes, self._name_sort_key)
        if touched or names_out_of_order:
            self._resort(touched)

    def _insert_position(self, items: list, new, key) -> int:
        """Where ``new`` goes in ``items`` (sorted by ``key`` in the current order)."""
        new_key = key(new)
        descending = self._sort_order == Qt.SortOrder.DescendingOrder
        for i, existing in enumerate(items):
            k = key(existing)
            if (k < new_key) if descending else (new_key < k):
                return i
        return len(items)

    def _in_order(self, items: list, key) -> bool:
        keys = [key(i) for i in items]
        if self._sort_order == Qt.SortOrder.DescendingOrder:
            return all(a >= b for a, b in zip(keys, keys[1:], strict=False))
        return all(a <= b for a, b in zip(keys, keys[1:], strict=False))

    def clear(self) -> None:
        self.beginResetModel()
        self._nodes = []
        self._by_key = {}
        self._row_cache = None
        self._reindex_items()
        self.endResetModel()

    def name_count(self) -> int:
        return len(self._nodes)

    def name_node(self, row: int) -> NameNode:
        return self._nodes[row]

    def names(self) -> list[str]:
        return [node.name for node in self._nodes]

    def version_counts(self) -> tuple[int, int]:
        """``(active, deleted)`` numbers of versions."""
        if self._counts is None:
            deleted = sum(1 for _node, item in self._items.values() if item.deleted)
            self._counts = (len(self._items) - deleted, deleted)
        return self._counts

    def entry(self, model_id: str) -> dict | None:
        index = self.index_of(model_id)
        return self.item_at(index).entry if index.isValid() else None

    def item_at(self, index: QModelIndex) -> VersionItem | None:
        if not index.isValid() or index.model() is not self:
            return None
        node = self._by_key.get(index.internalId())
        if node is None or not 0 <= index.row() < len(node.versions):
            return None
        return node.versions[index.row()]

    def model_id_at(self, index: QModelIndex | QPersistentModelIndex) -> str | None:
        """The version id of a row of this model (None on a name row).

        Python code asks this rather than ``index.data(ModelIdRole)``, which crosses the binding.
        """
        item = self.item_at(index)
        return item.model_id if item is not None else None

    def name_at(self, index: QModelIndex | QPersistentModelIndex) -> str | None:
        if not index.isValid() or index.model() is not self:
            return None
        key = index.internalId()
        if key == 0:
            return self._nodes[index.row()].name if index.row() < len(self._nodes) else None
        node = self._by_key.get(key)
        return node.name if node is not None else None

    def index_of(self, model_id: str, column: int = 0) -> QModelIndex:
        found = self._items.get(model_id)
        if found is None:
            return QModelIndex()
        node, item = found
        return self.createIndex(node.versions.index(item), column, node.key)

    def index_of_name(self, name: str, column: int = 0) -> QModelIndex:
        for row, node in enumerate(self._nodes):
            if node.name == name:
                return self.createIndex(row, column, 0)
        return QModelIndex()

    def versions_of(self, name: str, *, include_deleted: bool = False) -> list[dict]:
        """The rows of one name, oldest version first."""
        for node in self._nodes:
            if node.name == name:
                items = sorted(node.versions, key=lambda i: i.version)
                return [i.entry for i in items if include_deleted or not i.deleted]
        return []

    # -- Qt model interface ------------------------------------------------------------------------
    def index(self, row: int, column: int, parent: QModelIndex | QPersistentModelIndex = _ROOT):
        if column < 0 or column >= COLUMN_COUNT or row < 0:
            return QModelIndex()
        if not parent.isValid():
            if row < len(self._nodes):
                return self.createIndex(row, column, 0)
            return QModelIndex()
        if parent.internalId() != 0 or parent.column() != 0:
            return QModelIndex()
        prow = parent.row()
        if prow >= len(self._nodes):
            return QModelIndex()
        node = self._nodes[prow]
        if row < len(node.versions):
            return self.createIndex(row, column, node.key)
        return QModelIndex()

    def parent(self, index: QModelIndex | QPersistentModelIndex = _ROOT):  # type: ignore[override]
        if not index.isValid():
            return QModelIndex()
        key = index.internalId()
        if key == 0:
            return QModelIndex()
        node = self._by_key.get(key)
        if node is None:
            return QModelIndex()
        if self._row_cache is None:
            self._row_cache = {n.key: row for row, n in enumerate(self._nodes)}
        return self.createIndex(self._row_cache[key], 0, 0)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:
        if not parent.isValid():
            return len(self._nodes)
        if parent.internalId() != 0 or parent.column() != 0:
            return 0
        row = parent.row()
        return len(self._nodes[row].versions) if row < len(self._nodes) else 0

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:
        return COLUMN_COUNT

    def hasChildren(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> bool:
        return self.rowCount(parent) > 0

    def headerData(self, section: int, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return ("Model", "Algorithm", METRIC_LABELS[self._primary_metric], "Created", "Aliases")[section]
        if role == Qt.ItemDataRole.ToolTipRole and section == COL_METRIC:
            return f"{METRIC_LABELS[self._primary_metric]} on the test split (the primary metric)"
        if role == Qt.ItemDataRole.TextAlignmentRole and section == COL_METRIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if role not in _ROLES or not index.isValid():  # views ask for many roles this model never sets
            return None
        key = index.internalId()
        column = index.column()
        if key == 0:
            if index.row() >= len(self._nodes):
                return None
            return self._name_data(self._nodes[index.row()], column, role)
        node = self._by_key.get(key)
        if node is None or index.row() >= len(node.versions):
            return None
        return self._version_data(node, node.versions[index.row()], column, role)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if column < 0 or column >= COLUMN_COUNT:
            return
        self._sort_column = column
        self._sort_order = order
        self._resort(None)

    def _resort(self, nodes: list[NameNode] | None) -> None:
        """Reorder (only ``nodes``' versions when given, and the names) keeping persistent indexes."""
        self.layoutAboutToBeChanged.emit()
        persistent = self.persistentIndexList()
        # Remember what each persistent index points at, by object, before reordering.
        remembered = []
        for pindex in persistent:
            key = pindex.internalId()
            if key == 0:
                target = self._nodes[pindex.row()] if pindex.row() < len(self._nodes) else None
            else:
                node = self._by_key.get(key)
                target = node.versions[pindex.row()] if node and pindex.row() < len(node.versions) else None
            remembered.append((key, target, pindex.column()))
        self._sort_in_place(nodes)
        new_indexes = []
        name_rows = {id(node): row for row, node in enumerate(self._nodes)}
        version_rows: dict[int, int] = {}
        for key, target, column_ in remembered:
            if target is None:
                new_indexes.append(QModelIndex())
            elif key == 0:
                new_indexes.append(self.createIndex(name_rows[id(target)], column_, 0))
            else:
                if not version_rows:
                    for node in self._nodes:
                        for vrow, item in enumerate(node.versions):
                            version_rows[id(item)] = vrow
                new_indexes.append(self.createIndex(version_rows[id(target)], column_, key))
        self.changePersistentIndexList(persistent, new_indexes)
        self.layoutChanged.emit()

    # -- private ------------------------------------------------------------------------------------
    def _reindex_items(self) -> None:
        self._items = {item.model_id: (node, item) for node in self._nodes for item in node.versions}
        self._counts = None

    def _new_node(self, name: str) -> NameNode:
        node = NameNode(name=name, key=next(self._keys))
        self._by_key[node.key] = node
        return node

    def _update_best(self, node: NameNode) -> None:
        metric = self._primary_metric
        best = None
        best_key = None
        for item in node.versions:
            if item.deleted:
                continue
            value = _metric_value(item.entry, metric)
            if value is None:
                continue
            key = (value, item.version)  # ties go to the newest version
            if best_key is None or key > best_key:
                best, best_key = item, key
        node.best_id = best.model_id if best is not None else None

    def _emit_all_changed(self) -> None:
        if not self._nodes:
            return
        last = COLUMN_COUNT - 1
        self.dataChanged.emit(self.index(0, 0), self.index(len(self._nodes) - 1, last))
        for row, node in enumerate(self._nodes):
            if node.versions:
                parent = self.index(row, 0)
                self.dataChanged.emit(self.index(0, 0, parent), self.index(len(node.versions) - 1, last, parent))

    def _version_sort_key(self, item: VersionItem):
        column = self._sort_column
        entry = item.entry
        if column == COL_MODEL:
            return item.version
        if column == COL_ALGORITHM:
            return (str(entry.get("algorithm", "")).lower(), item.version)
        if column == COL_METRIC:
            value = _metric_value(entry, self._primary_metric)
            return (-math.inf if value is None else value, item.version)
        if column == COL_CREATED:
            return (str(entry.get("training_date", "")), item.version)
        return (",".join(entry.get("aliases") or []), item.version)

    def _name_sort_key(self, node: NameNode):
        column = self._sort_column
        if column == COL_METRIC:
            value = self._name_metric(node)
            return (-math.inf if value is None else value, node.name.lower())
        if column == COL_CREATED:
            return (self._name_latest_date(node), node.name.lower())
        if column == COL_ALGORITHM:
            return (self._name_algorithms(node).lower(), node.name.lower())
        return node.name.lower()

    def _sort_in_place(self, nodes: list[NameNode] | None = None) -> None:
        for node in self._nodes if nodes is None else nodes:
            if not node.versions:
                continue
            node.versions.sort(key=self._version_sort_key, reverse=self._sort_order == Qt.SortOrder.DescendingOrder)
            self._update_best(node)
        self._nodes.sort(key=self._name_sort_key, reverse=self._sort_order == Qt.SortOrder.DescendingOrder)
        self._row_cache = None

    def _best_item(self, node: NameNode) -> VersionItem | None:
        if node.best_id is None:
            return None
        for item in node.versions:
            if item.model_id == node.best_id:
                return item
        return None

    def _name_metric(self, node: NameNode) -> float | None:
        best = self._best_item(node)
        return _metric_value(best.entry, self._primary_metric) if best is not None else None

    @staticmethod
    def _name_latest_date(node: NameNode) -> str:
        return max((str(i.entry.get("training_date", "")) for i in node.versions), default="")

    @staticmethod
    def _name_algorithms(node: NameNode) -> str:
        seen: dict[str, None] = {}
        for item in node.versions:
            seen.setdefault(str(item.entry.get("algorithm", "")), None)
        return ", ".join(a for a in seen if a)

    def _name_data(self, node: NameNode, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            if column == COL_MODEL:
                return node.name
            if column == COL_ALGORITHM:
                return self._name_algorithms(node)
            if column == COL_METRIC:
                value = self._name_metric(node)
                return "" if value is None else f"{value:.4f}"
            if column == COL_CREATED:
                return _short_date(self._name_latest_date(node))
            return None
        if role == SortRole:
            return self._name_sort_key(node) if column != COL_MODEL else node.name.lower()
        if role == NameRole:
            return node.name
        if role == AliasesRole:
            return []
        if role == Qt.ItemDataRole.FontRole and column == COL_MODEL:
            return self._bold
        if role == Qt.ItemDataRole.TextAlignmentRole and column == COL_METRIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            active = sum(1 for i in node.versions if not i.deleted)
            deleted = len(node.versions) - active
            text = f"{node.name}: {active} version{'s' if active != 1 else ''}"
            if deleted:
                text += f" (+{deleted} deleted)"
            return text
        if role == Qt.ItemDataRole.DecorationRole and column == COL_MODEL:
            return icon("model")
        return None

    def _version_data(self, node: NameNode, item: VersionItem, column: int, role: int) -> Any:
        entry = item.entry
        if role == Qt.ItemDataRole.DisplayRole:
            if column == COL_MODEL:
                return f"v{item.version}"
            if column == COL_ALGORITHM:
                return str(entry.get("algorithm", ""))
            if column == COL_METRIC:
                value = _metric_value(entry, self._primary_metric)
                return "" if value is None else f"{value:.4f}"
            if column == COL_CREATED:
                return _short_date(str(entry.get("training_date", "")))
            if column == COL_ALIASES:
                return ", ".join(entry.get("aliases") or [])
            return None
        if role == SortRole:
            if column == COL_MODEL:
                return item.version
            if column == COL_METRIC:
                return _metric_value(entry, self._primary_metric)
            if column == COL_CREATED:
                return str(entry.get("training_date", ""))
            if column == COL_ALGORITHM:
                return str(entry.get("algorithm", ""))
            return ", ".join(entry.get("aliases") or [])
        if role == ModelIdRole:
            return item.model_id
        if role == NameRole:
            return node.name
        if role == EntryRole:
            return entry
        if role == AliasesRole:
            return list(entry.get("aliases") or [])
        if role == IsBestRole:
            return item.model_id == node.best_id
        if role == Qt.ItemDataRole.TextAlignmentRole and column == COL_METRIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and item.deleted:
            return _DELETED_BRUSH
        if role == Qt.ItemDataRole.FontRole:
            if item.deleted:
                return self._italic
            if item.model_id == node.best_id and column in (COL_MODEL, COL_METRIC):
                return self._bold
            return None
        if role == Qt.ItemDataRole.DecorationRole and column == COL_MODEL:
            if item.deleted:
                return icon("deleted")
            if item.model_id == node.best_id:
                return icon("best")
            return icon("version")
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = [item.model_id]
            if item.model_id == node.best_id:
                lines.append(f"Best {METRIC_LABELS[self._primary_metric]} of {node.name}")
            if item.deleted:
                lines.append("Deleted (right-click to restore)")
            if entry.get("description"):
                lines.append(str(entry["description"]))
            tags = entry.get("tags") or {}
            if tags:
                lines.append("Tags: " + ", ".join(f"{k}={v}" for k, v in tags.items()))
            return "\n".join(lines)
        return None


def unique(ids: Sequence[str | None]) -> list[str]:
    """The ids in order, without repeats or Nones."""
    return list(dict.fromkeys(i for i in ids if i))
