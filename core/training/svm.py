"""Support vector machine on raw KOI columns, with probabilities from ``CalibratedClassifierCV``."""

from __future__ import annotations

from typing import Any, ClassVar

from core.training.classifier import QUANTILE_PREPROCESSING, BaseClassifier


class SVMModel(BaseClassifier):
    """RBF ``SVC`` calibrated by ``CalibratedClassifierCV`` (sigmoid), behind an imputer and a quantile transform.

    scikit-learn 1.9 deprecates ``SVC(probability=True)``; the calibrated wrapper gives
    ``predict_proba`` with cross-validated Platt scaling instead. With ``calibration_ensemble``
    off (the default) one SVC fitted on all training rows is kept, its sigmoid fitted on
    cross-validated decision values: a third of the prediction cost of an ensemble of three.
    """

    algorithm: ClassVar[str] = "SVM"
    default_hyperparameters: ClassVar[dict[str, Any]] = {
        "C": 3.0,
        "gamma": "scale",
        "kernel": "rbf",
        "class_weight": None,
        "calibration_method": "sigmoid",
        "calibration_cv": 3,
        "calibration_ensemble": False,
        **QUANTILE_PREPROCESSING,
    }

    def build_estimator(self):
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.svm import SVC

        params = self.estimator_params()
        method = params.pop("calibration_method")
        cv = params.pop("calibration_cv")
        ensemble = params.pop("calibration_ensemble")
        return CalibratedClassifierCV(SVC(random_state=self.random_state, **params), method=method, cv=cv,
                                      ensemble=ensemble)
