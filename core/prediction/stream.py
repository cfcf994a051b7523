"""The streaming core of batch prediction: one pass over a CSV file feeds one or more models.

How it runs
-----------
- The calling thread cuts the file into batches of whole lines whose first records are
  multiples of :data:`ALIGN_ROWS` and parses each read of the file as it comes, in pyarrow
  calls (GIL released), the feature columns straight to float64; a piece with a cell that is
  not a number is parsed again, from the same text, as text, so that cell is found and named
  (the file is never read twice). Nothing is read ahead beyond what the pass holds.
- The models load on a background thread meanwhile (importing scikit-learn, hash check, type
  audit; the cyclic garbage collector paused, as it would only walk the new objects again and
  again); the calling thread parses up to :data:`READ_AHEAD_ROWS` rows ahead until they are
  ready, so the load and the first parsing overlap.
- A pool of one thread per core checks each batch's feature cells, predicts it with every
  model and builds the output tables; the calling thread hands the results to each job's
  ``consume`` in file order (writing is done there).
- The engine decides the threads: the models run with ``n_jobs=1`` and single-threaded
  BLAS/OpenMP inside each worker, so every core is busy with the model, nothing is
  oversubscribed, and a forest sums its trees in one fixed order: the output is the same,
  bit for bit, from run to run and equal to an in-memory ``predict_proba`` with ``n_jobs=1``.
  A plain forest's trees are summed by :mod:`core.prediction.forests` in that same order.
- At most ``workers + 1`` batches (plus the read-ahead while loading) are in memory, so
  memory stays flat whatever the size of the file. The last batches of a long file are a
  quarter of the others, so that the pass does not end with one core working alone.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.common.gcpause import gc_paused
from core.common.memory import release_free_memory
from core.errors import DataError, RegistryError
from core.prediction.csv_input import READ_BLOCK_BYTES  # noqa: F401 - importable from here too
from core.prediction.forests import proba_function

# Rows per prediction batch (a multiple of ALIGN_ROWS): a forest's trees cost about the same per
# row from here up, and each worker holds a few copies of its batch.
DEFAULT_BATCH_ROWS = 37_440
ALIGN_ROWS = 192  # a multiple of every BLAS kernel's row unrolling (4, 8, 16, 24, 32, 64)
READ_AHEAD_ROWS = 150_000  # rows parsed ahead while the models load (~25 MB of KOI rows)

Progress = Callable[[int, int], None]
Cancelled = Callable[[], bool]


class PredictionCancelled(RegistryError):
    """The caller's ``cancelled()`` returned True; nothing was written."""


# ---------------------------------------------------------------------------------------------
# Models


@dataclass
class LoadedModel:
    """A model ready to predict, with what the engine needs to know about it."""

    model: Any
    metadata: Any
    model_id: str
    features: list[str]
    labels: list[str]  # display labels, in predict_proba column order
    frame_input: bool  # the model was fitted on a DataFrame: give it one
    predict_proba: Callable[[Any], Any] | None  # the model's own, a forest's tree by tree, or None
    nan_ok: bool | None = None  # learned on the first rows with an empty cell

    @property
    def has_proba(self) -> bool:
        return self.predict_proba is not None


def open_registry(registry):
    if registry is None or isinstance(registry, str | os.PathLike):
        from core.registry.registry import ModelRegistry

        root = registry or os.environ.get("EXOREG_REGISTRY") or "models/registry"
        return ModelRegistry(root)
    return registry


def registry_root(registry):
    """Something a child process can reopen the registry from (``ModelRegistry(uri)``)."""
    if registry is None or isinstance(registry, str | os.PathLike):
        return registry
    return registry.uri


def metadata_of(ref, registry):
    """(metadata, model or None) without loading a model when a reference is given."""
    if isinstance(ref, tuple | list) and len(ref) == 2:
        return ref[1], ref[0]
    if isinstance(ref, str):
        return open_registry(registry).resolve(ref), None
    if hasattr(ref, "feature_columns"):
        return ref, None
    raise TypeError(
        "ref must be a registry reference string, a ModelMetadata or a (model, metadata) pair, "
        f"not {type(ref).__name__}"
    )


