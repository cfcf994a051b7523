"""The application's prediction worker: one long-lived process that predicts, kept warm.

:class:`core.prediction.warm.PredictionWorker` holds scikit-learn imported and the last three
models loaded and verified in a child process, so a run in the prediction dialog starts at
once, and a model (or a crafted model file) can neither stall nor take down the window: no
model is ever loaded in this process. The window starts it when it is idle after its first
paint (:func:`start_soon`); the prediction dialog asks it to load the model it proposes; it
ends with the application (:func:`shutdown`). If it dies, the next request starts a new one.

Its methods block: call them from a background worker (:mod:`exoreg_gui.workers`), never on
the GUI thread. :func:`start_soon` only starts the process, and :func:`preload_in_background`
asks for a model on a thread of its own (one long-lived thread serving the requests in
turn, so asking costs the window a queue put, not a thread start): warming the application's
worker is not a dialog's work to wait for (the first start imports scikit-learn for
seconds), so it is not one of the dialog's workers.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal

from core.prediction.warm import PredictionWorker

log = logging.getLogger("exoreg_gui")

_worker: PredictionWorker | None = None


def shared() -> PredictionWorker:
    """The application's worker (created on first use, started by its first request)."""
    global _worker
    if _worker is None:
        _worker = PredictionWorker()
    return _worker


def start_soon() -> None:
    """Start the worker process unless it runs, and the thread that asks it for models; never waits."""
    try:
        shared().start(wait=False)
    except Exception:  # noqa: BLE001 - a worker that cannot start is started again by the first run
        log.warning("could not start the prediction worker", exc_info=True)
    _ensure_preload_thread()


def running() -> bool:
    return _worker is not None and _worker.is_alive()


def shutdown() -> None:
    """End the worker process (a run it serves is cancelled); a later request starts a new one."""
    if _worker is not None:
        _worker.stop()


class _PreloadSignals(QObject):
    #: ``(model_id, error or None)``, on the GUI thread.
    done = Signal(str, object)


_pending: set[_PreloadSignals] = set()  # alive until their signal was delivered
_preloads: queue.SimpleQueue = queue.SimpleQueue()  # (registry_uri, model_id, cancel event, signals)
_preload_thread: threading.Thread | None = None
_preload_lock = threading.Lock()


def _serve_preloads() -> None:
    """The preload thread: load each requested model in turn (a cancelled request is skipped)."""
    while True:
        registry_uri, model_id, cancel, signals = _preloads.get()
        error = None
        if not cancel.is_set():
            try:
                shared().preload(registry_uri, model_id, cancelled=cancel.is_set)
            except BaseException as exc:  # noqa: BLE001 - handed to the GUI thread
                error = exc
        signals.done.emit(model_id, error)


def preload_in_background(registry_uri: str, model_id: str, owner: QObject,
                          on_done: Callable[[str, BaseException | None], None]) -> threading.Event:
    """Load and verify ``model_id`` in the worker process; ``on_done(model_id, error)`` on the GUI thread.

    ``on_done`` is dropped once ``owner`` is deleted. Setting the returned event cancels the
    request (nothing waits for a cancelled load).
    """
    import shiboken6

    cancel = threading.Event()
    signals = _PreloadSignals()
    _pending.add(signals)

    def deliver(loaded_id: str, error) -> None:
        _pending.discard(signals)
        if shiboken6.isValid(owner) and not cancel.is_set():
            on_done(loaded_id, error)

    signals.done.connect(deliver)
    _preloads.put((registry_uri, model_id, cancel, signals))
    _ensure_preload_thread()
    return cancel


def _ensure_preload_thread() -> None:
    global _preload_thread
    with _preload_lock:
        if _preload_thread is None or not _preload_thread.is_alive():
            _preload_thread = threading.Thread(target=_serve_preloads, name="exoreg-preload", daemon=True)
            _preload_thread.start()


def predict_file(registry_uri: str, model_id: str, input_path: str, output_path: str, *,
                 progress=None, cancelled=None):
    """Worker function: :func:`core.prediction.predict_csv` of one file, in the worker process."""
    return shared().predict_csv(registry_uri, model_id, input_path, output_path,
                                progress=progress, cancelled=cancelled)


def evaluate_file(registry_uri: str, model_id: str, input_path: str, label_column: str, *,
                  progress=None, cancelled=None):
    """Worker function: :func:`core.prediction.evaluate_csv` of one file, in the worker process."""
    return shared().evaluate_csv(registry_uri, model_id, input_path, label_column,
                                 progress=progress, cancelled=cancelled)


def evaluate_files(registry_uri: str, model_ids: list[str], input_path: str, label_column: str, *,
                   progress=None, cancelled=None):
    """Worker function: :func:`core.prediction.evaluate_versions`, one pass for every version, in the worker process."""
    return shared().evaluate_versions(registry_uri, model_ids, input_path, label_column,
                                      progress=progress, cancelled=cancelled)


def compare_file(registry_uri: str, model_ids: list[str], input_path: str, label_column: str, *,
                 progress=None, cancelled=None, **options):
    """Worker function: :func:`core.prediction.scoring.compare_on_file` in the worker process.

    ``options`` are compare_on_file's (``exclude_training_rows``, ``allow_unpaired``, ``primary``,
    ``alpha``, ``n_resamples``, ``seed``...). Returns the ``FileComparison``; raises
    :class:`core.errors.TooFewSharedRows` when the versions share too few held-out rows (offer
    ``allow_unpaired=True`` then).
    """
    return shared().compare_on_file(registry_uri, model_ids, input_path, label_column,
                                    progress=progress, cancelled=cancelled, **options)
