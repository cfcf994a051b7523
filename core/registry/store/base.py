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

from core.registry.metadata import ModelMetadata


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
    """One file of a backup: its portable name (``models/...`` or ``metadata/...``) and its bytes."""

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
        """The same rows sorted by model name then version (cached until something changes)."""
        ...

    def read_metadata(self, model_id: str) -> ModelMetadata:
        """One version's full metadata; StoreMissing when the id is unknown."""
        ...

    def read_model(self, meta: ModelMetadata) -> bytes:
        """The bytes of a version's model file, unchecked; StoreMissing when the file is gone."""
        ...

    def add_version(
        self, model_name: str, payload: bytes, finish: Callable[[VersionSlot], ModelMetadata]
    ) -> ModelMetadata:
        """Allocate the next version of ``model_name``, let ``finish`` complete its metadata, then commit the model file and the metadata (the commit point)."""
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
        """A consistent read of every version's model and metadata file (for backups) inside the block."""
        ...
