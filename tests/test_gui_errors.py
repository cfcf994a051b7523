"""The browser's side of readable errors: verify's look-alike name warnings, disk errors as sentences."""
# ruff: noqa: F811  (fixtures imported from tests._gui_support are redefined as test arguments)

from __future__ import annotations

import errno
import os

import pytest

pytest.importorskip("pytestqt")

from core import ModelRegistry  # noqa: E402
from core.registry import metadata as metadata_module  # noqa: E402
from core.registry import registry as registry_module  # noqa: E402
from tests._factories import register  # noqa: E402
from tests._gui_support import gui_settings, messages, no_dangling_work, open_registry, window  # noqa: E402, F401


def test_verify_in_the_browser_warns_about_lookalike_names(qtbot, window, messages, registry_root, tmp_path):
    registry = ModelRegistry(registry_root)
    register(registry, name="RandomForest")
    with pytest.MonkeyPatch.context() as m:  # as a release before look-alike names were refused wrote it
        m.setattr(registry_module, "check_new_model_name", metadata_module.validate_model_name)
        register(registry, name="RandomForest\u200b")
    open_registry(qtbot, window, registry_root)
    window.verify_registry()
    qtbot.waitUntil(lambda: bool(messages.infos), timeout=10000)
    qtbot.waitUntil(lambda: window._verify_worker is None, timeout=10000)
    title, text = messages.infos[-1]
    assert title == "Registry verified"
    assert text.startswith("Every model file matches its recorded SHA-256.")
    assert "Warning: The model name 'RandomForest\\u200b'" in text and "U+200B ZERO WIDTH SPACE" in text

    from PySide6.QtWidgets import QMessageBox

    box = QMessageBox(QMessageBox.Icon.Information, title, text, QMessageBox.StandardButton.Ok, window)
    box.show()
    qtbot.waitExposed(box)
    shot = os.environ.get("EXOREG_SCREENSHOT_DIR")
    box.grab().save(os.path.join(shot, "verify-lookalike-warning.png") if shot else str(tmp_path / "verify.png"))
    box.close()


def test_a_disk_error_in_the_browser_reads_as_a_sentence():
    from exoreg_gui.dialogs.messages import describe_error

    message, details = describe_error(OSError(errno.ENOSPC, "No space left on device", "/data/out.csv"))
    assert message.startswith("There is no space left on the disk for /data/out.csv (No space left on device)")
    assert "free some space" in message and "OSError" in details
