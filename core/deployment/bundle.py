"""Deployment bundles: one folder that serving systems load without ExoReg installed.

:func:`export_bundle` writes, for one fitted scikit-learn classifier:

``MLmodel``, ``requirements.txt``, ``python_env.yaml``, ``conda.yaml``,
``input_example.json``, ``serving_input_example.json``
    An MLflow model folder (``python_function`` + ``sklearn`` flavors), written from the
    format's public specification; ExoReg does not depend on mlflow. The ``sklearn`` flavor
    points at ``model.skops`` (``serialization_format: skops``) with the exact types skops
    must be told to trust, so the bundle holds no pickle: MLflow reads it from release
    :data:`MLFLOW_FIRST_SKOPS_RELEASE` on, with ``mlflow.pyfunc.load_model(folder)`` and
    ``mlflow models serve -m folder``.
``model.skops``
    The model in the safe format; it loads with the registry's type allowlist.
``model.pkl``
    Only with ``with_pickle=True``, for serving systems that read nothing but pickles (MLflow
    before :data:`MLFLOW_FIRST_SKOPS_RELEASE`): then the ``sklearn`` flavor points at it.
``model.onnx``
    The model converted with skl2onnx (float32 input), included only when onnxruntime's
    predictions match scikit-learn's on a sample of rows (labels on >= 99.9 % of rows,
    probabilities within 1e-3). Otherwise the manifest and the card say why it is absent.
``predict.py``
    A standalone script (scikit-learn, skops and pandas only) that loads ``model.skops``
    with the allowlist written into it: ``python predict.py input.csv -o predictions.csv``.
``README.md``
    A model card in the Hugging Face style.
``manifest.json``
    Every other file's SHA-256 and size, the source model and its registry metadata.
    :func:`verify_bundle` checks a folder against it.

The bundle is written into a hidden sibling folder and renamed into place at the end: a
failed or cancelled export leaves nothing behind, and a reader never sees half a bundle.
A non-empty target is refused unless ``overwrite=True``, and even then only an earlier
bundle (a folder with an ExoReg manifest) is replaced, never an unrelated folder.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import platform
import re
import shutil
import stat
import uuid
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.common import jsonio
from core.common.cells import FORMULA_RE, NUMBER_RE
from core.common.files import replace_folder, temp_folder_beside, write_bytes_synced
from core.common.jsonio import plain_scalar, to_jsonable
from core.errors import DataError, IntegrityError, RegistryError, UntrustedModelError
from core.training.koi import CANDIDATE, IDENTIFIER_COLUMNS, LEAKY_COLUMNS

BUNDLE_FORMAT = "exoreg-deployment-bundle"
BUNDLE_FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
MAX_MANIFEST_BYTES = 64 << 20  # a bundle's manifest (file list and the model's metadata) is a few kB

MLMODEL_NAME = "MLmodel"
PICKLE_NAME = "model.pkl"
#: The first MLflow release whose sklearn flavor reads ``serialization_format: skops``
#: (``mlflow.sklearn._load_pyfunc`` with ``skops_trusted_types``); earlier ones read pickles only.
MLFLOW_FIRST_SKOPS_RELEASE = "3.9.0"
SKOPS_NAME = "model.skops"
ONNX_NAME = "model.onnx"
PREDICT_NAME = "predict.py"
CARD_NAME = "README.md"
REQUIREMENTS_NAME = "requirements.txt"
PYTHON_ENV_NAME = "python_env.yaml"
CONDA_NAME = "conda.yaml"
INPUT_EXAMPLE_NAME = "input_example.json"
SERVING_EXAMPLE_NAME = "serving_input_example.json"

# ONNX parity bounds checked at export time.
MIN_LABEL_AGREEMENT = 0.999
MAX_PROBA_DIFFERENCE = 1e-3
ONNX_INPUT_NAME = "input"
ONNX_TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
MAX_PARITY_ROWS = 5000
MAX_SAMPLE_READ = 100_000  # rows read from a sample CSV at most (the parity check uses a subset)
SYNTHETIC_ROWS = 500
INPUT_EXAMPLE_ROWS = 5

# Columns of a KOI table that leak the label; they must never be features.
ID_COLUMNS = IDENTIFIER_COLUMNS  # what predict.py copies into its output, in this order

Progress = Callable[[float, float], None]
Cancelled = Callable[[], bool]


class BundleExistsError(RegistryError, FileExistsError):
    """The export target already holds files and may not be replaced."""


class ExportCancelled(RegistryError):
    """The caller cancelled the export; nothing was written."""


# -- reports -----------------------------------------------------------------------------------

@dataclass
class BundleReport:
    """What :func:`export_bundle` wrote."""

    path: Path
    model_name: str
    version: Any
    model_id: str | None
    files: dict[str, dict[str, Any]]
    onnx: dict[str, Any]
    sample: dict[str, Any]
    warnings: list[str] = field(default_factory=list)

    @property
    def onnx_included(self) -> bool:
        return bool(self.onnx.get("included"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "model_name": self.model_name,
            "version": self.version,
            "model_id": self.model_id,
            "files": self.files,
            "onnx": self.onnx,
            "sample": self.sample,
            "warnings": list(self.warnings),
        }


@dataclass
class BundleVerifyReport:
    """The result of checking a bundle folder against its ``manifest.json``."""

    path: Path
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    checked: int = 0
    #: What the extra entries that are not regular files are ("a symbolic link", "a folder"...).
    extra_kinds: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.extra or self.problems)

    def messages(self) -> list[str]:
        out = list(self.problems)
        out += [f"{name} was changed: its SHA-256 differs from the manifest" for name in self.changed]
        out += [f"{name} is missing" for name in self.missing]
        out += [
            f"{name} ({self.extra_kinds[name]}) is not listed in the manifest" if name in self.extra_kinds
            else f"{name} is not listed in the manifest"
            for name in self.extra
        ]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "ok": self.ok,
            "checked": self.checked,
            "changed": self.changed,
            "missing": self.missing,
            "extra": self.extra,
            "extra_kinds": self.extra_kinds,
            "problems": self.problems,
            "messages": self.messages(),
        }


# -- public entry points -----------------------------------------------------------------------

def export_bundle(
    model: Any,
    export_path: str | os.PathLike,
    model_info: Mapping[str, Any] | Any = None,
    *,
    include_onnx: bool = True,
    sample_rows: Any = None,
    overwrite: bool = False,
    with_pickle: bool = False,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
) -> BundleReport:
    """Write a deployment bundle for ``model`` into the folder ``export_path``.

    ``model_info`` is the guide's dict (``model_name``, ``version``, ``accuracy``,
    ``feature_columns``...), a whole registry metadata dict or a ``ModelMetadata``; the
    feature columns and classes are checked against the model's own. ``sample_rows`` (a
    DataFrame, or the path of a CSV such as a KOI table) supplies real rows for the ONNX
    parity check and the input example; without it a synthetic sample is drawn from the
    model's imputer statistics, and the manifest and card say so. ``with_pickle`` adds
    ``model.pkl`` and points MLflow's ``sklearn`` flavor at it, for serving systems that read
    only pickles; by default the bundle holds no pickle.

    ``progress(done, total)`` is called after each of the 8 steps; when ``cancelled()``
    returns true the export stops with :class:`ExportCancelled` and leaves nothing behind.
    Raises :class:`BundleExistsError` for a non-empty target (see ``overwrite``),
    :class:`~core.errors.DataError` for unusable inputs and
    :class:`~core.errors.UntrustedModelError` for a model outside the allowlist.
    """
    target = Path(export_path).expanduser()
    info = model_info.to_dict() if hasattr(model_info, "to_dict") else dict(model_info or {})
    _check_target(target, overwrite)
    _check_model(model)
    feature_columns = _feature_columns(model, info)
    classes = [plain_scalar(c) for c in model.classes_]
    info["feature_columns"] = feature_columns
    info["classes"] = classes

    steps = 8
    step = 0

    def advance() -> None:
        nonlocal step
        if cancelled is not None and cancelled():
            raise ExportCancelled("The export was cancelled; nothing was written.")
        step += 1
        if progress is not None:
            progress(step, steps)

    if progress is not None:
        progress(0, steps)
    sample, sample_info = _prepare_sample(sample_rows, model, feature_columns)
    descriptions = sample_info.pop("column_descriptions", {})
    advance()

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = temp_folder_beside(target, mode=0o755)  # mkdtemp makes it private; a bundle is meant to be shared
    try:
        report_warnings: list[str] = []
        env = _environment()
        created = _dt.datetime.now(_dt.UTC)

        if with_pickle:
            _write_bytes(staging / PICKLE_NAME, _pickle_bytes(model))
        advance()

        skops_sha, trusted_types = _write_skops(model, staging / SKOPS_NAME, sample)
        advance()

        onnx_info = _export_onnx(model, staging / ONNX_NAME, sample, sample_info, feature_columns, include_onnx)
        if include_onnx and not onnx_info["included"]:
            report_warnings.append(onnx_info["message"])
        advance()

        _write_mlflow_files(staging, model, info, sample, env, created,
                            trusted_types=None if with_pickle else trusted_types)
        advance()

        title = f"{_model_name(info)} v{info['version']}" if info.get("version") is not None else _model_name(info)
        _write_text(staging / PREDICT_NAME, render_predict_script(feature_columns, classes, skops_sha, title))
        advance()

        if env["sklearn"] != info.get("sklearn_version") and info.get("sklearn_version"):
            report_warnings.append(
                f"The model was trained with scikit-learn {info['sklearn_version']} and is exported with "
                f"{env['sklearn']}; the bundle pins {env['sklearn']}, the version that wrote its files."
            )
        _write_text(staging / CARD_NAME, render_model_card(info, onnx_info, sample_info, env, report_warnings,
                                                            descriptions, with_pickle=with_pickle))
        advance()

        files = _file_table(staging)
        manifest = {
            "format": BUNDLE_FORMAT,
            "format_version": BUNDLE_FORMAT_VERSION,
            "created": created.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "exoreg_version": _exoreg_version(),
            "model": {
                "model_id": info.get("model_id"),
                "model_name": _model_name(info),
                "version": info.get("version"),
                "algorithm": info.get("algorithm"),
                "classes": classes,
                "feature_columns": feature_columns,
                "registry_model_sha256": info.get("model_sha256"),
            },
            "environment": env,
            "mlflow": _mlflow_summary(with_pickle, trusted_types),
            "onnx": onnx_info,
            "sample": sample_info,
            "warnings": report_warnings,
            "files": files,
            "metadata": _json_safe(info),
        }
        write_bytes_synced(staging / MANIFEST_NAME, jsonio.dumps(manifest, indent=True) + b"\n")
        _fsync_dir(staging)
        advance()

        if cancelled is not None and cancelled():
            raise ExportCancelled("The export was cancelled; nothing was written.")
        _move_into_place(staging, target, overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return BundleReport(
        path=target,
        model_name=_model_name(info),
        version=info.get("version"),
        model_id=info.get("model_id"),
        files=files,
        onnx=onnx_info,
        sample=sample_info,
        warnings=report_warnings,
    )


def export_registered_model(
    registry: Any,
    ref: str,
    export_path: str | os.PathLike,
    *,
    include_onnx: bool = True,
    sample_rows: Any = None,
    overwrite: bool = False,
    with_pickle: bool = False,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
) -> BundleReport:
    """Export the registered model that ``ref`` names (an id, ``NAME``, ``NAME:VERSION``,
    ``NAME@ALIAS``, ``best``...) with ``model_info`` filled from its metadata.

    ``registry`` is a :class:`core.model_registry.ModelRegistry` or its URI (a folder). Without
    ``sample_rows``, the ``candidates.csv`` that ``exoreg demo`` writes beside the registry
    folder is used when it exists.
    """
    if isinstance(registry, str | os.PathLike):
        from core.registry.registry import ModelRegistry

        registry = ModelRegistry(registry)
    meta = registry.resolve(ref)
    model, meta = registry.load_model(model_id=meta.model_id)
    folder = registry.local_folder
    if sample_rows is None and folder is not None:
        candidates = Path(folder).parent / "candidates.csv"
        if candidates.is_file():
            sample_rows = candidates
    info = meta.to_dict() if hasattr(meta, "to_dict") else dict(meta)
    info.setdefault("reference", ref)
    return export_bundle(
        model,
        export_path,
        info,
        include_onnx=include_onnx,
        sample_rows=sample_rows,
        overwrite=overwrite,
        with_pickle=with_pickle,
        progress=progress,
        cancelled=cancelled,
    )


def verify_bundle(path: str | os.PathLike) -> BundleVerifyReport:
    """Check every file of a bundle against its manifest: changed, missing and extra entries.

    Nothing is followed or opened but regular files: a listed file that is now a link, a folder
    or a special file is reported as such, and every entry the manifest does not list (a file,
    a symbolic link, an empty folder, a FIFO, a socket, a device) is reported as extra.
    """
    from core.common.files import FileTooLargeError, NotRegularFileError, file_kind, read_regular_file

    root = Path(path).expanduser()
    report = BundleVerifyReport(path=root)
    if not root.is_dir():
        report.problems.append(f"{root} is not a folder; give the path of a deployment bundle folder.")
        return report
    try:
        raw = read_regular_file(root / MANIFEST_NAME, follow_links=False, max_bytes=MAX_MANIFEST_BYTES)
        manifest = jsonio.loads(raw, max_bytes=MAX_MANIFEST_BYTES)
    except FileNotFoundError:
        report.problems.append(f"{MANIFEST_NAME} is missing, so nothing in {root} can be checked.")
        return report
    except NotRegularFileError as exc:
        report.problems.append(f"{MANIFEST_NAME} is {exc.kind}, not a regular file; the bundle cannot be checked.")
        return report
    except FileTooLargeError:
        report.problems.append(f"{MANIFEST_NAME} is larger than {MAX_MANIFEST_BYTES:,} bytes; the bundle cannot "
                               "be checked.")
        return report
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        report.problems.append(f"{MANIFEST_NAME} cannot be read ({exc}); the bundle cannot be checked.")
        return report
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or manifest.get("format") != BUNDLE_FORMAT:
        report.problems.append(f"{MANIFEST_NAME} is not an ExoReg bundle manifest; the bundle cannot be checked.")
        return report
    present = _bundle_entries(root)
    present.pop(MANIFEST_NAME, None)
    for name in sorted(files):
        entry = files[name]
        if not isinstance(name, str) or not _inside(root, root / name) or name == MANIFEST_NAME:
            report.problems.append(f"the manifest lists {name!r}, which is not a file inside the bundle")
            continue
        mode = present.get(name)
        if mode is None:
            report.missing.append(name)
            continue
        if not stat.S_ISREG(mode):
            report.problems.append(f"{name} is {file_kind(mode)}, not the regular file the manifest lists")
            continue
        report.checked += 1
        expected = entry.get("sha256") if isinstance(entry, dict) else None
        try:
            digest = _sha256_no_follow(root / name)
        except OSError as exc:
            report.problems.append(f"{name} cannot be read ({exc.strerror or exc})")
            continue
        if digest != expected:
            report.changed.append(name)
    report.extra = sorted(set(present) - set(files))
    report.extra_kinds = {
        name: "an empty folder" if stat.S_ISDIR(present[name]) else file_kind(present[name])
        for name in report.extra if not stat.S_ISREG(present[name])
    }
    return report


def _bundle_entries(root: Path) -> dict[str, int]:
    """Every entry under ``root`` by relative POSIX name, with its ``lstat`` mode: regular files,
    links (never followed), special files, and folders that hold nothing (others are implied by
    their contents)."""
    entries: dict[str, int] = {}
    stack = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            with os.scandir(folder) as it:
                children = list(it)
        except OSError:
            continue
        if not children and prefix:
            entries[prefix.rstrip("/")] = stat.S_IFDIR
        for child in children:
            name = prefix + child.name
            try:
                mode = child.stat(follow_symlinks=False).st_mode
            except OSError:
                continue
            if stat.S_ISDIR(mode):
                stack.append((Path(child.path), name + "/"))
            else:
                entries[name] = mode
    return entries


def _sha256_no_follow(path: Path) -> str:
    """SHA-256 of a regular file, opened without following a link and without blocking on a FIFO."""
    import hashlib

    from core.common.files import NotRegularFileError, file_kind

    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as fh:
        mode = os.fstat(fh.fileno()).st_mode
        if not stat.S_ISREG(mode):  # swapped since it was listed
            raise NotRegularFileError(path, file_kind(mode))
        digest = hashlib.sha256()
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# -- checks on the inputs ----------------------------------------------------------------------

def _check_target(target: Path, overwrite: bool) -> None:
    if target.exists() and not target.is_dir():
        raise BundleExistsError(f"{target} is a file; give a folder path for the bundle.")
    if not target.is_dir() or not any(target.iterdir()):
        return
    if not overwrite:
        raise BundleExistsError(
            f"{target} is not empty; choose a new folder, or allow overwriting (--overwrite) to replace the bundle in it."
        )
    if not is_bundle(target):
        raise BundleExistsError(
            f"{target} is not empty and is not a deployment bundle; overwrite only replaces an earlier "
            "bundle, so choose a new folder."
        )


def is_bundle(path: str | os.PathLike) -> bool:
    """True when ``path`` is a folder with an ExoReg bundle manifest."""
    try:
        manifest = jsonio.read_json_file(Path(path) / MANIFEST_NAME, max_bytes=MAX_MANIFEST_BYTES)
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("format") == BUNDLE_FORMAT


def _check_model(model: Any) -> None:
    missing = [name for name in ("predict", "predict_proba") if not callable(getattr(model, name, None))]
    if missing:
        raise DataError(
            f"The object given is not a fitted classifier with {' and '.join(missing)}; pass a fitted "
            "scikit-learn classifier or pipeline."
        )
    if getattr(model, "classes_", None) is None:
        raise DataError("The model is not fitted (it has no classes_); fit it before exporting it.")


def _feature_columns(model: Any, info: Mapping[str, Any]) -> list[str]:
    given = info.get("feature_columns")
    fitted = getattr(model, "feature_names_in_", None)
    fitted = [str(c) for c in fitted] if fitted is not None else None
    if given:
        columns = [str(c) for c in given]
        if fitted is not None and columns != fitted:
            raise DataError(
                "model_info['feature_columns'] does not match the columns the model was fitted on "
                f"({len(columns)} given, {len(fitted)} fitted); pass the model's own feature columns."
            )
    elif fitted is not None:
        columns = fitted
    else:
        raise DataError("The feature columns are unknown; pass them as model_info['feature_columns'].")
    n_in = getattr(model, "n_features_in_", None)
    if n_in is not None and int(n_in) != len(columns):
        raise DataError(
            f"The model takes {n_in} features but {len(columns)} feature columns were given; "
            "pass the model's own feature columns."
        )
    leaky = [c for c in columns if c in LEAKY_COLUMNS]
    if leaky:
        raise DataError(
            f"The feature columns include {', '.join(leaky)}, which come from the vetting that made the "
            "labels; retrain the model without them before deploying it."
        )
    return columns


def _model_name(info: Mapping[str, Any]) -> str:
    return str(info.get("model_name") or "ExoplanetClassifier")


# -- sample rows --------------------------------------------------------------------------------

_COLUMN_COMMENT = re.compile(r"^#\s*COLUMN\s+([^:\s]+):\s*(.*)$")


def read_table(path: str | os.PathLike, *, nrows: int | None = None):
    """Read a CSV (optionally gzipped) whose first lines may be NASA ``#`` comments.

    The archive's ``# COLUMN name: description [unit]`` lines land in
    ``frame.attrs["column_descriptions"]``.
    """
    import gzip

    import pandas as pd

    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    skip = 0
    descriptions: dict[str, str] = {}
    try:
        with opener(path, "rt", encoding="utf-8-sig", errors="replace") as fh:
            for line in fh:
                if not line.startswith("#"):
                    break
                skip += 1
                found = _COLUMN_COMMENT.match(line)
                if found:
                    descriptions[found.group(1)] = found.group(2).strip()
        frame = pd.read_csv(path, skiprows=skip, nrows=nrows, encoding="utf-8-sig", low_memory=False)
        frame.attrs["column_descriptions"] = descriptions
        return frame
    except FileNotFoundError:
        raise DataError(f"The sample file {path} does not exist; give the path of a CSV with KOI rows.") from None
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise DataError(f"The sample file {path} cannot be read as a CSV ({exc}); give a CSV with KOI rows.") from exc


def _prepare_sample(sample_rows: Any, model: Any, feature_columns: Sequence[str]):
    """The rows used for the parity check and the input example, and where they came from."""
    import numpy as np
    import pandas as pd

    if sample_rows is None:
        frame = _synthetic_rows(model, feature_columns, SYNTHETIC_ROWS)
        return frame, {
            "source": "synthetic",
            "rows": len(frame),
            "note": "No sample rows were given; rows were drawn around the model's imputer statistics.",
        }
    if isinstance(sample_rows, str | os.PathLike):
        frame = read_table(sample_rows, nrows=MAX_SAMPLE_READ)
        source = str(Path(sample_rows).name)
    elif isinstance(sample_rows, pd.DataFrame):
        frame = sample_rows
        source = "rows given by the caller"
    else:
        array = np.asarray(sample_rows, dtype=float)
        if array.ndim != 2 or array.shape[1] != len(feature_columns):
            raise DataError(
                f"sample_rows must be a table with the {len(feature_columns)} feature columns; "
                f"got an array of shape {array.shape}."
            )
        frame = pd.DataFrame(array, columns=list(feature_columns))
        source = "rows given by the caller"
    missing = [c for c in feature_columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"The sample rows lack the feature column(s) {', '.join(missing[:8])}"
            f"{'...' if len(missing) > 8 else ''}; give rows of a table with the model's features."
        )
    described = frame.attrs.get("column_descriptions") or {}
    descriptions = {c: described[c] for c in feature_columns if c in described}
    frame = frame.loc[:, list(feature_columns)]
    bad = [c for c in feature_columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad:
        raise DataError(
            f"The sample rows hold values that are not numbers in {', '.join(bad[:8])}; "
            "give rows of a numeric KOI table."
        )
    nullable = [c for c in feature_columns if isinstance(frame[c].dtype, pd.api.extensions.ExtensionDtype)]
    if nullable:  # pandas' nullable Int64 / Float64 columns: plain floats with NaN for the models
        frame = frame.astype({c: "float64" for c in nullable})
    finite = np.isfinite(frame.to_numpy(dtype=float)) | frame.isna().to_numpy()
    frame = frame[finite.all(axis=1)]
    if frame.empty:
        raise DataError("The sample has no usable rows; give a CSV with at least one KOI row.")
    if len(frame) > MAX_PARITY_ROWS:
        frame = frame.sample(n=MAX_PARITY_ROWS, random_state=0).sort_index()
    info: dict[str, Any] = {"source": source, "rows": len(frame)}
    if descriptions:
        info["column_descriptions"] = descriptions
    return frame.reset_index(drop=True), info


def _synthetic_rows(model: Any, feature_columns: Sequence[str], n: int):
    """Rows scattered around the statistics of the model's first imputer (or around zero)."""
    import numpy as np
    import pandas as pd

    centre = np.zeros(len(feature_columns))
    steps = getattr(model, "steps", None) or []
    for _name, step in steps:
        stats = getattr(step, "statistics_", None)
        if stats is not None and len(stats) == len(feature_columns):
            centre = np.nan_to_num(np.asarray(stats, dtype=float))
            break
    rng = np.random.default_rng(0)
    scale = np.where(centre == 0, 1.0, np.abs(centre))
    values = centre + rng.normal(0.0, 0.5, size=(n, len(feature_columns))) * scale
    return pd.DataFrame(values, columns=list(feature_columns))


