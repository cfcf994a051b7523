"""Batch prediction on CSV files: a preflight check, streaming prediction, scoring on labelled files.

The three entry points are plain functions:

- :func:`preflight` reads a file's header and first megabyte and compares them with the
  model's feature columns (cheap: it needs the metadata only, not the model).
- :func:`predict_csv` streams the file through the model and writes identifier columns,
  the predicted label, one probability column per class and the model id to CSV (or Parquet).
- :func:`evaluate_csv` runs the same streaming path on a file with true labels and returns
  accuracy, precision, recall and F1 per class and averaged, and the confusion matrix.

Models are named as in :meth:`core.model_registry.ModelRegistry.resolve` (an id, ``NAME``,
``NAME:VERSION``, ``NAME@ALIAS``, ``best``, ``best:METRIC``) together with ``registry=`` (a
``ModelRegistry`` or its folder), or handed over as a ``(model, metadata)`` pair the caller
already holds (what ``registry.load_model`` returns). A reference is always loaded through
the registry's safe path: hash verified, types audited.

How it runs
-----------
One pass over the file, whatever its size: see :mod:`core.prediction.stream`. In short, the
calling thread parses batches of lines with pyarrow (feature columns straight to numbers) while
the model loads on another thread; one prediction thread per core checks, predicts (the model
set to ``n_jobs=1``, so the cores are not oversubscribed and the output is deterministic) and
builds the output of each batch; the calling thread writes the batches in file order. Memory
stays flat.

Running beside a GUI event loop
-------------------------------
**Choice: a child process.** (The desktop app keeps one warm: :mod:`core.prediction.warm`.) From a worker thread (a ``QRunnable`` or ``QThread``), never
from the GUI thread, call ``predict_csv(..., in_subprocess=True)`` (or
``evaluate_csv(..., in_subprocess=True)``). The work then runs in a child process started
with the ``spawn`` method, so a model step that holds the GIL, or a crash inside a model,
cannot stall or take down the window. The worker thread only waits on a pipe (GIL released),
relays progress and polls ``cancelled()`` every 50 ms. Starting the child costs 1-3 s
(importing scikit-learn, loading the model); the result file is byte-for-byte the same.

- ``progress(done_rows, estimated_total_rows)`` and ``cancelled()`` are called **on the
  worker thread that called the function**, never on the GUI thread: emit a Qt signal from
  ``progress`` (queued to the GUI thread) and read a flag such as a ``threading.Event`` in
  ``cancelled``; never touch a widget from them. The total is an estimate (from the bytes
  per line of the first megabyte) until the last call, which passes ``(rows, rows)``.
- Cancelling raises :class:`PredictionCancelled` on the worker thread within about one
  batch; no output file, rejects file or temporary file is left behind.
- Errors a person can fix (missing columns, not a CSV, unknown model...) arrive as the same
  :class:`core.errors.RegistryError` subclasses, with one-sentence messages; a child that
  dies raises :class:`core.errors.RegistryError` saying so.
- As with any ``spawn`` child, the program's main module must be importable without side
  effects (the usual ``if __name__ == "__main__":`` guard; console-script entry points are).
- :func:`preflight` only reads the first megabyte (~20 ms, plus importing pyarrow on the first
  call) and needs no model: it may run on a worker thread in-process. For a version with a
  training profile it also streams the first :data:`DRIFT_SAMPLE_ROWS` rows' feature columns
  for the drift verdict (:mod:`core.prediction.drift`; tens of milliseconds more, plus the
  chance limits the first time a file of that size is checked).

In-process runs (``in_subprocess=False``, the default, used by the command line) keep the
pipeline's own steps short, but not the model's: ``bench/predict_gil_stall.py`` measured the
longest gap of a 5 ms timer on the main thread at 13-28 ms beside the forest and MLP
pipelines, yet 134-222 ms beside a calibrated SVC (libsvm holds the GIL); with
``in_subprocess=True`` it was 20-45 ms for all three (the start of the child included).
"""

from __future__ import annotations

import contextlib
import difflib
import os
import re
import stat
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from core.common.files import AtomicOutput, same_file
from core.errors import DataError, RegistryError
from core.prediction.stream import (  # noqa: F401 - PredictionCancelled and the constants are importable from here
    ALIGN_ROWS,
    DEFAULT_BATCH_ROWS,
    READ_BLOCK_BYTES,
    BatchResult,
    Cancelled,
    Job,
    LoadedModel,
    PredictionCancelled,
    Progress,
    features_of,
    load,
    metadata_of,
    open_registry,
    registry_root,
    run_pass,
)
from core.training.koi import IDENTIFIER_COLUMNS, LABEL_COLUMN
from core.training.metrics import metrics_from_confusion

# The identifiers a prediction carries through (kepler_name, empty for most rows, is left out).
DEFAULT_ID_COLUMNS = tuple(c for c in IDENTIFIER_COLUMNS if c != "kepler_name")
DEFAULT_LABEL_COLUMN = LABEL_COLUMN
PREDICTED_COLUMN = "predicted_label"
PROBABILITY_PREFIX = "probability_"
MODEL_COLUMN = "model_id"
ROW_COLUMN = "row"  # the record's 1-based number among the file's data rows
LINE_COLUMN = "line"  # the line of the file it is on
STDOUT = "-"  # predict_csv's output path for standard output (CSV)
REASON_COLUMN = "reason"
_EXAMPLES = 5
DRIFT_SAMPLE_ROWS = 10_000  # the rows preflight's drift check reads from the top of the file


# ---------------------------------------------------------------------------------------------
# Results


