"""Importing a model that was not made by ExoReg: one step from a bare model file to a version.

A plain ``.pkl`` / ``.joblib`` / ``.skops`` pipeline says little about itself. What it does say
(its algorithm, ``feature_names_in_``, its classes) is read from the estimator; what it does not
(its name, its feature columns when it was fitted on an array) comes from the person; its
headline metrics are scored on a labelled file they name, or recorded as unknown. Metrics scored
that way are marked "overlap unknown" (nobody knows whether the file holds the model's training
rows), which keeps the version out of "best" until the person confirms them
(:meth:`core.registry.registry.ModelRegistry.confirm_metrics`).

The trust rules are those of every import: the file is loaded only after the safety review, and a
pickle only with the person's trust (:func:`core.registry.transfer.load_previewed_model`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from core.prediction.engine import DEFAULT_LABEL_COLUMN, evaluate_csv
from core.registry import transfer


def csv_columns(path: str | os.PathLike, *, exclude: tuple[str, ...] = ()) -> list[str]:
    """The column names of a CSV file's header (NASA ``#`` comments, delimiters and encodings handled)."""
    from core.prediction.csv_input import sniff_csv

    return [c for c in sniff_csv(path).columns if c not in exclude]


def parse_feature_list(text: str) -> list[str]:
    """``a,b, c`` -> ``["a", "b", "c"]`` (empty items dropped)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def import_outside_model(
    registry,
    preview: transfer.ImportPreview,
    *,
    name: str,
    algorithm: str | None = None,
    feature_columns: list[str] | None = None,
    evaluate: str | os.PathLike | None = None,
    label_column: str = DEFAULT_LABEL_COLUMN,
    trusted: bool = False,
    model: Any = None,
    progress=None,
    cancelled=None,
) -> str:
    """Register a bare model file (its ``preview``) as the next version of ``name``; returns the new id.

    ``algorithm`` defaults to the estimator's and ``feature_columns`` to its ``feature_names_in_``.
    With ``evaluate`` (a labelled CSV) the headline metrics are scored on it and marked "overlap
    unknown"; without it they are recorded as unknown. ``model`` is the already loaded model of the
    preview's bytes, when the caller has it.
    """
    if model is None:
        model = transfer.load_previewed_model(preview, trusted=trusted)
    meta = transfer.outside_metadata(
        preview, model, name=name, algorithm=algorithm, feature_columns=feature_columns
    )
    if evaluate is not None:
        result = evaluate_csv(
            (model, meta), evaluate, label_column, progress=progress, cancelled=cancelled
        )
        transfer.record_scores(
            meta,
            result.metrics,
            source={
                "file_name": Path(evaluate).name,
                "label_column": label_column,
                "rows_scored": result.rows_scored,
                "rows_rejected": result.rows_rejected,
                "unscored": result.unscored,
                "overlap_with_training_rows": "unknown",
            },
            per_class=result.per_class,
            confusion_matrix=result.confusion_matrix,
        )
    return transfer.import_model(
        registry, preview.source, trusted=trusted, preview=preview, metadata=meta, model=model
    )
