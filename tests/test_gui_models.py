"""The browser's item models: structure (qtmodeltester), contents, filtering, sorting, comparison."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt  # noqa: E402

from exoreg_gui.models.compare_table_model import (  # noqa: E402
    CompareTableModel,
    DiffersRole,
    MarkRole,
    RowKindRole,
)
from exoreg_gui.models.metadata_tree_model import MetadataTreeModel, metadata_sections  # noqa: E402
from exoreg_gui.models.registry_filter_proxy import RegistryFilterProxy  # noqa: E402
from exoreg_gui.models.registry_tree_model import (  # noqa: E402
    COL_ALGORITHM,
    COL_METRIC,
    COL_MODEL,
    IsBestRole,
    ModelIdRole,
    RegistryTreeModel,
)


def entry(name, version, f1=0.9, *, algorithm="RandomForest", status="active", tags=None, aliases=None,
          date="2026-01-01T00:00:00"):
    return {
        "model_id": f"{name}_v{version}_20260101_000000",
        "model_name": name,
        "version": version,
        "algorithm": algorithm,
        "accuracy": f1,
        "precision": f1,
        "recall": f1,
        "f1_score": f1,
        "training_date": date,
        "training_dataset": "cumulative_2025",
        "status": status,
        "aliases": aliases or [],
        "tags": tags or {},
        "description": "",
        "metrics": {},
    }


@pytest.fixture
def entries(gui_registry):
    from core.model_registry import ModelRegistry

    return ModelRegistry(gui_registry.root).list_models(include_deleted=True)


def children(model, parent: QModelIndex, column: int = COL_MODEL) -> list[str]:
    return [model.index(r, column, parent).data() for r in range(model.rowCount(parent))]


def top(model, column: int = COL_MODEL) -> list[str]:
    return children(model, QModelIndex(), column)


def name_index(model, name: str) -> QModelIndex:
    for r in range(model.rowCount()):
        index = model.index(r, 0)
        if index.data() == name:
            return index
    raise AssertionError(f"{name} not in the tree: {top(model)}")


# ----------------------------------------------------------------------------- structure
def test_tree_model_passes_modeltester(qtmodeltester, entries):
    model = RegistryTreeModel()
    model.set_entries(entries)
    qtmodeltester.check(model)
    # ... and keeps passing through in-place changes
    more = [*entries, entry("Brand New", 1)]
    model.set_entries(more)
    model.set_entries([e for e in more if e["model_name"] != "SVM"])
    model.sort(COL_METRIC, Qt.SortOrder.DescendingOrder)
    qtmodeltester.check(model)


def test_filter_proxy_passes_modeltester(qtmodeltester, entries):
    model = RegistryTreeModel()
    proxy = RegistryFilterProxy()
    proxy.setSourceModel(model)
    model.set_entries(entries)
    proxy.set_filter_text("forest")
    proxy.set_show_deleted(True)
    qtmodeltester.check(proxy)


def test_metadata_model_passes_modeltester(qtmodeltester, gui_registry):
    from core.model_registry import ModelRegistry

    meta = ModelRegistry(gui_registry.root).get_metadata(gui_registry.ids["RandomForest:2"])
    model = MetadataTreeModel()
    model.set_root(metadata_sections(meta))
    qtmodeltester.check(model)


def test_compare_model_passes_modeltester(qtmodeltester, gui_registry):
    from core.model_registry import ModelRegistry

    registry = ModelRegistry(gui_registry.root)
    model = CompareTableModel()
    model.set_versions([registry.get_metadata(gui_registry.ids[k]) for k in ("RandomForest:1", "SVM:2")])
    model.set_differences_only(True)
    model.set_baseline(gui_registry.ids["SVM:2"])
    qtmodeltester.check(model)


# ----------------------------------------------------------------------------- tree contents
def test_tree_shows_names_versions_and_marks_the_best(entries):
    model = RegistryTreeModel()
    model.set_entries(entries)
    assert top(model) == ["NeuralNetwork", "RandomForest", "SVM"]
    forest = name_index(model, "RandomForest")
    assert children(model, forest) == ["v1", "v2", "v3"]
    assert children(model, forest, COL_METRIC) == ["0.9120", "0.9480", "0.9310"]
    assert children(model, forest, COL_ALGORITHM) == ["RandomForest"] * 3
    best = [bool(model.index(r, 0, forest).data(IsBestRole)) for r in range(3)]
    assert best == [False, True, False]
    # the name row shows its best score; the alias is on v2
    assert model.index(forest.row(), COL_METRIC).data() == "0.9480"
    assert model.index(1, 4, forest).data() == "production"


def test_primary_metric_changes_column_and_best(entries):
    model = RegistryTreeModel()
    model.set_entries(entries)
    model.set_primary_metric("accuracy")
    assert model.headerData(COL_METRIC, Qt.Orientation.Horizontal) == "Accuracy"
    forest = name_index(model, "RandomForest")
    assert children(model, forest, COL_METRIC) == ["0.9210", "0.9510", "0.9360"]


def test_primary_metric_change_resorts_the_view_and_keeps_indexes():
    model = RegistryTreeModel()
    proxy = RegistryFilterProxy()
    proxy.setSourceModel(model)
    rows = [entry("M", 1, 0.9), entry("M", 2, 0.8), entry("M", 3, 0.7)]
    for row, accuracy in zip(rows, (0.1, 0.3, 0.2), strict=True):
        row["accuracy"] = accuracy
    model.set_entries(rows)
    proxy.sort(COL_METRIC, Qt.SortOrder.DescendingOrder)
    assert children(proxy, name_index(proxy, "M")) == ["v1", "v2", "v3"]
    kept = QPersistentModelIndex(proxy.index(0, 0, name_index(proxy, "M")))
    model.set_primary_metric("accuracy")
    parent = name_index(proxy, "M")
    assert children(proxy, parent) == ["v2", "v3", "v1"]
    assert children(proxy, parent, COL_METRIC) == ["0.3000", "0.2000", "0.1000"]
    assert proxy.index(0, 0, parent).data(IsBestRole) is True
    assert kept.isValid() and kept.data() == "v1" and kept.row() == 2


def test_deleted_versions_hidden_until_shown(entries):
    model = RegistryTreeModel()
    proxy = RegistryFilterProxy()
    proxy.setSourceModel(model)
    model.set_entries(entries)
    svm = name_index(proxy, "SVM")
    assert children(proxy, svm) == ["v2"]
    proxy.set_show_deleted(True)
    svm = name_index(proxy, "SVM")
    assert children(proxy, svm) == ["v1", "v2"]
    assert model.version_counts() == (6, 1)


def test_name_with_only_deleted_versions_is_hidden():
    model = RegistryTreeModel()
    proxy = RegistryFilterProxy()
    proxy.setSourceModel(model)
    model.set_entries([entry("Gone", 1, status="deleted"), entry("Kept", 1)])
    assert top(proxy) == ["Kept"]
    proxy.set_show_deleted(True)
    assert top(proxy) == ["Gone", "Kept"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("svm", ["SVM"]),
        ("FOREST", ["RandomForest"]),            # case-insensitive name / algorithm
        ("orbit", ["SVM"]),                       # a tag value
        ("features=vetting", ["RandomForest"]),   # a key=value tag
        ("production", ["RandomForest"]),         # an alias
        ("nothing-like-this", []),
    ],
)
def test_filter_by_name_algorithm_tag_alias(entries, text, expected):
    model = RegistryTreeModel()
    proxy = RegistryFilterProxy()
    proxy.setSourceModel(model)
    model.set_entries(entries)
    proxy.set_filter_text(text)
    assert top(proxy) == expected


def test_filter_keeps_only_matching_versions(entries):
    model = RegistryTreeModel()
    proxy = RegistryFilterProxy()
    proxy.setSourceModel(model)
    model.set_entries(entries)
    proxy.set_filter_text("vetting")
    assert children(proxy, name_index(proxy, "RandomForest")) == ["v3"]


def test_sort_numbers_as_numbers():
    model = RegistryTreeModel()
    proxy = RegistryFilterProxy()
    proxy.setSourceModel(model)
    rows = [entry("M", v, f1) for v, f1 in [(1, 0.5), (2, 0.95), (9, 0.1), (10, 0.75), (11, 0.9)]]
    model.set_entries(rows)
    parent = name_index(proxy, "M")
    assert children(proxy, parent) == ["v1", "v2", "v9", "v10", "v11"]  # not v1, v10, v11, v2, v9
    proxy.sort(COL_MODEL, Qt.SortOrder.DescendingOrder)
    assert children(proxy, name_index(proxy, "M")) == ["v11", "v10", "v9", "v2", "v1"]
    proxy.sort(COL_METRIC, Qt.SortOrder.DescendingOrder)
    assert children(proxy, name_index(proxy, "M"), COL_METRIC) == ["0.9500", "0.9000", "0.7500", "0.5000",
                                                                    "0.1000"]
    proxy.sort(COL_METRIC, Qt.SortOrder.AscendingOrder)
    assert children(proxy, name_index(proxy, "M")) == ["v9", "v1", "v10", "v11", "v2"]


def test_in_place_refresh_keeps_persistent_indexes():
    model = RegistryTreeModel()
    model.set_entries([entry("A", 1), entry("B", 1), entry("B", 2, 0.8)])
    kept = QPersistentModelIndex(model.index_of(entry("B", 2)["model_id"]))
    # another process adds a name before B, a version of B and changes B v2's aliases
    changed = entry("B", 2, 0.8, aliases=["staging"])
    model.set_entries([entry("A", 1), entry("AA", 1), entry("B", 1), changed, entry("B", 3, 0.99)])
    assert kept.isValid()
    assert kept.data(ModelIdRole) == changed["model_id"]
    assert model.index(kept.row(), 4, kept.parent()).data() == "staging"
    assert top(model) == ["A", "AA", "B"]
    assert children(model, name_index(model, "B")) == ["v1", "v2", "v3"]
    # removals too
    model.set_entries([entry("B", 2, 0.8)])
    assert kept.isValid() and kept.data(ModelIdRole) == changed["model_id"]
    assert top(model) == ["B"]


# ----------------------------------------------------------------------------- comparison
@pytest.fixture
def forest_metas(gui_registry):
    from core.model_registry import ModelRegistry

    registry = ModelRegistry(gui_registry.root)
    return [registry.get_metadata(gui_registry.ids[f"RandomForest:{v}"]) for v in (1, 2, 3)]


def value_cells(model, label):
    row = model.row_for(label)
    assert row >= 0, f"{label} not shown: {model.row_labels()}"
    return [model.index(row, c) for c in range(1, model.columnCount())]


def test_compare_differences_only_hides_equal_rows(forest_metas):
    model = CompareTableModel()
    model.set_versions(forest_metas)
    assert model.row_for("training samples") >= 0
    assert model.row_for("koi_period") >= 0
    model.set_differences_only(True)
    labels = model.row_labels()
    # equal everywhere: hidden
    for equal in ("training samples", "dataset", "koi_period", "number of features", "random_state"):
        assert equal not in labels
    # different: kept, with their sections
    for different in ("f1_score", "accuracy", "n_estimators", "max_depth", "tag features", "description"):
        assert different in labels
    assert "[Metrics]" in labels and "[Hyperparameters]" in labels
    assert "[Features]" not in labels  # no feature row differs
    # section rows are marked as such
    assert model.index(model.section_rows()[0], 0).data(RowKindRole) == "group"
    model.set_differences_only(False)
    assert "koi_period" in model.row_labels()


def test_compare_marks_best_and_worst(forest_metas):
    model = CompareTableModel()
    model.set_versions(forest_metas)  # f1: v1 0.912, v2 0.948, v3 0.931
    assert [c.data(MarkRole) for c in value_cells(model, "f1_score")] == ["worst", "best", None]
    assert [c.data(MarkRole) for c in value_cells(model, "accuracy")] == ["worst", "best", None]
    # hyperparameters get no best/worst, but differing cells are flagged against the first column
    assert [c.data(MarkRole) for c in value_cells(model, "max_depth")] == [None, None, None]
    assert [c.data(DiffersRole) for c in value_cells(model, "max_depth")] == [False, True, True]


def test_compare_baseline_shows_differences(forest_metas):
    model = CompareTableModel()
    model.set_versions(forest_metas)
    model.set_baseline(forest_metas[1].model_id)
    cells = value_cells(model, "f1_score")
    assert cells[1].data() == "0.9480"
    assert cells[0].data() == "0.9120  (-0.0360)"
    assert cells[2].data() == "0.9310  (-0.0170)"
    assert [c.data(DiffersRole) for c in value_cells(model, "max_depth")] == [True, False, False]
    assert model.headerData(2, Qt.Orientation.Horizontal) == "RandomForest\nv2 · baseline"


def test_compare_copy_and_csv(forest_metas):
    import csv
    import io

    model = CompareTableModel()
    model.set_versions(forest_metas)
    model.set_differences_only(True)
    text = model.to_text().splitlines()
    assert text[0].split("\t") == ["field", "RandomForest v1", "RandomForest v2", "RandomForest v3"]
    assert "f1_score\t0.9120\t0.9480\t0.9310" in text
    rows = list(csv.reader(io.StringIO(model.to_csv())))
    assert rows[0] == ["section", "field", "RandomForest v1", "RandomForest v2", "RandomForest v3"]
    f1 = next(r for r in rows if r[1] == "f1_score")
    assert [float(x) for x in f1[2:]] == [0.912, 0.948, 0.931]
    assert all(r[1] != "training samples" for r in rows)  # differences only applies to the export too


def test_metadata_sections_show_everything(gui_registry):
    from core.model_registry import ModelRegistry

    meta = ModelRegistry(gui_registry.root).get_metadata(gui_registry.ids["RandomForest:2"])
    model = MetadataTreeModel()
    model.set_root(metadata_sections(meta))
    sections = top(model, 0)
    for section in ("Metrics", "Per-class scores", "Hyperparameters", "Training", "Class distribution",
                    "Feature columns", "Feature importances", "File", "Environment"):
        assert section in sections
    assert model.find("Metrics", "roc_auc").value == pytest.approx(0.988)
    assert model.find("Hyperparameters", "n_estimators").value == 200
    period = model.find("Feature columns", "koi_period")
    assert period.tooltip == "Orbital Period [days]"
    assert model.find("File", "SHA-256").value == meta.model_sha256


def test_compare_copy_and_csv_escape_formula_cells(forest_metas):
    import csv
    import dataclasses
    import io

    metas = [dataclasses.replace(m, model_name="=HYPERLINK(1)", description="@SUM(A1)") for m in forest_metas]
    model = CompareTableModel()
    model.set_versions(metas)
    header = model.to_text().splitlines()[0].split("\t")
    assert header[1:] == ["'=HYPERLINK(1) v1", "'=HYPERLINK(1) v2", "'=HYPERLINK(1) v3"]
    rows = list(csv.reader(io.StringIO(model.to_csv())))
    assert rows[0][2:] == header[1:]
    assert all(not cell.startswith(("=", "+", "@")) for r in rows for cell in r)
    f1 = next(r for r in rows if r[1] == "f1_score")
    assert [float(x) for x in f1[2:]] == [0.912, 0.948, 0.931]  # numbers stay numbers