@dataclass
class ColumnIssue:
    """Cells of one feature column that are not usable numbers."""

    column: str
    missing: int = 0  # empty, NA, NaN: imputed by the model's pipeline or the row is rejected
    non_numeric: int = 0  # text that is not a number: the row is rejected
    infinite: int = 0  # +-inf: the row is rejected
    first_rows: list[int] = field(default_factory=list)  # 1-based data-row numbers of the first few
    examples: list[str] = field(default_factory=list)  # a few of the non-numeric texts

    @property
    def total(self) -> int:
        return self.missing + self.non_numeric + self.infinite

    def describe(self) -> str:
        parts = []
        if self.non_numeric:
            ex = ", ".join(repr(e) for e in self.examples[:3])
            parts.append(f"{self.non_numeric} not numbers" + (f" (e.g. {ex})" if ex else ""))
        if self.infinite:
            parts.append(f"{self.infinite} infinite")
        if self.missing:
            parts.append(f"{self.missing} empty")
        rows = ", ".join(str(r) for r in self.first_rows)
        return f"{self.column}: {', '.join(parts)}" + (f" (rows {rows}...)" if rows else "")


@dataclass
class PreflightReport:
    """What a person should know about a file before predicting on it."""

    path: str
    model_id: str | None
    columns: list[str]
    feature_columns: list[str]
    matched: list[str]
    missing: list[str]
    suggestions: dict[str, list[str]]
    extra: list[str]
    id_columns: list[str]
    issues: dict[str, ColumnIssue]
    sample_rows: int
    estimated_rows: int
    rows_exact: bool
    encoding: str
    delimiter: str
    compression: str | None
    comment_lines: int
    error: str | None = None  # why the model cannot run on this file (None when it can)
    drift: dict | None = None  # DriftReport.to_dict() of the first DRIFT_SAMPLE_ROWS rows
    drift_note: str | None = None  # why there is no drift check (no training profile), or its notes

    @property
    def ok(self) -> bool:
        """True when every feature column the model needs is present."""
        return self.error is None

    @property
    def warnings(self) -> list[str]:
        """One line per feature column with unusable cells in the sample."""
        return [issue.describe() for issue in self.issues.values() if issue.total]

    def raise_for_error(self) -> None:
        if self.error:
            raise DataError(self.error)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        d["warnings"] = self.warnings
        return d


@dataclass
class PredictionSummary:
    """What :func:`predict_csv` did."""

    input_path: str
    output_path: str
    rejects_path: str | None
    model_id: str
    rows_read: int
    rows_predicted: int
    rows_rejected: int
    rows_imputed: int  # predicted although some feature was empty (the pipeline imputed it)
    class_counts: dict[str, int]
    issues: dict[str, dict[str, int]]  # column -> {"missing", "non_numeric", "infinite"}
    elapsed_seconds: float  # the whole call, model load included
    output_format: str
    load_seconds: float = 0.0  # loading the model (hash check, type audit), overlapped with reading
    drift: dict | None = None  # DriftReport.to_dict() over every row read
    drift_note: str | None = None  # why there is no drift check (no training profile), or its notes

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["rows_per_second"] = round(self.rows_per_second, 1)
        return d


@dataclass
class EvaluationResult:
    """Fresh metrics of one model on one labelled file (see :func:`evaluate_csv`)."""

    input_path: str
    model_id: str
    model_name: str
    version: int | None
    label_column: str
    rows_read: int
    rows_scored: int
    rows_rejected: int
    unscored: dict[str, int]  # true labels the model does not know (or empty) -> rows
    metrics: dict[str, float]  # accuracy, precision/recall/f1_score (macro), *_macro, *_weighted
    per_class: dict[str, dict[str, float]]  # label -> precision, recall, f1, support
    confusion_matrix: dict[str, list]  # {"labels": [...], "matrix": [[...]]} rows = true, columns = predicted
    registered_metrics: dict[str, float]  # what the model was registered with, for side-by-side display
    elapsed_seconds: float
    rows_excluded: int = 0  # labelled rows left out as the version's own training or validation rows
    overlap_checked: bool = False  # False: no record of its training rows, so overlap is unknown
    notes: list[str] = field(default_factory=list)  # sentences a person should read with the metrics
    # The first ``keep_rows`` labelled rows, one entry per row, for the statistics (not in to_dict).
    rows: ScoredRows | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(replace(self, rows=None))  # the per-row arrays are for the statistics, not for JSON
        del d["rows"]
        return d


@dataclass
class ScoredRows:
    """One model's labelled rows of a file, row by row: what paired statistics are computed from.

    Every array has one entry per row, in file order: the row's 0-based ``record`` number among the
    file's data rows, the index (into ``labels``) of its true and of its predicted label, the
    probabilities (``None`` for a model without ``predict_proba``) and ``trained`` (True where the
    model was trained or validated on the row; ``None`` when its training rows are not recorded).
    Rows whose true label the model does not know are not here. ``total`` counts every such labelled
    row of the file; beyond ``keep_rows`` only the first ones are kept (``truncated``).
    """

    labels: list[str]
    record: Any
    truth: Any
    pred: Any
    proba: Any
    trained: Any
    total: int

    @property
    def kept(self) -> int:
        return len(self.record)

    @property
    def truncated(self) -> bool:
        return self.kept < self.total


# ---------------------------------------------------------------------------------------------
# Column matching


def _norm(name: str) -> str:
    n = re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")
    return n[4:] if n.startswith("koi_") else n


def suggest_columns(missing: Sequence[str], available: Sequence[str]) -> dict[str, list[str]]:
    """Close matches in ``available`` for each name in ``missing`` (``period`` for ``koi_period``)."""
    by_norm: dict[str, list[str]] = {}
    for col in available:
        by_norm.setdefault(_norm(col), []).append(col)
    out: dict[str, list[str]] = {}
    for name in missing:
        key = _norm(name)
        found = list(by_norm.get(key, []))  # same name but for case, separators or the koi_ prefix
        if not found:
            for close in difflib.get_close_matches(key, list(by_norm), n=3, cutoff=0.75):
                found += [c for c in by_norm[close] if c not in found]
            for close in difflib.get_close_matches(name, list(available), n=3, cutoff=0.75):
                if close not in found:
                    found.append(close)
        if found:
            out[name] = found[:3]
    return out


def _missing_message(path: Path, missing: list[str], suggestions: dict[str, list[str]], what: str) -> str:
    items = []
    for name in missing:
        alts = suggestions.get(name)
        items.append(f"{name} (did you mean {' or '.join(repr(a) for a in alts)}?)" if alts else name)
    n = len(missing)
    noun = f"{n} {what} column{'s' if n > 1 else ''}"
    return f"{path.name} lacks {noun} the model needs: {', '.join(items)}; rename or add {'them' if n > 1 else 'it'}."


