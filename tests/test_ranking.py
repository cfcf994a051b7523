"""Ranked CANDIDATEs (core.ranking.rank_candidates and `exoreg rank`) on the real KOI table."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.cli import main
from core.errors import DataError
from core.ranking import order_by_score, rank_candidates
from core.registry.registry import ModelRegistry
from core.training.koi import CANDIDATE, load_koi
from core.training.processing import DataProcessor
from core.training.trainer import make_classifier
from tests import _factories

pytestmark = pytest.mark.koi

HEADLINE = _factories.evaluation()


@pytest.fixture(scope="module")
def koi(koi_csv):
    return load_koi(koi_csv)


def _forest(koi, task: str):
    X_train, _, _, y_train, _, _, features, _ = DataProcessor(task, "physical", random_state=0).process_dataset(koi)
    return make_classifier("RandomForest", random_state=0, n_estimators=50).fit(X_train, y_train).pipeline, features


@pytest.fixture(scope="module")
def ranked_registry(koi, tmp_path_factory):
    """A registry with a binary and a three-class 50-tree forest trained on the table's physical columns."""
    root = tmp_path_factory.mktemp("rank") / "registry"
    registry = ModelRegistry(root)
    for name, task in (("Binary", "binary"), ("ThreeClass", "three_class")):
        model, features = _forest(koi, task)
        registry.register_model(model, name, "RandomForest", HEADLINE, feature_columns=features)
    return registry


@pytest.fixture(scope="module")
def binary_ranking(ranked_registry, koi_csv):
    return rank_candidates("Binary", koi_csv, registry=ranked_registry)


def test_only_candidates_are_ranked_highest_probability_first(binary_ranking, koi):
    frame = binary_ranking.frame
    candidates = koi.data.loc[koi.data["koi_disposition"] == CANDIDATE, "kepoi_name"]
    assert sorted(frame["kepoi_name"]) == sorted(candidates)
    assert binary_ranking.candidates == len(candidates) == len(frame)
    assert frame["rank"].tolist() == list(range(1, len(frame) + 1))
    p = frame["p_confirmed"].to_numpy()
    assert (np.diff(p) <= 0).all()
    # ties (many rows at the same probability) go to the lower kepoi_name
    for _, group in frame.groupby("p_confirmed", sort=False):
        assert group["kepoi_name"].tolist() == sorted(group["kepoi_name"])
    assert set(frame["predicted_label"]) <= {"CONFIRMED", "FALSE POSITIVE"}
    decided = frame[frame["p_confirmed"] != 0.5]
    assert ((decided["predicted_label"] == "CONFIRMED") == (decided["p_confirmed"] > 0.5)).all()
    by_name = koi.data.set_index("kepoi_name")["koi_score"]
    assert np.allclose(frame["koi_score"], by_name.loc[frame["kepoi_name"]].to_numpy(), equal_nan=True)
    assert list(frame.columns[:7]) == ["rank", "kepoi_name", "kepid", "kepler_name", "p_confirmed",
                                       "predicted_label", "koi_score"]


def test_probabilities_are_the_models_own(binary_ranking, ranked_registry, koi):
    model, meta = ranked_registry.load("Binary")
    rows = koi.data.set_index("kepoi_name").loc[binary_ranking.frame["kepoi_name"], meta.feature_columns]
    expected = model.predict_proba(rows)[:, list(model.classes_).index("CONFIRMED")]
    assert np.allclose(binary_ranking.frame["p_confirmed"], expected, rtol=0, atol=1e-12)


