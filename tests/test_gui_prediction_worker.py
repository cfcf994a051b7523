"""The desktop app's warm prediction worker: started when idle, preloads, survives a kill, ends with the app.

No timing is asserted here; ``bench/gui_dialogs.py`` measures drop-to-results times.
"""
# ruff: noqa: F811  (fixtures imported from the support modules are redefined as test arguments)

from __future__ import annotations

import os
import re
import shutil
import signal
import threading
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

from tests._gui_support import (  # noqa: E402, F401
    gui_settings,
    messages,
    no_dangling_work,
    open_registry,
    window,
)
from tests._workflow_support import (  # noqa: E402, F401
    big_koi_csv,
    koi_registry,
    koi_registry_copy,
    koi_rows_csv,
)

RUN_TIMEOUT = int(os.environ.get("EXOREG_TEST_RUN_TIMEOUT", "120000"))


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _status() -> dict:
    """What the worker process holds (asked from a plain thread, as the app's workers do)."""
    from exoreg_gui import prediction_worker

    out = {}
    thread = threading.Thread(target=lambda: out.update(prediction_worker.shared().status()))
    thread.start()
    thread.join(60)
    return out


def _dialog(qtbot, root: Path, files, model_id=None):
    from core.model_registry import ModelRegistry
    from exoreg_gui.dialogs.predict_dialog import PredictDialog

    registry = ModelRegistry(root)
    dialog = PredictDialog(registry, registry.list_models(), model_id, [str(f) for f in files])
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def _wait_model_state(qtbot, dialog, state: str) -> None:
    qtbot.waitUntil(lambda: dialog.model_state[0] == dialog.model_id() and dialog.model_state[1] == state,
                    timeout=RUN_TIMEOUT)


@pytest.fixture
def refuse_models_here(monkeypatch):
    """Fail if this (the GUI) process loads or deserialises a model file."""
    from core.registry import safety
    from core.registry.registry import ModelRegistry

    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise AssertionError("a model was loaded in the GUI process")

    for owner, name in ((ModelRegistry, "load_model"), (ModelRegistry, "load"), (ModelRegistry, "_load_file"),
                        (safety, "load_model_bytes")):
        monkeypatch.setattr(owner, name, refuse)
    yield calls
    assert not calls


def test_window_starts_the_worker_when_idle_and_ends_it_on_close(qtbot, gui_settings, messages, no_dangling_work):
    from exoreg_gui import prediction_worker
    from exoreg_gui.main_window import MainWindow

    gui_settings.set("prediction/warm_start_ms", 0)
    win = MainWindow(gui_settings)
    qtbot.addWidget(win)
    assert not prediction_worker.running()  # nothing before the window is on screen
    win.show()
    qtbot.waitUntil(prediction_worker.running, timeout=10000)
    pid = prediction_worker.shared().pid
    assert pid != os.getpid()
    status = _status()
    assert status["pid"] == pid and status["loaded"] == []  # warm, nothing loaded yet
    win.close()  # closing the window ends the worker process
    assert not prediction_worker.running()
    assert _gone(pid)


def test_dialog_preloads_its_model_and_runs_without_loading_it_here(qtbot, messages, koi_registry, koi_rows_csv,
                                                                    tmp_path, refuse_models_here, no_dangling_work):
    from exoreg_gui import prediction_worker

    src = tmp_path / "koi_rows.csv"
    src.write_bytes(koi_rows_csv.read_bytes())
    first, second = koi_registry.ids
    dialog = _dialog(qtbot, koi_registry.root, [src], first)
    # As soon as it opens, the proposed model is loaded and verified in the worker process.
    _wait_model_state(qtbot, dialog, "ready")
    assert dialog.model_status.text() == "Loaded and verified: a run starts at once."
    pid, starts = prediction_worker.shared().pid, prediction_worker.shared().starts
    assert _status()["loaded"] == [first]
    # Changing the selection loads the new one.
    dialog.model_combo.setCurrentIndex(dialog.model_combo.findData(second))
    _wait_model_state(qtbot, dialog, "ready")
    assert _status()["loaded"] == [first, second]
    # Two runs: the same process, the model not loaded again.
    for _ in range(2):
        qtbot.waitUntil(dialog.run_button.isEnabled, timeout=RUN_TIMEOUT)
        with qtbot.waitSignal(dialog.results_shown, timeout=RUN_TIMEOUT):
            qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
        assert dialog.jobs[str(src.resolve())].state == "done"
    status = _status()
    assert status["pid"] == pid and status["loads"] == 2 and prediction_worker.shared().starts == starts
    assert dialog.preview_table.table_model.rowCount() == 200
    # A run this short says how short (not "0 s").
    assert re.search(r" in \d\.\d s → koi_rows\.predictions\.csv$", dialog.summary_label.text())
    assert dialog.class_chart_data() == dialog.jobs[str(src.resolve())].summary.class_counts
    assert not messages.errors
    dialog.close()


