"""The long-lived prediction worker process: reuse, three models kept, restart, cancel, errors.

No timing is asserted here (that belongs to ``bench/gui_dialogs.py``).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import DataError, IntegrityError, ModelNotFoundError
from core.prediction.engine import PredictionCancelled, evaluate_csv, predict_csv
from core.prediction.warm import PredictionWorker, PredictionWorkerLost
from core.registry.registry import ModelRegistry
from tests._factories import FEATURES, forest, register, training_data

BIG_ROWS = 400_000


@pytest.fixture(scope="module")
def warm_registry(tmp_path_factory):
    """Four versions of a small forest, so the worker has more models than it keeps."""
    root = tmp_path_factory.mktemp("warm") / "registry"
    registry = ModelRegistry(root)
    ids = [register(registry, forest(n_estimators=3 + i, seed=i), name="Warm") for i in range(4)]
    return root, ids


@pytest.fixture(scope="module")
def rows_csv(tmp_path_factory) -> Path:
    X, y = training_data(n=300)
    frame = X.assign(kepoi_name=[f"K{i:05d}.01" for i in range(len(X))], koi_disposition=y)
    path = tmp_path_factory.mktemp("warm-rows") / "rows.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory) -> Path:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(BIG_ROWS, len(FEATURES))).round(4), columns=FEATURES)
    path = tmp_path_factory.mktemp("warm-big") / "big.csv"
    frame.to_csv(path, index=False)
    return path


def _stopped(w: PredictionWorker) -> None:
    pid = w.pid
    w.stop()
    assert not w.is_alive()
    if pid is not None:
        _assert_gone(pid)


@pytest.fixture(scope="module")
def worker():
    """One worker for the tests that do not depend on a fresh process (starting one takes seconds)."""
    w = PredictionWorker()
    yield w
    _stopped(w)


@pytest.fixture
def fresh_worker():
    w = PredictionWorker()
    yield w
    _stopped(w)


def _assert_gone(pid: int) -> None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return
    # A zombie would still answer: only a reaped process is gone.
    raise AssertionError(f"process {pid} still exists")


def _folder(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


def test_second_run_reuses_the_process_and_the_loaded_model(fresh_worker, warm_registry, rows_csv, tmp_path):
    worker = fresh_worker
    root, ids = warm_registry
    assert worker.preload(str(root), ids[0]) == {"model_id": ids[0], "loaded": True}
    pid = worker.pid
    assert worker.preload(str(root), ids[0]) == {"model_id": ids[0], "loaded": False}
    first = worker.predict_csv(str(root), ids[0], rows_csv, tmp_path / "first.csv")
    second = worker.predict_csv(ModelRegistry(root), ids[0], rows_csv, tmp_path / "second.csv")
    assert worker.pid == pid and worker.starts == 1
    status = worker.status()
    assert status["pid"] == pid and status["loads"] == 1 and status["loaded"] == [ids[0]]
    # What the worker writes is what the engine writes in-process.
    expected = predict_csv(ids[0], rows_csv, tmp_path / "engine.csv", registry=root)
    for run in (first, second):
        assert Path(run.output_path).read_bytes() == (tmp_path / "engine.csv").read_bytes()
        assert run.class_counts == expected.class_counts and run.model_id == ids[0]
    scored = worker.evaluate_csv(str(root), ids[0], rows_csv, "koi_disposition")
    assert scored.metrics == evaluate_csv(ids[0], rows_csv, "koi_disposition", registry=root).metrics
    assert worker.status()["loads"] == 1
    both = worker.evaluate_versions(str(root), ids[:2], rows_csv, "koi_disposition")  # one pass for both
    assert [r.model_id for r in both] == ids[:2] and both[0].metrics == scored.metrics
    assert both[1].metrics == evaluate_csv(ids[1], rows_csv, "koi_disposition", registry=root).metrics


def test_keeps_the_three_most_recently_used_models(fresh_worker, warm_registry):
    worker = fresh_worker
    root, ids = warm_registry
    a, b, c, d = ids
    for model_id in (a, b, c):
        assert worker.preload(str(root), model_id)["loaded"]
    assert not worker.preload(str(root), a)["loaded"]  # a is now the most recent
    assert worker.status()["loaded"] == [b, c, a]
    assert worker.preload(str(root), d)["loaded"]  # b, the least recently used, goes
    assert worker.status()["loaded"] == [c, a, d]
    assert not worker.preload(str(root), c)["loaded"]
    assert worker.preload(str(root), b)["loaded"]
    status = worker.status()
    assert status["loaded"] == [d, c, b] and status["loads"] == 5
    assert worker.starts == 1


def test_a_killed_worker_loses_its_run_clearly_and_the_next_run_restarts_it(fresh_worker, warm_registry, big_csv,
                                                                           rows_csv, tmp_path):
    worker = fresh_worker
    root, ids = warm_registry
    worker.preload(str(root), ids[0])
    pid = worker.pid
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    seen = threading.Event()
    outcome: list[BaseException] = []

    def run():
        try:
            worker.predict_csv(str(root), ids[0], big_csv, out_dir / "big.predictions.csv",
                               progress=lambda done, total: seen.set() if done else None, batch_rows=2048)
        except BaseException as exc:  # noqa: BLE001
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    assert seen.wait(60), "the run never reported progress"
    os.kill(pid, signal.SIGKILL)
    thread.join(60)
    assert not thread.is_alive()
    (error,) = outcome
    assert isinstance(error, PredictionWorkerLost)
    message = str(error)
    assert "killed by signal 9" in message and "predicting big.csv" in message and "run it again" in message
    assert "\n" not in message
    assert _folder(out_dir) == []  # the half-written temporary files went with the run
    _assert_gone(pid)
    # The next request starts a new process and works.
    summary = worker.predict_csv(str(root), ids[0], rows_csv, tmp_path / "after.csv")
    assert summary.rows_predicted == 300
    assert worker.pid not in (None, pid) and worker.starts == 2
    # Killed while idle: nothing was lost, so the next request just starts a new process.
    idle_pid = worker.pid
    os.kill(idle_pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while worker.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert worker.predict_csv(str(root), ids[0], rows_csv, tmp_path / "again.csv").rows_predicted == 300
    assert worker.starts == 3


def test_cancel_stops_the_run_writes_nothing_and_keeps_the_process(worker, warm_registry, big_csv, rows_csv,
                                                                   tmp_path):
    root, ids = warm_registry
    worker.preload(str(root), ids[1])
    pid, starts, loads = worker.pid, worker.starts, worker.status()["loads"]
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    seen = []
    with pytest.raises(PredictionCancelled):
        worker.predict_csv(str(root), ids[1], big_csv, out_dir / "big.csv", progress=lambda d, t: seen.append(d),
                           cancelled=lambda: any(seen), batch_rows=2048)
    assert _folder(out_dir) == []
    # A progress callback that raises (a GUI worker's does on Cancel) stops the run the same way.
    class Stop(Exception):
        pass

    def progress(done, total):
        if done:
            raise Stop()

    with pytest.raises(Stop):
        worker.predict_csv(str(root), ids[1], big_csv, out_dir / "big.csv", progress=progress, batch_rows=2048)
    assert _folder(out_dir) == []
    assert worker.predict_csv(str(root), ids[1], rows_csv, out_dir / "rows.csv").rows_predicted == 300
    assert worker.pid == pid and worker.starts == starts and worker.status()["loads"] == loads


def test_errors_are_the_engines_own(worker, warm_registry, rows_csv, tmp_path):
    root, ids = warm_registry
    # An unknown version, a file without the feature columns: the same class and sentence as in-process.
    cases = [("Warm_v99_20990101_000000", rows_csv), (ids[0], tmp_path / "bad.csv")]
    pd.DataFrame({"period": [1.0], "depth": [2.0]}).to_csv(tmp_path / "bad.csv", index=False)
    for model_id, path in cases:
        with pytest.raises((ModelNotFoundError, DataError)) as here:
            predict_csv(model_id, path, tmp_path / "x.csv", registry=root)
        with pytest.raises(type(here.value)) as there:
            worker.predict_csv(str(root), model_id, path, tmp_path / "x.csv")
        assert str(there.value) == str(here.value)
    assert not (tmp_path / "x.csv").exists()


def test_a_changed_model_file_is_refused_by_the_worker_as_by_the_registry(worker, warm_registry, tmp_path):
    import shutil

    root = tmp_path / "registry"
    shutil.copytree(warm_registry[0], root)
    model_id = warm_registry[1][2]
    registry = ModelRegistry(root)
    model_file = root / "models" / registry.get_metadata(model_id).model_file
    model_file.write_bytes(model_file.read_bytes() + b"\0")
    before = worker.status()
    with pytest.raises(IntegrityError) as refused:
        worker.preload(str(root), model_id)
    assert str(refused.value) == str(pytest.raises(IntegrityError, registry.load_model, model_id).value)
    assert "SHA-256" in str(refused.value)
    after = worker.status()
    assert after["loaded"] == before["loaded"] and after["loads"] == before["loads"]


def test_the_model_is_never_loaded_in_the_calling_process(worker, warm_registry, rows_csv, tmp_path, monkeypatch):
    from core.registry import safety

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded in the calling process")

    monkeypatch.setattr(ModelRegistry, "load_model", refuse)
    monkeypatch.setattr(safety, "load_model_bytes", refuse)
    root, ids = warm_registry
    worker.preload(str(root), ids[3])
    assert worker.predict_csv(str(root), ids[3], rows_csv, tmp_path / "out.csv").rows_predicted == 300


def test_a_cancelled_preload_is_not_waited_for(worker, warm_registry):
    root, ids = warm_registry
    worker.start()
    starts = worker.starts
    with pytest.raises(PredictionCancelled):
        worker.preload(str(root), ids[0], cancelled=lambda: True)
    # The process was kept; its late answer does not confuse the next request.
    assert worker.starts == starts
    assert worker.preload(str(root), ids[1])["model_id"] == ids[1]
    assert worker.status()["loaded"][-1] == ids[1]
