"""Backtests across table vintages (core.backtest and `exoreg backtest`), against a synthetic second vintage.

There is one real vintage here; the test makes NEW from it: CANDIDATEs with a high transit SNR and no
false-positive flag become CONFIRMED (a rule the features carry), some at random too, some become FALSE
POSITIVE, and a few vanish. Every printed figure is recomputed independently with pandas / scikit-learn.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from core.backtest import PRECISION_AT, _auc, score_ranking
from core.cli import main
from core.registry.registry import ModelRegistry
from core.training.koi import FLAG_COLUMNS, load_koi
from core.training.random_forest import RandomForestModel

pytestmark = pytest.mark.koi

NO_REJECTED = "none of OLD's candidates were rejected in NEW, so confirmed-vs-rejected AUC is undefined."


@pytest.fixture(autouse=True)
def _small_forest(monkeypatch):
    """50 trees instead of 300: the same code path, a usable two-core machine."""
    monkeypatch.setitem(RandomForestModel.default_hyperparameters, "n_estimators", 50)


def make_vintage(old: pd.DataFrame, *, rejected: int = 150, missing: int = 20, seed: int = 1) -> pd.DataFrame:
    new = old.copy()
    rng = np.random.default_rng(seed)
    candidates = new.index[new["koi_disposition"] == "CANDIDATE"]
    unflagged = new.loc[candidates][new.loc[candidates, list(FLAG_COLUMNS)].sum(axis=1) == 0]
    learnable = unflagged.sort_values("koi_model_snr", ascending=False).index[:250]
    rest = candidates.difference(learnable)
    chance = rng.choice(rest, 50, replace=False)
    rest = rest.difference(chance)
    fp = rng.choice(rest, rejected, replace=False) if rejected else []
    rest = rest.difference(fp)
    gone = rng.choice(rest, missing, replace=False)
    new.loc[learnable.union(chance), "koi_disposition"] = "CONFIRMED"
    new.loc[fp, "koi_disposition"] = "FALSE POSITIVE"
    return new.drop(index=gone).sample(frac=1.0, random_state=seed)  # NEW's rows in another order


@pytest.fixture(scope="module")
def old_frame(koi_csv):
    return load_koi(koi_csv).data


@pytest.fixture(scope="module")
def vintage(old_frame, tmp_path_factory):
    folder = tmp_path_factory.mktemp("vintage")
    new = make_vintage(old_frame)
    new.to_csv(folder / "new.csv", index=False)
    return folder / "new.csv", new


@pytest.fixture(scope="module")
def cli_run(koi_csv, vintage, tmp_path_factory):
    """`exoreg backtest OLD NEW --register ... -o ... --json`, run once for the module."""
    folder = tmp_path_factory.mktemp("run")
    out = folder / "ranked.csv"
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(RandomForestModel.default_hyperparameters, "n_estimators", 50)
        import contextlib
        import io

        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            code = main(["backtest", str(koi_csv), str(vintage[0]), "--registry", str(folder / "registry"),
                         "--register", "Backtested", "--resamples", "300", "-o", str(out), "--json"])
    assert code == 0
    return json.loads(buffer.getvalue()), pd.read_csv(out), folder / "registry"


def test_counts_equal_an_independent_join(cli_run, old_frame, vintage):
    result, _, _ = cli_run
    candidates = old_frame.loc[old_frame["koi_disposition"] == "CANDIDATE", ["kepoi_name"]]
    joined = candidates.merge(vintage[1][["kepoi_name", "koi_disposition"]], on="kepoi_name", how="left")
    later = joined["koi_disposition"]
    assert result["counts"] == {
        "candidates": len(candidates),
        "since_confirmed": int((later == "CONFIRMED").sum()),
        "since_rejected": int((later == "FALSE POSITIVE").sum()),
        "still_candidate": int((later == "CANDIDATE").sum()),
        "missing_from_new": int(later.isna().sum()),
    }
    assert result["counts"]["since_confirmed"] == 300 and result["counts"]["missing_from_new"] == 20


def test_the_training_split_is_grouped_by_star(cli_run, old_frame):
    result, _, _ = cli_run
    split = result["split"]
    assert split["group_column"] == "kepid" and split["task"] == "binary"
    labelled = old_frame[old_frame["koi_disposition"].isin(["CONFIRMED", "FALSE POSITIVE"])]
    assert split["training_samples"] + split["validation_samples"] + split["test_samples"] == len(labelled)


def test_precision_and_auc_equal_an_independent_computation(cli_run, old_frame, vintage):
    result, ranked, _ = cli_run
    truth = ranked["kepoi_name"].map(vintage[1].set_index("kepoi_name")["koi_disposition"])
    assert (ranked["new_disposition"].fillna("") == truth.fillna("")).all()
    confirmed = (truth == "CONFIRMED").to_numpy()
    rejected = (truth == "FALSE POSITIVE").to_numpy()

    by_model = ranked.sort_values(["p_confirmed", "kepoi_name"], ascending=[False, True])
    assert by_model["kepoi_name"].tolist() == ranked["kepoi_name"].tolist()  # the file is in rank order
    score = ranked["koi_score"].fillna(-1.0)  # no koi_score: below every scored one
    by_score = ranked.assign(s=score).sort_values(["s", "kepoi_name"], ascending=[False, True])
    for k in PRECISION_AT:
        expected = float((by_model["new_disposition"].head(k) == "CONFIRMED").mean())
        assert result["model"][f"precision_at_{k}"]["value"] == pytest.approx(expected, abs=1e-12)
        expected = float((by_score["new_disposition"].head(k) == "CONFIRMED").mean())
        assert result["koi_score"][f"precision_at_{k}"]["value"] == pytest.approx(expected, abs=1e-12)

    for key, values in (("model", ranked["p_confirmed"]), ("koi_score", score)):
        figures = result[key]
        assert figures["auc_confirmed_vs_other"]["value"] == pytest.approx(roc_auc_score(confirmed, values), abs=1e-12)
        both = confirmed | rejected
        assert figures["auc_confirmed_vs_rejected"]["value"] == pytest.approx(
            roc_auc_score(confirmed[both], values[both]), abs=1e-12)
        for figure in figures.values():
            assert figure["low"] <= figure["value"] <= figure["high"]
    # the rule the features carry is found: far above the 300 / 1979 base rate at the top of the list
    assert result["model"]["precision_at_100"]["value"] > 0.25
    assert "ties broken by kepoi_name" in result["tie_break"]


def test_registered_version_carries_the_backtest(cli_run):
    result, _, root = cli_run
    registry = ModelRegistry(root)
    meta = registry.resolve("Backtested")
    assert result["model_id"] == meta.model_id
    assert meta.evaluation["backtest"]["counts"] == result["counts"]
    assert meta.metrics["backtest_precision_at_100"] == result["model"]["precision_at_100"]["value"]
    assert meta.metrics["backtest_koi_score_auc_confirmed_vs_other"] == \
        result["koi_score"]["auc_confirmed_vs_other"]["value"]
    assert meta.training_info["built_by"] == "exoreg backtest"
    assert meta.tags["backtest"] == "yes"
    assert registry.get_best_model(metric="backtest_precision_at_100")[1].model_id == meta.model_id
    # What it was trained on travels with it, so scoring it on OLD can leave those rows out.
    trained = meta.training_samples + meta.training_info["validation_samples"]
    assert len(registry.training_rows(meta)) == trained
    assert meta.training_info["group_column"] == "kepid"
    assert registry.training_profile(meta)["rows"] == meta.training_samples


def test_no_rejected_candidate_gives_the_sentence_never_nan(koi_csv, old_frame, tmp_path, capsys):
    new = make_vintage(old_frame, rejected=0, missing=0)
    new.to_csv(tmp_path / "new.csv", index=False)
    assert main(["backtest", str(koi_csv), str(tmp_path / "new.csv"), "--resamples", "100"]) == 0
    printed = capsys.readouterr().out
    assert "nan" not in printed.lower()
    assert f"note: {NO_REJECTED}" in printed
    row = next(line for line in printed.splitlines() if line.startswith("ROC AUC, confirmed vs rejected"))
    assert row.split()[-2:] == ["undefined", "undefined"]
    assert "since rejected 0," in printed
    assert "95 % bootstrap interval over 100 resamples" in printed
    assert "split grouped by kepid" in printed


def test_koi_score_ties_are_broken_by_kepoi_name_whatever_the_file_order():
    # 60 candidates all at koi_score 1.0: precision at 50 takes the 50 lowest names
    names = np.array([f"K{i:05d}.01" for i in range(60)], dtype=object)
    score = np.ones(60)
    confirmed = np.zeros(60, dtype=bool)
    confirmed[50:] = True  # only the ten highest names were confirmed
    rejected = ~confirmed
    rng = np.random.default_rng(0)
    for _ in range(5):
        shuffle = rng.permutation(60)
        figures = score_ranking(score[shuffle], names[shuffle], confirmed[shuffle], rejected[shuffle])
        assert figures["precision_at_50"].value == 0.0
        assert figures["auc_confirmed_vs_other"].value == 0.5  # all tied: average ranks
        assert figures["precision_at_100"].value is None
        assert "fewer than 100" in figures["precision_at_100"].undefined


def test_bootstrap_interval_is_deterministic_and_brackets_the_value():
    rng = np.random.default_rng(3)
    n = 400
    confirmed = rng.random(n) < 0.2
    rejected = ~confirmed & (rng.random(n) < 0.3)
    score = np.round(confirmed * 0.3 + rng.random(n), 1)  # many ties
    names = np.array([f"K{i:05d}" for i in range(n)], dtype=object)
    samples = np.random.default_rng(0).integers(0, n, size=(500, n))
    a = score_ranking(score, names, confirmed, rejected, samples)
    b = score_ranking(score, names, confirmed, rejected, samples)
    assert a == b
    for figure in a.values():
        if figure.value is not None:
            assert figure.low <= figure.value <= figure.high and figure.high - figure.low < 0.5


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0.0, 0.5, 1.0, float("nan")]), st.booleans(), st.booleans()),
                min_size=2, max_size=40))
def test_vectorised_auc_equals_scikit_learn_with_ties_and_exclusions(items):
    score = np.array([s for s, _, _ in items])
    positive = np.array([p for _, p, _ in items])
    included = np.array([i for _, _, i in items])
    filled = np.where(np.isnan(score), -1.0, score)
    got = _auc(filled[None, :], positive[None, :], included[None, :])[0]
    pos, neg = (positive & included).sum(), (~positive & included).sum()
    if pos == 0 or neg == 0:
        assert np.isnan(got)
    else:
        assert got == pytest.approx(roc_auc_score(positive[included], filled[included]), abs=1e-12)


def test_unusable_inputs_get_one_sentence(koi_csv, old_frame, tmp_path, capsys):
    no_names = tmp_path / "no_names.csv"
    old_frame.head(50).drop(columns=["kepoi_name"]).to_csv(no_names, index=False)
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(b"\x00\x01\x02PK\x03\x04" * 100)
    cases = [
        ([str(no_names), str(koi_csv)], "OLD: no_names.csv lacks the column(s) kepoi_name"),
        ([str(koi_csv), str(tmp_path / "absent.csv")], "NEW: The KOI table"),
        ([str(koi_csv), str(koi_csv), "--algorithm", "gradient_boosting"], "Unknown algorithm 'gradient_boosting'"),
        ([str(garbage), str(koi_csv)], "OLD: "),
    ]
    for args, expected in cases:
        assert main(["backtest", *args]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("exoreg: ") and expected in err[0], err
        assert "Traceback" not in err[0]
