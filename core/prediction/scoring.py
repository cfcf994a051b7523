"""Comparing versions on a labelled file a person chose: held-out rows only, paired when possible.

:func:`compare_on_file` reads the file once for every version (:func:`~core.prediction.engine.evaluate_versions`),
then compares the versions with :mod:`core.comparison` (paired bootstrap intervals, the verdict
on a primary metric, the classical tests):

- **Held-out rows only.** By default each version's own training and validation rows (as the
  registry recorded them) are left out. The versions are compared on the **shared** rows: the
  labelled rows none of them was trained or validated on, so every version is scored on the same
  rows and the comparison is paired.
- **Too few shared rows.** Versions trained on different random splits share few held-out rows.
  With fewer than ``min_rows`` shared rows, or fewer than ``min_per_class`` of some class, it
  raises :class:`~core.errors.TooFewSharedRows` saying so; with ``allow_unpaired`` each version
  is then scored on its own held-out rows instead: intervals per version, no verdict between them,
  labelled unpaired.
- **Different tasks are never paired.** Versions that predict different classes (two-class and
  three-class) are refused with one sentence: compare the versions of one task at a time.
- A version whose training rows are not recorded is scored on all rows, and a note says that the
  overlap could not be checked. ``exclude_training_rows=False`` scores every row, labelled as such.
- Statistics use the first :data:`~core.prediction.engine.DEFAULT_KEEP_ROWS` labelled rows of a
  larger file (a note says so); the streaming metrics of each result cover every row.

:meth:`FileComparison.write_report` writes the self-contained HTML report and its Markdown twin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.common.files import AtomicOutput, sha256_file
from core.comparison import Comparison, ScoredVersion, compare_versions
from core.comparison.results import METRIC_NAMES
from core.errors import DataError, TooFewSharedRows
from core.prediction.engine import (
    DEFAULT_KEEP_ROWS,
    DEFAULT_LABEL_COLUMN,
    EvaluationResult,
    PredictionCancelled,
    _check_output,
    evaluate_versions,
    version_label,
)
from core.prediction.stream import Cancelled, Progress

__all__ = ["FileComparison", "TooFewSharedRows", "compare_on_file"]

DEFAULT_MIN_ROWS = 200
DEFAULT_MIN_PER_CLASS = 30
INCLUDED_NOTE = "training rows included (--include-training-rows)"
UNPAIRED_ADVICE = "compare each version on its own held-out rows instead (--unpaired, or “Compare each on its own held-out rows” in the window)"  # noqa: E501


@dataclass
class FileComparison:
    """What :func:`compare_on_file` found: the per-version results, the rows compared and the statistics."""

    input_path: str
    sha256: str
    label_column: str
    results: list[EvaluationResult]  # one per version, in the order given (streaming metrics)
    versions: list[ScoredVersion]  # the rows each version was compared on (the same rows when paired)
    comparison: Comparison
    paired: bool
    notes: list[str] = field(default_factory=list)
    excluded_training_rows: bool = True

    @property
    def rows_compared(self) -> int:
        """Rows each version was compared on (paired: the same rows; unpaired: the smallest count)."""
        return min((len(v.y_true) for v in self.versions), default=0)

    def sentences(self) -> list[str]:
        """The verdict lines (one per pair, or why there are none)."""
        return self.comparison.sentences()

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_path": self.input_path,
            "sha256": self.sha256,
            "label_column": self.label_column,
            "paired": self.paired,
            "excluded_training_rows": self.excluded_training_rows,
            "rows_compared": {v.label: len(v.y_true) for v in self.versions},
            "notes": list(self.notes),
            "versions": [{"label": v.label, "model_id": v.model_id, "classes": list(v.classes)}
                         for v in self.versions],
            "results": [r.to_dict() for r in self.results],
            "comparison": self.comparison.to_dict(),
            "verdicts": self.sentences(),
        }

    def report_context(self) -> dict[str, Any]:
        """What the report says about the data (:mod:`core.comparison.report`'s ``context``): the file
        and its SHA-256, per version the labelled rows, those excluded and those compared, the notes."""
        rows = {}
        for version, result in zip(self.versions, self.results, strict=True):
            rows[version.label] = {
                "labelled": result.rows.total if result.rows is not None else result.rows_scored,
                "excluded": result.rows_excluded if result.overlap_checked else "not recorded",
                "compared": len(version.y_true),
            }
        how = "the versions' own training and validation rows left out" if self.excluded_training_rows else \
            "training rows included"
        return {
            "title": f"ExoReg comparison on {Path(self.input_path).name}",
            "description": f"Label column {self.label_column}; {how}.",
            "data_file": Path(self.input_path).name,
            "sha256": self.sha256,
            "rows": rows,
            "notes": list(self.notes),
        }

    def write_report(self, html=None, markdown=None) -> list[Path]:
        """Write the HTML report and / or its Markdown twin; returns the paths written.

        Each is written whole under a temporary name and renamed at the end, both only once both
        are rendered: a failure leaves neither half-written. A path that is a link, a named pipe or
        a device, the input file itself or a missing folder is refused with one sentence.
        """
        targets = check_report_paths(self.input_path, html, markdown)
        if not targets:
            return []
        from core.comparison import report

        context = self.report_context()
        texts = [(path, getattr(report, kind)(self.comparison, self.versions, context)) for path, _, kind in targets]
        outputs: list[AtomicOutput] = []
        try:
            for path, text in texts:
                output = AtomicOutput(path)
                outputs.append(output)
                output.tmp.write_text(text, encoding="utf-8")
            for output in outputs:
                output.commit()
        finally:
            for output in outputs:
                output.discard()
        return [path for path, _ in texts]


def check_report_paths(input_path, html=None, markdown=None) -> list[tuple[Path, str, str]]:
    """Refuse report paths that cannot be written (before a long pass, and again when writing).

    Returns ``(path, what, renderer name)`` for each path given. A link, a named pipe, a device,
    a folder, the input file itself, a missing folder or the same file twice is refused with one
    sentence (:class:`DataError`), as for prediction output.
    """
    targets = [(Path(p), what, kind) for p, what, kind in
               ((html, "report", "render_html"), (markdown, "Markdown report", "render_markdown")) if p]
    if len(targets) == 2 and targets[0][0].resolve() == targets[1][0].resolve():
        raise DataError("The HTML and the Markdown report would be the same file; choose different names.")
    for path, what, _ in targets:
        _check_output(Path(input_path), path, what)
    return targets


def label_of(result: EvaluationResult) -> str:
    return version_label(result)


def compare_on_file(
    refs: Sequence,
    input_path,
    label_column: str = DEFAULT_LABEL_COLUMN,
    *,
    exclude_training_rows: bool = True,
    allow_unpaired: bool = False,
    primary: str = "f1_macro",
    alpha: float = 0.05,
    n_resamples: int = 2000,
    seed: int = 0,
    min_rows: int = DEFAULT_MIN_ROWS,
    min_per_class: int = DEFAULT_MIN_PER_CLASS,
    registry=None,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
    keep_rows: int = DEFAULT_KEEP_ROWS,
    workers: int | None = None,
    batch_rows: int | None = None,
    training_rows: Sequence | None = None,
) -> FileComparison:
    """Score ``refs`` on the labelled file ``input_path`` in one pass and compare them (see the module).

    ``refs`` are references as for :func:`~core.prediction.engine.evaluate_csv` (with ``registry``),
    or ``(model, metadata)`` pairs (with ``registry`` to find their recorded training rows, or
    ``training_rows``: one :class:`~core.registry.records.TrainingRows` or None per ref).
    Raises :class:`~core.errors.TooFewSharedRows` (a :class:`~core.errors.DataError`) when the
    versions share too few held-out rows and ``allow_unpaired`` is False, :class:`DataError` for
    versions of different tasks or a file that cannot be scored, and
    :class:`~core.prediction.engine.PredictionCancelled` when ``cancelled()`` returns True.
    """
    _check_options(refs, primary, alpha, n_resamples, min_rows, min_per_class)
    input_path = Path(input_path)
    results = evaluate_versions(
        refs, input_path, label_column, registry=registry, progress=progress, cancelled=cancelled,
        exclude_training_rows=exclude_training_rows, keep_rows=keep_rows, workers=workers, batch_rows=batch_rows,
        training_rows=training_rows,
    )  # fmt: skip
    results = _distinct(results)
    _check_one_task(results)
    if cancelled is not None and cancelled():
        raise PredictionCancelled("Scoring was cancelled; nothing was written.")
    notes = [note for r in results for note in r.notes]
    if not exclude_training_rows:
        notes.insert(0, INCLUDED_NOTE)
    shared = _shared_records(results, exclude_training_rows)
    classes = list(results[0].rows.labels)
    paired = True
    shortfall = _shortfall(results, shared, classes, min_rows, min_per_class)
    if shortfall is not None:
        if not allow_unpaired or len(results) == 1:
            raise _too_few(results, shortfall, input_path.name, min_rows, min_per_class)
        paired = False
        own = {label_of(r): _own_records(r, exclude_training_rows) for r in results}
        for r in results:  # each on its own held-out rows: each must have enough of them
            alone = _shortfall([r], own[label_of(r)], classes, min_rows, min_per_class)
            if alone is not None:
                raise _too_few([r], alone, input_path.name, min_rows, min_per_class)
        versions = [_scored(r, own[label_of(r)]) for r in results]
        notes.append(
            f"unpaired: the versions share only {len(shared):,} held-out rows, so each was scored on its own "
            f"held-out rows ({', '.join(f'{v.label} {len(v.y_true):,}' for v in versions)}) and no version is "
            "declared better than another"
        )
    else:
        versions = [_scored(r, shared) for r in results]
        if len(results) > 1:
            what = "none of the versions was trained or validated on" if exclude_training_rows else "of the file"
            notes.append(f"paired: every version was scored on the same {len(shared):,} labelled rows {what}")
    comparison = compare_versions(versions, primary=primary, alpha=alpha, n_resamples=n_resamples, seed=seed,
                                  paired=paired)
    if cancelled is not None and cancelled():
        raise PredictionCancelled("Scoring was cancelled; nothing was written.")
    return FileComparison(
        input_path=str(input_path),
        sha256=sha256_file(input_path),
        label_column=label_column,
        results=results,
        versions=versions,
        comparison=comparison,
        paired=paired,
        notes=notes,
        excluded_training_rows=exclude_training_rows,
    )


# ---------------------------------------------------------------------------------------------


def _check_options(refs, primary, alpha, n_resamples, min_rows, min_per_class) -> None:
    if not refs:
        raise DataError("No version to score; name at least one.")
    if primary not in METRIC_NAMES:
        raise DataError(f"Unknown metric {primary!r} for the verdict; choose one of {', '.join(METRIC_NAMES)}.")
    if not 0 < alpha < 1:
        raise DataError(f"The significance level must be between 0 and 1 (it is {alpha}); 0.05 is usual.")
    if n_resamples < 100:
        raise DataError(f"{n_resamples} bootstrap resamples are too few for an interval; use at least 100 "
                        "(2,000 is the default).")
    if min_rows < 1 or min_per_class < 1:
        raise DataError("The minimum numbers of rows must be at least 1.")


def _distinct(results: list[EvaluationResult]) -> list[EvaluationResult]:
    """The results without a version named twice (``RandomForest`` and ``RandomForest:1``)."""
    seen, out = set(), []
    for r in results:
        if r.model_id not in seen:
            seen.add(r.model_id)
            out.append(r)
    return out


def _check_one_task(results: list[EvaluationResult]) -> None:
    first = results[0]
    for r in results[1:]:
        if set(r.rows.labels) != set(first.rows.labels):
            raise DataError(
                f"{label_of(first)} predicts {', '.join(first.rows.labels)} but {label_of(r)} predicts "
                f"{', '.join(r.rows.labels)}: versions of different tasks are never compared on the same rows; "
                "compare the versions of one task at a time."
            )


def _own_records(result: EvaluationResult, exclude: bool):
    """Record numbers of the labelled rows ``result``'s version may be scored on (sorted)."""
    rows = result.rows
    if exclude and rows.trained is not None:
        return rows.record[~rows.trained]
    return rows.record


def _shared_records(results: list[EvaluationResult], exclude: bool):
    """Record numbers of the labelled rows every version may be scored on (sorted)."""
    import numpy as np

    shared = _own_records(results[0], exclude)
    for r in results[1:]:
        shared = np.intersect1d(shared, _own_records(r, exclude), assume_unique=True)
    return shared


def _class_counts(result: EvaluationResult, records, classes: list[str]) -> dict[str, int]:
    import numpy as np

    rows = result.rows
    where = np.isin(rows.record, records, assume_unique=True)
    counts = np.bincount(rows.truth[where], minlength=len(rows.labels))
    by_label = dict(zip(rows.labels, counts.tolist(), strict=True))
    return {c: int(by_label.get(c, 0)) for c in classes}


def _shortfall(results, records, classes, min_rows, min_per_class) -> dict[str, int] | None:
    """The class counts of ``records`` when they are too few, else None."""
    counts = _class_counts(results[0], records, classes)
    if len(records) < min_rows or min(counts.values()) < min_per_class:
        return counts
    return None


def _too_few(results, counts: dict[str, int], file_name: str, min_rows: int, min_per_class: int):
    n = sum(counts.values())
    by_class = ", ".join(f"{c} {k:,}" for c, k in counts.items())
    need = f"fewer than the {min_rows:,} rows and {min_per_class:,} per class"
    if len(results) == 1:
        message = (
            f"{label_of(results[0])} has only {n:,} labelled rows of {file_name} it was not trained or validated on "
            f"({by_class}), {need} that intervals need; score it on a file with more rows it has not seen."
        )
    else:
        message = (
            f"The {len(results)} versions share only {n:,} labelled rows of {file_name} that none of them was "
            f"trained or validated on ({by_class}), {need} a paired comparison needs; {UNPAIRED_ADVICE}."
        )
    return TooFewSharedRows(message, shared_rows=n, per_class=counts, needed_rows=min_rows,
                            needed_per_class=min_per_class)


def _scored(result: EvaluationResult, records) -> ScoredVersion:
    """``result``'s version on the rows ``records`` (a sorted subset of its kept rows)."""
    import numpy as np

    rows = result.rows
    where = np.isin(rows.record, records, assume_unique=True)
    labels = np.asarray(rows.labels, dtype=object)
    return ScoredVersion(
        label=label_of(result),
        model_id=result.model_id,
        classes=list(rows.labels),
        y_true=labels[rows.truth[where]],
        y_pred=labels[rows.pred[where]],
        proba=None if rows.proba is None else rows.proba[where],
    )

