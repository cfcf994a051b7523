"""core.comparison: paired-bootstrap intervals and verdicts between versions scored on the same rows."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    f1_score,
    log_loss,
    matthews_corrcoef,
    precision_score,
    recall_score,
    roc_auc_score,
)

from core.comparison import Comparison, ScoredVersion, compare_versions, metric_intervals, positive_class
from core.errors import DataError

THREE = ["CANDIDATE", "CONFIRMED", "FALSE POSITIVE"]
TWO = ["CONFIRMED", "FALSE POSITIVE"]


def _version(label, y, skill, *, classes=THREE, seed=0, proba=True):
    """A simulated version: probabilities leaning towards the true class by ``skill``."""
    rng = np.random.default_rng(seed)
    cls = np.array(classes, dtype=object)
    logits = rng.normal(size=(len(y), len(classes))) + skill * (cls[None, :] == np.asarray(y)[:, None])
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    pred = cls[p.argmax(axis=1)]
    return ScoredVersion(label, f"{label}-id", list(classes), np.asarray(y, dtype=object), pred,
                         p if proba else None)


def _labels(n, classes=THREE, seed=1):
    return np.random.default_rng(seed).choice(np.array(classes, dtype=object), n)


def test_point_values_equal_scikit_learn_three_classes():
    y = _labels(900)
    v = _version("RandomForest v1", y, 1.5)
    c = compare_versions([v], n_resamples=200)
    m = c.metrics["RandomForest v1"]
    p, pred = v.proba, v.y_pred
    onehot = np.array(THREE)[None, :] == y[:, None]
    assert m["accuracy"].value == pytest.approx(accuracy_score(y, pred))
    assert m["precision_macro"].value == pytest.approx(precision_score(y, pred, average="macro"))
    assert m["recall_macro"].value == pytest.approx(recall_score(y, pred, average="macro"))
    assert m["f1_macro"].value == pytest.approx(f1_score(y, pred, average="macro"))
    assert m["balanced_accuracy"].value == pytest.approx(balanced_accuracy_score(y, pred))
    assert m["mcc"].value == pytest.approx(matthews_corrcoef(y, pred))
    assert m["roc_auc"].value == pytest.approx(roc_auc_score(y, p, multi_class="ovr", labels=THREE))
    assert m["average_precision"].value == pytest.approx(average_precision_score(onehot, p, average="macro"))
    assert m["brier"].value == pytest.approx(brier_score_loss(y, p, labels=THREE))
    assert m["log_loss"].value == pytest.approx(log_loss(y, p, labels=THREE))
    f1s = f1_score(y, pred, average=None, labels=THREE)
    for label, f in zip(THREE, f1s, strict=True):
        assert c.per_class["RandomForest v1"][label]["f1"].value == pytest.approx(f)
    for e in m.values():
        assert e.low <= e.value <= e.high


def test_point_values_equal_scikit_learn_two_classes_with_ties():
    y = _labels(700, TWO)
    v = _version("SVM v2", y, 1.0, classes=TWO)
    v.proba = np.round(v.proba, 1)  # many tied scores, as a forest's votes give
    v.proba[:, 1] = 1 - v.proba[:, 0]
    m = compare_versions([v], n_resamples=100).metrics["SVM v2"]
    assert positive_class(TWO) == "CONFIRMED"
    pos = y == "CONFIRMED"
    assert m["roc_auc"].value == pytest.approx(roc_auc_score(pos, v.proba[:, 0]))
    assert m["average_precision"].value == pytest.approx(average_precision_score(pos, v.proba[:, 0]))
    assert m["brier"].value == pytest.approx(brier_score_loss(pos, v.proba[:, 0]))


def test_identical_models_show_no_detectable_difference():
    y = _labels(1500)
    a = _version("RandomForest v1", y, 1.5, seed=4)
    b = ScoredVersion("RandomForest v2", "b", a.classes, a.y_true, a.y_pred.copy(), a.proba.copy())
    c = compare_versions([a, b])
    (pair,) = c.pairs
    assert pair.mcnemar_p == 1.0
    assert pair.difference.low <= 0 <= pair.difference.high
    assert pair.p_value == 1.0 and pair.p_holm == 1.0
    assert pair.verdict == "no detectable difference"
    assert pair.sentence == ("RandomForest v1 vs RandomForest v2: macro F1 +0.0000 [+0.0000, +0.0000], p = 1 "
                             "→ no detectable difference on these 1,500 rows")
    assert pair.auc_difference.value == 0


def test_a_clearly_better_model_is_better_with_a_tiny_p():
    y = _labels(1517)
    good = _version("SVM v3", y, 3.0, seed=1)
    poor = _version("RandomForest v3", y, 0.8, seed=2)
    c = compare_versions([good, poor])
    (pair,) = c.pairs
    assert pair.verdict == "better" and pair.p_value < 0.001 and pair.mcnemar_p < 0.001
    assert pair.difference.low > 0
    assert pair.sentence.startswith("SVM v3 vs RandomForest v3: macro F1 +0.")
    assert pair.sentence.endswith("p < 0.001 → SVM v3 is better on these 1,517 rows")
    reverse = compare_versions([poor, good]).pairs[0]
    assert reverse.verdict == "worse" and "−0." in reverse.sentence


def test_lower_is_better_for_losses_and_holm_over_pairs():
    y = _labels(800)
    versions = [_version(f"M v{i}", y, s, seed=i) for i, s in enumerate([3.0, 0.5, 0.52])]
    c = compare_versions(versions, primary="log_loss", n_resamples=500)
    assert [p.verdict for p in c.pairs[:2]] == ["better", "better"]  # v0's log loss is lower
    assert all(p.p_holm >= p.p_value for p in c.pairs)
    assert "log loss" in c.pairs[0].sentence and "(Holm)" in c.pairs[0].sentence
    assert c.cochran_q is not None and c.cochran_q["df"] == 2 and c.cochran_q["p"] < 0.001


def test_binary_pairs_get_delong():
    y = _labels(600, TWO)
    a, b = _version("A v1", y, 2.0, classes=TWO, seed=1), _version("B v1", y, 1.0, classes=TWO, seed=2)
    pair = compare_versions([a, b], n_resamples=300).pairs[0]
    pos = y == "CONFIRMED"
    assert pair.delong["auc_a"] == pytest.approx(roc_auc_score(pos, a.proba[:, 0]))
    assert pair.delong["p"] < 0.01
    three = compare_versions([_version("C", _labels(300), 1), _version("D", _labels(300), 1, seed=5)],
                             n_resamples=100).pairs[0]
    assert three.delong is None and three.auc_difference is not None


def test_same_seed_same_intervals_and_to_dict_is_json():
    y = _labels(400)
    vs = [_version("A", y, 1.0), _version("B", y, 1.2, seed=3, proba=False)]
    c1, c2 = compare_versions(vs, n_resamples=300, seed=7), compare_versions(vs, n_resamples=300, seed=7)
    assert c1.metrics == c2.metrics
    d = c1.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text)["metrics"]["B"]["roc_auc"] == {"value": None, "low": None, "high": None}
    assert d["pairs"][0]["auc_difference"] is None and d["pairs"][0]["delong"] is None
    assert d["seed"] == 7 and d["paired"] is True


def test_unpaired_gives_intervals_only_and_says_so():
    a = _version("A v1", _labels(300, seed=1), 1.0)
    b = _version("B v1", _labels(500, seed=2), 1.0)
    with pytest.raises(DataError, match="other rows.*unpaired"):
        compare_versions([a, b])
    c = compare_versions([a, b], paired=False, n_resamples=200)
    assert isinstance(c, Comparison) and c.pairs == [] and not c.paired and c.cochran_q is None
    assert c.rows_by_version == {"A v1": 300, "B v1": 500}
    assert "unpaired" in c.sentences()[0]
    assert c.metrics["A v1"] == compare_versions([a], n_resamples=200).metrics["A v1"]


def test_user_errors_are_one_sentence():
    y = _labels(50)
    v = _version("A", y, 1.0)
    cases = [
        (lambda: compare_versions([]), "No version"),
        (lambda: compare_versions([v], primary="speed"), "Unknown metric 'speed'"),
        (lambda: compare_versions([v, v]), "same label"),
        (lambda: compare_versions([v, _version("B", y, 1.0, proba=False)], primary="roc_auc"),
         "B gives no probabilities"),
        (lambda: compare_versions([v, _version("B", y[:2] == y[:2], 1, classes=TWO)]), "other rows|Two-class"),
        (lambda: compare_versions([ScoredVersion("E", "e", THREE, y, y[:3], None)]), "3 predictions for 50"),
        (lambda: compare_versions([v], alpha=2), "significance level"),
    ]
    for call, message in cases:
        with pytest.raises(DataError, match=message) as info:
            call()
        text = str(info.value)
        assert text.endswith(".") and "\n" not in text


def test_metric_intervals_of_one_version():
    y = _labels(500)
    v = _version("A", y, 1.0)
    intervals = metric_intervals(v.y_true, v.y_pred, v.proba, THREE, n_resamples=300, seed=0)
    assert intervals["accuracy"] == compare_versions([v], n_resamples=300).metrics["A"]["accuracy"]
    assert set(intervals) >= {"f1_macro", "roc_auc", "precision_CONFIRMED", "f1_FALSE POSITIVE"}
    no_proba = metric_intervals(v.y_true, v.y_pred, None, THREE, n_resamples=100)
    assert math.isnan(no_proba["roc_auc"].value)