# -- the model files ---------------------------------------------------------------------------

def _pickle_bytes(model: Any) -> bytes:
    # The standard library's pickle (protocol 4): MLflow's ``serialization_format: pickle``
    # reads it with ``pickle.load``; a joblib file would not load that way.
    import pickle

    return pickle.dumps(model, protocol=4)


def _write_skops(model: Any, path: Path, sample) -> tuple[str, list[str]]:
    """Write ``model.skops``, prove it loads with the allowlist and predicts the same.

    Returns its SHA-256 and the types skops must be told to trust to load it (all of them on
    the allowlist, or the export stops): MLflow's ``skops_trusted_types``.
    """
    import numpy as np

    from core.common.files import sha256_bytes, write_bytes_synced
    from core.registry.safety import dumps_skops, load_skops, skops_untrusted_types

    data = dumps_skops(model)
    write_bytes_synced(path, data)
    try:
        loaded = load_skops(data, name=SKOPS_NAME)  # the bytes written, checked and hashed are one and the same
    except UntrustedModelError as exc:
        raise UntrustedModelError(
            f"The model holds types outside the allowlist ({', '.join(exc.untrusted[:5])}), so model.skops "
            "and predict.py could not load it; export a model built from the project's pipelines.",
            untrusted=exc.untrusted,
        ) from exc
    rows = sample.iloc[:200]
    if not np.array_equal(loaded.predict_proba(rows), model.predict_proba(rows)):
        raise IntegrityError("model.skops does not predict what the model in memory predicts; nothing was exported.")
    return sha256_bytes(data), sorted(skops_untrusted_types(data))


