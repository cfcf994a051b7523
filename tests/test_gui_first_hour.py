"""What a newcomer sees in the window in the first hour: values shown as they are, empty plots that
say so, a failed open that leaves the window as it was, preflight notes that alarm only for what fails."""
# ruff: noqa: F811  (fixtures imported from tests._gui_support are redefined as test arguments)

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

from core.errors import RegistryError  # noqa: E402
from exoreg_gui.models.compare_table_model import DiffersRole, compare_rows  # noqa: E402
from exoreg_gui.models.metadata_tree_model import format_value  # noqa: E402
from tests._gui_support import (  # noqa: E402, F401
    gui_registry,
    gui_settings,
    messages,
    no_dangling_work,
    open_registry,
    window,
)


def _meta(name, version, algorithm, hyper, **extra):
    values = dict(model_id=f"{name}_v{version}", model_name=name, version=version, algorithm=algorithm,
                  accuracy=1.0, precision=0.9979, recall=0.95, f1_score=0.97, metrics={}, hyperparameters=hyper,
                  training_info={}, feature_columns=[], tags={}, aliases=[], description="",
                  class_distribution={}, training_dataset="d", training_date="2026-01-01", training_samples=10,
                  test_samples=2, classes=[], model_format="skops", python_version="3.11",
                  sklearn_version="1.5")
    values.update(extra)
    return SimpleNamespace(**values)


# ----------------------------------------------------------------------------- 12: numbers and values
def test_floats_have_one_number_of_decimals():
    assert [format_value(v) for v in (1.0, 0.9979, 0.5, 12.25)] == ["1.0000", "0.9979", "0.5000", "12.2500"]
    assert format_value(300) == "300"


def test_inspector_shows_none_hyperparameters_as_none(qtbot):
    from exoreg_gui.widgets.inspector import InspectorPanel

    panel = InspectorPanel()
    qtbot.addWidget(panel)
    panel.set_version(_meta("RandomForest", 1, "RandomForest", {"max_depth": None, "n_estimators": 300}))
    node = panel.tree_model.find("Hyperparameters", "max_depth")
    index = panel.tree_model.index_of(node, 1)
    assert index.data() == "None"
    per_metric = panel.tree_model.find("Metrics", "accuracy")
    assert panel.tree_model.index_of(per_metric, 1).data() == "1.0000"


def test_compare_marks_parameters_that_do_not_apply_as_not_applicable(qtbot):
    from exoreg_gui.models.compare_table_model import CompareTableModel

    metas = [_meta("RandomForest", 1, "RandomForest", {"max_depth": None, "n_estimators": 100}),
             _meta("RandomForest", 2, "RandomForest", {"max_depth": 12, "n_estimators": 100}),
             _meta("SVM", 1, "SVM", {"C": 1.0})]
    model = CompareTableModel()
    model.set_versions(metas)

    def cells(label):
        row = model.row_for(label, "Hyperparameters")
        return [model.index(row, c) for c in range(1, 4)]

    depth = cells("max_depth")
    assert [i.data() for i in depth] == ["None", "12", "n/a"]
    assert [bool(i.data(DiffersRole)) for i in depth] == [False, True, False]
    assert depth[2].data(Qt.ItemDataRole.BackgroundRole) is None
    assert "Not applicable" in depth[2].data(Qt.ItemDataRole.ToolTipRole)
    # n_estimators is 100 wherever it applies: not a difference, so "differences only" hides it
    assert not [r for r in compare_rows(metas) if r.label == "n_estimators"][0].differs()
    model.set_differences_only(True)
    assert model.row_for("n_estimators") == -1 and model.row_for("max_depth") != -1
    assert "n/a" in model.to_csv()


def test_counts_read_as_sentences():
    from core.common.text import plural

    assert plural(1, "version") == "1 version"
    assert plural(2, "version") == "2 versions"
    assert plural(1200, "row") == "1,200 rows"
    assert plural(1, "entry", "entries") == "1 entry" and plural(3, "entry", "entries") == "3 entries"


def test_bundle_summary_and_verify_count_the_same_files(qtbot, monkeypatch):
    from pathlib import Path

    from exoreg_gui.dialogs import deploy_dialog

    files = {f"file{i}": {"size": 10, "sha256": "0" * 64} for i in range(10)}
    report = SimpleNamespace(path=Path("/tmp/bundle"), model_name="SVM", version=3, files=files, onnx={},
                             sample={}, warnings=[])
    dialog = deploy_dialog.DeployDialog.__new__(deploy_dialog.DeployDialog)  # only the two labels are used
    summary = deploy_dialog.QLabel()
    verify = deploy_dialog.QLabel()
    qtbot.addWidget(summary)
    qtbot.addWidget(verify)
    monkeypatch.setattr(dialog, "summary_label", summary, raising=False)
    monkeypatch.setattr(dialog, "verify_label", verify, raising=False)
    for name in ("progress", "_fill_files", "_fill_parity", "card_view", "_reveal_results", "_update_state",
                 "bundle_written", "verified"):
        monkeypatch.setattr(dialog, name, SimpleNamespace(finish=lambda *a: None, setMarkdown=lambda *a: None,
                                                          emit=lambda *a: None), raising=False)
    monkeypatch.setattr(dialog, "_fill_files", lambda r: None, raising=False)
    monkeypatch.setattr(dialog, "_fill_parity", lambda r: None, raising=False)
    monkeypatch.setattr(dialog, "_reveal_results", lambda: None, raising=False)
    monkeypatch.setattr(dialog, "_update_state", lambda: None, raising=False)
    deploy_dialog.DeployDialog._on_exported(dialog, (report, "card"))
    deploy_dialog.DeployDialog._on_verified(dialog, SimpleNamespace(ok=True, checked=10))
    assert "11 files (10 files listed in manifest.json, and the manifest itself)" in summary.text()
    assert "all 10 files listed in manifest.json match" in verify.text()


