"""A registry in a local folder: the layout every ExoReg release has written.

::

    root/
      models/<model_id>.skops     the model files
      metadata/<model_id>.json    one file per version: the source of truth
      sidecars/<model_id>.training-rows, <model_id>.training-profile.json
                                  what a version was trained on (when recorded; the folder is made
                                  by the first version that has some)
      index.json                  the guide's index (a cache, rebuilt when missing or stale)
      index.journal               changes since index.json was last written
      .lock                       the cross-process lock

Writes are atomic renames (:mod:`core.common.files`) under one cross-process
:class:`~filelock.FileLock`; the index is a snapshot plus a journal (:mod:`._journal`), and
the metadata folder's mtime tells cheaply when someone changed the folder behind its back.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

from filelock import FileLock

from core.common.files import (
    STORAGE_ERRNOS,
    NotRegularFileError,
    atomic_write_bytes,
    atomic_write_text,
    describe_os_error,
    is_temp_file,
    read_regular_file,
    remove_temp_files,
    sha256_bytes,
)
from core.errors import (
    IntegrityError,
    MetadataValidationError,
    ModelNotFoundError,
    RegistryError,
    StorageError,
)
from core.registry.metadata import ModelMetadata
from core.registry.store._journal import (
    COMPACT_EVERY,
    IndexCorrupt,
    IndexFiles,
    IndexState,
    encode_line,
    fault_point,
)
from core.registry.store.base import (
    MAX_SIDECAR_BYTES,
    SIDECARS,
    Problem,
    Scan,
    StoredFile,
    StoreMissing,
    StoreSnapshot,
    record_sidecars,
    sidecar_record,
)

LOCK_TIMEOUT_S = 60
_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9._-]")


def _read_plain(path: Path, what: str) -> bytes:
    """A registry file's bytes, only from a regular file that is not a link (never following it)."""
    try:
        return read_regular_file(path, follow_links=False)
    except NotRegularFileError as exc:
        raise IntegrityError(
            f"The {what} {path} is {exc.kind}, not a regular file, so it was not read; "
            "replace it with the real file from a backup."
        ) from exc


def _read_metadata_file(path: Path) -> ModelMetadata:
    """One metadata file, read only if it is a regular file (a link or special file is corrupt)."""
    try:
        return ModelMetadata.from_json(_read_plain(path, "metadata file"))
    except IntegrityError as exc:
        raise MetadataValidationError(str(exc)) from exc


def _file_stem(model_id: str) -> str:
    return _UNSAFE_FILE_CHARS.sub("_", model_id)


class _Slot:
    """The next version of a name while the lock is held (see :meth:`LocalStore.add_version`)."""

    def __init__(self, store: LocalStore, state: IndexState, version: int):
        self._store, self._state, self.version = store, state, version

    def claim(self, base_id: str, suffix: str) -> tuple[str, str]:
        store, state = self._store, self._state
        model_id, stem, n = base_id, _file_stem(base_id), 1
        while (
            model_id in state.entries
            or (store.metadata_dir / f"{stem}.json").exists()
            or (store.models_dir / f"{stem}{suffix}").exists()
        ):
            n += 1
            model_id, stem = f"{base_id}_{n}", _file_stem(f"{base_id}_{n}")
        return model_id, stem + suffix


