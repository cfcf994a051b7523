"""The open registry as the window sees it: opened in the background, polled for changes.

:class:`RegistrySource` owns the ``core.model_registry.ModelRegistry``, lists its versions on a
worker thread, and polls ``registry.revision()`` (cheap) on a timer so that a registration or
deletion by another process (the command line, a training script) reaches the window within a
couple of seconds. Metadata read for the inspector and the comparison is cached until the
registry's revision changes.

A registry in object storage (``s3://bucket/prefix``) is read only on workers: the poll asks for
``registry.revision()`` (one small request) on a worker and lists only when it moved, and the
metadata of a selection is fetched with :meth:`RegistrySource.request_metadata` before the panels
show it (:meth:`RegistrySource.missing_metadata` says which versions still need it).
"""

from __future__ import annotations

import gc
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from exoreg_gui import workers
from exoreg_gui.models.metadata_tree_model import running_versions

log = logging.getLogger(__name__)


def is_remote_uri(root: str | Path) -> bool:
    """True for a registry URI in object storage (``s3://bucket/prefix``), read over the network."""
    return isinstance(root, str) and root[:5].lower() == "s3://"


def check_registry_folder(root: str | Path) -> None:
    """Refuse a path that is missing, or a folder of other files (opening would add registry folders)."""
    from core.errors import RegistryError

    path = Path(root)
    if not path.exists():
        raise RegistryError(f"There is no registry at {path}; choose an existing folder or build the demo registry.")
    looks_like_registry = (path / "index.json").exists() or (path / "metadata").is_dir()
    if path.is_dir() and not looks_like_registry and any(path.iterdir()):
        raise RegistryError(
            f"{path} does not look like a registry (no index.json or metadata folder); "
            "choose the registry folder itself, or an empty folder to start a new one."
        )


def _open_and_list(root: str) -> tuple[Any, str, list[dict]]:
    from core.registry.registry import ModelRegistry

    if not is_remote_uri(root):
        check_registry_folder(root)
    # The index of a large registry is tens of thousands of objects kept for the window's life.
    # Left to the cyclic garbage collector they are traversed by its next passes (tens of
    # milliseconds each, with every thread stopped); frozen, they are never traversed.
    enabled = gc.isenabled()
    gc.disable()
    try:
        registry = ModelRegistry(root)
        revision = registry.revision()
        entries = registry.list_models(include_deleted=True)
        gc.freeze()
    finally:
        if enabled:
            gc.enable()
    # The inspector compares versions with the running ones: look them up here, off the GUI thread.
    running_versions()
    return registry, revision, entries


def _list(registry) -> tuple[str, list[dict]]:
    # The registry folds in what other processes appended to its index since the last call.
    revision = registry.revision()
    return revision, registry.list_models(include_deleted=True)


def _poll(registry, shown: str | None) -> tuple[str, list[dict] | None]:
    """The registry's revision, and its rows only when the revision is not the one shown."""
    revision = registry.revision()
    if revision == shown:
        return revision, None
    return revision, registry.list_models(include_deleted=True)


def _read_metadata(registry, ids: list[str], *, progress) -> dict[str, Any]:
    """``{model_id: ModelMetadata or the exception reading it raised}``, one version after another.

    One at a time on purpose: reading in parallel threads (boto3 signs and parses in Python) took the
    GIL from the window often enough to double its longest stall (bench/gui_remote_open.py).
    """
    found: dict[str, Any] = {}
    progress(0, len(ids))
    for i, model_id in enumerate(ids):
        try:
            found[model_id] = registry.get_metadata(model_id)
        except Exception as exc:  # noqa: BLE001 - reported per version by the window
            found[model_id] = exc
        progress(i + 1, len(ids))
    return found


