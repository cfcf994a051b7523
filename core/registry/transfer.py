"""Moving models in and out of a registry: export, import (with the trust gate), backups.

A hash that travels with a file (its metadata JSON, an archive's manifest) proves the
file arrived intact; it never makes the file trusted. Trust comes from a person
(``trusted=True``) or from a signature this user's key made.
"""

from __future__ import annotations

import datetime as _dt
import io
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.common import jsonio
from core.common.files import (
    FileTooLargeError,
    NotRegularFileError,
    atomic_file,
    atomic_write_bytes,
    read_regular_file,
    sha256_bytes,
)
from core.errors import (
    IntegrityError,
    MetadataValidationError,
    RegistryError,
    UnsafeArchiveError,
    UntrustedModelError,
)
from core.registry import archives, safety
from core.registry.metadata import (
    HEADLINE_METRICS,
    MAX_METADATA_BYTES,
    OVERLAP_UNKNOWN,
    ModelMetadata,
    check_new_model_name,
    raise_problems,
    validate_model_name,
)
from core.registry.store.base import MAX_SIDECAR_BYTES, SIDECARS, sidecar_record

__all__ = ["ImportPreview", "import_model", "preview_import"]

if TYPE_CHECKING:
    from core.registry.registry import ModelRegistry

ARCHIVE_SUFFIX = ".exoreg"
ARCHIVE_FORMAT = "exoreg-model"
BACKUP_FORMAT = "exoreg-backup"
MAX_MODEL_BYTES = 2 << 30
MAX_BACKUP_MANIFEST_BYTES = 256 << 20  # ~400 bytes per version
_MODEL_MEMBERS = {"model.skops": safety.SKOPS, "model.pkl": safety.PICKLE}
#: The archive members that carry a version's sidecars, by kind.
ARCHIVE_SIDECARS = {"training_rows": "training_rows.bin", "training_profile": "training_profile.json"}
MAX_ARCHIVE_BYTES = MAX_MODEL_BYTES + 2 * MAX_METADATA_BYTES + len(SIDECARS) * MAX_SIDECAR_BYTES
_SUFFIX = {safety.SKOPS: ".skops", safety.PICKLE: ".pkl"}