class LocalStore:
    """A registry folder on this machine's file system (see the module docstring)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).absolute()  # a later chdir must not move the registry
        self.models_dir = self.root / "models"
        self.metadata_dir = self.root / "metadata"
        self.sidecars_dir = self.root / "sidecars"
        if self.root.exists() and not self.root.is_dir():
            raise RegistryError(f"{self.root} is a file, not a registry folder; choose a folder.")
        for folder in (self.models_dir, self.metadata_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self._files = IndexFiles(self.root)
        self._file_lock = FileLock(str(self.root / ".lock"), timeout=LOCK_TIMEOUT_S)
        self._mutex = threading.RLock()
        self._state: IndexState | None = None
        self._sorted_cache: list[dict[str, Any]] | None = None
        self._held = 0  # depth of _locked() in this process: no recovery from inside a write
        self._index_damage: dict[str, None] = {}  # why the index had to be rebuilt (for verify)
        self._refresh()

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    @property
    def uri(self) -> str:
        return str(self.root)

    @property
    def location(self) -> str:
        return str(self.root)

    def model_path(self, meta: ModelMetadata) -> Path:
        """Where a version's model file lives (local stores only)."""
        return self.models_dir / meta.model_file

    # ==================================================================== reading
    def revision(self) -> str:
        """A token that changes whenever anything in the registry changes (three stat calls)."""
        parts = list(self._files.stamp())
        try:
            st = os.stat(self.metadata_dir)
            parts.append((st.st_mtime_ns,))
        except FileNotFoundError:
            parts.append((0,))
        return "-".join(".".join(str(x) for x in p) for p in parts)

    def entries(self) -> dict[str, dict[str, Any]]:
        return self._refresh().entries

    def rows(self) -> list[dict[str, Any]]:
        with self._mutex:
            entries = self.entries()
            if self._sorted_cache is None:
                self._sorted_cache = sorted(entries.values(), key=lambda r: (r["model_name"], r["version"]))
            return self._sorted_cache

    def read_metadata(self, model_id: str) -> ModelMetadata:
        entry = self.entries().get(model_id)
        if entry is None:
            raise StoreMissing(model_id)
        path = self.metadata_dir / (Path(entry["model_file"]).stem + ".json")
        try:
            return ModelMetadata.from_json(_read_plain(path, "metadata file"))
        except FileNotFoundError as exc:
            self._invalidate()
            raise ModelNotFoundError(
                f"The metadata of {model_id} has disappeared; run `exoreg verify`."
            ) from exc

    def read_model(self, meta: ModelMetadata) -> bytes:
        """The model file's bytes; a link, FIFO, device, socket or folder in its place is refused unread."""
        try:
            return _read_plain(self.model_path(meta), "model file")
        except FileNotFoundError as exc:
            raise StoreMissing(meta.model_file) from exc

    # ==================================================================== writing
    def add_version(
        self,
        model_name: str,
        payload: bytes,
        finish: Callable[[_Slot], ModelMetadata],
        sidecars: Mapping[str, bytes] | None = None,
    ) -> ModelMetadata:
        with self._locked() as state:
            versions = [e["version"] for e in state.entries.values() if e["model_name"] == model_name]
            meta = finish(_Slot(self, state, max(versions, default=0) + 1))
            written = {kind: (_sidecar_name(meta.model_file, kind), data) for kind, data in (sidecars or {}).items()}
            record_sidecars(meta, written)
            # The model file and the sidecars land first; the metadata file is the commit point.
            meta.validate()
            self._files.append(
                state, [{"op": "intent", "model_id": meta.model_id, "model_file": meta.model_file}], sync=False
            )
            fault_point("intent_journaled")
            model_path = self.models_dir / meta.model_file
            atomic_write_bytes(model_path, payload)
            try:
                fault_point("model_written")
                if written:
                    self.sidecars_dir.mkdir(exist_ok=True)
                    for name, data in written.values():
                        atomic_write_bytes(self.sidecars_dir / name, data)
                    fault_point("sidecars_written")
                self._write_metadata(state, meta, validated=True)
            except OSError:
                # The metadata file never landed (a full disk): the model file and the sidecars
                # are not a version, so they go now rather than waiting as orphans for the next writer.
                if not self._metadata_path(meta).exists():
                    for path in [model_path, *(self.sidecars_dir / name for name, _ in written.values())]:
                        with contextlib.suppress(OSError):
                            os.unlink(path)
                raise
        return meta

    def read_sidecar(self, meta: ModelMetadata, kind: str) -> bytes:
        """A sidecar's bytes, read under the name this version's model file implies (never a link)."""
        if sidecar_record(meta, kind) is None:
            raise StoreMissing(f"{meta.model_id}:{kind}")
        path = self.sidecars_dir / _sidecar_name(meta.model_file, kind)
        try:
            return read_regular_file(path, follow_links=False, max_bytes=MAX_SIDECAR_BYTES)
        except FileNotFoundError as exc:
            raise StoreMissing(str(path)) from exc
        except NotRegularFileError as exc:
            raise IntegrityError(
                f"The {kind.replace('_', ' ')} file {path} is {exc.kind}, not a regular file, so it was not read; "
                "replace it with the real file from a backup."
            ) from exc

    def update_version(self, model_id: str, change: Callable[[ModelMetadata], None]) -> ModelMetadata:
        with self._locked() as state:
            if model_id not in state.entries:
                raise StoreMissing(model_id)
            meta = self._read_locked(model_id, state)
            change(meta)
            self._write_metadata(state, meta)
            return meta

    def update_alias(
        self, model_name: str, alias: str, choose: Callable[[list[dict[str, Any]]], str | None]
    ) -> ModelMetadata | None:
        with self._locked() as state:
            rows = [e for e in state.entries.values() if e["model_name"] == model_name]
            target_id = choose(rows)
            # Release first, then assign: a crash in between loses the alias rather than doubling it.
            for holder in rows:
                if alias in holder["aliases"] and holder["model_id"] != target_id:
                    meta = self._read_locked(holder["model_id"], state)
                    meta.aliases = [a for a in meta.aliases if a != alias]
                    self._write_metadata(state, meta)
            if target_id is None:
                return None
            meta = self._read_locked(target_id, state)
            if alias not in meta.aliases:
                meta.aliases.append(alias)
                self._write_metadata(state, meta)
            return meta

    def _read_locked(self, model_id: str, state: IndexState) -> ModelMetadata:
        entry = state.entries[model_id]
        return _read_metadata_file(self.metadata_dir / (Path(entry["model_file"]).stem + ".json"))

    def _write_metadata(self, state: IndexState, meta: ModelMetadata, *, validated: bool = False) -> None:
        """Write one metadata file and journal it (caller holds the lock).

        The intent is journaled before the file is written, so a process killed between the
        file and its ``put`` leaves a pending intent: the next reader re-reads that file.
        """
        if not validated:
            meta.validate()
        entry = meta.summary()
        encode_line({"op": "put", "entry": entry})  # fails here, before anything is written
        if meta.model_id not in state.pending:
            self._files.append(
                state, [{"op": "intent", "model_id": meta.model_id, "model_file": None}], sync=False
            )
            fault_point("intent_journaled")
        atomic_write_text(self._metadata_path(meta), meta.to_json())
        fault_point("metadata_written")
        # Committed: the metadata file is the truth. When the disk refuses the index update
        # after it, the pending intent already makes every reader go by that file, and the
        # next write folds it in; the change is not reported as failed.
        record = {"op": "put", "entry": entry, "metadata_mtime_ns": self._metadata_mtime()}
        self._sorted_cache = None
        try:
            self._files.append(state, [record])
            fault_point("put_journaled")
            if state.journal_lines >= COMPACT_EVERY:
                self._files.write_snapshot(state)
        except OSError as exc:
            if exc.errno not in STORAGE_ERRNOS:
                raise
            state.apply(record)
            state.behind = True  # the files say less than this state: read them again next time

    # ==================================================================== integrity
    def scan(self) -> Scan:
        result = Scan()
        for entry in os.scandir(self.metadata_dir):
            if not entry.name.endswith(".json") or is_temp_file(entry.name):
                continue
            try:
                meta = _read_metadata_file(Path(entry.path))
            except (MetadataValidationError, OSError) as exc:
                result.bad.append(Problem("corrupt_metadata", entry.path, f"{entry.name} cannot be read: {exc}"))
                continue
            result.found[meta.model_id] = meta
        return result

    def check_file(self, meta: ModelMetadata) -> Problem | None:
        path = self.models_dir / meta.model_file
        try:
            data = _read_plain(path, "model file")
        except FileNotFoundError:
            return Problem(
                "missing_model_file", str(path), f"{meta.model_id}: its model file {meta.model_file} is missing."
            )
        except IntegrityError as exc:  # a link or a special file: never followed, never trusted
            return Problem("not_regular_file", str(path), f"{meta.model_id}: {exc}")
        if sha256_bytes(data) != meta.model_sha256:
            return Problem(
                "hash_mismatch",
                str(path),
                f"{meta.model_id}: {meta.model_file} does not match its recorded SHA-256.",
            )
        return None

    def leftovers(self, scan: Scan) -> list[Problem]:
        problems = self._file_leftovers(scan)
        stale = _stale_rows(self.entries(), scan)
        if stale:  # a write may have landed between the scan and now: look again under the lock
            try:
                with self._locked(recover=False) as state:
                    stale = _stale_rows(state.entries, self.scan())
            except StorageError:
                pass  # a registry this process cannot write to: nobody can be writing it through us either
        if stale:
            first, why = next(iter(sorted(stale.items())))
            problems.append(
                Problem(
                    "stale_index",
                    str(self._files.snapshot_path),
                    f"The index disagrees with {len(stale)} metadata file(s) ({first}: {why}); "
                    "run `exoreg verify --repair` to rebuild it from the metadata files.",
                )
            )
        for reason in self._index_damage:
            problems.append(
                Problem(
                    "corrupt_index",
                    str(self._files.journal_path),
                    f"The index could not be read ({reason}); it was rebuilt from the metadata files.",
                    leftover=True,
                )
            )
        return problems

    def _file_leftovers(self, scan: Scan) -> list[Problem]:
        """Temporary files and model files no metadata file in ``scan`` names."""
        problems = []
        referenced = {meta.model_file for meta in scan.found.values()}
        # A model file beside a metadata file that cannot be read is that version's, not an
        # orphan: removing it would lose the version for good.
        unreadable = {Path(p.path).stem for p in scan.bad}
        for folder in (self.models_dir, self.metadata_dir, self.sidecars_dir, self.root):
            for entry in _scandir(folder):
                if is_temp_file(entry.name):
                    problems.append(
                        Problem(
                            "temp_file",
                            entry.path,
                            "An interrupted write left this temporary file.",
                            leftover=True,
                        )
                    )
        for entry in os.scandir(self.models_dir):
            if (
                entry.is_file()
                and not is_temp_file(entry.name)
                and entry.name not in referenced
                and Path(entry.name).stem not in unreadable
            ):
                problems.append(
                    Problem(
                        "orphan_model_file",
                        entry.path,
                        f"{entry.name} has no metadata (its registration never completed).",
                        leftover=True,
                    )
                )
        # A sidecar is an orphan only when no metadata file (readable or not) is its version's: a
        # version's own file is never removed, even one its metadata does not (or no longer) names,
        # nor a file of a kind a newer release writes.
        versions = {Path(meta.model_file).stem for meta in scan.found.values()} | unreadable
        for entry in _scandir(self.sidecars_dir):
            stem = _sidecar_stem(entry.name)
            if (
                entry.is_file(follow_symlinks=False)
                and not is_temp_file(entry.name)
                and stem is not None
                and stem not in versions
            ):
                problems.append(
                    Problem(
                        "orphan_sidecar",
                        entry.path,
                        f"{entry.name} belongs to no version (its registration never completed).",
                        leftover=True,
                    )
                )
        return problems

    def remove_leftovers(self, problems: Collection[Problem]) -> list[str]:
        """Remove the given leftovers that still are leftovers, under the writers' lock.

        ``problems`` were found outside the lock; a model file that was an orphan then may
        belong to a registration that has committed since, so everything is derived again
        from a fresh scan inside the lock and only what is still a leftover is removed.
        """
        wanted = {(p.kind, p.path) for p in problems}
        repaired: list[str] = []
        with self._locked() as state:
            scan = self.scan()
            for p in self._file_leftovers(scan):
                if (p.kind, p.path) in wanted:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(p.path)
                    repaired.append(p.path)
            if ("corrupt_index", str(self._files.journal_path)) in wanted:
                self._index_damage.clear()
                repaired.append(str(self._files.journal_path))
            if ("stale_index", str(self._files.snapshot_path)) in wanted and _stale_rows(state.entries, scan):
                self._rebuild_locked(state, scan)
                repaired.append(str(self._files.snapshot_path))
        return repaired

    def rebuild_index(self) -> int:
        """Rebuild index.json from the metadata files; returns the number of versions indexed."""
        with self._locked(refresh=False, recover=False) as state:
            return self._rebuild_locked(state, self.scan())

    def _rebuild_locked(self, state: IndexState, scan: Scan) -> int:
        state.entries = {m: meta.summary() for m, meta in scan.found.items()}
        state.pending = {}
        state.metadata_mtime_ns = self._metadata_mtime()
        self._files.write_snapshot(state)
        self._sorted_cache = None
        return len(state.entries)

    def total_size(self) -> int:
        size = sum(int(r.get("model_size") or 0) for r in self.rows())
        with contextlib.suppress(OSError):
            size += sum(e.stat().st_size for e in _scandir(self.sidecars_dir) if e.is_file())
            size += sum(e.stat().st_size for e in os.scandir(self.metadata_dir) if e.is_file())
            size += sum(
                p.stat().st_size for p in (self._files.snapshot_path, self._files.journal_path) if p.exists()
            )
        return size

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[StoreSnapshot]:
        with self._locked() as state:
            paths: dict[str, Path] = {}
            for entry in state.entries.values():
                stem = Path(entry["model_file"]).stem
                paths["models/" + entry["model_file"]] = self.models_dir / entry["model_file"]
                paths["metadata/" + stem + ".json"] = self.metadata_dir / (stem + ".json")
                for kind in SIDECARS:
                    name = _sidecar_name(entry["model_file"], kind)
                    if (self.sidecars_dir / name).is_file():
                        paths["sidecars/" + name] = self.sidecars_dir / name
            what = {"models": "model file", "metadata": "metadata file", "sidecars": "sidecar file"}
            yield StoreSnapshot(
                versions=len(state.entries),
                names=list(paths),
                read=lambda name: StoredFile(name, _read_plain(paths[name], what[name.split("/", 1)[0]])),
            )

    def _read_pending(
        self, state: IndexState, model_id: str, model_file: str | None
    ) -> tuple[ModelMetadata | None, str]:
        """The metadata file a pending intent names: (metadata, "ok"), (None, "missing") or (None, "unreadable")."""
        entry = state.entries.get(model_id)
        name = model_file or (entry or {}).get("model_file")
        if not name:
            return None, "missing"
        try:
            meta = _read_metadata_file(self.metadata_dir / (Path(name).stem + ".json"))
        except FileNotFoundError:
            return None, "missing"
        except (MetadataValidationError, OSError):
            return None, "unreadable"  # reported by verify()
        if meta.model_id != model_id:
            return None, "unreadable"
        return meta, "ok"

    def _overlay_pending(self, state: IndexState) -> None:
        """Without the lock: show what the metadata files of pending intents say (they are the truth)."""
        changed = False
        for model_id, model_file in list(state.pending.items()):
            meta, _status = self._read_pending(state, model_id, model_file)
            if meta is not None:
                entry = meta.summary()
                if state.entries.get(model_id) != entry:
                    state.entries[model_id] = entry
                    changed = True
        if changed:
            self._sorted_cache = None

    def _recover_pending(self, state: IndexState) -> None:
        """Finish what an interrupted write left (caller holds the lock).

        Every write journals an intent first, so a write that never finished shows up as a
        pending intent: its metadata file, whichever version of it is on disk, goes into the
        index; a registration whose metadata never landed loses its model file.
        """
        if not state.pending:
            return
        for folder in (self.models_dir, self.metadata_dir, self.sidecars_dir):
            if folder.is_dir():
                remove_temp_files(folder)
        records: list[dict[str, Any]] = []
        for model_id, model_file in list(state.pending.items()):
            meta, status = self._read_pending(state, model_id, model_file)
            if meta is not None:
                records.append({"op": "put", "entry": meta.summary()})
                continue
            if status == "missing" and model_file and model_id not in state.entries:
                for path in [self.models_dir / model_file, *self._sidecar_paths(model_file)]:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)
            records.append({"op": "abandon", "model_id": model_id})
        self._files.append(state, records)
        self._sorted_cache = None

    # ==================================================================== index plumbing
    @contextlib.contextmanager
    def _locked_raw(self, *, refresh: bool = True, recover: bool = True):
        """Hold the cross-process lock with a fresh index; every write goes through here.

        When the block fails, the in-memory index is dropped: the next read takes it from
        the files again (a pending intent there says what to re-read).
        """
        with self._mutex, self._file_lock:
            self._held += 1
            try:
                if refresh:
                    self._refresh(locked=True)
                assert self._state is not None
                if recover and self._held == 1:
                    self._recover_pending(self._state)
                yield self._state
            except BaseException:
                self._invalidate()
                raise
            finally:
                self._held -= 1

    @contextlib.contextmanager
    def _locked(self, *, refresh: bool = True, recover: bool = True):
        """:meth:`_locked_raw`, with a disk that refuses the write (full, read-only) said in one sentence."""
        try:
            with self._locked_raw(refresh=refresh, recover=recover) as state:
                yield state
        except OSError as exc:
            if isinstance(exc, RegistryError) or exc.errno not in STORAGE_ERRNOS:
                raise
            raise self._storage_error(exc) from exc

    def _storage_error(self, exc: OSError) -> StorageError:
        return StorageError(
            describe_os_error(exc, what=f"the registry {self.root}", outcome="nothing was changed"),
            errno=exc.errno,
            filename=exc.filename,
        )

    def _refresh(self, *, locked: bool = False) -> IndexState:
        """Bring the in-memory index up to date with the files (cheap when nothing changed)."""
        with self._mutex:
            if not self.metadata_dir.is_dir():
                self._metadata_mtime()  # raises the "folder has disappeared" error
            state = self._state
            stamp = state.stamp if state is not None else None
            try:
                fresh = state is not None and self._files.read_tail(state)
            except IndexCorrupt:
                fresh = False  # load() below meets the same damage and says so
            if fresh:
                if state.stamp != stamp:
                    self._sorted_cache = None
            else:
                try:
                    state = self._files.load()
                except IndexCorrupt as exc:
                    if exc.damaged:
                        self._index_damage[str(exc)] = None
                    state = None
                self._sorted_cache = None
            if state is None:
                self._state = IndexState()
                self._rebuild_guarded(locked)
                return self._state
            self._state = state
            if state.metadata_mtime_ns != self._metadata_mtime():
                self._reconcile(locked)
            if not locked and self._held == 0 and self._state.pending:
                self._overlay_pending(self._state)
            return self._state

    def _rebuild_guarded(self, locked: bool) -> None:
        if locked:
            on_disk = self.scan().found
            st = self._state
            st.entries = {m: meta.summary() for m, meta in on_disk.items()}
            st.metadata_mtime_ns = self._metadata_mtime()
            self._files.write_snapshot(st)
        else:
            try:
                with self._file_lock:
                    try:  # another process may have rebuilt it while we waited
                        self._state = self._files.load()
                        return
                    except IndexCorrupt as exc:
                        if exc.damaged:
                            self._index_damage[str(exc)] = None
                        self._rebuild_guarded(True)
            except OSError as exc:
                if exc.errno not in STORAGE_ERRNOS:
                    raise
                self._rebuild_in_memory()

    def _rebuild_in_memory(self) -> None:
        """A registry this process cannot write to: the index is built from the metadata files, in memory only."""
        state = IndexState()
        state.entries = {m: meta.summary() for m, meta in self.scan().found.items()}
        state.metadata_mtime_ns = self._metadata_mtime()
        state.journal_ok = False
        state.stamp = self._files.stamp()
        self._state = state
        self._sorted_cache = None

    def _reconcile(self, locked: bool) -> None:
        """The metadata folder changed behind the index's back: fold the difference in.

        A registry this process may only read (a read-only copy, another user's folder, a full
        disk) is reconciled in memory: reading it never needs the lock or a write.
        """
        if not locked:
            try:
                with self._file_lock:
                    self._refresh(locked=True)
            except OSError as exc:
                if exc.errno not in STORAGE_ERRNOS:
                    raise
                state = self._files.load() if self._state is None else self._state
                for record in self._reconcile_records(state):
                    state.apply(record)
                self._state = state
                self._sorted_cache = None
            return
        state = self._state
        self._files.append(state, self._reconcile_records(state))
        self._sorted_cache = None

    def _reconcile_records(self, state: IndexState) -> list[dict[str, Any]]:
        """The journal records that bring ``state`` in line with the metadata folder."""
        names = {
            e.name[:-5]
            for e in os.scandir(self.metadata_dir)
            if e.name.endswith(".json") and not is_temp_file(e.name)
        }
        by_stem = {Path(e["model_file"]).stem: m for m, e in state.entries.items()}
        # Files replaced since the index last saw the folder: a rename into the folder does
        # not add a name, so look at every file at least as new as that moment.
        changed = set()
        for stem in names & set(by_stem):
            with contextlib.suppress(OSError):
                if os.stat(self.metadata_dir / f"{stem}.json").st_mtime_ns >= state.metadata_mtime_ns:
                    changed.add(stem)
        records = []
        for stem in (names - set(by_stem)) | changed:
            try:
                meta = _read_metadata_file(self.metadata_dir / f"{stem}.json")
            except (MetadataValidationError, OSError):
                continue  # reported by verify()
            entry = meta.summary()
            if state.entries.get(meta.model_id) != entry:
                records.append({"op": "put", "entry": entry})
        for stem in set(by_stem) - names:
            records.append({"op": "drop", "model_id": by_stem[stem]})
        records.append({"op": "sync", "metadata_mtime_ns": self._metadata_mtime()})
        return records

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

    def _metadata_path(self, meta: ModelMetadata) -> Path:
        return self.metadata_dir / (Path(meta.model_file).stem + ".json")

    def _sidecar_paths(self, model_file: str) -> list[Path]:
        return [self.sidecars_dir / _sidecar_name(model_file, kind) for kind in SIDECARS]


