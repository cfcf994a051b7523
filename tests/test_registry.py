"""The registry's API contract: registration, versions, references, listing, changes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from core import ModelMetadata, ModelRegistry
from core.errors import MetadataValidationError, ModelNotFoundError, RegistryError
from tests._factories import FEATURES, evaluation, forest, register, training_data


@pytest.fixture
def registry(registry_root):
    return ModelRegistry(registry_root)


def test_layout_is_the_guides(registry):
    register(registry)
    assert (registry.root / "models").is_dir()
    assert (registry.root / "metadata").is_dir()
    index = json.loads((registry.root / "index.json").read_text())
    assert "models" in index


def test_versions_start_at_one_and_ids_follow_the_pattern(registry):
    ids = [register(registry) for _ in range(3)]
    assert [m["version"] for m in registry.list_models("ExoplanetClassifier")] == [1, 2, 3]
    for version, model_id in enumerate(ids, start=1):
        assert model_id.startswith(f"ExoplanetClassifier_v{version}_")
        stamp = model_id.split("_v", 1)[1].split("_", 1)[1]
        assert len(stamp) == 15 and stamp[8] == "_" and stamp.replace("_", "").isdigit()
    assert len(set(ids)) == 3  # unique even within one second


def test_deleted_version_numbers_are_never_reused(registry):
    first = register(registry)
    second = register(registry)
    registry.delete_model(second)
    third = register(registry)
    assert registry.get_metadata(third).version == 3
    assert [m["model_id"] for m in registry.list_models()] == [first, third]
    assert [m["version"] for m in registry.list_models(include_deleted=True)] == [1, 2, 3]


def test_register_maps_training_info_and_sorts_evaluation(registry):
    model_id = registry.register_model(
        model=forest(),
        model_name="RF",
        algorithm="RandomForest",
        evaluation_results=evaluation(0.88, roc_auc=np.float64(0.95), macro_f1=0.87,
                                      confusion_matrix={"labels": ["CONFIRMED", "FALSE POSITIVE"],
                                                        "matrix": np.array([[50, 3], [4, 80]])}),
        hyperparameters={},
        training_info={"dataset": "kepler", "training_samples": 300, "test_samples": 60,
                       "class_distribution": {"CONFIRMED": 120, "FALSE POSITIVE": 180}, "seed": 42},
        feature_columns=FEATURES,
        description="first try",
        tags={"features": "physical"},
    )
    meta = registry.get_metadata(model_id)
    assert meta.training_dataset == "kepler"
    assert (meta.training_samples, meta.test_samples) == (300, 60)
    assert meta.class_distribution == {"CONFIRMED": 120, "FALSE POSITIVE": 180}
    assert meta.training_info == {"seed": 42}
    assert meta.metrics == {"roc_auc": 0.95, "macro_f1": 0.87}
    assert meta.evaluation["confusion_matrix"]["matrix"] == [[50, 3], [4, 80]]
    assert meta.classes == ["CONFIRMED", "FALSE POSITIVE"]
    assert meta.hyperparameters["n_estimators"] == 5  # filled from the estimator when none were given
    assert meta.model_format == "skops" and len(meta.model_sha256) == 64 and meta.model_size > 0
    assert meta.sklearn_version and meta.python_version
    assert (meta.description, meta.tags) == ("first try", {"features": "physical"})


@pytest.mark.parametrize("bad", [{"accuracy": 0.9}, evaluation(float("nan")), evaluation(1.5), evaluation("0.9")])
def test_register_rejects_bad_headline_metrics_and_writes_nothing(registry, bad):
    with pytest.raises(MetadataValidationError):
        registry.register_model(forest(), "RF", "RandomForest", bad, {}, {}, FEATURES)
    assert registry.list_models(include_deleted=True) == []
    assert list((registry.root / "models").iterdir()) == []


@pytest.mark.parametrize("name", ["a/b", "a\\b", "a:b", "a@b", "tab\there", ".", "..", "best", "x" * 129, ""])
def test_names_that_would_make_references_ambiguous_are_refused(registry, name):
    with pytest.raises(MetadataValidationError) as info:
        register(registry, name=name)
    assert info.value.field == "model_name"


def test_references(registry):
    a1 = register(registry, name="A", f1=0.80)
    a2 = register(registry, name="A", f1=0.95)
    b1 = register(registry, name="B", f1=0.90)
    registry.set_alias("A", "production", 1)
    assert registry.resolve(a2).model_id == a2
    assert registry.resolve("A").model_id == a2
    assert registry.resolve("A:1").model_id == a1
    assert registry.resolve("A@production").model_id == a1
    assert registry.resolve("best").model_id == a2
    # A tie on accuracy goes to the higher version number (A's v2), not to the latest registration (B's v1).
    assert registry.resolve("best:accuracy").model_id == a2
    assert registry.resolve("B").model_id == b1
    with pytest.raises(ModelNotFoundError, match="A, B"):
        registry.resolve("C")
    with pytest.raises(ModelNotFoundError, match="versions are: 1, 2"):
        registry.resolve("A:7")
    with pytest.raises(ModelNotFoundError, match="production"):
        registry.resolve("A@staging")


def test_alias_moves_between_versions_and_leaves_deleted_ones(registry):
    register(registry, name="A")
    second = register(registry, name="A")
    registry.set_alias("A", "production", 1)
    registry.set_alias("A", "production", 2)
    assert [m["aliases"] for m in registry.list_models("A")] == [[], ["production"]]
    registry.delete_model(second)
    with pytest.raises(ModelNotFoundError):
        registry.resolve("A@production")
    with pytest.raises(RegistryError, match="deleted"):
        registry.set_alias("A", "production", 2)
    registry.restore_model(second)
    registry.set_alias("A", "staging", 2)
    registry.remove_alias("A", "staging")
    assert registry.resolve("A:2").aliases == []


def test_best_model_filters_and_errors(registry):
    register(registry, name="RandomForest", f1=0.91)
    register(registry, name="SVM", algorithm="SVM", f1=0.93)
    _, meta = registry.get_best_model(model_name="RandomForest")
    assert meta.model_name == "RandomForest"
    _, meta = registry.get_best_model(algorithm="SVM")
    assert meta.algorithm == "SVM"
    with pytest.raises(RegistryError, match="available metrics: accuracy, f1_score, precision, recall"):
        registry.get_best_model(metric="auc")
    registry.delete_model(meta.model_id)
    assert registry.get_best_model()[1].model_name == "RandomForest"


def test_list_models_shape_and_unknown_name(registry):
    register(registry, name="B")
    register(registry, name="A")
    rows = registry.list_models()
    assert [r["model_name"] for r in rows] == ["A", "B"]
    for key in ("model_id", "model_name", "version", "algorithm", "accuracy", "precision", "recall", "f1_score",
                "training_date", "training_dataset", "status", "aliases", "tags", "description"):
        assert key in rows[0]
    assert registry.list_models("nope") == []
    rows[0]["aliases"].append("mutated")
    assert registry.list_models()[0]["aliases"] == []  # callers get copies


def test_update_metadata_and_revision(registry):
    model_id = register(registry)
    before = registry.revision()
    registry.update_metadata(model_id, description="tuned", tags={"owner": "ana"})
    assert registry.revision() != before
    meta = ModelRegistry(registry.root).get_metadata(model_id)
    assert (meta.description, meta.tags) == ("tuned", {"owner": "ana"})
    assert registry.revision() == registry.revision()


def test_compare_models_prints_a_table(registry, capsys):
    ids = [register(registry, f1=f) for f in (0.8, 0.9)]
    frame = registry.compare_models(model_ids=ids)
    assert list(frame["f1_score"]) == [0.8, 0.9]
    out = capsys.readouterr().out
    assert "0.8000" in out and ids[0] in out
    assert len(registry.compare_models(model_name="ExoplanetClassifier")) == 2
    with pytest.raises(ModelNotFoundError):
        registry.compare_models(model_ids=["missing"])


def test_stats(registry):
    register(registry, name="A")
    register(registry, name="A")
    register(registry, name="B", algorithm="SVM")
    stats = registry.get_registry_stats()
    assert stats["total_models"] == 3
    assert stats["models_per_name"] == {"A": 2, "B": 1}
    assert stats["models_per_algorithm"] == {"RandomForest": 2, "SVM": 1}
    # Equal F1 everywhere: the higher version number wins (A's v2), not the latest registration (B's v1).
    assert stats["best_by_metric"]["f1_score"]["model_id"].startswith("A_v2")
    assert stats["size_on_disk_bytes"] > 0


def test_metadata_json_round_trip_keeps_unknown_keys():
    X, y = training_data()
    data = {"model_id": "m_v1", "model_name": "m", "algorithm": "RF", "version": 1,
            "training_date": "2025-01-04T12:34:56", "accuracy": 0.9, "precision": 0.9, "recall": 0.9,
            "f1_score": 0.9, "from_the_future": {"x": 1}}
    meta = ModelMetadata.from_dict(data)
    assert meta.extra == {"from_the_future": {"x": 1}}
    again = ModelMetadata.from_json(meta.to_json())
    assert again == meta and again.to_dict()["from_the_future"] == {"x": 1}


def test_loaded_model_predicts_like_the_original(registry):
    model = forest()
    model_id = register(registry, model=model)
    loaded, meta = registry.load_model(model_id=model_id)
    X, _ = training_data()
    assert (loaded.predict(X) == model.predict(X)).all()
    assert meta.model_id == model_id


def test_import_core_stays_light():
    code = ("import sys, core; from core import ModelRegistry, ModelMetadata, ModelPersistence; "
            "heavy = [m for m in ('sklearn', 'pandas', 'skops', 'PySide6', 'scipy') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_changes_by_another_instance_are_seen_by_a_reader(registry):
    register(registry)
    second = register(registry)
    assert [m["status"] for m in registry.list_models(include_deleted=True)] == ["active", "active"]
    other = ModelRegistry(registry.root)
    other.delete_model(second)
    other.set_alias("ExoplanetClassifier", "production", 1)
    assert [m["status"] for m in registry.list_models(include_deleted=True)] == ["active", "deleted"]
    assert registry.resolve("ExoplanetClassifier").version == 1
    assert registry.list_models()[0]["aliases"] == ["production"]


def test_a_registry_deleted_while_open_is_a_clear_error(registry):
    import shutil

    register(registry)
    shutil.rmtree(registry.root)
    with pytest.raises(RegistryError, match="has disappeared"):
        registry.list_models()
