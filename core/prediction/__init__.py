"""Batch prediction on CSV files: input reading, the streaming engine, scoring and the child-process runner."""

from core.prediction.engine import (
    EvaluationResult,
    PredictionCancelled,
    PredictionSummary,
    PreflightReport,
    default_output_path,
    evaluate_csv,
    predict_csv,
    preflight,
)

__all__ = [
    "EvaluationResult",
    "PredictionCancelled",
    "PredictionSummary",
    "PreflightReport",
    "default_output_path",
    "evaluate_csv",
    "predict_csv",
    "preflight",
]
