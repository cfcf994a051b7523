"""The import dialog: a bare model file gets a form (after the safety review), duplicates are offered a skip."""

# ruff: noqa: F811  (fixtures imported from the support modules are redefined as test arguments)

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

from core import ModelRegistry  # noqa: E402
from core.registry.metadata import OVERLAP_UNKNOWN  # noqa: E402
from tests._factories import FEATURES, forest, register, training_data  # noqa: E402
from tests._gui_support import (  # noqa: E402, F401
    gui_settings,
    messages,
    no_dangling_work,
    open_registry,
    window,
)
from tests._workflow_support import prompts  # noqa: E402, F401


@pytest.fixture
def registry(registry_root):
    reg = ModelRegistry(registry_root)
    register(reg, name="RandomForest", f1=0.8)
    return reg


@pytest.fixture
def labelled(tmp_path):
    X, y = training_data(200, seed=3)
    path = tmp_path / "labelled.csv"
    X.assign(koi_disposition=y).to_csv(path, index=False)
    return path


def _dialog(qtbot, registry, paths):
    from exoreg_gui.dialogs.import_dialog import ImportDialog

    dialog = ImportDialog(registry, [str(p) for p in paths])
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: not dialog.is_busy(), timeout=15000)
    return dialog


def _save(widget, name: str, tmp_path: Path) -> Path:
    folder = Path(os.environ.get("EXOREG_SCREENSHOT_DIR") or tmp_path)
    path = folder / name
    assert widget.grab().save(str(path))
    return path


def test_bare_skops_file_gets_a_prefilled_form_and_imports_with_scores(qtbot, registry, messages, prompts,
                                                                        labelled, tmp_path):
    import skops.io as sio

    path = tmp_path / "outside_forest.skops"
    path.write_bytes(sio.dumps(forest(seed=9)))
    dialog = _dialog(qtbot, registry, [path])
    assert dialog.form.isVisible()
    assert dialog.form.name_edit.text() == "outside_forest"
    assert dialog.form.algorithm_edit.text() == "RandomForest"  # from the estimator
    assert dialog.form.features_edit.text() == ", ".join(FEATURES)  # from feature_names_in_
    assert "none came with the file" in dialog.details.toPlainText()
    dialog.form.name_edit.setText("Outside")
    dialog.form.name_edit.textEdited.emit("Outside")
    dialog.form.score_edit.setText(str(labelled))
    dialog.form.score_edit.textEdited.emit(str(labelled))
    _save(dialog, "dialog-import-outside.png", tmp_path)
    with qtbot.waitSignal(dialog.imported, timeout=30000) as imported:
        qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    meta = registry.get_metadata(imported.args[0][0])
    assert meta.model_name == "Outside" and meta.metrics_caveat == OVERLAP_UNKNOWN and meta.f1_score is not None
    assert not prompts.trust_asked and not messages.errors


def test_bare_pickle_asks_for_trust_before_the_form(qtbot, registry, messages, prompts, tmp_path):
    from sklearn.linear_model import LogisticRegression

    X, y = training_data()
    path = tmp_path / "arr.pkl"
    path.write_bytes(pickle.dumps(LogisticRegression().fit(X.to_numpy(), y)))
    dialog = _dialog(qtbot, registry, [path])
    assert dialog.form.isVisible() and dialog.form.trust_button.isVisible()
    assert not dialog.form.name_edit.isEnabled() and not dialog.import_button.isEnabled()
    assert "trust" in dialog.reason_label.text()
    prompts.trust_answers.append(True)
    qtbot.mouseClick(dialog.form.trust_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.is_busy(), timeout=15000)
    assert dialog.form.name_edit.isEnabled() and dialog.form.algorithm_edit.text() == "LogisticRegression"
    assert not dialog.import_button.isEnabled() and "feature columns" in dialog.reason_label.text()
    dialog.form.features_edit.setText(", ".join(FEATURES))
    dialog.form.features_edit.textEdited.emit("x")
    assert dialog.import_button.isEnabled()
    with qtbot.waitSignal(dialog.imported, timeout=30000) as imported:
        qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    meta = registry.get_metadata(imported.args[0][0])
    assert meta.feature_columns == FEATURES and meta.f1_score is None
    assert meta.imported_from["trusted_by_user"] is True and len(prompts.trust_asked) == 1


def test_reimporting_a_versions_own_archive_offers_to_skip(qtbot, registry, messages, prompts, tmp_path):
    exported = registry.export_model(registry.resolve("RandomForest").model_id, tmp_path / "out")
    dialog = _dialog(qtbot, registry, [exported["archive"]])
    assert "same model file as RandomForest v1" in dialog.details.toPlainText()
    messages.answers.append(False)  # No: do not import it anyway
    qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    assert "same model file as RandomForest v1" in messages.questions[0][1]
    assert "Skipped" in dialog.details.toPlainText() and len(registry.list_models()) == 1
    messages.answers.append(True)  # asked again: yes, import it anyway
    with qtbot.waitSignal(dialog.imported, timeout=30000):
        qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    assert [r["version"] for r in registry.list_models("RandomForest")] == [1, 2]


def test_inspector_says_overlap_unknown_and_confirm_moves_the_best_star(qtbot, window, registry, labelled,
                                                                      tmp_path, gui_settings):
    from core.prediction.importing import import_outside_model
    from core.registry.transfer import preview_import

    path = tmp_path / "outside.pkl"
    path.write_bytes(pickle.dumps(forest(seed=7)))
    new_id = import_outside_model(registry, preview_import(path), name="RandomForest", evaluate=labelled,
                                  label_column="koi_disposition", trusted=True)
    old_id = registry.resolve("RandomForest:1").model_id
    open_registry(qtbot, window, registry.root)
    tree = window.tree_panel.tree_model
    assert tree._best["RandomForest"] == old_id  # the higher F1 of v2 does not count yet
    window.select_versions([new_id])
    inspector = window.inspector
    qtbot.waitUntil(lambda: inspector.meta is not None and inspector.meta.model_id == new_id)
    qtbot.waitUntil(inspector.caveat_row.isVisible)
    assert "overlap unknown" in inspector.caveat_label.text() and "labelled.csv" in inspector.caveat_label.text()
    _save(window, "inspector-overlap-unknown.png", tmp_path)
    qtbot.mouseClick(inspector.confirm_button, Qt.MouseButton.LeftButton)
    assert registry.get_metadata(new_id).metrics_caveat == ""
    qtbot.waitUntil(lambda: tree._best.get("RandomForest") == new_id, timeout=10000)
    qtbot.waitUntil(lambda: not inspector.caveat_row.isVisible(), timeout=10000)
    # The browser records what it opened, for the command line's read commands.
    from core.common.userdirs import remembered_registry

    assert remembered_registry() == Path(registry.root).resolve()
