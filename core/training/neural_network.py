"""Multi-layer perceptron on raw KOI columns: median imputation and a quantile transform."""

from __future__ import annotations

from typing import Any, ClassVar

from core.training.classifier import QUANTILE_PREPROCESSING, BaseClassifier


class NeuralNetworkModel(BaseClassifier):
    """``MLPClassifier`` (Adam, early stopping) behind an imputer and a quantile transform.

    KOI columns span many orders of magnitude (periods, depths, fluxes); mapping each to its
    quantiles (then standardising) keeps a few huge values from swamping the rest, which a
    plain standard scaler does not.
    """

    algorithm: ClassVar[str] = "NeuralNetwork"
    default_hyperparameters: ClassVar[dict[str, Any]] = {
        "hidden_layer_sizes": (64, 32),
        "activation": "relu",
        "alpha": 1e-3,
        "learning_rate_init": 1e-3,
        "batch_size": 200,
        "max_iter": 300,
        "early_stopping": True,
        "validation_fraction": 0.1,
        "n_iter_no_change": 10,
        **QUANTILE_PREPROCESSING,
    }

    def build_estimator(self):
        from sklearn.neural_network import MLPClassifier

        params = self.estimator_params()
        params["hidden_layer_sizes"] = tuple(params["hidden_layer_sizes"])
        return MLPClassifier(solver="adam", random_state=self.random_state, **params)
