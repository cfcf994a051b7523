"""The one averaging rule (core.training.metrics): registration and scoring average the same way."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import precision_recall_fscore_support

from core.training.metrics import macro_average, metrics_from_confusion, present_classes, weighted_average


def test_macro_average_counts_the_classes_in_the_true_or_predicted_labels():
    # class 2 never occurs and is never predicted; class 1 is predicted but never true
    cm = np.array([[5, 1, 0], [0, 0, 0], [0, 0, 0]])
    assert present_classes(cm).tolist() == [True, True, False]
    assert macro_average([0.8, 0.0, 0.0], cm) == pytest.approx(0.4)
    assert macro_average([1.0, 1.0], np.zeros((2, 2))) == 0.0


def test_with_every_class_present_it_is_the_plain_mean_and_matches_scikit_learn():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 500)
    pred = np.where(rng.random(500) < 0.7, y, rng.integers(0, 3, 500))
    cm = np.zeros((3, 3), dtype=int)
    np.add.at(cm, (y, pred), 1)
    metrics, per_class = metrics_from_confusion(cm, ["a", "b", "c"])
    p, r, f, _ = precision_recall_fscore_support(y, pred, labels=[0, 1, 2], zero_division=0)
    assert metrics["precision"] == pytest.approx(np.mean(p), abs=1e-12)
    assert metrics["f1_score"] == pytest.approx(np.mean(f), abs=1e-12)
    weighted = precision_recall_fscore_support(y, pred, labels=[0, 1, 2], average="weighted", zero_division=0)
    assert weighted_average(f, cm) == float(weighted[2])
    assert per_class["b"]["support"] == int((y == 1).sum())


def test_the_evaluator_follows_the_rule_when_a_class_is_missing():
    from core.training.evaluator import ModelEvaluator

    class Fixed:
        classes_ = np.array(["A", "B", "C"], dtype=object)

        def predict(self, X):
            return np.array(["A", "A", "B", "B"], dtype=object)

        def predict_proba(self, X):
            return np.array([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.3, 0.6, 0.1]])

    y = np.array(["A", "B", "B", "B"], dtype=object)
    with pytest.warns(Warning):  # scikit-learn's ROC-AUC warns about the class with no rows
        ev = ModelEvaluator().evaluate(Fixed(), np.zeros((4, 1)), y)
    expected, _ = metrics_from_confusion([[1, 0, 0], [1, 2, 0], [0, 0, 0]], ["A", "B", "C"])
    for name in ("precision", "recall", "f1_score", "f1_weighted"):
        assert ev[name] == pytest.approx(expected[name], abs=1e-12), name
    assert ev["recall"] == pytest.approx((1.0 + 2 / 3) / 2)  # C, absent from the file, is not averaged in


def test_scoring_keeps_its_name():
    from core.prediction import engine
    from core.training import metrics

    assert engine.metrics_from_confusion is metrics.metrics_from_confusion