def features_of(meta, model=None) -> list[str]:
    """The columns a model reads: its ``feature_names_in_`` when it has them, else the metadata's."""
    names = getattr(model, "feature_names_in_", None) if model is not None else None
    if names is not None:
        return [str(c) for c in names]
    return list(getattr(meta, "feature_columns", []) or [])


def load(meta, model, registry) -> LoadedModel:
    """Load ``meta``'s model through the registry's safe path unless ``model`` is given."""
    if model is None:
        model, meta = open_registry(registry).load_model(model_id=meta.model_id)
    features = features_of(meta, model)
    if not features:
        raise DataError(
            f"Model {getattr(meta, 'model_id', '?')} records no feature columns; register it with feature_columns."
        )
    classes = list(getattr(model, "classes_", []))
    meta_classes = list(getattr(meta, "classes", []) or [])
    shown = meta_classes if len(meta_classes) == len(classes) and meta_classes else classes
    return LoadedModel(
        model=model,
        metadata=meta,
        model_id=str(getattr(meta, "model_id", "") or ""),
        features=features,
        labels=[str(c) for c in shown],
        frame_input=getattr(model, "feature_names_in_", None) is not None,
        predict_proba=(proba_function(model) or model.predict_proba) if hasattr(model, "predict_proba") else None,
    )


@contextlib.contextmanager
def single_threaded(model) -> Iterator[None]:
    """Set ``n_jobs=1`` on every estimator inside ``model`` (pipelines, ensembles, calibrated
    wrappers, fitted members) for the duration, then put the previous values back."""
    from core.registry.safety import iter_objects

    changed = []
    for obj in iter_objects(model):
        if hasattr(obj, "get_params") and getattr(obj, "n_jobs", 1) != 1:
            changed.append((obj, obj.n_jobs))
            obj.n_jobs = 1
    try:
        yield
    finally:
        for obj, value in changed:
            obj.n_jobs = value


def worker_count(workers: int | None) -> int:
    """Prediction threads: ``workers`` when given, else one per core this process may use."""
    if workers:
        return max(1, int(workers))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


# ---------------------------------------------------------------------------------------------
# One batch


@dataclass
class BatchResult:
    rows: int
    keep: Any  # numpy indices (into the batch) of predicted rows
    proba: Any  # (len(keep), n_classes) float64, or None when the model has no predict_proba
    pred: Any  # class indices of predicted rows
    rejects: list[tuple[int, str]]  # (index in batch, reason)
    counts: dict[str, list[int]]  # column -> [missing, non_numeric, infinite]
    imputed: int
    extra: Any = None  # what the job's ``build`` returned
    converted: Any = None  # column -> ColumnValues of the batch (shared by the jobs; for ``build``)


def predict_batch(ctx: LoadedModel, batch, converted: dict) -> BatchResult:
    """Predict one batch with one model; ``converted`` maps column -> ColumnValues (shared)."""
    import numpy as np

    n = batch.num_rows
    features = ctx.features
    # Row-major, what the model sees: when every row can be predicted (the common case) X goes
    # to the model as it is, else the rows to predict are taken with X[ok], a row-major copy.
    X = np.empty((n, len(features)), dtype=np.float64)
    row_missing = np.zeros(n, dtype=bool)
    unusable = np.zeros(n, dtype=bool)  # a cell that is not a number, or infinite
    counts = {}
    for j, name in enumerate(features):
        conv = converted[name]
        X[:, j] = conv.values
        row_missing |= conv.missing
        unusable |= conv.non_numeric
        unusable |= conv.infinite
        counts[name] = conv.counts
    ok = ~unusable
    if ctx.nan_ok is False:
        ok &= ~row_missing
    proba, pred, ok = _predict_rows(ctx, X, ok, row_missing)
    return BatchResult(
        rows=n,
        keep=np.flatnonzero(ok),
        proba=proba,
        pred=pred,
        rejects=_reasons(ctx, batch, converted, np.flatnonzero(~ok)),
        counts=counts,
        imputed=int((ok & row_missing).sum()),
    )


