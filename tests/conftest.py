"""Shared fixtures.

The real KOI table is found through ``EXOREG_KOI_CSV``; tests that need it skip with a
reason when it is absent. The user's own settings and signing key are kept out of tests.

A Qt warning or critical message fails the test that caused it, as a Python warning does
(``filterwarnings = error`` in ``pyproject.toml``): a person would see it on the terminal.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import pytest

#: Fixtures shared by the GUI and workflow tests (a window, registries, recorders for modal prompts), and the
#: SeaweedFS server of the object-storage tests.
pytest_plugins = ("tests._gui_support", "tests._workflow_support", "tests._s3server")

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
os.environ["EXOREG_OFFLINE"] = "1"

#: Qt messages that are not the product's doing, each with the reason it is allowed.
QT_MESSAGE_IGNORES = (
    # The offscreen platform has no window manager to pass a window's size hints to.
    re.compile(r"^This plugin does not support propagateSizeHints\(\)$"),
    # Nor one to raise a window above others (activating the main window after a dialog).
    re.compile(r"^This plugin does not support raise\(\)$"),
)


def _qt_message_problem(message: str) -> bool:
    return not any(pattern.search(message) for pattern in QT_MESSAGE_IGNORES)


class _QtLogCollector(logging.Handler):
    """Qt messages that reached the app's own handler (``exoreg_gui.app`` installs one) as log records."""

    def __init__(self, sink: list[str]):
        super().__init__(logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if _qt_message_problem(message):
            self.sink.append(f"{record.levelname}: {message}")


@pytest.fixture(autouse=True)
def _qt_messages_fail_the_test():
    """Fail the test on a Qt warning, critical or fatal message not listed in QT_MESSAGE_IGNORES."""
    try:
        from PySide6.QtCore import QtMsgType, qInstallMessageHandler
    except ImportError:  # a run without the GUI's dependencies
        yield
        return
    problems: list[str] = []
    failing = {QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg}

    def handler(mode, context, message):
        if mode in failing and _qt_message_problem(message):
            problems.append(f"{mode.name}: {message}")

    previous = qInstallMessageHandler(handler)
    collector = _QtLogCollector(problems)
    qt_logger = logging.getLogger("exoreg_gui.qt")
    qt_logger.addHandler(collector)
    try:
        yield
    finally:
        qt_logger.removeHandler(collector)
        qInstallMessageHandler(previous)
    if problems:
        pytest.fail("Qt said:\n  " + "\n  ".join(problems), pytrace=False)


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Keep the signing key, caches, data (the demo registry) and GUI settings of the person running the
    tests untouched."""
    base = tmp_path_factory.getbasetemp() / "user"
    monkeypatch.setenv("EXOREG_CONFIG_DIR", str(base / "config"))
    monkeypatch.setenv("EXOREG_CACHE_DIR", str(base / "cache"))
    monkeypatch.setenv("EXOREG_DATA_DIR", str(base / "data"))


@pytest.fixture(scope="session")
def koi_csv() -> Path:
    value = os.environ.get("EXOREG_KOI_CSV")
    if not value:
        pytest.skip("EXOREG_KOI_CSV is not set: point it at the NASA cumulative KOI table to run this test")
    path = Path(value)
    if not path.is_file():
        pytest.skip(f"EXOREG_KOI_CSV points at {path}, which does not exist")
    return path


@pytest.fixture
def registry_root(tmp_path) -> Path:
    return tmp_path / "registry"


@pytest.fixture(autouse=True)
def _no_prediction_worker_left():
    """End the desktop app's prediction worker process after every test that started it."""
    yield
    import sys

    module = sys.modules.get("exoreg_gui.prediction_worker")
    if module is not None and module.running():
        pid = module.shared().pid
        module.shutdown()
        assert not module.running(), f"the prediction worker process {pid} is still running after the test"
