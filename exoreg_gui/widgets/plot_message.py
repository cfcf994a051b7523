"""A message in place of an empty plot: centred, with no axes, ticks or grid around it.

An empty pyqtgraph plot would otherwise draw its axes with whatever range is left over
("(x0.001)", "5e-159 … 2e-150") and the message on top of them.
"""

from __future__ import annotations

import pyqtgraph as pg

_AXES = ("left", "bottom")


class PlotMessage:
    """The message item of one plot; :meth:`show` a text (the axes go) or None (they come back)."""

    def __init__(self, plot_item: pg.PlotItem, *, color: str = "#5d6877"):
        self.plot_item = plot_item
        self.item = pg.TextItem("", color=color, anchor=(0.5, 0.5))
        self.item.setZValue(10)
        self.item.setVisible(False)
        plot_item.addItem(self.item, ignoreBounds=True)

    @property
    def text(self) -> str:
        return self.item.textItem.toPlainText() if self.item.isVisible() else ""

    def show(self, text: str | None) -> None:
        plot = self.plot_item
        self.item.setText(text or "")
        self.item.setVisible(bool(text))
        for name in _AXES:
            plot.showAxis(name, show=not text)
        if text:
            # A fixed unit range: the message sits in the middle, and nothing is autoscaled to nothing.
            plot.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
            self.item.setPos(0.5, 0.5)
            plot.getAxis("bottom").setTicks([[]])
            plot.getAxis("left").setTicks([[]])
        else:
            plot.getAxis("bottom").setTicks(None)
            plot.getAxis("left").setTicks(None)
        plot.layout.activate()  # give the axes their room back (or the plot theirs) before the next paint

    @property
    def axes_shown(self) -> bool:
        return all(self.plot_item.getAxis(name).isVisible() for name in _AXES)
