"""Splits grouped by host star: no group on two sides, close to stratified, the old split kept for comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import DataError
from core.training.koi import FEATURE_SETS
from core.training.processing import DataProcessor, group_codes, stratified_group_split

FEATURES = list(FEATURE_SETS["physical"])


def _table(n_rows: int, n_stars: int, *, seed: int = 0, missing_share: float = 0.0) -> pd.DataFrame:
    """A KOI-shaped table whose rows belong to ``n_stars`` stars (some kepid missing when asked)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n_rows, len(FEATURES))), columns=FEATURES)
    kepid = rng.integers(10_000_000, 10_000_000 + n_stars, size=n_rows).astype(float)
    kepid[rng.random(n_rows) < missing_share] = np.nan
    frame.insert(0, "kepid", kepid)
    frame.insert(0, "kepoi_name", [f"K{i:05d}.01" for i in range(n_rows)])
    labels = rng.choice(["CONFIRMED", "FALSE POSITIVE", "CANDIDATE"], size=n_rows, p=[0.35, 0.5, 0.15])
    frame.insert(2, "koi_disposition", labels)
    return frame


def _sides(processor: DataProcessor) -> list[set]:
    return [set(processor.split_frames[name]["kepid"].dropna()) for name in ("train", "validation", "test")]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n_rows=st.integers(200, 900), stars_per_row=st.floats(0.2, 1.0), seed=st.integers(0, 2**16),
       missing=st.sampled_from([0.0, 0.05, 0.5]), random_state=st.integers(0, 1000))
def test_no_star_is_on_two_sides_of_the_split(n_rows, stars_per_row, seed, missing, random_state):
    table = _table(n_rows, max(30, int(n_rows * stars_per_row)), seed=seed, missing_share=missing)
    processor = DataProcessor(random_state=random_state)
    X_train, X_val, X_test, y_train, y_val, y_test, _, _ = processor.process_dataset(table)
    train, val, test = _sides(processor)
    assert not (train & val or train & test or val & test)
    labelled = table[table["koi_disposition"] != "CANDIDATE"]
    assert len(X_train) + len(X_val) + len(X_test) == len(labelled)
    names = [set(processor.split_frames[n]["kepoi_name"]) for n in ("train", "validation", "test")]
    assert set().union(*names) == set(labelled["kepoi_name"])
    info = processor.split_info
    assert info.group_column == "kepid"
    assert info.groups == labelled["kepid"].nunique() + labelled["kepid"].isna().sum()
    # Close to stratified: each side's CONFIRMED share within a few rows' worth of the whole.
    overall = np.mean(labelled["koi_disposition"] == "CONFIRMED")
    for y in (y_train, y_val, y_test):
        assert abs(np.mean(y == "CONFIRMED") - overall) <= 0.03 + 8 / len(y)
    # Deterministic for a seed.
    again = DataProcessor(random_state=random_state)
    again.process_dataset(table)
    for name in processor.split_frames:
        pd.testing.assert_frame_equal(again.split_frames[name], processor.split_frames[name])


@settings(max_examples=60, deadline=None)
@given(groups=st.lists(st.integers(0, 40), min_size=1, max_size=300), data=st.data())
def test_stratified_group_split_never_splits_a_group(groups, data):
    y = data.draw(st.lists(st.sampled_from("ab"), min_size=len(groups), max_size=len(groups)))
    seed = data.draw(st.integers(0, 2**31 - 1))
    part = stratified_group_split(y, groups, (0.7, 0.1, 0.2), random_state=seed)
    assert part.shape == (len(groups),) and set(part) <= {0, 1, 2}
    for g in set(groups):
        assert len(set(part[np.asarray(groups) == g])) == 1
    assert np.array_equal(part, stratified_group_split(y, groups, (0.7, 0.1, 0.2), random_state=seed))


def test_sizes_and_class_balance_match_the_fractions_when_stars_are_small():
    table = _table(4000, 3000, seed=3)
    processor = DataProcessor()
    X_train, X_val, X_test, *_ = processor.process_dataset(table)
    n = len(X_train) + len(X_val) + len(X_test)
    assert abs(len(X_test) - 0.2 * n) <= 3 and abs(len(X_val) - 0.1 * n) <= 3


