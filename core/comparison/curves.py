"""Curve, calibration, threshold and disagreement data of scored versions (what the Curves tab and the
report draw).

- :func:`curves` — ROC and precision-recall curves one-vs-rest per class (a two-class version: its
  positive class only, see :func:`core.comparison.positive_class`), a 10-bin reliability diagram with
  Brier score and expected calibration error, and per-class probability histograms. A two-class
  version's reliability diagram reads P(positive class); a three-class version's reads the top-label
  confidence (the probability of the predicted class) against how often that prediction is right.
  Curves are thinned to at most :data:`MAX_CURVE_POINTS` points (first and last kept).
- :func:`threshold_view` — the confusion matrix, precision and recall of a two-class version when
  it predicts the positive class at ``P(positive) >= threshold``.
- :func:`disagreements` — the rows where the versions predict different labels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from core.comparison.bootstrap import _as_str, positive_class
from core.comparison.results import ScoredVersion
from core.errors import DataError

MAX_CURVE_POINTS = 2000
RELIABILITY_BINS = 10
HISTOGRAM_BINS = 20


def _thin(*arrays: np.ndarray) -> list[list[float]]:
    n = len(arrays[0])
    if n > MAX_CURVE_POINTS:
        keep = np.unique(np.linspace(0, n - 1, MAX_CURVE_POINTS).round().astype(int))
        arrays = tuple(a[keep] for a in arrays)
    return [[float(x) for x in a] for a in arrays]


def _float(x) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


def _targets(version: ScoredVersion) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(class, is that class, P(class)) per curve: the positive class for two classes, each class otherwise."""
    classes = [str(c) for c in version.classes]
    y = _as_str(version.y_true)
    proba = np.asarray(version.proba, dtype=np.float64)
    chosen = [positive_class(classes)] if len(classes) == 2 else classes
    return [(c, y == c, proba[:, classes.index(c)]) for c in chosen]


def curves(version: ScoredVersion) -> dict:
    """ROC, precision-recall, reliability and histogram data of one version (see the module).

    A version without probabilities gives ``{"available": False, "reason": sentence}``.
    """
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

    if version.proba is None:
        return {"available": False, "label": version.label,
                "reason": f"{version.label} gives no probabilities (its model has no predict_proba), "
                          "so it has no curves; its label metrics are in the comparison table."}
    classes = [str(c) for c in version.classes]
    y = _as_str(version.y_true)
    proba = np.asarray(version.proba, dtype=np.float64)
    out: dict = {"available": True, "label": version.label, "classes": classes,
                 "positive": positive_class(classes) if len(classes) == 2 else None,
                 "rows": int(len(y)), "roc": {}, "pr": {}, "histograms": {}}
    for cls, truth, score in _targets(version):
        if truth.all() or not truth.any():
            out["roc"][cls] = {"fpr": [], "tpr": [], "auc": None}
            out["pr"][cls] = {"precision": [], "recall": [], "ap": None}
            continue
        fpr, tpr, _ = roc_curve(truth, score)
        fpr_t, tpr_t = _thin(fpr, tpr)
        out["roc"][cls] = {"fpr": fpr_t, "tpr": tpr_t, "auc": float(roc_auc_score(truth, score))}
        precision, recall, _ = precision_recall_curve(truth, score)
        precision_t, recall_t = _thin(precision, recall)
        out["pr"][cls] = {"precision": precision_t, "recall": recall_t,
                          "ap": float(average_precision_score(truth, score))}
    edges = np.linspace(0.0, 1.0, HISTOGRAM_BINS + 1)
    for j, cls in enumerate(classes):
        truth = y == cls
        out["histograms"][cls] = {
            "edges": [float(e) for e in edges],
            "true_class": [int(c) for c in np.histogram(proba[truth, j], bins=edges)[0]],
            "other_classes": [int(c) for c in np.histogram(proba[~truth, j], bins=edges)[0]],
        }
    onehot = np.stack([y == c for c in classes], axis=1)
    if len(classes) == 2:
        j = classes.index(out["positive"])
        confidence, hit = proba[:, j], onehot[:, j]
        out["brier"] = float(np.mean((proba[:, j] - onehot[:, j]) ** 2))
        out["reliability_kind"] = f"P({out['positive']})"
    else:
        predicted = proba.argmax(axis=1)
        confidence = proba[np.arange(len(y)), predicted]
        hit = onehot[np.arange(len(y)), predicted]
        out["brier"] = float(np.mean(((proba - onehot) ** 2).sum(axis=1)))
        out["reliability_kind"] = "top-label confidence"
    out["reliability"], out["ece"] = _reliability(confidence, hit.astype(np.float64))
    return out