def _sidecar_name(model_file: str, kind: str) -> str:
    """The file name of a version's ``kind`` sidecar: its model file's stem and the kind's suffix."""
    return Path(model_file).stem + SIDECARS[kind]


def _sidecar_stem(name: str) -> str | None:
    """The model file stem a sidecar file name belongs to, or None for a name no sidecar has."""
    for suffix in SIDECARS.values():
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return None


def _scandir(folder: Path) -> list[os.DirEntry]:
    """The entries of ``folder``; none when it does not exist (an old registry has no sidecars folder)."""
    try:
        with os.scandir(folder) as it:
            return list(it)
    except FileNotFoundError:
        return []


def _stale_rows(indexed: Mapping[str, dict[str, Any]], scan: Scan) -> dict[str, str]:
    """Versions whose index row differs from their metadata file, each with what differs.

    A row whose metadata file exists but cannot be read is reported as corrupt metadata, not here.
    """
    found = scan.found
    unreadable = {Path(p.path).stem for p in scan.bad}
    stale: dict[str, str] = {}
    for model_id in set(indexed) | set(found):
        if model_id not in found and Path(str(indexed[model_id].get("model_file", ""))).stem in unreadable:
            continue
        if model_id not in found:
            stale[model_id] = "the index has a row but there is no readable metadata file"
        elif model_id not in indexed:
            stale[model_id] = "its metadata file is missing from the index"
        else:
            row, summary = indexed[model_id], found[model_id].summary()
            fields = sorted(k for k in row.keys() | summary.keys() if row.get(k, _ABSENT) != summary.get(k, _ABSENT))
            if fields:
                stale[model_id] = f"{', '.join(fields)} differ"
    return stale


_ABSENT = object()
