"""The storage seam: what :class:`~core.registry.registry.ModelRegistry` needs from where its bytes live.

The operations are registry operations, not file operations, so that a store built on object
storage (create-if-absent for a version's log entry, compare-and-swap on a name's aliases) can
implement them as well as the local folder does. The registry validates, drafts metadata and
resolves references; a store allocates versions, keeps the index and keeps writes consistent.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.errors import IntegrityError
from core.registry.metadata import ModelMetadata

#: Files a version may carry beside its model file, by kind, each with the suffix its file name
#: ends in: the rows it was trained and validated on (:class:`core.registry.records.TrainingRows`
#: bytes) and the profile of its training rows (:func:`core.registry.records.training_profile` JSON).
SIDECARS: dict[str, str] = {"training_rows": ".training-rows", "training_profile": ".training-profile.json"}
#: The largest sidecar file a store writes or reads.
MAX_SIDECAR_BYTES = 512 << 20
#: Where the metadata records its sidecars: ``meta.extra[SIDECARS_KEY][kind] = {"file", "size", "sha256"}``.
SIDECARS_KEY = "sidecars"
_SHA256_HEX = frozenset("0123456789abcdef")


def sidecar_record(meta: ModelMetadata, kind: str) -> dict[str, Any] | None:
    """What ``meta`` records of its ``kind`` sidecar (``file``, ``size``, ``sha256``), or None when it has none.

    A record that is there but malformed raises :class:`IntegrityError` (one sentence).
    """
    records = meta.extra.get(SIDECARS_KEY)
    if records is None:
        return None
    entry = records.get(kind) if isinstance(records, dict) else False
    if entry is None:
        return None
    if (
        not isinstance(entry, dict)
        or not isinstance(entry.get("file"), str)
        or not entry["file"].endswith(SIDECARS[kind])
        or "/" in entry["file"]
        or "\\" in entry["file"]
        or type(entry.get("size")) is not int
        or not 0 <= entry["size"] <= MAX_SIDECAR_BYTES
        or not isinstance(entry.get("sha256"), str)
        or len(entry["sha256"]) != 64
        or not set(entry["sha256"]) <= _SHA256_HEX
    ):
        raise IntegrityError(
            f"The metadata of {meta.model_id} records its {kind.replace('_', ' ')} file in a form ExoReg "
            "does not know; run `exoreg verify` and restore that metadata file from a backup."
        )
    return entry


def record_sidecars(meta: ModelMetadata, written: Mapping[str, tuple[str, bytes]]) -> None:
    """Record in ``meta`` the sidecars a store is writing (``{kind: (file name, bytes)}``), replacing any
    the draft carried (an imported version's records name another registry's files)."""
    from core.common.files import sha256_bytes

    meta.extra.pop(SIDECARS_KEY, None)
    if written:
        meta.extra[SIDECARS_KEY] = {
            kind: {"file": name, "size": len(data), "sha256": sha256_bytes(data)}
            for kind, (name, data) in written.items()
        }


class StoreMissing(LookupError):
    """The store holds no such version (or no such model file); the registry words the error."""


@dataclass
class Problem:
    kind: str
    path: str
    message: str
    leftover: bool = False  # the remains of an interrupted write, not corruption

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path, "message": self.message, "leftover": self.leftover}


@dataclass
class Scan:
    """Every readable metadata record by model id, and the records that could not be read."""

    found: dict[str, ModelMetadata] = field(default_factory=dict)
    bad: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class StoredFile:
    """One file of a backup: its portable name (``models/...``, ``metadata/...`` or ``sidecars/...``) and its bytes."""

    name: str
    data: bytes


@dataclass
class StoreSnapshot:
    """A consistent view of every version's files, taken while no write can interleave."""

    versions: int
    names: list[str]
    read: Callable[[str], StoredFile]  # reads one of ``names``, only inside the snapshot's block

    def __iter__(self) -> Iterator[StoredFile]:
        return (self.read(name) for name in self.names)

    def __len__(self) -> int:
        return len(self.names)


