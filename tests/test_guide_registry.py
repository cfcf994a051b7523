"""The guide's ModelRegistry snippets and Examples 2 and 3, run as written (imports from core).

Where the guide uses placeholder ids ("model_1", "model_123") the test passes real ids;
the one concrete id it shows is produced for real by registering at that moment.
"""

from __future__ import annotations

import datetime as dt

import pytest

import core.model_registry as model_registry_module
from core.model_registry import ModelRegistry
from tests._factories import FEATURES, forest, training_data


@pytest.fixture
def guide_registry(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    moments = iter([dt.datetime(2025, 1, 4, 12, 34, 56, tzinfo=dt.UTC)] * 2)
    real_now = model_registry_module._now
    monkeypatch.setattr(model_registry_module, "_now", lambda: next(moments, None) or real_now())
    registry = ModelRegistry("models/registry")
    trained_model = forest()
    model_id = registry.register_model(
        model=trained_model,
        model_name="ExoplanetClassifier",
        algorithm="RandomForest",
        evaluation_results={
            'accuracy': 0.95,
            'precision': 0.93,
            'recall': 0.94,
            'f1_score': 0.935
        },
        hyperparameters={'n_estimators': 100, 'max_depth': 20},
        training_info={
            'dataset': 'cumulative_2025',
            'training_samples': 5000,
            'test_samples': 1000,
            'class_distribution': {'CONFIRMED': 2000, 'FALSE POSITIVE': 3000}
        },
        feature_columns=['koi_period', 'koi_duration', 'koi_depth', 'koi_prad']
    )
    assert model_id == "ExoplanetClassifier_v1_20250104_123456"
    for f1, name in ((0.94, "ExoplanetClassifier"), (0.90, "RandomForest"), (0.96, "SVM")):
        registry.register_model(forest(seed=int(f1 * 100)), name, name if name != "ExoplanetClassifier" else "RandomForest",
                                {"accuracy": 0.9, "precision": 0.9, "recall": 0.9, "f1_score": f1}, {},
                                {"dataset": "kepler", "training_samples": 300}, FEATURES)
    return registry


def test_load_model_snippets(guide_registry):
    registry = guide_registry
    # Load by model ID
    model, metadata = registry.load_model(model_id="ExoplanetClassifier_v1_20250104_123456")
    assert metadata.version == 1
    # Load latest version by name
    model, metadata = registry.load_model(model_name="ExoplanetClassifier")
    assert metadata.version == 2
    # Load specific version
    model, metadata = registry.load_model(model_name="ExoplanetClassifier", version=2)
    assert metadata.f1_score == 0.94


def test_get_best_model_snippets(guide_registry):
    registry = guide_registry
    best_model, metadata = registry.get_best_model()
    assert metadata.model_name == "SVM"
    best_rf, metadata = registry.get_best_model(model_name="RandomForest")
    assert metadata.algorithm == "RandomForest"
    best_model, metadata = registry.get_best_model(metric='accuracy')
    assert metadata.accuracy == 0.95


def test_list_and_compare_snippets(guide_registry, capsys):
    registry = guide_registry
    all_models = registry.list_models()
    assert len(all_models) == 4
    rf_versions = registry.list_models("RandomForest")
    assert [v["model_name"] for v in rf_versions] == ["RandomForest"]
    registry.compare_models()
    ids = [m["model_id"] for m in all_models[:2]]
    registry.compare_models(model_ids=ids)
    registry.compare_models(model_name="RandomForest")
    out = capsys.readouterr().out
    assert "ExoplanetClassifier_v1_20250104_123456" in out and "0.9350" in out


def test_example_2_load_best_model_for_inference(guide_registry, capsys):
    X_new, _ = training_data()
    # Initialize registry
    registry = ModelRegistry("models/registry")

    # Load best model
    best_model, metadata = registry.get_best_model()

    # Make predictions
    predictions = best_model.predict(X_new)
    probabilities = best_model.predict_proba(X_new)

    print(f"Using {metadata.algorithm} v{metadata.version}")
    print(f"Model F1 Score: {metadata.f1_score:.4f}")
    assert len(predictions) == len(X_new) and probabilities.shape == (len(X_new), 2)
    assert capsys.readouterr().out == "Using SVM v1\nModel F1 Score: 0.9600\n"


def test_example_3_version_management(guide_registry, capsys):
    registry = guide_registry
    # List all versions
    versions = registry.list_models("ExoplanetClassifier")
    for v in versions:
        print(f"Version {v['version']}: F1={v['f1_score']:.4f}")

    # Load specific version
    model_v2, metadata = registry.load_model(
        model_name="ExoplanetClassifier",
        version=2
    )

    # Compare versions
    registry.compare_models(model_name="ExoplanetClassifier")
    out = capsys.readouterr().out
    assert out.startswith("Version 1: F1=0.9350\nVersion 2: F1=0.9400\n")
    assert metadata.version == 2


def test_example_1_sparse_training_info_registers(guide_registry):
    X_train, _ = training_data()
    registry = guide_registry
    model_id = registry.register_model(
        model=forest(),
        model_name="NeuralNetwork",
        algorithm="NeuralNetwork",
        evaluation_results={"accuracy": 0.9, "precision": 0.88, "recall": 0.87, "f1_score": 0.875},
        hyperparameters={},
        training_info={'dataset': 'kepler', 'training_samples': len(X_train)},
        feature_columns=FEATURES,
    )
    meta = registry.get_metadata(model_id)
    assert (meta.training_dataset, meta.training_samples, meta.test_samples) == ("kepler", 300, None)