def test_a_model_file_that_fails_its_check_disables_run_with_the_reason(qtbot, messages, koi_registry_copy,
                                                                        koi_rows_csv, refuse_models_here,
                                                                        no_dangling_work):
    from core.model_registry import ModelRegistry

    model_id = koi_registry_copy.ids[0]
    meta = ModelRegistry(koi_registry_copy.root).get_metadata(model_id)
    path = koi_registry_copy.root / "models" / meta.model_file
    data = path.read_bytes()
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # one bit changed
    dialog = _dialog(qtbot, koi_registry_copy.root, [koi_rows_csv], model_id)
    _wait_model_state(qtbot, dialog, "failed")
    qtbot.waitUntil(lambda: all(j.state != "checking" for j in dialog.jobs.values()), timeout=RUN_TIMEOUT)
    assert not dialog.run_button.isEnabled()
    reason = dialog.reason_label.text()
    assert reason.startswith("Cannot run: ") and "SHA-256" in reason and meta.model_file in reason
    assert "SHA-256" in dialog.model_status.text()
    # The good version is fine.
    dialog.model_combo.setCurrentIndex(dialog.model_combo.findData(koi_registry_copy.ids[1]))
    _wait_model_state(qtbot, dialog, "ready")
    qtbot.waitUntil(dialog.run_button.isEnabled, timeout=RUN_TIMEOUT)
    assert not messages.errors
    dialog.close()


def test_a_killed_worker_fails_that_run_with_a_message_and_the_next_run_works(qtbot, messages, koi_registry,
                                                                              big_koi_csv, koi_rows_csv, tmp_path,
                                                                              no_dangling_work):
    from core.prediction.warm import PredictionWorkerLost
    from exoreg_gui import prediction_worker

    folder = tmp_path / "data"
    folder.mkdir()
    big = folder / "big.csv"
    shutil.copyfile(big_koi_csv, big)  # a copy: the dialog writes beside the real file
    dialog = _dialog(qtbot, koi_registry.root, [big])
    _wait_model_state(qtbot, dialog, "ready")
    qtbot.waitUntil(dialog.run_button.isEnabled, timeout=RUN_TIMEOUT)
    pid = prediction_worker.shared().pid
    dialog.run()
    qtbot.waitUntil(lambda: dialog.progress.bar.value() > 0, timeout=RUN_TIMEOUT)
    with qtbot.waitSignal(dialog.run_finished, timeout=RUN_TIMEOUT):
        os.kill(pid, signal.SIGKILL)
    job = dialog.jobs[str(big.resolve())]
    assert job.state == "failed"
    (title, error), = messages.errors
    assert title == "Could not predict big.csv" and isinstance(error, PredictionWorkerLost)
    assert "killed by signal 9" in str(error) and "run it again" in str(error)
    assert job.message == str(error)
    assert sorted(p.name for p in folder.iterdir()) == ["big.csv"]  # nothing half-written left
    assert dialog.isVisible()  # the window lives on
    # Run again with a small file: a new worker process starts and predicts.
    small = tmp_path / "rows.csv"
    small.write_bytes(koi_rows_csv.read_bytes())
    dialog.add_file(small)
    dialog.file_list.setCurrentRow(0)
    qtbot.mouseClick(dialog.remove_button, Qt.MouseButton.LeftButton)  # the failed big file
    assert list(dialog.jobs) == [str(small.resolve())]
    qtbot.waitUntil(dialog.run_button.isEnabled, timeout=RUN_TIMEOUT)
    job = dialog.jobs[str(small.resolve())]
    with qtbot.waitSignal(dialog.results_shown, timeout=RUN_TIMEOUT):
        qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    assert job.state == "done" and len(messages.errors) == 1
    assert prediction_worker.shared().pid not in (None, pid)
    dialog.close()


def test_fixtures_leave_no_worker_process_running(qtbot, messages, koi_registry, koi_rows_csv, no_dangling_work):
    """The dialog leaves the worker warm for the next run; conftest's fixture ends it after each test."""
    from exoreg_gui import prediction_worker

    dialog = _dialog(qtbot, koi_registry.root, [koi_rows_csv])
    _wait_model_state(qtbot, dialog, "ready")
    dialog.close()
    assert prediction_worker.running()
    _LAST_PID.append(prediction_worker.shared().pid)


_LAST_PID: list[int] = []


def test_the_previous_tests_worker_process_is_gone():
    from exoreg_gui import prediction_worker

    assert _LAST_PID, "run with the test above"
    assert not prediction_worker.running()
    assert _gone(_LAST_PID[-1])
