"""The shared shape of the project's classifiers.

Each classifier builds a scikit-learn ``Pipeline`` that takes raw KOI columns with missing
values: a ``SimpleImputer`` first, a scaler where the algorithm needs one (not in front of a
forest: trees do not need it), then the estimator. The fitted pipeline is what gets
registered; it serializes with skops using only the types in :data:`core.safety.ALLOWED_TYPES`.

The defaults also convert faithfully to ONNX (skl2onnx, float32): the ``quantile`` scaler
(a uniform ``QuantileTransformer`` then a ``StandardScaler``) tames the heavy tails of
periods, depths and fluxes and converts exactly; ``power`` (Yeo-Johnson) scores a little
higher for the network but its ONNX graph disagrees with scikit-learn on this data; a
missing-value indicator (``missing_indicator``) is not carried over by skl2onnx either.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from core.errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd
    from sklearn.pipeline import Pipeline

# Preprocessing settings every classifier accepts next to its estimator's own parameters.
PREPROCESSING_KEYS = ("imputer_strategy", "imputer_fill_value", "missing_indicator", "scaler", "quantiles")
SCALERS = ("quantile", "power", "standard", "none")
# The defaults of the models that need scaled inputs (network, SVM): median imputation, then
# each column mapped to its quantiles, which skl2onnx converts with the same predictions.
QUANTILE_PREPROCESSING: dict[str, Any] = {
    "imputer_strategy": "median",
    "imputer_fill_value": None,
    "missing_indicator": False,
    "scaler": "quantile",
    "quantiles": 50,
}


def json_safe(value: Any) -> Any:
    """Tuples to lists, numpy scalars to Python numbers: hyperparameters as JSON can hold them."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value


class BaseClassifier(ABC):
    """A configurable classifier that builds, fits and explains one pipeline.

    ``hyperparameters`` override :attr:`default_hyperparameters`; unknown keys are an error.
    """

    algorithm: ClassVar[str] = ""
    default_hyperparameters: ClassVar[dict[str, Any]] = {}

    def __init__(self, random_state: int | None = 42, **hyperparameters: Any):
        unknown = sorted(set(hyperparameters) - set(self.default_hyperparameters))
        if unknown:
            raise DataError(f"{self.algorithm} does not take the hyperparameter(s) {', '.join(unknown)}; "
                            f"it takes {', '.join(sorted(self.default_hyperparameters))}.")
        self.random_state = random_state
        self.hyperparameters: dict[str, Any] = {**self.default_hyperparameters, **hyperparameters}
        scaler = self.hyperparameters.get("scaler", "none")
        if scaler not in SCALERS:
            raise DataError(f"Unknown scaler {scaler!r}; choose one of {', '.join(SCALERS)}.")
        self.pipeline: Pipeline | None = None
        self.fit_seconds: float | None = None

    # -- building -------------------------------------------------------------------------

    @abstractmethod
    def build_estimator(self):
        """The final scikit-learn estimator, configured from :attr:`hyperparameters`."""

    def estimator_params(self) -> dict[str, Any]:
        return {k: v for k, v in self.hyperparameters.items() if k not in PREPROCESSING_KEYS}

    def build_pipeline(self) -> Pipeline:
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import PowerTransformer, QuantileTransformer, StandardScaler

        hp = self.hyperparameters
        steps: list[tuple[str, Any]] = [
            ("imputer", SimpleImputer(strategy=hp.get("imputer_strategy", "median"),
                                      fill_value=hp.get("imputer_fill_value"),
                                      add_indicator=bool(hp.get("missing_indicator", False)),
                                      keep_empty_features=True)),
        ]
        scaler = hp.get("scaler", "none")
        if scaler == "quantile":
            # 50 knots: as accurate here as 200, and skl2onnx converts it in seconds rather than half a minute.
            steps.append(("quantile", QuantileTransformer(n_quantiles=int(hp.get("quantiles", 50)),
                                                          output_distribution="uniform",
                                                          random_state=self.random_state)))
            steps.append(("scaler", StandardScaler()))
        elif scaler == "power":
            # Yeo-Johnson tames the heavy tails of periods, depths and fluxes, then standardises.
            steps.append(("scaler", PowerTransformer(method="yeo-johnson", standardize=True)))
        elif scaler == "standard":
            steps.append(("scaler", StandardScaler()))
        steps.append(("classifier", self.build_estimator()))
        return Pipeline(steps)

    # -- fitting and predicting -----------------------------------------------------------

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> BaseClassifier:
        """Fit a fresh pipeline on a DataFrame of raw feature columns (names are kept in ``feature_names_in_``)."""
        pipeline = self.build_pipeline()
        start = time.perf_counter()
        pipeline.fit(X, y)
        self.fit_seconds = time.perf_counter() - start
        self.pipeline = pipeline
        return self

    def _fitted(self) -> Pipeline:
        if self.pipeline is None:
            raise DataError(f"The {self.algorithm} model has not been trained yet; call fit() first.")
        return self.pipeline

    def predict(self, X):
        return self._fitted().predict(X)

    def predict_proba(self, X):
        return self._fitted().predict_proba(X)

    @property
    def classes_(self) -> list:
        return [json_safe(c) for c in self._fitted().classes_]

    def get_hyperparameters(self) -> dict[str, Any]:
        """The settings that define this model, as JSON (``random_state`` included)."""
        return json_safe({**self.hyperparameters, "random_state": self.random_state})

    # -- explaining -----------------------------------------------------------------------

    def feature_importances(self, X_val: pd.DataFrame, y_val: np.ndarray, *, n_repeats: int = 3,
                            max_samples: float = 1.0,
                            random_state: int | None = None) -> tuple[dict[str, float], str]:
        """Permutation importance on the validation set (drop in macro F1); returns (values, method).

        ``max_samples`` < 1 scores each repeat on that fraction of the validation rows (faster, noisier).
        """
        from sklearn.inspection import permutation_importance

        result = permutation_importance(
            self._fitted(), X_val, y_val, scoring="f1_macro", n_repeats=n_repeats, max_samples=max_samples,
            random_state=self.random_state if random_state is None else random_state, n_jobs=1)
        values = {str(name): float(v) for name, v in zip(X_val.columns, result.importances_mean, strict=True)}
        rows = "validation set" if max_samples >= 1 else f"{max_samples:.0%} of the validation set per repeat"
        return values, f"permutation ({rows}, macro F1 drop, {n_repeats} repeats)"

    def __repr__(self) -> str:
        state = "fitted" if self.pipeline is not None else "unfitted"
        return f"{type(self).__name__}({state}, {self.hyperparameters})"
