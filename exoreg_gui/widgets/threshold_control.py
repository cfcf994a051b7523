"""The decision threshold of a binary version, moved by hand: confusion matrix, precision, recall.

Display only: nothing is registered. The numbers come from the probabilities the version gave on
the scored rows (``core.comparison.threshold_view``), recomputed as the slider moves; a row is
called the positive class when P(positive) >= the threshold.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from exoreg_gui.widgets.confusion_heatmap import ConfusionHeatmap

#: Slider steps between 0 and 1.
STEPS = 1000
_HINT = "The threshold applies to a version with two classes and probabilities; score one on a labelled file."


class ThresholdControl(QWidget):
    #: The view was recomputed; carries the ``threshold_view`` result.
    view_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.versions: list = []  # core.comparison.ScoredVersion with two classes and probabilities
        self.view: dict | None = None

        self.version_combo = QComboBox(self)
        self.version_combo.setObjectName("thresholdVersionCombo")
        self.version_combo.setMinimumContentsLength(18)
        self.version_combo.currentIndexChanged.connect(self._on_version_changed)
        self.positive_combo = QComboBox(self)
        self.positive_combo.setObjectName("thresholdPositiveCombo")
        self.positive_combo.setMinimumContentsLength(14)
        self.positive_combo.setToolTip("The class whose probability the threshold applies to")
        self.positive_combo.currentIndexChanged.connect(lambda _row: self._recompute())
        self.slider = QSlider(Qt.Orientation.Horizontal, self)
        self.slider.setObjectName("thresholdSlider")
        self.slider.setRange(0, STEPS)
        self.slider.setValue(STEPS // 2)
        self.slider.setMinimumWidth(220)
        self.slider.valueChanged.connect(self._on_slider_moved)
        self.spin = QDoubleSpinBox(self)
        self.spin.setObjectName("thresholdSpin")
        self.spin.setRange(0.0, 1.0)
        self.spin.setDecimals(3)
        self.spin.setSingleStep(0.01)
        self.spin.setValue(0.5)
        self.spin.valueChanged.connect(self._on_spin_changed)

        self.heatmap = ConfusionHeatmap(self)
        self.heatmap.setMinimumSize(240, 190)
        self.precision_label = QLabel("—", self)
        self.recall_label = QLabel("—", self)
        self.counts_label = QLabel("", self)
        self.counts_label.setWordWrap(True)
        self.counts_label.setObjectName("metricName")
        for label in (self.precision_label, self.recall_label):
            label.setObjectName("metricValue")
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hint_label = QLabel(_HINT, self)
        self.hint_label.setWordWrap(True)
        self.hint_label.setObjectName("metricName")

        top = QHBoxLayout()
        top.addWidget(QLabel("Version:", self))
        top.addWidget(self.version_combo)
        top.addSpacing(12)
        top.addWidget(QLabel("Positive class:", self))
        top.addWidget(self.positive_combo)
        top.addSpacing(12)
        top.addWidget(QLabel("P(positive) ≥", self))
        top.addWidget(self.slider, 1)
        top.addWidget(self.spin)
        numbers = QFormLayout()
        numbers.addRow("Precision:", self.precision_label)
        numbers.addRow("Recall:", self.recall_label)
        numbers.addRow(self.counts_label)
        body = QHBoxLayout()
        body.addWidget(self.heatmap, 1)
        body.addLayout(numbers, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.hint_label)
        layout.addLayout(body, 1)
        self._update_enabled()

    # -- public API -------------------------------------------------------------------------------
    def set_versions(self, versions: list) -> None:
        """The scored versions; only those with two classes and probabilities can be thresholded."""
        self.versions = [v for v in versions if v.proba is not None and len(v.classes) == 2]
        previous = self.version_combo.currentText()
        self.version_combo.blockSignals(True)
        self.version_combo.clear()
        self.version_combo.addItems([v.label for v in self.versions])
        if previous and self.version_combo.findText(previous) >= 0:
            self.version_combo.setCurrentText(previous)
        self.version_combo.blockSignals(False)
        self._on_version_changed(self.version_combo.currentIndex())

    def threshold(self) -> float:
        return self.spin.value()

    def set_threshold(self, value: float) -> None:
        self.spin.setValue(value)  # moves the slider too

    def current_version(self):
        index = self.version_combo.currentIndex()
        return self.versions[index] if 0 <= index < len(self.versions) else None

    def positive_class(self) -> str | None:
        return self.positive_combo.currentText() or None

    # -- private ------------------------------------------------------------------------------------
    def _on_version_changed(self, _row: int) -> None:
        version = self.current_version()
        self.positive_combo.blockSignals(True)
        self.positive_combo.clear()
        if version is not None:
            from core.comparison import positive_class

            classes = [str(c) for c in version.classes]
            positive = str(positive_class(version.classes))
            self.positive_combo.addItems([positive] + [c for c in classes if c != positive])
        self.positive_combo.blockSignals(False)
        self._update_enabled()
        self._recompute()

    def _on_slider_moved(self, value: int) -> None:
        self.spin.blockSignals(True)
        self.spin.setValue(value / STEPS)
        self.spin.blockSignals(False)
        self._recompute()

    def _on_spin_changed(self, value: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(round(value * STEPS))
        self.slider.blockSignals(False)
        self._recompute()

    def _update_enabled(self) -> None:
        has = bool(self.versions)
        for widget in (self.version_combo, self.positive_combo, self.slider, self.spin):
            widget.setEnabled(has)
        self.hint_label.setVisible(not has)

    def _recompute(self) -> None:
        version = self.current_version()
        positive = self.positive_class()
        if version is None or positive is None:
            self.view = None
            self.heatmap.set_matrix(None, None)
            self.precision_label.setText("—")
            self.recall_label.setText("—")
            self.counts_label.setText("")
            return
        from core.comparison.curves import threshold_view

        view = threshold_view(version, self.threshold(), positive)
        self.view = view
        self.heatmap.set_matrix(view["labels"], view["matrix"])
        self.precision_label.setText(_fmt(view["precision"]))
        self.recall_label.setText(_fmt(view["recall"]))
        called = view["tp"] + view["fp"]
        rows = called + view["fn"] + view["tn"]
        self.counts_label.setText(
            f"At P({positive}) ≥ {self.threshold():.3f}: {called:,} of {rows:,} rows called {positive} "
            f"({view['tp']:,} of them are; {view['fn']:,} {positive} rows missed).")
        self.view_changed.emit(view)


def _fmt(value) -> str:
    if value is None or value != value:
        return "n/a (no row called positive)"
    return f"{value:.4f}"
