"""Run a long ``core`` function in a child process, with progress and cancel.

Some steps of a long operation hold Python's global interpreter lock for a long time (a
pandas or pyarrow parse, importing onnxruntime, converting a model with skl2onnx); on a
thread beside a GUI event loop that freezes the window, and a crash in a model would take
the window down. :func:`run_in_child` runs the function in a ``spawn``-ed process instead:
the calling (worker) thread only waits on a queue, relays ``progress(done, total)`` and
turns ``cancelled()`` into the child's own ``cancelled()``; the result or the exception
comes back as the same object.

The function is named as ``"package.module:function"`` and must accept ``progress`` and
``cancelled`` keyword arguments. A program that uses this needs the usual
``if __name__ == "__main__":`` guard (spawn re-imports the main module).

The two halves of that conversation are reusable: :func:`answer` (in the child: run one
request, send its throttled progress and then its result or exception) and :func:`relay` (in
the parent: wait for that answer, relaying progress and cancel, and notice a child that
died). :mod:`core.prediction.warm` holds one long-lived child on the same two halves.
"""

from __future__ import annotations

import importlib
import pickle
import queue
import time
from collections.abc import Callable
from typing import Any

from core.errors import RegistryError

POLL_SECONDS = 0.05


def run_in_child(target: str, *args, progress: Callable[[int, int], None] | None = None,
                 cancelled: Callable[[], bool] | None = None, **kwargs):
    """``target(*args, **kwargs)`` in a child process; its result or its exception, here."""
    import multiprocessing as mp

    context = mp.get_context("spawn")
    events = context.Queue()
    stop = context.Event()
    process = context.Process(target=_child_main, args=(target, args, kwargs, events, stop),
                              name=f"exoreg-{target.rsplit(':', 1)[-1]}", daemon=True)
    process.start()
    try:
        return relay(process, events, stop, progress=progress, cancelled=cancelled)
    finally:
        if process.is_alive():
            stop.set()
            process.join(30)
            if process.is_alive():
                process.terminate()
        process.join()
        events.close()


def _stopped_unexpectedly(process) -> RegistryError:
    return RegistryError(
        f"The {process.name} process stopped unexpectedly (exit code {process.exitcode}); "
        "the model or the file may be damaged."
    )


def relay(process, events, stop, *, tag: Any = None, progress: Callable[[int, int], None] | None = None,
          cancelled: Callable[[], bool] | None = None,
          lost: Callable[[Any], BaseException] = _stopped_unexpectedly,
          answered: Callable[[], None] | None = None):
    """Wait for the child's answer to request ``tag``: its result, or raise its exception.

    Progress messages go to ``progress``; ``cancelled()`` is polled every :data:`POLL_SECONDS`
    and sets ``stop`` (the child's ``cancelled()``). Messages of other requests are skipped.
    ``answered()`` is called when the child's answer arrived, before it is returned or raised.
    When the child dies before answering, raises ``lost(process)``.
    """
    while True:
        if cancelled is not None and not stop.is_set() and cancelled():
            stop.set()
        try:
            got, kind, payload = events.get(timeout=POLL_SECONDS)
        except queue.Empty:
            if process.is_alive():
                continue
            try:  # the last message may still be in the pipe
                got, kind, payload = events.get(timeout=1.0)
            except queue.Empty:
                raise lost(process) from None
        if got != tag:
            continue
        if kind == "progress":
            if progress is not None:
                progress(*payload)
        else:
            if answered is not None:
                answered()
            if kind == "result":
                return payload
            raise payload


def answer(events, tag: Any, call: Callable[[Callable[[int, int], None]], Any]) -> None:  # pragma: no cover - child
    """In the child: ``call(progress)``, then send its result or its exception for request ``tag``.

    ``progress(done, total)`` is sent at most every :data:`POLL_SECONDS` (the last one always).
    What cannot travel back to the parent becomes a :class:`RegistryError` naming it, so the
    parent is always answered.
    """
    last = [0.0]

    def progress(done, total):
        now = time.monotonic()
        if now - last[0] >= POLL_SECONDS or done >= total:
            last[0] = now
            events.put((tag, "progress", (int(done), int(total))))

    try:
        result = call(progress)
        try:
            pickle.loads(pickle.dumps(result))
        except Exception as exc:  # noqa: BLE001
            raise RegistryError(f"The result ({type(result).__name__}) cannot be sent back: {exc}.") from None
        events.put((tag, "result", result))
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:  # noqa: BLE001
            exc = RegistryError(f"{type(exc).__name__}: {exc}")
        events.put((tag, "error", exc))


def _child_main(target, args, kwargs, events, stop) -> None:  # pragma: no cover - runs in the child
    def call(progress):
        module, name = target.split(":")
        func = getattr(importlib.import_module(module), name)
        return func(*args, progress=progress, cancelled=stop.is_set, **kwargs)

    answer(events, None, call)
    events.close()
    events.join_thread()
