"""The Curves tab (pyqtgraph): how the scored versions trade errors off, and how well they are calibrated.

Filled from the last comparison scored on a labelled file (:meth:`CurvesPanel.set_curves`, one
``core.comparison.curves`` dict per version, computed off the GUI thread):

1. ROC curves of the chosen class (one-vs-rest for three classes), AUC in the legend.
2. Precision-recall curves of the same class, average precision in the legend.
3. The reliability diagram (10 bins) of every version, Brier score and expected calibration error
   in the legend, the diagonal of perfect calibration behind it: P(positive class) for two
   classes, the top-label confidence for three.
4. Histograms of one version's P(chosen class): the rows of that class against the others.

Below them, the decision threshold of a binary version (:class:`ThresholdControl`) and the rows
where the versions disagree (:class:`DisagreementsPanel`). Plot items are kept in ``roc_curves``,
``pr_curves``, ``reliability_curves`` and ``histogram_items`` (label -> item) so tests read the data
they show.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTabWidget,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from exoreg_gui.resources import icon
from exoreg_gui.widgets.charts_panel import PALETTE, make_plot
from exoreg_gui.widgets.plot_message import PlotMessage

_HINT = "Score the compared versions on a labelled file (Compare ▸ Score on a labelled file…) to see their curves."


class CurveHover:
    """Shows the nearest point of the curves under the mouse as a tooltip (within a few pixels)."""

    def __init__(self, plot: pg.PlotWidget, x_name: str, y_name: str, *, radius_px: float = 12.0):
        self.plot = plot
        self.x_name, self.y_name = x_name, y_name
        self.radius_px = radius_px
        self.curves: list[tuple[str, np.ndarray, np.ndarray]] = []
        plot.scene().sigMouseMoved.connect(self._on_mouse_moved)

    def clear(self) -> None:
        self.curves = []

    def add(self, label: str, x, y) -> None:
        self.curves.append((label, np.asarray(x, dtype=float), np.asarray(y, dtype=float)))

    def text_at(self, x: float, y: float, *, scale: tuple[float, float] = (1.0, 1.0)) -> str | None:
        """The text of the point nearest ``(x, y)``; ``scale`` is view units per pixel (x, y)."""
        best, best_distance = None, self.radius_px
        for label, xs, ys in self.curves:
            if not len(xs):
                continue
            distance = np.hypot((xs - x) / scale[0], (ys - y) / scale[1])
            i = int(np.nanargmin(distance))
            if distance[i] <= best_distance:
                best, best_distance = (label, xs[i], ys[i]), float(distance[i])
        if best is None:
            return None
        label, px, py = best
        return f"{label}\n{self.x_name} {px:.3f}, {self.y_name} {py:.3f}"

    def _on_mouse_moved(self, pos: QPointF) -> None:
        view = self.plot.getPlotItem().vb
        if not view.sceneBoundingRect().contains(pos):
            return
        point = view.mapSceneToView(pos)
        sx, sy = view.viewPixelSize()
        text = self.text_at(point.x(), point.y(), scale=(sx or 1.0, sy or 1.0))
        if text:
            QToolTip.showText(self.plot.mapToGlobal(self.plot.mapFromScene(pos)), text, self.plot)
        else:
            QToolTip.hideText()


class CurvesPanel(QWidget):
    #: The plots were saved as a PNG; carries the path.
    exported = Signal(str)
    #: "Export report…" was clicked.
    report_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.curves: list[tuple[str, dict[str, Any]]] = []  # (version label, curves dict)
        self.source = ""

        # -- controls
        self.class_combo = QComboBox(self)
        self.class_combo.setObjectName("curvesClassCombo")
        self.class_combo.setToolTip("The class whose curves are shown (one against the rest)")
        self.class_combo.setMinimumContentsLength(16)
        self.class_combo.currentIndexChanged.connect(lambda _row: self._draw())
        self.version_combo = QComboBox(self)
        self.version_combo.setObjectName("curvesVersionCombo")
        self.version_combo.setToolTip("The version whose probabilities the histograms show")
        self.version_combo.setMinimumContentsLength(18)
        self.version_combo.currentIndexChanged.connect(lambda _row: self._draw_histograms())
        self.export_button = QPushButton(icon("save"), "Save as PNG…", self)
        self.export_button.clicked.connect(self._on_export_clicked)
        self.report_button = QPushButton("Export report…", self)
        self.report_button.setObjectName("reportButton")
        self.report_button.setToolTip("Write the last comparison as one self-contained HTML file and its "
                                      "Markdown twin")
        self.report_button.clicked.connect(lambda _checked=False: self.report_requested.emit())
        self.source_label = QLabel(_HINT, self)
        self.source_label.setObjectName("metricName")
        self.source_label.setWordWrap(True)

        bar = QHBoxLayout()
        bar.addWidget(QLabel("Class:", self))
        bar.addWidget(self.class_combo)
        bar.addSpacing(16)
        bar.addWidget(QLabel("Histograms of:", self))
        bar.addWidget(self.version_combo)
        bar.addStretch(1)
        bar.addWidget(self.report_button)
        bar.addWidget(self.export_button)

        # -- plots
        self.plots_widget = QWidget(self)
        grid = QGridLayout(self.plots_widget)
        grid.setContentsMargins(0, 0, 0, 0)
        self.roc_plot = self._plot("roc", "false positive rate", "true positive rate")
        self.pr_plot = self._plot("pr", "recall", "precision")
        self.reliability_plot = self._plot("reliability", "mean predicted probability", "observed frequency")
        self.histogram_plot = self._plot("histogram", "predicted probability", "rows")
        grid.addWidget(self.roc_plot, 0, 0)
        grid.addWidget(self.pr_plot, 0, 1)
        grid.addWidget(self.reliability_plot, 1, 0)
        grid.addWidget(self.histogram_plot, 1, 1)
        self.roc_hover = CurveHover(self.roc_plot, "FPR", "TPR")
        self.pr_hover = CurveHover(self.pr_plot, "recall", "precision")
        self.reliability_hover = CurveHover(self.reliability_plot, "predicted", "observed")
        # Each legend in the corner its curves usually leave free.
        corners = {self.roc_plot: (-6, -6), self.pr_plot: (6, -6), self.reliability_plot: (6, 6),
                   self.histogram_plot: (-6, 6)}
        self.legends = {plot: plot.getPlotItem().addLegend(offset=offset, labelTextColor="#333c48",
                                                           brush=pg.mkBrush(255, 255, 255, 225),
                                                           pen=pg.mkPen("#c9ced6"))
                        for plot, offset in corners.items()}
        self._messages = {plot: PlotMessage(plot.getPlotItem())
                          for plot in (self.roc_plot, self.pr_plot, self.reliability_plot, self.histogram_plot)}
        self.roc_curves: dict[str, pg.PlotDataItem] = {}
        self.pr_curves: dict[str, pg.PlotDataItem] = {}
        self.reliability_curves: dict[str, pg.PlotDataItem] = {}
        self.histogram_items: dict[str, pg.PlotDataItem] = {}
        dashed = pg.mkPen("#9aa1ab", width=1, style=pg.QtCore.Qt.PenStyle.DashLine)
        self._guides = [plot.getPlotItem().plot([0, 1], [0, 1], pen=dashed)
                        for plot in (self.roc_plot, self.reliability_plot)]  # chance / perfect calibration

        # -- below the plots: the threshold of a binary version and the rows the versions disagree on
        from exoreg_gui.widgets.disagreements_panel import DisagreementsPanel
        from exoreg_gui.widgets.threshold_control import ThresholdControl

        self.threshold = ThresholdControl(self)
        self.disagreements = DisagreementsPanel(self)
        self.lower_tabs = QTabWidget(self)
        self.lower_tabs.setObjectName("curvesLowerTabs")
        self.lower_tabs.addTab(self.threshold, "Threshold")
        self.lower_tabs.addTab(self.disagreements, "Disagreements")
        splitter = QSplitter(self)
        splitter.setOrientation(pg.QtCore.Qt.Orientation.Vertical)
        splitter.addWidget(self.plots_widget)
        splitter.addWidget(self.lower_tabs)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        self.splitter = splitter

        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.source_label)
        layout.addWidget(splitter, 1)
        self._draw()

    # -- public API -------------------------------------------------------------------------------
    def set_curves(self, curves: list[tuple[str, dict[str, Any]]], source: str = "") -> None:
        """One ``(version label, core.comparison.curves dict)`` per scored version; ``[]`` clears."""
        self.curves = list(curves)
        self.source = source
        classes: list[str] = []
        for _, c in self.curves:
            for name in c.get("classes") or []:
                if name not in classes:
                    classes.append(str(name))
        previous = self.class_combo.currentText()
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        self.class_combo.addItems(_curve_classes(classes, self.curves))
        if previous and self.class_combo.findText(previous) >= 0:
            self.class_combo.setCurrentText(previous)
        self.class_combo.blockSignals(False)
        self.version_combo.blockSignals(True)
        self.version_combo.clear()
        self.version_combo.addItems([label for label, _ in self.curves])
        self.version_combo.blockSignals(False)
        self.source_label.setText(source or _HINT)
        self._draw()

    def chosen_class(self) -> str | None:
        return self.class_combo.currentText() or None

    def export_png(self, path: str | Path) -> Path:
        path = Path(path)
        if not self.plots_widget.grab().save(str(path), "PNG"):
            raise OSError(f"Could not write {path}; choose a folder you can write to.")
        self.exported.emit(str(path))
        return path

    def message_text(self, plot: pg.PlotWidget) -> str:
        return self._messages[plot].text

    # -- drawing ------------------------------------------------------------------------------------
    def _plot(self, key: str, x_label: str, y_label: str) -> pg.PlotWidget:
        plot = make_plot(_TITLES[key], self)
        plot.setObjectName(key)
        item = plot.getPlotItem()
        item.showGrid(x=True, y=True, alpha=0.2)
        item.setLabel("bottom", x_label)
        item.setLabel("left", y_label)
        plot.setMinimumHeight(170)
        return plot

    def _reset(self, plot: pg.PlotWidget, items: dict[str, pg.PlotDataItem]) -> None:
        for item in items.values():
            plot.getPlotItem().removeItem(item)
        items.clear()
        self.legends[plot].clear()

    def _draw(self) -> None:
        self._reset(self.roc_plot, self.roc_curves)
        self._reset(self.pr_plot, self.pr_curves)
        self._reset(self.reliability_plot, self.reliability_curves)
        for hover in (self.roc_hover, self.pr_hover, self.reliability_hover):
            hover.clear()
        cls = self.chosen_class()
        enabled = bool(self.curves)
        for widget in (self.class_combo, self.version_combo, self.export_button, self.report_button):
            widget.setEnabled(enabled)
        for guide in self._guides:
            guide.setVisible(enabled and cls is not None)
        if not self.curves or cls is None:
            reason = "No scored comparison yet" if not self.curves else _unavailable(*self.curves[0])
            for plot in (self.roc_plot, self.pr_plot, self.reliability_plot):
                self._messages[plot].show(reason)
            self._draw_histograms()
            return
        for plot in (self.roc_plot, self.pr_plot, self.reliability_plot):
            self._messages[plot].show(None)
        for k, (label, curves) in enumerate(self.curves):
            pen = pg.mkPen(PALETTE[k % len(PALETTE)], width=2)
            roc = (curves.get("roc") or {}).get(cls)
            if roc:
                name = f"{label} · AUC {_fmt(roc.get('auc'))}"
                item = self.roc_plot.getPlotItem().plot(roc["fpr"], roc["tpr"], pen=pen, name=name)
                self.roc_curves[label] = item
                self.roc_hover.add(f"{label} · {cls}", roc["fpr"], roc["tpr"])
            pr = (curves.get("pr") or {}).get(cls)
            if pr:
                name = f"{label} · AP {_fmt(pr.get('ap'))}"
                item = self.pr_plot.getPlotItem().plot(pr["recall"], pr["precision"], pen=pen, name=name)
                self.pr_curves[label] = item
                self.pr_hover.add(f"{label} · {cls}", pr["recall"], pr["precision"])
            rel = curves.get("reliability")
            if rel:
                x, y = reliability_points(rel)
                name = (f"{label} · Brier {_fmt(curves.get('brier'))} · ECE {_fmt(curves.get('ece'))}")
                item = self.reliability_plot.getPlotItem().plot(
                    x, y, pen=pen, name=name, symbol="o",
                    symbolSize=6, symbolBrush=PALETTE[k % len(PALETTE)], symbolPen="w")
                self.reliability_curves[label] = item
                self.reliability_hover.add(f"{label} · {curves.get('reliability_kind', '')}", x, y)
        kinds = {c.get("reliability_kind") for _, c in self.curves if c.get("reliability")}
        titles = {self.roc_plot: f"ROC · {cls}", self.pr_plot: f"Precision-recall · {cls}",
                  self.reliability_plot: "Reliability (10 bins)" + (f" · {kinds.pop()}" if len(kinds) == 1 else "")}
        for plot, title in titles.items():
            plot.getPlotItem().setTitle(title, color="#1d2b44", size="10pt")
            plot.getPlotItem().setRange(xRange=(0, 1), yRange=(0, 1.05), padding=0.02)
        self._draw_histograms()

    def _draw_histograms(self) -> None:
        self._reset(self.histogram_plot, self.histogram_items)
        cls = self.chosen_class()
        index = self.version_combo.currentIndex()
        if not self.curves or cls is None or not 0 <= index < len(self.curves):
            self._messages[self.histogram_plot].show("No scored comparison yet" if not self.curves
                                                     else _unavailable(*self.curves[0]))
            return
        label, curves = self.curves[index]
        hist = (curves.get("histograms") or {}).get(cls)
        if not hist:
            self._messages[self.histogram_plot].show(_unavailable(label, curves))
            return
        self._messages[self.histogram_plot].show(None)
        edges = np.asarray(hist["edges"], dtype=float)
        highest = 1.0
        for k, (key, name) in enumerate((("other_classes", "other classes"), ("true_class", f"true {cls}"))):
            counts = np.asarray(hist.get(key) or [], dtype=float)
            if len(counts) != len(edges) - 1:
                continue
            highest = max(highest, float(counts.max(initial=0)))
            color = PALETTE[1 - k]
            item = pg.PlotDataItem(edges, counts, stepMode="center", fillLevel=0, fillOutline=True,
                                   brush=pg.mkColor(color).lighter(130), pen=pg.mkPen(color), name=name)
            item.setOpacity(0.75)
            self.histogram_plot.getPlotItem().addItem(item)
            self.histogram_items[key] = item
        self.histogram_plot.getPlotItem().setTitle(f"P({cls}) · {label}", color="#1d2b44", size="10pt")
        # Headroom above the highest bar for the legend, so it never hides a bar.
        self.histogram_plot.getPlotItem().setRange(xRange=(0, 1), yRange=(0, highest * 1.8), padding=0.02)

    def _on_export_clicked(self) -> None:
        from exoreg_gui.dialogs.common import choose_save_file
        from exoreg_gui.dialogs.messages import Messages

        path = choose_save_file(self, "Save curves", "image", "curves.png", "PNG images (*.png)")
        if not path:
            return
        try:
            self.export_png(path)
        except Exception as exc:  # noqa: BLE001 - shown to the person, never fatal
            Messages.error(self, "Could not save the curves", exc)


_TITLES = {"roc": "ROC", "pr": "Precision-recall", "reliability": "Reliability (10 bins)",
           "histogram": "Predicted probabilities"}


def _curve_classes(classes: list[str], curves: list[tuple[str, dict]]) -> list[str]:
    """The classes with curves; for two classes, the positive one first (it is the one that matters)."""
    with_roc = [c for c in classes if any(c in (d.get("roc") or {}) for _, d in curves)]
    positive = next((d.get("positive") for _, d in curves if d.get("positive") in with_roc), None)
    if positive:
        with_roc.remove(positive)
        with_roc.insert(0, positive)
    return with_roc


def reliability_points(reliability: dict) -> tuple[list[float], list[float]]:
    """The (mean predicted, observed) points of the bins that hold rows."""
    pairs = [(x, y) for x, y in zip(reliability.get("mean_predicted") or [], reliability.get("observed") or [],
                                    strict=False) if x is not None and y is not None]
    return [x for x, _ in pairs], [y for _, y in pairs]


def _unavailable(label: str, curves: dict) -> str:
    """Why a version has no curves (a model without probabilities), wrapped for the plot."""
    reason = curves.get("reason") or f"{label} gives no probabilities, so it has no curves."
    words, lines, line = reason.split(), [], ""
    for word in words:
        if line and len(line) + len(word) > 48:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join([*lines, line])


def _fmt(value) -> str:
    if not isinstance(value, int | float) or not np.isfinite(value):
        return "n/a"
    return f"{value:.3f}"