def test_missing_group_values_are_each_their_own_group():
    codes = group_codes(pd.Series([7.0, np.nan, 7.0, np.nan, 3.0]))
    assert codes[0] == codes[2] and len(set(codes)) == 4
    table = _table(400, 1, seed=1, missing_share=0.9)  # one star with ~40 rows, the rest unknown
    processor = DataProcessor()
    processor.process_dataset(table)
    assert sum(len(s) for s in _sides(processor)) == 1  # the one star sits on one side only
    assert all(len(processor.split_frames[n]) > 0 for n in processor.split_frames)


def test_ungrouped_option_reproduces_the_old_split_exactly():
    from sklearn.model_selection import train_test_split

    table = _table(1200, 300, seed=5)
    processor = DataProcessor(group_column=None)
    X_train, X_val, X_test, y_train, y_val, y_test, _, _ = processor.process_dataset(table)
    # The split as it was before grouping, computed independently.
    rows = table[table["koi_disposition"].isin(["CONFIRMED", "FALSE POSITIVE"])].reset_index(drop=True)
    X, y = rows[FEATURES].astype(float), rows["koi_disposition"].to_numpy(dtype=object)
    X_rest, old_test, y_rest, _ = train_test_split(X, y, test_size=0.2, stratify=y, random_state=42)
    old_train, old_val, _, _ = train_test_split(X_rest, y_rest, test_size=0.125, stratify=y_rest, random_state=42)
    for new, old in ((X_train, old_train), (X_val, old_val), (X_test, old_test)):
        pd.testing.assert_frame_equal(new, old)
    assert processor.split_info.group_column is None and processor.split_info.groups is None
    assert processor.split_info.group_note is None
    assert _sides(processor)[0] & _sides(processor)[2]  # the leak grouping removes


def test_a_table_without_the_group_column():
    table = _table(600, 200, seed=2).drop(columns="kepid")
    with pytest.raises(DataError, match=r"^The table has no kepid column to group the split by; name a column"):
        DataProcessor(group_column="kepid").process_dataset(table)
    with pytest.raises(DataError, match="has no host_star column"):
        DataProcessor(group_column="host_star").process_dataset(table)
    processor = DataProcessor()  # not named: split row by row, and the split says so
    processor.process_dataset(table)
    info = processor.split_info
    assert info.group_column is None
    assert info.group_note == "The table has no kepid column, so rows were split one by one."
    assert info.to_dict()["group_note"] == info.group_note


def test_any_group_column_can_be_named():
    table = _table(600, 100, seed=4).rename(columns={"kepid": "host_star"})
    processor = DataProcessor(group_column="host_star")
    processor.process_dataset(table)
    sides = [set(processor.split_frames[n]["host_star"]) for n in ("train", "validation", "test")]
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    assert processor.split_info.to_dict()["group_column"] == "host_star"
    with pytest.raises(DataError, match="group_column must be a column name"):
        DataProcessor(group_column="")


def test_grouped_cross_validation_keeps_stars_together(monkeypatch):
    from core.training import trainer

    table = _table(600, 150, seed=6)
    processor = DataProcessor()
    rows = processor.labelled_rows(table).reset_index(drop=True)
    X, y = rows[FEATURES], rows["koi_disposition"].to_numpy(dtype=object)
    seen = []

    class Recorder:
        def __init__(self, *args, **kwargs):
            pass

        def fit(self, X_fit, y_fit):
            seen.append(set(rows.loc[X_fit.index, "kepid"]))
            return self

        def predict(self, X_pred):
            seen[-1] = (seen[-1], set(rows.loc[X_pred.index, "kepid"]))
            return np.full(len(X_pred), "CONFIRMED", dtype=object)

    monkeypatch.setattr(trainer, "make_classifier", lambda *a, **k: Recorder())
    scores = trainer.cross_validate_f1(X, y, "RandomForest", groups=processor.groups_of(rows))
    assert len(scores) == 5 and len(seen) == 5
    assert all(not (fit & held) for fit, held in seen)
    seen.clear()
    trainer.cross_validate_f1(X, y, "RandomForest")  # the old folds, for comparison: stars leak
    assert any(fit & held for fit, held in seen)
    with pytest.raises(DataError, match="one group per row"):
        trainer.cross_validate_f1(X, y, "RandomForest", groups=[1, 2, 3])
