"""Training the project's three classifiers and scoring them (the guide's ``ModelTrainer``).

``ModelTrainer().train_and_evaluate(X_train, y_train, X_val, y_val, X_test, y_test)`` fits a
RandomForest, a NeuralNetwork and an SVM pipeline on the training split and returns
``{"models": {name: pipeline}, "evaluation_results": {name: {...}}, ...}``: each pipeline
is a plain scikit-learn ``Pipeline`` ready for ``ModelRegistry.register_model``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any

from core.common.koi_columns import leaky_features, leaky_features_warning
from core.errors import DataError, LeakyFeatureWarning, RegistryError
from core.training.classifier import BaseClassifier
from core.training.evaluator import ModelEvaluator
from core.training.neural_network import NeuralNetworkModel
from core.training.random_forest import RandomForestModel
from core.training.svm import SVMModel

CLASSIFIERS: dict[str, type[BaseClassifier]] = {
    "RandomForest": RandomForestModel,
    "NeuralNetwork": NeuralNetworkModel,
    "SVM": SVMModel,
}
ALGORITHMS = tuple(CLASSIFIERS)


class TrainingCancelled(RegistryError):
    """Training was stopped by the user before it finished."""


def make_classifier(algorithm: str, *, random_state: int | None = 42, **hyperparameters: Any) -> BaseClassifier:
    """A configured, unfitted classifier by algorithm name (``RandomForest``, ``NeuralNetwork``, ``SVM``)."""
    try:
        cls = CLASSIFIERS[algorithm]
    except KeyError:
        raise DataError(f"Unknown algorithm {algorithm!r}; choose one of {', '.join(CLASSIFIERS)}.") from None
    return cls(random_state=random_state, **hyperparameters)


class ModelTrainer:
    """Fits and evaluates classifiers on prepared splits.

    ``algorithms`` picks which to train (all three by default); ``hyperparameters`` maps an
    algorithm name to overrides of its defaults. Permutation importances (network, SVM) use
    ``importance_repeats`` shuffles of each column over ``importance_max_samples`` of the validation rows.
    """

    def __init__(
        self,
        algorithms: Iterable[str] = ALGORITHMS,
        *,
        hyperparameters: dict[str, dict[str, Any]] | None = None,
        random_state: int = 42,
        importance_repeats: int = 3,
        importance_max_samples: float = 1.0,
    ):
        self.algorithms = list(algorithms)
        for name in self.algorithms:
            if name not in CLASSIFIERS:
                raise DataError(f"Unknown algorithm {name!r}; choose one of {', '.join(CLASSIFIERS)}.")
        self.hyperparameters = {k: dict(v) for k, v in (hyperparameters or {}).items()}
        self.random_state = random_state
        self.evaluator = ModelEvaluator(n_repeats=importance_repeats, random_state=random_state)
        self.importance_max_samples = importance_max_samples
        self.classifiers: dict[str, BaseClassifier] = {}

    def train_one(self, algorithm: str, X_train, y_train, X_val, y_val, X_test, y_test,
                  **hyperparameters: Any) -> tuple[BaseClassifier, dict[str, Any]]:
        """Fit one classifier and evaluate it; returns (fitted classifier, evaluation_results).

        Warns (:class:`LeakyFeatureWarning`) when the columns include NASA's vetting outputs.
        """
        _check_splits(X_train, y_train, X_val, y_val, X_test, y_test)
        _warn_if_leaky(X_train.columns)
        return self._fit_and_evaluate(algorithm, X_train, y_train, X_val, y_val, X_test, y_test, **hyperparameters)

    def _fit_and_evaluate(self, algorithm: str, X_train, y_train, X_val, y_val, X_test, y_test,
                          **hyperparameters: Any) -> tuple[BaseClassifier, dict[str, Any]]:
        from threadpoolctl import threadpool_limits

        overrides = {**self.hyperparameters.get(algorithm, {}), **hyperparameters}
        clf = make_classifier(algorithm, random_state=self.random_state, **overrides)
        # These matrices are small: one BLAS thread is faster than several fighting over the cores.
        with threadpool_limits(limits=1, user_api="blas"):
            clf.fit(X_train, y_train)
            start = time.perf_counter()
            importances, method = clf.feature_importances(X_val, y_val, n_repeats=self.evaluator.n_repeats,
                                                          max_samples=self.importance_max_samples)
            evaluation = self.evaluator.evaluate(clf.pipeline, X_test, y_test, X_val=X_val, y_val=y_val,
                                                 importances=importances, importance_method=method)
        clf.evaluate_seconds = time.perf_counter() - start
        return clf, evaluation

    def train_and_evaluate(
        self,
        X_train, y_train, X_val, y_val, X_test, y_test,
        feature_names: list[str] | None = None,
        *,
        progress: Callable[[int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> dict[str, Any]:
        """Train every configured algorithm; returns models, evaluation results, hyperparameters and timings.

        ``feature_names`` selects and orders the columns when given (default: all columns of ``X_train``).
        Warns once (:class:`LeakyFeatureWarning`) when the columns include NASA's vetting outputs.
        """
        _check_splits(X_train, y_train, X_val, y_val, X_test, y_test)
        if feature_names is not None:
            missing = [c for c in feature_names if c not in getattr(X_train, "columns", [])]
            if missing:
                raise DataError(f"X_train lacks the feature column(s) {', '.join(missing[:8])}; pass DataFrames "
                                "with the columns named in feature_names.")
            X_train, X_val, X_test = (X[list(feature_names)] for X in (X_train, X_val, X_test))
        _warn_if_leaky(X_train.columns, stacklevel=3)
        results: dict[str, Any] = {"models": {}, "evaluation_results": {}, "hyperparameters": {},
                                   "training_times": {}, "feature_names": list(X_train.columns)}
        total = len(self.algorithms)
        for done, name in enumerate(self.algorithms):
            if cancelled and cancelled():
                raise TrainingCancelled("Training was cancelled; nothing was registered.")
            if progress:
                progress(done, total)
            clf, evaluation = self._fit_and_evaluate(name, X_train, y_train, X_val, y_val, X_test, y_test)
            self.classifiers[name] = clf
            results["models"][name] = clf.pipeline
            results["evaluation_results"][name] = evaluation
            results["hyperparameters"][name] = clf.get_hyperparameters()
            results["training_times"][name] = round(clf.fit_seconds or 0.0, 3)
        if progress:
            progress(total, total)
        return results


def _warn_if_leaky(columns, *, stacklevel: int = 3) -> None:
    leaky = leaky_features(columns)
    if leaky:
        warnings.warn(leaky_features_warning(leaky), LeakyFeatureWarning, stacklevel=stacklevel)


def training_records(split_frames: dict[str, Any]) -> dict[str, Any]:
    """The ``register_model`` keywords that record what a version was trained on.

    ``split_frames`` is :attr:`DataProcessor.split_frames` (original rows, ``kepoi_name`` included):
    ``training_rows`` are the training **and** validation rows (both shaped the model), and
    ``training_frame`` the training rows whose profile is recorded.
    """
    import pandas as pd

    missing = [k for k in ("train", "validation") if k not in split_frames]
    if missing:
        raise DataError("The splits have no training or validation rows; run DataProcessor.process_dataset first.")
    train, validation = split_frames["train"], split_frames["validation"]
    return {"training_rows": pd.concat([train, validation]), "training_frame": train}


def _check_splits(X_train, y_train, X_val, y_val, X_test, y_test) -> None:
    for label, X, y in (("training", X_train, y_train), ("validation", X_val, y_val), ("test", X_test, y_test)):
        if not hasattr(X, "columns"):
            raise DataError(f"The {label} features must be a pandas DataFrame with named columns, as "
                            "DataProcessor.process_dataset returns them.")
        if len(X) != len(y):
            raise DataError(f"The {label} split has {len(X)} rows but {len(y)} labels; pass matching splits.")
        if len(X) == 0:
            raise DataError(f"The {label} split is empty; use a larger table.")


def cross_validate_f1(X, y, algorithm: str, *, groups=None, n_splits: int = 5, random_state: int = 42,
                      progress: Callable[[int, int], None] | None = None, **hyperparameters: Any) -> list[float]:
    """Macro F1 of each fold of a stratified ``n_splits``-fold cross-validation of one algorithm.

    ``groups`` (one value per row, e.g. ``DataProcessor().groups_of(rows)`` for the host star's
    ``kepid``) makes it a ``StratifiedGroupKFold``: no group is on both sides of a fold. Without
    it the folds are the old row-by-row ``StratifiedKFold``, for comparison only.
    """
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
    from threadpoolctl import threadpool_limits

    scores = []
    if groups is None:
        folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=random_state).split(X, y)
    else:
        if len(groups) != len(y):
            raise DataError(f"There are {len(y)} labels but {len(groups)} group values; pass one group per row.")
        folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=random_state).split(X, y, groups)
    with threadpool_limits(limits=1, user_api="blas"):
        for i, (train, test) in enumerate(folds):
            if progress:
                progress(i, n_splits)
            clf = make_classifier(algorithm, random_state=random_state, **hyperparameters)
            clf.fit(X.iloc[train], y[train])
            scores.append(float(f1_score(y[test], clf.predict(X.iloc[test]), average="macro")))
    if progress:
        progress(n_splits, n_splits)
    return scores
