"""Background workers: run a plain function on a thread pool, report back on the GUI thread.

The pattern follows superqt's ``create_worker``: a :class:`QRunnable` whose signals live on a
separate :class:`QObject` created (and owned) on the GUI thread, a strong reference to every
running worker until it has finished, every exception caught and emitted as a value, and
cancellation as a flag the work function polls through its ``cancelled()`` callback.

Work functions are the long operations of ``core``: they take optional ``progress(done, total)``
and ``cancelled() -> bool`` keyword arguments (and some a ``status(text)`` one). A worker passes
them only when the function's signature accepts them, so ``start_worker(registry.list_models)``
works as well.

Workers compute; they never touch widgets. Results arrive through queued signals.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, QDeadlineTimer, QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)

#: Minimum seconds between two progress signals (the last one always goes through).
PROGRESS_INTERVAL = 0.05


class WorkCancelled(Exception):
    """Raised inside a work function (or by the worker) when the user pressed Cancel."""


class WorkerSignals(QObject):
    """Signals of one :class:`Worker`; lives on the GUI thread."""

    #: The function started running on a pool thread.
    started = Signal()
    #: ``(done, total)``; throttled to one every :data:`PROGRESS_INTERVAL` seconds.
    progressed = Signal(int, int)
    #: A line of text about the current step (for functions taking a ``status`` callback).
    status_changed = Signal(str)
    #: The function returned; carries its result.
    succeeded = Signal(object)
    #: The function raised; carries the exception (with ``__traceback__``).
    errored = Signal(object)
    #: The user cancelled and the function stopped.
    cancelled = Signal()
    #: Always emitted last, whatever happened.
    finished = Signal()


class Worker(QRunnable):
    """Run ``func(*args, **kwargs)`` on a pool thread; see the module docstring."""

    def __init__(self, func: Callable[..., Any], *args: Any, **kwargs: Any):
        super().__init__()
        self.setAutoDelete(False)
        self.func = func
        self.args = args
        self.kwargs = dict(kwargs)
        self.signals = WorkerSignals()
        self._cancel_requested = threading.Event()
        self._done = threading.Event()
        self._last_progress = 0.0
        try:
            parameters = inspect.signature(func).parameters
        except (TypeError, ValueError):  # builtins without a signature
            parameters = {}
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
        if takes_any or "progress" in parameters:
            self.kwargs.setdefault("progress", self._report_progress)
        if takes_any or "cancelled" in parameters:
            self.kwargs.setdefault("cancelled", self.is_cancelled)
        if "status" in parameters:
            self.kwargs.setdefault("status", self._report_status)

    # -- public API -------------------------------------------------------------------------
    def cancel(self) -> None:
        """Ask the function to stop; it notices at its next ``cancelled()`` poll."""
        self._cancel_requested.set()

    def is_cancelled(self) -> bool:
        return self._cancel_requested.is_set()

    def is_done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the function has returned (not until the signals were delivered)."""
        return self._done.wait(timeout)

    # -- pool thread -------------------------------------------------------------------------
    def _report_progress(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - self._last_progress >= PROGRESS_INTERVAL:
            self._last_progress = now
            self.signals.progressed.emit(int(done), int(total))
        if self.is_cancelled():
            raise WorkCancelled()

    def _report_status(self, text: str) -> None:
        self.signals.status_changed.emit(str(text))

    def run(self) -> None:  # noqa: D401 - Qt override
        signals = self.signals
        try:
            signals.started.emit()
            result = self.func(*self.args, **self.kwargs)
        except WorkCancelled:
            signals.cancelled.emit()
        except BaseException as exc:  # noqa: BLE001 - everything becomes a value for the GUI
            if self.is_cancelled():
                signals.cancelled.emit()
            else:
                log.debug("worker %r failed", getattr(self.func, "__name__", self.func), exc_info=True)
                signals.errored.emit(exc)
        else:
            if self.is_cancelled():
                signals.cancelled.emit()
            else:
                signals.succeeded.emit(result)
        finally:
            self._done.set()
            signals.finished.emit()


_pool: QThreadPool | None = None
_active: set[Worker] = set()


def thread_pool() -> QThreadPool:
    """The application's own pool (kept apart from Qt's global one so it can be drained)."""
    global _pool
    if _pool is None:
        _pool = QThreadPool()
        _pool.setObjectName("exoreg-workers")
        _pool.setMaxThreadCount(max(2, QThreadPool.globalInstance().maxThreadCount()))
    return _pool


def start_worker(
    func: Callable[..., Any],
    *args: Any,
    on_success: Callable[[Any], None] | None = None,
    on_error: Callable[[BaseException], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    on_status: Callable[[str], None] | None = None,
    on_cancelled: Callable[[], None] | None = None,
    on_finished: Callable[[], None] | None = None,
    **kwargs: Any,
) -> Worker:
    """Create a :class:`Worker`, connect the given callbacks and start it; returns the worker."""
    worker = Worker(func, *args, **kwargs)
    signals = worker.signals
    if on_success is not None:
        signals.succeeded.connect(on_success)
    if on_error is not None:
        signals.errored.connect(on_error)
    if on_progress is not None:
        signals.progressed.connect(on_progress)
    if on_status is not None:
        signals.status_changed.connect(on_status)
    if on_cancelled is not None:
        signals.cancelled.connect(on_cancelled)
    if on_finished is not None:
        signals.finished.connect(on_finished)
    _active.add(worker)
    # Drop the strong reference only once the last signal has reached the GUI thread.
    signals.finished.connect(lambda: _active.discard(worker))
    thread_pool().start(worker)
    return worker


def active_workers() -> list[Worker]:
    """Workers started and not yet finished (their ``finished`` signal not yet delivered)."""
    return list(_active)


def cancel_all() -> None:
    for worker in list(_active):
        worker.cancel()


def await_workers(timeout: float = 10.0, *, cancel: bool = False) -> bool:
    """Wait for every worker to finish and deliver its signals; True when none is left."""
    if cancel:
        cancel_all()
    deadline = time.monotonic() + timeout
    pool = thread_pool()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        pool.waitForDone(QDeadlineTimer(int(min(remaining, 0.05) * 1000)))
        app = QCoreApplication.instance()
        if app is not None:
            app.processEvents()
        if not _active and pool.activeThreadCount() == 0:
            return True
    return not _active and pool.activeThreadCount() == 0