# ----------------------------------------------------------------------------- 11: empty plots
def test_empty_confusion_matrix_is_a_centred_message_without_axes(qtbot):
    from exoreg_gui.widgets.confusion_heatmap import ConfusionHeatmap

    heatmap = ConfusionHeatmap()
    qtbot.addWidget(heatmap)
    heatmap.resize(400, 300)
    heatmap.show()
    heatmap.set_matrix(None, None)
    assert heatmap.message.text == "No confusion matrix recorded"
    assert not heatmap.message.axes_shown
    heatmap.set_matrix(["A", "B"], [[3, 1], [0, 4]])
    assert heatmap.message.text == "" and heatmap.message.axes_shown
    heatmap.set_matrix(None, None)
    assert not heatmap.message.axes_shown
    view = heatmap.getPlotItem().getViewBox().viewRange()
    assert view == [[0, 1], [0, 1]] and heatmap.message.item.pos().toTuple() == (0.5, 0.5)


def test_empty_charts_show_messages_without_axes(qtbot):
    from exoreg_gui.widgets.charts_panel import ChartsPanel

    panel = ChartsPanel()
    qtbot.addWidget(panel)
    panel.ensure_built()
    panel.set_versions([], None)
    panel.set_history(None, [])
    for plot in (panel.metric_plot, panel.history_plot, panel.class_plot, panel.importance_plot):
        assert panel.message_text(plot), plot
        assert not panel._messages[plot].axes_shown


# ----------------------------------------------------------------------------- 13: a failed open
def test_a_failed_open_keeps_the_registry_shown_and_says_so(qtbot, window, gui_registry, tmp_path, messages):
    open_registry(qtbot, window, gui_registry.root)
    other = tmp_path / "holiday"
    other.mkdir()
    (other / "photo.jpg").write_bytes(b"jpg")
    with qtbot.waitSignal(window.source.open_failed, timeout=5000):
        window.open_registry(other)
    assert messages.errors[0][0] == "Could not open the registry"
    assert window.registry is not None and window.stack.currentIndex() == 1
    assert window.tree_panel.tree_model.names() == ["NeuralNetwork", "RandomForest", "SVM"]
    assert str(gui_registry.root) in window.path_label.text()
    assert "stays open" in window.path_label.text()
    assert "No registry open" not in window.path_label.text()
    assert window.source.polling, "the registry still shown stays live"


def test_a_user_error_is_logged_without_a_traceback(caplog):
    from exoreg_gui.dialogs.messages import log_error

    def raised(exc):
        try:
            raise exc
        except Exception as caught:  # noqa: BLE001
            return caught

    with caplog.at_level(logging.INFO, logger="exoreg_gui"):
        log_error("Could not open the registry", raised(RegistryError("/x does not look like a registry.")))
        log_error("Could not read", raised(FileNotFoundError(2, "No such file", "/x")))
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.WARNING]
    assert all(r.exc_info is None for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="exoreg_gui"):
        log_error("Something broke", raised(KeyError("bug")))
    assert caplog.records[0].levelno == logging.ERROR and caplog.records[0].exc_info is not None


# ----------------------------------------------------------------------------- 15: preflight wording
def _report(**issues):
    from core.prediction.engine import ColumnIssue

    return SimpleNamespace(issues={k: ColumnIssue(k, **v) for k, v in issues.items()})


def test_preflight_says_empty_cells_will_be_imputed_and_warns_only_for_skipped_rows():
    from exoreg_gui.dialogs.predict_dialog import cell_notes

    report = _report(koi_impact={"missing": 36}, koi_depth={"non_numeric": 2, "examples": ["abc", "n/a"]},
                     koi_period={"infinite": 1})
    imputed, skipped = cell_notes(report, imputes=True)
    assert imputed == ["36 empty <b>koi_impact</b> cells will be imputed by the model's pipeline"]
    assert skipped == [
        "2 cells in <b>koi_depth</b> are not numbers (e.g. 'abc', 'n/a'): those rows will be skipped "
        "(listed in the rejects file)",
        "1 infinite cell in <b>koi_period</b>: those rows will be skipped (listed in the rejects file)",
    ]
    assert not any("cannot" in note for note in imputed)
    imputed, skipped = cell_notes(_report(koi_impact={"missing": 1}), imputes=False)
    assert imputed == [] and "cannot impute" in skipped[0]


def test_preflight_escapes_what_the_file_says():
    from exoreg_gui.dialogs.predict_dialog import cell_notes

    _, skipped = cell_notes(_report(koi_depth={"non_numeric": 1, "examples": ["<b>x</b>"]}), imputes=True)
    assert "<b>x</b>" not in skipped[0] and "&lt;b&gt;" in skipped[0]
