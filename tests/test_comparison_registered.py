"""Registered metrics carry 95 % bootstrap intervals from the evaluator, stored in the metadata."""

from __future__ import annotations

import time

import numpy as np
import pytest
from _factories import FEATURES, training_data

from core import ModelRegistry
from core.training.evaluator import INTERVAL_RESAMPLES, ModelEvaluator


def _fitted(seed=0):
    from sklearn.ensemble import RandomForestClassifier

    X, y = training_data(600, seed)
    return RandomForestClassifier(n_estimators=20, max_depth=4, random_state=0).fit(X[:400], y[:400]), X[400:], y[400:]


def test_evaluator_records_an_interval_around_each_registered_metric(tmp_path):
    model, X_test, y_test = _fitted()
    results = ModelEvaluator().evaluate(model, X_test, y_test)
    intervals = results["metric_intervals"]
    for key in ("accuracy", "precision", "recall", "f1_score", "balanced_accuracy", "mcc", "roc_auc",
                "precision_confirmed", "recall_false_positive", "f1_confirmed"):
        low, high = intervals[key]
        assert low <= results[key] <= high, key
        assert high - low < 0.3
    assert results["metric_intervals_info"] == {"method": "bootstrap percentile, test split", "level": 0.95,
                                                "resamples": INTERVAL_RESAMPLES, "seed": 0}
    assert ModelEvaluator().evaluate(model, X_test, y_test)["metric_intervals"] == intervals  # fixed seed

    registry = ModelRegistry(str(tmp_path / "registry"))
    model_id = registry.register_model(
        model=model, model_name="ExoplanetClassifier", algorithm="RandomForest", evaluation_results=results,
        hyperparameters={"n_estimators": 20}, training_info={"training_samples": 400}, feature_columns=FEATURES)
    stored = ModelRegistry(str(tmp_path / "registry")).get_metadata(model_id)
    assert stored.evaluation["metric_intervals"]["f1_score"] == pytest.approx(intervals["f1_score"])


def test_intervals_cost_little_next_to_scoring():
    rng = np.random.default_rng(0)
    classes = np.array(["CANDIDATE", "CONFIRMED", "FALSE POSITIVE"], dtype=object)

    class Fixed:  # a 1,517-row three-class test split, as the KOI demo's
        classes_ = classes

        def predict(self, X):
            return classes[self.predict_proba(X).argmax(axis=1)]

        def predict_proba(self, X):
            return np.random.default_rng(1).dirichlet([1, 1, 1], len(X))

    X, y = np.zeros((1517, 1)), rng.choice(classes, 1517)
    ModelEvaluator().evaluate(Fixed(), X, y)  # imports scipy once
    start = time.process_time()
    ModelEvaluator().evaluate(Fixed(), X, y)
    assert time.process_time() - start < 2.0
