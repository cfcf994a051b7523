"""Ranked CANDIDATEs: which open KOIs a model finds most likely to be real planets, and why.

:func:`rank_candidates` scores the rows of a KOI table whose disposition is CANDIDATE (every
row of a file without dispositions) with a registered version and sorts them by the
probability of CONFIRMED, highest first; ties go to the lower ``kepoi_name`` (then to file
order), so the order is always the same. Beside each row it puts the predicted label, NASA's
``koi_score`` when the table has it, and the row's most influential features: for each
feature, the change in P(CONFIRMED) when that feature alone is replaced by its training
median, ``effect = P(row) - P(row with the feature at its median)``. A positive effect means
the row's own value pushes it towards CONFIRMED. The effects are computed with one
``predict_proba`` call per feature over all the rows that differ from the median, never
guessed and never looped per row.

The training medians come from the version's training profile when the registry recorded one
(:meth:`ModelRegistry.training_profile`); otherwise from the labelled (CONFIRMED / FALSE
POSITIVE) rows of the scored table itself, and the notes say which.

A binary version (CONFIRMED vs FALSE POSITIVE) ranks by its CONFIRMED probability; a
three-class version by its CONFIRMED column (a note says so); a version without a CONFIRMED
class is refused. Models are loaded through the registry's safe loader: hash checked, types
audited, and a pickle refused unless ``trusted``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import DataError
from core.training.koi import (
    CANDIDATE,
    CONFIRMED,
    FALSE_POSITIVE,
    IDENTIFIER_COLUMNS,
    LABEL_COLUMN,
)

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

SCORE_COLUMN = "koi_score"
P_COLUMN = "p_confirmed"
PREDICTED_COLUMN = "predicted_label"
RANK_COLUMN = "rank"
DEFAULT_EXPLAIN = 3
_NAME = "kepoi_name"


def feature_column(i: int) -> str:
    """The output column naming the ``i``-th most influential feature of a row (1-based)."""
    return f"feature_{i}"


def effect_column(i: int) -> str:
    """The output column with the ``i``-th feature's effect on P(CONFIRMED) (1-based)."""
    return f"effect_{i}"


