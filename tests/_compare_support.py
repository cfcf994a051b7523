"""Helpers of the Compare scoring tests: the workflows fixture, opening the scoring dialog, screenshots."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from tests._gui_support import open_registry

RUN_TIMEOUT = int(os.environ.get("EXOREG_TEST_RUN_TIMEOUT", "120000"))


@pytest.fixture
def workflows(window):
    from exoreg_gui.workflows import install_workflows

    flows = install_workflows(window)
    yield flows
    flows.close_all()


def open_scoring(qtbot, window, workflows, registry, csv_path):
    open_registry(qtbot, window, registry.root)
    window.select_versions(registry.ids)
    qtbot.waitUntil(lambda: window.selected_ids() == list(registry.ids))
    window.tabs.setCurrentIndex(1)
    with qtbot.waitSignal(workflows.dialog_opened) as opened:
        qtbot.mouseClick(workflows.score_button, Qt.MouseButton.LeftButton)
    dialog = opened.args[0]
    dialog.set_path(str(csv_path))
    qtbot.waitUntil(lambda: dialog.label_combo.count() > 0, timeout=10000)
    return dialog


def save_shot(widget, name: str, tmp_path: Path) -> Path:
    out = Path(os.environ.get("EXOREG_SCREENSHOT_DIR") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    pixmap = widget.grab()
    image = pixmap.toImage()
    colours = {image.pixel(x, y) for y in range(0, image.height(), 9) for x in range(0, image.width(), 9)}
    assert len(colours) > 8, f"{name} looks blank"
    path = out / f"{name}.png"
    assert pixmap.save(str(path), "PNG")
    return path
