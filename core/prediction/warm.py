"""A long-lived prediction worker process: scikit-learn imported, the last models loaded and verified.

Starting a child process, importing scikit-learn and loading a model take seconds; predicting a
few thousand rows takes a fraction of one. :class:`PredictionWorker` keeps one ``spawn``-ed child
alive between runs so that a desktop application pays the start once and the load once per model:

- The child imports scikit-learn, pyarrow and the engine as soon as it starts, then serves
  requests one at a time: :meth:`~PredictionWorker.preload` (load and verify a version),
  :meth:`~PredictionWorker.predict_csv`, :meth:`~PredictionWorker.evaluate_csv`,
  :meth:`~PredictionWorker.evaluate_versions` and :meth:`~PredictionWorker.compare_on_file` (the
  engine's own functions, handed the ``(model, metadata)`` pairs already loaded) and
  :meth:`~PredictionWorker.status`.
- It keeps at most :data:`KEEP_MODELS` models loaded, the most recently used ones. Each is loaded
  through the registry's safe path (``ModelRegistry.load_model``: SHA-256 check, type audit, the
  usual trust rules); every request reads the version's metadata again, and a model whose
  recorded SHA-256 or signature changed since it was loaded is loaded again.
- Progress, cancel and errors travel as with :func:`core.prediction.runner.run_in_child` (the
  same relay): the same :class:`~core.errors.RegistryError` subclasses and one-sentence messages.
- A child that dies (a crashing model, a kill) costs the run it was serving, which raises
  :class:`PredictionWorkerLost`; temporary output it left is removed, and the next request starts
  a new child. The model is never loaded in the calling process.

The methods block and are meant for a worker thread (never a GUI thread); requests from several
threads wait for one another. ``progress`` and ``cancelled`` are called on the calling thread.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from core.errors import RegistryError
from core.prediction import runner

#: How many models the worker keeps loaded (the most recently used).
KEEP_MODELS = 3

#: Imported by the child as soon as it starts, so the first run does not pay for them.
WARM_IMPORTS = (
    "numpy",
    "pandas",
    "pyarrow",
    "pyarrow.csv",
    "pyarrow.compute",
    "sklearn",
    "sklearn.pipeline",
    "sklearn.impute",
    "sklearn.preprocessing",
    "sklearn.ensemble",
    "sklearn.tree",
    "sklearn.neural_network",
    "sklearn.svm",
    "sklearn.calibration",
    "core.registry.registry",
    "core.prediction.csv_input",
    "core.prediction.engine",
    "core.prediction.scoring",
)

#: Seconds a stopping worker gets to finish its request and exit before it is terminated.
STOP_SECONDS = 5.0


class PredictionWorkerLost(RegistryError):
    """The worker process died while it served a request; the next request starts a new one."""


class _Abandoned(Exception):
    """A cancelled request that writes nothing is not waited for (its late answer is skipped)."""


#: Requests that write files: cancelling one stops it in the child and waits for its answer.
_WRITES = frozenset({"predict_csv", "evaluate_csv"})


class PredictionWorker:
    """One long-lived prediction process (see the module docstring)."""

    def __init__(self, *, keep_models: int = KEEP_MODELS, name: str = "exoreg-prediction-worker"):
        if keep_models < 1:
            raise ValueError("keep_models must be at least 1")
        self.keep_models = keep_models
        self.name = name
        #: How many times a process was started (the first start included).
        self.starts = 0
        self._lock = threading.Lock()  # one request at a time; also guards starting and stopping
        self._tags = itertools.count(1)
        self._process = self._requests = self._events = self._stop = None

    # ============================================================ the process
    @property
    def pid(self) -> int | None:
        """The worker process's id while it runs, else None."""
        process = self._process
        return process.pid if process is not None and process.is_alive() else None

    def is_alive(self) -> bool:
        process = self._process
        return process is not None and process.is_alive()

    def start(self, *, wait: bool = True) -> bool:
        """Start the process unless it runs (it imports scikit-learn while the caller goes on).

        With ``wait=False`` it returns at once, doing nothing, while another thread's request
        holds the worker (that request starts the process itself). True when it runs.
        """
        if not self._lock.acquire(blocking=wait):
            return False
        try:
            self._ensure_started()
            return True
        finally:
            self._lock.release()

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """End the process: a request it is serving is cancelled; it is terminated if it does not exit."""
        process = self._process
        if process is None:
            return
        if process.is_alive():
            self._stop.set()
            with contextlib.suppress(OSError, ValueError):
                self._requests.put(None)
            process.join(timeout)
            if process.is_alive():
                process.terminate()
                process.join(2.0)
            if process.is_alive():
                process.kill()
                process.join()
        # A request waiting on the dead process notices within a second; then the queues go.
        if self._lock.acquire(timeout=3.0):
            try:
                if self._process is process:
                    self._discard()
            finally:
                self._lock.release()

    def _ensure_started(self) -> None:
        if self._process is not None and self._process.is_alive():
            return
        self._discard()
        import multiprocessing as mp

        context = mp.get_context("spawn")
        self._requests = context.Queue()
        self._events = context.Queue()
        self._stop = context.Event()
        self._process = context.Process(target=_serve, args=(self._requests, self._events, self._stop,
                                                             self.keep_models),
                                        name=self.name, daemon=True)
        self._process.start()
        self.starts += 1

    def _discard(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.is_alive():
                process.kill()
            process.join()
            process.close()
        for q in (self._requests, self._events):
            if q is not None:
                q.close()
                q.cancel_join_thread()
        self._requests = self._events = self._stop = None

    # ============================================================ requests
    def preload(self, registry, model_id: str, *, cancelled=None) -> dict[str, Any]:
        """Load and verify a version now, so a run with it starts at once.

        Returns ``{"model_id", "loaded"}``: ``loaded`` is False when it was loaded already.
        Raises what loading raises (:class:`~core.errors.IntegrityError` for a changed file,
        :class:`~core.errors.UntrustedModelError` for types off the allowlist, ...).
        """
        return self._request("preload", registry, model_id, (), {}, cancelled=cancelled,
                             what=f"loading {model_id}")

    def predict_csv(self, registry, model_id: str, input_path, output_path, *, progress=None, cancelled=None,
                    **kwargs):
        """:func:`core.prediction.engine.predict_csv` with this registry's version, in the worker."""
        kwargs.pop("in_subprocess", None)
        return self._request("predict_csv", registry, model_id, (str(input_path), str(output_path)), kwargs,
                             progress=progress, cancelled=cancelled, what=f"predicting {Path(input_path).name}",
                             output=Path(output_path))

    def evaluate_csv(self, registry, model_id: str, input_path, label_column: str | None = None, *,
                     progress=None, cancelled=None, **kwargs):
        """:func:`core.prediction.engine.evaluate_csv` with this registry's version, in the worker."""
        kwargs.pop("in_subprocess", None)
        args = (str(input_path),) if label_column is None else (str(input_path), label_column)
        return self._request("evaluate_csv", registry, model_id, args, kwargs, progress=progress,
                             cancelled=cancelled, what=f"scoring {model_id} on {Path(input_path).name}")

    def evaluate_versions(self, registry, model_ids, input_path, label_column: str | None = None, *,
                          progress=None, cancelled=None, **kwargs):
        """:func:`core.prediction.engine.evaluate_versions`: several versions, one pass, in the worker."""
        kwargs.pop("in_subprocess", None)
        args = (str(input_path),) if label_column is None else (str(input_path), label_column)
        return self._request("evaluate_versions", registry, list(model_ids), args, kwargs, progress=progress,
                             cancelled=cancelled, what=f"scoring {len(model_ids)} versions on {Path(input_path).name}")

    def compare_on_file(self, registry, model_ids, input_path, label_column: str | None = None, *,
                        progress=None, cancelled=None, **kwargs):
        """:func:`core.prediction.scoring.compare_on_file`: one pass, held-out rows, the statistics, in the worker.

        Returns the :class:`~core.prediction.scoring.FileComparison` (its reports are written by the
        caller with ``write_report``); raises :class:`~core.errors.TooFewSharedRows` as it does.
        """
        kwargs.pop("registry", None)
        args = (str(input_path),) if label_column is None else (str(input_path), label_column)
        return self._request("compare_on_file", registry, list(model_ids), args, kwargs, progress=progress,
                             cancelled=cancelled,
                             what=f"comparing {len(model_ids)} versions on {Path(input_path).name}")

    def status(self) -> dict[str, Any]:
        """``{"pid", "loaded": [model ids, least recently used first], "loads"}`` (``loads``: files loaded)."""
        return self._request("status", None, None, (), {}, what="reporting its status")

    def _request(self, op: str, registry, model_id, args: tuple, kwargs: dict, *, progress=None, cancelled=None,
                 what: str, output: Path | None = None):
        uri = registry if registry is None or isinstance(registry, str) else getattr(registry, "uri", registry)
        uri = None if uri is None else str(uri)
        self._acquire(cancelled)
        try:
            self._ensure_started()
            process, events, stop = self._process, self._events, self._stop
            tag = next(self._tags)
            stop.clear()
            started = time.time()
            # A callback that raises (a GUI worker's progress does when the user cancels) cancels the
            # run; the child's answer is still awaited, so the next request finds it idle.
            raised: list[BaseException] = []

            def relayed_progress(done: int, total: int) -> None:
                if progress is not None and not raised:
                    try:
                        progress(done, total)
                    except BaseException as exc:  # noqa: BLE001 - re-raised once the child answered
                        raised.append(exc)
                        stop.set()

            def relayed_cancelled() -> bool:
                if cancelled is None or raised:
                    return bool(raised)
                try:
                    stop_now = bool(cancelled())
                except BaseException as exc:  # noqa: BLE001 - re-raised once the child answered
                    raised.append(exc)
                    return True
                if stop_now and op not in _WRITES:
                    raise _Abandoned  # nothing to undo: its answer is skipped, the process stays
                return stop_now

            answered: list[bool] = []
            try:
                self._requests.put((tag, op, uri, model_id, args, kwargs))
                try:
                    result = runner.relay(process, events, stop, tag=tag, progress=relayed_progress,
                                          cancelled=relayed_cancelled, answered=lambda: answered.append(True),
                                          lost=lambda p: self._lost(p, what, output, started))
                except _Abandoned:
                    answered.append(True)
                    from core.prediction.engine import PredictionCancelled

                    raise PredictionCancelled(f"Cancelled {what}.") from None
                except BaseException:
                    if raised and answered:
                        raise raised[0] from None
                    raise
                if raised:
                    raise raised[0]
                return result
            finally:
                if not answered:  # lost, or interrupted while waiting: the child's state is unknown
                    self._discard()
        finally:
            self._lock.release()

    def _acquire(self, cancelled) -> None:
        while not self._lock.acquire(timeout=runner.POLL_SECONDS):
            if cancelled is not None and cancelled():
                from core.prediction.engine import PredictionCancelled

                raise PredictionCancelled("The run was cancelled before it started; nothing was written.")

    def _lost(self, process, what: str, output: Path | None, started: float) -> PredictionWorkerLost:
        code = process.exitcode
        how = f"was killed by signal {-code}" if isinstance(code, int) and code < 0 else f"exited with code {code}"
        if output is not None:
            from core.common.files import remove_temp_files

            remove_temp_files(output.parent, newer_than=started - 1.0)
        return PredictionWorkerLost(
            f"The prediction worker process {how} while {what}, so that run was lost and nothing was written; "
            "run it again (a new worker starts)."
        )


# ============================================================ the child
class _Models:  # pragma: no cover - runs in the child
    """The child's loaded models: at most ``keep``, least recently used first."""

    def __init__(self, keep: int):
        self.keep = keep
        self.loaded: OrderedDict[tuple[str, str], tuple[Any, tuple]] = OrderedDict()
        self.registries: OrderedDict[str, Any] = OrderedDict()
        self.loads = 0

    def registry(self, uri: str):
        from core.registry.registry import ModelRegistry

        registry = self.registries.pop(uri, None) or ModelRegistry(uri)
        self.registries[uri] = registry
        while len(self.registries) > 4:
            self.registries.popitem(last=False)
        return registry

    def get(self, uri: str, model_id: str) -> tuple[tuple[Any, Any], bool]:
        """``((model, metadata), loaded_now)``; the metadata is read again on every call."""
        registry = self.registry(uri)
        meta = registry.resolve(model_id)
        key = (uri, meta.model_id)
        stamp = (meta.model_sha256, getattr(meta, "file_signature", None))
        cached = self.loaded.pop(key, None)
        if cached is not None and cached[1] == stamp:
            self.loaded[key] = cached
            return (cached[0], meta), False
        while len(self.loaded) >= self.keep:  # make room first: never more than ``keep`` in memory
            self.loaded.popitem(last=False)
        model, meta = registry.load_model(model_id=meta.model_id)
        self.loads += 1
        self.loaded[key] = (model, (meta.model_sha256, getattr(meta, "file_signature", None)))
        return (model, meta), True


def _warm_up() -> None:  # pragma: no cover - runs in the child
    import importlib

    from core.registry.skopsio import skops_io

    skops_io()  # first: the way the registry imports it
    for name in WARM_IMPORTS:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def _handle(models: _Models, op: str, uri, model_id, args, kwargs, progress, cancelled):  # pragma: no cover
    import os

    if op == "status":
        return {"pid": os.getpid(), "loaded": [key[1] for key in models.loaded], "loads": models.loads}
    from core.prediction import engine

    if op in ("evaluate_versions", "compare_on_file"):  # every version loaded (or kept) first, then one pass
        pairs = [models.get(uri, one)[0] for one in model_id]
        if op == "compare_on_file":
            from core.prediction.scoring import compare_on_file as func
        else:
            func = engine.evaluate_versions
        kwargs.setdefault("registry", models.registry(uri))  # where each version's training rows are recorded
        return func(pairs, *args, progress=progress, cancelled=cancelled, **kwargs)
    pair, loaded = models.get(uri, model_id)
    if op == "preload":
        return {"model_id": pair[1].model_id, "loaded": loaded}
    func = {"predict_csv": engine.predict_csv, "evaluate_csv": engine.evaluate_csv}[op]
    if op == "predict_csv":  # the version's training profile (for the drift verdict) is read from it
        kwargs = {"registry": models.registry(uri), **kwargs}
    return func(pair, *args, progress=progress, cancelled=cancelled, **kwargs)


def _serve(requests, events, stop, keep: int) -> None:  # pragma: no cover - runs in the child
    _warm_up()
    models = _Models(keep)
    while True:
        message = requests.get()
        if message is None:
            break
        tag, op, uri, model_id, args, kwargs = message
        runner.answer(events, tag, lambda progress, m=message: _handle(
            models, m[1], m[2], m[3], m[4], m[5], progress, stop.is_set))
    events.close()
    events.join_thread()