#: What writing model.onnx needs; part of the default install wherever onnxruntime publishes wheels.
ONNX_PACKAGES = ("skl2onnx", "onnx", "onnxruntime")


def onnx_unavailable_reason() -> str | None:
    """Why this Python cannot write a model.onnx, said before an export starts; None when it can.

    Looks the packages up without importing them (onnxruntime takes a second to import).
    """
    import importlib.util

    missing = []
    for name in ONNX_PACKAGES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    if not missing:
        return None
    names = " and ".join([", ".join(missing[:-1]), missing[-1]] if len(missing) > 1 else missing)
    return (f"{names} {'is' if len(missing) == 1 else 'are'} not installed for this Python, so the bundle "
            f"will have no model.onnx (pip install {' '.join(missing)}, where onnxruntime publishes wheels).")


def _export_onnx(model, path: Path, sample, sample_info, feature_columns, include_onnx: bool) -> dict[str, Any]:
    """Convert to ONNX and check parity; the returned dict says plainly what happened."""
    base: dict[str, Any] = {
        "file": ONNX_NAME,
        "included": False,
        "input_name": ONNX_INPUT_NAME,
        "input_type": "float32",
        "input_shape": [None, len(feature_columns)],
        "outputs": ["label", "probabilities"],
        "thresholds": {"min_label_agreement": MIN_LABEL_AGREEMENT, "max_probability_difference": MAX_PROBA_DIFFERENCE},
    }
    if not include_onnx:
        return {**base, "status": "not_requested", "message": "ONNX export was not requested."}
    try:
        import onnxruntime as ort
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType
    except ImportError as exc:
        return {
            **base,
            "status": "unavailable",
            "message": f"model.onnx is not included: {exc.name or 'skl2onnx/onnxruntime'} is not installed "
            f"(pip install {' '.join(ONNX_PACKAGES)}, where onnxruntime publishes wheels).",
        }
    import numpy as np

    final = model.steps[-1][1] if hasattr(model, "steps") else model
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            onx = convert_sklearn(
                model,
                initial_types=[(ONNX_INPUT_NAME, FloatTensorType([None, len(feature_columns)]))],
                options={id(final): {"zipmap": False}},
                target_opset=ONNX_TARGET_OPSET,
            )
        data = onx.SerializeToString()
        session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    except Exception as exc:  # skl2onnx raises many kinds for unsupported models
        return {
            **base,
            "status": "conversion_failed",
            "message": f"model.onnx is not included: skl2onnx could not convert this model "
            f"({type(exc).__name__}: {_first_line(exc)}).",
        }
    try:
        outputs = session.run(None, {ONNX_INPUT_NAME: sample.to_numpy(dtype=np.float32)})
        onnx_labels = np.asarray(outputs[0]).astype(str).ravel()
        onnx_proba = np.asarray(outputs[1], dtype=float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sk_labels = np.asarray(model.predict(sample)).astype(str)
            sk_proba = np.asarray(model.predict_proba(sample), dtype=float)
    except Exception as exc:  # onnxruntime errors are not a single class
        return {
            **base,
            "status": "conversion_failed",
            "message": f"model.onnx is not included: onnxruntime could not run the converted model "
            f"({type(exc).__name__}: {_first_line(exc)}).",
        }
    agreement = float(np.mean(onnx_labels == sk_labels))
    max_diff = float(np.max(np.abs(onnx_proba - sk_proba))) if onnx_proba.shape == sk_proba.shape else math.inf
    parity = {
        "rows": int(len(sample)),
        "sample_source": sample_info.get("source"),
        "label_agreement": agreement,
        "max_probability_difference": max_diff if math.isfinite(max_diff) else None,
    }
    if agreement < MIN_LABEL_AGREEMENT or not max_diff <= MAX_PROBA_DIFFERENCE:
        return {
            **base,
            "status": "parity_failed",
            "parity": parity,
            "message": (
                "model.onnx is not included: on "
                f"{len(sample)} rows its labels agree with scikit-learn's on {agreement:.2%} "
                f"(need {MIN_LABEL_AGREEMENT:.1%}) and its probabilities differ by up to "
                f"{_fmt_diff(max_diff)} (allowed {MAX_PROBA_DIFFERENCE:g})."
            ),
        }
    _write_bytes(path, data)
    return {
        **base,
        "included": True,
        "status": "ok",
        "parity": parity,
        "opset": {d.domain or "ai.onnx": d.version for d in onx.opset_import},
        "message": (
            f"model.onnx matches scikit-learn on {len(sample)} rows: labels agree on {agreement:.2%}, "
            f"probabilities differ by at most {_fmt_diff(max_diff)}."
        ),
    }


def _fmt_diff(value: float) -> str:
    return "an unknown amount (output shapes differ)" if not math.isfinite(value) else f"{value:.2g}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


# -- MLflow model folder ------------------------------------------------------------------------

_MLFLOW_TYPES = {"i": "long", "u": "long", "f": "double", "b": "boolean"}


def mlflow_signature(sample, feature_columns: Sequence[str], classes: Sequence) -> dict[str, Any]:
    """The MLflow column signature: inputs typed from the sample's dtypes, one output column."""
    inputs = []
    for column in feature_columns:
        kind = sample[column].dtype.kind if column in sample.columns else "f"
        # No "required" key: every MLflow release reads a column without it (as required), while
        # releases before 2.8 reject the key.
        inputs.append({"type": _MLFLOW_TYPES.get(kind, "double"), "name": column})
    first = classes[0] if classes else ""
    out_type = "long" if isinstance(first, int) and not isinstance(first, bool) else "string"
    return {
        "inputs": json.dumps(inputs),
        "outputs": json.dumps([{"type": out_type}]),
        "params": None,
    }


def _example_rows(sample, n: int = INPUT_EXAMPLE_ROWS):
    complete = sample.dropna()
    rows = complete if len(complete) >= n else sample
    return rows.iloc[:n]


def _mlflow_summary(with_pickle: bool, trusted_types: Sequence[str]) -> dict[str, Any]:
    """What the manifest records about the MLflow flavor: which file it loads, and how."""
    if with_pickle:
        return {"model_file": PICKLE_NAME, "serialization_format": "pickle"}
    return {
        "model_file": SKOPS_NAME,
        "serialization_format": "skops",
        "skops_trusted_types": list(trusted_types),
        "first_mlflow_release": MLFLOW_FIRST_SKOPS_RELEASE,
    }


def _write_mlflow_files(staging: Path, model, info: Mapping[str, Any], sample, env, created,
                        *, trusted_types: Sequence[str] | None) -> None:
    """The MLflow model files. With ``trusted_types`` (the default bundle) the ``sklearn`` flavor
    loads ``model.skops`` trusting exactly those types; with ``None`` it loads ``model.pkl``."""
    example = _example_rows(sample)
    split = {
        "columns": list(example.columns),
        "data": [[_json_number(v) for v in row] for row in example.itertuples(index=False, name=None)],
    }
    _write_text(staging / INPUT_EXAMPLE_NAME, json.dumps(split, allow_nan=False))
    _write_text(staging / SERVING_EXAMPLE_NAME, json.dumps({"dataframe_split": split}, indent=2, allow_nan=False))

    requirements = pinned_requirements(env, pickle_free=trusted_types is not None)
    _write_text(
        staging / REQUIREMENTS_NAME,
        "# Versions that wrote this bundle's model files. mlflow is needed only to load or serve it\n"
        "# through MLflow; predict.py needs scikit-learn, skops and pandas.\n" + "\n".join(requirements) + "\n",
    )
    _write_text(
        staging / PYTHON_ENV_NAME,
        to_yaml(
            {
                "python": env["python"],
                "build_dependencies": ["pip", "setuptools", "wheel"],
                "dependencies": [f"-r {REQUIREMENTS_NAME}"],
            }
        ),
    )
    _write_text(
        staging / CONDA_NAME,
        to_yaml(
            {
                "name": "exoreg-model-env",
                "channels": ["conda-forge"],
                "dependencies": [f"python={env['python']}", "pip", {"pip": requirements}],
            }
        ),
    )
    model_file = PICKLE_NAME if trusted_types is None else SKOPS_NAME
    sklearn_flavor: dict[str, Any] = {
        "code": None,
        "pickled_model": model_file,  # MLflow's key for the model file, whatever its format
        "serialization_format": "pickle" if trusted_types is None else "skops",
        "sklearn_version": env["sklearn"],
    }
    if trusted_types is not None:
        sklearn_flavor["skops_trusted_types"] = list(trusted_types)
    mlmodel = {
        "artifact_path": "model",
        "flavors": {
            "python_function": {
                "env": {"conda": CONDA_NAME, "virtualenv": PYTHON_ENV_NAME},
                "loader_module": "mlflow.sklearn",
                "model_path": model_file,
                "predict_fn": "predict",
                "python_version": env["python"],
            },
            "sklearn": sklearn_flavor,
        },
        "model_size_bytes": (staging / model_file).stat().st_size,
        "model_uuid": uuid.uuid4().hex,
        "utc_time_created": created.strftime("%Y-%m-%d %H:%M:%S.%f"),
        "saved_input_example_info": {
            "artifact_path": INPUT_EXAMPLE_NAME,
            "type": "dataframe",
            "pandas_orient": "split",
            "serving_input_path": SERVING_EXAMPLE_NAME,
        },
        "signature": mlflow_signature(sample, info["feature_columns"], info["classes"]),
        "metadata": {
            "exoreg_model_id": info.get("model_id"),
            "model_name": _model_name(info),
            "version": info.get("version"),
            "algorithm": info.get("algorithm"),
            "classes": [str(c) for c in info["classes"]],
        },
    }
    _write_text(staging / MLMODEL_NAME, to_yaml(mlmodel))


def _json_number(value: Any) -> Any:
    value = plain_scalar(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def pinned_requirements(env: Mapping[str, str], *, pickle_free: bool = True) -> list[str]:
    """requirements.txt's lines: the versions that wrote the model files, and an MLflow that
    reads the flavor's format (skops from :data:`MLFLOW_FIRST_SKOPS_RELEASE` on)."""
    pins = [
        f"mlflow>={MLFLOW_FIRST_SKOPS_RELEASE}" if pickle_free else "mlflow",
        f"scikit-learn=={env['sklearn']}",
        f"numpy=={env['numpy']}",
        f"scipy=={env['scipy']}",
        f"pandas=={env['pandas']}",
        f"skops=={env['skops']}",
    ]
    return pins


def _environment() -> dict[str, str]:
    from importlib import metadata as md

    def version(dist: str) -> str | None:
        try:
            return md.version(dist)
        except md.PackageNotFoundError:
            return None

    env = {
        "python": platform.python_version(),
        "sklearn": version("scikit-learn"),
        "numpy": version("numpy"),
        "scipy": version("scipy"),
        "pandas": version("pandas"),
        "skops": version("skops"),
    }
    for dist in ONNX_PACKAGES:
        found = version(dist)
        if found:
            env[dist] = found
    return env


def _exoreg_version() -> str:
    from core import __version__

    return __version__


# -- a small YAML writer (block style; strings quoted whenever a plain scalar could mislead) ---

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-/]*$")
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "none", "nan", "inf"}


