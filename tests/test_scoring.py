"""Scoring on a labelled file without the versions' own training rows (the real KOI table)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.prediction.engine import evaluate_versions

FEATURES = ["koi_period", "koi_duration", "koi_depth", "koi_prad", "koi_model_snr", "koi_steff", "koi_srad"]
LABEL = "koi_disposition"

pytestmark = pytest.mark.koi


@pytest.fixture(scope="module")
def koi_frame(koi_csv) -> pd.DataFrame:
    return pd.read_csv(koi_csv, comment="#")


@pytest.fixture(scope="module")
def labelled(koi_frame) -> pd.DataFrame:
    return koi_frame[koi_frame[LABEL].isin(["CONFIRMED", "FALSE POSITIVE"])]


def _split(labelled: pd.DataFrame, seed: int):
    """A 70 % training / 10 % validation / 20 % test split, as the demo makes it."""
    order = np.random.default_rng(seed).permutation(len(labelled))
    n_train, n_val = int(0.7 * len(labelled)), int(0.1 * len(labelled))
    return labelled.iloc[order[:n_train]], labelled.iloc[order[n_train:n_train + n_val]]


def _register(registry, labelled, seed: int, name: str):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    train, val = _split(labelled, seed)
    model = make_pipeline(SimpleImputer(strategy="median"),
                          RandomForestClassifier(n_estimators=15, max_depth=8, random_state=seed))
    model.fit(train[FEATURES], train[LABEL])
    model_id = registry.register_model(
        model=model, model_name=name, algorithm="RandomForest",
        evaluation_results={"accuracy": 0.9, "precision": 0.9, "recall": 0.9, "f1_score": 0.9},
        hyperparameters={}, feature_columns=FEATURES,
        training_info={"dataset": "koi", "training_samples": len(train), "validation_samples": len(val)},
    )
    return model_id, train, val


@pytest.fixture(scope="module")
def versions(tmp_path_factory, labelled):
    """Two versions trained on different random splits of the binary labelled rows."""
    from core.registry.registry import ModelRegistry

    registry = ModelRegistry(tmp_path_factory.mktemp("scoring") / "registry")
    made = [_register(registry, labelled, seed, name) for seed, name in ((1, "Forest"), (2, "Other"))]
    return registry, made


def _rows(train, val, id_column="kepoi_name"):
    from core.registry.records import TrainingRows

    return TrainingRows.from_frame(pd.concat([train, val]), FEATURES, id_column=id_column)


def test_scoring_the_koi_table_excludes_exactly_the_training_and_validation_rows(versions, koi_csv, labelled):
    registry, [(model_id, train, val), _] = versions
    [result] = evaluate_versions([model_id], koi_csv, registry=registry, exclude_training_rows=True,
                                 training_rows=[_rows(train, val)])
    assert result.overlap_checked
    assert result.rows_excluded == len(train) + len(val)
    assert result.rows_scored == len(labelled) - len(train) - len(val)
    held_out = labelled[~labelled["kepoi_name"].isin(pd.concat([train, val])["kepoi_name"])]
    model, _ = registry.load_model(model_id=model_id)
    from sklearn.metrics import accuracy_score, f1_score

    predicted = model.predict(held_out[FEATURES])
    assert result.metrics["accuracy"] == pytest.approx(accuracy_score(held_out[LABEL], predicted))
    assert result.metrics["f1_macro"] == pytest.approx(f1_score(held_out[LABEL], predicted, average="macro"))
    assert result.notes == [
        f"Forest v1: {len(labelled):,} labelled rows, {len(train) + len(val):,} excluded as training or "
        f"validation rows, {len(held_out):,} scored"
    ]
    # Every labelled row is kept row by row, with whether the version trained on it.
    rows = result.rows
    assert rows.total == rows.kept == len(labelled) and not rows.truncated
    np.testing.assert_array_equal(rows.record, labelled.index.to_numpy())
    assert rows.trained.sum() == len(train) + len(val)
    assert [rows.labels[i] for i in rows.truth[:50]] == labelled[LABEL].iloc[:50].tolist()
    assert rows.proba.shape == (len(labelled), 2)
    assert "rows" not in result.to_dict() and result.to_dict()["rows_excluded"] == len(train) + len(val)


def test_the_default_and_include_training_rows_score_every_labelled_row(versions, koi_csv, labelled):
    registry, [(model_id, train, val), _] = versions
    recorded = _rows(train, val)
    [default] = evaluate_versions([model_id], koi_csv, registry=registry, training_rows=[recorded])
    assert default.rows_scored == len(labelled) and default.rows_excluded == 0
    assert default.notes == [
        f"Forest v1: {len(labelled):,} labelled rows scored, training rows included "
        f"({len(train) + len(val):,} of them are its training or validation rows)"
    ]


def test_a_file_without_training_rows_excludes_nothing(versions, tmp_path, labelled, koi_frame):
    registry, [(model_id, train, val), _] = versions
    used = set(pd.concat([train, val])["kepoi_name"])
    fresh = koi_frame[~koi_frame["kepoi_name"].isin(used)]
    path = tmp_path / "held_out.csv"
    fresh.to_csv(path, index=False)
    [result] = evaluate_versions([model_id], path, registry=registry, exclude_training_rows=True,
                                 training_rows=[_rows(train, val)])
    assert result.rows_excluded == 0
    assert result.rows_scored == len(labelled) - len(used) > 1000


def test_a_version_without_recorded_rows_is_scored_on_all_rows_with_a_warning(versions, koi_csv, labelled):
    registry, [(model_id, _, _), _] = versions
    [result] = evaluate_versions([model_id], koi_csv, registry=registry, exclude_training_rows=True)
    assert not result.overlap_checked
    assert result.rows_scored == len(labelled) and result.rows_excluded == 0
    assert result.notes == ["Forest v1 has no record of its training rows: scored on all rows, "
                            "overlap could not be checked"]
    assert result.rows.trained is None


def test_rows_beyond_keep_rows_are_not_kept_and_the_result_says_so(versions, koi_csv, labelled):
    registry, [(model_id, train, val), _] = versions
    [result] = evaluate_versions([model_id], koi_csv, registry=registry, exclude_training_rows=True,
                                 training_rows=[_rows(train, val)], keep_rows=1000, batch_rows=384)
    assert result.rows.kept == 1000 and result.rows.total == len(labelled)
    np.testing.assert_array_equal(result.rows.record, labelled.index.to_numpy()[:1000])
    assert result.notes[-1] == f"Forest v1: statistics use the first 1,000 rows of {len(labelled):,}"
    # The streaming metrics still count every row.
    assert result.rows_excluded == len(train) + len(val)


def test_rows_are_matched_by_their_values_when_the_file_has_no_identifiers(versions, tmp_path, labelled, koi_frame):
    registry, [(model_id, train, val), _] = versions
    path = tmp_path / "no_ids.csv"
    koi_frame.drop(columns=["kepoi_name"]).to_csv(path, index=False)
    [result] = evaluate_versions([model_id], path, registry=registry, exclude_training_rows=True,
                                 training_rows=[_rows(train, val)])
    # Rows whose feature values are identical to a training row's count as trained too (a few duplicates).
    recorded = pd.concat([train, val])
    hashes = set(map(int, _rows(train, val).hashes))
    from core.registry.records import row_hashes

    same_values = np.isin(row_hashes(labelled, FEATURES), np.array(sorted(hashes), dtype=np.uint64))
    assert result.rows_excluded == int(same_values.sum()) >= len(recorded)
    assert result.rows_excluded - len(recorded) < 20