@dataclass
class RankedCandidates:
    """The ranked rows (:attr:`frame`) and what a reader must know about them (:attr:`notes`)."""

    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    model_id: str = ""
    source: str = ""  # the table's file name, or "a DataFrame"
    candidates: int = 0  # rows ranked before ``top`` cut the list
    medians_from: str = ""  # "training profile", "labelled rows", "all rows"

    def to_csv(self, path: str | os.PathLike) -> Path:
        """Write :attr:`frame` as CSV under a temporary name, renamed into place when complete.

        Text cells a spreadsheet would run as a formula get a leading ``'``; an output path that is
        a link, a named pipe or a device, or the scored table itself, is refused.
        """
        from core.common.cells import CSV_OPTIONS, escape_frame
        from core.common.files import atomic_write_text

        out = check_output(path, self.source)
        atomic_write_text(out, escape_frame(self.frame).to_csv(index=False, **CSV_OPTIONS))
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (a missing number is ``None``)."""
        from core.common.jsonio import to_jsonable

        return {
            "model_id": self.model_id,
            "source": self.source,
            "candidates": self.candidates,
            "shown": int(len(self.frame)),
            "medians_from": self.medians_from,
            "columns": [str(c) for c in self.frame.columns],
            "rows": to_jsonable(self.frame.astype(object).where(self.frame.notna(), None).to_dict("records")),
            "notes": list(self.notes),
        }


FRAME_SOURCE = "a DataFrame"


def check_output(path: str | os.PathLike, source: str | os.PathLike | None = None) -> Path:
    """``path`` as a Path, after the batch-prediction output check (no link, pipe or device; not the input)."""
    from core.prediction.engine import _check_output

    out = Path(path)
    scored = Path(source) if source and str(source) != FRAME_SOURCE else None
    _check_output(scored, out, "ranking output")
    return out


def rank_candidates(
    ref,
    table,
    *,
    registry=None,
    top: int | None = None,
    explain: int = DEFAULT_EXPLAIN,
    trusted: bool = False,
) -> RankedCandidates:
    """Rank the CANDIDATE rows of ``table`` by a version's P(CONFIRMED), highest first.

    ``ref``: a registry reference (with ``registry=``, a ``ModelRegistry`` or its folder), a
    ``ModelMetadata``, or a ``(model, metadata)`` pair already in hand. ``table``: the path of a
    CSV file (anything batch prediction reads: comment headers, gzip, other delimiters) or a
    DataFrame. ``top`` keeps the first rows only; ``explain`` is the number of influential
    features reported per row (0: none).

    Rows with text or infinity in a feature cell (or an empty one, when the model cannot impute)
    are not ranked; a note counts them. Raises :class:`DataError` with one sentence when the
    version has no CONFIRMED class or no probabilities, the table lacks feature columns, or
    there is no row to rank.
    """
    import numpy as np

    if top is not None and top < 1:
        raise DataError(f"--top must be a positive number of rows (got {top}).")
    if explain < 0:
        raise DataError(f"explain must be 0 or more features per row (got {explain}).")
    ctx = _load(ref, registry, trusted)
    notes: list[str] = []
    classes = [str(c) for c in ctx.labels]
    if not ctx.has_proba:
        raise DataError(f"Version {ctx.model_id} gives no probabilities (no predict_proba), so it cannot rank "
                        "CANDIDATEs; rank with a version that does (RandomForest, NeuralNetwork, SVM).")
    if CONFIRMED not in classes:
        raise DataError(f"Version {ctx.model_id} predicts {', '.join(classes)} but not {CONFIRMED}, so it cannot "
                        f"rank CANDIDATEs by P({CONFIRMED}); rank with a version trained on the KOI dispositions.")
    column = classes.index(CONFIRMED)
    if len(classes) > 2:
        notes.append(f"Version {ctx.model_id} has {len(classes)} classes ({', '.join(classes)}); rows are ranked "
                     f"by its {CONFIRMED} probability, not by {CONFIRMED} against {FALSE_POSITIVE} alone.")

    data = _read(table, ctx, notes)
    labelled = data.labels is not None
    if labelled:
        chosen = np.flatnonzero(data.labels == CANDIDATE)
        if chosen.size == 0:
            raise DataError(f"{data.source_name} has no {CANDIDATE} rows in its {LABEL_COLUMN} column; pass a table "
                            "with CANDIDATEs, or one without dispositions to rank every row.")
    else:
        chosen = np.arange(data.rows)
        notes.append(f"{data.source_name} has no {LABEL_COLUMN} values, so every row is ranked.")

    converted = {name: _subset(values, chosen) for name, values in data.converted.items()}
    result = _predict(ctx, data.cells.take(chosen), converted)
    if len(result.rejects):
        first = result.rejects[0]
        name = data.ids[_NAME][chosen[first[0]]] if _NAME in data.ids else f"row {chosen[first[0]] + 1}"
        notes.append(f"{len(result.rejects)} row(s) could not be ranked (first: {name}, {first[1]}).")
    rows = chosen[result.keep]
    if rows.size == 0:
        raise DataError(f"None of the {len(chosen)} row(s) of {data.source_name} could be scored; fix the feature "
                        "cells the notes name.")
    X = np.column_stack([converted[name].values[result.keep] for name in ctx.features])
    p = result.proba[:, column]

    out = _identifier_frame(data, rows)
    out[P_COLUMN] = p
    out[PREDICTED_COLUMN] = np.asarray(classes, dtype=object)[result.proba.argmax(axis=1)]
    if data.score is not None:
        out[SCORE_COLUMN] = data.score[rows]
        notes.append(f"{SCORE_COLUMN} is NASA's Robovetter disposition score, shown for comparison; it is never a "
                     "model feature.")

    medians_from = ""
    if explain:
        in_memory = isinstance(ref, tuple | list)  # a (model, metadata) pair: no registry to ask for a profile
        med, medians_from, why = _medians(ctx, data, registry, notes, in_memory)
        notes.append(why)
        effects = _effects(ctx, X, p, med, column)
        names, values = _strongest(effects, ctx.features, min(explain, len(ctx.features)))
        for i in range(names.shape[1]):
            out[feature_column(i + 1)] = names[:, i]
            out[effect_column(i + 1)] = values[:, i]
        notes.append(f"effect_N is P({CONFIRMED}) for the row minus P({CONFIRMED}) with feature_N alone set to its "
                     "training median: positive pushes towards CONFIRMED.")

    order = order_by_score(p, out[_NAME].to_numpy(dtype=object) if _NAME in out else None)
    out = out.iloc[order].reset_index(drop=True)
    out.insert(0, RANK_COLUMN, np.arange(1, len(out) + 1))
    ranked = len(out)
    if top is not None:
        out = out.head(top)
    return RankedCandidates(frame=out, notes=notes, model_id=ctx.model_id, source=data.source,
                            candidates=ranked, medians_from=medians_from)


# ---------------------------------------------------------------------------------------------
# Loading the model


def _load(ref, registry, trusted: bool):
    from core.prediction.stream import load, metadata_of, open_registry

    if isinstance(ref, str):
        model, meta = open_registry(registry).load(ref, trusted=trusted)
        return load(meta, model, registry)
    meta, model = metadata_of(ref, registry)
    if model is None:
        model, meta = open_registry(registry).load_model(model_id=meta.model_id, trusted=trusted)
    return load(meta, model, registry)


# ---------------------------------------------------------------------------------------------
# Reading the table


@dataclass
class _Table:
    source: str
    source_name: str
    rows: int
    cells: Any  # pyarrow Table of the feature columns as read (for the reasons a row is refused)
    converted: dict[str, Any]  # feature -> ColumnValues
    ids: dict[str, Any]  # identifier column -> numpy object array
    labels: np.ndarray | None  # cleaned dispositions, or None for an unlabelled table
    score: np.ndarray | None  # koi_score as float, NaN where missing


def _read(table, ctx, notes: list[str]) -> _Table:
    import pandas as pd

    if isinstance(table, pd.DataFrame):
        return _read_frame(table, ctx)
    if isinstance(table, str | os.PathLike):
        return _read_csv(Path(table), ctx, notes)
    raise TypeError(f"table must be a CSV path or a pandas DataFrame, not {type(table).__name__}")


def _read_csv(path: Path, ctx, notes: list[str]) -> _Table:
    import pyarrow as pa

    from core.prediction.csv_input import BatchStream, sniff_csv, to_float
    from core.prediction.engine import preflight

    report = preflight((ctx.model, ctx.metadata), path)
    if report.error:
        raise DataError(report.error)
    fmt = sniff_csv(path)
    extras = [c for c in (*IDENTIFIER_COLUMNS, LABEL_COLUMN, SCORE_COLUMN) if c in fmt.columns]
    wanted = sorted(set(ctx.features) | set(extras), key=fmt.columns.index)
    with BatchStream(fmt, wanted) as stream:
        batches = list(stream)
        invalid = stream.invalid_rows
    if invalid:
        notes.append(f"{len(invalid)} line(s) of {path.name} could not be read and are not ranked "
                     f"(first: {invalid[0]}).")
    data = pa.Table.from_batches(batches) if batches else None
    if data is None or data.num_rows == 0:
        raise DataError(f"{path.name} has no data rows to rank; pass a KOI table with rows below its header.")
    data = data.combine_chunks()
    converted = {name: to_float(data.column(name).combine_chunks()) for name in ctx.features}
    ids = {c: _text(data.column(c).to_numpy(zero_copy_only=False)) for c in IDENTIFIER_COLUMNS if c in extras}
    labels = _labels(data.column(LABEL_COLUMN).to_numpy(zero_copy_only=False)) if LABEL_COLUMN in extras else None
    score = to_float(data.column(SCORE_COLUMN).combine_chunks()).values if SCORE_COLUMN in extras else None
    cells = data.select(ctx.features)
    return _Table(str(path), path.name, data.num_rows, cells, converted, ids, labels, score)


def _read_frame(frame: pd.DataFrame, ctx) -> _Table:
    import pyarrow as pa
    import pyarrow.compute as pc

    from core.prediction.csv_input import to_float
    from core.prediction.engine import suggest_columns

    missing = [c for c in ctx.features if c not in frame.columns]
    if missing:
        close = suggest_columns(missing, [str(c) for c in frame.columns])
        hint = "".join(f" ({m}: did you mean {', '.join(close[m])}?)" for m in missing[:3] if close.get(m))
        raise DataError(f"The table lacks the feature column(s) {', '.join(missing[:8])} that version "
                        f"{ctx.model_id} needs{hint}; pass a table with all of them.")
    if len(frame) == 0:
        raise DataError("The table has no rows to rank; pass a KOI table with rows.")

    def cells(name: str):
        series = frame[name]
        if series.dtype.kind in "fiub":
            return pa.array(series.to_numpy(dtype="float64"))
        return pc.cast(pa.array(series.astype("string")), pa.string())

    raw = pa.table({name: cells(name) for name in ctx.features})
    converted = {name: to_float(raw.column(name).combine_chunks()) for name in ctx.features}
    ids = {c: _text(frame[c].to_numpy(dtype=object)) for c in IDENTIFIER_COLUMNS if c in frame.columns}
    labels = _labels(frame[LABEL_COLUMN].to_numpy(dtype=object)) if LABEL_COLUMN in frame.columns else None
    score = to_float(cells(SCORE_COLUMN)).values if SCORE_COLUMN in frame.columns else None
    return _Table(FRAME_SOURCE, "The table", len(frame), raw, converted, ids, labels, score)


def _text(values) -> np.ndarray:
    import numpy as np
    import pandas as pd

    out = np.asarray(values, dtype=object).copy()
    empty = pd.isna(out)
    out[~empty] = [str(v) for v in out[~empty]]
    out[empty] = None
    return out


def _labels(values) -> np.ndarray | None:
    """Dispositions stripped and upper-cased (as :func:`core.training.koi.clean_koi_frame` does); None when all empty."""
    import numpy as np
    import pandas as pd

    text = pd.Series(values, dtype="string").str.strip().str.upper()
    text = text.where(text != "", None)
    if text.isna().all():
        return None
    return np.asarray(text.astype(object).where(text.notna(), None), dtype=object)


def _subset(values, rows):
    from core.prediction.csv_input import ColumnValues

    return ColumnValues(values.values[rows], values.missing[rows], values.non_numeric[rows], values.infinite[rows])


def _identifier_frame(data: _Table, rows) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({c: data.ids[c][rows] for c in IDENTIFIER_COLUMNS if c in data.ids})


# ---------------------------------------------------------------------------------------------
# Predicting and explaining


def _predict(ctx, cells, converted):
    """The engine's per-batch prediction: which rows can be scored (and why not), and their probabilities."""
    from core.prediction.stream import predict_batch

    return predict_batch(ctx, cells, converted)


