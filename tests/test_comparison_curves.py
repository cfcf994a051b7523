"""core.comparison.curves: ROC / PR / reliability data, the threshold view and the disagreements."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import confusion_matrix, roc_auc_score

from core.comparison import ScoredVersion
from core.comparison.curves import curves, disagreements, threshold_view
from core.errors import DataError

TWO = ["CONFIRMED", "FALSE POSITIVE"]
THREE = ["CANDIDATE", "CONFIRMED", "FALSE POSITIVE"]


def _binary(n=300, seed=0, label="SVM v1"):
    rng = np.random.default_rng(seed)
    y = rng.choice(np.array(TWO, dtype=object), n)
    p_conf = np.clip((y == "CONFIRMED") * 0.4 + rng.random(n) * 0.6, 0, 1)
    proba = np.stack([p_conf, 1 - p_conf], axis=1)
    pred = np.where(p_conf >= 0.5, "CONFIRMED", "FALSE POSITIVE").astype(object)
    return ScoredVersion(label, "id", TWO, y, pred, proba)


@settings(max_examples=60, deadline=None)
@given(st.floats(0, 1), st.integers(0, 1000))
def test_threshold_confusion_equals_scikit_learn(threshold, seed):
    v = _binary(200, seed)
    view = threshold_view(v, threshold, "CONFIRMED")
    y = v.y_true == "CONFIRMED"
    p = v.proba[:, 0]
    assert view["matrix"] == confusion_matrix(y, p >= threshold, labels=[False, True]).tolist()
    assert view["labels"] == ["FALSE POSITIVE", "CONFIRMED"]
    tp = int(((p >= threshold) & y).sum())
    if (p >= threshold).any():
        assert view["precision"] == pytest.approx(tp / (p >= threshold).sum())
    else:
        assert np.isnan(view["precision"])
    assert view["recall"] == pytest.approx(tp / y.sum())


def test_threshold_view_refuses_what_it_cannot_show():
    v = _binary()
    three = ScoredVersion("NN v2", "id", THREE, np.array(["CANDIDATE"], dtype=object),
                          np.array(["CANDIDATE"], dtype=object), np.array([[0.5, 0.3, 0.2]]))
    for call, message in [
        (lambda: threshold_view(three, 0.5), "3 classes"),
        (lambda: threshold_view(ScoredVersion("X", "x", TWO, v.y_true, v.y_pred, None), 0.5), "no probabilities"),
        (lambda: threshold_view(v, 0.5, "CANDIDATE"), "not a class of SVM v1"),
        (lambda: threshold_view(v, 1.5), "between 0 and 1"),
    ]:
        with pytest.raises(DataError, match=message):
            call()


def test_binary_curves_match_scikit_learn_and_calibration_adds_up():
    v = _binary(500)
    c = curves(v)
    assert c["available"] and c["positive"] == "CONFIRMED" and list(c["roc"]) == ["CONFIRMED"]
    y = v.y_true == "CONFIRMED"
    assert c["roc"]["CONFIRMED"]["auc"] == pytest.approx(roc_auc_score(y, v.proba[:, 0]))
    roc = c["roc"]["CONFIRMED"]
    assert roc["fpr"][0] == 0 and roc["fpr"][-1] == 1 and roc["tpr"][-1] == 1
    rel = c["reliability"]
    assert sum(rel["count"]) == 500 and len(rel["count"]) == 10
    p = v.proba[:, 0]
    in_top_bin = p >= 0.9
    assert rel["count"][-1] == in_top_bin.sum()
    assert rel["observed"][-1] == pytest.approx(y[in_top_bin].mean())
    expected_ece = sum(
        cnt / 500 * abs(o - m) for cnt, o, m in zip(rel["count"], rel["observed"], rel["mean_predicted"], strict=True)
        if cnt)
    assert c["ece"] == pytest.approx(expected_ece)
    assert c["brier"] == pytest.approx(np.mean((p - y) ** 2))
    hist = c["histograms"]["CONFIRMED"]
    assert sum(hist["true_class"]) == y.sum() and sum(hist["other_classes"]) == (~y).sum()


def test_three_class_curves_are_one_vs_rest_and_thinned():
    rng = np.random.default_rng(0)
    n = 5000
    y = rng.choice(np.array(THREE, dtype=object), n)
    proba = rng.dirichlet([1, 1, 1], n)
    v = ScoredVersion("NN v2", "id", THREE, y, np.array(THREE, dtype=object)[proba.argmax(1)], proba)
    c = curves(v)
    assert list(c["roc"]) == THREE and c["positive"] is None and c["reliability_kind"] == "top-label confidence"
    for cls in THREE:
        assert len(c["pr"][cls]["precision"]) <= 2000
        assert c["roc"][cls]["auc"] == pytest.approx(roc_auc_score(y == cls, proba[:, THREE.index(cls)]))
    none = curves(ScoredVersion("Plain v1", "id", THREE, y, v.y_pred, None))
    assert none["available"] is False and none["reason"].startswith("Plain v1 gives no probabilities")


def test_disagreements_list_every_row_where_predictions_differ():
    a = _binary(100, 0, "A v1")
    b = ScoredVersion("B v1", "b", TWO, a.y_true, a.y_pred.copy(), None)
    b.y_pred[[3, 50, 97]] = np.where(b.y_pred[[3, 50, 97]] == "CONFIRMED", "FALSE POSITIVE", "CONFIRMED")
    rows = disagreements([a, b])
    assert [r["row"] for r in rows] == [3, 50, 97]
    assert rows[0]["true"] == a.y_true[3]
    assert rows[0]["predicted"] == {"A v1": a.y_pred[3], "B v1": b.y_pred[3]}
    assert rows[0]["probabilities"]["A v1"]["CONFIRMED"] == pytest.approx(a.proba[3, 0])
    assert rows[0]["probabilities"]["B v1"] is None
    assert [r["row"] for r in disagreements([a, b], limit=2)] == [3, 50]
    assert disagreements([a, a]) == [] and disagreements([a]) == []
    with pytest.raises(DataError, match="different rows"):
        disagreements([a, _binary(10)])