def test_each_effect_is_the_change_when_that_feature_alone_is_set_to_the_median(binary_ranking, ranked_registry,
                                                                                koi):
    frame = binary_ranking.frame
    model, meta = ranked_registry.load("Binary")
    confirmed = list(model.classes_).index("CONFIRMED")
    labelled = koi.data[koi.data["koi_disposition"].isin(["CONFIRMED", "FALSE POSITIVE"])]
    medians = labelled[meta.feature_columns].median()  # the note says: the labelled rows' medians
    assert binary_ranking.medians_from == "labelled rows"
    assert any("no training profile" in n and f"{len(labelled)} CONFIRMED / FALSE POSITIVE rows" in n
               for n in binary_ranking.notes)
    table = koi.data.set_index("kepoi_name")
    for i in (0, len(frame) // 2, len(frame) - 1):
        row = frame.iloc[i]
        effects = [row[f"effect_{k}"] for k in (1, 2, 3)]
        assert abs(effects[0]) >= abs(effects[1]) >= abs(effects[2])
        assert len({row[f"feature_{k}"] for k in (1, 2, 3)}) == 3
        for k in (1, 2, 3):
            feature = row[f"feature_{k}"]
            X = table.loc[[row["kepoi_name"]], meta.feature_columns].astype(float)
            p = model.predict_proba(X)[0, confirmed]
            X[feature] = medians[feature]
            assert row[f"effect_{k}"] == pytest.approx(p - model.predict_proba(X)[0, confirmed], abs=1e-12)
    # some row's strongest feature really moves its probability
    assert frame["effect_1"].abs().max() > 0.05


def test_training_profile_medians_are_used_when_the_registry_has_them(ranked_registry, koi_csv, koi, monkeypatch):
    model, meta = ranked_registry.load("Binary")
    median = {name: float(i) for i, name in enumerate(meta.feature_columns)}  # not the table's medians
    profile = {"schema": 1, "rows": 5000, "features": {
        name: {"count": 5000, "missing_rate": 0.0, "quantiles": {q: (median[name] if q == "50" else -1.0)
                                                                 for q in ("1", "5", "25", "50", "75", "95", "99")}}
        for name in meta.feature_columns}}
    profile["features"][meta.feature_columns[0]]["quantiles"] = None  # a column with no value: effect 0
    asked = []
    monkeypatch.setattr(ModelRegistry, "training_profile", lambda self, ref: asked.append(ref) or profile,
                        raising=False)
    result = rank_candidates("Binary", koi_csv, registry=ranked_registry, top=5)
    assert asked == [meta.model_id]
    assert result.medians_from == "training profile"
    assert any("training medians recorded in version" in n for n in result.notes)
    row = result.frame.iloc[0]
    X = koi.data.set_index("kepoi_name").loc[[row["kepoi_name"]], meta.feature_columns].astype(float)
    confirmed = list(model.classes_).index("CONFIRMED")
    p = model.predict_proba(X)[0, confirmed]
    X[row["feature_1"]] = median[row["feature_1"]]
    assert row["effect_1"] == pytest.approx(p - model.predict_proba(X)[0, confirmed], abs=1e-12)
    for _, ranked in result.frame.iterrows():  # the column without a median has effect 0: never above a real one
        if ranked["effect_3"] != 0:
            assert meta.feature_columns[0] not in {ranked["feature_1"], ranked["feature_2"], ranked["feature_3"]}


def test_a_training_profile_that_cannot_be_read_is_named_and_the_labelled_rows_stand_in(ranked_registry, koi_csv,
                                                                                          monkeypatch):
    from core.errors import IntegrityError

    def damaged(self, ref):
        raise IntegrityError("The training profile file p.json of Binary_v1 does not match its SHA-256.")

    monkeypatch.setattr(ModelRegistry, "training_profile", damaged, raising=False)
    result = rank_candidates("Binary", koi_csv, registry=ranked_registry, top=3)
    assert result.medians_from == "labelled rows"
    assert any(n.startswith("The training profile of Binary_v1") and "does not match its SHA-256" in n
               for n in result.notes)


def test_a_three_class_version_ranks_by_its_confirmed_column_and_says_so(ranked_registry, koi_csv):
    result = rank_candidates("ThreeClass", koi_csv, registry=ranked_registry, top=20, explain=0)
    assert len(result.frame) == 20 and result.candidates > 1000
    assert any("3 classes" in n and "CONFIRMED probability" in n for n in result.notes)
    assert set(result.frame["predicted_label"]) <= {"CANDIDATE", "CONFIRMED", "FALSE POSITIVE"}
    assert "feature_1" not in result.frame


def test_a_version_without_a_confirmed_class_is_refused(tmp_path, koi_csv):
    registry = ModelRegistry(tmp_path / "registry")
    X, y = _factories.training_data()
    from sklearn.ensemble import RandomForestClassifier

    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, np.where(y == "CONFIRMED", "PLANET", "NOT"))
    registry.register_model(model, "Other", "RandomForest", HEADLINE, feature_columns=_factories.FEATURES)
    with pytest.raises(DataError, match=r"predicts NOT, PLANET but not CONFIRMED, so it cannot rank"):
        rank_candidates("Other", koi_csv, registry=registry)


def test_an_unlabelled_file_ranks_every_row_and_text_cells_are_refused_not_guessed(ranked_registry, koi, tmp_path):
    rows = koi.data[koi.data["koi_disposition"] == "CONFIRMED"].head(30).drop(columns=["koi_disposition"])
    rows = rows.astype({"koi_period": object})
    rows.iloc[3, rows.columns.get_loc("koi_period")] = "twelve"
    path = tmp_path / "unlabelled.csv"
    rows.to_csv(path, index=False)
    result = rank_candidates("Binary", path, registry=ranked_registry)
    assert len(result.frame) == 29
    assert rows.iloc[3]["kepoi_name"] not in set(result.frame["kepoi_name"])
    assert any("no koi_disposition values, so every row is ranked" in n for n in result.notes)
    assert any(f"1 row(s) could not be ranked (first: {rows.iloc[3]['kepoi_name']}, koi_period is not a number "
               "('twelve'))" in n for n in result.notes)
    assert result.medians_from == "all rows"