def _check_columns(fmt, features: list[str], what: str = "feature") -> None:
    missing = [c for c in features if c not in fmt.columns]
    if missing:
        raise DataError(_missing_message(fmt.path, missing, suggest_columns(missing, fmt.columns), what))


def _id_columns(fmt, id_columns, features) -> list[str]:
    if id_columns:
        ids = list(id_columns)
        missing = [c for c in ids if c not in fmt.columns]
        if missing:
            sugg = suggest_columns(missing, fmt.columns)
            raise DataError(
                _missing_message(fmt.path, missing, sugg, "identifier").replace(" the model needs", "")
            )
        return ids
    return [c for c in DEFAULT_ID_COLUMNS if c in fmt.columns]


# ---------------------------------------------------------------------------------------------
# Preflight


def preflight(ref_or_metadata, input_path, *, registry=None, id_columns=None) -> PreflightReport:
    """Check ``input_path`` against a model's feature columns before predicting.

    ``ref_or_metadata`` is a reference string (with ``registry=``), a ``ModelMetadata`` or a
    ``(model, metadata)`` pair; no model is loaded. Reads the header and the first megabyte.

    Raises :class:`DataError` when the file cannot be used at all (not a CSV, empty, header
    only, duplicate column names). Missing feature columns do not raise: they are in
    ``report.missing`` (with close matches in ``report.suggestions``) and ``report.error``
    says, in one sentence, why the model cannot run; ``report.ok`` is then False.
    Non-numeric, empty and infinite cells in the sample are counted per column in
    ``report.issues``, with the row numbers of the first few. ``report.drift`` is the drift
    verdict of the first :data:`DRIFT_SAMPLE_ROWS` rows (``DriftReport.to_dict()``, with
    ``"sample"`` True when the file has more), None with ``report.drift_note`` saying why when
    the version has no training profile.
    """
    from core.prediction.csv_input import read_head_table, sniff_csv

    reg = _registry_for(ref_or_metadata, registry)
    meta, model = metadata_of(ref_or_metadata, reg)
    features = features_of(meta, model)
    fmt = sniff_csv(input_path)
    matched = [c for c in features if c in fmt.columns]
    missing = [c for c in features if c not in fmt.columns]
    suggestions = suggest_columns(missing, fmt.columns)
    ids = _id_columns(fmt, id_columns, features)
    table = read_head_table(fmt, sorted(set(matched) | set(ids), key=fmt.columns.index))
    issues = {}
    for col in matched:
        issues[col] = _column_issue(col, table.column(col), 0)
    est, exact = fmt.estimated_rows()
    if exact:
        est = table.num_rows
    error = _missing_message(fmt.path, missing, suggestions, "feature") if missing else None
    if not features:
        error = (
            f"Model {getattr(meta, 'model_id', '?')} records no feature columns; it cannot be run on a file."
        )
    drift, drift_note = _sample_drift(fmt, meta, reg, matched, table)
    return PreflightReport(
        path=str(fmt.path),
        model_id=getattr(meta, "model_id", None),
        columns=list(fmt.columns),
        feature_columns=features,
        matched=matched,
        missing=missing,
        suggestions=suggestions,
        extra=[c for c in fmt.columns if c not in features],
        id_columns=ids,
        issues=issues,
        sample_rows=table.num_rows,
        estimated_rows=int(est),
        rows_exact=exact,
        encoding=fmt.encoding + (" with BOM" if fmt.bom else ""),
        delimiter=fmt.delimiter,
        compression=fmt.compression,
        comment_lines=fmt.comment_lines,
        error=error,
        drift=drift,
        drift_note=drift_note,
    )


# ---------------------------------------------------------------------------------------------
# Drift


def _registry_for(ref, registry):
    """The registry a version's records come from; None when neither a reference string nor a
    registry was given (nothing is opened, or created, on a guess)."""
    if registry is None and not isinstance(ref, str):
        return None
    return open_registry(registry)


def _drift_counter(meta, registry, features):
    """(a DriftCounter over ``features``, None) or (None, why there is no drift check)."""
    from core.prediction.drift import DriftCounter

    reader = getattr(registry, "training_profile", None) if registry is not None else None
    name = getattr(meta, "model_id", None) or "This version"
    if reader is None:
        return None, f"{name}'s training profile cannot be read without its registry: no drift check."
    try:
        profile = reader(meta)
    except RegistryError as exc:
        return None, f"No drift check: {exc}"
    if not profile:
        return None, f"{name} was registered without a training profile: no drift check."
    counter = DriftCounter(profile, features)
    if not counter.features:
        return None, f"None of {name}'s feature columns has a training profile: no drift check."
    return counter, None


def _drift_result(counter) -> tuple[dict | None, str | None]:
    if counter is None:
        return None, None
    report = counter.report()
    return report.to_dict(), "; ".join(report.notes) or None


def _count_drift(counter, columns: dict, rows: int):
    """One batch's drift counts from converted columns (``ColumnValues``)."""
    return counter.count({name: columns[name].values for name in counter.names}, rows)


def _sample_drift(fmt, meta, registry, features, head) -> tuple[dict | None, str | None]:
    """Drift of the first :data:`DRIFT_SAMPLE_ROWS` rows (the head already read, or a short stream)."""
    from core.prediction.csv_input import BatchStream, to_float

    counter, note = _drift_counter(meta, registry, features)
    if counter is None:
        return None, note
    if fmt.head_is_whole_file or head.num_rows >= DRIFT_SAMPLE_ROWS:
        batches = [head.slice(0, DRIFT_SAMPLE_ROWS)]
        stream = contextlib.nullcontext()
    else:
        stream = BatchStream(fmt, counter.names, batch_rows=DRIFT_SAMPLE_ROWS, numeric=counter.names)
        batches = stream
    rows = 0
    with stream:
        for batch in batches:
            batch = batch.slice(0, DRIFT_SAMPLE_ROWS - rows)
            columns = {name: to_float(batch.column(name)) for name in counter.names}
            counter.add(_count_drift(counter, columns, batch.num_rows))
            rows += batch.num_rows
            if rows >= DRIFT_SAMPLE_ROWS:
                break
    drift, notes = _drift_result(counter)
    if drift is not None:
        drift["sample"] = not fmt.head_is_whole_file and rows >= DRIFT_SAMPLE_ROWS
    return drift, notes


