"""The registry as a two-level tree: model names, each with its versions.

The model adapts the rows of ``ModelRegistry.list_models(include_deleted=True)`` (plain dicts
served from the registry index). It is a :class:`QStandardItemModel`: every value a view asks
for while painting is answered in C++, so painting, selecting and scrolling through 10,000
versions never call back into Python (each call back costs more than the whole C++ answer).

Refreshing with new rows changes the tree in place — rows removed, inserted and changed one by
one — so selections and expanded names survive a live refresh. Rows are kept in source order
(names alphabetically, versions oldest first); :class:`RegistryFilterProxy` filters and sorts
them for the view. Making thousands of rows takes a few hundred milliseconds, so
:meth:`RegistryTreeModel.prepare_steps` builds them a name at a time (the tree panel spreads
the steps over the event loop) and :meth:`RegistryTreeModel.set_entries` only attaches them.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QStandardItem, QStandardItemModel

from core.registry.metadata import HEADLINE_METRICS
from core.registry.references import active, best_row
from exoreg_gui.resources import icon

METRIC_LABELS = {"accuracy": "Accuracy", "precision": "Precision", "recall": "Recall", "f1_score": "F1"}

# Roles are plain ints: the binding converts them faster than enum members, 60,000 times per fill.
_USER = int(Qt.ItemDataRole.UserRole)
#: Raw, sortable value of the model and metric cells (numbers as numbers).
SortRole = _USER + 1
#: ``model_id`` of a version row, None on a name row.
ModelIdRole = _USER + 2
#: Model name of a name row.
NameRole = _USER + 3
#: The aliases of a version row (list of str), for the badge delegate; None when it has none.
AliasesRole = _USER + 4
#: True on the best active version of its name (None or False on the others).
IsBestRole = _USER + 5
#: "status<US>name<US>algorithm<US>tags<US>aliases" of a version row, matched by the filter proxy.
FilterRole = _USER + 6
#: True on the aliases cell of a version trained on synthetic data (badged "synthetic data").
SyntheticRole = _USER + 7
SYNTHETIC_BADGE = "synthetic data"
SYNTHETIC_TOOLTIP = "Trained on a synthetic KOI-like sample, not on real Kepler data"
_DECORATION = int(Qt.ItemDataRole.DecorationRole)
_FONT = int(Qt.ItemDataRole.FontRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
FILTER_SEPARATOR = "\x1f"

COL_MODEL, COL_ALGORITHM, COL_METRIC, COL_CREATED, COL_ALIASES = range(5)
COLUMN_COUNT = 5

_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_DELETED_BRUSH = QBrush(QColor("#8a8f98"))


def _metric_value(entry: dict, metric: str) -> float | None:
    value = entry.get(metric)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _metric_text(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _short_date(iso: str) -> str:
    # "2026-11-26T09:21:33.123456" -> "2026-11-26 09:21"
    return iso[:16].replace("T", " ") if iso else ""


def _version(entry: dict) -> int:
    return int(entry.get("version") or 0)


def is_synthetic(tags: dict | None, training_info: dict | None = None) -> bool:
    """True for a version trained on synthetic data: the demo tags it ``data=synthetic`` when no real table could be had."""
    return (tags or {}).get("data") == "synthetic" or (training_info or {}).get("data_origin") == "synthetic"


def _deleted(entry: dict) -> bool:
    return entry.get("status", "active") == "deleted"


def _filter_text(name: str, entry: dict) -> str:
    tags = entry.get("tags") or {}
    parts = [str(entry.get("status", "active")), name, str(entry.get("algorithm", "")),
             " ".join(f"{k}={v}" for k, v in tags.items()), " ".join(map(str, entry.get("aliases") or []))]
    return FILTER_SEPARATOR.join(parts)


def best_version(entries: Iterable[dict], metric: str) -> str | None:
    """The ``model_id`` of the best active version by ``metric`` (ties go to the higher version).

    The rule is :func:`core.registry.references.best_row`'s.
    """
    best = best_row(active(entries), metric)
    return None if best is None else str(best["model_id"])


def _group(entries: Iterable[dict]) -> dict[str, dict[str, dict]]:
    grouped: dict[str, dict[str, dict]] = {}
    for entry in entries:
        grouped.setdefault(str(entry["model_name"]), {})[str(entry["model_id"])] = entry
    return grouped


@dataclass
class PreparedRows:
    """Rows built by :meth:`RegistryTreeModel.prepare`, not yet in the model."""

    grouped: dict[str, dict[str, dict]]
    metric: str
    rows: list[list[QStandardItem]]          # name rows, versions attached, alphabetical
    names: dict[str, QStandardItem]           # name -> column-0 item of its row
    versions: dict[str, QStandardItem]        # model_id -> column-0 item of its row
    best: dict[str, str | None]


class _RowStyle:
    """Fonts and icons of the rows, made once."""

    def __init__(self):
        self.bold = QFont()
        self.bold.setBold(True)
        self.italic = QFont()
        self.italic.setItalic(True)
        self.icons = {name: icon(name) for name in ("model", "version", "best", "deleted")}


class RegistryTreeModel(QStandardItemModel):
    """Names at the top level, versions below; see the module docstring."""

    def __init__(self, parent=None, *, primary_metric: str = "f1_score"):
        super().__init__(0, COLUMN_COUNT, parent)
        self.setSortRole(SortRole)
        self._style = _RowStyle()
        self._metric = primary_metric if primary_metric in HEADLINE_METRICS else "f1_score"
        self._grouped: dict[str, dict[str, dict]] = {}
        self._entries: dict[str, dict] = {}
        self._names: dict[str, QStandardItem] = {}
        self._versions: dict[str, QStandardItem] = {}
        self._best: dict[str, str | None] = {}
        self._counts: tuple[int, int] | None = None
        self._set_headers()

    # -- public API ---------------------------------------------------------------------------
    @property
    def primary_metric(self) -> str:
        return self._metric

    def set_primary_metric(self, metric: str) -> None:
        if metric not in HEADLINE_METRICS or metric == self._metric:
            return
        self._metric = metric
        self._set_headers()
        # Every metric cell changes: one layout change instead of 20,000 dataChanged signals,
        # each of which would make a sorting proxy re-sort.
        self.layoutAboutToBeChanged.emit()
        blocked = self.blockSignals(True)
        try:
            for name, by_id in self._grouped.items():
                parent = self._names[name]
                for row in range(parent.rowCount()):
                    value = _metric_value(by_id[parent.child(row, 0).data(ModelIdRole)], metric)
                    item = parent.child(row, COL_METRIC)
                    item.setText(_metric_text(value))
                    item.setData(value, SortRole)
                old_best, best = self._best.get(name), best_version(by_id.values(), metric)
                self._best[name] = best
                if best != old_best:
                    for model_id in filter(None, (old_best, best)):
                        self._update_version_row(self._row_items(self._versions[model_id]), name, by_id[model_id],
                                                 best=model_id == best)
                self._fill_name(self._row_items(parent), name)
        finally:
            self.blockSignals(blocked)
        self.layoutChanged.emit()

    def prepare(self, entries: Iterable[dict]) -> PreparedRows:
        """Build the rows for ``entries`` without touching the model."""
        steps = self.prepare_steps(entries)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                return done.value

    def prepare_steps(self, entries: Iterable[dict]) -> Generator[None, None, PreparedRows]:
        """:meth:`prepare` in small steps (one name each), for spreading over the event loop."""
        metric = self._metric
        grouped = _group(entries)
        rows, names, versions, best = [], {}, {}, {}
        for name in sorted(grouped, key=str.lower):
            yield
            by_id = grouped[name]
            best[name] = best_version(by_id.values(), metric)
            name_row = self._new_row()
            for model_id, entry in sorted(by_id.items(), key=lambda kv: _version(kv[1])):
                row = self._version_row(name, entry, best=best[name] == model_id, metric=metric)
                name_row[0].appendRow(row)
                versions[model_id] = row[0]
            self._fill_name(name_row, name, by_id, best[name], metric=metric)
            rows.append(name_row)
            names[name] = name_row[0]
        return PreparedRows(grouped, metric, rows, names, versions, best)

    def set_entries(self, entries: Iterable[dict], prepared: PreparedRows | None = None) -> None:
        """Show these ``list_models()`` rows, changing the tree in place where it already has rows.

        ``prepared`` (from :meth:`prepare` with the same entries) is attached as it is when the
        model is empty.
        """
        if not self._names:
            self._attach(prepared if prepared is not None else self.prepare(entries))
            return
        grouped = _group(entries)
        root = self.invisibleRootItem()
        for name in [n for n in self._names if n not in grouped]:
            item = self._names.pop(name)
            for model_id in self._grouped.pop(name):
                self._versions.pop(model_id, None)
            self._best.pop(name, None)
            root.removeRow(item.row())
        for name, by_id in grouped.items():
            if name in self._names:
                self._update_name(name, by_id)
            else:
                self._insert_name(name, by_id)
        self._entries = {model_id: e for by_id in self._grouped.values() for model_id, e in by_id.items()}
        self._counts = None

    def clear(self) -> None:
        """Remove every row (the columns and their headers stay)."""
        self.removeRows(0, self.rowCount())
        self._grouped, self._entries, self._names, self._versions, self._best = {}, {}, {}, {}, {}
        self._counts = None

    def name_count(self) -> int:
        return self.rowCount()

    def names(self) -> list[str]:
        """Model names in source order (alphabetical)."""
        return [self.item(row, 0).text() for row in range(self.rowCount())]

    def version_counts(self) -> tuple[int, int]:
        """``(active, deleted)`` numbers of versions."""
        if self._counts is None:
            deleted = sum(1 for entry in self._entries.values() if _deleted(entry))
            self._counts = (len(self._entries) - deleted, deleted)
        return self._counts

    def entry(self, model_id: str) -> dict | None:
        return self._entries.get(model_id)

    def versions_of(self, name: str, *, include_deleted: bool = False) -> list[dict]:
        """The rows of one name, oldest version first."""
        entries = sorted(self._grouped.get(name, {}).values(), key=_version)
        return [e for e in entries if include_deleted or not _deleted(e)]

    def model_id_at(self, index: QModelIndex | QPersistentModelIndex) -> str | None:
        """The version id of a row of this model (None on a name row)."""
        if not index.isValid() or index.model() is not self:
            return None
        return index.siblingAtColumn(0).data(ModelIdRole)

    def name_at(self, index: QModelIndex | QPersistentModelIndex) -> str | None:
        if not index.isValid() or index.model() is not self:
            return None
        parent = index.parent()
        return (parent if parent.isValid() else index).siblingAtColumn(0).data(NameRole)

    def index_of(self, model_id: str, column: int = 0) -> QModelIndex:
        item = self._versions.get(model_id)
        return item.index().siblingAtColumn(column) if item is not None else QModelIndex()

    def index_of_name(self, name: str, column: int = 0) -> QModelIndex:
        item = self._names.get(name)
        return item.index().siblingAtColumn(column) if item is not None else QModelIndex()

    def tooltip_at(self, index: QModelIndex) -> str | None:
        """What hovering a row says (made on demand: thousands of stored tooltips cost seconds)."""
        text = self._tooltip_at(index)
        # A text cut by its column is read in full here.
        shown = str(index.data() or "") if index.isValid() else ""
        if text is not None and shown and shown not in text:
            text = f"{text}\n{shown}"
        return text

    def _tooltip_at(self, index: QModelIndex) -> str | None:
        model_id = self.model_id_at(index)
        name = self.name_at(index)
        if name is None:
            return None
        versions = self._grouped.get(name, {})
        if model_id is None:
            deleted = sum(1 for e in versions.values() if _deleted(e))
            active = len(versions) - deleted
            text = f"{name}: {active} version{'s' if active != 1 else ''}"
            return text + (f" (+{deleted} deleted)" if deleted else "")
        entry = versions.get(model_id, {})
        lines = [model_id]
        if self._best.get(name) == model_id:
            lines.append(f"Best {METRIC_LABELS[self._metric]} of {name}")
        if _deleted(entry):
            lines.append("Deleted (right-click to restore)")
        if is_synthetic(entry.get("tags")):
            lines.append(SYNTHETIC_TOOLTIP)
        if entry.get("description"):
            lines.append(str(entry["description"]))
        tags = entry.get("tags") or {}
        if tags:
            lines.append("Tags: " + ", ".join(f"{k}={v}" for k, v in tags.items()))
        return "\n".join(lines)

    # -- private: rows ------------------------------------------------------------------------------
    @staticmethod
    def _new_row(texts: Sequence[str] = ("",) * COLUMN_COUNT) -> list[QStandardItem]:
        return [QStandardItem(text) for text in texts]

    def _row_items(self, first: QStandardItem) -> list[QStandardItem]:
        parent = first.parent() or self.invisibleRootItem()
        row = first.row()
        return [parent.child(row, column) for column in range(COLUMN_COUNT)]

    def _version_row(self, name: str, entry: dict, *, best: bool, metric: str | None = None) -> list[QStandardItem]:
        """New items for a version's row."""
        texts, value, aliases = self._version_texts(entry, metric or self._metric)
        row = self._new_row(texts)
        row[COL_METRIC].setData(_RIGHT, _ALIGNMENT)
        self._fill_version(row, name, entry, best=best, value=value, aliases=aliases, fresh=True)
        return row

    def _update_version_row(self, row: list[QStandardItem], name: str, entry: dict, *, best: bool) -> None:
        """Write a version's values into the existing items of its row."""
        texts, value, aliases = self._version_texts(entry, self._metric)
        for item, text in zip(row, texts, strict=True):
            item.setText(text)
        self._fill_version(row, name, entry, best=best, value=value, aliases=aliases, fresh=False)

    @staticmethod
    def _version_texts(entry: dict, metric: str) -> tuple[list[str], float | None, list[str]]:
        value = _metric_value(entry, metric)
        aliases = [str(a) for a in entry.get("aliases") or []]
        texts = [f"v{_version(entry)}", str(entry.get("algorithm", "")), _metric_text(value),
                 _short_date(str(entry.get("training_date", ""))), ", ".join(aliases)]
        return texts, value, aliases

    def _fill_version(self, row: list[QStandardItem], name: str, entry: dict, *, best: bool,
                      value: float | None, aliases: list[str], fresh: bool) -> None:
        """The roles of a version's row besides its texts (``fresh``: new items, nothing to clear)."""
        style = self._style
        deleted = _deleted(entry)
        first, metric_item, alias_item = row[COL_MODEL], row[COL_METRIC], row[COL_ALIASES]
        first.setData(_version(entry), SortRole)
        first.setData(str(entry["model_id"]), ModelIdRole)
        first.setData(_filter_text(name, entry), FilterRole)
        if best or not fresh:
            first.setData(best, IsBestRole)
        first.setData(style.icons["deleted" if deleted else "best" if best else "version"], _DECORATION)
        metric_item.setData(value, SortRole)
        if aliases or not fresh:
            alias_item.setData(aliases or None, AliasesRole)
        synthetic = is_synthetic(entry.get("tags"))
        if synthetic or not fresh:
            alias_item.setData(synthetic or None, SyntheticRole)
        if deleted:
            for item in row:
                item.setData(style.italic, _FONT)
                item.setData(_DELETED_BRUSH, _FOREGROUND)
        else:
            if not fresh:
                for item in row:
                    item.setData(None, _FONT)
                    item.setData(None, _FOREGROUND)
            if best:
                first.setData(style.bold, _FONT)
                metric_item.setData(style.bold, _FONT)

    def _fill_name(self, row: list[QStandardItem], name: str, by_id: dict[str, dict] | None = None,
                   best: str | None = None, *, metric: str | None = None) -> None:
        """Write a name's summary (algorithms, best score, latest date) into its row's items."""
        if by_id is None:
            by_id, best = self._grouped[name], self._best.get(name)
        metric = metric or self._metric
        first, algorithm, metric_item, created, _aliases = row
        if not first.text():
            first.setText(name)
            first.setData(name, NameRole)
            first.setData(name.lower(), SortRole)
            first.setFont(self._style.bold)
            first.setIcon(self._style.icons["model"])
            metric_item.setData(_RIGHT, _ALIGNMENT)
        algorithms = dict.fromkeys(str(e.get("algorithm", "")) for e in by_id.values())
        algorithm.setText(", ".join(a for a in algorithms if a))
        value = _metric_value(by_id[best], metric) if best in by_id else None
        metric_item.setText(_metric_text(value))
        metric_item.setData(value, SortRole)
        latest = max((str(e.get("training_date", "")) for e in by_id.values()), default="")
        created.setText(_short_date(latest))

    # -- private: changes ---------------------------------------------------------------------------
    def _attach(self, prepared: PreparedRows) -> None:
        self.beginResetModel()
        blocked = self.blockSignals(True)  # the reset tells views everything at once
        try:
            self.removeRows(0, self.rowCount())
            root = self.invisibleRootItem()
            for row in prepared.rows:
                root.appendRow(row)
        finally:
            self.blockSignals(blocked)
        self._grouped, self._names, self._versions, self._best = (
            prepared.grouped, prepared.names, prepared.versions, prepared.best)
        self._entries = {model_id: e for by_id in self._grouped.values() for model_id, e in by_id.items()}
        self._counts = None
        self.endResetModel()
        if prepared.metric != self._metric:  # changed while the rows were being built
            metric, self._metric = self._metric, prepared.metric
            self.set_primary_metric(metric)

    def _insert_name(self, name: str, by_id: dict[str, dict]) -> None:
        self._grouped[name] = {}
        keys = [n.lower() for n in self.names()]
        row = self._new_row()
        self._fill_name(row, name, {}, None)
        self.invisibleRootItem().insertRow(bisect.bisect_right(keys, name.lower()), row)
        self._names[name] = row[0]
        self._update_name(name, by_id)

    def _update_name(self, name: str, by_id: dict[str, dict]) -> None:
        old = self._grouped[name]
        self._grouped[name] = by_id
        if by_id == old:  # the usual case on a refresh: another name changed
            return
        parent = self._names[name]
        changed = False
        for model_id in [i for i in old if i not in by_id]:
            parent.removeRow(self._versions.pop(model_id).row())
            changed = True
        best = best_version(by_id.values(), self._metric)
        old_best = self._best.get(name)
        for model_id, entry in by_id.items():
            item = self._versions.get(model_id)
            if item is None:
                versions = [parent.child(r, 0).data(SortRole) for r in range(parent.rowCount())]
                row = self._version_row(name, entry, best=model_id == best)
                parent.insertRow(bisect.bisect_right(versions, _version(entry)), row)
                self._versions[model_id] = row[0]
                changed = True
            elif entry != old.get(model_id) or model_id in (best, old_best) and best != old_best:
                self._update_version_row(self._row_items(item), name, entry, best=model_id == best)
                changed = True
        self._best[name] = best
        if changed:
            self._fill_name(self._row_items(parent), name)

    def _set_headers(self) -> None:
        labels = ("Model", "Algorithm", METRIC_LABELS[self._metric], "Created", "Aliases")
        self.setHorizontalHeaderLabels(list(labels))
        horizontal = Qt.Orientation.Horizontal
        self.setHeaderData(COL_METRIC, horizontal,
                           f"{METRIC_LABELS[self._metric]} on the test split (the primary metric)",
                           Qt.ItemDataRole.ToolTipRole)
        self.setHeaderData(COL_METRIC, horizontal, _RIGHT, Qt.ItemDataRole.TextAlignmentRole)


def unique(ids: Sequence[str | None]) -> list[str]:
    """The ids in order, without repeats or Nones."""
    return list(dict.fromkeys(i for i in ids if i))
