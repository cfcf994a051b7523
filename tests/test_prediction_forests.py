"""A forest's probabilities summed tree by tree (core.prediction.forests) equal predict_proba's
to the last bit, and only plain scikit-learn forests take that path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.ensemble import ExtraTreesClassifier, GradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from core.prediction.forests import proba_function
from core.prediction.stream import load


def _data(seed: int, rows: int, classes: int, nan_rate: float):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 5)) * rng.choice([1e-3, 1.0, 1e4], size=5)
    y = rng.integers(0, classes, rows)
    X[rng.random(X.shape) < nan_rate] = np.nan
    return pd.DataFrame(X, columns=[f"f{i}" for i in range(5)]), np.asarray(
        ["CANDIDATE", "CONFIRMED", "FALSE POSITIVE", "X"]
    )[y]


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    kind=st.sampled_from(["forest", "extra", "pipeline", "scaled pipeline"]),
    leaf=st.integers(1, 5),
    trees=st.integers(1, 40),
    classes=st.integers(2, 4),
    nan_rate=st.sampled_from([0.0, 0.05]),
    as_frame=st.booleans(),
)
def test_tree_by_tree_equals_predict_proba_bit_for_bit(seed, kind, leaf, trees, classes, nan_rate, as_frame):
    X, y = _data(seed, 400, classes, nan_rate)
    forest_type = ExtraTreesClassifier if kind == "extra" else RandomForestClassifier
    forest = forest_type(n_estimators=trees, min_samples_leaf=leaf, random_state=seed)
    model = {
        "forest": forest,
        "extra": forest,
        "pipeline": make_pipeline(SimpleImputer(), forest),
        "scaled pipeline": make_pipeline(SimpleImputer(), StandardScaler(), "passthrough", forest),
    }[kind]
    fit_on = X if as_frame else X.to_numpy()
    model.fit(fit_on, y)
    new, _ = _data(seed + 1, 300, classes, nan_rate)
    rows = new if as_frame else new.to_numpy()
    predict = proba_function(model)
    assert predict is not None
    got = predict(rows)
    assert got.dtype == np.float64
    assert np.array_equal(got, model.predict_proba(rows))


class _Tempered(RandomForestClassifier):
    def predict_proba(self, X):
        return super().predict_proba(X) ** 2


class _OddTree(DecisionTreeClassifier):
    def predict_proba(self, X, check_input=True):
        return super().predict_proba(X, check_input) * 0 + 1


class _OwnPipeline(Pipeline):
    def predict_proba(self, X, **params):
        return super().predict_proba(X, **params)[:, ::-1]


def test_anything_but_a_plain_forest_keeps_its_own_predict_proba():
    X, y = _data(0, 200, 3, 0.0)
    tempered = _Tempered(n_estimators=5, random_state=0).fit(X, y)
    odd = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    odd.estimators_ = [_OddTree().fit(X.to_numpy(), odd.estimators_[0].predict(X.to_numpy()))] * 3
    multi = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, np.column_stack([y, y[::-1]]))
    own = _OwnPipeline([("impute", SimpleImputer()), ("forest", RandomForestClassifier(n_estimators=3))]).fit(
        X, y
    )
    boosted = GradientBoostingClassifier(n_estimators=3).fit(X, y)
    for model in (tempered, odd, multi, own, boosted, make_pipeline(SimpleImputer(), boosted)):
        assert proba_function(model) is None, model


@pytest.mark.parametrize("wrapped", [False, True])
def test_the_engine_predicts_a_forest_tree_by_tree_and_other_models_by_their_own_method(wrapped):
    X, y = _data(3, 300, 3, 0.05)
    forest = make_pipeline(SimpleImputer(), RandomForestClassifier(n_estimators=7, random_state=0)).fit(X, y)
    model = _Tempered(n_estimators=4, random_state=0).fit(X.fillna(0), y) if wrapped else forest
    meta = type("Meta", (), {"model_id": "m", "feature_columns": list(X.columns), "classes": []})()
    ctx = load(meta, model, registry=None)
    if wrapped:
        assert ctx.predict_proba == model.predict_proba
    else:
        assert ctx.predict_proba != model.predict_proba
        assert np.array_equal(ctx.predict_proba(X), model.predict_proba(X))
