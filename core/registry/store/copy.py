"""``exoreg copy SRC DST``: every version of one registry into another, between any two stores.

Versions keep their ids, numbers, metadata (signatures, deleted status, description, tags) and
sidecars; aliases are set once every version is there. Each version is one commit of the target
store, so a copy that stops halfway leaves whole versions only, and running it again copies what
is missing (and brings changed descriptions, tags, status and aliases up to date) and nothing else.
Every file is checked against its recorded SHA-256 when it is read from the source and again in
the target once it landed.
"""

from __future__ import annotations

import copy as _copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.common.files import sha256_bytes
from core.common.text import plural
from core.errors import IntegrityError, RegistryError
from core.registry.metadata import ModelMetadata
from core.registry.store.base import SIDECARS, RegistryStore, StoreMissing, sidecar_record

#: What an idempotent copy brings up to date in a version the target already holds.
_MUTABLE = ("status", "description", "tags")


@dataclass
class CopyReport:
    source: str
    target: str
    versions: int = 0  # versions in the source
    copied: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)  # NAME@ALIAS set or moved in the target

    @property
    def nothing_new(self) -> bool:
        return not (self.copied or self.updated or self.aliases)

    def sentence(self) -> str:
        if self.nothing_new:
            return (f"Nothing new to copy: {self.target} already holds all {plural(self.versions, 'version')} "
                    f"of {self.source}.")
        parts = [f"copied {plural(len(self.copied), 'version')}"]
        if self.updated:
            parts.append(f"updated {plural(len(self.updated), 'version')}")
        if self.aliases:
            parts.append(f"set {plural(len(self.aliases), 'alias', 'aliases')}")
        return f"From {self.source} to {self.target}: " + ", ".join(parts) + "; every file matched its SHA-256."

    def to_dict(self) -> dict:
        return {"source": self.source, "target": self.target, "versions": self.versions, "copied": self.copied,
                "updated": self.updated, "aliases": self.aliases, "nothing_new": self.nothing_new}


def _checked_model(source: RegistryStore, meta: ModelMetadata) -> bytes:
    try:
        data = source.read_model(meta)
    except StoreMissing:
        raise IntegrityError(
            f"The model file {meta.model_file} of {meta.model_id} is missing in {source.location}, so it was not "
            "copied; run `exoreg verify` there."
        ) from None
    if sha256_bytes(data) != meta.model_sha256:
        raise IntegrityError(
            f"The model file {meta.model_file} of {meta.model_id} in {source.location} does not match its recorded "
            "SHA-256, so it was not copied; run `exoreg verify` there."
        )
    return data


def _checked_sidecars(source: RegistryStore, meta: ModelMetadata) -> dict[str, bytes]:
    out = {}
    for kind in SIDECARS:
        record = sidecar_record(meta, kind)
        if record is None:
            continue
        try:
            data = source.read_sidecar(meta, kind)
        except StoreMissing:
            data = None
        if data is None or len(data) != record["size"] or sha256_bytes(data) != record["sha256"]:
            raise IntegrityError(
                f"The {kind.replace('_', ' ')} file {record['file']} of {meta.model_id} in {source.location} is "
                "missing or does not match its recorded SHA-256, so it was not copied; run `exoreg verify` there."
            )
        out[kind] = data
    return out


def copy_registry(
    source: RegistryStore, target: RegistryStore, *, progress: Callable[[int, int], None] | None = None
) -> CopyReport:
    """Copy every version (deleted ones too), its sidecars and every alias of ``source`` into ``target``."""
    if source.uri == target.uri:
        raise RegistryError(f"{source.location} is both the source and the target; copy into another registry.")
    report = CopyReport(source.location, target.location)
    rows = sorted(source.rows(), key=lambda r: (r["model_name"], r["version"]))
    report.versions = len(rows)
    for i, row in enumerate(rows, start=1):
        meta = source.read_metadata(row["model_id"])
        held = target.entries().get(meta.model_id)
        if held is None:
            _copy_version(source, target, meta)
            report.copied.append(meta.model_id)
        else:
            there = target.read_metadata(meta.model_id)
            if there.model_sha256 != meta.model_sha256 or there.version != meta.version:
                raise RegistryError(
                    f"{target.location} already holds a different {meta.model_id} (another model file or version "
                    "number), so nothing more was copied; copy into an empty registry."
                )
            if any(getattr(there, f) != getattr(meta, f) for f in _MUTABLE):
                wanted = {f: _copy.deepcopy(getattr(meta, f)) for f in _MUTABLE}
                target.update_version(meta.model_id, lambda m, w=wanted: [setattr(m, k, v) for k, v in w.items()])
                report.updated.append(meta.model_id)
        if progress:
            progress(i, len(rows))
    held_aliases = {(r["model_name"], a): r["model_id"] for r in target.rows() for a in r["aliases"]}
    for row in rows:
        for alias in row["aliases"]:
            if held_aliases.get((row["model_name"], alias)) != row["model_id"]:
                target.update_alias(row["model_name"], alias, lambda _rows, m=row["model_id"]: m)
                report.aliases.append(f"{row['model_name']}@{alias}")
    return report


def _copy_version(source: RegistryStore, target: RegistryStore, meta: ModelMetadata) -> None:
    payload = _checked_model(source, meta)
    sidecars = _checked_sidecars(source, meta)
    suffix = Path(meta.model_file).suffix

    def finish(slot) -> ModelMetadata:
        if slot.version > meta.version:
            raise RegistryError(
                f"{target.location} already holds version {slot.version - 1} of {meta.model_name}, which "
                f"{source.location} does not, so {meta.model_id} cannot keep its number; copy into an empty registry."
            )
        model_id, model_file = slot.claim(meta.model_id, suffix)
        if model_id != meta.model_id:
            raise RegistryError(
                f"{target.location} already uses the id {meta.model_id} for another file; copy into an empty registry."
            )
        out = _copy.deepcopy(meta)
        out.model_file, out.aliases = model_file, []  # aliases follow once every version is there
        return out

    committed = target.add_version(meta.model_name, payload, finish, sidecars or None)
    problem = target.check_file(committed)
    if problem is not None:
        raise IntegrityError(f"{problem.message} (after copying it into {target.location}); run the copy again.")
    for kind, data in sidecars.items():
        record = sidecar_record(committed, kind)
        if record is None or sha256_bytes(target.read_sidecar(committed, kind)) != sha256_bytes(data):
            raise IntegrityError(
                f"The {kind.replace('_', ' ')} file of {meta.model_id} does not match its SHA-256 after copying it "
                f"into {target.location}; run the copy again."
            )