def _reliability(confidence: np.ndarray, hit: np.ndarray) -> tuple[dict, float]:
    edges = np.linspace(0.0, 1.0, RELIABILITY_BINS + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=False), 0, RELIABILITY_BINS - 1)
    count = np.bincount(which, minlength=RELIABILITY_BINS)
    mean_predicted = np.bincount(which, weights=confidence, minlength=RELIABILITY_BINS)
    observed = np.bincount(which, weights=hit, minlength=RELIABILITY_BINS)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_predicted = np.where(count > 0, mean_predicted / count, np.nan)
        observed = np.where(count > 0, observed / count, np.nan)
    total = count.sum()
    gaps = np.where(count > 0, np.abs(observed - mean_predicted), 0.0)
    ece = float((count * gaps).sum() / total) if total else float("nan")
    return ({"edges": [float(e) for e in edges], "mean_predicted": [_float(v) for v in mean_predicted],
             "observed": [_float(v) for v in observed], "count": [int(c) for c in count]}, ece)


def threshold_view(version: ScoredVersion, threshold: float, positive: str | None = None) -> dict:
    """Confusion matrix, precision and recall when ``positive`` is predicted at ``P(positive) >= threshold``.

    ``matrix`` has rows = true label, columns = predicted label, both in the order of ``labels``
    (``[negative, positive]``, the order of ``confusion_matrix(y == positive, p >= threshold)``).
    Precision is ``nan`` when nothing is predicted positive, recall when no row is positive.
    """
    classes = [str(c) for c in version.classes]
    if len(classes) != 2:
        raise DataError(f"{version.label} has {len(classes)} classes; the threshold control is for "
                        "two-class versions only.")
    if version.proba is None:
        raise DataError(f"{version.label} gives no probabilities, so its threshold cannot be moved.")
    positive = positive_class(classes) if positive is None else str(positive)
    if positive not in classes:
        raise DataError(f"{positive!r} is not a class of {version.label}; choose {classes[0]!r} or {classes[1]!r}.")
    threshold = float(threshold)
    if not 0.0 <= threshold <= 1.0:
        raise DataError(f"The threshold must lie between 0 and 1, not {threshold}.")
    negative = classes[1 - classes.index(positive)]
    score = np.asarray(version.proba, dtype=np.float64)[:, classes.index(positive)]
    truth = _as_str(version.y_true) == positive
    said = score >= threshold
    tp = int(np.count_nonzero(truth & said))
    fp = int(np.count_nonzero(~truth & said))
    fn = int(np.count_nonzero(truth & ~said))
    tn = int(np.count_nonzero(~truth & ~said))
    return {
        "label": version.label, "threshold": threshold, "positive": positive, "negative": negative,
        "labels": [negative, positive], "matrix": [[tn, fp], [fn, tp]],
        "tp": tp, "fp": fp, "fn": fn, "tn": tn,
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "recall": tp / (tp + fn) if tp + fn else float("nan"),
    }


def disagreements(versions: Sequence[ScoredVersion], limit: int | None = None) -> list[dict]:
    """The rows (positions in the scored rows, in order) where the versions predict different labels.

    Each: ``{"row", "true", "predicted": {label: class}, "probabilities": {label: {class: p} | None}}``.
    """
    versions = list(versions)
    if len(versions) < 2:
        return []
    n = len(versions[0].y_true)
    if any(len(v.y_pred) != n or len(v.y_true) != n for v in versions):
        raise DataError("The versions were scored on different rows, so their predictions cannot be set "
                        "side by side; compare them on the same file and rows.")
    preds = [_as_str(v.y_pred) for v in versions]
    differ = np.zeros(n, dtype=bool)
    for p in preds[1:]:
        differ |= p != preds[0]
    rows = np.flatnonzero(differ)
    if limit is not None:
        rows = rows[: max(int(limit), 0)]
    y = _as_str(versions[0].y_true)
    probas = [None if v.proba is None else np.asarray(v.proba, dtype=np.float64) for v in versions]
    out = []
    for i in rows:
        out.append({
            "row": int(i), "true": str(y[i]),
            "predicted": {v.label: str(p[i]) for v, p in zip(versions, preds, strict=True)},
            "probabilities": {
                v.label: (None if pr is None else {str(c): float(pr[i, j]) for j, c in enumerate(v.classes)})
                for v, pr in zip(versions, probas, strict=True)},
        })
    return out
