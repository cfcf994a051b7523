"""Random forest on raw KOI columns: missing values imputed with a sentinel below every real value, no scaling."""

from __future__ import annotations

from typing import Any, ClassVar

from core.training.classifier import BaseClassifier

MISSING_SENTINEL = -1e9


class RandomForestModel(BaseClassifier):
    """``RandomForestClassifier`` behind a constant ``SimpleImputer``.

    Missing values become -1e9, below every real value of every KOI column, so one split
    separates "not measured" from the measurements (363 KOIs lack most physical columns):
    what a missing-value indicator would give, in a form that converts to ONNX. Trees need
    no scaling, and a scaler in front of the thresholds would break float32 (ONNX) parity.
    """

    algorithm: ClassVar[str] = "RandomForest"
    default_hyperparameters: ClassVar[dict[str, Any]] = {
        "n_estimators": 300,
        "max_depth": None,
        "min_samples_leaf": 1,
        "max_features": "sqrt",
        "class_weight": None,
        "n_jobs": -1,
        "imputer_strategy": "constant",
        "imputer_fill_value": MISSING_SENTINEL,
        "missing_indicator": False,
        "scaler": "none",
    }

    def build_estimator(self):
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(random_state=self.random_state, **self.estimator_params())

    def feature_importances(self, X_val, y_val, *, n_repeats: int = 3, max_samples: float = 1.0,
                            random_state=None):
        """Impurity-based importances (a missing-value indicator, if used, is added to its column's share)."""
        pipeline = self._fitted()
        names = pipeline[:-1].get_feature_names_out()
        importances = pipeline[-1].feature_importances_
        values = {str(c): 0.0 for c in pipeline.feature_names_in_}
        for name, value in zip(names, importances, strict=True):
            column = name.removeprefix("missingindicator_")
            values[column] = values.get(column, 0.0) + float(value)
        return values, "impurity (mean decrease in Gini impurity over the trees)"
