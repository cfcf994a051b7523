"""Precision, recall and F1 from a confusion matrix, and the one averaging rule.

**Macro averages are taken over the classes present in the true or the predicted labels** (the
rows or columns of the confusion matrix that are not all zero), as scikit-learn does with the
labels it sees. A class of the model that neither occurs in the rows nor is ever predicted has no
precision or recall to speak of; counting it as 0 would punish a model for a file's make-up.
When every class occurs, this is the plain mean over all classes. Weighted averages weight each
class by its number of true rows. Registration (:mod:`core.training.evaluator`) and scoring a
labelled file (:func:`core.prediction.engine.evaluate_csv`) both average this way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def present_classes(confusion) -> Any:
    """A boolean mask: the classes (rows = true, columns = predicted) that occur at all."""
    import numpy as np

    cm = np.asarray(confusion, dtype=np.float64)
    return (cm.sum(axis=1) > 0) | (cm.sum(axis=0) > 0)


def macro_average(values, confusion) -> float:
    """The mean of per-class ``values`` over the classes present (see the module's docstring); 0 if none."""
    import numpy as np

    v = np.asarray(values, dtype=np.float64)
    present = present_classes(confusion)
    return float(v[present].mean()) if present.any() else 0.0


def weighted_average(values, confusion) -> float:
    """Per-class ``values`` weighted by each class's number of true rows; 0 for an empty matrix."""
    import numpy as np

    actual = np.asarray(confusion, dtype=np.float64).sum(axis=1)
    if not actual.sum():
        return 0.0
    return float(np.average(np.asarray(values, dtype=np.float64), weights=actual))


def metrics_from_confusion(confusion, labels: Sequence[str]) -> tuple[dict[str, float], dict[str, dict]]:
    """Accuracy and per-class / macro / weighted precision, recall and F1 (0 where undefined)."""
    import numpy as np

    cm = np.asarray(confusion, dtype=np.float64)
    tp = np.diag(cm)
    predicted = cm.sum(axis=0)
    actual = cm.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(actual > 0, tp / actual, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    total = cm.sum()
    metrics = {
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "precision_macro": macro_average(precision, cm),
        "recall_macro": macro_average(recall, cm),
        "f1_macro": macro_average(f1, cm),
        "precision_weighted": weighted_average(precision, cm),
        "recall_weighted": weighted_average(recall, cm),
        "f1_weighted": weighted_average(f1, cm),
    }
    metrics["precision"] = metrics["precision_macro"]
    metrics["recall"] = metrics["recall_macro"]
    metrics["f1_score"] = metrics["f1_macro"]
    per_class = {
        str(lab): {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(actual[i]),
        }
        for i, lab in enumerate(labels)
    }
    return metrics, per_class
