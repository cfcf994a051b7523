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


# ----------------------------------------------------------------------------- 10: clipped text
def _tooltip(view, index) -> str:
    """What hovering the cell shows: the registry tree makes its tooltips when asked for."""
    model = view.model()
    tree_model = getattr(getattr(view.parent(), "tree_model", None), "tooltip_at", None)
    if tree_model is not None and hasattr(model, "mapToSource"):
        return tree_model(model.mapToSource(index)) or ""
    return index.data(Qt.ItemDataRole.ToolTipRole) or ""


def _visible_indexes(view):
    from PySide6.QtWidgets import QTreeView

    model = view.model()
    area = view.viewport().rect()
    if isinstance(view, QTreeView):
        rows = []
        index = view.indexAt(area.topLeft())
        while index.isValid() and view.visualRect(index).top() < area.bottom():
            rows.append(index)
            index = view.indexBelow(index)
        for index in rows:
            for column in range(model.columnCount(index.parent())):
                yield index.siblingAtColumn(column)
    else:
        for row in range(model.rowCount()):
            for column in range(model.columnCount()):
                if view.columnSpan(row, column) == 1:
                    yield model.index(row, column)


def clipped_cells(view) -> list[str]:
    """The visible cells whose text does not fit their rectangle and whose tooltip does not hold it."""
    from PySide6.QtGui import QFontMetrics
    from PySide6.QtWidgets import QStyle, QStyleOptionViewItem

    style = view.style()
    margin = 2 * (style.pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, view) + 1)
    area = view.viewport().rect()
    problems = []
    for index in _visible_indexes(view):
        text = index.data()
        if not isinstance(text, str) or not text:
            continue
        rect = view.visualRect(index)
        if not rect.intersects(area) or rect.width() <= 0:
            continue
        option = QStyleOptionViewItem()
        view.initViewItemOption(option)
        option.rect = rect
        delegate = view.itemDelegateForIndex(index)
        delegate.initStyleOption(option, index)
        if type(delegate).__name__ == "AliasBadgeDelegate":
            need, room = delegate.sizeHint(option, index).width(), rect.width()
        else:
            text_rect = style.subElementRect(QStyle.SubElement.SE_ItemViewItemText, option, view)
            need = max(QFontMetrics(option.font).horizontalAdvance(line) for line in text.split("\n"))
            room = text_rect.width() - margin
        if need > room and text not in _tooltip(view, index):
            problems.append(f"{text!r} needs {need} px, has {room} px (row {index.row()}, column {index.column()})")
    header = view.header() if hasattr(view, "header") else view.horizontalHeader()
    for section in range(header.count()):
        if header.isSectionHidden(section) or header.sectionViewportPosition(section) > area.right():
            continue
        if header.stretchLastSection() and section == header.count() - 1:
            continue
        text = str(view.model().headerData(section, Qt.Orientation.Horizontal) or "")
        tip = str(view.model().headerData(section, Qt.Orientation.Horizontal, Qt.ItemDataRole.ToolTipRole) or "")
        if text and header.sectionSize(section) < header.sectionSizeHint(section) and text.replace("\n", " ") \
                not in tip.replace("\n", " "):
            problems.append(f"header {text!r} needs {header.sectionSizeHint(section)} px (with the sort arrow), "
                            f"has {header.sectionSize(section)} px")
    return problems


def test_no_view_cuts_a_text_without_a_tooltip_at_the_default_window_size(qtbot, gui_settings, messages,
                                                                            no_dangling_work, tmp_path):
    from exoreg_gui.main_window import MainWindow
    from tests._gui_support import build_gui_registry, register_version, tiny_model

    root = tmp_path / "registry"
    build_gui_registry(root)
    from core.model_registry import ModelRegistry

    registry = ModelRegistry(root)
    long_id = register_version(registry, tiny_model(), "ThreeClassForestWithVettingFlags", "RandomForest", 0.9895,
                               1.0, {"n_estimators": 200, "max_depth": None, "class_weight": "balanced_subsample"},
                               {"data": "real"}, "A long name")
    registry.set_alias("ThreeClassForestWithVettingFlags", "production", 1)
    registry.set_alias("ThreeClassForestWithVettingFlags", "champion-of-the-season", 1)
    win = MainWindow(gui_settings)  # the default size: nothing restored
    qtbot.addWidget(win)
    win.show()
    try:
        assert (win.width(), win.height()) == (1320, 820)
        open_registry(qtbot, win, root)
        win.tree_panel.view.expandAll()
        qtbot.wait(10)
        model = win.tree_panel.tree_model
        everything = [e["model_id"] for n in model.names() for e in model.versions_of(n)]
        win.tabs.setCurrentIndex(0)
        win.select_versions([long_id])
        assert clipped_cells(win.tree_panel.view) == []
        assert clipped_cells(win.inspector.tree) == []
        win.tabs.setCurrentIndex(1)
        win.select_versions(everything[:4] + [long_id])
        win.compare.baseline_combo.setCurrentIndex(1)  # deltas: "0.9895  (+0.0123)"
        qtbot.wait(10)
        assert clipped_cells(win.compare.view) == []
        win.select_versions(everything)  # more columns than fit: scrolled, each still readable
        win.compare.baseline_combo.setCurrentIndex(2)
        qtbot.wait(10)
        assert clipped_cells(win.compare.view) == []
        win.tree_panel.metric_combo.setCurrentIndex(1)  # a longer metric header
        assert clipped_cells(win.tree_panel.view) == []
        shots = tmp_path / "shots"
        shots.mkdir()
        win.tabs.setCurrentIndex(1)
        win.grab().save(str(shots / "compare-default-size.png"))
        win.tabs.setCurrentIndex(0)
        win.grab().save(str(shots / "inspector-default-size.png"))
        import os
        import shutil

        if os.environ.get("EXOREG_SHOT_COPY"):
            shutil.copytree(shots, os.environ["EXOREG_SHOT_COPY"], dirs_exist_ok=True)
    finally:
        win.shutdown()
        win.close()


