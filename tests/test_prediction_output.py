"""Where predictions go: never onto a link, pipe or device; `-o -` for standard output; nothing left
behind when the process is stopped by SIGTERM or SIGHUP; files with the mode the umask gives."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from core.prediction.engine import predict_csv

FEATURES = ["koi_period", "koi_depth", "koi_prad"]


def _frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(np.round(rng.normal(size=(n, len(FEATURES))), 4), columns=FEATURES)
    frame.insert(0, "kepoi_name", [f"K{i:07d}.01" for i in range(1, n + 1)])
    return frame


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A registry with a small forest and a slow one, for runs of the command line in a child process."""
    from sklearn.ensemble import RandomForestClassifier

    from core.registry.registry import ModelRegistry

    frame = _frame(400, seed=1)
    y = np.where(frame["koi_period"] > 0, "CONFIRMED", "FALSE POSITIVE")
    model = RandomForestClassifier(n_estimators=60, random_state=0).fit(frame[FEATURES], y)
    reg = ModelRegistry(tmp_path_factory.mktemp("output") / "registry")
    metrics = {"accuracy": 0.9, "precision": 0.9, "recall": 0.9, "f1_score": 0.9}
    reg.register_model(model, "Forest", "RandomForest", metrics, feature_columns=FEATURES)
    # Ten times the trees: slower to load and to predict, for the runs that are stopped midway.
    slow = RandomForestClassifier(n_estimators=600, random_state=0).fit(frame[FEATURES], y)
    reg.register_model(slow, "SlowForest", "RandomForest", metrics, feature_columns=FEATURES)
    return reg


@pytest.fixture
def pair(registry):
    return registry.load_model(model_name="Forest")


def _exoreg(registry, *args, **kwargs) -> subprocess.Popen:
    code = "import sys; from core.cli import main; sys.exit(main())"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    return subprocess.Popen(
        [sys.executable, "-c", code, "--registry", str(registry.root), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, **kwargs,
    )  # fmt: skip


def test_an_output_path_that_is_a_named_pipe_is_refused_and_left_alone(pair, tmp_path):
    src = tmp_path / "in.csv"
    _frame(20).to_csv(src, index=False)
    fifo = tmp_path / "out.csv"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match=r"is a named pipe, not a regular file; .*-o - for standard output"):
        predict_csv(pair, src, fifo)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    with pytest.raises(DataError, match="rejects path .* is a named pipe"):
        predict_csv(pair, src, tmp_path / "ok.csv", rejects_path=fifo)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]


def test_an_output_path_that_is_a_symbolic_link_is_refused_and_its_target_kept(pair, tmp_path):
    src = tmp_path / "in.csv"
    _frame(20).to_csv(src, index=False)
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    link = tmp_path / "out.csv"
    link.symlink_to(target)
    dangling = tmp_path / "dangling.csv"
    dangling.symlink_to(tmp_path / "nowhere")
    for path in (link, dangling):
        with pytest.raises(DataError, match="is a symbolic link, not a regular file"):
            predict_csv(pair, src, path)
        assert path.is_symlink()
    assert target.read_text() == "keep me"


def test_dash_writes_the_predictions_to_standard_output_and_the_report_to_standard_error(registry, tmp_path):
    src = tmp_path / "in.csv"
    _frame(500).to_csv(src, index=False)
    to_file = _exoreg(registry, "predict", "Forest", str(src), "-o", str(tmp_path / "out.csv"))
    _, err = to_file.communicate(timeout=120)
    assert to_file.returncode == 0, err
    to_stdout = _exoreg(registry, "predict", "Forest", str(src), "-o", "-")
    out, err = to_stdout.communicate(timeout=120)
    assert to_stdout.returncode == 0, err
    assert out == (tmp_path / "out.csv").read_bytes()
    assert b"rows read:  500" in err and b"output:     -" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]


@pytest.fixture(scope="module")
def long_csv(tmp_path_factory) -> Path:
    """A file whose prediction with SlowForest outlasts the stops sent below, even on a fast machine."""
    src = tmp_path_factory.mktemp("long") / "in.csv"
    _frame(500_000).to_csv(src, index=False)
    return src


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_leaves_no_temporary_file(registry, long_csv, tmp_path_factory, signum):
    folder = tmp_path_factory.mktemp("stopped")
    proc = _exoreg(registry, "predict", "SlowForest", str(long_csv), "-o", str(folder / "out.csv"))
    deadline = time.monotonic() + 120
    while not any(p.name.startswith(".exoreg-") for p in folder.iterdir()):  # writing has begun
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()
        time.sleep(0.02)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err
    assert b"stopped by a signal" in err and b"Traceback" not in err
    assert list(folder.iterdir()) == []


# Ctrl-C raises KeyboardInterrupt, as in a terminal (a program started in the background, as CI
# starts the tests, begins with SIGINT ignored).
AS_IN_A_TERMINAL = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "


@pytest.mark.parametrize("after", [1.0, 2.0])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_while_the_model_is_still_loading_ends_the_program(registry, long_csv, tmp_path, signum, after):
    """Stopped while scikit-learn is imported and the model loaded on a thread (or, on a fast
    machine, once the first batches are being predicted), ``exoreg`` (as installed:
    ``core.cli.run``) ends at once, and leaves nothing behind."""
    src = long_csv
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen(
        [sys.executable, "-c", AS_IN_A_TERMINAL + "from core.cli import run; run()", "--registry", str(registry.root),
         "predict", "SlowForest", str(src), "-o", str(tmp_path / "out.csv")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )  # fmt: skip
    time.sleep(after)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)  # a hang (threads waiting on each other at exit) fails here
    # 130 / 143 once the command's handler is set; before that, the signal's default action
    assert proc.returncode in (128 + signum, -signum), err
    assert b"Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_output_files_get_the_mode_the_umask_gives(pair, tmp_path, umask):
    src = tmp_path / "in.csv"
    frame = _frame(30).astype({"koi_depth": object})
    frame.loc[3, "koi_depth"] = "deep"  # one rejected row, so the rejects file is written too
    frame.to_csv(src, index=False)
    previous = os.umask(umask)
    try:
        summary = predict_csv(pair, src, tmp_path / "out.csv")
    finally:
        os.umask(previous)
    for path in (summary.output_path, summary.rejects_path):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask
