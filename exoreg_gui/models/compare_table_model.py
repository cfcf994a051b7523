"""Selected versions side by side: one column each, rows grouped into sections.

Sections: Metrics, Hyperparameters, Training, Features. With "differences only" the rows whose
values are equal in every column are hidden (a section with no row left disappears). Cells
that differ from the baseline column are highlighted; in each metric row the best and the worst
value are marked (``MarkRole``); with a baseline chosen, the other columns show their difference
to it. :func:`compare_rows` is plain Python, the model only displays its result.

A metric recorded with its 95 % interval (``evaluation["metric_intervals"]``, kept by the
evaluator at registration, or by scoring for the ``scored …`` rows) is marked best or worst only
when its interval does not overlap the runner-up's; otherwise the overlapping versions are
"tied" within uncertainty (:func:`metric_marks`). A version registered before intervals were kept
shows its point value, and its tooltip says no interval was recorded.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from core.common.cells import CSV_OPTIONS, escape_row
from exoreg_gui.models.metadata_tree_model import format_value
from exoreg_gui.resources import koi_column_tooltip

_ROOT = QModelIndex()  # the invalid index, as a shared default argument

#: Raw value of a cell (numbers as numbers).
SortRole = Qt.ItemDataRole.UserRole + 1
#: "best" / "worst" / "tied" (within uncertainty) on the marked cells of a metric row, else None.
MarkRole = Qt.ItemDataRole.UserRole + 2
#: True when a cell's value differs from the baseline (or first) column's.
DiffersRole = Qt.ItemDataRole.UserRole + 3
#: "group" on section rows, "value" on the others.
RowKindRole = Qt.ItemDataRole.UserRole + 4
#: ``(low, high)`` of a metric cell's 95 % interval, or None when none was recorded.
IntervalRole = Qt.ItemDataRole.UserRole + 5

#: Where a version's evaluation keeps its metrics' intervals: ``{metric: [low, high]}``.
INTERVALS_KEY = "metric_intervals"
NO_INTERVAL_HINT = "no interval recorded"

GROUPS = ("Metrics", "Hyperparameters", "Training", "Features")
HEADLINE = ("accuracy", "precision", "recall", "f1_score")
_LOWER_IS_BETTER = ("loss", "error", "brier", "time", "seconds")

_BEST = QBrush(QColor("#d5f0d8"))
_WORST = QBrush(QColor("#f8d9d6"))
_TIED = QBrush(QColor("#e4e2f4"))
_DIFFERS = QBrush(QColor("#fff1c2"))
_GROUP = QBrush(QColor("#e8ecf2"))
_NOT_APPLICABLE_BRUSH = QBrush(QColor("#8a8f98"))


class _NotApplicable:
    """The value of a field a version does not have at all (an SVM has no ``max_depth``)."""

    _instance: _NotApplicable | None = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NOT_APPLICABLE"


#: See :class:`_NotApplicable`: shown as "n/a", never highlighted as a difference.
NOT_APPLICABLE = _NotApplicable()
NOT_APPLICABLE_TEXT = "n/a"


@dataclass
class CompareRow:
    group: str
    label: str
    values: list[Any] = field(default_factory=list)
    is_metric: bool = False
    tooltip: str | None = None
    #: How a recorded None is shown: "None" where None is a value (a hyperparameter), else a dash.
    none_text: str = "—"
    #: Per column, the value's 95 % interval ``(low, high)`` when one was recorded (metric rows).
    intervals: list[tuple[float, float] | None] = field(default_factory=list)

    def interval(self, i: int) -> tuple[float, float] | None:
        return self.intervals[i] if i < len(self.intervals) else None

    def differs(self) -> bool:
        """True when the versions the field applies to do not all have the same value."""
        applicable = [_norm(v) for v in self.values if v is not NOT_APPLICABLE]
        return any(v != applicable[0] for v in applicable[1:])


def _norm(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        value = int(value)
    return json.dumps(value, sort_keys=True, default=str)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def lower_is_better(metric: str) -> bool:
    return any(word in metric.lower() for word in _LOWER_IS_BETTER)


def _union_keys(dicts: Sequence[dict]) -> list[str]:
    seen: dict[str, None] = {}
    for d in dicts:
        for key in d:
            seen.setdefault(str(key), None)
    return list(seen)


def metric_interval(meta: Any, metric: str) -> tuple[float, float] | None:
    """The recorded 95 % interval of ``metric`` for this version, or None (none, or not two numbers)."""
    evaluation = getattr(meta, "evaluation", None)
    intervals = evaluation.get(INTERVALS_KEY) if isinstance(evaluation, dict) else None
    pair = intervals.get(metric) if isinstance(intervals, dict) else None
    if not isinstance(pair, list | tuple) or len(pair) != 2:
        return None
    low, high = (_number(v) for v in pair)
    if low is None or high is None or low > high:
        return None
    return low, high


def compare_rows(metas: Sequence[Any]) -> list[CompareRow]:
    """Every comparable field of these ``ModelMetadata`` objects, as rows (no section rows)."""
    rows: list[CompareRow] = []
    for key in HEADLINE:
        rows.append(CompareRow("Metrics", key, [getattr(m, key, None) for m in metas], is_metric=True,
                               intervals=[metric_interval(m, key) for m in metas]))
    extra = [getattr(m, "metrics", None) or {} for m in metas]
    for key in sorted(_union_keys(extra)):
        values = [d.get(key) for d in extra]
        rows.append(CompareRow("Metrics", key, values, is_metric=all(_number(v) is not None or v is None
                                                                       for v in values),
                               intervals=[metric_interval(m, key) for m in metas]))
    hyper = [getattr(m, "hyperparameters", None) or {} for m in metas]
    for key in sorted(_union_keys(hyper)):
        rows.append(CompareRow("Hyperparameters", key, [d.get(key, NOT_APPLICABLE) for d in hyper],
                               none_text="None"))
    for label, attr in (
        ("algorithm", "algorithm"),
        ("dataset", "training_dataset"),
        ("training date", "training_date"),
        ("training samples", "training_samples"),
        ("test samples", "test_samples"),
        ("classes", "classes"),
        ("format", "model_format"),
        ("Python", "python_version"),
        ("scikit-learn", "sklearn_version"),
    ):
        rows.append(CompareRow("Training", label, [getattr(m, attr, None) for m in metas]))
    tags = [getattr(m, "tags", None) or {} for m in metas]
    for key in sorted(_union_keys(tags)):
        rows.append(CompareRow("Training", f"tag {key}", [d.get(key) for d in tags]))
    rows.append(CompareRow("Training", "aliases", [list(getattr(m, "aliases", None) or []) for m in metas]))
    rows.append(CompareRow("Training", "description", [getattr(m, "description", "") or "" for m in metas]))
    dists = [getattr(m, "class_distribution", None) or {} for m in metas]
    for key in _union_keys(dists):
        rows.append(CompareRow("Training", f"class {key}", [d.get(key) for d in dists]))
    infos = [getattr(m, "training_info", None) or {} for m in metas]
    for key in sorted(_union_keys(infos)):
        rows.append(CompareRow("Training", key, [d.get(key, NOT_APPLICABLE) for d in infos], none_text="None"))
    features = [list(getattr(m, "feature_columns", None) or []) for m in metas]
    rows.append(CompareRow("Features", "number of features", [len(f) for f in features]))
    feature_sets = [set(f) for f in features]
    for name in _union_keys([dict.fromkeys(f) for f in features]):
        rows.append(
            CompareRow("Features", name, [name in s for s in feature_sets], tooltip=koi_column_tooltip(name))
        )
    return rows


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def metric_marks(row: CompareRow) -> list[str | None]:
    """"best" / "worst" / "tied" per column of a metric row (nothing when all values are equal).

    By point value, the highest (lowest for a loss) is the best candidate and the next one its
    runner-up. When both have an interval, the best is marked only if its interval overlaps
    neither the runner-up's nor any other version's; otherwise the best and every version whose
    interval overlaps the best's are "tied" within uncertainty. The worst is judged the same
    way from the other end. When the candidate or its runner-up has no interval recorded, the
    point values decide, as for versions registered before intervals were kept (their tooltip
    says so).
    """
    marks: list[str | None] = [None] * len(row.values)
    numbers = [_number(v) for v in row.values]
    present = [i for i, n in enumerate(numbers) if n is not None]
    if not row.is_metric or len(present) < 2 or len({numbers[i] for i in present}) < 2:
        return marks
    sign = 1.0 if lower_is_better(row.label) else -1.0
    order = sorted(present, key=lambda i: sign * numbers[i])  # best first

    def judge(ranked: list[int], mark: str) -> None:
        top = [i for i in ranked if numbers[i] == numbers[ranked[0]]]
        rest = [i for i in ranked if numbers[i] != numbers[ranked[0]]]
        if not rest:
            return
        if any(row.interval(i) is None for i in top) or row.interval(rest[0]) is None:
            for i in top:  # no interval to tell noise apart: by point value
                marks[i] = marks[i] or mark
            return
        overlapping = [j for j in rest if row.interval(j) is not None
                       and any(_overlap(row.interval(i), row.interval(j)) for i in top)]
        if not overlapping:
            for i in top:
                marks[i] = marks[i] or mark
            return
        for i in top + overlapping:
            marks[i] = "tied" if marks[i] in (None, "tied") else marks[i]

    judge(order, "best")
    judge(order[::-1], "worst")
    return marks


def _format_interval(interval: tuple[float, float]) -> str:
    return f"[{interval[0]:.4f}, {interval[1]:.4f}]"


class CompareTableModel(QAbstractTableModel):
    """Column 0 is the field; columns 1..n the selected versions. See the module docstring."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._metas: list[Any] = []
        self._all_rows: list[CompareRow] = []
        self._rows: list[CompareRow | str] = []  # str = section row
        self._marks: dict[int, list[str | None]] = {}
        self._differences_only = False
        self._baseline: int | None = None
        self._bold = QFont()
        self._bold.setBold(True)

    # -- public API -------------------------------------------------------------------------------
    def set_versions(self, metas: Sequence[Any]) -> None:
        baseline_id = self.baseline_id()
        self.beginResetModel()
        self._metas = list(metas)
        self._all_rows = compare_rows(self._metas)
        ids = [m.model_id for m in self._metas]
        self._baseline = ids.index(baseline_id) if baseline_id in ids else None
        self._rebuild()
        self.endResetModel()

    def version_ids(self) -> list[str]:
        return [m.model_id for m in self._metas]

    def version_labels(self) -> list[str]:
        return [f"{m.model_name} v{m.version}" for m in self._metas]

    @property
    def differences_only(self) -> bool:
        return self._differences_only

    def set_differences_only(self, on: bool) -> None:
        if bool(on) != self._differences_only:
            self.beginResetModel()
            self._differences_only = bool(on)
            self._rebuild()
            self.endResetModel()

    def baseline_id(self) -> str | None:
        if self._baseline is None or self._baseline >= len(self._metas):
            return None
        return self._metas[self._baseline].model_id

    def set_baseline(self, model_id: str | None) -> None:
        ids = self.version_ids()
        new = ids.index(model_id) if model_id in ids else None
        if new != self._baseline:
            self._baseline = new
            if self._metas:
                self.dataChanged.emit(self.index(0, 1), self.index(self.rowCount() - 1, self.columnCount() - 1))
            self.headerDataChanged.emit(Qt.Orientation.Horizontal, 1, max(1, len(self._metas)))

    def row_labels(self) -> list[str]:
        """Labels of the shown rows; section rows appear as ``[Section]``."""
        return [f"[{r}]" if isinstance(r, str) else r.label for r in self._rows]

    def row_for(self, label: str, group: str | None = None) -> int:
        for i, row in enumerate(self._rows):
            if isinstance(row, CompareRow) and row.label == label and (group is None or row.group == group):
                return i
        return -1

    def section_rows(self) -> list[int]:
        return [i for i, r in enumerate(self._rows) if isinstance(r, str)]

    def column_texts(self, column: int) -> list[str]:
        """Every text column ``column`` shows (section rows aside), for sizing it."""
        if column == 0:
            return [r.label for r in self._rows if isinstance(r, CompareRow)]
        i = column - 1
        return [self._cell_text(r, i, with_delta=True) for r in self._rows
                if isinstance(r, CompareRow) and i < len(r.values)]

    def to_rows(self) -> list[list[str]]:
        """The shown table as text cells, header first (what Copy and Export CSV write)."""
        header = ["field", *self.version_labels()]
        out = [header]
        for row in self._rows:
            if isinstance(row, str):
                out.append([f"[{row}]"] + [""] * len(self._metas))
            else:
                out.append([row.label] + [self._cell_text(row, i, with_delta=False) for i in range(len(self._metas))])
        return out

    def to_text(self) -> str:
        """Tab-separated rows for the clipboard (pasted into spreadsheets, so formula-escaped).

        A cell holding a tab, a quote or a line break is quoted, as spreadsheets read pasted text,
        so it can neither split its row nor move a formula into a cell of its own (the options of
        every CSV the product writes, tab-separated).
        """
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter="\t", **CSV_OPTIONS)
        writer.writerows(escape_row(cells) for cells in self.to_rows())
        return buffer.getvalue()

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, **CSV_OPTIONS)
        writer.writerow(escape_row(["section", "field", *self.version_labels()]))
        for row in self._rows:
            if isinstance(row, CompareRow):
                writer.writerow(escape_row([row.group, row.label, *[_csv_value(v) for v in row.values]]))
        return buffer.getvalue()

    # -- Qt model interface -----------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:
        return 0 if parent.isValid() else 1 + len(self._metas)

    def flags(self, index):
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def headerData(self, section: int, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation != Qt.Orientation.Horizontal:
            return None
        if section == 0:
            return "Field" if role == Qt.ItemDataRole.DisplayRole else None
        i = section - 1
        if i >= len(self._metas):
            return None
        meta = self._metas[i]
        if role == Qt.ItemDataRole.DisplayRole:
            label = f"{meta.model_name}\nv{meta.version}"
            return f"{label} · baseline" if i == self._baseline else label
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{meta.model_name} v{meta.version}\n{meta.model_id}\n{meta.algorithm}"
        if role == Qt.ItemDataRole.FontRole and i == self._baseline:
            return self._bold
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        row = self._rows[index.row()]
        column = index.column()
        if isinstance(row, str):
            if role == Qt.ItemDataRole.DisplayRole:
                return row if column == 0 else None
            if role == Qt.ItemDataRole.FontRole:
                return self._bold
            if role == Qt.ItemDataRole.BackgroundRole:
                return _GROUP
            if role == RowKindRole:
                return "group"
            return None
        if role == RowKindRole:
            return "value"
        if column == 0:
            if role == Qt.ItemDataRole.DisplayRole:
                return row.label
            if role == Qt.ItemDataRole.ToolTipRole:  # the label in full, in case its column cuts it
                return f"{row.label}\n{row.tooltip}" if row.tooltip else row.label
            return None
        i = column - 1
        if i >= len(row.values):
            return None
        value = row.values[i]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._cell_text(row, i, with_delta=True)
        if role == SortRole:
            if value is NOT_APPLICABLE:
                return None
            return value if isinstance(value, int | float | str) else _norm(value)
        if role == MarkRole:
            return self._marks.get(index.row(), [None] * len(row.values))[i]
        if role == DiffersRole:
            return self._differs_from_reference(row, i)
        if role == IntervalRole:
            return row.interval(i)
        if role == Qt.ItemDataRole.BackgroundRole:
            mark = self._marks.get(index.row(), [None] * len(row.values))[i]
            if mark == "best":
                return _BEST
            if mark == "worst":
                return _WORST
            if mark == "tied":
                return _TIED
            if not row.is_metric and self._differs_from_reference(row, i):
                return _DIFFERS
            return None
        if value is NOT_APPLICABLE:
            if role == Qt.ItemDataRole.ForegroundRole:
                return _NOT_APPLICABLE_BRUSH
            if role == Qt.ItemDataRole.ToolTipRole:
                meta = self._metas[i]
                return f"Not applicable: {meta.model_name} v{meta.version} ({meta.algorithm}) has no {row.label}"
            if role == Qt.ItemDataRole.TextAlignmentRole:
                return int(Qt.AlignmentFlag.AlignCenter)
            return None
        if role == Qt.ItemDataRole.ToolTipRole:
            mark = self._marks.get(index.row(), [None] * len(row.values))[i]
            text = self._cell_text(row, i, with_delta=True)  # in full, in case its column cuts it
            raw = repr(value) if isinstance(value, float) else value if isinstance(value, str) else None
            if raw and raw != text:
                text += f"\n{raw}"
            if row.is_metric and _number(value) is not None:
                text += self._uncertainty_note(row, i, mark)
            elif mark:
                text += f"  ({mark} of the {len(self._metas)} compared)"
            return text
        if role == Qt.ItemDataRole.TextAlignmentRole and _number(value) is not None:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.FontRole:
            mark = self._marks.get(index.row(), [None] * len(row.values))[i]
            return self._bold if mark == "best" else None
        return None

    # -- private --------------------------------------------------------------------------------------
    def _rebuild(self) -> None:
        rows: list[CompareRow | str] = []
        for group in GROUPS:
            members = [r for r in self._all_rows if r.group == group]
            if self._differences_only:
                members = [r for r in members if r.differs()]
            if members:
                rows.append(group)
                rows.extend(members)
        self._rows = rows
        self._marks = {i: metric_marks(r) for i, r in enumerate(rows) if isinstance(r, CompareRow) and r.is_metric}

    def _uncertainty_note(self, row: CompareRow, i: int, mark: str | None) -> str:
        """The tooltip lines about a metric cell's interval and what its mark means."""
        interval = row.interval(i)
        lines = [f"95 % interval {_format_interval(interval)}" if interval is not None
                 else f"{NO_INTERVAL_HINT}: point value only"]
        count = len(self._metas)
        if mark == "tied":
            marks = metric_marks(row)
            others = [
                f"{self._label(j)} {format_value(row.values[j])} {_format_interval(row.intervals[j])}"
                for j in range(len(row.values))
                if j != i and marks[j] == "tied" and row.interval(j) is not None
            ]
            lines.append("tied within uncertainty: the 95 % intervals overlap"
                         + (" (" + "; ".join(others) + ")" if others else ""))
        elif mark:
            lines.append(f"{mark} of the {count} compared"
                         + ("" if interval is not None else " by point value (no interval to tell noise apart)"))
        return "\n" + "\n".join(lines)

    def _label(self, i: int) -> str:
        meta = self._metas[i]
        return f"{meta.model_name} v{meta.version}"

    def _reference(self) -> int:
        return self._baseline if self._baseline is not None else 0

    def _differs_from_reference(self, row: CompareRow, i: int) -> bool:
        ref = self._reference()
        if ref >= len(row.values) or i == ref:
            return False
        if NOT_APPLICABLE in (row.values[i], row.values[ref]):
            return False  # a field one of them does not have is not a difference
        return _norm(row.values[i]) != _norm(row.values[ref])

    def _cell_text(self, row: CompareRow, i: int, *, with_delta: bool) -> str:
        value = row.values[i]
        if row.group == "Features" and isinstance(value, bool):
            text = "✓" if value else "—"
        elif value is NOT_APPLICABLE:
            return NOT_APPLICABLE_TEXT
        elif value is None:
            text = row.none_text
        elif row.label == "training date" and isinstance(value, str) and "T" in value:
            text = value[:16].replace("T", " ")  # to the minute, as in the tree; the tooltip has it all
        else:
            text = format_value(value)
        if with_delta and self._baseline is not None and i != self._baseline:
            base = _number(row.values[self._baseline]) if self._baseline < len(row.values) else None
            own = _number(value)
            if base is not None and own is not None and not isinstance(value, bool):
                delta = own - base
                if delta == 0:
                    text += "  (=)"
                elif isinstance(value, int) and float(delta).is_integer():
                    text += f"  ({int(delta):+d})"
                else:
                    text += f"  ({delta:+.4f})"
        return text


def _csv_value(value: Any) -> str:
    if value is NOT_APPLICABLE:
        return NOT_APPLICABLE_TEXT
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, default=str)
    return str(value)