# ----------------------------------------------------------------------------- 14: the offline demo
def test_offline_demo_keeps_its_note_offers_a_koi_table_and_badges_synthetic_versions(
        qtbot, window, tmp_path, monkeypatch):
    from exoreg_gui import main_window as main_window_module
    from exoreg_gui.dialogs.common import Prompts
    from exoreg_gui.models.registry_tree_model import COL_ALIASES, SyntheticRole
    from tests._gui_support import register_version, tiny_model

    calls = []

    def offline_builder(root, data=None, *, progress=None, cancelled=None, status=None):
        from core.model_registry import ModelRegistry

        calls.append(data)
        registry = ModelRegistry(root)
        if data is None:
            status("No real KOI table could be had: No KOI table is available locally; pass one with --data PATH. "
                   "The demo uses a SYNTHETIC KOI-like sample instead, and its models say so.")
        status("Training 1 versions...")
        register_version(registry, tiny_model(), "Demo", "RandomForest", 0.9, 0.9, {},
                         {"data": "real" if data else "synthetic"}, "")
        status("Demo registry ready.")
        return root

    monkeypatch.setattr(main_window_module, "_load_demo_builder", lambda: offline_builder)
    assert window.welcome.koi_button.isVisible() and window.welcome.koi_button.text() == "Choose KOI table…"
    with qtbot.waitSignal(window.source.entries_loaded, timeout=20000):
        window.build_demo(tmp_path / "demo")
    note = window.welcome.note_label.text()
    assert "SYNTHETIC" in note and "Choose KOI table…" in note and "--data" not in note
    assert not window.welcome.note_label.isHidden(), "the note stays after the later status lines"
    assert "synthetic data" in window.statusBar().currentMessage()
    model = window.tree_panel.tree_model
    version = model.versions_of("Demo")[0]["model_id"]
    assert model.index_of(version, COL_ALIASES).data(SyntheticRole) is True
    assert "synthetic" in model.tooltip_at(model.index_of(version, 0)).lower()
    window.tabs.setCurrentIndex(0)
    window.select_versions([version])
    assert window.inspector.synthetic_label.isVisible()
    qtbot.wait(50)  # let pyqtgraph lay out its axes
    path = tmp_path / "shots"
    path.mkdir()
    window.grab().save(str(path / "synthetic-demo.png"))
    window.show_welcome()
    qtbot.wait(20)
    window.grab().save(str(path / "welcome-synthetic-note.png"))
    for label in (window.welcome.note_label, window.welcome.status_label):
        assert label.isHidden() or label.height() >= label.heightForWidth(label.width()), "nothing cut off"
    import os
    import shutil

    if os.environ.get("EXOREG_SHOT_COPY"):
        shutil.copytree(path, os.environ["EXOREG_SHOT_COPY"], dirs_exist_ok=True)

    # "Choose KOI table…" builds from the chosen file
    table = tmp_path / "tables" / "koi.csv"
    table.parent.mkdir()
    table.write_text("kepid\n1\n")
    monkeypatch.setattr(Prompts, "open_files", classmethod(lambda cls, parent, title, start, filters: [str(table)]))
    window.show_welcome()
    monkeypatch.setattr(main_window_module, "default_demo_root", lambda: tmp_path / "demo-real")
    with qtbot.waitSignal(window.source.entries_loaded, timeout=20000):
        window.welcome.koi_button.click()
    qtbot.waitUntil(lambda: window._demo_worker is None, timeout=20000)
    assert calls == [None, str(table)]
    assert window.welcome.note_label.isHidden(), "a build from a real table drops the synthetic note"


# ----------------------------------------------------------------------------- 16: file dialogs and folders
def test_file_dialogs_start_in_the_folder_of_the_last_file_of_their_kind(qtbot, gui_settings, monkeypatch, tmp_path):
    from exoreg_gui.dialogs.common import Prompts, choose_files, last_folder

    starts = []
    chosen = tmp_path / "data" / "march" / "candidates.csv"
    chosen.parent.mkdir(parents=True)
    chosen.write_text("x\n")
    monkeypatch.setattr(Prompts, "open_files", classmethod(
        lambda cls, parent, title, start, filters: starts.append(start) or [str(chosen)]))
    assert last_folder("csv") == str(__import__("pathlib").Path.home())
    choose_files(None, "Choose", "csv", "*.csv")
    choose_files(None, "Choose", "csv", "*.csv")
    choose_files(None, "Choose", "models", "*.exoreg")
    assert starts[1] == str(chosen.parent)
    assert starts[2] == str(__import__("pathlib").Path.home()), "each kind remembers its own folder"
    from exoreg_gui.settings import Settings

    assert Settings().get_str("folders/csv") == str(chosen.parent), "kept in the settings for the next start"


def test_open_folder_without_a_file_manager_says_where_the_folder_is(qtbot, messages, monkeypatch, tmp_path):
    from PySide6.QtGui import QDesktopServices, QGuiApplication

    from exoreg_gui.dialogs.common import Prompts

    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: False))
    Prompts.open_folder(tmp_path / "bundle")
    assert messages.infos and messages.infos[0][0] == "Open Folder"
    assert str(tmp_path / "bundle") in messages.infos[0][1]
    assert QGuiApplication.clipboard().text() == str(tmp_path / "bundle")