def _reasons(ctx: LoadedModel, batch, converted: dict, rows) -> list[tuple[int, str]]:
    """(index in batch, why) for the rows of ``rows`` that cannot be predicted."""
    import numpy as np

    if not len(rows):
        return []
    features = ctx.features

    def cells(kind: str):  # (len(rows), features) of one kind of problem, for those rows only
        return np.column_stack([getattr(converted[name], kind)[rows] for name in features])

    text, infinite, missing = cells("non_numeric"), cells("infinite"), cells("missing")
    rejects = []
    for r, i in enumerate(rows):
        reasons = [
            f"{features[j]} is not a number ({batch.column(features[j])[int(i)].as_py()!r})"
            for j in np.flatnonzero(text[r])
        ]
        reasons += [f"{features[j]} is infinite" for j in np.flatnonzero(infinite[r])]
        if not reasons:
            empty = ", ".join(features[j] for j in np.flatnonzero(missing[r]))
            reasons.append(f"empty {empty} and the model cannot impute missing values")
        rejects.append((int(i), "; ".join(reasons)))
    return rejects


def _predict_rows(ctx: LoadedModel, X, ok, row_missing):
    """Predict the rows in ``ok``; learn on the first empty cell whether the model imputes."""
    import numpy as np

    if ctx.nan_ok is None and (ok & row_missing).any():
        try:
            proba, pred = _call_model(ctx, X if ok.all() else X[ok])
            ctx.nan_ok = True
            return proba, pred, ok
        except ValueError as exc:
            if "nan" not in str(exc).lower():
                raise _model_failed(ctx, exc) from exc
            ctx.nan_ok = False
    if ctx.nan_ok is False:
        ok = ok & ~row_missing
    if not ok.any():
        width = len(ctx.labels)
        return (np.empty((0, width)) if ctx.has_proba else None), np.empty(0, dtype=np.intp), ok
    try:
        proba, pred = _call_model(ctx, X if ok.all() else X[ok])
    except ValueError as exc:
        raise _model_failed(ctx, exc) from exc
    return proba, pred, ok


def _model_failed(ctx: LoadedModel, exc: Exception) -> RegistryError:
    first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
    return DataError(f"Model {ctx.model_id} could not predict on this file ({first.rstrip('.')}).")


def _call_model(ctx: LoadedModel, X):
    import numpy as np

    if ctx.frame_input:
        import pandas as pd

        X = pd.DataFrame(X, columns=ctx.features, copy=False)
    if ctx.has_proba:
        proba = np.asarray(ctx.predict_proba(X), dtype=np.float64)
        return proba, proba.argmax(axis=1)
    labels = np.asarray(ctx.model.predict(X))
    classes = np.asarray(getattr(ctx.model, "classes_", []))
    return None, np.searchsorted(classes, labels) if classes.size else np.zeros(len(labels), dtype=np.intp)


# ---------------------------------------------------------------------------------------------
# Jobs and the pass over the file


@dataclass
class Totals:
    rows_read: int = 0
    rows_predicted: int = 0
    rows_rejected: int = 0
    rows_imputed: int = 0
    issues: dict = field(default_factory=dict)  # column -> [missing, non_numeric, infinite]

    def add(self, res: BatchResult) -> None:
        self.rows_read += res.rows
        self.rows_predicted += len(res.keep)
        self.rows_rejected += len(res.rejects)
        self.rows_imputed += res.imputed
        for col, c in res.counts.items():
            t = self.issues.setdefault(col, [0, 0, 0])
            t[0] += c[0]
            t[1] += c[1]
            t[2] += c[2]

    def issue_dict(self) -> dict[str, dict[str, int]]:
        return {
            col: {"missing": m, "non_numeric": t, "infinite": i}
            for col, (m, t, i) in self.issues.items()
            if m or t or i
        }


