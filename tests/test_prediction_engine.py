"""The streaming engine's promises about threads and passes: the engine decides the threads (the
model runs at n_jobs=1, one worker per core), the output is the same bit for bit from run to run
and equal to an in-memory predict_proba, and several versions are scored in one pass."""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from core.prediction import engine, stream
from core.prediction.engine import evaluate_csv, evaluate_versions, predict_csv

FEATURES = [
    "koi_period", "koi_duration", "koi_depth", "koi_prad", "koi_teq", "koi_insol",
    "koi_model_snr", "koi_steff", "koi_slogg", "koi_srad", "koi_impact", "koi_kepmag",
]  # fmt: skip
PROBABILITIES = ["probability_CONFIRMED", "probability_FALSE POSITIVE"]


@pytest.fixture(scope="module")
def koi_frame(koi_csv) -> pd.DataFrame:
    return pd.read_csv(koi_csv, comment="#")


@pytest.fixture(scope="module")
def leafy_forest(koi_frame):
    """A forest with impure leaves (min_samples_leaf=2), trained with n_jobs=-1 as many users do:
    summed in completion order, its probabilities could differ in the last bits between runs."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    labelled = koi_frame[koi_frame["koi_disposition"] != "CANDIDATE"].sample(n=3000, random_state=1)
    model = make_pipeline(
        SimpleImputer(strategy="median"),
        RandomForestClassifier(n_estimators=60, min_samples_leaf=2, n_jobs=-1, random_state=0),
    )
    model.fit(labelled[FEATURES], labelled["koi_disposition"])
    return model, SimpleNamespace(model_id="leafy_v1", feature_columns=FEATURES, classes=[])


@pytest.mark.koi
def test_a_forest_with_impure_leaves_and_n_jobs_is_exact_and_the_same_every_run(
    leafy_forest, koi_csv, koi_frame, tmp_path
):
    model, meta = leafy_forest
    outputs = []
    for i, workers in enumerate((None, 2, 1)):
        out = tmp_path / f"run{i}.csv"
        predict_csv((model, meta), koi_csv, out, workers=workers, batch_rows=960)
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]
    assert model[-1].n_jobs == -1  # the caller's model is given back as it was

    model[-1].n_jobs = 1
    try:
        expected = model.predict_proba(koi_frame[FEATURES])
    finally:
        model[-1].n_jobs = -1
    got = pd.read_csv(tmp_path / "run0.csv")
    np.testing.assert_array_equal(got[PROBABILITIES].to_numpy(), expected)


def test_the_model_runs_single_threaded_inside_the_engine_and_is_restored(tmp_path):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(400, 3)), columns=["a", "b", "c"])
    y = np.where(X["a"] > 0, "CONFIRMED", "FALSE POSITIVE")
    model = CalibratedClassifierCV(RandomForestClassifier(n_estimators=5, n_jobs=-1, random_state=0), cv=2)
    model.n_jobs = 3
    model.fit(X, y)
    members = [c.estimator for c in model.calibrated_classifiers_]  # the fitted forests predict uses
    seen = []

    class Spy:  # records the n_jobs that every forest has while a batch is predicted
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def predict_proba(self, X):
            seen.append([model.n_jobs, *(m.n_jobs for m in members)])
            return self.inner.predict_proba(X)

    csv = tmp_path / "rows.csv"
    X.to_csv(csv, index=False)
    meta = SimpleNamespace(model_id="m", feature_columns=["a", "b", "c"], classes=[])
    predict_csv((Spy(model), meta), csv, tmp_path / "out.csv")
    assert seen and all(jobs == [1, 1, 1] for jobs in seen)
    assert model.n_jobs == 3 and all(m.n_jobs == -1 for m in members)


def test_one_prediction_thread_per_usable_core():
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert stream.worker_count(None) == expected
    assert stream.worker_count(3) == 3


def test_a_small_file_is_split_so_that_every_worker_gets_rows(tmp_path):
    from core.prediction.csv_input import sniff_csv

    path = tmp_path / "small.csv"
    pd.DataFrame({"a": np.arange(9564.0)}).to_csv(path, index=False)
    rows = stream._batch_rows(sniff_csv(path), 2, None)
    assert rows % stream.ALIGN_ROWS == 0
    assert 9564 / rows >= 2  # at least one batch per worker
    assert stream._batch_rows(sniff_csv(path), 2, 5000) == 4992  # asked for, cut to a multiple of ALIGN_ROWS


@pytest.mark.koi
def test_several_versions_are_scored_in_one_pass_over_the_file(leafy_forest, koi_csv, monkeypatch):
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    forest, forest_meta = leafy_forest
    frame = pd.read_csv(koi_csv, comment="#")
    labelled = frame[frame["koi_disposition"] != "CANDIDATE"].sample(n=2000, random_state=2)
    few = FEATURES[:4]  # a second version that reads other columns
    logistic = make_pipeline(SimpleImputer(), LogisticRegression(max_iter=500))
    logistic.fit(labelled[few], labelled["koi_disposition"])
    logistic_meta = SimpleNamespace(model_id="logistic_v1", feature_columns=few, classes=[])

    opened = []
    real = engine.run_pass

    def counting(*args, **kwargs):
        opened.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "run_pass", counting)
    together = evaluate_versions([(forest, forest_meta), (logistic, logistic_meta)], koi_csv)
    assert len(opened) == 1 and set(FEATURES) | {"koi_disposition"} <= set(opened[0])
    alone = [evaluate_csv((forest, forest_meta), koi_csv), evaluate_csv((logistic, logistic_meta), koi_csv)]
    assert len(opened) == 3
    for a, b in zip(together, alone, strict=True):
        assert a.model_id == b.model_id
        assert a.confusion_matrix == b.confusion_matrix
        assert a.rows_scored == b.rows_scored and a.unscored == b.unscored
    assert together[0].rows_scored == together[1].rows_scored  # the same rows for both