class RegistrySource(QObject):
    """See the module docstring."""

    #: A registry was opened; carries its URI (for a local registry, its folder).
    opened = Signal(str)
    #: Opening failed; carries the exception.
    open_failed = Signal(object)
    #: New ``list_models(include_deleted=True)`` rows (after opening or a change).
    entries_loaded = Signal(object)
    #: A background refresh failed; carries the exception (the last good rows stay shown).
    refresh_failed = Signal(object)
    #: True while a registry is being opened or listed.
    busy_changed = Signal(bool)
    #: A background read of metadata (see :meth:`request_metadata`) finished.
    metadata_ready = Signal()
    #: ``(done, total)`` of the running metadata read.
    metadata_progress = Signal(int, int)

    def __init__(self, parent: QObject | None = None, *, poll_ms: int = 1500):
        super().__init__(parent)
        self.registry = None
        self.revision: str | None = None
        self._generation = 0
        self._worker: workers.Worker | None = None
        self._metadata: dict[str, Any] = {}
        self._timer = QTimer(self)
        self._timer.setObjectName("registry-poll")
        self._timer.setInterval(poll_ms)
        self._timer.timeout.connect(self._on_timer_timeout)
        self._refresh_pending = False
        self._unreadable = False
        self._attempted_revision: str | None = None
        self._failed_revision: str | None = None
        self._poll_worker: workers.Worker | None = None
        self._meta_worker: workers.Worker | None = None
        self._meta_wanted: list[str] = []
        self._meta_callbacks: list = []
        self._meta_epoch = 0  # moves whenever the cached metadata is dropped

    # -- public API -------------------------------------------------------------------------------
    @property
    def root(self) -> Path | None:
        """The open registry's folder (None when none is open, or when it is remote)."""
        if self.registry is None or self.registry.local_folder is None:
            return None
        return Path(self.registry.root)

    @property
    def location(self) -> str:
        """Where the open registry is, for people: its folder, or its ``s3://`` URI ("" when none is open)."""
        if self.registry is None:
            return ""
        root = self.root
        return str(root) if root is not None else self.registry.location

    @property
    def remote(self) -> bool:
        """True when the open registry is not on this machine (every read goes over the network)."""
        return self.registry is not None and self.registry.local_folder is None

    @property
    def fetching_metadata(self) -> bool:
        return self._meta_worker is not None

    @property
    def busy(self) -> bool:
        return self._worker is not None

    @property
    def polling(self) -> bool:
        return self._timer.isActive()

    def open(self, root: str | Path) -> None:
        """Open the registry at ``root`` (a folder or an ``s3://`` URI) in the background
        (``opened`` then ``entries_loaded``)."""
        self._stop_worker()
        self._stop_side_workers()
        self._timer.stop()
        self._generation += 1
        generation = self._generation
        self._set_worker(
            workers.start_worker(
                _open_and_list,
                str(root),
                on_success=lambda result: self._on_open_succeeded(generation, result),
                on_error=lambda exc: self._on_open_failed(generation, exc),
                on_finished=lambda: self._on_worker_finished(generation),
            )
        )

    def refresh(self) -> None:
        """List the registry again in the background (coalesced when one is running)."""
        if self.registry is None:
            return
        if self._worker is not None:
            self._refresh_pending = True
            return
        generation = self._generation
        self._set_worker(
            workers.start_worker(
                _list,
                self.registry,
                on_success=lambda result: self._on_list_succeeded(generation, result),
                on_error=lambda exc: self._on_list_failed(generation, exc),
                on_finished=lambda: self._on_worker_finished(generation),
            )
        )

    def close(self) -> None:
        """Stop polling and any running listing; forget the registry."""
        self._timer.stop()
        self._stop_worker()
        self._stop_side_workers()
        self._generation += 1
        self.registry = None
        self.revision = None
        self._drop_metadata()

    def set_poll_interval(self, ms: int) -> None:
        self._timer.setInterval(ms)

    def check_now(self) -> bool:
        """Compare the registry's revision with the shown one; refresh when it moved. True if it did."""
        if self.registry is None:
            return False
        try:
            revision = self.registry.revision()
        except Exception as exc:  # noqa: BLE001 - a vanished folder must not kill the window
            if not self._unreadable:  # say it once, not at every poll
                self._unreadable = True
                log.warning("could not read the registry revision: %s", exc)
                self.refresh_failed.emit(exc)
            return False
        if revision != self.revision and revision != self._failed_revision:
            self._drop_metadata()
            self._attempted_revision = revision
            self.refresh()
            return True
        return False

    def metadata(self, model_id: str):
        """The ``ModelMetadata`` of a version (cached until the registry changes).

        For a remote registry, read it first with :meth:`request_metadata`: this reads it at once.
        """
        cached = self._metadata.get(model_id)
        if isinstance(cached, BaseException):
            raise cached
        if cached is None:
            cached = self.registry.get_metadata(model_id)
            self._metadata[model_id] = cached
        return cached

    def cached_metadata(self, model_id: str):
        """The ``ModelMetadata`` of a version if it was read already, else None (never reads)."""
        cached = self._metadata.get(model_id)
        return None if cached is None or isinstance(cached, BaseException) else cached

    def missing_metadata(self, ids: list[str]) -> list[str]:
        """Those of ``ids`` whose metadata must still be read over the network (none for a local registry,
        read at once when asked)."""
        if not self.remote:
            return []
        return [i for i in ids if i not in self._metadata]

    def request_metadata(self, ids: list[str], then=None) -> None:
        """Read the metadata of ``ids`` on a worker (``metadata_ready`` when done, and ``then()`` if given).

        Requests made while a read runs are coalesced into one more read; a version that could not
        be read is remembered with its error, which :meth:`metadata` raises, until the registry changes.
        """
        if then is not None:
            self._meta_callbacks.append(then)
        wanted = [i for i in dict.fromkeys(ids) if i not in self._metadata]
        if self._meta_worker is not None:
            self._meta_wanted = [*self._meta_wanted, *(i for i in wanted if i not in self._meta_wanted)]
            return
        if not wanted or self.registry is None:
            self._finish_metadata()
            return
        generation, epoch = self._generation, self._meta_epoch
        self._meta_worker = workers.start_worker(
            _read_metadata,
            self.registry,
            wanted,
            on_success=lambda found: self._on_metadata_read(generation, epoch, found),
            on_progress=self.metadata_progress.emit,
            on_finished=lambda: self._on_metadata_finished(generation),
        )

    def forget_metadata(self) -> None:
        self._drop_metadata()

    def changed_here(self) -> None:
        """The window itself wrote to the registry: drop caches and refresh now."""
        self._drop_metadata()
        self.refresh()

    # -- private --------------------------------------------------------------------------------------
    def _drop_metadata(self) -> None:
        self._metadata.clear()
        self._meta_epoch += 1

    def _stop_side_workers(self) -> None:
        for worker in (self._poll_worker, self._meta_worker):
            if worker is not None:
                worker.cancel()
        self._poll_worker = self._meta_worker = None
        self._meta_wanted = []
        self._meta_callbacks = []

    def _on_metadata_read(self, generation: int, epoch: int, found: dict) -> None:
        if generation == self._generation and epoch == self._meta_epoch:
            self._metadata.update(found)
            for model_id, value in found.items():
                if isinstance(value, BaseException):
                    log.warning("could not read the metadata of %s: %s", model_id, value)

    def _on_metadata_finished(self, generation: int) -> None:
        if generation != self._generation:
            return
        self._meta_worker = None
        wanted, self._meta_wanted = self._meta_wanted, []
        wanted = [i for i in wanted if i not in self._metadata]
        if wanted:
            self.request_metadata(wanted)
            return
        self._finish_metadata()

    def _finish_metadata(self) -> None:
        callbacks, self._meta_callbacks = self._meta_callbacks, []
        self.metadata_ready.emit()
        for callback in callbacks:
            callback()

    def _poll_in_background(self) -> None:
        if self._poll_worker is not None or self.registry is None:
            return
        generation = self._generation
        self._poll_worker = workers.start_worker(
            _poll,
            self.registry,
            self.revision,
            on_success=lambda result: self._on_poll_succeeded(generation, result),
            on_error=lambda exc: self._on_poll_failed(generation, exc),
            on_finished=lambda: self._on_poll_finished(generation),
        )

    def _on_poll_succeeded(self, generation: int, result) -> None:
        if generation != self._generation or self._worker is not None:
            return  # a listing of the window's own runs: it shows what this one found
        revision, entries = result
        self._unreadable = False
        if entries is None:
            return
        self.revision = revision
        self._drop_metadata()
        self.entries_loaded.emit(entries)

    def _on_poll_failed(self, generation: int, exc: BaseException) -> None:
        if generation == self._generation and not self._unreadable:  # say it once, not at every poll
            self._unreadable = True
            log.warning("could not read the registry revision: %s", exc)
            self.refresh_failed.emit(exc)

    def _on_poll_finished(self, generation: int) -> None:
        if generation == self._generation:
            self._poll_worker = None

    def _set_worker(self, worker: workers.Worker) -> None:
        self._worker = worker
        self.busy_changed.emit(True)

    def _stop_worker(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            self._worker = None
            self.busy_changed.emit(False)

    def _on_worker_finished(self, generation: int) -> None:
        if generation != self._generation:
            return
        self._worker = None
        self.busy_changed.emit(False)
        if self._refresh_pending and self.registry is not None:
            self._refresh_pending = False
            self.refresh()

    def _on_open_succeeded(self, generation: int, result) -> None:
        if generation != self._generation:
            return
        registry, revision, entries = result
        self.registry = registry
        self.revision = revision
        self._unreadable = False
        self._drop_metadata()
        self.opened.emit(registry.uri)
        self.entries_loaded.emit(entries)
        self._timer.start()

    def _on_open_failed(self, generation: int, exc: BaseException) -> None:
        if generation == self._generation:
            if self.registry is not None:
                self._timer.start()  # the registry open before stays open: keep it live
            self.open_failed.emit(exc)

    def _on_list_succeeded(self, generation: int, result) -> None:
        if generation != self._generation:
            return
        revision, entries = result
        self.revision = revision
        self._unreadable = False
        self._failed_revision = None
        self.entries_loaded.emit(entries)

    def _on_list_failed(self, generation: int, exc: BaseException) -> None:
        if generation != self._generation:
            return
        # Retry only when the registry changes again, and say it once until it reads again.
        self._failed_revision = self._attempted_revision
        if not self._unreadable:
            self._unreadable = True
            log.warning("could not list the registry: %s", exc)
            self.refresh_failed.emit(exc)

    def _on_timer_timeout(self) -> None:
        if self._worker is not None:
            return
        if self.remote:
            self._poll_in_background()  # the revision is a request: never on the window's thread
        else:
            self.check_now()
