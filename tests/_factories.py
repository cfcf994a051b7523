"""Small real models and evaluation results for registry tests."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

FEATURES = ["koi_period", "koi_duration", "koi_depth", "koi_prad"]
LABELS = np.array(["CONFIRMED", "FALSE POSITIVE"])


@functools.cache
def training_data(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, len(FEATURES))), columns=FEATURES)
    y = LABELS[(X["koi_period"] + 0.5 * X["koi_depth"] > 0).astype(int)]
    return X, y


def forest(n_estimators: int = 5, seed: int = 0):
    from sklearn.ensemble import RandomForestClassifier

    X, y = training_data()
    return RandomForestClassifier(n_estimators=n_estimators, max_depth=4, random_state=seed).fit(X, y)


def evaluation(f1: float = 0.9, **extra) -> dict:
    return {"accuracy": 0.91, "precision": 0.9, "recall": 0.89, "f1_score": f1, **extra}


def register(registry, model=None, name: str = "ExoplanetClassifier", f1: float = 0.9, **kwargs) -> str:
    return registry.register_model(
        model=model if model is not None else forest(),
        model_name=name,
        algorithm=kwargs.pop("algorithm", "RandomForest"),
        evaluation_results=evaluation(f1),
        hyperparameters=kwargs.pop("hyperparameters", {"n_estimators": 5, "max_depth": 4}),
        training_info=kwargs.pop("training_info", {"dataset": "cumulative_2025", "training_samples": 300}),
        feature_columns=kwargs.pop("feature_columns", FEATURES),
        **kwargs,
    )