class VersionSlot(Protocol):
    """The next version of a name, handed to the registry while the store holds it."""

    version: int

    def claim(self, base_id: str, suffix: str) -> tuple[str, str]:
        """A free (model id, model file name) derived from ``base_id`` and the file suffix."""
        ...


class RegistryStore(Protocol):
    """Where a registry's model files, metadata and index live."""

    @property
    def uri(self) -> str:
        """A string that reopens this same store (``ModelRegistry(uri)``); a local store's absolute folder."""
        ...

    @property
    def location(self) -> str:
        """Where the store is, for people (messages, reports, window titles)."""
        ...

    def revision(self) -> str:
        """A cheap token that changes whenever anything in the store changes."""
        ...

    def entries(self) -> Mapping[str, dict[str, Any]]:
        """The index's summary rows by model id, brought up to date first; callers must not mutate them."""
        ...

    def rows(self) -> list[dict[str, Any]]:
        """The same rows sorted by model name then version (cached until something changes).

        A change hands out a new list, never the old one mutated: the registry keys its per-name lookup on it.
        """
        ...

    def read_metadata(self, model_id: str) -> ModelMetadata:
        """One version's full metadata; StoreMissing when the id is unknown."""
        ...

    def read_model(self, meta: ModelMetadata) -> bytes:
        """The bytes of a version's model file, unchecked; StoreMissing when the file is gone."""
        ...

    def add_version(
        self,
        model_name: str,
        payload: bytes,
        finish: Callable[[VersionSlot], ModelMetadata],
        sidecars: Mapping[str, bytes] | None = None,
    ) -> ModelMetadata:
        """Allocate the next version of ``model_name``, let ``finish`` complete its metadata, then commit the model file and the metadata (the commit point).

        ``sidecars`` (``{kind: bytes}``, kinds of :data:`SIDECARS`) are written under names (or keys)
        of this version's own before the commit point and recorded with :func:`record_sidecars`;
        a write that never commits leaves at most files :meth:`leftovers` reports.
        """
        ...

    def read_sidecar(self, meta: ModelMetadata, kind: str) -> bytes:
        """The bytes of a version's ``kind`` sidecar, unchecked; StoreMissing when it is gone or was never written."""
        ...

    def update_version(self, model_id: str, change: Callable[[ModelMetadata], None]) -> ModelMetadata:
        """Apply ``change`` to the current metadata of one version and store it atomically (no lost update); StoreMissing when unknown."""
        ...

    def update_alias(
        self,
        model_name: str,
        alias: str,
        choose: Callable[[list[dict[str, Any]]], str | None],
    ) -> ModelMetadata | None:
        """Give ``alias`` to the version ``choose(rows of the name)`` returns (None: to no version), releasing it elsewhere, as one operation."""
        ...

    def scan(self) -> Scan:
        """Read every metadata record for rebuild and verify; unreadable ones are reported, never fatal."""
        ...

    def check_file(self, meta: ModelMetadata) -> Problem | None:
        """Check a version's model file against its recorded SHA-256: None, or a missing_model_file / hash_mismatch problem."""
        ...

    def leftovers(self, scan: Scan) -> list[Problem]:
        """What interrupted writes left (temporary files, model files without metadata, a stale index)."""
        ...

    def remove_leftovers(self, problems: Collection[Problem]) -> list[str]:
        """Remove the given leftovers (rebuilding a stale index); returns what was repaired."""
        ...

    def rebuild_index(self) -> int:
        """Rebuild the index from the metadata records; returns the number of versions indexed."""
        ...

    def total_size(self) -> int:
        """Bytes the store occupies: model files, metadata and index."""
        ...

    def snapshot(self) -> AbstractContextManager[StoreSnapshot]:
        """A consistent read of every version's model, metadata and sidecar files (for backups) inside the block."""
        ...