def _call(ctx, X) -> np.ndarray:
    import numpy as np
    import pandas as pd

    if ctx.frame_input:
        X = pd.DataFrame(X, columns=ctx.features, copy=False)
    try:
        return np.asarray(ctx.model.predict_proba(X), dtype=np.float64)
    except ValueError as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise DataError(f"Version {ctx.model_id} could not predict these rows ({first.rstrip('.')}).") from exc


def _effects(ctx, X, p, med, column: int) -> np.ndarray:
    """``effects[i, j]``: P(CONFIRMED) of row i minus that with feature j alone at its median.

    One ``predict_proba`` per feature, over the rows whose value differs from the median
    (for the others the effect is exactly 0); a feature without a median has effect 0.
    """
    import numpy as np

    effects = np.zeros_like(X, dtype=np.float64)
    for j in range(X.shape[1]):
        m = med[j]
        if not np.isfinite(m):
            continue
        differs = ~(X[:, j] == m)
        if not differs.any():
            continue
        changed = X[differs].copy()
        changed[:, j] = m
        effects[differs, j] = p[differs] - _call(ctx, changed)[:, column]
    return effects


def _strongest(effects, features: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the ``k`` features of largest absolute effect (ties: feature order) and their effects."""
    import numpy as np

    order = np.argsort(-np.abs(effects), axis=1, kind="stable")[:, :k]
    names = np.asarray(features, dtype=object)[order]
    values = np.take_along_axis(effects, order, axis=1)
    return names, values


def _medians(ctx, data: _Table, registry, notes: list[str], in_memory: bool) -> tuple[np.ndarray, str, str]:
    """(median per feature, where they came from, the note saying so); a profile that cannot be read adds a note."""
    import numpy as np

    profile, problem = (None, None) if in_memory else _profile_medians(ctx, registry)
    if problem:
        notes.append(problem)
    if profile is not None:
        return profile, "training profile", (f"Feature effects use the training medians recorded in version "
                                             f"{ctx.model_id}'s training profile.")
    if data.labels is not None:
        rows = np.flatnonzero(np.isin(data.labels, [CONFIRMED, FALSE_POSITIVE]))
        if rows.size:
            med = _nanmedian(data, ctx.features, rows)
            return med, "labelled rows", (
                f"Version {ctx.model_id} records no training profile, so feature effects use the medians of the "
                f"{rows.size} CONFIRMED / FALSE POSITIVE rows of {data.source_name} instead of its training medians.")
    rows = np.arange(data.rows)
    return _nanmedian(data, ctx.features, rows), "all rows", (
        f"Version {ctx.model_id} records no training profile and {data.source_name} has no labelled rows, so "
        "feature effects use the medians of all its rows instead of the training medians.")


def _nanmedian(data: _Table, features: list[str], rows) -> np.ndarray:
    import numpy as np

    out = np.full(len(features), np.nan)
    for j, name in enumerate(features):
        values = data.converted[name].values[rows]
        values = values[np.isfinite(values)]
        if values.size:
            out[j] = float(np.median(values))
    return out


def _profile_medians(ctx, registry) -> tuple[np.ndarray | None, str | None]:
    """(the 50 % quantiles of the version's training profile or None, why it could not be read or None)."""
    import numpy as np

    from core.errors import ModelNotFoundError, RegistryError
    from core.prediction.stream import open_registry

    if not ctx.model_id:
        return None, None
    try:
        reg = open_registry(registry)
        getter = getattr(reg, "training_profile", None)  # registries that record training profiles
        profile = getter(ctx.model_id) if getter is not None else None
    except ModelNotFoundError:  # a model handed over in memory, not one of this registry's
        return None, None
    except (RegistryError, OSError) as exc:
        return None, f"The training profile of {ctx.model_id} could not be read ({str(exc).rstrip('.')})."
    columns = profile.get("features") if isinstance(profile, Mapping) else None
    if not isinstance(columns, Mapping):
        return None, None
    out = np.full(len(ctx.features), np.nan)
    for j, name in enumerate(ctx.features):
        entry = columns.get(name)
        median = _median_of(entry)
        if median is not None:
            out[j] = median
    return (out, None) if np.isfinite(out).any() else (None, None)


def _median_of(entry) -> float | None:
    """The median of one feature of a training profile (``quantiles["50"]``; None for a column with no value)."""
    quantiles = entry.get("quantiles") if isinstance(entry, Mapping) else None
    value = quantiles.get("50") if isinstance(quantiles, Mapping) else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def order_by_score(p, names) -> np.ndarray:
    """Indices sorting by ``p`` descending, ties by ``kepoi_name`` ascending, then by position."""
    import numpy as np

    if names is None:
        return np.lexsort((np.arange(len(p)), -p))
    keys = np.asarray(["" if n is None else str(n) for n in names], dtype=object)
    _, name_rank = np.unique(keys, return_inverse=True)
    return np.lexsort((np.arange(len(p)), name_rank, -p))
