"""The model registry: versioned, crash-safe, concurrency-safe storage of trained models.

Where the bytes live is a :class:`~core.registry.store.base.RegistryStore` (see
:mod:`core.registry.store`); a folder path opens a :class:`~core.registry.store.local.LocalStore`,
the guide's layout with skops instead of pickle. The registry validates, drafts metadata and
resolves references; the store allocates versions, keeps the index and keeps writes consistent.

References accepted wherever a model is named: an id, ``NAME`` (latest active
version), ``NAME:VERSION``, ``NAME@ALIAS``, ``best`` and ``best:METRIC``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import math
import os
import platform
import unicodedata
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.common.files import sha256_bytes
from core.common.koi_columns import leaky_features_warning
from core.common.text import plural
from core.errors import (
    IntegrityError,
    LeakyFeatureWarning,
    MetadataValidationError,
    ModelNotFoundError,
    RegistryError,
)
from core.registry import references, safety
from core.registry.metadata import (
    HEADLINE_METRICS,
    ModelMetadata,
    check_new_model_name,
    name_lookalike_problem,
    validate_alias,
)
from core.registry.store import open_store
from core.registry.store.base import (
    MAX_SIDECAR_BYTES,
    SIDECARS,
    Problem,
    RegistryStore,
    StoreMissing,
    StoreSnapshot,
    VersionSlot,
    sidecar_record,
)

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from core.registry.records import TrainingRows

__all__ = ["ModelRegistry", "Problem", "VerifyReport", "VersionCheck"]

_TRAINING_INFO_FIELDS = ("training_samples", "test_samples", "class_distribution")
_SUFFIXES = {safety.SKOPS: ".skops", safety.PICKLE: ".pkl"}


@dataclass
class VerifyReport:
    """The result of :meth:`ModelRegistry.verify`."""

    checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)  # nothing is wrong with the files; a person should look

    @property
    def ok(self) -> bool:
        return not any(not p.leftover for p in self.problems)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "problems": [p.to_dict() for p in self.problems],
            "repaired": self.repaired,
            "warnings": [p.to_dict() for p in self.warnings],
        }


@dataclass(frozen=True)
class VersionCheck:
    """The result of :meth:`ModelRegistry.verify_version`: one model file against its recorded SHA-256."""

    model_id: str
    status: str  # "verified", "mismatch", "missing" or "unknown" (no SHA-256 recorded)
    message: str

    @property
    def ok(self) -> bool:
        return self.status == "verified"


class ModelRegistry:
    """Registered models, their metadata and an index over them, kept in a :class:`RegistryStore`."""

    def __init__(self, root: str | os.PathLike | RegistryStore = "models/registry"):
        self.store: RegistryStore = open_store(root)
        # The rows of each name, grouped once per list the store hands out (a store replaces that
        # list whenever anything changes, so its identity marks the revision it was read at).
        self._by_name: tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]] | None = None

    def __repr__(self) -> str:
        return f"ModelRegistry({self.store.uri!r})"

    # ==================================================================== where it lives
    @property
    def uri(self) -> str:
        """A string that reopens this registry, in this or another process: ``ModelRegistry(uri)``."""
        return self.store.uri

    @property
    def location(self) -> str:
        """Where the registry is, for people."""
        return self.store.location

    @property
    def local_folder(self):
        """The registry's folder when it is on this machine's file system, else None."""
        return getattr(self.store, "root", None)

    @property
    def root(self):
        """The registry folder (local registries)."""
        return self._local("root")

    @property
    def models_dir(self):
        """The folder of model files (local registries)."""
        return self._local("models_dir")

    @property
    def metadata_dir(self):
        """The folder of metadata files (local registries)."""
        return self._local("metadata_dir")

    def _local(self, attribute: str):
        try:
            return getattr(self.store, attribute)
        except AttributeError:
            raise RegistryError(
                f"{self.store.location} is not a folder on this machine; it has no {attribute.strip('_')}."
            ) from None

    # ==================================================================== registration
    def register_model(
        self,
        model: Any,
        model_name: str,
        algorithm: str,
        evaluation_results: dict[str, Any],
        hyperparameters: dict[str, Any] | None = None,
        training_info: dict[str, Any] | None = None,
        feature_columns: list[str] | None = None,
        *,
        description: str = "",
        tags: dict[str, str] | None = None,
        training_rows: TrainingRows | Any = None,
        training_frame: Any = None,
    ) -> str:
        """Store ``model`` as the next version of ``model_name`` and return its id.

        The name is NFC-normalised, and refused when it could be mistaken for another
        (invisible or control characters, look-alike letters, two scripts): see
        :func:`core.registry.metadata.check_new_model_name`. Feature columns that include NASA's
        vetting outputs (``core.koi.LEAKY_COLUMNS``) are registered with a :class:`LeakyFeatureWarning`,
        and the version's ``leaky_features`` names them from then on.

        ``training_rows`` records which rows the version was trained **and validated** on: a
        :class:`~core.registry.records.TrainingRows`, or a DataFrame of those rows (their
        ``kepoi_name`` and the version's feature columns are recorded). ``training_frame`` is the
        training DataFrame whose :func:`~core.registry.records.training_profile` is recorded. Both
        are stored beside the version, not in its metadata (:meth:`training_rows`,
        :meth:`training_profile` read them back).
        """
        model_name = check_new_model_name(model_name)
        payload = safety.dumps_skops(model)  # serialised outside the lock: it can take a while
        draft = self._draft_metadata(
            model,
            model_name,
            algorithm,
            evaluation_results or {},
            hyperparameters or {},
            training_info or {},
            feature_columns,
            description,
            tags or {},
        )
        draft.model_format = safety.SKOPS
        if draft.leaky_features:
            warnings.warn(leaky_features_warning(draft.leaky_features), LeakyFeatureWarning, stacklevel=2)
        sidecars = training_sidecars(draft.feature_columns, training_rows, training_frame)
        return self._add_version(draft, payload, ".skops", sidecars)

    def register_bytes(
        self,
        draft: ModelMetadata,
        payload: bytes,
        *,
        suffix: str | None = None,
        training_rows: TrainingRows | Any = None,
        training_frame: Any = None,
        sidecars: Mapping[str, bytes] | None = None,
    ) -> str:
        """Store already-serialised ``payload`` as the next version of ``draft.model_name``; returns its id.

        ``draft`` is complete metadata except for what the registry assigns (id, version, file,
        SHA-256, size); ``suffix`` defaults to the one ``draft.model_format`` implies.
        ``training_rows`` and ``training_frame`` are as for :meth:`register_model`; ``sidecars`` gives
        their stored bytes directly (``{"training_rows": ..., "training_profile": ...}``, as an
        archive carries them), checked the way :meth:`training_rows` checks them.
        """
        built = training_sidecars(draft.feature_columns, training_rows, training_frame)
        for kind, data in (sidecars or {}).items():
            built[kind] = check_sidecar_bytes(kind, data, label=f"The {kind.replace('_', ' ')} given")
        return self._add_version(draft, payload, suffix or _SUFFIXES.get(draft.model_format, ".skops"), built)

    def _draft_metadata(
        self,
        model,
        model_name,
        algorithm,
        evaluation_results,
        hyperparameters,
        training_info,
        feature_columns,
        description,
        tags,
    ) -> ModelMetadata:
        headline, metrics, evaluation = _sort_evaluation(evaluation_results)
        info = _jsonable(dict(training_info))
        known = {k: info.pop(k) for k in _TRAINING_INFO_FIELDS if k in info}
        dataset = info.pop("dataset", info.pop("training_dataset", ""))
        if feature_columns is None or len(feature_columns) == 0:
            feature_columns = [str(c) for c in getattr(model, "feature_names_in_", [])]
        classes = evaluation.pop("classes", None)
        if classes is None and hasattr(model, "classes_"):
            classes = list(model.classes_)
        if not hyperparameters:
            hyperparameters = _estimator_params(model)
        meta = ModelMetadata(
            model_id="pending",
            model_name=model_name,
            algorithm=str(algorithm),
            version=1,
            training_date=_now().isoformat(timespec="microseconds"),
            **headline,
            training_dataset=str(dataset or ""),
            hyperparameters=_jsonable(dict(hyperparameters)),
            feature_columns=[str(c) for c in feature_columns],
            training_samples=_opt_int(known.get("training_samples")),
            test_samples=_opt_int(known.get("test_samples")),
            class_distribution=_jsonable(dict(known.get("class_distribution") or {})),
            description=description or "",
            tags={str(k): str(v) for k, v in tags.items()},
            classes=_jsonable(list(classes or [])),
            metrics=metrics,
            evaluation=evaluation,
            training_info=info,
            python_version=platform.python_version(),
            sklearn_version=safety.sklearn_version(),
        )
        meta.validate()
        return meta

    def _add_version(
        self, draft: ModelMetadata, payload: bytes, suffix: str, sidecars: Mapping[str, bytes] | None = None
    ) -> str:
        """Give ``draft`` its version and id and have the store commit file and metadata."""
        draft.model_name = check_new_model_name(draft.model_name)
        draft.model_sha256 = sha256_bytes(payload)
        draft.model_size = len(payload)

        def finish(slot: VersionSlot) -> ModelMetadata:
            draft.version = slot.version
            stamp = _now().strftime("%Y%m%d_%H%M%S")
            draft.model_id, draft.model_file = slot.claim(f"{draft.model_name}_v{draft.version}_{stamp}", suffix)
            draft.training_date = draft.training_date or _now().isoformat(timespec="microseconds")
            draft.validate()
            return draft

        if sidecars:
            return self.store.add_version(draft.model_name, payload, finish, sidecars).model_id
        return self.store.add_version(draft.model_name, payload, finish).model_id

    # ==================================================================== what a version was trained on
    def training_rows(self, ref_or_meta: str | ModelMetadata) -> TrainingRows | None:
        """The rows the version was trained and validated on, or None when none were recorded (older versions).

        A record that is missing, does not match its SHA-256 or cannot be read raises a one-sentence
        :class:`~core.errors.IntegrityError` (or :class:`~core.registry.records.TrainingRecordError`).
        """
        meta, data = self._sidecar(ref_or_meta, "training_rows")
        if data is None:
            return None
        return _parse_sidecar("training_rows", data, f"The training rows record of {meta.model_id}")

    def training_profile(self, ref_or_meta: str | ModelMetadata) -> dict[str, Any] | None:
        """The profile of the version's training rows (:func:`~core.registry.records.training_profile`), or None."""
        meta, data = self._sidecar(ref_or_meta, "training_profile")
        if data is None:
            return None
        return _parse_sidecar("training_profile", data, f"The training profile of {meta.model_id}")

    def _sidecar(self, ref_or_meta: str | ModelMetadata, kind: str) -> tuple[ModelMetadata, bytes | None]:
        """The version's metadata and its ``kind`` sidecar's checked bytes (None when it has none)."""
        meta = ref_or_meta if isinstance(ref_or_meta, ModelMetadata) else self.resolve(ref_or_meta)
        data, problem = self._checked_sidecar(meta, kind)
        if problem is not None:
            raise IntegrityError(problem.message)
        return meta, data

    def _checked_sidecar(self, meta: ModelMetadata, kind: str) -> tuple[bytes | None, Problem | None]:
        """(bytes, None) for an intact sidecar, (None, None) for none recorded, else (None, the problem)."""
        try:
            record = sidecar_record(meta, kind)
        except IntegrityError as exc:
            return None, Problem("sidecar_mismatch", meta.model_id, str(exc))
        if record is None:
            return None, None
        what, name = kind.replace("_", " "), record["file"]
        try:
            data = self.store.read_sidecar(meta, kind)
        except StoreMissing:
            return None, Problem(
                "missing_sidecar",
                name,
                f"The {what} file {name} of {meta.model_id} is missing; restore it from a backup or run "
                "`exoreg verify`.",
            )
        except (OSError, IntegrityError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else _lower_first(str(exc)).rstrip(".")
            return None, Problem(
                "sidecar_mismatch", name, f"The {what} file {name} of {meta.model_id} cannot be read ({why})."
            )
        if len(data) != record["size"] or sha256_bytes(data) != record["sha256"]:
            return None, Problem(
                "sidecar_mismatch",
                name,
                f"The {what} file {name} of {meta.model_id} does not match the SHA-256 recorded for it; "
                "it was changed or damaged, so it was not used.",
            )
        return data, None

    # ==================================================================== loading
    def load_model(
        self,
        model_id: str | None = None,
        model_name: str | None = None,
        version: int | None = None,
        *,
        trusted: bool = False,
    ) -> tuple[Any, ModelMetadata]:
        """Load a model and its metadata: by id, or the latest / a given version of a name."""
        if model_id is not None:
            meta = self.get_metadata(model_id)
        elif model_name is not None:
            meta = self.resolve(model_name if version is None else f"{model_name}:{version}")
        else:
            raise RegistryError(
                "Say which model to load: pass model_id, or model_name (and optionally version)."
            )
        return self._load_file(meta, trusted=trusted), meta

    def load(self, ref: str, *, trusted: bool = False) -> tuple[Any, ModelMetadata]:
        """Load the model a reference names (see :meth:`resolve`)."""
        meta = self.resolve(ref)
        return self._load_file(meta, trusted=trusted), meta

    def model_bytes(self, model_id: str, meta: ModelMetadata | None = None) -> bytes:
        """The bytes of a version's model file, as stored (not checked against its SHA-256)."""
        meta = meta or self.get_metadata(model_id)
        try:
            return self.store.read_model(meta)
        except StoreMissing:
            raise IntegrityError(
                f"The model file {meta.model_file} of {meta.model_id} is missing; restore it from a backup."
            ) from None

    def _load_file(self, meta: ModelMetadata, *, trusted: bool = False) -> Any:
        name = meta.model_file
        payload = self.model_bytes(meta.model_id, meta)
        digest = sha256_bytes(payload)
        if digest != meta.model_sha256:
            raise IntegrityError(
                f"The model file {name} does not match the SHA-256 recorded for {meta.model_id}; "
                "it was changed or damaged, so it was not loaded."
            )
        # Trust beyond the allowlist comes only from a signature this user's key made.
        trusted = trusted or safety.signature_valid(digest, meta.file_signature)
        return safety.load_model_bytes(payload, trusted=trusted, name=name)

    def get_best_model(
        self, metric: str = "f1_score", model_name: str | None = None, algorithm: str | None = None
    ) -> tuple[Any, ModelMetadata]:
        """Load the best active version by ``metric``; ties go to the higher version."""
        meta = self.best_metadata(metric, model_name=model_name, algorithm=algorithm)
        return self._load_file(meta), meta

    def best_metadata(
        self, metric: str = "f1_score", *, model_name: str | None = None, algorithm: str | None = None
    ) -> ModelMetadata:
        rows = self._active_rows()
        if model_name is not None:
            by_name = [r for r in rows if r["model_name"] == model_name]
            # The guide's "best model of a specific type" passes an algorithm as model_name.
            rows = by_name or [r for r in rows if r["algorithm"] == model_name]
            if not rows:
                raise self._not_found_name(model_name)
        if algorithm is not None:
            rows = [r for r in rows if r["algorithm"] == algorithm]
            if not rows:
                algos = sorted({r["algorithm"] for r in self._active_rows()})
                raise ModelNotFoundError(
                    f"No active model uses the algorithm {algorithm!r}; algorithms present: {', '.join(algos) or 'none'}."
                )
        if not rows:
            raise ModelNotFoundError("The registry has no active models yet; register one first.")
        available = references.available_metrics(rows)
        if metric not in available:
            raise RegistryError(
                f"Unknown metric {metric!r}; available metrics: {', '.join(sorted(available))}."
            )
        best = references.best_row(rows, metric)
        if best is None:
            waiting = [r for r in rows if r.get("metrics_caveat") and references.row_metric(r, metric) is not None]
            if waiting:
                raise ModelNotFoundError(
                    f"The only versions with a value for {metric!r} were scored on a file whose overlap with "
                    f"their training rows is unknown ({waiting[0]['model_id']}…); check the file and confirm "
                    f"them with `exoreg confirm-metrics {waiting[0]['model_id']}`."
                )
            raise ModelNotFoundError(f"No active model has a value for {metric!r}; choose another metric.")
        return self.get_metadata(best["model_id"])

    # ==================================================================== queries
    def list_models(
        self, model_name: str | None = None, *, include_deleted: bool = False
    ) -> list[dict[str, Any]]:
        """Summaries sorted by name then version, served from the index."""
        rows = self._sorted_rows() if model_name is None else self._rows_by_name().get(model_name, [])
        out = []
        for r in rows:
            if not include_deleted and r["status"] == "deleted":
                continue
            row = dict(r)
            row["aliases"], row["tags"], row["metrics"] = (
                list(r["aliases"]),
                dict(r["tags"]),
                dict(r["metrics"]),
            )
            out.append(row)
        return out

    def model_names(self) -> list[str]:
        return sorted(self._rows_by_name())

    def get_metadata(self, model_id: str) -> ModelMetadata:
        """The full metadata of one version (read from its metadata file)."""
        try:
            return self.store.read_metadata(model_id)
        except StoreMissing:
            raise self._not_found_id(model_id) from None

    def resolve(self, ref: str) -> ModelMetadata:
        """Turn a reference (id, NAME, NAME:VERSION, NAME:latest, NAME@ALIAS, best, best:METRIC) into metadata."""
        if isinstance(ref, str) and ref and ref in self._entries():
            return self.get_metadata(ref)
        try:
            parsed = references.parse_reference(ref)
        except references.ReferenceSyntaxError as exc:
            if exc.name is not None:
                self._rows_of(exc.name)  # an unknown name is the first thing to say
            raise
        if parsed.kind == references.BEST_KIND:
            return self.best_metadata(parsed.metric)
        name = parsed.name
        rows = self._rows_of(name)
        if parsed.kind == references.ALIAS:
            for r in rows:
                if parsed.alias in r["aliases"] and r["status"] != "deleted":
                    return self.get_metadata(r["model_id"])
            known = sorted({a for r in rows for a in r["aliases"]})
            raise ModelNotFoundError(
                f"{name} has no alias {parsed.alias!r}; its aliases are: {', '.join(known) or 'none'}."
            )
        if parsed.kind == references.VERSION and not parsed.latest:
            for r in rows:
                if r["version"] == parsed.version:
                    return self.get_metadata(r["model_id"])
            raise ModelNotFoundError(
                f"{name} has no version {parsed.version}; its versions are: {_version_list(rows)}."
            )
        latest = references.latest_row(references.active(rows))
        if latest is None:
            raise ModelNotFoundError(
                f"Every version of {name} is deleted; restore one or register a new version."
            )
        return self.get_metadata(latest["model_id"])

    def model_file_path(self, model_id: str, meta: ModelMetadata | None = None):
        """The path of a version's model file (local registries)."""
        meta = meta or self.get_metadata(model_id)
        return self._local("model_path")(meta)

    def compare_models(
        self, model_ids: list[str] | None = None, model_name: str | None = None, *, show: bool = True
    ):
        """A table of the chosen versions' metrics (all active ones by default); printed too."""
        import pandas as pd

        if model_ids:
            entries = self._entries()
            missing = [m for m in model_ids if m not in entries]
            if missing:
                raise self._not_found_id(missing[0])
            rows = [entries[m] for m in model_ids]
        elif model_name is not None:
            rows = [r for r in self._rows_of(model_name) if r["status"] != "deleted"]
        else:
            rows = self._active_rows()
        columns = [
            "model_id",
            "model_name",
            "version",
            "algorithm",
            *HEADLINE_METRICS,
            "training_date",
            "training_dataset",
            "n_features",
            "aliases",
        ]
        frame = pd.DataFrame([{c: r.get(c) for c in columns} for r in rows], columns=columns)
        frame["aliases"] = frame["aliases"].map(lambda a: ",".join(a) if isinstance(a, list) else "")
        if show:
            if frame.empty:
                print("No models to compare.")
            else:
                print(frame.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        return frame

    def get_registry_stats(self) -> dict[str, Any]:
        rows = self._sorted_rows()
        active = [r for r in rows if r["status"] != "deleted"]
        per_name: dict[str, int] = {}
        per_algo: dict[str, int] = {}
        for r in active:
            per_name[r["model_name"]] = per_name.get(r["model_name"], 0) + 1
            per_algo[r["algorithm"]] = per_algo.get(r["algorithm"], 0) + 1
        best = {}
        for metric in HEADLINE_METRICS:
            top = references.best_row(active, metric)
            if top is not None:
                best[metric] = {"model_id": top["model_id"], "value": top[metric]}
        return {
            "registry": self.location,
            "total_models": len(active),
            "total_versions": len(rows),
            "deleted_versions": len(rows) - len(active),
            "model_names": len(per_name),
            "models_per_name": per_name,
            "models_per_algorithm": per_algo,
            "best_by_metric": best,
            "size_on_disk_bytes": self.store.total_size(),
            "latest_registration": max((r["training_date"] for r in rows), default=None),
        }

    def revision(self) -> str:
        """A token that changes whenever anything in the registry changes (cheap)."""
        return self.store.revision()

    def total_size(self) -> int:
        """Bytes the registry occupies: model files, metadata and index."""
        return self.store.total_size()

    # ==================================================================== changes
    def delete_model(self, model_id: str) -> ModelMetadata:
        """Soft-delete: the version is hidden from lists and best-model searches, its aliases released."""
        return self._update(model_id, lambda m: (setattr(m, "status", "deleted"), m.aliases.clear()))

    def restore_model(self, model_id: str) -> ModelMetadata:
        return self._update(model_id, lambda m: setattr(m, "status", "active"))

    def update_metadata(
        self, model_id: str, *, description: str | None = None, tags: dict[str, str] | None = None
    ) -> ModelMetadata:
        """Change a version's description and/or tags (``tags`` replaces the whole mapping)."""

        def change(m: ModelMetadata) -> None:
            if description is not None:
                m.description = description
            if tags is not None:
                m.tags = {str(k): str(v) for k, v in tags.items()}

        return self._update(model_id, change)

    def confirm_metrics(self, model_id: str) -> ModelMetadata:
        """Accept a version's metrics as comparable (clears ``metrics_caveat``), so it may be "best".

        For metrics scored on a file whose overlap with the model's training rows was unknown, once
        the person has checked the file holds none of them.
        """
        meta = self.get_metadata(model_id)
        if not meta.metrics_caveat:
            raise RegistryError(f"The metrics of {meta.model_id} carry no caveat; there is nothing to confirm.")

        def confirm(m: ModelMetadata) -> None:
            m.evaluation = {**m.evaluation, "confirmed": {"caveat": m.metrics_caveat, "date": _now().isoformat(
                timespec="seconds")}}
            m.metrics_caveat = ""

        return self._update(meta.model_id, confirm)

    def same_model_file(self, payload: bytes) -> ModelMetadata | None:
        """The version (deleted ones included) whose model file holds exactly ``payload``, else None.

        Only versions of the same size are read, so this is cheap however large the registry.
        """
        digest = sha256_bytes(payload)
        for row in self._sorted_rows():
            if row.get("model_size") != len(payload):
                continue
            try:
                meta = self.get_metadata(row["model_id"])
            except ModelNotFoundError:
                continue
            if meta.model_sha256 == digest:
                return meta
        return None

    def set_alias(self, model_name: str, alias: str, version: int) -> ModelMetadata:
        """Point ``NAME@alias`` at ``version`` (moving it from whichever version had it)."""
        validate_alias(alias)
        if alias in ("latest", "best"):
            raise MetadataValidationError(
                f"{alias!r} is reserved for references; choose another alias.", field="aliases"
            )

        def choose(rows: list[dict[str, Any]]) -> str:
            if not rows:
                raise self._not_found_name(model_name)
            target = next((e for e in rows if e["version"] == int(version)), None)
            if target is None:
                raise ModelNotFoundError(
                    f"{model_name} has no version {version}; its versions are: {_version_list(rows)}."
                )
            if target["status"] == "deleted":
                raise RegistryError(
                    f"{model_name} version {version} is deleted; restore it before giving it an alias."
                )
            return target["model_id"]

        return self.store.update_alias(model_name, alias, choose)

    def remove_alias(self, model_name: str, alias: str) -> None:
        def choose(rows: list[dict[str, Any]]) -> None:
            if not rows:
                raise self._not_found_name(model_name)
            if not any(alias in e["aliases"] for e in rows):
                raise ModelNotFoundError(f"{model_name} has no alias {alias!r}.")
            return None

        self.store.update_alias(model_name, alias, choose)

    def _update(self, model_id: str, change) -> ModelMetadata:
        def checked(meta: ModelMetadata) -> None:
            change(meta)
            meta.validate()

        try:
            return self.store.update_version(model_id, checked)
        except StoreMissing:
            raise self._not_found_id(model_id) from None

    # ==================================================================== export / import
    def export_model(self, model_id: str, export_path: str | os.PathLike) -> dict[str, Path]:
        """Write ``<id>.skops``, ``<id>.json`` and ``<id>.exoreg`` into ``export_path``; returns their paths."""
        from core.registry.transfer import export_model

        return export_model(self, model_id, export_path)

    def import_model(
        self,
        model_path: str | os.PathLike,
        metadata_path: str | os.PathLike | None = None,
        *,
        trusted: bool = False,
        preview: Any = None,
    ) -> str:
        """Register an exported model (pair or ``.exoreg``) as the next version of its name.

        ``preview`` (from :func:`core.registry.transfer.preview_import`) is what the person was
        shown: its bytes are registered without reading the file again.
        """
        from core.registry.transfer import import_model

        return import_model(self, model_path, metadata_path, trusted=trusted, preview=preview)

    def export_for_deployment(self, ref: str, export_path: str | os.PathLike, **options: Any):
        """Write a deployment bundle of the model ``ref`` names (see :mod:`core.deployment.bundle`)."""
        from core.deployment.bundle import export_registered_model

        return export_registered_model(self, ref, export_path, **options)

    # ==================================================================== integrity
    def verify(self, *, repair: bool = False) -> VerifyReport:
        """Check every model file's hash, find orphans, stale index rows and leftovers."""
        report = VerifyReport()
        scan = self.store.scan()
        for meta in scan.found.values():
            report.checked += 1
            problem = self.store.check_file(meta)
            if problem is not None:
                report.problems.append(problem)
            report.problems.extend(self._check_sidecars(meta))
        leftovers = self.store.leftovers(scan)
        report.problems.extend(leftovers)
        report.problems.extend(scan.bad)
        if repair and leftovers:  # nothing to repair: nothing is written (the registry may be read-only)
            report.repaired.extend(self.store.remove_leftovers(leftovers))
        report.warnings.extend(_name_warnings(scan.found.values()))
        return report

    def _check_sidecars(self, meta: ModelMetadata) -> list[Problem]:
        """A missing_sidecar / sidecar_mismatch problem for each recorded sidecar that is gone or changed."""
        problems = [self._checked_sidecar(meta, kind)[1] for kind in SIDECARS]
        return [p for p in problems if p is not None]

    def verify_version(self, model_id: str, meta: ModelMetadata | None = None) -> VersionCheck:
        """Check one version's model file against the SHA-256 its metadata recorded."""
        meta = meta or self.get_metadata(model_id)
        if not meta.model_sha256:
            return VersionCheck(meta.model_id, "unknown", f"{meta.model_id}: no SHA-256 was recorded.")
        problem = self.store.check_file(meta)
        if problem is None:
            return VersionCheck(meta.model_id, "verified", f"{meta.model_id}: {meta.model_file} is intact.")
        status = "missing" if problem.kind == "missing_model_file" else "mismatch"
        return VersionCheck(meta.model_id, status, problem.message)

    def rebuild_index(self) -> int:
        """Rebuild the index from the metadata files; returns the number of versions indexed."""
        return self.store.rebuild_index()

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[StoreSnapshot]:
        """Every version's model, metadata and sidecar files, read consistently (no write interleaves) inside the block."""
        with self.store.snapshot() as snap:
            yield snap

    # ==================================================================== index plumbing
    def _entries(self) -> dict[str, dict[str, Any]]:
        return self.store.entries()

    def _sorted_rows(self) -> list[dict[str, Any]]:
        return self.store.rows()

    def _active_rows(self) -> list[dict[str, Any]]:
        return [r for r in self._sorted_rows() if r["status"] != "deleted"]

    def _rows_by_name(self) -> dict[str, list[dict[str, Any]]]:
        """The sorted rows of each name (built once per revision of the index, so a lookup costs no scan)."""
        rows = self._sorted_rows()
        memo = self._by_name
        if memo is None or memo[0] is not rows:
            grouped: dict[str, list[dict[str, Any]]] = {}
            for r in rows:
                grouped.setdefault(r["model_name"], []).append(r)
            memo = self._by_name = (rows, grouped)
        return memo[1]

    def _rows_of(self, name: str) -> list[dict[str, Any]]:
        by_name = self._rows_by_name()
        rows = list(by_name.get(name, ()))
        if not rows and unicodedata.normalize("NFC", name) != name:  # names are registered in NFC
            rows = list(by_name.get(unicodedata.normalize("NFC", name), ()))
        if not rows:
            raise self._not_found_name(name)
        return rows

    def _not_found_name(self, name: str) -> ModelNotFoundError:
        names = self.model_names()
        shown = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
        return ModelNotFoundError(f"No model is named {name!r}; registered names are: {shown or 'none yet'}.")

    def _not_found_id(self, model_id: str) -> ModelNotFoundError:
        return ModelNotFoundError(
            f"No model has the id {model_id!r}; list them with `exoreg list` or use NAME, NAME:VERSION or best."
        )


# ======================================================================== helpers
def training_sidecars(feature_columns: list[str], training_rows: Any, training_frame: Any) -> dict[str, bytes]:
    """The sidecar bytes :meth:`ModelRegistry.register_model` stores for ``training_rows`` / ``training_frame``."""
    from core.common import jsonio
    from core.errors import DataError
    from core.registry.records import TrainingRows, training_profile

    out: dict[str, bytes] = {}
    if training_rows is not None:
        if not isinstance(training_rows, TrainingRows):
            if not hasattr(training_rows, "columns"):
                raise DataError(
                    "training_rows must be a TrainingRows record or a DataFrame of the rows the version was "
                    "trained and validated on."
                )
            if not feature_columns:
                raise DataError("The version has no feature columns, so its training rows cannot be recorded.")
            training_rows = TrainingRows.from_frame(training_rows, feature_columns)
        out["training_rows"] = training_rows.to_bytes()
    if training_frame is not None:
        if not hasattr(training_frame, "columns"):
            raise DataError("training_frame must be the DataFrame of the version's training rows.")
        if not feature_columns:
            raise DataError("The version has no feature columns, so its training profile cannot be recorded.")
        out["training_profile"] = jsonio.dumps(training_profile(training_frame, feature_columns))
    for kind, data in out.items():
        if len(data) > MAX_SIDECAR_BYTES:
            raise DataError(
                f"The {kind.replace('_', ' ')} of this version would be {len(data):,} bytes, over the "
                f"{MAX_SIDECAR_BYTES:,}-byte limit; record fewer rows."
            )
    return out


MAX_PROFILE_BYTES = 16 << 20


def _parse_sidecar(kind: str, data: bytes, label: str) -> Any:
    """A sidecar's bytes parsed and checked; anything else raises one sentence starting with ``label``."""
    from core.common import jsonio
    from core.registry.records import TrainingRecordError, TrainingRows

    if kind == "training_rows":
        try:
            return TrainingRows.from_bytes(data)
        except TrainingRecordError as exc:
            raise TrainingRecordError(f"{label} cannot be read: {_lower_first(str(exc))}") from exc
    try:
        profile = jsonio.loads(data, max_bytes=MAX_PROFILE_BYTES)
    except (ValueError, UnicodeDecodeError):
        profile = None
    if (
        not isinstance(profile, dict)
        or profile.get("schema") != 1
        or not isinstance(profile.get("features"), dict)
        or not all(isinstance(v, dict) for v in profile["features"].values())
        or type(profile.get("rows")) is not int
    ):
        raise TrainingRecordError(
            f"{label} is not a training profile ExoReg wrote (damaged or of another format); "
            "register the version again to record a new one."
        )
    return profile


def check_sidecar_bytes(kind: str, data: bytes, *, label: str) -> bytes:
    """``data`` when it is a valid ``kind`` sidecar within the size limit; else one sentence starting with ``label``."""
    from core.registry.records import TrainingRecordError

    if kind not in SIDECARS:
        raise TrainingRecordError(f"{label} is of a kind ExoReg does not store ({kind!r}).")
    if len(data) > MAX_SIDECAR_BYTES:
        raise TrainingRecordError(f"{label} is {len(data):,} bytes, over the {MAX_SIDECAR_BYTES:,}-byte limit.")
    _parse_sidecar(kind, data, label)
    return bytes(data)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text else text


def _name_warnings(metas) -> list[Problem]:
    """One warning per name registered before look-alike names were refused: it opens, but reads like another."""
    versions: dict[str, list[ModelMetadata]] = {}
    for meta in metas:
        versions.setdefault(meta.model_name, []).append(meta)
    warnings = []
    for name, group in sorted(versions.items()):
        problem = name_lookalike_problem(name)
        if problem is None:
            continue
        reason, _advice = problem
        first = min(group, key=lambda m: m.version)
        warnings.append(
            Problem(
                "lookalike_name",
                first.model_id,
                f"The model name {name!r} ({plural(len(group), 'version')}) {reason}; its "
                "versions still open, but the name can be mistaken for another: register new versions under a "
                "plain name.",
            )
        )
    return warnings


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def _version_list(rows: list[dict[str, Any]]) -> str:
    return ", ".join(str(r["version"]) + (" (deleted)" if r["status"] == "deleted" else "") for r in rows)


def _opt_int(value: Any) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise MetadataValidationError(
            f"training_info value {value!r} is not a whole number.", field="training_info"
        ) from None


def _is_finite_number(value: Any) -> bool:
    try:
        return not isinstance(value, bool) and math.isfinite(float(value)) and _is_scalar_number(value)
    except (TypeError, ValueError):
        return False


def _is_scalar_number(value: Any) -> bool:
    import numbers

    return isinstance(value, numbers.Number) and not isinstance(value, complex)


def _sort_evaluation(results: dict[str, Any]) -> tuple[dict[str, float], dict[str, float], dict[str, Any]]:
    """Split evaluation results into headline metrics, further numbers and structured results."""
    headline: dict[str, float] = {}
    for name in HEADLINE_METRICS:
        if name not in results:
            raise MetadataValidationError(
                f"evaluation_results has no '{name}'; the four headline metrics are required.", field=name
            )
        value = results[name]
        if not _is_finite_number(value) or not 0.0 <= float(value) <= 1.0:
            raise MetadataValidationError(
                f"evaluation_results['{name}'] must be a finite number between 0 and 1 (got {value!r}).",
                field=name,
            )
        headline[name] = float(value)
    metrics: dict[str, float] = {}
    evaluation: dict[str, Any] = {}
    for key, value in results.items():
        if key in HEADLINE_METRICS:
            continue
        if _is_scalar_number(value) and not isinstance(value, bool):
            if _is_finite_number(value):
                metrics[str(key)] = float(value)
            else:
                evaluation[str(key)] = None  # undefined for this model (e.g. NaN), kept visible
        else:
            evaluation[str(key)] = _jsonable(value)
    return headline, metrics, evaluation


def _jsonable(value: Any) -> Any:
    """Plain JSON values, unknown objects as their ``repr`` (the rule is :func:`core.common.jsonio.to_jsonable`)."""
    from core.common.jsonio import to_jsonable

    return to_jsonable(value)


def _estimator_params(model: Any) -> dict[str, Any]:
    """The final estimator's own parameters, for when the caller recorded none."""
    estimator = model
    steps = getattr(model, "steps", None)
    if steps:
        estimator = steps[-1][1]
    get_params = getattr(estimator, "get_params", None)
    if get_params is None:
        return {}
    try:
        params = get_params(deep=False)
    except Exception:  # a third-party estimator with a broken get_params
        return {}
    return {
        k: (v if v is None or isinstance(v, bool | int | float | str) else repr(v)) for k, v in params.items()
    }
