"""The prediction dialog shows the drift verdict before Run: the verdict, a per-feature table and the
training and file histograms of the worst columns (offscreen, with a screenshot)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

from tests._workflow_support import KOI_FEATURES, read_koi  # noqa: E402

RUN_TIMEOUT = int(os.environ.get("EXOREG_TEST_RUN_TIMEOUT", "120000"))


@pytest.fixture(scope="module")
def profiled(koi_csv, tmp_path_factory):
    """A KOI forest registered with the profile of its training rows, and the labelled rows."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline

    from core.model_registry import ModelRegistry

    frame = read_koi(koi_csv)
    labelled = frame[frame["koi_disposition"].isin(["CONFIRMED", "FALSE POSITIVE"])]
    train = labelled.sample(frac=0.7, random_state=0)
    model = Pipeline([("impute", SimpleImputer(strategy="median")),
                      ("forest", RandomForestClassifier(n_estimators=10, max_depth=6, random_state=0, n_jobs=1))])
    model.fit(train[KOI_FEATURES], train["koi_disposition"].to_numpy())
    root = tmp_path_factory.mktemp("drift-gui") / "registry"
    registry = ModelRegistry(root)
    model_id = registry.register_model(
        model=model, model_name="KoiForest", algorithm="RandomForest",
        evaluation_results={"accuracy": 0.9, "precision": 0.9, "recall": 0.9, "f1_score": 0.9},
        hyperparameters={"n_estimators": 10}, training_info={"training_samples": len(train)},
        feature_columns=KOI_FEATURES, training_frame=train,
    )
    return root, model_id, train


def _dialog(qtbot, root, files, model_id):
    from core.model_registry import ModelRegistry
    from exoreg_gui.dialogs.predict_dialog import PredictDialog

    registry = ModelRegistry(root)
    dialog = PredictDialog(registry, registry.list_models(), model_id, [str(f) for f in files])
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: all(j.state != "checking" for j in dialog.jobs.values()), timeout=20000)
    return dialog


def test_the_verdict_table_and_histograms_show_before_run(qtbot, messages, profiled, tmp_path, no_dangling_work):
    root, model_id, train = profiled
    drifted = train.copy()
    drifted["koi_prad"] = drifted["koi_prad"] * 1000  # Earth radii written as thousandths
    src = tmp_path / "koi_prad_in_thousandths.csv"
    drifted.to_csv(src, index=False)
    dialog = _dialog(qtbot, root, [src], model_id)
    panel = dialog.drift_panel
    assert panel.isVisible() and dialog.run_button.isEnabled()  # the person decides
    verdict = panel.verdict_label.text()
    assert "unlike the training data: koi_prad" in verdict
    assert panel.table.rowCount() == len(KOI_FEATURES)
    assert panel.table.item(0, 0).text() == "koi_prad"
    assert panel.table.item(0, 1).text() == "unlike"
    qtbot.waitUntil(lambda: len(panel.plotted) == 3, timeout=5000)  # one histogram per turn of the event loop
    assert panel.plotted[0] == "koi_prad"
    assert all(p.isVisible() for p in panel.plots)

    out = Path(os.environ.get("EXOREG_SCREENSHOT_DIR") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    dialog.resize(1000, 680)
    qtbot.wait(50)
    assert dialog.grab().save(str(out / "dialog-predict-drift.png"))

    # Run anyway: the summary carries the verdict over every row.
    with qtbot.waitSignal(dialog.results_shown, timeout=RUN_TIMEOUT):
        qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    job = dialog.jobs[str(src.resolve())]
    assert job.summary.drift["verdict"] == "unlike the training data"
    assert "Every row: " in dialog.summary_label.text() and "koi_prad" in dialog.summary_label.text()
    assert not messages.errors
    dialog.close()


def test_the_histograms_are_made_on_later_turns_than_the_table(qtbot, messages, profiled, tmp_path,
                                                                no_dangling_work):
    """Making three pyqtgraph plots at once stalled the window for about 100 ms: the verdict and
    the table are set at once, the plots are made hidden one per turn, then drawn together."""
    from exoreg_gui.dialogs.predict_dialog import DriftPanel

    root, model_id, train = profiled
    src = tmp_path / "sample.csv"
    train.sample(400, random_state=3).to_csv(src, index=False)
    dialog = _dialog(qtbot, root, [src], model_id)
    report = dialog.jobs[str(src.resolve())].preflight
    panel = DriftPanel()
    qtbot.addWidget(panel)
    panel.show()
    panel.set_drift(report.drift, report.drift_note)
    assert panel.table.rowCount() == len(KOI_FEATURES) and "like the training data" in panel.verdict_label.text()
    assert panel.plots == [] and panel.plotted == []
    qtbot.waitUntil(lambda: len(panel.plotted) == 3, timeout=5000)
    assert all(p.isVisible() for p in panel.plots)
    panel.set_drift(None, "no training profile")  # then a version without a profile: plots hidden at once
    assert panel.plotted == [] and not any(p.isVisible() for p in panel.plots)
    dialog.close()


def test_a_file_like_the_training_rows_says_so(qtbot, messages, profiled, tmp_path, no_dangling_work):
    root, model_id, train = profiled
    src = tmp_path / "sample.csv"
    train.sample(400, random_state=3).to_csv(src, index=False)
    dialog = _dialog(qtbot, root, [src], model_id)
    assert "like the training data" in dialog.drift_panel.verdict_label.text()
    assert "unlike" not in dialog.drift_panel.verdict_label.text()
    dialog.close()


def test_a_version_without_a_profile_says_there_is_no_drift_check(qtbot, messages, koi_registry, koi_rows_csv,
                                                                   no_dangling_work):
    dialog = _dialog(qtbot, koi_registry.root, [koi_rows_csv], koi_registry.ids[0])
    assert "No drift check" in dialog.drift_panel.verdict_label.text()
    assert not dialog.drift_panel.table.isVisible() and dialog.drift_panel.plotted == []
    assert dialog.run_button.isEnabled()
    dialog.close()