class Job:
    """One model's part of a pass: ``build`` runs on a worker thread for each batch, ``consume``
    on the calling thread in file order; ``abort`` undoes whatever was written."""

    def __init__(self, ctx: LoadedModel):
        self.ctx = ctx
        self.totals = Totals(issues={c: [0, 0, 0] for c in ctx.features})
        self.locate = None  # set by the pass: row positions -> (record indices, line numbers)

    def build(self, batch, res: BatchResult, row_base: int) -> Any:
        return None

    def consume(self, res: BatchResult) -> None:
        pass

    def abort(self) -> None:
        pass


@dataclass
class Pass:
    """What one pass over a file gave: the jobs (with their totals) and the lines Arrow refused."""

    jobs: list[Job]
    rows_read: int  # records of the file: every one predicted or rejected by each job
    invalid: list[tuple[int, int, str]]  # (record index, line number, reason) of lines Arrow refused


class _ColumnsChanged(Exception):
    """A loaded model reads columns its metadata did not name: read the file again with them."""


def _predict_jobs(jobs: Sequence[Job], batch, row_base: int) -> list[BatchResult]:
    """Runs on a worker thread: convert the batch's feature cells once, predict with every model."""
    from core.prediction.csv_input import to_float

    converted: dict = {}
    results = []
    for job in jobs:
        for name in job.ctx.features:
            if name not in converted:
                converted[name] = to_float(batch.column(name))
        res = predict_batch(job.ctx, batch, converted)
        res.converted = converted
        res.extra = job.build(batch, res, row_base)
        results.append(res)
    for res in results:
        res.converted = None  # built: the results wait for their turn to be written without them
    return results


def run_pass(
    fmt,
    columns: list[str],
    load_jobs: Callable[[], list[Job]],
    *,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
    workers: int | None = None,
    batch_rows: int | None = None,
    numeric: Sequence[str] = (),
) -> Pass:
    """Stream ``fmt`` once, feeding every job that ``load_jobs()`` returns.

    ``load_jobs`` runs on a background thread (it loads the models) while the file is read
    ahead; ``columns`` are those the metadata says the jobs need, ``numeric`` those of them
    that only feed models (parsed as numbers). Jobs' ``abort`` is called on error or cancel.
    """
    from concurrent.futures import ThreadPoolExecutor

    def load_paused() -> list[Job]:
        with gc_paused():
            jobs = load_jobs()
        release_free_memory()  # the file's bytes and decoded copies, freed now the model is built
        return jobs

    loader = ThreadPoolExecutor(1, thread_name_prefix="exoreg-load")
    loading = loader.submit(load_paused)
    loader.shutdown(wait=False)
    args = (loading, progress, cancelled, worker_count(workers), batch_rows, numeric)
    try:
        return _run(fmt, columns, *args)
    except _ColumnsChanged as changed:
        return _run(fmt, changed.args[0], *args)


