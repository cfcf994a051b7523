"""Scoring a fitted classifier: the numbers the registry stores and the browser charts.

:meth:`ModelEvaluator.evaluate` returns one flat dict in the shape ``register_model`` takes
as ``evaluation_results``: the headline ``accuracy``, ``precision``, ``recall`` and
``f1_score`` (macro averages over the classes present in the true or predicted labels, the
rule of :mod:`core.training.metrics`), further numbers (ROC-AUC, balanced accuracy,
per-class scores, validation F1) and structured values: ``classes`` (the column
order of ``predict_proba``), ``per_class``, ``confusion_matrix`` (with its label order),
``feature_importances`` and ``metric_intervals``.

``metric_intervals`` maps each recorded metric (``accuracy``, ``precision``, ``recall``, ``f1_score``,
``balanced_accuracy``, ``mcc``, ``roc_auc`` and the per-class ``precision_<class>`` ... keys) to its
95 % bootstrap interval ``[low, high]`` on the test split (``None`` where undefined), from
:func:`core.comparison.metric_intervals` with ``INTERVAL_RESAMPLES`` resamples and seed
``INTERVAL_SEED``; ``metric_intervals_info`` records those settings. The intervals are not paired
with other versions' (each version has its own test split): the browser uses them to show
registered metrics as tied within uncertainty when they overlap.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from core.training.metrics import macro_average, weighted_average

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

#: Bootstrap resamples and seed of the registered metrics' intervals.
INTERVAL_RESAMPLES = 1000
INTERVAL_SEED = 0
#: Registered metric key -> the key :func:`core.comparison.metric_intervals` gives it.
_INTERVAL_KEYS = {"accuracy": "accuracy", "precision": "precision_macro", "recall": "recall_macro",
                  "f1_score": "f1_macro", "balanced_accuracy": "balanced_accuracy", "mcc": "mcc",
                  "roc_auc": "roc_auc"}


def metric_slug(label: Any) -> str:
    """``FALSE POSITIVE`` -> ``false_positive``: a class label as part of a metric name."""
    return re.sub(r"[^0-9a-z]+", "_", str(label).lower()).strip("_") or "class"


def _classes_of(model) -> list:
    classes = getattr(model, "classes_", None)
    if classes is None and hasattr(model, "pipeline"):
        classes = model.pipeline.classes_
    return [c.item() if hasattr(c, "item") else c for c in classes]


def _intervals(y_test, y_pred, proba, classes) -> tuple[dict[str, list[float | None]], dict[str, Any]]:
    """The registered metrics' bootstrap intervals (see the module's docstring)."""
    import math

    from core.comparison import metric_intervals

    labels = [str(c) for c in classes]
    estimates = metric_intervals(y_test, y_pred, proba, labels, n_resamples=INTERVAL_RESAMPLES,
                                 seed=INTERVAL_SEED)
    keys = dict(_INTERVAL_KEYS)
    for label in labels:
        for m in ("precision", "recall", "f1"):
            keys[f"{m}_{metric_slug(label)}"] = f"{m}_{label}"

    def bound(x: float) -> float | None:
        return None if math.isnan(x) else round(float(x), 6)

    intervals = {key: [bound(estimates[source].low), bound(estimates[source].high)]
                 for key, source in keys.items() if source in estimates}
    info = {"method": "bootstrap percentile, test split", "level": 0.95, "resamples": INTERVAL_RESAMPLES,
            "seed": INTERVAL_SEED}
    return intervals, info


class ModelEvaluator:
    """Computes classification metrics on a held-out set."""

    def __init__(self, *, n_repeats: int = 3, random_state: int = 42):
        self.n_repeats = n_repeats
        self.random_state = random_state

    def evaluate(
        self,
        model,
        X_test: pd.DataFrame,
        y_test: np.ndarray,
        *,
        X_val: pd.DataFrame | None = None,
        y_val: np.ndarray | None = None,
        importances: dict[str, float] | None = None,
        importance_method: str | None = None,
    ) -> dict[str, Any]:
        """Score ``model`` (a fitted pipeline or a :class:`core.base_classifier.BaseClassifier`) on the test set.

        With ``X_val``/``y_val`` the validation macro F1 is added. ``importances`` (feature -> value) are
        passed through into the result.
        """
        import numpy as np
        from sklearn.metrics import (
            accuracy_score,
            balanced_accuracy_score,
            confusion_matrix,
            matthews_corrcoef,
            precision_recall_fscore_support,
            roc_auc_score,
        )

        classes = _classes_of(model)
        y_test = np.asarray(y_test, dtype=object)
        y_pred = np.asarray(model.predict(X_test), dtype=object)
        proba = model.predict_proba(X_test)
        precision, recall, f1, support = precision_recall_fscore_support(
            y_test, y_pred, labels=classes, zero_division=0)
        matrix = confusion_matrix(y_test, y_pred, labels=classes)
        results: dict[str, Any] = {
            "accuracy": float(accuracy_score(y_test, y_pred)),
            "precision": macro_average(precision, matrix),
            "recall": macro_average(recall, matrix),
            "f1_score": macro_average(f1, matrix),
        }
        results["f1_weighted"] = weighted_average(f1, matrix)
        results["balanced_accuracy"] = float(balanced_accuracy_score(y_test, y_pred))
        results["mcc"] = float(matthews_corrcoef(y_test, y_pred))
        if len(classes) == 2:
            results["roc_auc"] = float(roc_auc_score(y_test == classes[1], proba[:, 1]))
        else:
            results["roc_auc"] = float(roc_auc_score(y_test, proba, multi_class="ovr", average="macro",
                                                     labels=classes))
        per_class = {}
        for i, label in enumerate(classes):
            slug = metric_slug(label)
            results[f"precision_{slug}"] = float(precision[i])
            results[f"recall_{slug}"] = float(recall[i])
            results[f"f1_{slug}"] = float(f1[i])
            per_class[str(label)] = {"precision": float(precision[i]), "recall": float(recall[i]),
                                     "f1": float(f1[i]), "support": int(support[i])}
        results["metric_intervals"], results["metric_intervals_info"] = _intervals(
            y_test, y_pred, proba, classes)
        if X_val is not None and y_val is not None:
            y_val = np.asarray(y_val, dtype=object)
            val_pred = np.asarray(model.predict(X_val), dtype=object)
            val_f1 = precision_recall_fscore_support(y_val, val_pred, labels=classes, zero_division=0)[2]
            results["val_f1_score"] = macro_average(val_f1, confusion_matrix(y_val, val_pred, labels=classes))
        results["classes"] = [str(c) for c in classes]
        results["per_class"] = per_class
        results["confusion_matrix"] = {
            "labels": [str(c) for c in classes],
            "matrix": matrix.astype(int).tolist(),
            "rows": "true label",
            "columns": "predicted label",
        }
        if importances is not None:
            ordered = dict(sorted(importances.items(), key=lambda kv: -kv[1]))
            results["feature_importances"] = {k: round(float(v), 6) for k, v in ordered.items()}
            if importance_method:
                results["feature_importance_method"] = importance_method
        return results
