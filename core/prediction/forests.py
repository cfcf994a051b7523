"""A forest's class probabilities summed tree by tree, as ``predict_proba`` sums them, minus its
per-tree task machinery.

``ForestClassifier.predict_proba`` hands every tree to joblib as a task: a configuration
context, a warnings filter, a lock and a function wrapper per tree and per call. On a batch of
25,000 rows that costs several percent of the forest's time, and more the smaller the batch.
With ``n_jobs=1`` (as the engine runs every model) it adds the trees' probabilities into one
float64 array in the forest's order and divides by their number; :func:`proba_function` does
exactly that, so its result equals ``predict_proba``'s to the last bit.

Only plain scikit-learn forests take this path: a subclass that changes ``predict_proba`` (of
the forest or of its trees), a multi-output forest, or a pipeline that overrides its own
``predict_proba`` is predicted by its own method.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def proba_function(model: Any) -> Callable[[Any], Any] | None:
    """``model.predict_proba`` computed tree by tree, or None when ``model`` is not a plain
    scikit-learn forest classifier or a plain pipeline ending in one."""
    from sklearn.pipeline import Pipeline

    transforms: list[Any] = []
    final = model
    if isinstance(model, Pipeline):
        if _defined_by(model, "predict_proba") is not Pipeline or not model.steps:
            return None
        from sklearn.utils.metadata_routing import _routing_enabled

        if _routing_enabled():  # routed parameters would have to be passed on as the pipeline does
            return None
        transforms = [t for _, t in model.steps[:-1] if t is not None and t != "passthrough"]
        final = model.steps[-1][1]
    if not _plain_forest(final):
        return None

    def predict_proba(X):
        for transform in transforms:
            X = transform.transform(X)
        return _forest_proba(final, X)

    return predict_proba


def _plain_forest(forest: Any) -> bool:
    from sklearn.ensemble._forest import ForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    return (
        isinstance(forest, ForestClassifier)
        and _defined_by(forest, "predict_proba") is ForestClassifier
        and hasattr(forest, "_validate_X_predict")
        and getattr(forest, "n_outputs_", None) == 1
        and bool(getattr(forest, "estimators_", None))
        and all(
            isinstance(tree, DecisionTreeClassifier)
            and _defined_by(tree, "predict_proba") is DecisionTreeClassifier
            for tree in forest.estimators_
        )
    )


def _defined_by(obj: Any, name: str) -> type | None:
    """The class whose body defines ``name`` for ``obj`` (methods wrapped by descriptors such as
    ``available_if`` compare by where they are written, not by identity)."""
    return next((cls for cls in type(obj).__mro__ if name in vars(cls)), None)


def _forest_proba(forest: Any, X: Any):
    import numpy as np

    X = forest._validate_X_predict(X)  # float32, feature names and count checked, as predict_proba does
    total = np.zeros((X.shape[0], int(forest.n_classes_)), dtype=np.float64)
    for tree in forest.estimators_:
        total += tree.predict_proba(X, check_input=False)
    total /= len(forest.estimators_)
    return total
