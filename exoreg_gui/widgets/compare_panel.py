"""The comparison tab: the selected versions side by side (see ``CompareTableModel``)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QFontMetrics, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QStyle,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from exoreg_gui.models.compare_table_model import CompareTableModel
from exoreg_gui.resources import icon

_HINT = "Select two or more versions in the tree to compare them."
#: Width limits (px) of the field column and of each version's column.
FIELD_WIDTH = (150, 260)
VERSION_WIDTH = (110, 280)


class ComparePanel(QWidget):
    #: "Differences only" was switched.
    differences_only_toggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = CompareTableModel(self)

        self.differences_check = QCheckBox("Differences only", self)
        self.differences_check.setToolTip("Hide the rows whose value is the same in every compared version")
        self.differences_check.toggled.connect(self._on_differences_toggled)
        self.baseline_combo = QComboBox(self)
        self.baseline_combo.setMinimumContentsLength(18)
        self.baseline_combo.setToolTip("The other columns show their difference to the baseline")
        self.baseline_combo.currentIndexChanged.connect(self._on_baseline_changed)
        self.copy_button = QPushButton(icon("copy"), "Copy", self)
        self.copy_button.setToolTip("Copy the table as tab-separated text")
        self.copy_button.clicked.connect(self.copy_to_clipboard)
        self.export_button = QPushButton(icon("save"), "Export CSV…", self)
        self.export_button.clicked.connect(self._on_export_clicked)
        # Place for the labelled-file scoring of the workflows dialogs.
        self.extra_buttons = QHBoxLayout()

        self._selected_count = 0
        self.hint_label = QLabel(_HINT, self)
        self.hint_label.setObjectName("metricName")
        legend = QLabel(
            '<span style="background:#d5f0d8">&nbsp;best&nbsp;</span> '
            '<span style="background:#f8d9d6">&nbsp;worst&nbsp;</span> '
            '<span style="background:#e4e2f4">&nbsp;tied within uncertainty&nbsp;</span> '
            '<span style="background:#fff1c2">&nbsp;differs&nbsp;</span>',
            self,
        )

        self.view = QTableView(self)
        self.view.setObjectName("compareTable")
        self.view.setModel(self.model)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setWordWrap(False)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setDefaultSectionSize(24)
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.view.horizontalHeader().setDefaultSectionSize(150)
        self.view.horizontalHeader().setMinimumHeight(40)
        self.view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.model.modelReset.connect(self._apply_spans)

        bar = QHBoxLayout()
        bar.addWidget(self.differences_check)
        bar.addSpacing(12)
        bar.addWidget(QLabel("Baseline:", self))
        bar.addWidget(self.baseline_combo)
        bar.addSpacing(12)
        legend.setToolTip("Metric rows mark the best and the worst value. A metric recorded with its 95 % "
                          "interval is best or worst only when its interval does not overlap the runner-up's; "
                          "otherwise the versions are tied within uncertainty. A version registered before "
                          "intervals were kept says “no interval recorded” in its tooltip and is compared by "
                          "point value. Other rows mark the cells that differ from the baseline column (the "
                          "first column when no baseline is chosen).")
        bar.addWidget(legend)
        bar.addStretch(1)
        bar.addLayout(self.extra_buttons)
        bar.addWidget(self.copy_button)
        bar.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.hint_label)
        layout.addWidget(self.view, 1)
        self._update_enabled()

    # -- public API -------------------------------------------------------------------------------
    def set_versions(self, metas: list, *, selected: int | None = None) -> None:
        """Show these versions; ``selected`` is how many were selected when only the first are shown."""
        self._selected_count = selected if selected is not None else len(metas)
        self.model.set_versions(metas)
        self.baseline_combo.blockSignals(True)
        self.baseline_combo.clear()
        self.baseline_combo.addItem("none", "")  # "" rather than None: real data on every item
        for meta, label in zip(metas, self.model.version_labels(), strict=True):
            self.baseline_combo.addItem(label, meta.model_id)
        baseline = self.model.baseline_id()
        self.baseline_combo.setCurrentIndex(max(0, self.baseline_combo.findData(baseline)) if baseline else 0)
        self.baseline_combo.blockSignals(False)
        self._fit_columns()
        self._update_enabled()

    def set_differences_only(self, on: bool) -> None:
        self.differences_check.setChecked(on)

    def copy_to_clipboard(self) -> None:
        QGuiApplication.clipboard().setText(self.model.to_text())

    def export_csv(self, path: str | Path) -> Path:
        from core.common.files import atomic_write_text

        path = Path(path)
        atomic_write_text(path, self.model.to_csv())
        return path

    # -- private ------------------------------------------------------------------------------------
    def _fit_columns(self) -> None:
        """Each column as wide as its texts and header need, within limits (then scroll).

        The field column takes 150 to 260 px; a version column 110 to 280 px, and more of the
        room there is when few versions are shown. A text still wider is cut, and its tooltip
        holds it in full. Widths are measured from the model's texts, in the bold font the
        best values use, so no cell is asked for twice.
        """
        count = len(self.model.version_ids())
        header = self.view.horizontalHeader()
        metrics = QFontMetrics(self._bold_font())
        margin = 2 * (self.view.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin) + 1) + 10

        def wanted(column: int) -> int:
            texts = self.model.column_texts(column)
            content = max((metrics.horizontalAdvance(t) for t in texts), default=0) + margin
            return max(content, header.sectionSizeHint(column))

        first = min(FIELD_WIDTH[1], max(FIELD_WIDTH[0], wanted(0)))
        self.view.setColumnWidth(0, first)
        if not count:
            return
        share = max(0, self.view.viewport().width() - first - 2) // count
        for column in range(1, count + 1):
            width = min(VERSION_WIDTH[1], max(VERSION_WIDTH[0], wanted(column), min(share, 180)))
            self.view.setColumnWidth(column, width)

    def _bold_font(self):
        font = self.view.font()
        font.setBold(True)
        return font

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit_columns()

    def _update_enabled(self) -> None:
        count = len(self.model.version_ids())
        has = count > 0
        for widget in (self.copy_button, self.export_button, self.differences_check, self.baseline_combo):
            widget.setEnabled(has)
        if count < self._selected_count:
            self.hint_label.setText(f"Showing the first {count:,} of {self._selected_count:,} selected versions; "
                                    "select fewer to compare others.")
        else:
            self.hint_label.setText(_HINT)
        self.hint_label.setVisible(count < 2 or count < self._selected_count)

    def _apply_spans(self) -> None:
        self.view.clearSpans()
        columns = self.model.columnCount()
        if columns > 1:
            for row in self.model.section_rows():
                self.view.setSpan(row, 0, 1, columns)

    def _on_differences_toggled(self, on: bool) -> None:
        self.model.set_differences_only(on)
        self.differences_only_toggled.emit(on)

    def _on_baseline_changed(self, row: int) -> None:
        self.model.set_baseline(self.baseline_combo.itemData(row) or None)

    def _on_export_clicked(self) -> None:
        from exoreg_gui.dialogs.common import choose_save_file
        from exoreg_gui.dialogs.messages import Messages

        path = choose_save_file(self, "Export comparison", "table", "comparison.csv", "CSV files (*.csv)")
        if not path:
            return
        try:
            self.export_csv(path)
        except Exception as exc:  # noqa: BLE001 - shown to the person, never fatal
            Messages.error(self, "Could not export the comparison", exc)

