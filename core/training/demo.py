"""A populated demo registry built from the real Kepler KOI table in one call.

:func:`build_demo_registry` trains a small but real history of classifiers and registers
it: each algorithm in several versions (a baseline, a tuned version, a version that also
sees the Kepler false-positive flags), a three-class forest, one discarded experiment
(soft-deleted), a ``production`` alias on each name's best version and a ``baseline``
alias on its first. Every binary version is scored on the same held-out test rows, so
their metrics compare fairly. The CANDIDATE rows are written to ``candidates.csv`` in the
registry folder's parent: the natural input for batch prediction.

The table comes from ``data``, else ``EXOREG_KOI_CSV``, else the user's cache, else the
NASA Exoplanet Archive. When none can be had (offline, fresh machine) a clearly labelled
synthetic sample stands in (:mod:`core.training.synthetic`).

The command line runs it as ``exoreg demo``; the GUI runs the same function in a worker.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.common.files import same_file
from core.errors import DataError, RegistryError

log = logging.getLogger(__name__)

REAL = "real"
SYNTHETIC = "synthetic"
SYNTHETIC_ROWS = 3000


@dataclass(frozen=True)
class DemoVersion:
    """One version the demo trains and registers."""

    model_name: str
    algorithm: str
    feature_set: str
    hyperparameters: dict[str, Any]
    description: str
    task: str = "binary"
    delete: bool = False  # a discarded experiment, soft-deleted after registration


DEMO_PLAN: tuple[DemoVersion, ...] = (
    DemoVersion("RandomForest", "RandomForest", "physical",
                {"n_estimators": 100, "imputer_strategy": "median", "imputer_fill_value": None},
                "Baseline forest: 100 trees on the physical transit and stellar observables, median imputation."),
    DemoVersion("RandomForest", "RandomForest", "physical", {},
                "Forest of 300 trees; missing values become a sentinel below every real value, so rows lacking "
                "measurements stand out."),
    DemoVersion("RandomForest", "RandomForest", "vetting", {},
                "Tuned forest that also sees the four Kepler false-positive flags (koi_fpflag_*)."),
    DemoVersion("RandomForest", "RandomForest", "physical",
                {"n_estimators": 100, "max_depth": 4},
                "Experiment: shallow trees (max_depth 4) underfit; discarded.", delete=True),
    DemoVersion("NeuralNetwork", "NeuralNetwork", "physical",
                {"hidden_layer_sizes": (100,), "alpha": 1e-4, "scaler": "standard"},
                "Baseline network: scikit-learn's default single hidden layer of 100 behind a standard scaler."),
    DemoVersion("NeuralNetwork", "NeuralNetwork", "physical", {},
                "Tuned network: two hidden layers (64, 32), L2 1e-3, quantile transform, early stopping."),
    DemoVersion("NeuralNetwork", "NeuralNetwork", "vetting", {},
                "Tuned network that also sees the four Kepler false-positive flags (koi_fpflag_*)."),
    DemoVersion("SVM", "SVM", "physical", {"C": 1.0, "scaler": "standard"},
                "Baseline SVM: RBF kernel, C=1, standard scaler, sigmoid-calibrated probabilities."),
    DemoVersion("SVM", "SVM", "physical", {},
                "Tuned SVM: RBF kernel, C=3, quantile transform, sigmoid-calibrated probabilities."),
    DemoVersion("SVM", "SVM", "vetting", {},
                "Tuned SVM that also sees the four Kepler false-positive flags (koi_fpflag_*)."),
    DemoVersion("ThreeClassForest", "RandomForest", "vetting", {"n_estimators": 200},
                "Three-class forest: CANDIDATE vs CONFIRMED vs FALSE POSITIVE, with the false-positive flags.",
                task="three_class"),
)


def default_demo_root() -> Path:
    """Where the demo registry lives without ``--registry``: the user's data folder (``EXOREG_DATA_DIR`` overrides)."""
    from core.common.userdirs import data_dir

    return data_dir() / "demo" / "registry"


