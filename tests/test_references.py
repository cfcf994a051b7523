"""The reference syntax and the one "best version" rule (core.registry.references) and its callers."""

from __future__ import annotations

import pytest

from core.errors import ModelNotFoundError
from core.registry.references import (
    ALIAS,
    BEST_KIND,
    ID_OR_NAME,
    VERSION,
    Reference,
    ReferenceSyntaxError,
    active,
    available_metrics,
    best_row,
    latest_row,
    parse_reference,
    row_metric,
)


def row(name, version, f1, *, date="2025-01-01T00:00:00", status="active", **metrics):
    return {"model_id": f"{name}_v{version}", "model_name": name, "version": version, "f1_score": f1,
            "accuracy": f1, "precision": f1, "recall": f1, "training_date": date, "status": status,
            "metrics": metrics, "aliases": []}


# -- parsing ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("ExoplanetClassifier", Reference(ID_OR_NAME, "ExoplanetClassifier", name="ExoplanetClassifier")),
    ("A_v1_20250104_123456", Reference(ID_OR_NAME, "A_v1_20250104_123456", name="A_v1_20250104_123456")),
    ("A:2", Reference(VERSION, "A:2", name="A", version=2)),
    ("A:latest", Reference(VERSION, "A:latest", name="A", version=None)),
    ("A@production", Reference(ALIAS, "A@production", name="A", alias="production")),
    ("best", Reference(BEST_KIND, "best", metric="f1_score")),
    ("best:", Reference(BEST_KIND, "best:", metric="f1_score")),
    ("best:roc_auc", Reference(BEST_KIND, "best:roc_auc", metric="roc_auc")),
    ("A.b-c:10", Reference(VERSION, "A.b-c:10", name="A.b-c", version=10)),
])
def test_parse_every_form(text, expected):
    assert parse_reference(text) == expected


def test_latest_flag():
    assert parse_reference("A:latest").latest
    assert not parse_reference("A:3").latest and not parse_reference("A").latest


@pytest.mark.parametrize("bad", ["", None, 3])
def test_empty_or_non_text_references_are_refused(bad):
    with pytest.raises(ReferenceSyntaxError, match="empty model reference") as info:
        parse_reference(bad)
    assert info.value.name is None
    assert isinstance(info.value, ModelNotFoundError)


@pytest.mark.parametrize("bad", ["A:two", "A:", "A:1.5"])
def test_a_version_that_is_not_a_number_is_refused(bad):
    with pytest.raises(ReferenceSyntaxError, match="is not a version number") as info:
        parse_reference(bad)
    assert info.value.name == "A"


# -- best -------------------------------------------------------------------------------------------
def test_highest_metric_wins():
    rows = [row("A", 1, 0.8), row("A", 2, 0.9), row("A", 3, 0.85)]
    assert best_row(rows)["version"] == 2


def test_ties_go_to_the_higher_version_never_the_clock():
    rows = [row("A", 1, 0.9, date="2030-01-01T00:00:00"), row("A", 2, 0.9, date="2020-01-01T00:00:00")]
    assert best_row(rows)["version"] == 2
    assert best_row(list(reversed(rows)))["version"] == 2


def test_ties_across_names_go_to_the_higher_version_then_the_first_name():
    rows = [row("B", 1, 0.9), row("A", 2, 0.9), row("C", 2, 0.9)]
    assert best_row(rows)["model_id"] == "A_v2"
    assert best_row(list(reversed(rows)))["model_id"] == "A_v2"


def test_rows_without_a_finite_value_never_win():
    rows = [row("A", 1, None), row("A", 2, float("nan")), row("A", 3, 0.1)]
    assert best_row(rows)["version"] == 3
    assert best_row([row("A", 1, None)]) is None
    assert best_row([]) is None


def test_other_metrics_come_from_the_metrics_mapping():
    rows = [row("A", 1, 0.9, roc_auc=0.7), row("A", 2, 0.8, roc_auc=0.95), row("A", 3, 0.99)]
    assert best_row(rows, "roc_auc")["version"] == 2
    assert row_metric(rows[0], "roc_auc") == 0.7 and row_metric(rows[2], "roc_auc") is None
    assert row_metric({"f1_score": True}, "f1_score") is None
    assert available_metrics(rows) == {"accuracy", "precision", "recall", "f1_score", "roc_auc"}


def test_deleted_versions_are_left_out_by_the_callers():
    rows = [row("A", 1, 0.8), row("A", 2, 0.99, status="deleted")]
    assert best_row(rows)["version"] == 2  # best_row itself judges what it is given...
    assert best_row(active(rows))["version"] == 1  # ...so callers pass the active rows
    assert latest_row(active(rows))["version"] == 1


def test_the_gui_and_the_predict_dialog_use_the_rule():
    from exoreg_gui.dialogs.predict_dialog import default_model_id
    from exoreg_gui.models.registry_tree_model import best_version

    rows = [row("A", 1, 0.9, date="2030-01-01T00:00:00"), row("A", 2, 0.9), row("A", 3, 0.95, status="deleted")]
    assert best_version(rows, "f1_score") == "A_v2"
    assert default_model_id(rows) == "A_v2"
    production = [row("A", 1, 0.7), row("B", 1, 0.9)]
    production[0]["aliases"] = ["production"]
    assert default_model_id(production) == "A_v1"
    assert default_model_id(production, ["B_v1"]) == "B_v1"
    assert default_model_id([row("A", 1, 0.9, status="deleted")]) is None


def test_registry_callers_use_the_rule(tmp_path):
    from core.registry.registry import ModelRegistry
    from tests._factories import FEATURES, forest

    registry = ModelRegistry(tmp_path / "registry")
    ids = {}
    for name, f1 in (("A", 0.9), ("A", 0.9), ("B", 0.9), ("A", 0.99)):
        ids.setdefault(name, []).append(registry.register_model(
            forest(), name, "RandomForest", {"accuracy": f1, "precision": f1, "recall": f1, "f1_score": f1},
            feature_columns=FEATURES))
    registry.delete_model(ids["A"][2])  # A v3, the best, is deleted: it never wins
    assert registry.resolve("best").model_id == ids["A"][1]
    assert registry.best_metadata("f1_score").model_id == ids["A"][1]
    assert registry.get_registry_stats()["best_by_metric"]["f1_score"]["model_id"] == ids["A"][1]
    assert registry.resolve("A").model_id == ids["A"][1]
    assert registry.resolve("A:latest").model_id == ids["A"][1]
    with pytest.raises(ModelNotFoundError, match="No model is named 'C'"):
        registry.resolve("C:two")  # the unknown name is said first
    with pytest.raises(ModelNotFoundError, match="is not a version number"):
        registry.resolve("A:two")
    with pytest.raises(ModelNotFoundError, match="empty model reference"):
        registry.resolve("")
