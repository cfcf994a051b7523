"""A small confusion-matrix heatmap (pyqtgraph): true labels down, predicted labels across."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QSizePolicy

from core.training.koi import CANDIDATE, CONFIRMED, FALSE_POSITIVE
from exoreg_gui.widgets.plot_message import PlotMessage

EMPTY_TEXT = "No confusion matrix recorded"


class ConfusionHeatmap(pg.PlotWidget):
    def __init__(self, parent=None):
        super().__init__(parent, background="w")
        self.setMinimumSize(220, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        plot = self.getPlotItem()
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.setMouseEnabled(x=False, y=False)
        plot.invertY(True)
        plot.setLabel("left", "true")
        plot.getAxis("left").setWidth(86)  # room for the class names from the first paint on
        plot.setLabel("bottom", "predicted")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setLookupTable(pg.colormap.get("CET-L12").getLookupTable(0.0, 1.0, 256))
        plot.addItem(self.image)
        self._texts: list[pg.TextItem] = []
        self.labels: list[str] = []
        self.matrix = np.zeros((0, 0))
        self.message = PlotMessage(plot)
        self.message.show(EMPTY_TEXT)

    def set_matrix(self, labels: list[str] | None, matrix: list[list[float]] | None) -> None:
        plot = self.getPlotItem()
        data = np.asarray(matrix if matrix else [], dtype=float)
        n = data.shape[0] if data.ndim == 2 else 0
        if len(self._texts) != n * n:  # text items are reused while the matrix keeps its size
            for item in self._texts:
                plot.removeItem(item)
            self._texts = []
            for _ in range(n * n):
                item = pg.TextItem("", anchor=(0.5, 0.5))
                plot.addItem(item)
                self._texts.append(item)
        if data.ndim != 2 or data.size == 0 or data.shape[0] != data.shape[1]:
            self.labels, self.matrix = [], np.zeros((0, 0))
            self.image.clear()
            self.message.show(EMPTY_TEXT)
            return
        self.labels = [str(label) for label in (labels or range(n))][:n]
        self.matrix = data
        self.message.show(None)
        # Colour by each row's share so a small class is as readable as a large one.
        totals = data.sum(axis=1, keepdims=True)
        shares = np.divide(data, totals, out=np.zeros_like(data), where=totals > 0)
        self.image.setImage(shares, levels=(0.0, 1.0))
        self.image.setRect(0, 0, n, n)
        for i in range(n):
            for j in range(n):
                value = data[i, j]
                item = self._texts[i * n + j]
                item.setText(f"{int(value)}" if float(value).is_integer() else f"{value:.2f}",
                             color="w" if shares[i, j] > 0.55 else "#1d2b44")
                item.setPos(j + 0.5, i + 0.5)
        ticks = [(k + 0.5, _short(label)) for k, label in enumerate(self.labels)]
        plot.getAxis("bottom").setTicks([ticks])
        plot.getAxis("left").setTicks([ticks])
        plot.setRange(xRange=(0, n), yRange=(0, n), padding=0.02)


def _short(label: str) -> str:
    return {FALSE_POSITIVE: "FALSE POS.", CANDIDATE: "CAND.", CONFIRMED: CONFIRMED}.get(label, label)
