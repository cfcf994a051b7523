"""Drift and range checks of a file against a version's training profile (core.prediction.drift)."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.prediction import drift
from core.prediction.drift import LIKE, SOME, TOO_FEW, UNLIKE, check_drift
from core.registry.records import training_profile
from core.training.koi import FEATURE_SETS, LABEL_COLUMN, load_koi

FEATURES = list(FEATURE_SETS["physical"])


@functools.cache
def _koi_split(path: str) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    table = load_koi(path).data
    labelled = table[table[LABEL_COLUMN] != "CANDIDATE"]
    order = np.random.default_rng(0).permutation(len(labelled))
    cut = int(0.7 * len(labelled))
    train, rest = labelled.iloc[order[:cut]], labelled.iloc[order[cut:]]
    return train, rest, training_profile(train, FEATURES)


@pytest.fixture
def koi(koi_csv):
    return _koi_split(str(koi_csv))


def test_the_training_rows_themselves_are_like_the_training_data(koi):
    train, _, profile = koi
    report = check_drift(profile, train, features=FEATURES)
    assert report.verdict == LIKE
    assert report.sentence.startswith("like the training data")
    assert report.rows == len(train)
    assert all(f["psi"] == pytest.approx(0.0, abs=1e-12) for f in report.features)
    assert all(f["outside_range"] == 0.0 for f in report.features)


def test_a_clean_300_row_sample_is_like_the_training_data(koi):
    train, rest, profile = koi
    for frame in (train.sample(300, random_state=1), rest.sample(300, random_state=1)):
        report = check_drift(profile, frame, features=FEATURES)
        assert report.verdict == LIKE, report.sentence
        # a fixed PSI bound of 0.1 would have called this drift: the limit follows the file's size
        assert any(f["psi"] > 0.1 for f in report.features) or frame is rest


def test_one_column_times_1000_is_unlike_and_named_first(koi):
    train, _, profile = koi
    for column in ("koi_prad", "koi_period", "koi_depth"):
        frame = train.copy()
        frame[column] = frame[column] * 1000
        report = check_drift(profile, frame, features=FEATURES)
        assert report.verdict == UNLIKE
        assert report.worst[0] == column
        assert report.sentence.startswith(f"unlike the training data: {column}")
        row = next(f for f in report.features if f["name"] == column)
        assert row["flag"] == UNLIKE


@pytest.mark.parametrize("label", ["CONFIRMED", "FALSE POSITIVE"])
def test_rows_of_one_class_only_show_some_drift(koi, label):
    train, _, profile = koi
    report = check_drift(profile, train[train[LABEL_COLUMN] == label], features=FEATURES)
    assert report.verdict == SOME, report.sentence
    assert report.sentence.startswith("some drift: ") and report.sentence.endswith("most")
    assert 1 <= len(report.worst) <= 3


def test_a_tiny_file_is_too_small_to_judge(koi):
    train, _, profile = koi
    report = check_drift(profile, train.head(20), features=FEATURES)
    assert report.verdict == TOO_FEW
    assert report.sentence == "too few rows to judge drift: 20 rows, at least 50 are needed"


def test_an_emptied_column_is_unlike(koi):
    train, _, profile = koi
    frame = train.copy()
    frame["koi_steff"] = np.nan
    report = check_drift(profile, frame, features=FEATURES)
    assert report.verdict == UNLIKE and report.worst[0] == "koi_steff"
    row = next(f for f in report.features if f["name"] == "koi_steff")
    assert row["missing_rate"] == 1.0 and row["training_missing_rate"] < 0.1


def test_report_is_json_ready_and_names_every_figure(koi):
    import json

    train, _, profile = koi
    d = check_drift(profile, train.sample(500, random_state=3), features=FEATURES).to_dict()
    json.dumps(d)
    assert set(d) >= {"verdict", "worst", "rows", "features", "sentence"}
    for key in ("name", "outside_range", "missing_rate", "training_missing_rate", "psi", "psi_limit", "flag"):
        assert key in d["features"][0]
    assert len(d["features"][0]["histogram"]["edges"]) == 21


def test_features_without_a_profile_are_noted_not_checked(koi):
    train, _, profile = koi
    report = check_drift(profile, train.assign(extra=1.0), features=[*FEATURES, "extra"])
    assert [f["name"] for f in report.features] == FEATURES
    assert report.notes and "extra" in report.notes[0]


# ---------------------------------------------------------------------------------------------
# Chance


def test_the_fitted_chance_limit_is_close_to_the_resampled_quantile():
    counts = np.array([5, 40, 160, 400, 700, 800, 700, 500, 300, 160, 90, 50, 30, 20, 12, 8, 5, 3, 2, 1])
    p = counts / counts.sum()
    rng = np.random.default_rng(1)
    for n in (64, 300, 2048):
        values = drift.psi(rng.multinomial(n, p, size=100_000) / n, p)
        for tail in (0.01, 0.001):
            empirical = np.quantile(values, 1 - tail)
            assert drift.chance_limit(counts, n, tail) == pytest.approx(empirical, rel=0.25)


def test_chance_limits_are_cached_per_size_bucket():
    drift._chance_fit.cache_clear()
    counts = [10] * 20
    first = drift.chance_limit(counts, 1000, 0.001)
    assert drift.chance_limit(counts, 1010, 0.001) == first  # the same quarter octave
    assert drift._chance_fit.cache_info().hits == 1
    assert drift.chance_limit(counts, 4000, 0.001) < first  # larger files: smaller chance PSI


def test_poisson_quantile():
    assert drift.poisson_quantile(0.0, 0.01) == 0
    assert drift.poisson_quantile(1.0, 0.01) == 4  # P(X > 4) = 0.0037, P(X > 3) = 0.019
    assert drift.poisson_quantile(1000.0, 0.001) == pytest.approx(1000 + 3.09 * 31.6, abs=3)


# ---------------------------------------------------------------------------------------------
# Hostile and random inputs

_SYNTH = ["a", "b", "c"]


@functools.cache
def _synthetic_profile() -> dict:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"a": rng.normal(size=3000), "b": rng.lognormal(size=3000), "c": rng.integers(0, 3, 3000)}
    )
    return training_profile(frame, _SYNTH)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.none()),
            st.floats(-1e300, 1e300),
            st.integers(-5, 5),
        ),
        min_size=0,
        max_size=200,
    )
)
def test_psi_is_never_negative_and_nothing_raises(rows):
    frame = (
        pd.DataFrame(rows, columns=_SYNTH, dtype=float) if rows else pd.DataFrame(columns=_SYNTH, dtype=float)
    )
    report = check_drift(_synthetic_profile(), frame, features=_SYNTH)
    assert report.verdict in (LIKE, SOME, UNLIKE, TOO_FEW)
    for f in report.features:
        assert f["psi"] is None or f["psi"] >= 0
        assert 0.0 <= f["outside_range"] <= 1.0 and 0.0 <= f["missing_rate"] <= 1.0


_LEVEL = {LIKE: 0, SOME: 1, UNLIKE: 2}


@settings(max_examples=25, deadline=None)
@given(st.floats(1.0, 50.0), st.floats(1.0, 20.0), st.sampled_from(["a", "b"]), st.integers(0, 3))
def test_scaling_one_column_more_never_makes_the_verdict_milder(scale, more, column, seed):
    rng = np.random.default_rng(seed)
    base = pd.DataFrame(
        {"a": rng.normal(size=400), "b": rng.lognormal(size=400), "c": rng.integers(0, 3, 400)}
    )
    profile = _synthetic_profile()
    levels = []
    for s in (scale, scale * more):
        frame = base.copy()
        frame[column] = frame[column] * s
        levels.append(_LEVEL[check_drift(profile, frame, features=_SYNTH).verdict])
    assert levels[1] >= levels[0]


def test_a_damaged_profile_leaves_those_features_out_with_a_note():
    good = _synthetic_profile()
    bad = {
        "features": {
            "a": good["features"]["a"],
            "b": {**good["features"]["b"], "histogram": {"edges": ["x"] * 21, "counts": [1] * 20}},
            "c": {**good["features"]["c"], "histogram": {"edges": list(range(21))[::-1], "counts": [1] * 20}},
        }
    }
    frame = pd.DataFrame({"a": np.zeros(100), "b": np.ones(100), "c": np.ones(100)})
    report = check_drift(bad, frame, features=_SYNTH)
    assert [f["name"] for f in report.features] == ["a"]
    assert len(report.notes) == 2 and all("is not usable" in n for n in report.notes)
    assert check_drift({}, frame, features=_SYNTH).verdict == TOO_FEW


def _histogram_reference(x, edges):
    """The profile's counting rule written with np.histogram: [a, b) bins, the last closed,
    values beyond the end edges in the end bins, NaN not counted."""
    counts = np.histogram(x[~np.isnan(x)], edges)[0]
    counts[0] += np.count_nonzero(x < edges[0])
    counts[-1] += np.count_nonzero(x > edges[-1])
    return counts


@given(
    edges=st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=22, unique=True).map(sorted),
    picks=st.lists(st.tuples(st.integers(0, 25), st.floats(allow_nan=True, allow_infinity=True)), max_size=80),
)
@settings(max_examples=300, deadline=None)
def test_a_batch_is_counted_in_the_training_bins_by_the_profiles_rule(edges, picks):
    """Values on the edges, beyond them, infinite and missing land where the rule says."""
    edges = np.asarray(edges)
    # Many values are the edges themselves (the boundaries are where a bin rule goes wrong).
    x = np.asarray([edges[i] if i < len(edges) else v for i, v in picks], dtype=np.float64)
    bins = len(edges) - 1
    feature = drift._Feature("f", {"histogram": {"edges": list(edges), "counts": [1] * bins}})
    counted = feature.histogram(x)
    assert counted.tolist() == _histogram_reference(x, edges).tolist()
    assert counted.sum() == np.count_nonzero(~np.isnan(x))
