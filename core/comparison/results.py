"""The shapes a comparison hands to the command line, the window and the report, and their wording.

Numbers are plain floats; an undefined one (a metric on rows with one class only, an interval
of a version without probabilities) is ``nan`` here and ``None`` in :meth:`Comparison.to_dict`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

#: Metric key -> the name a sentence uses for it.
METRIC_NAMES: dict[str, str] = {
    "accuracy": "accuracy",
    "precision_macro": "macro precision",
    "recall_macro": "macro recall",
    "f1_macro": "macro F1",
    "balanced_accuracy": "balanced accuracy",
    "mcc": "MCC",
    "roc_auc": "ROC AUC",
    "average_precision": "average precision",
    "brier": "Brier score",
    "log_loss": "log loss",
}
#: Metrics computed from the predicted labels alone.
LABEL_METRICS = ("accuracy", "precision_macro", "recall_macro", "f1_macro", "balanced_accuracy", "mcc")
#: Metrics that need the predicted probabilities.
PROBABILITY_METRICS = ("roc_auc", "average_precision", "brier", "log_loss")
#: Metrics where a smaller value is the better one.
LOWER_IS_BETTER = frozenset({"brier", "log_loss"})
#: Per-class metrics, under ``Comparison.per_class[label][class]``.
CLASS_METRICS = ("precision", "recall", "f1")

BETTER, WORSE, NO_DIFFERENCE = "better", "worse", "no detectable difference"
MINUS = "\u2212"


@dataclass
class ScoredVersion:
    """One version's per-row results, on the same rows as the versions it is compared with."""

    label: str                # "RandomForest v1"
    model_id: str
    classes: list[str]        # predict_proba column order
    y_true: np.ndarray        # object/str labels, shape (n,)
    y_pred: np.ndarray        # shape (n,)
    proba: np.ndarray | None  # shape (n, len(classes)); None when the model has no predict_proba


@dataclass
class Estimate:
    """A value with its 95 % bootstrap interval (``nan`` where undefined)."""

    value: float
    low: float
    high: float

    def contains(self, x: float) -> bool:
        return self.low <= x <= self.high

    def to_dict(self) -> dict[str, float | None]:
        return {"value": _json_float(self.value), "low": _json_float(self.low), "high": _json_float(self.high)}


@dataclass
class PairResult:
    """Version ``a`` against version ``b`` on the primary metric, and the classical tests beside it."""

    a: str
    b: str
    metric: str
    difference: Estimate       # a - b, paired bootstrap
    p_value: float
    p_holm: float
    verdict: str               # "better" | "worse" | "no detectable difference" (a relative to b)
    sentence: str
    mcnemar_p: float           # exact McNemar on correct/incorrect pairs (1.0 when they never disagree)
    delong: dict | None        # {"auc_a", "auc_b", "difference", "z", "p"} for two binary versions
    auc_difference: Estimate | None  # ROC AUC difference by paired bootstrap (macro one-vs-rest for 3 classes)


@dataclass
class Comparison:
    """Every number of a comparison: per-version intervals, the pairwise verdicts, Cochran's Q."""

    rows: int
    seed: int
    n_resamples: int
    alpha: float
    primary: str
    metrics: dict[str, dict[str, Estimate]]
    per_class: dict[str, dict[str, dict[str, Estimate]]]
    pairs: list[PairResult]
    cochran_q: dict | None
    paired: bool
    #: label -> rows that version was scored on (all equal to ``rows`` when paired)
    rows_by_version: dict[str, int] = field(default_factory=dict)

    def sentences(self) -> list[str]:
        """The verdict lines a person reads: one per pair, or one saying why there are none."""
        if not self.paired:
            return ["The versions were scored on different rows (unpaired): each has its own intervals, "
                    "and no version is declared better than another."]
        if not self.pairs:
            return ["Only one version was scored, so there is nothing to compare it with."]
        return [p.sentence for p in self.pairs]

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-able values: floats and strings, ``None`` for undefined numbers."""
        return _jsonable({
            "rows": self.rows, "seed": self.seed, "n_resamples": self.n_resamples, "alpha": self.alpha,
            "primary": self.primary, "paired": self.paired, "rows_by_version": self.rows_by_version,
            "metrics": self.metrics, "per_class": self.per_class,
            "pairs": [vars(p) for p in self.pairs], "cochran_q": self.cochran_q,
            "sentences": self.sentences(),
        })


def _json_float(x) -> float | None:
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else x


def _jsonable(obj):
    if isinstance(obj, Estimate):
        return obj.to_dict()
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if hasattr(obj, "item"):  # numpy scalar
        obj = obj.item()
    if isinstance(obj, bool):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return _json_float(obj)
    return str(obj)


def metric_name(metric: str) -> str:
    """``f1_macro`` -> ``macro F1``."""
    return METRIC_NAMES.get(metric, metric.replace("_", " "))


def signed(x: float, digits: int = 4) -> str:
    """``+0.0065``, ``−0.0021`` (a true minus sign), ``n/a`` for an undefined value."""
    if x is None or math.isnan(x):
        return "n/a"
    text = f"{x:+.{digits}f}"
    if float(text) == 0:
        text = f"+{abs(x):.{digits}f}"
    return text.replace("-", MINUS)


def number(x: float, digits: int = 4) -> str:
    """``0.9241``; ``n/a`` for an undefined value."""
    if x is None or math.isnan(x):
        return "n/a"
    return f"{x:.{digits}f}".replace("-", MINUS)


def p_text(p: float) -> str:
    """``p = 0.14``, ``p = 0.0031``, ``p < 0.001``."""
    if p is None or math.isnan(p):
        return "p = n/a"
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.2g}"


def interval_text(e: Estimate, *, sign: bool = False) -> str:
    """``0.9241 [0.9102, 0.9370]``."""
    fmt = signed if sign else number
    return f"{fmt(e.value)} [{fmt(e.low)}, {fmt(e.high)}]"