def _yaml_scalar(value: Any) -> str:
    value = plain_scalar(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        if "." not in text:  # YAML 1.1 readers need a dot in a float: 1e-05 -> 1.0e-05
            mantissa, _, exponent = text.partition("e")
            text = f"{mantissa}.0e{exponent}" if exponent else f"{mantissa}.0"
        return text
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list | tuple):
        return "[]"
    text = str(value)
    if _PLAIN.fullmatch(text) and text.lower() not in _YAML_WORDS:
        return text
    return _yaml_quoted(text)


_YAML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _yaml_quoted(text: str) -> str:
    """A double-quoted YAML scalar in plain ASCII (every other character escaped)."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in _YAML_ESCAPES:
            out.append(_YAML_ESCAPES[ch])
        elif 0x20 <= code <= 0x7E:
            out.append(ch)
        elif code <= 0xFF:
            out.append(f"\\x{code:02x}")
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def to_yaml(obj: Mapping[str, Any]) -> str:
    """Serialise nested dicts / lists / scalars as block-style YAML that ``yaml.safe_load`` reads back."""
    return "\n".join(_yaml_lines(obj, 0)) + "\n"


def _yaml_lines(value: Any, indent: int) -> list[str]:
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            name = _yaml_scalar(str(key))
            if isinstance(item, Mapping | list | tuple) and len(item):
                lines.append(f"{pad}{name}:")
                lines.extend(_yaml_lines(item, indent + 1))
            else:
                lines.append(f"{pad}{name}: {_yaml_scalar(item)}")
    else:
        for item in value:
            if isinstance(item, Mapping | list | tuple) and len(item):
                sub = _yaml_lines(item, indent + 1)
                lines.append(f"{pad}- {sub[0].lstrip()}")
                lines.extend(sub[1:])
            else:
                lines.append(f"{pad}- {_yaml_scalar(item)}")
    return lines


# -- files ----------------------------------------------------------------------------------------

def _write_bytes(path: Path, data: bytes) -> None:
    write_bytes_synced(path, data)


def _write_text(path: Path, text: str) -> None:
    write_bytes_synced(path, text.encode("utf-8"))


def _fsync_dir(path: Path) -> None:
    from core.common.files import fsync_dir

    with contextlib.suppress(OSError):
        fsync_dir(path)


def _relative_files(root: Path) -> list[str]:
    names = []
    for dirpath, _dirnames, filenames in os.walk(root):
        for filename in filenames:
            names.append(Path(dirpath, filename).relative_to(root).as_posix())
    return names


def _inside(root: Path, path: Path) -> bool:
    """True when ``path`` names an entry below ``root`` by its words alone (no ``..`` out of it, not
    absolute): links are never followed, a linked entry is reported as a link instead."""
    try:
        relative = os.path.normpath(os.path.relpath(path, root))
    except ValueError:
        return False
    return not (os.path.isabs(relative) or relative == "." or relative.split(os.sep)[0] == "..")


def _file_table(root: Path) -> dict[str, dict[str, Any]]:
    from core.common.files import sha256_file

    table = {}
    for name in sorted(_relative_files(root)):
        if name == MANIFEST_NAME:
            continue
        table[name] = {"sha256": sha256_file(root / name), "size": (root / name).stat().st_size}
    return table


def _move_into_place(staging: Path, target: Path, overwrite: bool) -> None:
    """Rename the finished staging folder to ``target`` (replacing an earlier bundle if allowed)."""
    _check_target(target, overwrite)
    replace_folder(staging, target)


def _json_safe(value: Any) -> Any:
    """A JSON-serialisable copy; objects JSON cannot hold are written as their text."""
    return to_jsonable(value, unknown=str)


# -- predict.py ---------------------------------------------------------------------------------

_PREDICT_TEMPLATE = '''#!/usr/bin/env python3
"""Predict with the model of this bundle: __TITLE__.