@dataclass
class DemoResult:
    """What :func:`build_demo_registry` built."""

    root: Path
    candidates_csv: Path
    data_origin: str  # "real" or "synthetic"
    data_source: str  # where the table came from (path, or the synthetic label)
    model_ids: list[str] = field(default_factory=list)
    deleted_ids: list[str] = field(default_factory=list)
    aliases: dict[str, dict[str, int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "candidates_csv": str(self.candidates_csv),
            "data_origin": self.data_origin,
            "data_source": self.data_source,
            "model_ids": list(self.model_ids),
            "deleted_ids": list(self.deleted_ids),
            "aliases": {k: dict(v) for k, v in self.aliases.items()},
            "notes": list(self.notes),
            "seconds": round(self.seconds, 2),
        }


@dataclass
class _DemoData:
    frame: Any  # pandas DataFrame, cleaned
    origin: str
    source: str
    provenance: dict[str, Any]
    notes: list[str]


def _load_data(data, *, allow_download: bool, progress, cancelled, status) -> _DemoData:
    from core.training.koi import find_koi_table, load_koi, offline

    try:
        found = find_koi_table(data, allow_download=allow_download and not offline(), progress=progress,
                               cancelled=cancelled)
    except DataError as exc:
        if data or os.environ.get("EXOREG_KOI_CSV"):
            raise  # the user named a table: never replace it with made-up data
        note = (f"No real KOI table could be had: {exc} The demo uses a SYNTHETIC KOI-like sample instead, and "
                "its models say so.")
        status(note)
        return _synthetic_data([note])
    table = load_koi(found.path, feature_set="vetting")
    provenance = {**table.provenance(), "data_source": found.origin}
    return _DemoData(table.data, REAL, str(found.path), provenance, list(table.warnings))


def _synthetic_data(notes: list[str]) -> _DemoData:
    from core.training.synthetic import SYNTHETIC_LABEL, synthetic_koi_frame

    frame = synthetic_koi_frame(SYNTHETIC_ROWS)
    provenance = {"data_file": "", "data_source": SYNTHETIC, "data_rows": int(len(frame)),
                  "synthetic": True, "synthetic_note": SYNTHETIC_LABEL}
    return _DemoData(frame, SYNTHETIC, SYNTHETIC_LABEL, provenance, notes)


def _dataset_label(data: _DemoData) -> str:
    if data.origin == SYNTHETIC:
        from core.training.synthetic import SYNTHETIC_LABEL

        return SYNTHETIC_LABEL
    stamp = data.provenance.get("archive_stamp")
    name = data.provenance.get("data_file") or "KOI table"
    return f"{name} (NASA Exoplanet Archive KOI cumulative table{', ' + stamp if stamp else ''})"


def _write_candidates(frame, path: Path) -> int:
    from core.common.cells import CSV_OPTIONS, escape_frame
    from core.common.files import atomic_write_text
    from core.training.koi import CANDIDATE, LABEL_COLUMN

    rows = frame[frame[LABEL_COLUMN] == CANDIDATE]
    atomic_write_text(path, escape_frame(rows).to_csv(index=False, **CSV_OPTIONS))
    return len(rows)


def _train_version(version: DemoVersion, split: tuple, random_state: int):
    """Fit and evaluate one planned version (runs in a worker process)."""
    from core.training.trainer import ModelTrainer

    X_train, X_val, X_test, y_train, y_val, y_test = split
    trainer = ModelTrainer(random_state=random_state, importance_repeats=2, importance_max_samples=0.5)
    clf, evaluation = trainer.train_one(version.algorithm, X_train, y_train, X_val, y_val, X_test, y_test,
                                        **version.hyperparameters)
    return clf.pipeline, evaluation, clf.get_hyperparameters(), float(clf.fit_seconds or 0.0)


def build_demo_registry(
    root: str | os.PathLike | None = None,
    data: str | os.PathLike | None = None,
    *,
    allow_download: bool = True,
    plan: tuple[DemoVersion, ...] = DEMO_PLAN,
    random_state: int = 42,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    status: Callable[[str], None] | None = None,
) -> DemoResult:
    """Train the demo's versions on the KOI table and register them in ``root`` (an empty or new registry).

    ``workers`` processes train versions side by side (1: all in this process).
    ``progress(done, total)`` counts registered versions; ``status(text)`` receives one line per
    step; ``cancelled()`` is polled between versions (versions registered so far stay).
    Raises :class:`RegistryError` when ``root`` already holds models.
    """
    from joblib import Parallel, delayed

    from core.registry.registry import ModelRegistry
    from core.training.koi import FEATURE_SET_DESCRIPTIONS
    from core.training.processing import TASK_DESCRIPTIONS, DataProcessor
    from core.training.trainer import TrainingCancelled, training_records

    start = time.perf_counter()
    say = status or (lambda text: log.info("%s", text))
    root = Path(root) if root is not None else default_demo_root()
    registry = ModelRegistry(root)
    existing = registry.list_models(include_deleted=True)
    if existing:
        raise RegistryError(f"{root} already holds {len(existing)} model version(s); build the demo in a new or "
                            "empty folder (pass --registry PATH).")
    total = len(plan) + 1
    if progress:
        progress(0, total)
    say("Finding the Kepler KOI table...")
    reported = [0]

    def download_progress(done: int, size: int) -> None:
        if done - reported[0] >= 1 << 20 or (size and done >= size):
            reported[0] = done
            say(f"Downloading the KOI table from the NASA Exoplanet Archive: {done / 1e6:.1f} MB"
                + (f" of {size / 1e6:.1f} MB" if size else ""))

    dataset = _load_data(data, allow_download=allow_download, progress=download_progress, cancelled=cancelled,
                         status=say)
    candidates_csv = root.resolve().parent / "candidates.csv"
    if dataset.origin == REAL and same_file(dataset.source, candidates_csv):
        raise DataError(f"The KOI table {dataset.source} is the candidates.csv the demo writes beside the registry folder; "
                        "copy the table elsewhere or build the demo registry in another folder.")
    n_candidates = _write_candidates(dataset.frame, candidates_csv)
    result = DemoResult(root=root, candidates_csv=candidates_csv, data_origin=dataset.origin,
                        data_source=dataset.source, notes=list(dataset.notes))
    say(f"Using {dataset.source}; wrote {n_candidates} CANDIDATE rows to {candidates_csv}.")
    if progress:
        progress(1, total)

    dataset_label = _dataset_label(dataset)
    splits: dict[tuple[str, str], tuple] = {}
    for version in plan:
        key = (version.task, version.feature_set)
        if key not in splits:
            processor = DataProcessor(version.task, version.feature_set, random_state=random_state)
            splits[key] = (*processor.process_dataset(dataset.frame), processor.split_info, processor.split_frames)

    def check_cancelled() -> None:
        if cancelled and cancelled():
            raise TrainingCancelled(f"The demo was cancelled after {len(result.model_ids)} version(s); those stay "
                                    f"in {root}.")

    check_cancelled()
    say(f"Training {len(plan)} versions with {workers} worker process(es)...")
    if workers > 1:
        tasks = (delayed(_train_version)(version, splits[version.task, version.feature_set][:6], random_state)
                 for version in plan)
        outcomes = Parallel(n_jobs=workers, backend="loky", return_as="generator")(tasks)
    else:  # lazily, in this process: a cancel stops before the next version starts
        outcomes = (_train_version(version, splits[version.task, version.feature_set][:6], random_state)
                    for version in plan)
    by_name: dict[str, list[tuple[int, float, str]]] = {}
    try:
        for i, (version, (pipeline, evaluation, hyperparameters, fit_seconds)) in enumerate(
                zip(plan, outcomes, strict=True)):
            features, info = splits[version.task, version.feature_set][6], splits[version.task, version.feature_set][8]
            training_info = {
                "dataset": dataset_label,
                "training_samples": info.training_samples,
                "test_samples": info.test_samples,
                "class_distribution": info.class_distribution,
                "validation_samples": info.validation_samples,
                "task": info.task,
                "task_description": TASK_DESCRIPTIONS[info.task],
                "feature_set": info.feature_set,
                "feature_set_description": FEATURE_SET_DESCRIPTIONS[info.feature_set],
                "random_state": info.random_state,
                "test_size": info.test_size,
                "val_size": info.val_size,
                "held_out": info.held_out,
                "group_column": info.group_column,
                "groups": info.groups,
                **({"group_note": info.group_note} if info.group_note else {}),
                "data_origin": dataset.origin,
                **dataset.provenance,
                "fit_seconds": round(fit_seconds, 3),
                "built_by": "exoreg demo",
            }
            description = version.description
            if dataset.origin == SYNTHETIC:
                description = "SYNTHETIC DATA (not real KOIs). " + description
            tags = {"feature_set": version.feature_set, "task": version.task, "data": dataset.origin}
            model_id = registry.register_model(
                model=pipeline,
                model_name=version.model_name,
                algorithm=version.algorithm,
                evaluation_results=evaluation,
                hyperparameters=hyperparameters,
                training_info=training_info,
                feature_columns=list(features),
                description=description,
                tags=tags,
                **training_records(splits[version.task, version.feature_set][9]),
            )
            meta = registry.get_metadata(model_id)
            if version.delete:
                registry.delete_model(model_id)
                result.deleted_ids.append(model_id)
            else:
                result.model_ids.append(model_id)
                by_name.setdefault(version.model_name, []).append((meta.version, meta.f1_score, model_id))
            say(f"Registered {model_id} ({version.feature_set} features): macro F1 {meta.f1_score:.4f} on "
                f"{info.test_samples} test rows.")
            if progress:
                progress(i + 2, total)
            if i + 1 < len(plan):
                check_cancelled()  # before the next version is awaited
    finally:
        close = getattr(outcomes, "close", None)
        if close:
            with warnings.catch_warnings():  # joblib warns that it dropped the remaining tasks: that is the point
                warnings.simplefilter("ignore", UserWarning)
                close()  # stops the remaining tasks when cancelled or failed

    for name, versions in by_name.items():
        first = min(v for v, _, _ in versions)
        best = max(versions, key=lambda item: (item[1], item[0]))[0]
        registry.set_alias(name, "baseline", first)
        registry.set_alias(name, "production", best)
        result.aliases[name] = {"baseline": first, "production": best}
    result.seconds = time.perf_counter() - start
    say(f"Demo registry ready in {root} ({len(result.model_ids)} versions, {result.seconds:.1f} s).")
    return result