# ============================================================================ export
def export_model(registry: ModelRegistry, model_id: str, export_path: str | os.PathLike) -> dict[str, Path]:
    """Write ``<id>.skops``, ``<id>.json`` and a single-file ``<id>.exoreg`` into ``export_path``."""
    meta = registry.get_metadata(model_id)
    payload = registry.model_bytes(model_id, meta)
    if sha256_bytes(payload) != meta.model_sha256:
        raise IntegrityError(
            f"The model file {meta.model_file} does not match its recorded SHA-256; it was not exported."
        )
    folder = Path(export_path)
    folder.mkdir(parents=True, exist_ok=True)
    stem = Path(meta.model_file).stem
    model_suffix = _SUFFIX.get(meta.model_format, ".skops")
    metadata_bytes = meta.to_json().encode("utf-8")
    sidecars = {
        ARCHIVE_SIDECARS[kind]: registry._sidecar(meta, kind)[1]
        for kind in SIDECARS
        if sidecar_record(meta, kind) is not None
    }

    model_out = atomic_write_bytes(folder / f"{stem}{model_suffix}", payload)
    metadata_out = atomic_write_bytes(folder / f"{stem}.json", metadata_bytes)
    member = "model" + model_suffix
    manifest = {
        "format": ARCHIVE_FORMAT,
        "format_version": 1,
        "model_id": meta.model_id,
        "exported_at": _now(),
        "files": {
            member: {"sha256": sha256_bytes(payload), "size": len(payload)},
            "metadata.json": {"sha256": sha256_bytes(metadata_bytes), "size": len(metadata_bytes)},
            **{name: {"sha256": sha256_bytes(data), "size": len(data)} for name, data in sidecars.items()},
        },
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("manifest.json", jsonio.dumps(manifest, indent=True), compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("metadata.json", metadata_bytes, compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr(member, payload, compress_type=zipfile.ZIP_STORED)
        for name, data in sidecars.items():
            zf.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
    archive_out = atomic_write_bytes(folder / f"{stem}{ARCHIVE_SUFFIX}", buffer.getvalue())
    return {"model": model_out, "metadata": metadata_out, "archive": archive_out}


# ============================================================================ import
@dataclass
class ImportPreview:
    """Everything a person should see before a model file is registered."""

    source: str
    metadata: ModelMetadata | None  # None: a bare model file; its details come from the person
    model_bytes: bytes = field(repr=False)
    format: str
    sha256: str
    checksum_ok: bool | None  # None when nothing travelled with the file to compare against
    inspection: safety.InspectionReport
    #: What the version was trained on, as an archive carried it (``{kind: bytes}``), each checked.
    sidecars: dict[str, bytes] = field(default_factory=dict, repr=False)
    #: One sentence for each sidecar the archive carried but that is left out (damaged, too big...).
    warnings: list[str] = field(default_factory=list)

    @property
    def needs_trust(self) -> bool:
        return not self.inspection.safe

    @property
    def needs_details(self) -> bool:
        """True for a model file that came without metadata (see :func:`outside_metadata`)."""
        return self.metadata is None

    def to_dict(self) -> dict[str, Any]:
        meta = self.metadata
        return {
            "source": self.source,
            "model_name": meta.model_name if meta else None,
            "original_id": meta.model_id if meta else None,
            "algorithm": meta.algorithm if meta else None,
            "format": self.format,
            "sha256": self.sha256,
            "size": len(self.model_bytes),
            "checksum_ok": self.checksum_ok,
            "needs_trust": self.needs_trust,
            "inspection": self.inspection.to_dict(),
            "training_records": sorted(self.sidecars),
            "warnings": list(self.warnings),
        }


def preview_import(
    model_path: str | os.PathLike, metadata_path: str | os.PathLike | None = None
) -> ImportPreview:
    """Read and validate an archive or a model + metadata pair without loading or registering anything.

    A model file with no metadata beside it (and none named) gives a preview whose ``metadata`` is
    None: it can be imported once a person says what the file does not (:func:`outside_metadata`).
    """
    model_path = Path(model_path)
    if not model_path.is_file():
        raise FileNotFoundError(f"No file at {model_path}; check the path.")
    # Read once: what is checked, shown to the person and registered are these same bytes.
    data = _read_input(model_path, MAX_ARCHIVE_BYTES, UnsafeArchiveError)
    sidecars: dict[str, bytes] = {}
    warnings: list[str] = []
    if metadata_path is None and _is_exoreg_archive(data, model_path.name):
        payload, meta_dict, checksum_ok, name = _read_archive(data, model_path.name, sidecars, warnings)
        meta_label = f"metadata.json in {model_path.name}"
    else:
        payload, meta_dict, checksum_ok, name = _read_pair(model_path, data, metadata_path)
        meta_label = (Path(metadata_path) if metadata_path is not None else model_path.with_suffix(".json")).name
    meta = None if meta_dict is None else import_metadata(meta_dict, label=meta_label)
    fmt = safety.detect_format(payload, name=name)
    if fmt == safety.UNKNOWN:
        raise UntrustedModelError(f"{name} is neither a skops file nor a pickle; it cannot be imported.")
    digest = sha256_bytes(payload)
    if meta is not None and meta.model_sha256:
        checksum_ok = checksum_ok is not False and meta.model_sha256 == digest
    if checksum_ok is False:
        raise IntegrityError(
            f"{name} does not match the SHA-256 that came with it; it was changed or damaged in transit."
        )
    return ImportPreview(
        source=str(model_path),
        metadata=meta,
        model_bytes=payload,
        format=fmt,
        sha256=digest,
        checksum_ok=checksum_ok,
        inspection=safety.inspect_model_file(payload, name=name),
        sidecars=sidecars,
        warnings=warnings,
    )


def import_model(
    registry: ModelRegistry,
    model_path: str | os.PathLike,
    metadata_path: str | os.PathLike | None = None,
    *,
    trusted: bool = False,
    preview: ImportPreview | None = None,
    metadata: ModelMetadata | None = None,
    model: Any = None,
) -> str:
    """Register an exported model as the next version of its name; returns the new id.

    Pass the ``preview`` a person was shown (and trusted): exactly its bytes are registered,
    and the file is not read again (it could have been swapped since). ``metadata`` replaces the
    preview's (for a bare model file, from :func:`outside_metadata`); ``model`` is the already
    loaded model of those bytes (:func:`load_previewed_model`), so it is not loaded twice.
    """
    if preview is None:
        preview = preview_import(model_path, metadata_path)
    name = Path(preview.source).name
    meta = metadata if metadata is not None else preview.metadata
    if meta is None:
        raise MetadataValidationError(
            f"No metadata found for {name} (looked for {Path(name).with_suffix('.json').name}); pass the exported "
            f"JSON too, or import it as an outside model by naming it: exoreg import {name} --name NAME.",
            field="metadata",
        )
    meta.model_name = check_new_model_name(meta.model_name)  # before anything is loaded
    if model is None:
        model = load_previewed_model(preview, trusted=trusted)
    n_features = getattr(model, "n_features_in_", None)
    if meta.feature_columns and n_features is not None and int(n_features) != len(meta.feature_columns):
        raise MetadataValidationError(
            f"The metadata lists {len(meta.feature_columns)} feature columns but the model expects {n_features}.",
            field="feature_columns",
        )
    original_id = meta.model_id
    meta.model_id = "pending"
    meta.aliases = []  # aliases belong to the registry that set them
    meta.status = "active"
    meta.model_format = preview.format
    meta.file_signature = safety.sign_digest(preview.sha256) if preview.needs_trust else ""
    meta.imported_from = {
        "model_id": original_id,
        "file_name": name,
        "sha256": preview.sha256,
        "import_date": _now(),
        "trusted_by_user": bool(preview.needs_trust),
    }
    return registry.register_bytes(
        meta, preview.model_bytes, suffix=_SUFFIX[preview.format], sidecars=preview.sidecars
    )


def load_previewed_model(preview: ImportPreview, *, trusted: bool = False) -> Any:
    """Load the previewed bytes; a file that needs trust is refused unless ``trusted`` (the message lists why)."""
    name = Path(preview.source).name
    if preview.needs_trust and not trusted:
        shown = ", ".join(preview.inspection.untrusted[:6]) or "unknown code"
        what = (
            "is a pickle, which runs code when loaded"
            if preview.format == safety.PICKLE
            else "would construct types this application does not trust"
        )
        raise UntrustedModelError(
            f"{name} {what} ({shown}); import it with trust only if you know its source.",
            untrusted=preview.inspection.untrusted,
        )
    return safety.load_model_bytes(preview.model_bytes, trusted=trusted, name=name)


def same_model_file(registry: ModelRegistry, preview: ImportPreview) -> ModelMetadata | None:
    """The registered version (deleted ones included) whose model file is exactly the previewed one."""
    return registry.same_model_file(preview.model_bytes)


def duplicate_message(preview: ImportPreview, existing: ModelMetadata) -> str:
    """What to tell a person who imports a file the registry already holds."""
    deleted = " (deleted; restore it with `exoreg restore " + existing.model_id + "`)" if existing.is_deleted else ""
    return (
        f"{Path(preview.source).name}: this is the same model file as {existing.model_name} v{existing.version}"
        f"{deleted} ({existing.model_id}), so it was not imported again"
    )


# ------------------------------------------------------------------ metadata given with a file
def import_metadata(data: Any, *, label: str = "Metadata") -> ModelMetadata:
    """Metadata given with a file to import, checked at once: every missing or invalid field is named.

    The minimal file holds the fields of :data:`~core.registry.metadata.REQUIRED_FIELDS`; a headline
    metric nobody measured is ``null`` (unknown).
    """
    return ModelMetadata.from_dict(data, label=label)


# ------------------------------------------------------------------ outside models
#: Algorithm names of the estimators ExoReg trains, by their scikit-learn class name.
KNOWN_ALGORITHMS = {
    "RandomForestClassifier": "RandomForest",
    "MLPClassifier": "NeuralNetwork",
    "SVC": "SVM",
}


@dataclass(frozen=True)
class EstimatorFacts:
    """What a loaded model says about itself (for pre-filling what a bare file does not say)."""

    algorithm: str
    feature_columns: list[str]  # from feature_names_in_; empty when the model was fitted on an array
    n_features: int | None
    classes: list[Any]


def estimator_facts(model: Any) -> EstimatorFacts:
    """The algorithm (from the final step's class), feature names and classes a fitted model records."""
    final = model
    while getattr(final, "steps", None):
        final = final.steps[-1][1]
    inner = getattr(final, "estimator", None)  # CalibratedClassifierCV and other wrappers
    if type(final).__name__ == "CalibratedClassifierCV" and inner is not None:
        final = inner
        while getattr(final, "steps", None):
            final = final.steps[-1][1]
    class_name = type(final).__name__
    algorithm = KNOWN_ALGORITHMS.get(class_name) or class_name.removesuffix("Classifier") or class_name
    names = getattr(model, "feature_names_in_", None)
    n_features = getattr(model, "n_features_in_", None)
    classes = getattr(model, "classes_", None)
    return EstimatorFacts(
        algorithm=algorithm,
        feature_columns=[str(c) for c in names] if names is not None else [],
        n_features=int(n_features) if n_features is not None else None,
        classes=[c.item() if hasattr(c, "item") else c for c in classes] if classes is not None else [],
    )


def outside_metadata(
    preview: ImportPreview,
    model: Any,
    *,
    name: str,
    algorithm: str | None = None,
    feature_columns: list[str] | None = None,
) -> ModelMetadata:
    """Metadata for a model file that came without any: what the person said, the rest from the model.

    The algorithm defaults to the estimator's, the feature columns to ``feature_names_in_``;
    headline metrics are unknown until :func:`record_scores` adds some. Every problem with
    what was given is reported at once.
    """
    from core.registry.registry import _estimator_params, _jsonable

    facts = estimator_facts(model)
    file_name = Path(preview.source).name
    problems: list[MetadataValidationError] = []
    try:
        validate_model_name(name)
    except MetadataValidationError as exc:
        problems.append(exc)
    columns = [str(c).strip() for c in feature_columns] if feature_columns else list(facts.feature_columns)
    if not columns:
        problems.append(MetadataValidationError(
            f"{file_name} does not record its feature columns; give them with --features a,b,c or "
            "--features-from FILE.csv.",
            field="feature_columns",
        ))
    elif facts.n_features is not None and len(columns) != facts.n_features:
        problems.append(MetadataValidationError(
            f"{len(columns)} feature columns were given but {file_name} expects {facts.n_features}; "
            "give exactly the columns it was fitted on, in order.",
            field="feature_columns",
        ))
    elif facts.feature_columns and columns != facts.feature_columns:
        problems.append(MetadataValidationError(
            f"The feature columns given differ from those {file_name} was fitted on "
            f"({', '.join(facts.feature_columns[:5])}…); leave them out to use the model's own.",
            field="feature_columns",
        ))
    elif len(set(columns)) != len(columns) or not all(columns):
        problems.append(MetadataValidationError(
            "The feature columns given contain an empty or repeated name; give each column once.",
            field="feature_columns",
        ))
    if problems:
        raise_problems(problems, f"What was given for {file_name}")
    meta = ModelMetadata(
        model_id="not recorded",
        model_name=name,
        algorithm=(algorithm or facts.algorithm).strip() or facts.algorithm,
        version=1,
        training_date=_now(),
        accuracy=None,
        precision=None,
        recall=None,
        f1_score=None,
        hyperparameters=_jsonable(_estimator_params(model)),
        feature_columns=columns,
        classes=_jsonable(facts.classes),
        description=f"Imported from {file_name}; its training data was not recorded with it.",
    )
    raise_problems(meta.problems(), f"What was given for {file_name}")
    return meta


def record_scores(
    meta: ModelMetadata,
    metrics: dict[str, float],
    *,
    source: dict[str, Any],
    per_class: dict[str, Any] | None = None,
    confusion_matrix: dict[str, Any] | None = None,
) -> ModelMetadata:
    """Record metrics scored on a labelled file whose overlap with the training rows is unknown.

    They become the headline metrics, marked :data:`OVERLAP_UNKNOWN` (``metrics_caveat``), which
    keeps the version out of "best" until a person confirms them.
    """
    for name in HEADLINE_METRICS:
        value = metrics.get(name)
        setattr(meta, name, float(value) if isinstance(value, int | float) else None)
    meta.metrics = {k: float(v) for k, v in metrics.items() if k not in HEADLINE_METRICS and isinstance(v, int | float)}
    meta.evaluation = {**meta.evaluation, "scored_on": dict(source)}
    if per_class:
        meta.evaluation["per_class"] = per_class
    if confusion_matrix:
        meta.evaluation["confusion_matrix"] = confusion_matrix
    meta.test_samples = source.get("rows_scored")
    meta.metrics_caveat = OVERLAP_UNKNOWN
    meta.validate()
    return meta


def _read_input(path: Path, limit: int, too_large: type[RegistryError]) -> bytes:
    """The bytes of a file given for import, read once from a regular file of at most ``limit`` bytes."""
    try:
        return read_regular_file(path, max_bytes=limit)
    except NotRegularFileError as exc:
        raise UnsafeArchiveError(
            f"{path.name} is {exc.kind}, not a file; give the path of an exported model file."
        ) from exc
    except FileTooLargeError as exc:
        if too_large is MetadataValidationError:
            raise MetadataValidationError(f"{path.name} is too large to be real metadata.", field="metadata") from exc
        raise too_large(f"{path.name} is larger than {limit:,} bytes; it is not an exported model.") from exc


def _archive_limits() -> archives.ZipLimits:
    return archives.ZipLimits(max_member=MAX_MODEL_BYTES, max_total=MAX_ARCHIVE_BYTES, max_count=8)


def _is_exoreg_archive(data: bytes, name: str) -> bool:
    """A zip with a manifest and no skops schema (a zip bomb raises :class:`UnsafeArchiveError`)."""
    if not data.startswith(b"PK\x03\x04"):
        if name.lower().endswith(ARCHIVE_SUFFIX):
            what = "is empty" if not data else "does not begin like a zip file"
            raise UnsafeArchiveError(
                f"{name} {what}, so it is not an ExoReg archive (cut short, or another kind of file) and nothing "
                "was imported; copy or export it again in full."
            )
        return False
    try:
        sniff = archives.ZipLimits(max_member=MAX_MODEL_BYTES, max_total=MAX_ARCHIVE_BYTES)
        with archives.open_zip(data, limits=sniff, label=name) as zf:
            names = zf.namelist()
    except archives.NotAZipError as exc:
        if name.lower().endswith(ARCHIVE_SUFFIX):
            raise _cut_short(name) from exc
        return False
    except UnsafeArchiveError:
        return True  # refused again, with the reason, when read as an archive
    if "manifest.json" in names and "schema.json" not in names:
        return True
    if name.lower().endswith(ARCHIVE_SUFFIX):
        # Cut before its own member list, an archive shows the member list of the model file
        # stored inside it: what opened is not the archive.
        raise _cut_short(name)
    return False


def _cut_short(name: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(
        f"{name} is not a complete ExoReg archive (the end, where a zip lists its members, is missing or "
        "damaged: the file was cut short), so nothing was imported; copy or export it again in full."
    )


def _read_archive(
    data: bytes, archive_name: str, sidecars: dict[str, bytes], warnings: list[str]
) -> tuple[bytes, dict, bool, str]:
    """The model bytes, metadata, checksum verdict and member name of an archive.

    The sidecars it carries land in ``sidecars``; one that is too big, damaged, does not match
    the manifest or the metadata, or is not what its kind holds is left out, with one sentence in
    ``warnings``: the version imports without it (scoring then says its overlap is unknown).
    """
    allowed = {"manifest.json", "metadata.json", *_MODEL_MEMBERS, *ARCHIVE_SIDECARS.values()}
    path = Path(archive_name)  # for messages only: the archive is ``data``
    with archives.open_zip(data, limits=_archive_limits(), allowed=allowed.__contains__, label=archive_name) as zf:
        infos = {i.filename: i for i in zf.files}
        models = [n for n in infos if n in _MODEL_MEMBERS]
        if "manifest.json" not in infos or "metadata.json" not in infos or len(models) != 1:
            raise UnsafeArchiveError(
                f"{path.name} must hold manifest.json, metadata.json and one model file."
            )
        for small in ("manifest.json", "metadata.json"):
            if infos[small].file_size > MAX_METADATA_BYTES:
                raise UnsafeArchiveError(f"{small} in {path.name} is too large to be real metadata.")
        manifest = _parse_json(
            archives.read_member(zf, infos["manifest.json"]), f"manifest.json in {path.name}"
        )
        meta_bytes = archives.read_member(zf, infos["metadata.json"])
        payload = archives.read_member(zf, infos[models[0]])
        carried: dict[str, bytes | str] = {}
        for kind, member in ARCHIVE_SIDECARS.items():
            if member not in infos:
                continue
            if infos[member].file_size > MAX_SIDECAR_BYTES:
                carried[kind] = f"is {infos[member].file_size:,} bytes, over the {MAX_SIDECAR_BYTES:,}-byte limit"
                continue
            try:
                carried[kind] = archives.read_member(zf, infos[member])
            except UnsafeArchiveError:
                carried[kind] = "is damaged inside the archive"
    if not isinstance(manifest, dict) or manifest.get("format") != ARCHIVE_FORMAT:
        raise UnsafeArchiveError(
            f"{path.name} is not an ExoReg model archive (its manifest has another format)."
        )
    files = manifest.get("files") or {}
    ok = True
    for member, data in ((models[0], payload), ("metadata.json", meta_bytes)):
        recorded = (files.get(member) or {}).get("sha256")
        if recorded != sha256_bytes(data):
            ok = False
    if not ok:
        raise IntegrityError(
            f"{path.name} does not match its manifest's SHA-256s; it was changed or damaged in transit."
        )
    meta_dict = _parse_json(meta_bytes, f"metadata.json in {path.name}")
    for kind, got in carried.items():
        problem = got if isinstance(got, str) else _sidecar_problem(kind, got, files, meta_dict)
        if problem is None:
            sidecars[kind] = got  # type: ignore[assignment]
        else:
            warnings.append(
                f"{path.name}: its {kind.replace('_', ' ')} record {problem}, so the version is imported without it."
            )
    return payload, meta_dict, True, f"{path.name}:{models[0]}"


def _sidecar_problem(kind: str, data: bytes, files: dict, meta_dict: Any) -> str | None:
    """Why an archive's ``kind`` sidecar cannot be imported, or None when it can."""
    from core.registry.records import TrainingRecordError
    from core.registry.registry import check_sidecar_bytes

    digest = sha256_bytes(data)
    if (files.get(ARCHIVE_SIDECARS[kind]) or {}).get("sha256") != digest:
        return "does not match the archive's manifest"
    records = meta_dict.get("sidecars") if isinstance(meta_dict, dict) else None
    recorded = records.get(kind) if isinstance(records, dict) else None
    if isinstance(recorded, dict) and recorded.get("sha256") not in (None, digest):
        return "does not match the SHA-256 its metadata recorded"
    try:
        check_sidecar_bytes(kind, data, label="it")
    except TrainingRecordError:
        return "is damaged or not one ExoReg wrote"
    return None


def _read_pair(
    model_path: Path, payload: bytes, metadata_path: str | os.PathLike | None
) -> tuple[bytes, dict | None, bool | None, str]:
    meta_path = Path(metadata_path) if metadata_path is not None else model_path.with_suffix(".json")
    if metadata_path is None and not meta_path.exists():
        if len(payload) > MAX_MODEL_BYTES:
            raise UnsafeArchiveError(f"{model_path.name} is larger than {MAX_MODEL_BYTES:,} bytes.")
        return payload, None, None, model_path.name  # a bare model file: its details come from a person
    if not meta_path.is_file():
        raise MetadataValidationError(
            f"No metadata found for {model_path.name} (looked for {meta_path.name}); pass the exported JSON too.",
            field="metadata",
        )
    meta_bytes = _read_input(meta_path, MAX_METADATA_BYTES, MetadataValidationError)
    if len(payload) > MAX_MODEL_BYTES:
        raise UnsafeArchiveError(f"{model_path.name} is larger than {MAX_MODEL_BYTES:,} bytes.")
    return payload, _parse_json(meta_bytes, meta_path.name), None, model_path.name


def _parse_json(data: bytes, label: str, *, max_bytes: int = MAX_METADATA_BYTES) -> Any:
    try:
        return jsonio.loads(data, max_bytes=max_bytes)
    except jsonio.JSONLimitError as exc:
        raise MetadataValidationError(
            f"{label} {exc}; use a file the registry exported.", field="metadata"
        ) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise MetadataValidationError(f"{label} is not valid JSON ({exc}).", field="metadata") from exc


# ============================================================================ backups
def backup_registry(registry: ModelRegistry, dest: str | os.PathLike, *, progress=None) -> Path:
    """Write the whole registry (models, metadata, manifest) into one zip, atomically."""
    dest = Path(dest)
    if dest.suffix.lower() != ".zip":
        dest = dest.with_suffix(dest.suffix + ".zip")
    with atomic_file(dest) as tmp, registry.snapshot() as snapshot, zipfile.ZipFile(tmp, "w") as zf:
        files = {}
        for i, member in enumerate(snapshot, start=1):
            compress = zipfile.ZIP_DEFLATED if member.name.endswith(".json") else zipfile.ZIP_STORED
            files[member.name] = {"sha256": sha256_bytes(member.data), "size": len(member.data)}
            if member.name.startswith("metadata/"):
                _check_backed_up_model(ModelMetadata.from_json(member.data), files)
            zf.writestr(member.name, member.data, compress_type=compress)
            if progress:
                progress(i, len(snapshot))
        manifest = {
            "format": BACKUP_FORMAT,
            "format_version": 1,
            "created_at": _now(),
            "source": registry.location,
            "versions": snapshot.versions,
            "files": files,
        }
        zf.writestr("manifest.json", jsonio.dumps(manifest, indent=True), compress_type=zipfile.ZIP_DEFLATED)
    return dest


def _check_backed_up_model(meta: ModelMetadata, files: dict[str, dict[str, Any]]) -> None:
    """A backup holds only model files that match their metadata's SHA-256 (else nothing is written)."""
    entry = files.get("models/" + meta.model_file)
    if meta.model_sha256 and entry is not None and entry["sha256"] != meta.model_sha256:
        raise IntegrityError(
            f"The model file {meta.model_file} of {meta.model_id} does not match its recorded SHA-256, so no "
            "backup was written; run `exoreg verify` and restore or delete that version first."
        )


def _backup_member_allowed(name: str) -> bool:
    parts = name.split("/")
    if name == "manifest.json":
        return True
    return (
        len(parts) == 2
        and parts[0] in ("models", "metadata", "sidecars")
        and bool(parts[1])
        and not parts[1].startswith(".")
    )


def restore_backup(archive: str | os.PathLike, root: str | os.PathLike, *, progress=None) -> int:
    """Restore a backup into ``root`` (which must be empty or absent); returns the versions restored."""
    from core.registry.registry import ModelRegistry

    archive, root = Path(archive), Path(root)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise RegistryError(f"{root} is not empty; restore into a new folder so nothing is overwritten.")
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".exoreg-restore-", dir=root.parent))
    try:
        limits = archives.ZipLimits(max_member=MAX_MODEL_BYTES, max_total=64 << 30)
        with archives.open_zip(archive, limits=limits, allowed=_backup_member_allowed, label=archive.name) as zf:
            by_name = {i.filename: i for i in zf.files}
            if "manifest.json" not in by_name:
                raise UnsafeArchiveError(f"{archive.name} has no manifest.json; it is not an ExoReg backup.")
            manifest = _parse_json(
                archives.read_member(zf, by_name.pop("manifest.json")),
                f"the manifest of {archive.name}",
                max_bytes=MAX_BACKUP_MANIFEST_BYTES,
            )
            if not isinstance(manifest, dict) or manifest.get("format") != BACKUP_FORMAT:
                raise UnsafeArchiveError(
                    f"{archive.name} is not an ExoReg backup (its manifest has another format)."
                )
            expected = manifest.get("files") or {}
            if set(expected) != set(by_name):
                raise IntegrityError(f"{archive.name} does not hold exactly the files its manifest lists.")
            for i, info in enumerate(by_name.values(), start=1):
                _, digest = archives.extract_member(zf, info, staging)
                if digest != expected[info.filename].get("sha256"):
                    raise IntegrityError(
                        f"{info.filename} in {archive.name} does not match its recorded SHA-256."
                    )
                if progress:
                    progress(i, len(by_name))
        for meta_file in (staging / "metadata").glob("*.json") if (staging / "metadata").is_dir() else []:
            try:  # every file valid before anything is visible
                ModelMetadata.from_json(meta_file.read_bytes())
            except MetadataValidationError as exc:
                raise MetadataValidationError(
                    f"{meta_file.name} in {archive.name} is not valid metadata ({exc}); nothing was restored.",
                    field=exc.field,
                ) from exc
        (staging / "models").mkdir(exist_ok=True)
        (staging / "metadata").mkdir(exist_ok=True)
        if root.exists():
            root.rmdir()
        os.replace(staging, root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ModelRegistry(root).rebuild_index()


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
