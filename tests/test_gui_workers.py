"""Background workers: results, errors, progress, cancellation and draining."""

from __future__ import annotations

import itertools
import threading

import pytest

pytest.importorskip("pytestqt")

from exoreg_gui import workers  # noqa: E402
from exoreg_gui.workers import WorkCancelled  # noqa: E402


@pytest.fixture(autouse=True)
def drained():
    yield
    assert workers.await_workers(timeout=10, cancel=True), "a worker outlived its test"


def test_result_arrives_on_the_gui_thread(qtbot):
    seen = {}

    def work(a, b):
        seen["thread"] = threading.current_thread()
        return a + b

    results = []
    worker = workers.start_worker(work, 2, 3, on_success=lambda r: results.append((r, threading.current_thread())))
    _wait_done(qtbot, worker)
    assert results == [(5, threading.main_thread())]
    assert seen["thread"] is not threading.main_thread()
    assert workers.active_workers() == []


def _wait_done(qtbot, worker):
    # A fast job can finish before a waitSignal would connect; the pool's own bookkeeping cannot miss it.
    qtbot.waitUntil(lambda: worker not in workers.active_workers(), timeout=5000)


def test_errors_are_values_not_crashes(qtbot):
    errors = []
    worker = workers.start_worker(lambda: 1 / 0, on_error=errors.append)
    _wait_done(qtbot, worker)
    assert len(errors) == 1 and isinstance(errors[0], ZeroDivisionError)
    assert errors[0].__traceback__ is not None


def test_progress_and_cancel_reach_a_core_style_function(qtbot):
    progress, reached = [], [0]
    steps = 1_000_000_000  # far more than run before the test cancels

    def long_job(n, *, progress=None, cancelled=None):
        for i in range(n):
            if cancelled():
                return "stopped early"
            reached[0] = i + 1  # before reporting it: progress() raises once cancel was asked
            progress(i + 1, n)
        return "finished"

    outcomes = []
    worker = workers.start_worker(long_job, steps, on_success=outcomes.append,
                                  on_cancelled=lambda: outcomes.append("cancelled"),
                                  on_progress=lambda d, t: progress.append((d, t)))
    qtbot.waitUntil(lambda: bool(progress), timeout=5000)
    with qtbot.waitSignal(worker.signals.finished, timeout=5000):
        worker.cancel()
    assert outcomes == ["cancelled"]
    assert all(t == steps for _, t in progress)
    assert progress[-1][0] <= reached[0] < steps
    # throttled: far fewer signals than steps
    assert len(progress) < 1000 and len(progress) < reached[0]


def test_progress_callback_raises_when_cancelled(qtbot):
    """A job that never looks at ``cancelled`` is still stopped: its ``progress`` call raises WorkCancelled."""
    raised = []

    def job(*, progress=None):
        steps = itertools.count()
        try:
            for i in steps:
                progress(i, 1_000_000_000)  # raises WorkCancelled once cancel() was called
        except BaseException as exc:
            raised.append((type(exc), next(steps)))
            raise
        return "never"

    outcomes, progressed = [], []
    worker = workers.start_worker(job, on_success=outcomes.append, on_cancelled=lambda: outcomes.append("c"),
                                  on_progress=lambda done, total: progressed.append(done))
    qtbot.waitUntil(lambda: bool(progressed), timeout=5000)  # the job is running
    worker.cancel()
    _wait_done(qtbot, worker)
    assert outcomes == ["c"]
    assert len(raised) == 1
    kind, steps_done = raised[0]
    assert kind is WorkCancelled
    assert progressed[-1] <= steps_done < 1_000_000_000


def test_functions_without_callbacks_get_none(qtbot):
    def plain(x):
        return x * 2

    results = []
    worker = workers.start_worker(plain, 21, on_success=results.append)
    _wait_done(qtbot, worker)
    assert results == [42]


def test_running_workers_are_visible_until_drained(qtbot):
    gate = threading.Event()
    worker = workers.start_worker(gate.wait, 10)
    assert worker in workers.active_workers()
    qtbot.waitUntil(lambda: workers.thread_pool().activeThreadCount() == 1, timeout=5000)
    assert not workers.await_workers(timeout=0.2)  # still blocked
    gate.set()
    assert workers.await_workers(timeout=5)
    assert workers.active_workers() == []


def test_status_lines_reach_the_gui(qtbot):
    def job(*, status=None):
        status("step one")
        status("step two")
        return 1

    lines = []
    worker = workers.start_worker(job, on_status=lines.append)
    _wait_done(qtbot, worker)
    assert lines == ["step one", "step two"]