Needs only scikit-learn, skops and pandas (see requirements.txt for the versions):

    python predict.py input.csv -o predictions.csv

The input is a CSV with the model's feature columns (other columns are ignored; NASA
`#` comment lines at the top are skipped; .csv.gz works). The output has the identifier
columns found in the input, `predicted_label` and one `probability_<class>` column per
class, the columns `exoreg predict` writes. It is written under a temporary name and renamed
at the end, never over the input nor over anything but a regular file.

model.skops is checked against the SHA-256 recorded below, then loaded with skops, trusting
only the types listed in ALLOWED_TYPES: the same explicit list the ExoReg registry uses.
Nothing outside it is ever constructed.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gzip
import hashlib
import os
import re
import stat
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODEL_FILE = HERE / "model.skops"
MODEL_SHA256 = "__MODEL_SHA256__"

FEATURE_COLUMNS = __FEATURE_COLUMNS__

CLASSES = __CLASSES__

ID_COLUMNS = __ID_COLUMNS__

# Text cells a spreadsheet would run as formulas get a leading ' in the output CSV; cells that
# read as numbers stay as they are (ExoReg's core.common.cells rule and patterns; letters are
# compared in ASCII only).
FORMULA_RE = __FORMULA_RE__
NUMBER_RE = __NUMBER_RE__
# Rows end with CR LF, so a cell holding a carriage return is quoted and can never split a row.
CSV_OPTIONS = {"lineterminator": "\\r\\n", "quoting": csv.QUOTE_MINIMAL}

