"""The charts tab (pyqtgraph): four plots that update in place from the selection.

1. Grouped bars of the chosen metrics for the selected versions.
2. A metric across the versions of one name (how a model improved).
3. Per-class precision / recall / F1 of the current version.
4. Feature importances of the current version (the largest first).

Plot items are kept as attributes (``metric_bars``, ``history_curve``, ``class_bars``,
``importance_bars``) so tests can check the data they show.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from exoreg_gui.resources import icon, koi_column_tooltip
from exoreg_gui.widgets.plot_message import PlotMessage

METRIC_LABELS = {"accuracy": "Accuracy", "precision": "Precision", "recall": "Recall", "f1_score": "F1",
                 "roc_auc": "ROC AUC"}
# Colour-blind safe (Okabe-Ito).
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
MAX_IMPORTANCES = 15


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric.replace("_", " "))


class BarHover:
    """Shows the value of the bar under the mouse as a tooltip."""

    def __init__(self, plot: pg.PlotWidget):
        self.plot = plot
        self.bars: list[tuple[float, float, float, float, str]] = []  # x0, x1, y0, y1, text
        plot.scene().sigMouseMoved.connect(self._on_mouse_moved)

    def clear(self) -> None:
        self.bars = []

    def add(self, x0: float, x1: float, y0: float, y1: float, text: str) -> None:
        self.bars.append((min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1), text))

    def text_at(self, x: float, y: float) -> str | None:
        for x0, x1, y0, y1, text in self.bars:
            if x0 <= x <= x1 and y0 <= y <= y1:
                return text
        return None

    def _on_mouse_moved(self, pos: QPointF) -> None:
        view = self.plot.getPlotItem().vb
        if not view.sceneBoundingRect().contains(pos):
            return
        point = view.mapSceneToView(pos)
        text = self.text_at(point.x(), point.y())
        if text:
            global_pos = self.plot.mapToGlobal(self.plot.mapFromScene(pos))
            QToolTip.showText(global_pos, text, self.plot)
        else:
            QToolTip.hideText()


def make_plot(title: str, parent: QWidget) -> pg.PlotWidget:
    plot = pg.PlotWidget(parent, background="w")
    item = plot.getPlotItem()
    item.setTitle(title, color="#1d2b44", size="10pt")
    item.showGrid(x=False, y=True, alpha=0.25)
    item.setMenuEnabled(True)
    for name in ("left", "bottom"):
        axis = item.getAxis(name)
        axis.setPen(pg.mkPen("#8a8f98"))
        axis.setTextPen(pg.mkPen("#333c48"))
        axis.enableAutoSIPrefix(False)
    plot.setMinimumHeight(180)
    return plot


class ChartsPanel(QWidget):
    #: A chart was saved; carries the path.
    exported = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.metas: list = []
        self.current = None
        self.history_name: str | None = None
        self.history_entries: list[dict] = []
        self.chosen_metrics: list[str] = ["accuracy", "precision", "recall", "f1_score"]

        # -- controls
        self.metrics_button = QToolButton(self)
        self.metrics_button.setText("Metrics ▾")
        self.metrics_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        from PySide6.QtWidgets import QMenu

        self.metrics_menu = QMenu(self.metrics_button)
        self.metrics_button.setMenu(self.metrics_menu)
        self.history_metric_combo = QComboBox(self)
        for key in ("f1_score", "accuracy", "precision", "recall"):
            self.history_metric_combo.addItem(metric_label(key), key)
        self.history_metric_combo.currentIndexChanged.connect(self._on_history_metric_changed)
        self.export_button = QPushButton(icon("save"), "Save as PNG…", self)
        self.export_button.clicked.connect(self._on_export_clicked)

        bar = QHBoxLayout()
        bar.addWidget(QLabel("Bars:", self))
        bar.addWidget(self.metrics_button)
        bar.addSpacing(16)
        bar.addWidget(QLabel("Across versions:", self))
        bar.addWidget(self.history_metric_combo)
        bar.addStretch(1)
        bar.addWidget(self.export_button)

        # -- plots: built one per event-loop turn so creating the window never stalls it
        self.plots_widget = QWidget(self)
        self._grid = QGridLayout(self.plots_widget)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self.metric_bars: dict[str, pg.BarGraphItem] = {}
        self.class_bars: dict[str, pg.BarGraphItem] = {}
        self.importance_bars: pg.BarGraphItem | None = None
        self._messages: dict[pg.PlotWidget, PlotMessage] = {}
        self._builders = [self._build_metric_plot, self._build_history_plot, self._build_class_plot,
                          self._build_importance_plot]

        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.plots_widget, 1)
        self._rebuild_metrics_menu([])

    def build_in_background(self, delay_ms: int = 300, spacing_ms: int = 40) -> None:
        """Create the plots one at a time while the window is idle (each takes ~30 ms)."""
        self._spacing_ms = spacing_ms
        QTimer.singleShot(delay_ms, self, self._build_next)

    def _build_next(self) -> None:
        if self._builders:
            self._builders.pop(0)()
            if self._builders:
                QTimer.singleShot(self._spacing_ms, self, self._build_next)

    def ensure_built(self) -> None:
        """Create the plots not yet built (normally built in the background after opening)."""
        while self._builders:
            self._builders.pop(0)()

    def _build_metric_plot(self) -> None:
        self.metric_plot = make_plot("Metrics of the selected versions", self)
        self._grid.addWidget(self.metric_plot, 0, 0)
        self.metric_legend = self.metric_plot.getPlotItem().addLegend(
            offset=(8, 2), labelTextColor="#333c48", colCount=5, brush=pg.mkBrush(255, 255, 255, 220))
        self.metric_plot.getPlotItem().setLabel("left", "score")
        self.metric_hover = BarHover(self.metric_plot)
        self._draw_metric_bars()

    def _build_history_plot(self) -> None:
        self.history_plot = make_plot("Across versions", self)
        self._grid.addWidget(self.history_plot, 0, 1)
        self.history_plot.getPlotItem().setLabel("bottom", "version")
        self.history_plot.getPlotItem().showGrid(x=True, y=True, alpha=0.25)
        self.history_curve = self.history_plot.getPlotItem().plot(
            [], [], pen=pg.mkPen(PALETTE[0], width=2), symbol="o", symbolSize=7,
            symbolBrush=PALETTE[0], symbolPen="w",
        )
        self.history_curve.sigPointsHovered.connect(self._on_history_hovered)
        self._draw_history()

    def _build_class_plot(self) -> None:
        self.class_plot = make_plot("Per-class scores", self)
        self._grid.addWidget(self.class_plot, 1, 0)
        self.class_legend = self.class_plot.getPlotItem().addLegend(
            offset=(8, 2), labelTextColor="#333c48", colCount=3, brush=pg.mkBrush(255, 255, 255, 220))
        self.class_plot.getPlotItem().setLabel("left", "score")
        self.class_hover = BarHover(self.class_plot)
        self._draw_per_class()

    def _build_importance_plot(self) -> None:
        self.importance_plot = make_plot("Feature importances", self)
        self._grid.addWidget(self.importance_plot, 1, 1)
        self.importance_plot.getPlotItem().setLabel("bottom", "importance")
        self.importance_plot.getPlotItem().showGrid(x=True, y=False, alpha=0.25)
        self.importance_plot.getPlotItem().invertY(True)
        self.importance_plot.getPlotItem().getAxis("left").setWidth(110)
        self.importance_hover = BarHover(self.importance_plot)
        self._draw_importances()

    # -- public API -------------------------------------------------------------------------------
    def set_versions(self, metas: list, current=None) -> None:
        """The selected versions (bars) and the one the per-version charts show."""
        self.ensure_built()
        self.metas = list(metas)
        self.current = current if current is not None else (self.metas[-1] if self.metas else None)
        available = self._available_metrics()
        self._rebuild_metrics_menu(available)
        self._draw_metric_bars()
        self._draw_per_class()
        self._draw_importances()

    def set_history(self, name: str | None, entries: list[dict]) -> None:
        """The versions of one name (``list_models`` rows, oldest first) for the line chart."""
        self.ensure_built()
        self.history_name = name
        self.history_entries = list(entries)
        self._draw_history()

    def set_chosen_metrics(self, metrics: list[str]) -> None:
        self.ensure_built()
        self.chosen_metrics = list(metrics)
        for action in self.metrics_menu.actions():
            action.blockSignals(True)
            action.setChecked(action.data() in self.chosen_metrics)
            action.blockSignals(False)
        self._draw_metric_bars()

    def refresh(self) -> None:
        self.ensure_built()
        self._draw_metric_bars()
        self._draw_history()
        self._draw_per_class()
        self._draw_importances()

    def export_png(self, path: str | Path) -> Path:
        self.ensure_built()
        path = Path(path)
        if not self.plots_widget.grab().save(str(path), "PNG"):
            raise OSError(f"Could not write {path}; choose a folder you can write to.")
        self.exported.emit(str(path))
        return path

    # -- drawing ------------------------------------------------------------------------------------
    def _message(self, plot: pg.PlotWidget, text: str | None) -> None:
        """Show ``text`` centred in place of an empty plot (no axes), or None to show the plot again."""
        message = self._messages.get(plot)
        if message is None:
            message = self._messages[plot] = PlotMessage(plot.getPlotItem())
        message.show(text)

    def message_text(self, plot: pg.PlotWidget) -> str:
        """The message shown in place of ``plot`` ("" when it shows data)."""
        message = self._messages.get(plot)
        return message.text if message is not None else ""

    def _available_metrics(self) -> list[str]:
        keys = ["accuracy", "precision", "recall", "f1_score"]
        for meta in self.metas:
            for key, value in (getattr(meta, "metrics", None) or {}).items():
                if isinstance(value, int | float) and key not in keys and "__" not in key:
                    keys.append(key)
        return keys

    def _rebuild_metrics_menu(self, available: list[str]) -> None:
        self.metrics_menu.clear()
        for key in available or ["accuracy", "precision", "recall", "f1_score"]:
            action = self.metrics_menu.addAction(metric_label(key))
            action.setData(key)
            action.setCheckable(True)
            action.setChecked(key in self.chosen_metrics)
            action.toggled.connect(self._on_metric_action_toggled)

    def _on_history_metric_changed(self, _row: int) -> None:
        self.ensure_built()
        self._draw_history()

    def _on_metric_action_toggled(self, _checked: bool) -> None:
        self.ensure_built()
        self.chosen_metrics = [a.data() for a in self.metrics_menu.actions() if a.isChecked()]
        self._draw_metric_bars()

    @staticmethod
    def _value(meta, metric: str) -> float:
        value = getattr(meta, metric, None) if metric in ("accuracy", "precision", "recall", "f1_score") else \
            (getattr(meta, "metrics", None) or {}).get(metric)
        return float(value) if isinstance(value, int | float) else float("nan")

    def _draw_metric_bars(self) -> None:
        plot = self.metric_plot.getPlotItem()
        for bars in self.metric_bars.values():
            plot.removeItem(bars)
        self.metric_bars = {}
        self.metric_legend.clear()
        self.metric_hover.clear()
        metrics = [m for m in self.chosen_metrics if m]
        if not self.metas or not metrics:
            self._message(self.metric_plot, "Select versions in the tree" if not self.metas else "Choose metrics")
            return
        self._message(self.metric_plot, None)
        n = len(self.metas)
        width = 0.8 / len(metrics)
        x = np.arange(n, dtype=float)
        low = 1.0
        for k, metric in enumerate(metrics):
            heights = np.array([self._value(m, metric) for m in self.metas])
            offsets = x - 0.4 + width * (k + 0.5)
            color = PALETTE[k % len(PALETTE)]
            bars = pg.BarGraphItem(x=offsets, height=np.nan_to_num(heights), width=width * 0.92,
                                   brush=color, pen=pg.mkPen(color))
            plot.addItem(bars)
            self.metric_legend.addItem(bars, metric_label(metric))
            self.metric_bars[metric] = bars
            for xi, h, meta in zip(offsets, heights, self.metas, strict=True):
                if np.isfinite(h):
                    low = min(low, h)
                    self.metric_hover.add(xi - width / 2, xi + width / 2, 0, h,
                                          f"{meta.model_name} v{meta.version}\n{metric_label(metric)}: {h:.4f}")
        labels = self._version_labels(self.metas)
        longest = max(len(label) for label in labels)
        room = max(300, self.metric_plot.width() - 60)  # the plot may not be laid out yet
        step = 1 if n <= 12 else max(1, -(-n * longest * 7 // room))
        plot.getAxis("bottom").setTicks([[(i, labels[i]) for i in range(0, n, step)]])
        plot.getAxis("left").setTicks(None)
        floor = max(0.0, min(low - 0.05, 0.9)) if np.isfinite(low) else 0.0
        floor = np.floor(floor * 20) / 20
        plot.setRange(xRange=(-0.6, n - 0.4), yRange=(floor, _top_with_legend(floor)), padding=0.02)

    @staticmethod
    def _version_labels(metas: list) -> list[str]:
        names = {m.model_name for m in metas}
        if len(names) == 1:
            return [f"v{m.version}" for m in metas]
        return [f"{abbreviate(m.model_name)} v{m.version}" for m in metas]

    def _draw_history(self) -> None:
        plot = self.history_plot.getPlotItem()
        metric = self.history_metric_combo.currentData() or "f1_score"
        points = [(int(e.get("version") or 0), e.get(metric)) for e in self.history_entries]
        points = [(v, float(y)) for v, y in points if isinstance(y, int | float)]
        if not points:
            self.history_curve.setData([], [])
            plot.setTitle("Across versions", color="#1d2b44", size="10pt")
            self._message(self.history_plot, "Select a version to see its model's history")
            return
        self._message(self.history_plot, None)
        xs = np.array([p[0] for p in points], dtype=float)
        ys = np.array([p[1] for p in points], dtype=float)
        self.history_curve.setData(xs, ys)
        plot.setTitle(f"{metric_label(metric)} across the versions of {self.history_name}",
                      color="#1d2b44", size="10pt")
        plot.setLabel("left", metric_label(metric))
        step = max(1, len(xs) // 12)
        plot.getAxis("bottom").setTicks([[(x, f"v{int(x)}") for x in xs[::step]]])
        plot.getAxis("left").setTicks(None)
        span = max(0.02, float(ys.max() - ys.min()))
        plot.setRange(xRange=(xs.min() - 0.5, xs.max() + 0.5),
                      yRange=(max(0.0, ys.min() - span * 0.3), min(1.0, ys.max() + span * 0.3)), padding=0.02)

    def _on_history_hovered(self, _item, points, _event) -> None:
        if points is not None and len(points):
            p = points[0]
            metric = metric_label(self.history_metric_combo.currentData() or "f1_score")
            self.history_plot.setToolTip(f"{self.history_name} v{int(p.pos().x())}\n{metric}: {p.pos().y():.4f}")
        else:
            self.history_plot.setToolTip("")

    def _draw_per_class(self) -> None:
        plot = self.class_plot.getPlotItem()
        for bars in self.class_bars.values():
            plot.removeItem(bars)
        self.class_bars = {}
        self.class_legend.clear()
        self.class_hover.clear()
        meta = self.current
        per_class = ((getattr(meta, "evaluation", None) or {}).get("per_class") or {}) if meta else {}
        per_class = {k: v for k, v in per_class.items() if isinstance(v, dict)}
        if not per_class:
            plot.setTitle("Per-class scores", color="#1d2b44", size="10pt")
            self._message(self.class_plot, "No per-class scores recorded" if meta else "Select a version")
            return
        self._message(self.class_plot, None)
        plot.setTitle(f"Per-class scores · {meta.model_name} v{meta.version}", color="#1d2b44", size="10pt")
        labels = list(per_class)
        scores = [s for s in ("precision", "recall", "f1", "f1_score", "f1-score")
                  if any(s in per_class[c] for c in labels)]
        width = 0.8 / max(1, len(scores))
        x = np.arange(len(labels), dtype=float)
        low = 1.0
        for k, score in enumerate(scores):
            heights = np.array([float(per_class[c].get(score, np.nan)) for c in labels])
            offsets = x - 0.4 + width * (k + 0.5)
            color = PALETTE[(k + 1) % len(PALETTE)] if k else PALETTE[0]
            bars = pg.BarGraphItem(x=offsets, height=np.nan_to_num(heights), width=width * 0.92,
                                   brush=color, pen=pg.mkPen(color))
            plot.addItem(bars)
            name = "F1" if score.startswith("f1") else score.capitalize()
            self.class_legend.addItem(bars, name)
            self.class_bars[score] = bars
            for xi, h, label in zip(offsets, heights, labels, strict=True):
                if np.isfinite(h):
                    low = min(low, h)
                    self.class_hover.add(xi - width / 2, xi + width / 2, 0, h, f"{label}\n{name}: {h:.4f}")
        plot.getAxis("bottom").setTicks([[(i, labels[i]) for i in range(len(labels))]])
        plot.getAxis("left").setTicks(None)
        floor = np.floor(max(0.0, min(low - 0.05, 0.9)) * 20) / 20
        plot.setRange(xRange=(-0.6, len(labels) - 0.4), yRange=(floor, _top_with_legend(floor)), padding=0.02)

    def _draw_importances(self) -> None:
        plot = self.importance_plot.getPlotItem()
        if self.importance_bars is not None:
            plot.removeItem(self.importance_bars)
            self.importance_bars = None
        self.importance_hover.clear()
        meta = self.current
        raw = ((getattr(meta, "evaluation", None) or {}).get("feature_importances") or {}) if meta else {}
        ranked = sorted(((str(k), float(v)) for k, v in raw.items() if isinstance(v, int | float)),
                        key=lambda kv: -kv[1])[:MAX_IMPORTANCES]
        if not ranked:
            plot.setTitle("Feature importances", color="#1d2b44", size="10pt")
            self._message(self.importance_plot, "No feature importances recorded" if meta else "Select a version")
            return
        self._message(self.importance_plot, None)
        plot.setTitle(f"Feature importances · {meta.model_name} v{meta.version}", color="#1d2b44", size="10pt")
        names = [k for k, _ in ranked]
        values = np.array([v for _, v in ranked])
        y = np.arange(len(names), dtype=float)
        self.importance_bars = pg.BarGraphItem(x0=np.zeros(len(values)), y=y, height=0.7, width=values,
                                               brush=PALETTE[2], pen=pg.mkPen(PALETTE[2]))
        plot.addItem(self.importance_bars)
        for yi, name, value in zip(y, names, values, strict=True):
            description = koi_column_tooltip(name)
            text = f"{name}: {value:.4f}" + (f"\n{description}" if description else "")
            self.importance_hover.add(0, value, yi - 0.35, yi + 0.35, text)
        plot.getAxis("left").setTicks([[(i, names[i]) for i in range(len(names))]])
        plot.getAxis("bottom").setTicks(None)
        low = min(0.0, float(values.min()))
        plot.setRange(xRange=(low, float(values.max()) * 1.05 or 1.0), yRange=(-0.6, len(names) - 0.4),
                      padding=0.02)

    def _on_export_clicked(self) -> None:
        from exoreg_gui.dialogs.common import choose_save_file
        from exoreg_gui.dialogs.messages import Messages

        path = choose_save_file(self, "Save charts", "image", "charts.png", "PNG images (*.png)")
        if not path:
            return
        try:
            self.export_png(path)
        except Exception as exc:  # noqa: BLE001 - shown to the person, never fatal
            Messages.error(self, "Could not save the charts", exc)


def _top_with_legend(floor: float) -> float:
    """Top of a score axis that leaves a row above 1.0 for the legend."""
    return 1.0 + (1.0 - floor) * 0.16


def abbreviate(name: str, limit: int = 8) -> str:
    """A short label for a model name under a bar: "RandomForest" -> "RF", "Classifier042" -> "C042"."""
    if len(name) <= 4:
        return name
    capitals = "".join(c for c in name if c.isupper())
    digits = "".join(c for c in name if c.isdigit())
    if len(capitals) >= 2 or (capitals and digits):
        return (capitals + digits)[:limit]
    return name if len(name) <= limit else name[: limit - 1] + "…"

