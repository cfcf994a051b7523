"""Shared fixtures.

The real KOI table is found through ``EXOREG_KOI_CSV``; tests that need it skip with a
reason when it is absent. The user's own settings and signing key are kept out of tests.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
os.environ["EXOREG_OFFLINE"] = "1"


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Keep the signing key, caches and GUI settings of the person running the tests untouched."""
    base = tmp_path_factory.getbasetemp() / "user"
    monkeypatch.setenv("EXOREG_CONFIG_DIR", str(base / "config"))
    monkeypatch.setenv("EXOREG_CACHE_DIR", str(base / "cache"))


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