# Types beyond skops' own defaults that may be constructed (ExoReg's core.safety.ALLOWED_TYPES).
ALLOWED_TYPES = __ALLOWED_TYPES__


def fail(message: str) -> None:
    print(f"predict.py: {message}", file=sys.stderr)
    raise SystemExit(1)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_model_file(path: Path = MODEL_FILE) -> None:
    if not path.is_file():
        fail(f"{path.name} is missing; keep predict.py in the bundle folder beside it.")
    if sha256(path) != MODEL_SHA256:
        fail(f"{path.name} has changed since the bundle was written (its SHA-256 differs); refusing to load it.")


def load_model(path: Path = MODEL_FILE):
    check_model_file(path)
    import skops.io as sio

    reported = sio.get_untrusted_types(file=str(path))
    outside = sorted(set(reported) - set(ALLOWED_TYPES))
    if outside:
        fail(f"{path.name} would construct types outside the allowlist: {', '.join(outside)}.")
    return sio.load(str(path), trusted=reported)


def read_table(path: Path):
    import pandas as pd

    opener = gzip.open if path.suffix == ".gz" else open
    skip = 0
    try:
        with opener(path, "rt", encoding="utf-8-sig", errors="replace") as fh:
            for line in fh:
                if not line.startswith("#"):
                    break
                skip += 1
        return pd.read_csv(path, skiprows=skip, encoding="utf-8-sig", low_memory=False)
    except FileNotFoundError:
        fail(f"{path} does not exist.")
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        fail(f"{path} cannot be read as a CSV ({exc}).")


def features(table):
    """The model's feature columns as numbers; text and infinities become missing values."""
    import numpy as np
    import pandas as pd

    missing = [c for c in FEATURE_COLUMNS if c not in table.columns]
    if missing:
        fail(f"the input lacks the feature column(s): {', '.join(missing)}.")
    X = table.loc[:, FEATURE_COLUMNS].copy()
    for column in FEATURE_COLUMNS:
        values = pd.to_numeric(X[column], errors="coerce")
        bad = int(((values.isna() & X[column].notna()) | np.isinf(values)).sum())
        if bad:
            print(f"predict.py: {bad} value(s) of {column} are not finite numbers; treated as missing.",
                  file=sys.stderr)
        X[column] = values.replace([np.inf, -np.inf], np.nan)
    return X


def predict(table, model=None):
    """A table of identifiers, the predicted label and one probability column per class."""
    import pandas as pd

    model = model if model is not None else load_model()
    X = features(table)
    out = pd.DataFrame({c: table[c].to_numpy() for c in ID_COLUMNS if c in table.columns})
    out["predicted_label"] = model.predict(X)
    proba = model.predict_proba(X)
    for i, label in enumerate(model.classes_):
        out[f"probability_{label}"] = proba[:, i]
    return out


def escape_formulas(frame):
    """``frame`` with text cells that a spreadsheet would run as a formula prefixed with '."""
    import pandas as pd

    for column in frame.columns:
        values = frame[column]
        if values.dtype != object and not isinstance(values.dtype, pd.StringDtype):
            continue
        text = values.map(lambda v: isinstance(v, str)).astype(bool)
        as_text = values.where(text, "").astype(str)
        risky = text & as_text.str.match(FORMULA_RE) & ~as_text.str.fullmatch(NUMBER_RE, flags=re.IGNORECASE | re.ASCII)
        if risky.any():
            frame[column] = values.where(~risky, "'" + as_text)
    return frame


def check_output(output: Path, source: Path) -> None:
    """Refuse an output that is the input (by any name) or that exists and is not a regular file."""
    try:
        found = os.stat(output)  # follows a link: what a write would really replace
    except FileNotFoundError:
        found = None
    except OSError as exc:
        fail(f"{output} cannot be checked ({exc.strerror}); choose another output path.")
    try:
        named = os.lstat(output)
    except OSError:
        named = None
    if named is not None and not stat.S_ISREG(named.st_mode):
        kind = ("a symbolic link" if stat.S_ISLNK(named.st_mode) else "a folder" if stat.S_ISDIR(named.st_mode)
                else "a special file (FIFO, socket or device)")
        fail(f"{output} is {kind}, not a regular file; choose another output path (-o - writes to standard output).")
    if not output.parent.is_dir():
        fail(f"the folder {output.parent} does not exist; create it or choose another output path.")
    try:
        same = found is not None and os.path.samefile(output, source)
    except OSError:  # the input is missing: reading it says so
        same = False
    if same:
        fail(f"{output} is the input file; choose another output path, so the input is kept.")


