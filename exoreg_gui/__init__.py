"""ExoReg desktop registry browser (PySide6 + pyqtgraph) on top of :mod:`core`."""
