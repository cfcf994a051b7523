"""The workflow dialogs: drag-in prediction, scoring on a labelled file, import / export, deployment.

Every run goes through the dialogs as a person would (buttons, drops) and is checked against
what ``core`` itself produces. Modal prompts are replaced by recorders (``messages``,
``prompts``) so nothing blocks a headless run.
"""

from __future__ import annotations

import gc
import hashlib
import json
import pickle
import time
import warnings
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDropEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from tests._gui_support import open_registry  # noqa: E402
from tests._workflow_support import KOI_FEATURES, read_koi  # noqa: E402

PROVENANCE = {"model_id", "version", "model_file", "imported_from", "file_signature", "aliases"}
RUN_TIMEOUT = int(__import__("os").environ.get("EXOREG_TEST_RUN_TIMEOUT", "120000"))


def drop(widget, paths: list[Path]) -> None:
    """Send a drag-enter and a drop carrying file URLs, as the platform would."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    centre = widget.rect().center()
    with warnings.catch_warnings():  # the QPoint constructor is the only one PySide6 offers
        warnings.simplefilter("ignore", DeprecationWarning)
        enter = QDragEnterEvent(centre, Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                                Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    event = QDropEvent(QPointF(centre), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


@pytest.fixture
def workflows(window):
    from exoreg_gui.workflows import install_workflows

    flows = install_workflows(window)
    yield flows
    flows.close_all()


def _registry(root):
    from core.model_registry import ModelRegistry

    return ModelRegistry(root)


def _predict_dialog(qtbot, registry_root, files, model_id=None):
    from exoreg_gui.dialogs.predict_dialog import PredictDialog

    registry = _registry(registry_root)
    dialog = PredictDialog(registry, registry.list_models(), model_id, [str(f) for f in files])
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: all(j.state != "checking" for j in dialog.jobs.values()), timeout=20000)
    return dialog


# ----------------------------------------------------------------------------------- drops
def test_csv_dropped_on_the_window_opens_the_prediction_dialog(qtbot, window, workflows, messages,
                                                               koi_registry, koi_rows_csv, tmp_path):
    from exoreg_gui.dialogs.predict_dialog import PredictDialog

    open_registry(qtbot, window, koi_registry.root)
    with qtbot.waitSignal(workflows.dialog_opened) as opened:
        drop(window, [koi_rows_csv])
    dialog = opened.args[0]
    assert isinstance(dialog, PredictDialog)
    assert list(dialog.jobs) == [str(koi_rows_csv.resolve())]
    # No version selected: the production alias is proposed.
    assert dialog.model_id() == koi_registry.ids[1]
    qtbot.waitUntil(lambda: dialog.jobs[str(koi_rows_csv.resolve())].state == "ready", timeout=20000)
    assert dialog.run_button.isEnabled()
    # The default output is next to the input, never over it.
    assert Path(dialog.output_edit.text()) == koi_rows_csv.with_name("koi_rows.predictions.csv")

    text = tmp_path / "notes.txt"
    text.write_text("hello")
    drop(window, [text])
    assert len(workflows.dialogs) == 1  # nothing new opened
    title, body = messages.infos[-1]
    assert "notes.txt" in body and "CSV" in body
    # A .txt dropped on the dialog itself gets the same kind of answer, not an exception.
    drop(dialog, [text])
    assert "notes.txt" in messages.infos[-1][1] and len(dialog.jobs) == 1
    # More CSVs dropped while the dialog is open join it.
    second = tmp_path / "second.csv"
    second.write_bytes(koi_rows_csv.read_bytes())
    third = tmp_path / "third.csv"
    third.write_bytes(koi_rows_csv.read_bytes())
    drop(window, [second, third])
    assert len(workflows.dialogs) == 1
    assert list(dialog.jobs) == [str(p.resolve()) for p in (koi_rows_csv, second, third)]
    qtbot.waitUntil(lambda: all(j.state == "ready" for j in dialog.jobs.values()), timeout=20000)
    # A registry folder dropped on the window is opened.
    with qtbot.waitSignal(window.registry_opened, timeout=10000) as opened_registry:
        drop(window, [koi_registry.root])
    assert Path(opened_registry.args[0]) == koi_registry.root
    assert not messages.errors


def test_preflight_names_both_missing_columns_and_disables_run(qtbot, messages, koi_registry, koi_csv, tmp_path,
                                                               no_dangling_work):
    path = tmp_path / "short.csv"
    read_koi(koi_csv).head(300).drop(columns=["koi_depth", "koi_prad"]).to_csv(path, index=False)
    dialog = _predict_dialog(qtbot, koi_registry.root, [path])
    assert not dialog.run_button.isEnabled()
    reason = dialog.reason_label.text()
    assert "koi_depth" in reason and "koi_prad" in reason
    preflight = dialog.preflight_label.text()
    assert "Missing" in preflight and "koi_depth" in preflight and "koi_prad" in preflight
    assert "300 rows" in preflight and f"{len(KOI_FEATURES) - 2} of {len(KOI_FEATURES)}" in preflight
    dialog.run()  # refused
    assert not dialog.is_running()


# ----------------------------------------------------------------------------------- prediction
def test_prediction_run_writes_what_the_engine_writes(qtbot, messages, prompts, koi_registry, koi_rows_csv,
                                                      tmp_path, no_dangling_work):
    from core.prediction.engine import predict_csv

    src = tmp_path / "koi_rows.csv"
    src.write_bytes(koi_rows_csv.read_bytes())
    dialog = _predict_dialog(qtbot, koi_registry.root, [src], koi_registry.ids[0])
    assert dialog.run_button.isEnabled()
    with qtbot.waitSignal(dialog.results_shown, timeout=RUN_TIMEOUT):
        qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    job = dialog.jobs[str(src.resolve())]
    assert job.state == "done" and not messages.errors
    out = tmp_path / "koi_rows.predictions.csv"
    assert Path(job.summary.output_path) == out
    expected = predict_csv(koi_registry.ids[0], src, tmp_path / "engine.csv", registry=koi_registry.root)
    assert out.read_bytes() == (tmp_path / "engine.csv").read_bytes()
    assert job.summary.class_counts == expected.class_counts
    # The results: the first rows, sortable; the class counts as bars; the folder button.
    assert dialog.results_box.isVisible()
    table = dialog.preview_table.table_model
    assert table.rowCount() == 200
    headers = [table.headerData(c, Qt.Orientation.Horizontal) for c in range(table.columnCount())]
    assert {"kepid", "kepoi_name", "predicted_label", "model_id"} <= set(headers)
    column = headers.index("probability_CONFIRMED")
    dialog.preview_table.sortByColumn(column, Qt.SortOrder.DescendingOrder)
    values = [float(v) for v in dialog.preview_table.column_values(column)]
    assert values == sorted(values, reverse=True)
    assert dialog.class_chart_data() == expected.class_counts
    qtbot.mouseClick(dialog.open_folder_button, Qt.MouseButton.LeftButton)
    assert prompts.opened_folders == [str(tmp_path)]
    # Save elsewhere as Parquet.
    import pyarrow.parquet as pq

    target = tmp_path / "copy.parquet"
    messages.save_paths.append(str(target))
    dialog._on_save_as_clicked()
    qtbot.waitUntil(target.exists, timeout=10000)
    assert pq.read_table(target).num_rows == expected.rows_predicted
    dialog.close()


def test_cancel_mid_run_leaves_no_file(qtbot, messages, koi_registry, big_koi_csv, tmp_path, no_dangling_work):
    src = tmp_path / "big.csv"
    src.symlink_to(big_koi_csv)
    dialog = _predict_dialog(qtbot, koi_registry.root, [src])
    seen = []
    dialog.progress.bar.valueChanged.connect(seen.append)
    dialog.run()
    qtbot.waitUntil(lambda: any(v > 0 for v in seen), timeout=RUN_TIMEOUT)
    with qtbot.waitSignal(dialog.run_finished, timeout=RUN_TIMEOUT):
        qtbot.mouseClick(dialog.progress.cancel_button, Qt.MouseButton.LeftButton)
    assert dialog.jobs[str(src.resolve())].state == "cancelled"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.csv"]
    assert "Cancelled" in dialog.progress.label.text()
    assert not messages.errors


def test_200k_rows_keep_the_event_loop_responsive(qtbot, messages, koi_registry, big_koi_csv, tmp_path,
                                                  no_dangling_work):
    src = tmp_path / "big.csv"
    src.symlink_to(big_koi_csv)
    dialog = _predict_dialog(qtbot, koi_registry.root, [src])
    gaps = []
    last = [time.perf_counter()]

    def beat():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    heartbeat = QTimer()
    heartbeat.setInterval(10)
    heartbeat.timeout.connect(beat)
    texts = []
    original = dialog.progress.set_progress

    def record(done, total):
        original(done, total)
        texts.append(dialog.progress.label.text())

    dialog.progress.set_progress = record
    gc.collect()  # earlier tests' garbage is not this run's stall
    heartbeat.start()
    try:
        with qtbot.waitSignal(dialog.results_shown, timeout=RUN_TIMEOUT):
            dialog.run()
    finally:
        heartbeat.stop()
    summary = dialog.jobs[str(src.resolve())].summary
    assert summary.rows_read == 200_000
    assert any("rows/s" in t and "left" in t and "of ~" in t for t in texts), texts
    # The event loop kept turning throughout (how long its longest stall was is measured, against its
    # 100 ms target, by bench/gui_prediction_stall.py: a timing limit does not belong in a functional test).
    assert len(gaps) > 50


# ----------------------------------------------------------------------------------- scoring
def test_score_on_a_labelled_file_shows_fresh_metrics_beside_registered(qtbot, window, workflows, messages,
                                                                        prompts, koi_registry, koi_rows_csv):
    from core.prediction.engine import evaluate_csv
    from exoreg_gui.models.compare_table_model import SortRole

    open_registry(qtbot, window, koi_registry.root)
    window.select_versions(koi_registry.ids)
    qtbot.waitUntil(lambda: window.selected_ids() == koi_registry.ids)
    window.tabs.setCurrentIndex(1)
    assert workflows.score_button.isEnabled()
    prompts.files.append([str(koi_rows_csv)])
    with qtbot.waitSignal(workflows.dialog_opened) as opened:
        qtbot.mouseClick(workflows.score_button, Qt.MouseButton.LeftButton)
    dialog = opened.args[0]
    qtbot.mouseClick(dialog.browse_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.label_combo.count() > 0, timeout=10000)
    assert dialog.label_column() == "koi_disposition"  # pre-selected
    with qtbot.waitSignal(workflows.scores_shown, timeout=RUN_TIMEOUT):
        qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    expected = {i: evaluate_csv(i, koi_rows_csv, registry=koi_registry.root).metrics for i in koi_registry.ids}
    # In the comparison table, a "scored" row beside each registered metric, marked best / worst.
    model = window.compare.model
    row = model.row_for("scored f1_score")
    assert row >= 0
    values = [model.index(row, c + 1).data(SortRole) for c in range(2)]
    assert values == pytest.approx([expected[i]["f1_score"] for i in koi_registry.ids])
    registered = model.row_for("f1_score")
    assert [model.index(registered, c + 1).data(SortRole) for c in range(2)] == pytest.approx([0.88, 0.9])
    assert workflows.scores_label.isVisible() and "koi_rows.csv" in workflows.scores_label.text()
    # And in the charts, as their own bars.
    charts = window.charts
    assert "scored f1_score" in charts.metric_bars
    heights = list(charts.metric_bars["scored f1_score"].opts["height"])
    assert heights == pytest.approx([expected[i]["f1_score"] for i in koi_registry.ids])
    # The dialog's own table: registered and fresh side by side.
    table = dialog.table
    assert table.rowCount() == 2
    assert float(table.item(0, 9).text()) == pytest.approx(expected[koi_registry.ids[0]]["f1_score"], abs=1e-4)
    assert float(table.item(0, 8).text()) == pytest.approx(0.88)
    workflows.clear_scores()
    assert window.compare.model.row_for("scored f1_score") < 0
    dialog.close()
    assert not messages.errors


# ----------------------------------------------------------------------------------- import / export
class _WritesMarker:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".lock"}


def _exported_metadata(registry, model_id, folder) -> dict:
    files = registry.export_model(model_id, folder)
    return json.loads(Path(files["metadata"]).read_text())


def test_untrusted_pickle_no_imports_nothing_yes_imports_it(qtbot, window, workflows, messages, prompts,
                                                           registry_copy, tmp_path):
    import joblib

    from exoreg_gui.dialogs.import_dialog import ImportDialog
    from tests._factories import forest

    open_registry(qtbot, window, registry_copy.root)
    registry = window.registry
    meta = _exported_metadata(registry, registry_copy.ids["RandomForest:1"], tmp_path / "exp")
    marker = tmp_path / "pwned"
    evil = pickle.dumps(_WritesMarker(marker))
    (tmp_path / "evil.pkl").write_bytes(evil)
    (tmp_path / "evil.json").write_text(json.dumps({**meta, "model_sha256": hashlib.sha256(evil).hexdigest()}))
    before = _snapshot(registry_copy.root)

    with qtbot.waitSignal(workflows.dialog_opened) as opened:
        drop(window, [tmp_path / "evil.pkl", tmp_path / "evil.json"])
    dialog = opened.args[0]
    assert isinstance(dialog, ImportDialog) and len(dialog.items) == 1
    qtbot.waitUntil(lambda: not dialog.is_busy(), timeout=10000)
    html = dialog.details.toPlainText()
    assert "Needs your trust" in html and "io.open" in html and "pickle" in html
    prompts.trust_answers.append(False)
    qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    assert [Path(p.source).name for p in prompts.trust_asked] == ["evil.pkl"]
    assert prompts.trust_asked[0].inspection.untrusted == ["io.open"]
    assert not dialog.is_busy()
    assert _snapshot(registry_copy.root) == before and not marker.exists()
    assert "not trust" in dialog.details.toPlainText()
    dialog.close()

    # A harmless pickle with trust: registered, and shown selected in the tree.
    model_path = tmp_path / "shared.joblib"
    joblib.dump(forest(), model_path)
    (tmp_path / "shared.json").write_text(json.dumps({**meta, "model_sha256":
                                                      hashlib.sha256(model_path.read_bytes()).hexdigest()}))
    dialog = workflows.open_import([str(model_path)])
    qtbot.waitUntil(lambda: not dialog.is_busy(), timeout=10000)
    prompts.trust_answers.append(True)
    with qtbot.waitSignal(dialog.imported, timeout=20000) as imported:
        qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    new_id = imported.args[0][0]
    assert registry.get_metadata(new_id).imported_from["trusted_by_user"] is True
    qtbot.waitUntil(lambda: window.selected_ids() == [new_id], timeout=10000)
    assert not marker.exists() and not messages.errors


def test_export_then_import_round_trips_a_version(qtbot, window, workflows, messages, prompts, registry_copy,
                                                  tmp_path):
    from exoreg_gui.dialogs.export_dialog import ExportDialog

    open_registry(qtbot, window, registry_copy.root)
    registry = window.registry
    source_ids = [registry_copy.ids["SVM:2"], registry_copy.ids["NeuralNetwork:1"]]
    window.select_versions(source_ids)
    qtbot.waitUntil(lambda: sorted(window.selected_ids()) == sorted(source_ids))
    with qtbot.waitSignal(workflows.dialog_opened) as opened:
        window.workflow_actions["export"].trigger()
    dialog = opened.args[0]
    assert isinstance(dialog, ExportDialog)
    dialog.folder_edit.setText(str(tmp_path / "out"))
    dialog.both_radio.setChecked(True)
    with qtbot.waitSignal(dialog.exported, timeout=20000) as exported:
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    written = sorted(Path(p).name for p in exported.args[0])
    assert len(written) == 6 and sum(n.endswith(".exoreg") for n in written) == 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == written  # no staging left
    dialog.close()

    archives = sorted((tmp_path / "out").glob("*.exoreg"))
    dialog = workflows.open_import([str(p) for p in archives])
    qtbot.waitUntil(lambda: not dialog.is_busy(), timeout=10000)
    assert "Safe" in dialog.details.toPlainText() and "matches the SHA-256" in dialog.details.toPlainText()
    messages.answers.extend([True, True])  # each is the same model file as its source: import it anyway
    with qtbot.waitSignal(dialog.imported, timeout=20000) as imported:
        qtbot.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
    assert [q[0] for q in messages.questions] == ["Already registered"] * 2
    assert not prompts.trust_asked  # allowlisted skops files need no trust
    new_ids = imported.args[0]
    originals = {registry.get_metadata(i).model_name: registry.get_metadata(i).to_dict() for i in source_ids}
    for new_id in new_ids:
        new = registry.get_metadata(new_id).to_dict()
        old = originals[new["model_name"]]
        assert {k: v for k, v in new.items() if k not in PROVENANCE} == \
            {k: v for k, v in old.items() if k not in PROVENANCE}
        assert new["imported_from"]["model_id"] == old["model_id"]
    qtbot.waitUntil(lambda: window.selected_ids() == [new_ids[-1]], timeout=10000)
    dialog.close()
    assert not messages.errors


# ----------------------------------------------------------------------------------- deployment
def test_deployment_bundle_from_the_dialog_passes_verify_bundle(qtbot, window, workflows, messages, prompts,
                                                                koi_registry, koi_rows_csv, tmp_path, capsys):
    from core.cli import main as cli_main
    from exoreg_gui.dialogs.deploy_dialog import DeployDialog

    open_registry(qtbot, window, koi_registry.root)
    window.select_versions([koi_registry.ids[1]])
    qtbot.waitUntil(lambda: window.selected_ids() == [koi_registry.ids[1]])
    with qtbot.waitSignal(workflows.dialog_opened) as opened:
        window.workflow_actions["deploy"].trigger()
    dialog = opened.args[0]
    assert isinstance(dialog, DeployDialog)
    assert [dialog.ref_combo.itemData(i) for i in range(dialog.ref_combo.count())] == \
        [koi_registry.ids[1], "KoiForest@production"]
    dialog.ref_combo.setCurrentIndex(1)
    target = tmp_path / "bundle"
    dialog.folder_edit.setText(str(target))
    dialog.sample_edit.setText(str(koi_rows_csv))
    assert "model.onnx" in dialog.summary_label.text() and "koi_rows.csv" in dialog.summary_label.text()
    window.charts.ensure_built()  # the window builds its charts when idle after opening: not this dialog's work
    # The export runs in a child process (in-process it froze the window for ~280 ms, the ONNX
    # conversion); bench/gui_dialogs.py measures the event loop meanwhile.
    with qtbot.waitSignal(dialog.bundle_written, timeout=RUN_TIMEOUT) as written:
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    report = written.args[0]
    assert report.path == target and report.onnx_included
    names = {dialog.file_tree.topLevelItem(0).child(i).text(0)
             for i in range(dialog.file_tree.topLevelItem(0).childCount())}
    assert {"model.skops", "model.onnx", "README.md", "MLmodel", "manifest.json"} <= names
    assert "model.pkl" not in names  # the checkbox is off by default: no pickle
    assert "labels agree" in dialog.parity_label.text()
    assert dialog.card_view.toPlainText().strip() and "KoiForest" in dialog.card_view.toPlainText()
    with qtbot.waitSignal(dialog.verified, timeout=20000) as verified:
        qtbot.mouseClick(dialog.verify_button, Qt.MouseButton.LeftButton)
    assert verified.args[0].ok and "Verified" in dialog.verify_label.text()
    capsys.readouterr()
    assert cli_main(["verify-bundle", str(target)]) == 0
    qtbot.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    assert prompts.opened_folders == [str(target)]
    # A changed file is reported by Verify.
    (target / "predict.py").write_text("# changed\n")
    with qtbot.waitSignal(dialog.verified, timeout=20000) as verified:
        qtbot.mouseClick(dialog.verify_button, Qt.MouseButton.LeftButton)
    assert not verified.args[0].ok and "predict.py" in dialog.verify_label.text()
    dialog.close()
    assert not messages.errors


def test_deployment_dialog_writes_model_pkl_only_when_ticked(qtbot, window, workflows, messages, koi_registry,
                                                              tmp_path):
    import yaml

    open_registry(qtbot, window, koi_registry.root)
    dialog = workflows.open_deploy(koi_registry.ids[1])
    assert not dialog.pickle_check.isChecked()
    assert "no pickle" in dialog.summary_label.text() and "model.pkl" not in dialog.summary_label.text()
    assert "3.9.0" in dialog.pickle_check.toolTip()
    dialog.onnx_check.setChecked(False)
    dialog.pickle_check.setChecked(True)
    assert "model.pkl (a pickle, for MLflow" in dialog.summary_label.text()
    dialog.resize(dialog.sizeHint().expandedTo(dialog.size()))
    dialog.grab().save(str(tmp_path / "deploy-with-pickle.png"))
    target = tmp_path / "bundle"
    dialog.folder_edit.setText(str(target))
    with qtbot.waitSignal(dialog.bundle_written, timeout=RUN_TIMEOUT) as written:
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert "model.pkl" in written.args[0].files
    flavor = yaml.safe_load((target / "MLmodel").read_text())["flavors"]["sklearn"]
    assert flavor["pickled_model"] == "model.pkl" and flavor["serialization_format"] == "pickle"
    dialog.close()
    assert not messages.errors


def test_closing_the_dialog_mid_run_cancels_and_writes_nothing(qtbot, window, workflows, messages, koi_registry,
                                                               big_koi_csv, tmp_path):
    from exoreg_gui import workers

    open_registry(qtbot, window, koi_registry.root)
    folder = tmp_path / "data"
    folder.mkdir()
    src = folder / "big.csv"
    src.symlink_to(big_koi_csv)
    dialog = workflows.open_predict([str(src)])
    qtbot.waitUntil(lambda: dialog.run_button.isEnabled(), timeout=20000)
    dialog.run()
    qtbot.waitUntil(lambda: dialog.progress.bar.value() > 0, timeout=RUN_TIMEOUT)
    import shiboken6

    dialog.close()  # deleted on close, while the run is still going
    qtbot.waitUntil(lambda: not shiboken6.isValid(dialog), timeout=10000)
    assert not workflows.dialogs
    assert workers.await_workers(timeout=60)
    assert sorted(p.name for p in folder.iterdir()) == ["big.csv"]
    assert not messages.errors
