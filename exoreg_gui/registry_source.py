"""The open registry as the window sees it: opened in the background, polled for changes.

:class:`RegistrySource` owns the ``core.model_registry.ModelRegistry``, lists its versions on a
worker thread, and polls ``registry.revision()`` (cheap) on a timer so that a registration or
deletion by another process (the command line, a training script) reaches the window within a
couple of seconds. Metadata read for the inspector and the comparison is cached until the
registry's revision changes.
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

    # -- public API -------------------------------------------------------------------------------
    @property
    def root(self) -> Path | None:
        return Path(self.registry.root) if self.registry is not None else None

    @property
    def busy(self) -> bool:
        return self._worker is not None

    @property
    def polling(self) -> bool:
        return self._timer.isActive()

    def open(self, root: str | Path) -> None:
        """Open the registry at ``root`` in the background (``opened`` then ``entries_loaded``)."""
        self._stop_worker()
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
        self._generation += 1
        self.registry = None
        self.revision = None
        self._metadata.clear()

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
            self._metadata.clear()
            self._attempted_revision = revision
            self.refresh()
            return True
        return False

    def metadata(self, model_id: str):
        """The ``ModelMetadata`` of a version (cached until the registry changes)."""
        cached = self._metadata.get(model_id)
        if cached is None:
            cached = self.registry.get_metadata(model_id)
            self._metadata[model_id] = cached
        return cached

    def forget_metadata(self) -> None:
        self._metadata.clear()

    def changed_here(self) -> None:
        """The window itself wrote to the registry: drop caches and refresh now."""
        self._metadata.clear()
        self.refresh()

    # -- private --------------------------------------------------------------------------------------
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
        self._metadata.clear()
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
        if self._worker is None:
            self.check_now()
