"""The left panel: filter box, "show deleted" switch and the tree of names and versions."""

from __future__ import annotations

import time
from collections.abc import Generator

from PySide6.QtCore import (
    QEvent,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QRect,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolTip,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from exoreg_gui.models.registry_filter_proxy import RegistryFilterProxy
from exoreg_gui.models.registry_tree_model import (
    COL_ALGORITHM,
    COL_ALIASES,
    COL_MODEL,
    HEADLINE_METRICS,
    METRIC_LABELS,
    SYNTHETIC_BADGE,
    AliasesRole,
    RegistryTreeModel,
    SyntheticRole,
    unique,
)

#: Width limits of the columns sized to their contents (a longer text is cut, with a tooltip).
COLUMN_LIMITS = {COL_MODEL: (150, 320), COL_ALGORITHM: (96, 240)}

#: A first fill of at least this many versions is built in slices between events.
INCREMENTAL_FILL_ROWS = 1000
FILL_SLICE_SECONDS = 0.012

_BADGE_COLORS = {
    "production": ("#1f7a4d", "#e1f5ea"),
    "staging": ("#8a5a00", "#fff1d6"),
    "champion": ("#1f7a4d", "#e1f5ea"),
}
_DEFAULT_BADGE = ("#2d5b94", "#e3edfa")
_SYNTHETIC_BADGE = ("#9a3b00", "#ffe4cc")


def _badges(index: QModelIndex) -> list[tuple[str, tuple[str, str]]]:
    """The badges of an aliases cell: "synthetic data" first when it applies, then the aliases."""
    badges = [(SYNTHETIC_BADGE, _SYNTHETIC_BADGE)] if index.data(SyntheticRole) else []
    for alias in index.data(AliasesRole) or []:  # None on rows without aliases
        badges.append((alias, _BADGE_COLORS.get(alias.lower(), _DEFAULT_BADGE)))
    return badges


class AliasBadgeDelegate(QStyledItemDelegate):
    """Paints the aliases of a version as rounded badges."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        badges = _badges(index)
        if not badges:
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        style = opt.widget.style() if opt.widget else QStyle()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        font = QFontMetrics(opt.font)
        x = opt.rect.left() + 4
        height = min(opt.rect.height() - 4, font.height() + 2)
        y = opt.rect.top() + (opt.rect.height() - height) // 2
        for alias, (fg, bg) in badges:
            width = font.horizontalAdvance(alias) + 12
            if x + width > opt.rect.right():
                break
            rect = QRect(x, y, width, height)
            painter.setPen(QPen(QColor(fg), 1))
            painter.setBrush(QColor(bg))
            painter.drawRoundedRect(rect, height / 2, height / 2)
            painter.setPen(QColor(fg))
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, alias)
            x += width + 4
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        hint = super().sizeHint(option, index)
        badges = _badges(index)
        if badges:
            font = QFontMetrics(option.font)
            width = sum(font.horizontalAdvance(a) + 16 for a, _ in badges) + 8
            hint.setWidth(max(hint.width(), width))
        return hint


class RegistryTreePanel(QWidget):
    """Filter, toggles and the tree view; emits the selected versions."""

    #: The selected versions changed; carries their model ids (tree order).
    selection_changed = Signal(object)
    #: The current version (the one the inspector shows) changed within the selection.
    current_changed = Signal(str)
    #: A context menu was requested at a global position for the clicked index (proxy index).
    context_menu_requested = Signal(object, object)
    #: Rows given to ``set_entries`` are now in the tree; True after the first fill.
    entries_shown = Signal(bool)

    def __init__(self, parent: QWidget | None = None, *, primary_metric: str = "f1_score"):
        super().__init__(parent)
        self.tree_model = RegistryTreeModel(self, primary_metric=primary_metric)
        self.proxy = RegistryFilterProxy(self)
        self.proxy.setSourceModel(self.tree_model)

        self.filter_edit = QLineEdit(self)
        self.filter_edit.setPlaceholderText("Filter by name, algorithm, tag or alias")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.set_filter_text)
        self.filter_edit.textChanged.connect(self._on_filter_changed)

        self.show_deleted_check = QCheckBox("Show deleted", self)
        self.show_deleted_check.setToolTip("Show deleted versions (right-click one to restore it)")
        self.show_deleted_check.toggled.connect(self.proxy.set_show_deleted)

        self.metric_combo = QComboBox(self)
        for metric in HEADLINE_METRICS:
            self.metric_combo.addItem(METRIC_LABELS[metric], metric)
        self.metric_combo.setCurrentIndex(HEADLINE_METRICS.index(self.tree_model.primary_metric))
        self.metric_combo.setToolTip("The metric shown in the tree and used to mark each name's best version")
        self.metric_combo.currentIndexChanged.connect(self._on_metric_changed)

        self.view = QTreeView(self)
        self.view.setObjectName("registryTree")
        self.view.setModel(self.proxy)
        self.view.setUniformRowHeights(True)
        self.view.setAlternatingRowColors(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(COL_MODEL, Qt.SortOrder.AscendingOrder)
        self.view.setItemDelegateForColumn(COL_ALIASES, AliasBadgeDelegate(self.view))
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._on_view_context_menu)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.view.header()
        header.setStretchLastSection(True)
        header.resizeSection(0, 168)
        header.resizeSection(1, 108)
        header.resizeSection(2, 62)
        header.resizeSection(3, 122)
        self.view.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.view.selectionModel().currentChanged.connect(self._on_current_changed)

        self.empty_label = QLabel("", self)
        self.empty_label.setObjectName("metricName")
        self.empty_label.setWordWrap(True)
        self.empty_label.hide()
        self.loading_label = QLabel("Loading the registry…", self)
        self.loading_label.setObjectName("metricName")
        self.loading_label.hide()

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.filter_edit, 1)
        bar.addWidget(QLabel("Metric:", self))
        bar.addWidget(self.metric_combo)
        bar.addWidget(self.show_deleted_check)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 0, 6)
        layout.addLayout(bar)
        layout.addWidget(self.empty_label)
        layout.addWidget(self.loading_label)
        layout.addWidget(self.view, 1)
        self._last_selection: list[str] = []
        self._last_current: str | None = None
        self._updating = False  # inside select_ids: one notification at the end, not one per step
        self._fill: tuple[list[dict], Generator] | None = None  # a first fill being built
        self._waiting_entries: list[dict] | None = None
        self._fill_timer = QTimer(self)
        self._fill_timer.setObjectName("tree-fill")
        self._fill_timer.setInterval(0)
        self._fill_timer.timeout.connect(self._continue_fill)
        self.view.viewport().installEventFilter(self)

    # -- public API -------------------------------------------------------------------------------
    def set_entries(self, entries: list[dict]) -> None:
        """Show these ``list_models()`` rows; ``entries_shown`` follows once they are in the tree.

        A first fill of thousands of versions is built a name at a time between events, so the
        window keeps answering; rows that arrive meanwhile are applied after it, in place.
        """
        if self._fill is not None:
            self._waiting_entries = entries
            return
        if self.tree_model.name_count() == 0 and len(entries) >= INCREMENTAL_FILL_ROWS:
            self._fill = (entries, self.tree_model.prepare_steps(entries))
            self._fill_timer.start()
            self.loading_label.show()
            self._update_empty_label()
            return
        self._show(entries)

    def clear(self) -> None:
        """Empty the tree (another registry is being opened), dropping a fill still being built."""
        self._fill_timer.stop()
        self._fill = None
        self._waiting_entries = None
        self.loading_label.hide()
        self.tree_model.clear()

    @property
    def loading(self) -> bool:
        """True while a first fill is being built."""
        return self._fill is not None

    def model_id_at(self, index: QModelIndex) -> str | None:
        """The version id of a row of the view (None for a name row or an invalid index)."""
        return self.tree_model.model_id_at(self.proxy.mapToSource(index)) if index.isValid() else None

    def name_at(self, index: QModelIndex) -> str | None:
        return self.tree_model.name_at(self.proxy.mapToSource(index)) if index.isValid() else None

    def selected_ids(self) -> list[str]:
        """Selected versions; a selected name stands for all of its visible versions."""
        ids: list[str | None] = []
        for index in sorted(self.view.selectionModel().selectedRows(0), key=self._tree_order):
            model_id = self.model_id_at(index)
            if model_id:
                ids.append(model_id)
            else:
                ids.extend(self.model_id_at(self.proxy.index(r, 0, index)) for r in range(self.proxy.rowCount(index)))
        return unique(ids)

    def _tree_order(self, index: QModelIndex) -> tuple[int, int]:
        parent = index.parent()
        return (parent.row(), index.row()) if parent.isValid() else (index.row(), -1)

    def selected_names(self) -> list[str]:
        names: dict[str, None] = {}
        for index in self.view.selectionModel().selectedRows(0):
            names.setdefault(self.name_at(index), None)
        return [n for n in names if n]

    def current_id(self, selected: list[str] | None = None) -> str | None:
        """The version the inspector shows: the current row if selected, else the last selected."""
        ids = self.selected_ids() if selected is None else selected
        model_id = self.model_id_at(self.view.currentIndex())
        if model_id and model_id in ids:
            return model_id
        return ids[-1] if ids else None

    def select_ids(self, model_ids: list[str], *, current: str | None = None) -> None:
        """Select these versions (expanding their names), replacing the selection, in one change."""
        indexes = [self.proxy.mapFromSource(self.tree_model.index_of(i)) for i in model_ids]
        found = [(model_id, index) for model_id, index in zip(model_ids, indexes, strict=True) if index.isValid()]
        rows_by_parent: dict[tuple[int, int], tuple[QModelIndex, set[int]]] = {}
        for _model_id, index in found:
            parent = index.parent()
            rows_by_parent.setdefault((parent.row(), parent.column()), (parent, set()))[1].add(index.row())
        # Expanding costs a layout per name: open them all for a handful, else only the current's.
        if len(rows_by_parent) <= 8:
            for parent, _rows in rows_by_parent.values():
                if not self.view.isExpanded(parent):
                    self.view.expand(parent)
        # One range per run of adjacent rows: painting tests every cell against every range.
        selection = QItemSelection()
        last_column = self.proxy.columnCount() - 1
        for parent, rows in rows_by_parent.values():
            for first, last in _runs(sorted(rows)):
                selection.select(self.proxy.index(first, 0, parent), self.proxy.index(last, last_column, parent))
        target = next((index for model_id, index in found if model_id == current), found[-1][1] if found else None)
        model = self.view.selectionModel()
        self._updating = True
        try:
            if target is not None:
                # Move the current index first (without selecting) so one selection change carries both.
                model.setCurrentIndex(target, QItemSelectionModel.SelectionFlag.NoUpdate)
            model.select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect
                         | QItemSelectionModel.SelectionFlag.Rows)
        finally:
            self._updating = False
        if target is not None:
            if not self.view.isExpanded(target.parent()):
                self.view.expand(target.parent())
            self.view.scrollTo(target)
        self._emit_if_changed()
        self._on_current_changed()

    def select_names(self, names: list[str]) -> None:
        """Select every visible version of these names."""
        ids = []
        for name in names:
            parent = self.proxy.mapFromSource(self.tree_model.index_of_name(name))
            for row in range(self.proxy.rowCount(parent)):
                model_id = self.model_id_at(self.proxy.index(row, 0, parent))
                if model_id:
                    ids.append(model_id)
        self.select_ids(ids)

    def fit_columns(self) -> None:
        """Widen the columns to their contents (within :data:`COLUMN_LIMITS`) and their headers.

        Names and algorithms are measured from the model's texts (a few hundred at most: one per
        name), not by asking the view about every row. A column is never narrowed: a width the
        person chose stays. Every header keeps room for its text and the sort arrow.
        """
        header = self.view.header()
        model = self.tree_model
        bold = QFontMetrics(self._bold_font())
        plain = QFontMetrics(self.view.font())
        margin = 2 * (self.view.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin) + 1) + 8
        icon = self.view.iconSize().width() if self.view.iconSize().isValid() else 16
        icon = max(icon, 16) + 4
        names = [model.item(row, COL_MODEL).text() for row in range(model.rowCount())]
        algorithms = [model.item(row, COL_ALGORITHM).text() for row in range(model.rowCount())]
        wanted = {
            COL_MODEL: max((bold.horizontalAdvance(n) for n in names), default=0) + icon + margin
            + self.view.indentation(),
            COL_ALGORITHM: max((plain.horizontalAdvance(a) for a in algorithms), default=0) + margin,
        }
        for column in range(model.columnCount()):
            if header.isSectionHidden(column) or (column == model.columnCount() - 1
                                                   and header.stretchLastSection()):
                continue
            low, high = COLUMN_LIMITS.get(column, (0, 10_000))
            content = max(wanted.get(column, 0), self.view.sizeHintForColumn(column) if column in wanted else 0)
            width = max(header.sectionSize(column), header.sectionSizeHint(column), min(high, max(low, content)))
            if width != header.sectionSize(column):
                header.resizeSection(column, width)

    def _bold_font(self):
        font = self.view.font()
        font.setBold(True)
        return font

    def set_primary_metric(self, metric: str) -> None:
        if metric in HEADLINE_METRICS:
            self.metric_combo.setCurrentIndex(HEADLINE_METRICS.index(metric))

    # -- private ------------------------------------------------------------------------------------
    def _show(self, entries: list[dict], prepared=None) -> None:
        first_fill = self.tree_model.name_count() == 0
        self.tree_model.set_entries(entries, prepared)
        if first_fill and self.proxy.rowCount() <= 12:
            self.view.expandAll()
        self._update_empty_label()
        self.fit_columns()
        self._emit_if_changed()
        self.entries_shown.emit(first_fill)

    def _continue_fill(self) -> None:
        entries, steps = self._fill
        deadline = time.perf_counter() + FILL_SLICE_SECONDS
        try:
            next(steps)  # at least one name per slice
            while time.perf_counter() < deadline:
                next(steps)
        except StopIteration as done:
            self._fill_timer.stop()
            self._fill = None
            self.loading_label.hide()
            self._show(entries, done.value)
            waiting, self._waiting_entries = self._waiting_entries, None
            if waiting is not None:
                self._show(waiting)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt override
        # Tooltips are made when asked for: storing one per cell would cost seconds at 10,000 versions.
        if event.type() == QEvent.Type.ToolTip and watched is self.view.viewport():
            index = self.view.indexAt(event.pos())
            text = self.tree_model.tooltip_at(self.proxy.mapToSource(index)) if index.isValid() else None
            if text:
                QToolTip.showText(event.globalPos(), text, self.view)
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().eventFilter(watched, event)

    def _update_empty_label(self) -> None:
        if self._fill is not None:
            self.empty_label.hide()
        elif self.tree_model.name_count() == 0:
            self.empty_label.setText("This registry has no models yet. Register one with the API or the "
                                     "command line; it appears here by itself.")
            self.empty_label.show()
        elif self.proxy.rowCount() == 0 and self.proxy.filter_text:
            self.empty_label.setText(f"Nothing matches “{self.filter_edit.text()}”.")
            self.empty_label.show()
        else:
            self.empty_label.hide()

    def _on_filter_changed(self, text: str) -> None:
        if text.strip() and self.proxy.rowCount() <= 30:
            self.view.expandAll()
        self._update_empty_label()

    def _on_metric_changed(self, row: int) -> None:
        self.tree_model.set_primary_metric(self.metric_combo.itemData(row))
        self.fit_columns()  # "Precision" needs more room than "F1"

    def _on_view_context_menu(self, pos) -> None:
        index = self.view.indexAt(pos)
        self.context_menu_requested.emit(index, self.view.viewport().mapToGlobal(pos))

    def _on_current_changed(self, *_args) -> None:
        if self._updating:
            return
        # Qt reports a new selection before the current index that came with it: the ids are known.
        current = self.current_id(self._last_selection)
        if current and current != self._last_current:
            self._last_current = current
            self.current_changed.emit(current)

    def _on_selection_changed(self, *_args) -> None:
        if not self._updating:
            self._emit_if_changed()

    def _emit_if_changed(self) -> None:
        ids = self.selected_ids()
        if ids != self._last_selection:
            self._last_selection = ids
            self._last_current = self.current_id(ids)
            self.selection_changed.emit(ids)


def _runs(rows: list[int]) -> list[tuple[int, int]]:
    """Sorted row numbers as (first, last) runs of adjacent rows."""
    runs: list[tuple[int, int]] = []
    for row in rows:
        if runs and row == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], row)
        else:
            runs.append((row, row))
    return runs