def write_csv(frame, output: Path) -> None:
    """Write ``frame`` to a temporary file beside ``output`` and rename it into place at the end."""
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".part", dir=output.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            frame.to_csv(fh, index=False, **CSV_OPTIONS)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, output)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", type=Path, help="CSV with the model's feature columns")
    parser.add_argument("-o", "--output", default="-", help="output CSV (default: standard output)")
    args = parser.parse_args(argv)
    output = None if args.output == "-" else Path(args.output)
    if output is not None:
        check_output(output, args.input)  # before any work: the input is never replaced
    check_model_file()  # before the slow imports: a changed file is refused at once
    table = read_table(args.input)
    if table is None or table.empty:
        fail(f"{args.input} has no rows.")
    result = escape_formulas(predict(table))
    if output is None:
        result.to_csv(sys.stdout, index=False, **CSV_OPTIONS)
    else:
        try:
            write_csv(result, output)
        except OSError as exc:
            fail(f"{output} could not be written ({exc.strerror or exc}); nothing was written.")
        print(f"predict.py: wrote {len(result)} predictions to {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
'''


def _py_list(values: Sequence[Any]) -> str:
    """A Python list literal, one item a line (``repr`` of a str, int or float reads back as itself)."""
    if not values:
        return "[]"
    return "[\n" + "".join(f"    {plain_scalar(v)!r},\n" for v in values) + "]"


def render_predict_script(feature_columns: Sequence[str], classes: Sequence, skops_sha256: str,
                          title: str = "a KOI disposition classifier") -> str:
    """The text of the bundle's standalone ``predict.py``."""
    from core.registry.safety import ALLOWED_TYPES

    replacements = {
        "__TITLE__": re.sub(r"[^A-Za-z0-9 _.,:@()+-]", "_", title),
        "__MODEL_SHA256__": skops_sha256,
        "__FEATURE_COLUMNS__": _py_list(list(feature_columns)),
        "__CLASSES__": _py_list(list(classes)),
        "__ID_COLUMNS__": _py_list(list(ID_COLUMNS)),
        "__FORMULA_RE__": repr(FORMULA_RE),
        "__NUMBER_RE__": repr(NUMBER_RE),
        "__ALLOWED_TYPES__": _py_list(sorted(ALLOWED_TYPES)),
    }
    text = _PREDICT_TEMPLATE
    for token, value in replacements.items():
        text = text.replace(token, value)
    return text


# -- the model card -----------------------------------------------------------------------------

def _mlflow_card_lines(with_pickle: bool) -> list[str]:
    """The card's words on how MLflow loads this bundle, and from which release."""
    if with_pickle:
        return [
            "This folder is an MLflow model (`MLmodel`, `python_function` and `sklearn` flavors) whose `sklearn` "
            "flavor loads `model.pkl`, for serving systems that read only pickles. A pickle runs code when "
            "loaded: check the bundle first (`exoreg verify-bundle`) and load it only if you trust where it "
            f"came from. MLflow {MLFLOW_FIRST_SKOPS_RELEASE} and later read the pickle-free bundle that "
            "`exoreg deploy` writes without `--with-pickle`.",
        ]
    return [
        "This folder is an MLflow model (`MLmodel`, `python_function` and `sklearn` flavors) without a pickle: "
        "the `sklearn` flavor loads `model.skops` (`serialization_format: skops`), trusting only the types listed "
        f"under `skops_trusted_types`. MLflow reads skops files from release {MLFLOW_FIRST_SKOPS_RELEASE} on "
        f"(`pip install \"mlflow-skinny>={MLFLOW_FIRST_SKOPS_RELEASE}\" scikit-learn skops pandas` is "
        "enough to load and serve it); older releases and serving "
        "systems that read only pickles need a bundle exported with `--with-pickle`.",
    ]


_HEADLINE = (("accuracy", "Accuracy"), ("precision", "Precision"), ("recall", "Recall"), ("f1_score", "F1 score"))


def _number(value: Any) -> float | None:
    value = plain_scalar(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _cell(value: Any) -> str:
    number = _number(value)
    if number is not None and not isinstance(plain_scalar(value), int):
        return f"{number:.4f}"
    text = "" if value is None else str(plain_scalar(value))
    return text.replace("|", "\\|").replace("\n", " ")


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(_cell(h) for h in headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def render_model_card(
    info: Mapping[str, Any],
    onnx_info: Mapping[str, Any],
    sample_info: Mapping[str, Any],
    env: Mapping[str, Any],
    notes: Sequence[str] = (),
    descriptions: Mapping[str, str] | None = None,
    *,
    with_pickle: bool = False,
) -> str:
    """The bundle's ``README.md``: Hugging Face style front matter, then the card's sections."""
    name = _model_name(info)
    version = info.get("version")
    title = f"{name} v{version}" if version is not None else name
    algorithm = info.get("algorithm") or "scikit-learn classifier"
    features = list(info.get("feature_columns") or [])
    classes = [str(c) for c in info.get("classes") or []]
    dataset = info.get("training_dataset") or ""
    evaluation = info.get("evaluation") if isinstance(info.get("evaluation"), Mapping) else {}
    extra_metrics = info.get("metrics") if isinstance(info.get("metrics"), Mapping) else {}
    headline = [(key, label, _number(info.get(key))) for key, label in _HEADLINE]
    headline = [(k, label, v) for k, label, v in headline if v is not None]
    onnx_ok = bool(onnx_info.get("included"))

    front: dict[str, Any] = {
        "license": info.get("license") or "unknown",
        "library_name": "sklearn",
        "pipeline_tag": "tabular-classification",
        "tags": ["sklearn", "skops", "tabular-classification", "exoplanets", "kepler", "mlflow"]
        + (["onnx"] if onnx_ok else []),
        "model_format": "skops",
        "model_file": SKOPS_NAME,
    }
    if dataset:
        front["datasets"] = [str(dataset)]
    if headline:
        front["metrics"] = [k for k, _label, _v in headline]
    front["features"] = features
    front["classes"] = classes
    if headline:
        front["model-index"] = [
            {
                "name": name,
                "results": [
                    {
                        "task": {"type": "tabular-classification", "name": "Tabular Classification"},
                        "dataset": {"type": str(dataset or "koi"), "name": str(dataset or "Kepler KOI table")},
                        "metrics": [{"type": k, "value": round(v, 6), "name": label} for k, label, v in headline],
                    }
                ],
            }
        ]

    out: list[str] = ["---", to_yaml(front).rstrip("\n"), "---", "", f"# {title}", ""]
    class_text = ", ".join(f"`{c}`" for c in classes)
    out.append(
        f"A scikit-learn {algorithm} classifier that sorts Kepler Objects of Interest (KOIs) of the NASA "
        f"Exoplanet Archive's cumulative KOI table into {class_text}, from {len(features)} columns of that table."
    )
    if info.get("description"):
        out += ["", str(info["description"])]
    out.append("")

    out += ["## Model details", ""]
    details = [
        ("Model id", info.get("model_id")),
        ("Name and version", title),
        ("Algorithm", algorithm),
        ("Trained", info.get("training_date")),
        ("Training data", dataset),
        ("Aliases", ", ".join(info.get("aliases") or [])),
        ("Library versions", f"Python {env.get('python')}, scikit-learn {env.get('sklearn')}, "
                             f"numpy {env.get('numpy')}, pandas {env.get('pandas')}, skops {env.get('skops')}"),
        ("License", front["license"]),
    ]
    out += [f"- **{k}:** {v}" for k, v in details if v not in (None, "")]
    hyper = info.get("hyperparameters") or {}
    if isinstance(hyper, Mapping) and hyper:
        out += ["", "Hyperparameters:", ""]
        out += _table(["parameter", "value"], [(k, json.dumps(_json_safe(v))) for k, v in hyper.items()])
    out.append("")

    out += ["## Intended use and limits", ""]
    out.append(
        "- Intended for ranking and triaging KOIs by how much they resemble confirmed planets versus false "
        "positives, for research and teaching."
    )
    if CANDIDATE not in classes:
        out.append(
            "- The model was trained on dispositioned KOIs only. CANDIDATE rows are unlabelled: the model has "
            "never seen one, and its predictions on them are suggestions, not dispositions."
        )
    else:
        out.append(
            "- CANDIDATE is one of the classes: it means \"not yet dispositioned\", not a kind of object, so "
            "a CANDIDATE prediction says the row looks like those still awaiting vetting."
        )
    out.append(
        "- It is no substitute for vetting: a prediction does not confirm a planet. Confirmation needs "
        "follow-up observations and the archive's own vetting."
    )
    out.append(
        "- The metrics below come from a held-out part of the same catalogue; other surveys (K2, TESS) or "
        "later data releases may behave differently. Probabilities are model scores; check their "
        "calibration before reading them as rates."
    )
    flags = [c for c in features if c.startswith("koi_fpflag_")]
    if flags:
        out.append(
            f"- The features include the Kepler vetting flags ({', '.join(flags)}) on purpose: each is the "
            "outcome of one diagnostic test, not the vetting's verdict (which is never a feature). They are "
            "strong evidence and the model leans on them, so it only suits objects that have been through the "
            "same vetting."
        )
    out.append("")

    out += ["## Training data", ""]
    if dataset:
        out.append(f"- Dataset: {dataset}")
    for key, label in (("training_samples", "Training rows"), ("test_samples", "Held-out test rows")):
        if info.get(key) is not None:
            out.append(f"- {label}: {info[key]}")
    distribution = info.get("class_distribution") or {}
    if isinstance(distribution, Mapping) and distribution:
        out.append("- Class distribution: " + ", ".join(f"{k}: {v}" for k, v in distribution.items()))
    out.append(
        "- Feature leakage: " + ", ".join(f"`{c}`" for c in LEAKY_COLUMNS[:-1]) + f" and `{LEAKY_COLUMNS[-1]}` "
        "are never features. They "
        "come from the vetting that produced the labels, so a model using them would only repeat the answer "
        "(the export refuses a model that uses them)."
    )
    out.append("")

    out += ["## Features", "", "In this order (the ONNX input's column order too):", ""]
    described = descriptions or {}
    out += [f"{i}. `{c}`" + (f": {described[c]}" if c in described else "") for i, c in enumerate(features, 1)]
    out.append("")

    out += ["## Evaluation", ""]
    if headline:
        out += _table(["metric", "value"], [(label, v) for _k, label, v in headline])
        if info.get("test_samples") is not None:
            out += ["", f"Measured on {info['test_samples']} held-out rows."]
    else:
        out.append("No metrics were recorded for this model.")
    others = [(k, _number(v)) for k, v in extra_metrics.items() if _number(v) is not None]
    if others:
        out += ["", "Other recorded metrics:", ""]
        out += _table(["metric", "value"], others)
    per_class = evaluation.get("per_class") if isinstance(evaluation, Mapping) else None
    if isinstance(per_class, Mapping) and per_class:
        out += ["", "### Per class", ""]
        rows = []
        for label, scores in per_class.items():
            scores = scores if isinstance(scores, Mapping) else {}
            rows.append((label, scores.get("precision"), scores.get("recall"),
                         scores.get("f1", scores.get("f1_score", scores.get("f1-score"))), scores.get("support")))
        out += _table(["class", "precision", "recall", "F1", "support"], rows)
    matrix = evaluation.get("confusion_matrix") if isinstance(evaluation, Mapping) else None
    if isinstance(matrix, Mapping) and matrix.get("matrix"):
        labels = [str(x) for x in matrix.get("labels") or classes]
        out += ["", "### Confusion matrix", "", "Rows: true class; columns: predicted class.", ""]
        out += _table(["true \\ predicted", *labels], [(lab, *row) for lab, row in zip(labels, matrix["matrix"], strict=False)])
    importances = evaluation.get("feature_importances") if isinstance(evaluation, Mapping) else None
    if isinstance(importances, Mapping) and importances:
        ranked = sorted(((k, _number(v)) for k, v in importances.items() if _number(v) is not None),
                        key=lambda kv: -kv[1])[:10]
        out += ["", "### Most important features", ""]
        out += _table(["feature", "importance"], ranked)
    out.append("")

    out += ["## ONNX", ""]
    out.append(("" if onnx_ok else "**Not included.** ") + str(onnx_info.get("message", "")))
    parity = onnx_info.get("parity")
    if isinstance(parity, Mapping):
        source = parity.get("sample_source")
        out.append("")
        out.append(
            f"Parity was checked on {parity.get('rows')} rows ({source}). Bounds: labels agree on at least "
            f"{MIN_LABEL_AGREEMENT:.1%} of rows, probabilities within {MAX_PROBA_DIFFERENCE:g}."
        )
    if sample_info.get("source") == "synthetic":
        out += ["", "No real rows were given at export, so the check used synthetic rows; rerun the export "
                "with a sample of real KOI rows for a stronger check."]
    out.append("")

    out += ["## How to use it", ""]
    out += [
        "### With predict.py (scikit-learn, skops and pandas only)",
        "",
        "```bash",
        "pip install -r requirements.txt   # or just scikit-learn, skops and pandas at those versions",
        "python predict.py koi_table.csv -o predictions.csv",
        "```",
        "",
        "### With scikit-learn and skops",
        "",
        "```python",
        "import pandas as pd",
        "import skops.io as sio",
        "",
        "# run from this folder: predict.py holds the explicit allowlist and the feature columns",
        "from predict import ALLOWED_TYPES, FEATURE_COLUMNS",
        "",
        'untrusted = sio.get_untrusted_types(file="model.skops")',
        "assert set(untrusted) <= set(ALLOWED_TYPES), untrusted",
        'model = sio.load("model.skops", trusted=untrusted)',
        'X = pd.read_csv("koi_table.csv", comment="#")[FEATURE_COLUMNS]',
        "probabilities = model.predict_proba(X)  # columns in the order of model.classes_",
        "```",
        "",
        "### With MLflow",
        "",
        *_mlflow_card_lines(with_pickle),
        "",
        "```python",
        "import mlflow.pyfunc",
        'model = mlflow.pyfunc.load_model("path/to/this/folder")',
        "labels = model.predict(X)",
        "```",
        "",
        "```bash",
        "mlflow models serve -m path/to/this/folder --env-manager local -p 5000",
        "curl -s localhost:5000/invocations -H 'Content-Type: application/json' -d @serving_input_example.json",
        "```",
        "",
    ]
    if onnx_ok:
        out += [
            "### With onnxruntime",
            "",
            "```python",
            "import numpy as np",
            "import onnxruntime as ort",
            "",
            'session = ort.InferenceSession("model.onnx", providers=["CPUExecutionProvider"])',
            f'labels, probabilities = session.run(None, {{"{ONNX_INPUT_NAME}": X[FEATURE_COLUMNS].to_numpy(np.float32)}})',
            "```",
            "",
            "The input is float32 with missing values as NaN; probability columns follow the class order "
            f"{class_text}.",
            "",
        ]
    else:
        out += ["### With onnxruntime", "", "Not available for this bundle: " + str(onnx_info.get("message", "")), ""]

    out += ["## Files", ""]
    listing = [(MLMODEL_NAME, "MLflow model description")]
    if with_pickle:
        listing.append((PICKLE_NAME, "the model, pickled for MLflow"))
    listing.append((SKOPS_NAME, "the model in the skops format" + ("" if with_pickle else ", loaded by MLflow too")))
    if onnx_ok:
        listing.append((ONNX_NAME, "the model in ONNX"))
    listing += [
        (PREDICT_NAME, "standalone prediction script"),
        (REQUIREMENTS_NAME, "pinned Python packages"),
        (PYTHON_ENV_NAME, "MLflow virtualenv description"),
        (CONDA_NAME, "MLflow conda environment"),
        (INPUT_EXAMPLE_NAME, "example input rows (pandas split orient)"),
        (SERVING_EXAMPLE_NAME, "example request body for the MLflow server"),
        (CARD_NAME, "this card"),
        (MANIFEST_NAME, "SHA-256 and size of every other file, and the registry metadata"),
    ]
    out += [f"- `{n}`: {d}" for n, d in listing]
    out += ["", "Check that nothing changed with `exoreg verify-bundle path/to/this/folder`, or compare "
            "`sha256sum` output with `manifest.json`."]
    if notes:
        out += ["", "## Notes", ""]
        out += [f"- {n}" for n in notes]
    out.append("")
    return "\n".join(out)
