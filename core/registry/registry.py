"""The model registry: versioned, crash-safe, concurrency-safe storage of trained models.

Layout (the guide's, with skops instead of pickle)::

    root/
      models/<model_id>.skops     the model files
      metadata/<model_id>.json    one file per version: the source of truth
      index.json                  the guide's index (a cache, rebuilt when missing or stale)
      index.journal               changes since index.json was last written
      .lock                       the cross-process lock

References accepted wherever a model is named: an id, ``NAME`` (latest active
version), ``NAME:VERSION``, ``NAME@ALIAS``, ``best`` and ``best:METRIC``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import math
import os
import platform
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from core.common.files import (
    atomic_write_bytes,
    atomic_write_text,
    is_temp_file,
    sha256_bytes,
    sha256_file,
)
from core.errors import (
    IntegrityError,
    MetadataValidationError,
    ModelNotFoundError,
    RegistryError,
    UntrustedModelError,
)
from core.registry import safety
from core.registry.metadata import (
    HEADLINE_METRICS,
    ModelMetadata,
    validate_alias,
    validate_model_name,
)
from core.registry.store._journal import COMPACT_EVERY, IndexCorrupt, IndexFiles, IndexState

_TRAINING_INFO_FIELDS = ("training_samples", "test_samples", "class_distribution")
_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9._-]")
LOCK_TIMEOUT_S = 60


@dataclass
class Problem:
    kind: str
    path: str
    message: str
    leftover: bool = False  # the remains of an interrupted write, not corruption

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, "message": self.message, "leftover": self.leftover}


@dataclass
class VerifyReport:
    """The result of :meth:`ModelRegistry.verify`."""

    checked: int = 0
    problems: list[Problem] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(not p.leftover for p in self.problems)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "problems": [p.to_dict() for p in self.problems],
            "repaired": self.repaired,
        }


class ModelRegistry:
    """A folder of registered models, their metadata and an index over them."""

    def __init__(self, root: str | os.PathLike = "models/registry"):
        self.root = Path(root).absolute()  # a later chdir must not move the registry
        self.models_dir = self.root / "models"
        self.metadata_dir = self.root / "metadata"
        if self.root.exists() and not self.root.is_dir():
            raise RegistryError(f"{self.root} is a file, not a registry folder; choose a folder.")
        for folder in (self.models_dir, self.metadata_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self._files = IndexFiles(self.root)
        self._file_lock = FileLock(str(self.root / ".lock"), timeout=LOCK_TIMEOUT_S)
        self._mutex = threading.RLock()
        self._state: IndexState | None = None
        self._sorted_cache: list[dict[str, Any]] | None = None
        self._refresh()

    def __repr__(self) -> str:
        return f"ModelRegistry({str(self.root)!r})"

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
    ) -> str:
        """Store ``model`` as the next version of ``model_name`` and return its id."""
        validate_model_name(model_name)
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
        return self._store(draft, payload, ".skops")

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

    def _store(self, draft: ModelMetadata, payload: bytes, suffix: str) -> str:
        """Give ``draft`` its version and id, write file and metadata, record it in the index."""
        draft.model_sha256 = sha256_bytes(payload)
        draft.model_size = len(payload)
        with self._locked() as state:
            versions = [e["version"] for e in state.entries.values() if e["model_name"] == draft.model_name]
            draft.version = max(versions, default=0) + 1
            stamp = _now().strftime("%Y%m%d_%H%M%S")
            base = f"{draft.model_name}_v{draft.version}_{stamp}"
            model_id, stem, n = base, _file_stem(base), 1
            while (
                model_id in state.entries
                or (self.metadata_dir / f"{stem}.json").exists()
                or (self.models_dir / f"{stem}{suffix}").exists()
            ):
                n += 1
                model_id, stem = f"{base}_{n}", _file_stem(f"{base}_{n}")
            draft.model_id = model_id
            draft.model_file = stem + suffix
            draft.training_date = draft.training_date or _now().isoformat(timespec="microseconds")
            draft.validate()

            # The model file lands first; the metadata file is the commit point.
            self._files.append(
                state, [{"op": "intent", "model_id": model_id, "model_file": draft.model_file}], sync=False
            )
            atomic_write_bytes(self.models_dir / draft.model_file, payload)
            self._write_metadata(state, draft)
        return model_id

    def _write_metadata(self, state: IndexState, meta: ModelMetadata) -> None:
        """Write one metadata file and journal it (caller holds the lock)."""
        if meta.model_id not in state.pending:
            self._files.append(
                state, [{"op": "intent", "model_id": meta.model_id, "model_file": None}], sync=False
            )
        atomic_write_text(self._metadata_path(meta), meta.to_json())
        record = {"op": "put", "entry": meta.summary(), "metadata_mtime_ns": self._metadata_mtime()}
        self._files.append(state, [record])
        self._sorted_cache = None
        if state.journal_lines >= COMPACT_EVERY:
            self._files.write_snapshot(state)

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

    def _load_file(self, meta: ModelMetadata, *, trusted: bool = False) -> Any:
        path = self.model_file_path(meta.model_id, meta)
        if not path.is_file():
            raise IntegrityError(
                f"The model file {path.name} of {meta.model_id} is missing; restore it from a backup."
            )
        digest = sha256_file(path)
        if digest != meta.model_sha256:
            raise IntegrityError(
                f"The model file {path.name} does not match the SHA-256 recorded for {meta.model_id}; "
                "it was changed or damaged, so it was not loaded."
            )
        # Trust beyond the allowlist comes only from a signature this user's key made.
        trusted = trusted or safety.signature_valid(digest, meta.file_signature)
        fmt = safety.detect_format(path)
        if fmt == safety.SKOPS:
            return safety.load_skops(path, trusted=trusted, name=path.name)
        if fmt == safety.PICKLE:
            if not trusted:
                raise UntrustedModelError(
                    f"{path.name} is a pickle without a valid signature from this user; "
                    "load it with trusted=True only if you know where it came from.",
                    untrusted=safety.pickle_globals(path)[0],
                )
            return safety.load_pickle(path)
        raise IntegrityError(f"{path.name} is neither a skops file nor a pickle; it cannot be loaded.")

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
        from core.registry import references

        available = references.available_metrics(rows)
        if metric not in available:
            raise RegistryError(
                f"Unknown metric {metric!r}; available metrics: {', '.join(sorted(available))}."
            )
        best = references.best_row(rows, metric)
        if best is None:
            raise ModelNotFoundError(f"No active model has a value for {metric!r}; choose another metric.")
        return self.get_metadata(best["model_id"])

    # ==================================================================== queries
    def list_models(
        self, model_name: str | None = None, *, include_deleted: bool = False
    ) -> list[dict[str, Any]]:
        """Summaries sorted by name then version, served from the index."""
        rows = self._sorted_rows()
        out = []
        for r in rows:
            if model_name is not None and r["model_name"] != model_name:
                continue
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
        return sorted({r["model_name"] for r in self._sorted_rows()})

    def get_metadata(self, model_id: str) -> ModelMetadata:
        """The full metadata of one version (read from its metadata file)."""
        entry = self._entries().get(model_id)
        if entry is None:
            raise self._not_found_id(model_id)
        path = self.metadata_dir / (Path(entry["model_file"]).stem + ".json")
        try:
            return ModelMetadata.from_json(path.read_bytes())
        except FileNotFoundError as exc:
            self._invalidate()
            raise ModelNotFoundError(
                f"The metadata of {model_id} has disappeared; run `exoreg verify`."
            ) from exc

    def resolve(self, ref: str) -> ModelMetadata:
        """Turn a reference (id, NAME, NAME:VERSION, NAME:latest, NAME@ALIAS, best, best:METRIC) into metadata."""
        from core.registry import references

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

    def model_file_path(self, model_id: str, meta: ModelMetadata | None = None) -> Path:
        meta = meta or self.get_metadata(model_id)
        return self.models_dir / meta.model_file

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
        from core.registry import references

        best = {}
        for metric in HEADLINE_METRICS:
            top = references.best_row(active, metric)
            if top is not None:
                best[metric] = {"model_id": top["model_id"], "value": top[metric]}
        size = sum(int(r.get("model_size") or 0) for r in rows)
        with contextlib.suppress(OSError):
            size += sum(e.stat().st_size for e in os.scandir(self.metadata_dir) if e.is_file())
            size += sum(
                p.stat().st_size for p in (self._files.snapshot_path, self._files.journal_path) if p.exists()
            )
        return {
            "registry": str(self.root),
            "total_models": len(active),
            "total_versions": len(rows),
            "deleted_versions": len(rows) - len(active),
            "model_names": len(per_name),
            "models_per_name": per_name,
            "models_per_algorithm": per_algo,
            "best_by_metric": best,
            "size_on_disk_bytes": size,
            "latest_registration": max((r["training_date"] for r in rows), default=None),
        }

    def revision(self) -> str:
        """A token that changes whenever anything in the registry changes (three stat calls)."""
        parts = list(self._files.stamp())
        try:
            st = os.stat(self.metadata_dir)
            parts.append((st.st_mtime_ns,))
        except FileNotFoundError:
            parts.append((0,))
        return "-".join(".".join(str(x) for x in p) for p in parts)

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

    def set_alias(self, model_name: str, alias: str, version: int) -> ModelMetadata:
        """Point ``NAME@alias`` at ``version`` (moving it from whichever version had it)."""
        validate_alias(alias)
        if alias in ("latest", "best"):
            raise MetadataValidationError(
                f"{alias!r} is reserved for references; choose another alias.", field="aliases"
            )
        with self._locked() as state:
            rows = [e for e in state.entries.values() if e["model_name"] == model_name]
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
            # Release first, then assign: a crash in between loses the alias rather than doubling it.
            for holder in rows:
                if alias in holder["aliases"] and holder is not target:
                    meta = self._read_locked(holder["model_id"], state)
                    meta.aliases = [a for a in meta.aliases if a != alias]
                    self._write_metadata(state, meta)
            meta = self._read_locked(target["model_id"], state)
            if alias not in meta.aliases:
                meta.aliases.append(alias)
                self._write_metadata(state, meta)
            return meta

    def remove_alias(self, model_name: str, alias: str) -> None:
        with self._locked() as state:
            rows = [e for e in state.entries.values() if e["model_name"] == model_name]
            if not rows:
                raise self._not_found_name(model_name)
            holders = [e for e in rows if alias in e["aliases"]]
            if not holders:
                raise ModelNotFoundError(f"{model_name} has no alias {alias!r}.")
            for holder in holders:
                meta = self._read_locked(holder["model_id"], state)
                meta.aliases = [a for a in meta.aliases if a != alias]
                self._write_metadata(state, meta)

    def _update(self, model_id: str, change) -> ModelMetadata:
        with self._locked() as state:
            if model_id not in state.entries:
                raise self._not_found_id(model_id)
            meta = self._read_locked(model_id, state)
            change(meta)
            meta.validate()
            self._write_metadata(state, meta)
            return meta

    def _read_locked(self, model_id: str, state: IndexState) -> ModelMetadata:
        entry = state.entries[model_id]
        return ModelMetadata.from_json(
            (self.metadata_dir / (Path(entry["model_file"]).stem + ".json")).read_bytes()
        )

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
    ) -> str:
        """Register an exported model (pair or ``.exoreg``) as the next version of its name."""
        from core.registry.transfer import import_model

        return import_model(self, model_path, metadata_path, trusted=trusted)

    def export_for_deployment(self, ref: str, export_path: str | os.PathLike, **options: Any):
        """Write a deployment bundle of the model ``ref`` names (see :mod:`core.deployment.bundle`)."""
        from core.deployment.bundle import export_registered_model

        return export_registered_model(self, ref, export_path, **options)

    # ==================================================================== integrity
    def verify(self, *, repair: bool = False) -> VerifyReport:
        """Check every model file's hash, find orphans, stale index rows and leftovers."""
        report = VerifyReport()
        with self._mutex:
            on_disk, bad = self._scan_metadata(report)
            referenced = set()
            for meta in on_disk.values():
                report.checked += 1
                referenced.add(meta.model_file)
                path = self.models_dir / meta.model_file
                if not path.is_file():
                    report.problems.append(
                        Problem(
                            "missing_model_file",
                            str(path),
                            f"{meta.model_id}: its model file {meta.model_file} is missing.",
                        )
                    )
                elif sha256_file(path) != meta.model_sha256:
                    report.problems.append(
                        Problem(
                            "hash_mismatch",
                            str(path),
                            f"{meta.model_id}: {meta.model_file} does not match its recorded SHA-256.",
                        )
                    )
            for folder in (self.models_dir, self.metadata_dir, self.root):
                for entry in os.scandir(folder):
                    if is_temp_file(entry.name):
                        report.problems.append(
                            Problem(
                                "temp_file",
                                entry.path,
                                "An interrupted write left this temporary file.",
                                leftover=True,
                            )
                        )
            for entry in os.scandir(self.models_dir):
                if entry.is_file() and not is_temp_file(entry.name) and entry.name not in referenced:
                    report.problems.append(
                        Problem(
                            "orphan_model_file",
                            entry.path,
                            f"{entry.name} has no metadata (its registration never completed).",
                            leftover=True,
                        )
                    )
            indexed = self._entries()
            stale = set(indexed) ^ set(on_disk)
            stale |= {m for m, meta in on_disk.items() if m in indexed and indexed[m] != meta.summary()}
            if stale:
                report.problems.append(
                    Problem(
                        "stale_index",
                        str(self._files.snapshot_path),
                        f"The index disagrees with {len(stale)} metadata file(s); it will be rebuilt.",
                        leftover=True,
                    )
                )
            report.problems.extend(bad)
            if repair:
                for p in report.problems:
                    if p.kind in ("temp_file", "orphan_model_file"):
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(p.path)
                        report.repaired.append(p.path)
                if stale:
                    self.rebuild_index()
                    report.repaired.append(str(self._files.snapshot_path))
        return report

    def rebuild_index(self) -> int:
        """Rebuild index.json from the metadata files; returns the number of versions indexed."""
        with self._locked(refresh=False) as state:
            on_disk, _bad = self._scan_metadata(None)
            state.entries = {m: meta.summary() for m, meta in on_disk.items()}
            state.pending = {}
            state.metadata_mtime_ns = self._metadata_mtime()
            self._files.write_snapshot(state)
            self._sorted_cache = None
            return len(state.entries)

    def _scan_metadata(self, report: VerifyReport | None) -> tuple[dict[str, ModelMetadata], list[Problem]]:
        found: dict[str, ModelMetadata] = {}
        bad: list[Problem] = []
        for entry in os.scandir(self.metadata_dir):
            if not entry.name.endswith(".json") or is_temp_file(entry.name):
                continue
            try:
                meta = ModelMetadata.from_json(Path(entry.path).read_bytes())
            except (MetadataValidationError, OSError) as exc:
                bad.append(Problem("corrupt_metadata", entry.path, f"{entry.name} cannot be read: {exc}"))
                continue
            found[meta.model_id] = meta
        return found, bad

    def _clean_leftovers(self, state: IndexState) -> None:
        """Remove what an interrupted write left behind (caller holds the lock).

        Every write journals an intent first, so a write that never finished shows up as
        a pending intent; only then is it worth scanning the folders.
        """
        if not state.pending:
            return
        for folder in (self.models_dir, self.metadata_dir):
            for entry in os.scandir(folder):
                if is_temp_file(entry.name):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
        records = []
        for model_id, model_file in list(state.pending.items()):
            if model_file and model_id not in state.entries:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.models_dir / model_file)
            records.append({"op": "abandon", "model_id": model_id})
        self._files.append(state, records, sync=False)

    # ==================================================================== index plumbing
    @contextlib.contextmanager
    def _locked(self, *, refresh: bool = True):
        """Hold the cross-process lock with a fresh index; every write goes through here."""
        with self._mutex, self._file_lock:
            if refresh:
                self._refresh(locked=True)
            assert self._state is not None
            self._clean_leftovers(self._state)
            yield self._state

    def _refresh(self, *, locked: bool = False) -> IndexState:
        """Bring the in-memory index up to date with the files (cheap when nothing changed)."""
        with self._mutex:
            if not self.metadata_dir.is_dir():
                self._metadata_mtime()  # raises the "folder has disappeared" error
            state = self._state
            stamp = state.stamp if state is not None else None
            if state is not None and self._files.read_tail(state):
                if state.stamp != stamp:
                    self._sorted_cache = None
            else:
                try:
                    state = self._files.load()
                except IndexCorrupt:
                    state = None
                self._sorted_cache = None
            if state is None:
                self._state = IndexState()
                self._rebuild_guarded(locked)
                return self._state
            self._state = state
            if state.metadata_mtime_ns != self._metadata_mtime():
                self._reconcile(locked)
            return self._state

    def _rebuild_guarded(self, locked: bool) -> None:
        if locked:
            on_disk, _ = self._scan_metadata(None)
            st = self._state
            st.entries = {m: meta.summary() for m, meta in on_disk.items()}
            st.metadata_mtime_ns = self._metadata_mtime()
            self._files.write_snapshot(st)
        else:
            with self._file_lock:
                try:  # another process may have rebuilt it while we waited
                    self._state = self._files.load()
                    return
                except IndexCorrupt:
                    self._rebuild_guarded(True)

    def _reconcile(self, locked: bool) -> None:
        """The metadata folder changed behind the index's back: fold the difference in."""
        if not locked:
            with self._file_lock:
                self._refresh(locked=True)
            return
        state = self._state
        names = {
            e.name[:-5]
            for e in os.scandir(self.metadata_dir)
            if e.name.endswith(".json") and not is_temp_file(e.name)
        }
        by_stem = {Path(e["model_file"]).stem: m for m, e in state.entries.items()}
        records = []
        for stem in names - set(by_stem):
            try:
                meta = ModelMetadata.from_json((self.metadata_dir / f"{stem}.json").read_bytes())
            except (MetadataValidationError, OSError):
                continue  # reported by verify()
            records.append({"op": "put", "entry": meta.summary()})
        for stem in set(by_stem) - names:
            records.append({"op": "drop", "model_id": by_stem[stem]})
        records.append({"op": "sync", "metadata_mtime_ns": self._metadata_mtime()})
        self._files.append(state, records)
        self._sorted_cache = None

    def _metadata_mtime(self) -> int:
        try:
            return os.stat(self.metadata_dir).st_mtime_ns
        except FileNotFoundError:
            raise RegistryError(
                f"The registry folder {self.root} has disappeared; open it again or restore it from a backup."
            ) from None

    def _invalidate(self) -> None:
        with self._mutex:
            self._state = None
            self._sorted_cache = None

    def _entries(self) -> dict[str, dict[str, Any]]:
        return self._refresh().entries

    def _sorted_rows(self) -> list[dict[str, Any]]:
        with self._mutex:
            entries = self._entries()
            if self._sorted_cache is None:
                self._sorted_cache = sorted(entries.values(), key=lambda r: (r["model_name"], r["version"]))
            return self._sorted_cache

    def _active_rows(self) -> list[dict[str, Any]]:
        return [r for r in self._sorted_rows() if r["status"] != "deleted"]

    def _rows_of(self, name: str) -> list[dict[str, Any]]:
        rows = [r for r in self._sorted_rows() if r["model_name"] == name]
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

    def _metadata_path(self, meta: ModelMetadata) -> Path:
        return self.metadata_dir / (Path(meta.model_file).stem + ".json")


# ======================================================================== helpers
def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def _file_stem(model_id: str) -> str:
    return _UNSAFE_FILE_CHARS.sub("_", model_id)


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