def _column_issue(name: str, arr, row_base: int) -> ColumnIssue:
    import numpy as np

    from core.prediction.csv_input import to_float

    if hasattr(arr, "combine_chunks"):
        arr = arr.combine_chunks()
    conv = to_float(arr)
    bad = conv.missing | conv.non_numeric | conv.infinite
    first = (np.flatnonzero(bad)[:_EXAMPLES] + row_base + 1).tolist()
    examples = []
    if conv.non_numeric.any():
        idx = np.flatnonzero(conv.non_numeric)[:_EXAMPLES]
        examples = [str(v) for v in arr.take(idx).to_pylist()]
    return ColumnIssue(
        column=name,
        missing=int(conv.missing.sum()),
        non_numeric=int(conv.non_numeric.sum()),
        infinite=int(conv.infinite.sum()),
        first_rows=first,
        examples=examples,
    )


# ---------------------------------------------------------------------------------------------
# predict_csv


def _output_kind(path: Path) -> tuple[str, str | None]:
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet", None
    if name.endswith(".gz"):
        return "csv", "gzip"
    return "csv", None


def default_output_path(input_path) -> Path:
    """``<input>.predictions.csv`` next to the input (never the input itself)."""
    p = Path(input_path)
    stem = p.name
    for suffix in (".gz", ".csv", ".tsv", ".txt"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    return p.with_name(f"{stem}.predictions.csv")


def _rejects_path_for(output: Path) -> Path:
    stem = output.name
    for suffix in (".gz", ".csv", ".parquet", ".pq", ".tsv", ".txt"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    return output.with_name(f"{stem}.rejects.csv")


_SPECIAL_KINDS = (
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
    (stat.S_ISSOCK, "a socket"),
)


def check_output_path(input_path: Path | None, out: Path, what: str = "output") -> None:
    """Refuse, in one sentence, an output path that is a link, a special file, a folder, the input itself, or in a missing folder."""
    try:
        mode = os.lstat(out).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise DataError(f"The {what} path {out} cannot be checked ({exc.strerror}); choose another.") from exc
    if mode is not None and not stat.S_ISDIR(mode) and not stat.S_ISREG(mode):
        kind = next((name for test, name in _SPECIAL_KINDS if test(mode)), "not a regular file")
        hint = " (use -o - for standard output)" if what == "output" else ""
        raise DataError(f"The {what} path {out} is {kind}, not a regular file; choose a file name{hint}.")
    if input_path is not None and (out.resolve() == input_path.resolve() or same_file(input_path, out)):
        raise DataError(f"The {what} file would overwrite the input {input_path.name}; choose another name.")
    if not out.parent.is_dir():
        raise DataError(
            f"The folder {out.parent} for the {what} file does not exist; create it or choose another."
        )
    if out.is_dir():
        raise DataError(f"The {what} path {out} is a folder; give a file name.")


class _StandardOutput:
    """Standard output for Arrow's writer: written and flushed, never closed."""

    closed = False

    def write(self, data) -> int:
        return sys.stdout.buffer.write(data)

    def flush(self) -> None:
        sys.stdout.buffer.flush()

    def close(self) -> None:
        self.flush()


class _TableWriter:
    """Streams pyarrow tables to CSV (formula-escaped) or Parquet; ``path=None``: standard output."""

    def __init__(self, path: Path, schema, kind: str, compression: str | None, escaped=()):
        import pyarrow as pa

        self.kind = kind
        self.escaped = frozenset(escaped)  # columns whose text was escaped before it got here
        self.schema = schema
        self._sink = None
        if kind == "parquet":
            import pyarrow.parquet as pq

            self._writer = pq.ParquetWriter(str(path), schema)
        else:
            import pyarrow.csv as pacsv

            sink = pa.PythonFile(_StandardOutput(), mode="w") if path is None else pa.OSFile(str(path), "wb")
            self._sink = sink
            if compression:
                sink = pa.CompressedOutputStream(sink, compression)
                self._outer = sink
            try:  # the header is written here: a full disk can stop it
                self._writer = pacsv.CSVWriter(
                    sink, schema, write_options=pacsv.WriteOptions(quoting_style="needed")
                )
            except BaseException:
                self._sink.close()
                raise

    def write(self, table) -> None:
        """Write ``table``; every CSV text cell passes :func:`_escape_table` here, on its way out."""
        if table.num_rows:
            if self.kind == "csv":
                table = _escape_table(table, self.escaped)
            self._writer.write_table(table)

    def close(self) -> None:
        self._writer.close()
        outer = getattr(self, "_outer", None)
        if outer is not None:
            outer.close()
        if self._sink is not None and not self._sink.closed:
            self._sink.close()


def _escape_table(table, escaped=frozenset()):
    import pyarrow as pa

    from core.common.cells import escape_array

    cols = [
        escape_array(c.combine_chunks()) if pa.types.is_string(c.type) and name not in escaped else c
        for name, c in zip(table.column_names, table.columns, strict=True)
    ]
    return pa.Table.from_arrays(cols, schema=table.schema)


class _PredictionJob(Job):
    """:func:`predict_csv`'s part of a pass: builds each batch's output and rejects tables on the
    worker threads and writes them, in file order, to temporary files renamed at the end."""

    def __init__(
        self, ctx: LoadedModel, out: Path, rejects: Path, ids: list[str], kind, compression, drift=None
    ):
        import numpy as np
        import pyarrow as pa

        super().__init__(ctx)
        self.drift = drift  # a DriftCounter, or None when the version has no training profile
        self.out, self.rejects, self.ids = out, rejects, ids
        self.kind, self.compression = kind, compression
        id_fields = [pa.field(c, pa.string()) for c in ids] or [pa.field(ROW_COLUMN, pa.int64())]
        fields = [*id_fields, pa.field(PREDICTED_COLUMN, pa.string())]
        if ctx.has_proba:
            fields += [pa.field(PROBABILITY_PREFIX + lab, pa.float64()) for lab in ctx.labels]
        fields.append(pa.field(MODEL_COLUMN, pa.string()))
        self.schema = pa.schema(fields)
        self.reject_schema = pa.schema(
            [
                pa.field(ROW_COLUMN, pa.int64()),
                pa.field(LINE_COLUMN, pa.int64()),
                *[pa.field(c, pa.string()) for c in ids],
                pa.field(REASON_COLUMN, pa.string()),
            ]
        )
        from core.common.cells import escape_array, escape_cell

        # The label and model id cells are escaped once here, not in every batch.
        csv = kind == "csv"
        labels = pa.array(ctx.labels, pa.string())
        self.label_dict = escape_array(labels) if csv else labels
        self.model_cell = pa.scalar(escape_cell(ctx.model_id) if csv else ctx.model_id, pa.string())
        self.class_counts = np.zeros(len(ctx.labels), dtype=np.int64)
        self.output = AtomicOutput(out) if out is not None else None  # None: standard output
        try:  # the header is written by the writer: a full disk can stop it
            self.writer = _TableWriter(
                self.output.tmp if self.output else None, self.schema, kind, compression,
                escaped=(PREDICTED_COLUMN, MODEL_COLUMN),
            )
        except BaseException:
            if self.output is not None:
                self.output.discard()
            raise
        self.rejects_file = self.reject_writer = None
        self.wrote_rejects = False

    def build(self, batch, res: BatchResult, row_base: int):
        import pyarrow as pa

        ctx, ids = self.ctx, self.ids
        keep = pa.array(res.keep, pa.int64())
        if ids:
            cols = [batch.column(c).take(keep) for c in ids]
        else:
            cols = [pa.array(self.locate(res.keep + row_base)[0] + 1, pa.int64())]
        cols.append(
            pa.DictionaryArray.from_arrays(pa.array(res.pred, pa.int32()), self.label_dict).cast(pa.string())
        )
        if ctx.has_proba:
            cols += [pa.array(res.proba[:, j]) for j in range(res.proba.shape[1])]
        cols.append(pa.repeat(self.model_cell, len(res.keep)))
        table = pa.Table.from_arrays(cols, schema=self.schema)
        rejected = None
        if res.rejects:
            import numpy as np

            positions = np.array([i for i, _ in res.rejects], dtype=np.int64)
            records, lines = self.locate(positions + row_base)
            rcols = [pa.array(records + 1, pa.int64()), pa.array(lines, pa.int64())]
            rcols += [batch.column(c).take(pa.array(positions)) for c in ids]
            rcols.append(pa.array([reason for _, reason in res.rejects], pa.string()))
            rejected = pa.Table.from_arrays(rcols, schema=self.reject_schema)
        counted = _count_drift(self.drift, res.converted, res.rows) if self.drift is not None else None
        return table, rejected, counted

    def consume(self, res: BatchResult) -> None:
        import numpy as np

        table, rejected, counted = res.extra
        if counted is not None:
            self.drift.add(counted)
        self.writer.write(table)
        if len(res.pred):
            self.class_counts += np.bincount(res.pred, minlength=len(self.class_counts))[
                : len(self.class_counts)
            ]
        if rejected is not None:
            self.write_rejects(rejected)

    def write_rejects(self, table) -> None:
        if self.reject_writer is None:
            self.rejects_file = AtomicOutput(self.rejects)
            self.reject_writer = _TableWriter(self.rejects_file.tmp, self.reject_schema, "csv", None)
        self.reject_writer.write(table)

    def commit(self) -> None:
        self.writer.close()
        self.writer = None
        if self.reject_writer is not None:
            self.reject_writer.close()
            self.reject_writer = None
        if self.output is not None:
            self.output.commit()
        self.output = None
        if self.rejects_file is not None:
            self.rejects_file.commit()
            self.rejects_file = None
            self.wrote_rejects = True
        elif self.rejects.is_file():
            # A rejects file left by an earlier run into the same output would be taken for this one's.
            self.rejects.unlink()

    def abort(self) -> None:
        """Close and delete whatever this run has written so far."""
        for writer in (self.writer, self.reject_writer):
            if writer is not None:
                with contextlib.suppress(Exception):  # the original error matters more
                    writer.close()
        for f in (self.output, self.rejects_file):
            if f is not None:
                f.discard()
        self.output = self.writer = self.rejects_file = self.reject_writer = None


def predict_csv(
    ref,
    input_path,
    output_path,
    *,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
    id_columns: Sequence[str] | None = None,
    registry=None,
    rejects_path=None,
    in_subprocess: bool = False,
    workers: int | None = None,
    batch_rows: int | None = None,
) -> PredictionSummary:
    """Predict every row of ``input_path`` with a model and write the results to ``output_path``.

    ``ref``: a registry reference (``NAME``, ``NAME:VERSION``, ``NAME@ALIAS``, ``best``, an id)
    with ``registry=`` (a ``ModelRegistry`` or its folder; default ``$EXOREG_REGISTRY`` or
    ``models/registry``), a ``ModelMetadata`` (loaded from ``registry`` by id), or a
    ``(model, metadata)`` pair.

    The output (CSV; Parquet when the name ends in ``.parquet``; gzip-compressed CSV for
    ``.gz``; standard output, as CSV, when ``output_path`` is ``"-"``) has the identifier columns found (``kepoi_name``, ``kepid``, or ``id_columns``; a
    1-based ``row`` number when there are none), ``predicted_label``, one
    ``probability_<label>`` column per class and ``model_id``. CSV text cells that a
    spreadsheet would run as a formula are prefixed with ``'``.

    Rows with an empty feature cell are predicted when the model's pipeline imputes missing
    values and rejected otherwise; rows with text or infinity in a feature column, and
    malformed lines (a line with an unmatched quote among them: a value never spans lines), are
    rejected. Rejected rows go to ``rejects_path`` (default ``<output stem>.rejects.csv``, or
    ``<input stem>.rejects.csv`` for standard output) with their row and line numbers and the
    reason; none is dropped silently: read = predicted + rejected.

    Output and rejects are written under temporary names (with the mode the umask gives) and
    renamed at the end: a failed or cancelled run leaves neither behind, and the input is never
    overwritten. An output path that exists and is not a regular file (a link, a named pipe, a
    device) is refused. Raises
    :class:`PredictionCancelled` when ``cancelled()`` returns True, :class:`DataError` for a
    file the model cannot run on. ``workers`` prediction threads (default: one per core) each
    run the model with ``n_jobs=1``. See the module docstring for running it beside a GUI.

    ``summary.drift`` is the drift verdict over every row read (:mod:`core.prediction.drift`),
    counted batch by batch on the prediction threads; None, with ``summary.drift_note``, when
    the version has no training profile (or no registry to read it from). A drifted file is
    predicted all the same.
    """
    if in_subprocess:
        return _run_in_child(
            "predict_csv",
            (ref, str(input_path), str(output_path)),
            dict(
                id_columns=id_columns,
                registry=registry_root(registry),
                rejects_path=rejects_path,
                workers=workers,
                batch_rows=batch_rows,
            ),
            progress,
            cancelled,
        )
    from core.prediction.csv_input import sniff_csv

    started = time.monotonic()
    input_path = Path(input_path)
    to_stdout = str(output_path) == STDOUT
    out = None if to_stdout else Path(output_path)
    default_rejects = _rejects_path_for(input_path if to_stdout else out)
    rejects_target = Path(rejects_path) if rejects_path else default_rejects
    if out is not None:
        check_output_path(input_path, out)
    check_output_path(input_path, rejects_target, "rejects")
    if out is not None and rejects_target.resolve() == out.resolve():
        raise DataError("The rejects file and the output file are the same; choose different names.")
    fmt = sniff_csv(input_path)
    reg = _registry_for(ref, registry)
    meta, model = metadata_of(ref, reg)
    features = features_of(meta, model)
    _check_columns(fmt, features)  # before loading: a file that cannot work costs no model load
    ids = _id_columns(fmt, id_columns, features)
    kind, compression = _output_kind(out) if out is not None else ("csv", None)
    load_seconds = []
    drift_notes = []

    def load_job() -> list[Job]:
        t0 = time.monotonic()
        ctx = load(meta, model, reg if reg is not None else registry)
        load_seconds.append(time.monotonic() - t0)
        _check_columns(fmt, ctx.features)
        counter, note = _drift_counter(meta, reg, ctx.features)
        drift_notes.append(note)
        return [_PredictionJob(ctx, out, rejects_target, ids, kind, compression, counter)]

    done = run_pass(
        fmt,
        _read_columns(fmt, features, ids),
        load_job,
        progress=progress,
        cancelled=cancelled,
        workers=workers,
        batch_rows=batch_rows,
        numeric=[c for c in features if c not in ids],
    )
    job = done.jobs[0]
    try:
        if done.invalid:
            import pyarrow as pa

            n = len(done.invalid)
            cols = [
                pa.array([record + 1 for record, _, _ in done.invalid], pa.int64()),
                pa.array([line for _, line, _ in done.invalid], pa.int64()),
                *[pa.nulls(n, pa.string()) for _ in ids],
                pa.array([reason for _, _, reason in done.invalid], pa.string()),
            ]
            job.write_rejects(pa.Table.from_arrays(cols, schema=job.reject_schema))
        if done.rows_read == 0:
            raise DataError(f"{input_path.name} has a header but no data rows; add at least one row.")
        job.commit()
    except BaseException:
        job.abort()
        raise
    totals, ctx = job.totals, job.ctx
    drift, notes = _drift_result(job.drift)
    return PredictionSummary(
        input_path=str(input_path),
        output_path=STDOUT if out is None else str(out),
        rejects_path=str(rejects_target) if job.wrote_rejects else None,
        model_id=ctx.model_id,
        rows_read=totals.rows_read,
        rows_predicted=totals.rows_predicted,
        rows_rejected=totals.rows_rejected,
        rows_imputed=totals.rows_imputed,
        class_counts={lab: int(n) for lab, n in zip(ctx.labels, job.class_counts, strict=True)},
        issues=totals.issue_dict(),
        elapsed_seconds=time.monotonic() - started,
        output_format=kind + (f"+{compression}" if compression else ""),
        load_seconds=load_seconds[0] if load_seconds else 0.0,
        drift=drift,
        drift_note=notes or (drift_notes[0] if drift_notes else None),
    )


def _read_columns(fmt, *groups) -> list[str]:
    wanted = set()
    for g in groups:
        wanted.update(g)
    return [c for c in fmt.columns if c in wanted]


# ---------------------------------------------------------------------------------------------
# Scoring on labelled files


DEFAULT_KEEP_ROWS = 200_000  # labelled rows kept row by row for the statistics
ROW_ID_COLUMN = "kepoi_name"  # the identifier matched against a version's recorded training rows


class _ScoreJob(Job):
    """:func:`evaluate_versions`' part of a pass for one model: a confusion matrix, the true labels
    the model does not know and, for the first ``keep_rows`` labelled rows, each row's labels,
    probabilities and whether the model was trained or validated on it.

    With ``exclude`` (and ``training_rows`` recorded) the confusion matrix counts only the rows
    the model was neither trained nor validated on; the rows it was are counted in ``excluded``.
    """

    def __init__(self, ctx: LoadedModel, label_column: str, *, training_rows=None, exclude: bool = False,
                 keep_rows: int = DEFAULT_KEEP_ROWS):
        import numpy as np
        import pyarrow as pa

        super().__init__(ctx)
        self.label_column = label_column
        self.value_set = pa.array(ctx.labels, pa.string())
        self.confusion = np.zeros((len(ctx.labels), len(ctx.labels)), dtype=np.int64)
        self.unscored: dict[str, int] = {}
        self.training_rows = training_rows
        self.exclude = bool(exclude and training_rows is not None)
        self.keep_rows = max(0, int(keep_rows))
        self.labelled = 0  # rows predicted whose true label the model knows
        self.excluded = 0
        self.trained_seen = 0  # of those, rows the model was trained or validated on
        self.kept: list[tuple] = []  # (record, truth, pred, proba, trained) per batch
        self.kept_rows = 0

    def _trained(self, batch, rows):
        """True where the model was trained or validated on the batch's ``rows`` (None: unknown)."""
        if self.training_rows is None:
            return None
        import numpy as np
        import pandas as pd
        import pyarrow as pa

        from core.prediction.csv_input import to_float

        take = pa.array(rows, pa.int64())
        columns = {}
        if ROW_ID_COLUMN in batch.schema.names:
            columns[ROW_ID_COLUMN] = batch.column(ROW_ID_COLUMN).take(take).to_numpy(zero_copy_only=False)
        for name in self.ctx.features:
            columns[name] = to_float(batch.column(name).take(take)).values
        frame = pd.DataFrame(columns, copy=False)
        return ~np.asarray(self.training_rows.held_out_mask(frame), dtype=bool)

    def build(self, batch, res: BatchResult, row_base: int):
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        k = len(self.ctx.labels)
        truth = pc.utf8_trim_whitespace(batch.column(self.label_column).take(pa.array(res.keep, pa.int64())))
        idx = pc.index_in(truth, value_set=self.value_set)
        known = pc.is_valid(idx).to_numpy(zero_copy_only=False)
        t = idx.to_numpy(zero_copy_only=False)[known].astype(np.int64)
        p = np.asarray(res.pred)[known].astype(np.int64)
        rows = np.asarray(res.keep)[known]
        trained = self._trained(batch, rows)
        counted = ~trained if self.exclude else np.ones(len(t), dtype=bool)
        cm = np.bincount(t[counted] * k + p[counted], minlength=k * k).reshape(k, k)
        proba = None if res.proba is None else np.asarray(res.proba)[known]
        record = self.locate(rows + row_base)[0] if len(rows) else np.empty(0, dtype=np.int64)
        others = {}
        if not known.all():
            rest = truth.filter(pa.array(~known)).fill_null("(empty)")
            for item in pc.value_counts(rest).to_pylist():
                others[item["values"] or "(empty)"] = item["counts"]
        return cm, others, (record, t, p, proba, trained)

    def consume(self, res: BatchResult) -> None:
        cm, others, kept = res.extra
        self.confusion += cm
        for lab, n in others.items():
            self.unscored[lab] = self.unscored.get(lab, 0) + n
        n = len(kept[0])
        self.labelled += n
        if kept[4] is not None:
            trained = int(kept[4].sum())
            self.trained_seen += trained
            if self.exclude:
                self.excluded += trained
        room = self.keep_rows - self.kept_rows
        if room > 0 and n:
            self.kept.append(tuple(None if a is None else a[:room] for a in kept))
            self.kept_rows += min(room, n)

    def scored_rows(self):
        import numpy as np

        def joined(i, dtype, shape=()):
            parts = [part[i] for part in self.kept]
            if parts and parts[0] is None:
                return None
            return np.concatenate(parts) if parts else np.empty((0, *shape), dtype=dtype)

        proba_width = (len(self.ctx.labels),)
        return ScoredRows(
            labels=list(self.ctx.labels),
            record=joined(0, np.int64),
            truth=joined(1, np.int64),
            pred=joined(2, np.int64),
            proba=joined(3, np.float64, proba_width) if self.ctx.has_proba else None,
            trained=joined(4, bool) if self.training_rows is not None else None,
            total=self.labelled,
        )

    def result(self, input_path: Path, elapsed: float) -> EvaluationResult:
        metrics, per_class = metrics_from_confusion(self.confusion, self.ctx.labels)
        meta = self.ctx.metadata
        registered = {
            name: float(getattr(meta, name))
            for name in ("accuracy", "precision", "recall", "f1_score")
            if isinstance(getattr(meta, name, None), int | float)
        }
        rows = self.scored_rows()
        result = EvaluationResult(
            input_path=str(input_path),
            model_id=self.ctx.model_id,
            model_name=str(getattr(meta, "model_name", "")),
            version=getattr(meta, "version", None),
            label_column=self.label_column,
            rows_read=self.totals.rows_read,
            rows_scored=int(self.confusion.sum()),
            rows_rejected=self.totals.rows_rejected,
            unscored=dict(self.unscored),
            metrics=metrics,
            per_class=per_class,
            confusion_matrix={"labels": list(self.ctx.labels), "matrix": self.confusion.tolist()},
            registered_metrics=registered,
            elapsed_seconds=elapsed,
            rows_excluded=self.excluded,
            overlap_checked=self.training_rows is not None,
            rows=rows,
        )
        result.notes = self.notes(result)
        return result

    def notes(self, result: EvaluationResult) -> list[str]:
        name = version_label(result)
        notes = []
        if self.training_rows is None:
            notes.append(f"{name} has no record of its training rows: scored on all rows, overlap could not be checked")
        elif self.exclude:
            notes.append(
                f"{name}: {self.labelled:,} labelled rows, {self.excluded:,} excluded as training or validation rows, "
                f"{result.rows_scored:,} scored"
            )
        else:
            notes.append(
                f"{name}: {self.labelled:,} labelled rows scored, training rows included "
                f"({self.trained_seen:,} of them are its training or validation rows)"
            )
        rows = result.rows
        if rows is not None and rows.truncated:
            notes.append(f"{name}: statistics use the first {rows.kept:,} rows of {rows.total:,}")
        return notes


def version_label(result) -> str:
    """``RandomForest v1`` for a result (or metadata) with a name and version, else its model id."""
    name = getattr(result, "model_name", "") or ""
    version = getattr(result, "version", None)
    if name and version is not None:
        return f"{name} v{version}"
    return str(getattr(result, "model_id", "") or name or "?")


def evaluate_csv(
    ref,
    input_path,
    label_column: str = DEFAULT_LABEL_COLUMN,
    *,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
    registry=None,
    in_subprocess: bool = False,
    workers: int | None = None,
    batch_rows: int | None = None,
    exclude_training_rows: bool = False,
    keep_rows: int = DEFAULT_KEEP_ROWS,
) -> EvaluationResult:
    """Score a model on a labelled file with the same streaming path as :func:`predict_csv`.

    Every model scored on the same file is scored on the same rows, which is how versions
    registered with different splits and feature sets compare fairly. Rows whose true label
    the model does not know (e.g. ``CANDIDATE`` for a CONFIRMED / FALSE POSITIVE model) or is
    empty are not scored; they are counted in ``unscored``. ``metrics`` has ``accuracy``,
    ``precision``, ``recall`` and ``f1_score`` (macro averages, each class counting the same),
    the same with ``_macro`` and ``_weighted`` suffixes; ``per_class`` and
    ``confusion_matrix`` (rows = true label, columns = predicted) complete it. To score several
    versions, :func:`evaluate_versions` reads the file once for all of them (and says what
    ``exclude_training_rows`` and ``keep_rows`` do).
    """
    if in_subprocess:
        return _run_in_child(
            "evaluate_csv",
            (ref, str(input_path), label_column),
            dict(registry=registry_root(registry), workers=workers, batch_rows=batch_rows,
                 exclude_training_rows=exclude_training_rows, keep_rows=keep_rows),
            progress,
            cancelled,
        )
    return evaluate_versions(
        [ref], input_path, label_column, progress=progress, cancelled=cancelled, registry=registry,
        workers=workers, batch_rows=batch_rows, exclude_training_rows=exclude_training_rows, keep_rows=keep_rows,
    )[0]  # fmt: skip


def recorded_training_rows(meta, registry):
    """The rows ``meta``'s version was trained and validated on, as its registry recorded them, or None.

    None when there is no registry to ask (a ``(model, metadata)`` pair given without one) or it holds
    no record for the version (registered before rows were recorded, or imported from elsewhere).
    """
    if registry is None:
        return None
    lookup = getattr(open_registry(registry), "training_rows", None)
    return lookup(meta) if lookup is not None else None


def evaluate_versions(
    refs: Sequence,
    input_path,
    label_column: str = DEFAULT_LABEL_COLUMN,
    *,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
    registry=None,
    in_subprocess: bool = False,
    workers: int | None = None,
    batch_rows: int | None = None,
    exclude_training_rows: bool = False,
    keep_rows: int = DEFAULT_KEEP_ROWS,
    training_rows: Sequence | None = None,
) -> list[EvaluationResult]:
    """Score several models on one labelled file in one streaming pass (see :func:`evaluate_csv`).

    ``refs`` are references as for :func:`evaluate_csv`; the results come back in the same
    order. The file is read and its cells converted once; each batch is predicted by every
    model in turn, on the same worker thread.

    With ``exclude_training_rows`` each version's metrics count only the rows of the file it
    was neither trained nor validated on (matched by ``kepoi_name`` when the file has it, else
    by the row's feature values), ``rows_excluded`` says how many were left out and ``notes``
    says so in a sentence. The rows come from the registry's record of each version
    (``registry.training_rows``), or from ``training_rows`` (one
    :class:`~core.registry.records.TrainingRows` or None per ref). A version without a record
    is scored on every row, ``overlap_checked`` is False and a note warns that overlap could not
    be checked. The default (all rows) is kept for compatibility; the command line and the
    desktop app exclude.

    Each result's ``rows`` holds, for the first ``keep_rows`` labelled rows, the row's number,
    true and predicted label, probabilities and whether the version trained on it: the input of
    :mod:`core.prediction.scoring`'s paired statistics. Streaming metrics always cover every row.
    """
    if in_subprocess:
        return _run_in_child(
            "evaluate_versions",
            (list(refs), str(input_path), label_column),
            dict(registry=registry_root(registry), workers=workers, batch_rows=batch_rows,
                 exclude_training_rows=exclude_training_rows, keep_rows=keep_rows, training_rows=training_rows),
            progress,
            cancelled,
        )
    from core.prediction.csv_input import sniff_csv

    if not refs:
        return []
    if training_rows is not None and len(training_rows) != len(refs):
        raise ValueError("training_rows must have one entry (or None) per ref")
    started = time.monotonic()
    input_path = Path(input_path)
    fmt = sniff_csv(input_path)
    _check_columns(fmt, [label_column], "label")
    resolved = [metadata_of(ref, registry) for ref in refs]
    features = []
    for meta, model in resolved:
        needed = features_of(meta, model)
        _check_columns(fmt, needed)
        features += needed
    given = list(training_rows) if training_rows is not None else [None] * len(refs)
    records = [
        rows if rows is not None else recorded_training_rows(meta, registry)
        for rows, (meta, _) in zip(given, resolved, strict=True)
    ]
    ids = [ROW_ID_COLUMN] if ROW_ID_COLUMN in fmt.columns and any(r is not None for r in records) else []

    def load_jobs() -> list[Job]:
        jobs = []
        for (meta, model), rows in zip(resolved, records, strict=True):
            ctx = load(meta, model, registry)
            _check_columns(fmt, ctx.features)
            jobs.append(_ScoreJob(ctx, label_column, training_rows=rows, exclude=exclude_training_rows,
                                  keep_rows=keep_rows))
        return jobs

    done = run_pass(
        fmt,
        _read_columns(fmt, features, [label_column], ids),
        load_jobs,
        progress=progress,
        cancelled=cancelled,
        workers=workers,
        batch_rows=batch_rows,
        numeric=[c for c in features if c != label_column and c not in ids],
    )
    if done.rows_read == 0:
        raise DataError(f"{input_path.name} has a header but no data rows; add at least one row.")
    elapsed = time.monotonic() - started
    return [job.result(input_path, elapsed) for job in done.jobs]


# ---------------------------------------------------------------------------------------------
# Child-process runs


def _run_in_child(name: str, args: tuple, kwargs: dict, progress, cancelled):
    """Run ``name(*args, **kwargs)`` of this module in a spawned process; relay progress and cancel."""
    from core.prediction.runner import run_in_child

    return run_in_child(
        f"core.prediction.engine:{name}", *args, progress=progress, cancelled=cancelled, **kwargs
    )
