"""One version's metadata as a read-only key / value tree, grouped into sections.

:func:`metadata_sections` turns a ``ModelMetadata`` into plain :class:`Node` objects;
:class:`MetadataTreeModel` shows them. Numbers keep their raw value under ``SortRole`` and
their full precision in the tooltip; feature columns of the KOI table carry its description
and unit as a tooltip.
"""

from __future__ import annotations

import functools
import json
import math
import platform
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QFont

from core.common.text import plural
from exoreg_gui.resources import koi_column_tooltip

_ROOT = QModelIndex()  # the invalid index, as a shared default argument

SortRole = Qt.ItemDataRole.UserRole + 1


@dataclass(eq=False)
class Node:
    label: str
    value: Any = None
    tooltip: str | None = None
    children: list[Node] = field(default_factory=list)
    parent: Node | None = field(default=None, repr=False)
    row: int = 0

    def add(self, label: str, value: Any = None, tooltip: str | None = None) -> Node:
        child = Node(label, value, tooltip, parent=self, row=len(self.children))
        self.children.append(child)
        return child


def format_value(value: Any) -> str:
    """A short, readable rendering of a metadata value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
            return f"{value:.3e}"
        return f"{value:.4f}"  # always four decimals, so a column of scores lines up ("1.0000" over "0.9979")
    if isinstance(value, list | tuple):
        return ", ".join(format_value(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    return str(value)


def format_size(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return str(size)


@functools.cache
def running_versions() -> dict[str, str]:
    """Python and scikit-learn versions of this process, without importing scikit-learn."""
    from importlib import metadata as importlib_metadata

    try:
        sklearn_version = importlib_metadata.version("scikit-learn")
    except importlib_metadata.PackageNotFoundError:
        sklearn_version = ""
    return {"python": platform.python_version(), "sklearn": sklearn_version}


#: How a recorded ``None`` (a parameter left at "no value", such as ``max_depth=None``) is shown.
NONE_TEXT = "None"


def _add_mapping(parent: Node, mapping: dict, *, depth: int = 0) -> None:
    for key, value in mapping.items():
        if isinstance(value, dict) and value and depth < 3:
            child = parent.add(str(key), plural(len(value), "entry", "entries"))
            _add_mapping(child, value, depth=depth + 1)
        elif value is None:  # recorded as None, which is a value: not a blank
            parent.add(str(key), NONE_TEXT, "Recorded as None")
        else:
            parent.add(str(key), value, None if not isinstance(value, float) else repr(value))


def metadata_sections(meta, *, verified: str | None = None) -> Node:
    """The tree shown by the inspector for one ``ModelMetadata``."""
    root = Node("")
    metrics = root.add("Metrics")
    for key in ("accuracy", "precision", "recall", "f1_score"):
        value = getattr(meta, key, None)
        metrics.add(key, value, repr(value))
    for key, value in sorted((getattr(meta, "metrics", None) or {}).items()):
        metrics.add(key, value, repr(value))

    evaluation = getattr(meta, "evaluation", None) or {}
    per_class = evaluation.get("per_class") or {}
    if per_class:
        section = root.add("Per-class scores")
        for label, scores in per_class.items():
            if isinstance(scores, dict):
                text = "  ".join(
                    f"{k} {format_value(v)}" for k, v in scores.items() if isinstance(v, int | float)
                )
                child = section.add(str(label), text)
                for key, value in scores.items():
                    child.add(str(key), value, repr(value))
            else:
                section.add(str(label), scores)

    hyper = root.add("Hyperparameters")
    _add_mapping(hyper, getattr(meta, "hyperparameters", None) or {})

    training = root.add("Training")
    training.add("dataset", getattr(meta, "training_dataset", ""))
    training.add("date", getattr(meta, "training_date", ""))
    training.add("training samples", getattr(meta, "training_samples", None))
    training.add("test samples", getattr(meta, "test_samples", None))
    classes = getattr(meta, "classes", None) or []
    if classes:
        training.add("classes", classes)
    info = getattr(meta, "training_info", None) or {}
    if info:
        _add_mapping(training, info)

    distribution = getattr(meta, "class_distribution", None) or {}
    if distribution:
        section = root.add("Class distribution")
        total = sum(v for v in distribution.values() if isinstance(v, int | float)) or 0
        for label, count in distribution.items():
            share = f"  ({count / total:.1%})" if total and isinstance(count, int | float) else ""
            section.add(str(label), f"{format_value(count)}{share}")

    features = getattr(meta, "feature_columns", None) or []
    section = root.add("Feature columns", plural(len(features), "column"))
    for name in features:
        section.add(str(name), koi_column_tooltip(str(name)) or "", koi_column_tooltip(str(name)))

    importances = evaluation.get("feature_importances") or {}
    if importances:
        section = root.add("Feature importances")
        ranked = sorted(
            ((k, v) for k, v in importances.items() if isinstance(v, int | float)), key=lambda kv: -kv[1]
        )
        for name, value in ranked:
            section.add(str(name), value, koi_column_tooltip(str(name)))

    file_section = root.add("File")
    file_section.add("file", getattr(meta, "model_file", ""))
    file_section.add("format", getattr(meta, "model_format", ""))
    file_section.add("size", format_size(getattr(meta, "model_size", None)))
    sha = getattr(meta, "model_sha256", "") or ""
    file_section.add("SHA-256", sha, sha)
    if verified is not None:
        file_section.add("integrity", verified)

    env = root.add("Environment")
    running = running_versions()
    python = getattr(meta, "python_version", "") or ""
    sklearn = getattr(meta, "sklearn_version", "") or ""
    env.add(
        "Python",
        python,
        f"This process runs Python {running['python']}" if python else None,
    )
    env.add(
        "scikit-learn",
        sklearn,
        f"This process has scikit-learn {running['sklearn']}" if sklearn else None,
    )
    env.add("schema version", getattr(meta, "schema_version", None))
    return root


class MetadataTreeModel(QAbstractItemModel):
    """Two columns, Field and Value, over a tree of :class:`Node`."""

    HEADERS = ("Field", "Value")

    def __init__(self, parent=None):
        super().__init__(parent)
        self._root = Node("")
        self._bold = QFont()
        self._bold.setBold(True)

    def set_root(self, root: Node) -> None:
        self.beginResetModel()
        self._root = root
        self.endResetModel()

    def root(self) -> Node:
        return self._root

    def find(self, *path: str) -> Node | None:
        node = self._root
        for label in path:
            node = next((c for c in node.children if c.label == label), None)
            if node is None:
                return None
        return node

    def index_of(self, node: Node, column: int = 0) -> QModelIndex:
        if node is self._root or node.parent is None:
            return QModelIndex()
        return self.createIndex(node.row, column, node)

    # -- Qt model interface ------------------------------------------------------------------------
    def _node(self, index: QModelIndex | QPersistentModelIndex) -> Node:
        return index.internalPointer() if index.isValid() else self._root

    def index(self, row: int, column: int, parent: QModelIndex | QPersistentModelIndex = _ROOT):
        if column < 0 or column >= 2 or row < 0:
            return QModelIndex()
        if parent.isValid() and parent.column() != 0:
            return QModelIndex()
        node = self._node(parent)
        if row >= len(node.children):
            return QModelIndex()
        return self.createIndex(row, column, node.children[row])

    def parent(self, index: QModelIndex | QPersistentModelIndex = _ROOT):  # type: ignore[override]
        if not index.isValid():
            return QModelIndex()
        node: Node = index.internalPointer()
        parent = node.parent
        if parent is None or parent is self._root:
            return QModelIndex()
        return self.createIndex(parent.row, 0, parent)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:
        if parent.isValid() and parent.column() != 0:
            return 0
        return len(self._node(parent).children)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:
        return 2

    def flags(self, index):
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        node: Node = index.internalPointer()
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return node.label if column == 0 else format_value(node.value)
        if role == SortRole:
            return node.label if column == 0 else node.value if isinstance(node.value, int | float) else None
        if role == Qt.ItemDataRole.ToolTipRole:
            # The cell's text in full (the column may cut it), then what the node adds.
            shown = node.label if column == 0 else format_value(node.value)
            if not node.tooltip:
                return shown or None
            return node.tooltip if shown in node.tooltip else f"{shown}\n{node.tooltip}"
        if role == Qt.ItemDataRole.FontRole and node.parent is self._root and column == 0:
            return self._bold
        return None
