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
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable

from core.errors import RegistryError

POLL_SECONDS = 0.05


def run_in_child(target: str, *args, progress: Callable[[int, int], None] | None = None,
                 cancelled: Callable[[], bool] | None = None, **kwargs):
    """``target(*args, **kwargs)`` in a child process; its result or its exception, here."""
    import multiprocessing as mp
    import queue

    context = mp.get_context("spawn")
    events = context.Queue()
    stop = context.Event()
    process = context.Process(target=_child_main, args=(target, args, kwargs, events, stop),
                              name=f"exoreg-{target.rsplit(':', 1)[-1]}", daemon=True)
    process.start()
    try:
        while True:
            if cancelled is not None and not stop.is_set() and cancelled():
                stop.set()
            try:
                kind, payload = events.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if process.is_alive():
                    continue
                try:  # the last message may still be in the pipe
                    kind, payload = events.get(timeout=1.0)
                except queue.Empty:
                    raise RegistryError(
                        f"The {process.name} process stopped unexpectedly (exit code {process.exitcode}); "
                        "the model or the file may be damaged."
                    ) from None
            if kind == "progress":
                if progress is not None:
                    progress(*payload)
            elif kind == "result":
                return payload
            else:
                raise payload
    finally:
        if process.is_alive():
            stop.set()
            process.join(30)
            if process.is_alive():
                process.terminate()
        process.join()
        events.close()


def _child_main(target, args, kwargs, events, stop) -> None:  # pragma: no cover - runs in the child
    import pickle

    last = [0.0]

    def progress(done, total):
        now = time.monotonic()
        if now - last[0] >= POLL_SECONDS or done >= total:
            last[0] = now
            events.put(("progress", (int(done), int(total))))

    try:
        module, name = target.split(":")
        func = getattr(importlib.import_module(module), name)
        events.put(("result", func(*args, progress=progress, cancelled=stop.is_set, **kwargs)))
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
        try:
            pickle.dumps(exc)
            events.put(("error", exc))
        except Exception:  # noqa: BLE001
            events.put(("error", RegistryError(f"{type(exc).__name__}: {exc}")))
    events.close()
    events.join_thread()