def test_a_table_without_candidates_or_columns_gets_one_sentence(ranked_registry, koi, tmp_path):
    confirmed = koi.data[koi.data["koi_disposition"] == "CONFIRMED"].head(20)
    with pytest.raises(DataError, match="has no CANDIDATE rows in its koi_disposition column"):
        rank_candidates("Binary", confirmed, registry=ranked_registry)
    path = tmp_path / "short.csv"
    koi.data.head(20).drop(columns=["koi_depth"]).to_csv(path, index=False)
    with pytest.raises(DataError, match="koi_depth"):
        rank_candidates("Binary", path, registry=ranked_registry)


def test_formula_cells_are_escaped_in_the_csv(ranked_registry, koi, tmp_path):
    rows = koi.data[koi.data["koi_disposition"] == CANDIDATE].head(10).copy()
    hostile = '=HYPERLINK("http://example.invalid","click")'
    rows.iloc[0, rows.columns.get_loc("kepoi_name")] = hostile
    rows.iloc[1, rows.columns.get_loc("kepler_name")] = "@SUM(A1:A2)"
    result = rank_candidates("Binary", rows, registry=ranked_registry)
    assert hostile in set(result.frame["kepoi_name"])  # the frame keeps the value itself
    out = result.to_csv(tmp_path / "ranked.csv")
    with open(out, newline="", encoding="utf-8") as fh:
        written = list(csv.DictReader(fh))
    assert "'" + hostile in {r["kepoi_name"] for r in written}
    assert "'@SUM(A1:A2)" in {r["kepler_name"] for r in written}
    assert not any(r["kepoi_name"].startswith("=") for r in written)
    assert [int(r["rank"]) for r in written] == list(range(1, 11))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.0, 0.25, 0.5, 1.0]), st.text(max_size=4)), min_size=1, max_size=30))
def test_the_order_is_probability_then_name_then_file_order(items):
    p = np.array([a for a, _ in items])
    names = np.array([b for _, b in items], dtype=object)
    order = order_by_score(p, names)
    assert sorted(order.tolist()) == list(range(len(items)))
    keys = [(-p[i], names[i], i) for i in order]
    assert keys == sorted(keys)


def test_cli_prints_the_top_rows_and_writes_the_file(ranked_registry, koi_csv, tmp_path, capsys):
    out = tmp_path / "ranked.csv"
    code = main(["rank", "Binary", str(koi_csv), "--registry", str(ranked_registry.uri), "--top", "5",
                 "-o", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    lines = printed.splitlines()
    assert "ranked by P(CONFIRMED)" in lines[0]
    assert lines[1].split()[:3] == ["RANK", "KEPOI_NAME", "P(CONFIRMED)"]
    written = pd.read_csv(out)
    assert len(written) == 5
    for name in written["kepoi_name"]:
        assert name in printed
    assert "note: effect_N is P(CONFIRMED)" in printed
    assert "Wrote 5 ranked row(s)" in printed


def test_cli_ranks_the_koi_table_found_the_usual_way_and_json(ranked_registry, koi_csv, capsys, monkeypatch):
    monkeypatch.setenv("EXOREG_KOI_CSV", str(koi_csv))
    assert main(["rank", "Binary", "--registry", str(ranked_registry.uri), "--top", "3", "--json"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert [r["rank"] for r in data["rows"]] == [1, 2, 3]
    assert data["candidates"] > 1000 and data["shown"] == 3
    assert "from $EXOREG_KOI_CSV" in captured.err


def test_cli_refuses_output_onto_a_symlink_before_ranking(ranked_registry, koi_csv, tmp_path, capsys):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    link = tmp_path / "ranked.csv"
    os.symlink(target, link)
    code = main(["rank", "Binary", str(koi_csv), "--registry", str(ranked_registry.uri), "-o", str(link)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1] == f"exoreg: The ranking output path {link} is a symbolic link, not a regular file; choose a file name."
    assert target.read_text() == "keep me" and link.is_symlink()


def test_cli_errors_are_one_sentence(ranked_registry, koi_csv, tmp_path, capsys):
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(b"\x00\x01\x02" * 1000)
    registry = str(ranked_registry.uri)
    cases = [
        (["rank", "Binary", str(garbage)], "garbage.csv"),
        (["rank", "Binary", str(tmp_path / "absent.csv")], "absent.csv"),
        (["rank", "Binary", str(koi_csv), "--top", "0"], "--top must be a positive number of rows (got 0)."),
        (["rank", "NoSuchModel", str(koi_csv)], "NoSuchModel"),
        (["rank", "Binary", str(koi_csv), "-o", str(tmp_path / "missing-folder" / "out.csv")], "does not exist"),
    ]
    for args, expected in cases:
        assert main([*args, "--registry", registry]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("exoreg: ") and expected in err[0], err
