"""Screenshots of the main window (tree, inspector, compare, charts) for a person to look at.

By default the window shows the test fixture registry and the images go to a temporary
folder. To refresh the README's images, point the test at the demo registry and the docs:

    EXOREG_SCREENSHOT_REGISTRY=<demo registry> EXOREG_SCREENSHOT_DIR=docs/screenshots \\
        QT_QPA_PLATFORM=offscreen pytest tests/test_gui_screenshots.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtGui import QImage  # noqa: E402

from tests._gui_support import open_registry  # noqa: E402


def _distinct_colours(image: QImage, step: int = 7) -> int:
    colours = set()
    for y in range(0, image.height(), step):
        for x in range(0, image.width(), step):
            colours.add(image.pixel(x, y))
    return len(colours)


def _pick_versions(window) -> tuple[str, list[str]]:
    """The best version of the first name with several versions, and up to 4 versions to compare."""
    model = window.tree_panel.tree_model
    names = model.names()
    rich = max(names, key=lambda n: len(model.versions_of(n)))
    versions = model.versions_of(rich)
    best = max(versions, key=lambda e: (e["f1_score"], e["version"]))
    others = [model.versions_of(n)[-1]["model_id"] for n in names if n != rich][:2]
    compare = [e["model_id"] for e in versions][-3:] + others
    return best["model_id"], compare


def test_screenshots(qtbot, window, gui_registry, tmp_path):
    root = Path(os.environ.get("EXOREG_SCREENSHOT_REGISTRY") or gui_registry.root)
    out = Path(os.environ.get("EXOREG_SCREENSHOT_DIR") or tmp_path / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    window.resize(1440, 900)
    shots = {"welcome": window.grab()}  # the first start, before any registry is open
    open_registry(qtbot, window, root, timeout=30000)
    window.tree_panel.view.expandAll()
    best, compare = _pick_versions(window)

    window.tabs.setCurrentIndex(0)
    window.select_versions([best])
    qtbot.waitUntil(lambda: window.inspector.integrity in {"verified", "mismatch", "missing", "unknown"},
                    timeout=10000)
    shots["inspector"] = window.grab()

    window.tabs.setCurrentIndex(1)
    window.select_versions(compare)
    window.action_differences.setChecked(True)
    shots["compare"] = window.grab()
    window.action_differences.setChecked(False)

    window.tabs.setCurrentIndex(2)
    window.select_versions(compare, current=compare[2] if len(compare) > 2 else None)
    qtbot.wait(50)  # let pyqtgraph lay out its axes
    shots["charts"] = window.grab()

    window.tree_panel.filter_edit.setText("forest")
    shots["tree-filtered"] = window.tree_panel.grab()
    window.tree_panel.filter_edit.clear()

    for name, pixmap in shots.items():
        path = out / f"{name}.png"
        assert pixmap.save(str(path), "PNG"), f"could not write {path}"
        image = QImage(str(path))
        assert image.width() >= 300 and image.height() >= 300
        assert _distinct_colours(image) > 20, f"{name}.png looks blank"