def _batch_rows(fmt, workers: int, batch_rows: int | None) -> int:
    """Rows per batch, a multiple of :data:`ALIGN_ROWS`: the default, fewer for a small file so
    that every worker gets some, and fewer for rows so wide that a batch would be too long."""
    from core.prediction.csv_input import rows_within

    if batch_rows:
        rows = batch_rows
    else:
        estimate = max(1, fmt.estimated_rows()[0])
        share = -(-estimate // (2 * workers))  # two batches per worker
        rows = min(DEFAULT_BATCH_ROWS, -(-share // ALIGN_ROWS) * ALIGN_ROWS)
    # BLAS kernels treat the last few rows of a matrix with different code (and rounding) than
    # the rest: batches that start at multiples of ALIGN_ROWS keep each row where it is when
    # the whole file is predicted at once, so an MLP's probabilities match to the last bit.
    rows = rows_within(fmt, rows)
    return max(ALIGN_ROWS, rows - rows % ALIGN_ROWS)


def _tail(fmt, workers: int, rows: int) -> tuple[int, int] | None:
    """(first record, rows) of the pass's last batches, a quarter of ``rows`` each: a pass that
    ends on whole batches keeps one worker busy with the last while the others wait. Placed from
    the file's estimated length (a wrong estimate only moves where they start); None for a file
    of a few batches, which :func:`_batch_rows` splits evenly already."""
    estimate = fmt.estimated_rows()[0]
    small = max(ALIGN_ROWS, rows // 4 - rows // 4 % ALIGN_ROWS)
    start = (estimate - workers * rows) // rows * rows
    return (start, small) if workers > 1 and start >= 3 * workers * rows and small < rows else None


def _run(fmt, columns, loading, progress, cancelled, workers, batch_rows, numeric) -> Pass:
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    from threadpoolctl import threadpool_limits

    from core.prediction.csv_input import BatchStream

    estimate = fmt.estimated_rows()[0]
    pending: deque = deque()
    ahead: deque = deque()  # (batch, row_base) parsed, not yet handed to a prediction thread
    ahead_rows = 0
    jobs: list[Job] | None = None
    rows_read = 0

    def check_cancelled() -> None:
        if cancelled is not None and cancelled():
            raise PredictionCancelled("Prediction was cancelled; no output was written.")

    def wait_for(future):
        while not future.done():  # staying responsive to cancel
            wait([future], timeout=0.05, return_when=FIRST_COMPLETED)
            check_cancelled()
        return future.result()

    def take() -> None:
        nonlocal rows_read
        results = wait_for(pending.popleft())
        for job, res in zip(jobs, results, strict=True):
            job.consume(res)
            job.totals.add(res)
        rows_read += results[0].rows
        del results
        release_free_memory()  # what the batch's threads freed: memory stays flat
        if progress is not None:
            progress(rows_read, max(estimate, rows_read))

    def submit() -> None:
        while ahead:  # taken off one at a time, so each batch is freed once it is predicted
            pending.append(pool.submit(_predict_jobs, jobs, *ahead.popleft()))
            while pending and (len(pending) > workers or pending[0].done()):
                take()

    pool = ThreadPoolExecutor(workers, thread_name_prefix="exoreg-predict")
    with contextlib.ExitStack() as models:

        def ready() -> list[Job]:
            loaded = wait_for(loading)
            needed = [c for c in fmt.columns if any(c in job.ctx.features for job in loaded)]
            if not set(needed) <= set(columns):
                raise _ColumnsChanged(sorted(set(columns) | set(needed), key=fmt.columns.index))
            for job in loaded:
                models.enter_context(single_threaded(job.ctx.model))
                job.locate = stream.locate
            return loaded

        try:
            rows = _batch_rows(fmt, workers, batch_rows)
            tail = None if batch_rows else _tail(fmt, workers, rows)
            with (
                threadpool_limits(1),
                BatchStream(fmt, columns, batch_rows=rows, numeric=numeric, tail=tail) as stream,
            ):
                row_base = 0
                for batch in stream:
                    check_cancelled()
                    ahead.append((batch, row_base))
                    row_base += batch.num_rows
                    ahead_rows += batch.num_rows
                    if jobs is None:
                        if not loading.done() and ahead_rows < READ_AHEAD_ROWS:
                            continue
                        if not loading.done():
                            release_free_memory()  # what parsing freed, returned before the model's peak
                        jobs = ready()
                    del batch
                    submit()
                if jobs is None:
                    jobs = ready()
                submit()
                while pending:
                    take()
                invalid = list(stream.invalid)
        except BaseException:
            if jobs is None:  # still loading: the jobs (and their temporary files) come later
                loading.add_done_callback(_abort_loaded)
            for job in jobs or ():
                with contextlib.suppress(Exception):  # the original error matters more
                    job.abort()
            raise
        finally:
            # On cancel or error, batches still being predicted finish on their own and are dropped.
            pool.shutdown(wait=not pending, cancel_futures=True)
    for job in jobs:
        job.totals.rows_read += len(invalid)
        job.totals.rows_rejected += len(invalid)
    rows_read += len(invalid)
    if progress is not None:
        progress(rows_read, rows_read)
    return Pass(jobs=jobs, rows_read=rows_read, invalid=invalid)


def _abort_loaded(loading) -> None:
    """Abort jobs that finished loading after the pass had already failed or been cancelled."""
    if not loading.cancelled() and loading.exception() is None:
        for job in loading.result():
            with contextlib.suppress(Exception):
                job.abort()
