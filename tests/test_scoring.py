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



def test_refused_lines_and_rows_without_an_identifier_keep_every_row_in_its_place(versions, tmp_path, labelled):
    """A malformed line, a row with an empty ``kepoi_name`` (matched by its values) and one whose
    ``kepoi_name`` a spreadsheet would run as a formula: the exclusion stays exact."""
    registry, [(model_id, train, val), _] = versions
    frame = labelled.reset_index(drop=True).copy()
    used = set(pd.concat([train, val])["kepoi_name"])
    was_trained = frame["kepoi_name"].isin(used).to_numpy()
    trained_first = frame.index[was_trained][0]
    held_first = frame.index[~frame["kepoi_name"].isin(used)][0]
    frame.loc[trained_first, "kepoi_name"] = None  # a training row without its identifier
    frame.loc[held_first, "kepoi_name"] = '=HYPERLINK("http://x")'
    path = tmp_path / "hostile.csv"
    text = frame.to_csv(index=False).splitlines(keepends=True)
    text.insert(101, "this,line,has,too,few,fields\n")  # refused by the reader: every later row moves on by one
    path.write_text("".join(text), encoding="utf-8")
    [result] = evaluate_versions([model_id], path, registry=registry, exclude_training_rows=True,
                                 training_rows=[_rows(train, val)])
    assert result.rows_rejected == 1
    assert result.rows_excluded == len(train) + len(val)
    rows = result.rows
    expected = np.arange(len(frame))
    expected[expected >= 100] += 1  # record 100 is the refused line
    np.testing.assert_array_equal(rows.record, expected)
    np.testing.assert_array_equal(rows.trained, was_trained)

# ---------------------------------------------------------------------------------------------
# compare_on_file: versions registered with the rows they were trained and validated on


def _demo_like(registry, koi_csv, seed: int, name: str, task: str = "binary", record: bool = True):
    """A version trained as the demo trains it (DataProcessor's stratified split), rows recorded."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    from core.training.koi import load_koi
    from core.training.processing import DataProcessor

    processor = DataProcessor(task, random_state=seed)
    X_train, X_val, X_test, y_train, y_val, y_test, features, _ = processor.process_dataset(load_koi(koi_csv))
    model = make_pipeline(SimpleImputer(strategy="median"),
                          RandomForestClassifier(n_estimators=15, max_depth=8, random_state=seed, n_jobs=1))
    model.fit(X_train, y_train)
    frames = processor.split_frames
    info = processor.split_info
    model_id = registry.register_model(
        model=model, model_name=name, algorithm="RandomForest",
        evaluation_results={"accuracy": 0.9, "precision": 0.9, "recall": 0.9, "f1_score": 0.9},
        hyperparameters={}, feature_columns=features, training_info=info.to_dict(),
        training_rows=pd.concat([frames["train"], frames["validation"]]) if record else None,
    )
    return model_id, info


@pytest.fixture(scope="module")
def demo_registry(tmp_path_factory, koi_csv):
    """Three binary versions on three random splits, a three-class one and one without recorded rows."""
    from core.registry.registry import ModelRegistry

    registry = ModelRegistry(tmp_path_factory.mktemp("compare") / "registry")
    made = {}
    for seed, name in ((1, "RandomForest"), (2, "RandomForest"), (3, "RandomForest")):
        made[f"{name}:{seed}"] = _demo_like(registry, koi_csv, seed, name)
    made["Three:1"] = _demo_like(registry, koi_csv, 4, "Three", task="three_class")
    made["Unrecorded:1"] = _demo_like(registry, koi_csv, 5, "Unrecorded", record=False)
    return registry, made


def test_one_version_is_scored_without_exactly_its_training_and_validation_rows(demo_registry, koi_csv, labelled):
    from core.prediction.scoring import compare_on_file

    registry, made = demo_registry
    _, info = made["RandomForest:1"]
    found = compare_on_file(["RandomForest:1"], koi_csv, registry=registry, n_resamples=200)
    [result] = found.results
    assert result.overlap_checked
    assert result.rows_excluded == info.training_samples + info.validation_samples
    assert len(found.versions[0].y_true) == result.rows_scored == len(labelled) - result.rows_excluded
    assert found.notes == [f"RandomForest v1: {len(labelled):,} labelled rows, {result.rows_excluded:,} excluded "
                           f"as training or validation rows, {result.rows_scored:,} scored"]
    assert found.paired and found.comparison.pairs == []
    assert found.sentences() == ["Only one version was scored, so there is nothing to compare it with."]
    f1 = found.comparison.metrics["RandomForest v1"]["f1_macro"]
    assert f1.value == pytest.approx(result.metrics["f1_macro"]) and f1.low < f1.value < f1.high


def test_two_versions_are_paired_on_the_rows_neither_trained_on(demo_registry, koi_csv, labelled):
    from core.prediction.scoring import compare_on_file

    registry, _ = demo_registry
    found = compare_on_file(["RandomForest:1", "RandomForest:2"], koi_csv, registry=registry, n_resamples=200)
    a, b = found.versions
    trained = [r.rows.trained for r in found.results]
    assert len(a.y_true) == len(b.y_true) == int((~trained[0] & ~trained[1]).sum()) > 200
    assert list(a.y_true) == list(b.y_true)
    assert found.paired and len(found.comparison.pairs) == 1
    assert found.notes[-1] == (f"paired: every version was scored on the same {len(a.y_true):,} labelled rows "
                               "none of the versions was trained or validated on")
    [sentence] = found.sentences()
    assert sentence.startswith("RandomForest v1 vs RandomForest v2: macro F1 ")


def test_three_random_splits_share_too_few_rows_and_unpaired_scores_each_on_its_own(demo_registry, koi_csv):
    from core.errors import TooFewSharedRows
    from core.prediction.scoring import compare_on_file

    registry, _ = demo_registry
    refs = ["RandomForest:1", "RandomForest:2", "RandomForest:3"]
    with pytest.raises(TooFewSharedRows) as caught:
        compare_on_file(refs, koi_csv, registry=registry, n_resamples=200)
    error = caught.value
    assert error.shared_rows < 200 and sum(error.per_class.values()) == error.shared_rows
    assert str(error) == (
        f"The 3 versions share only {error.shared_rows:,} labelled rows of {koi_csv.name} that none of them was "
        f"trained or validated on (CONFIRMED {error.per_class['CONFIRMED']:,}, FALSE POSITIVE "
        f"{error.per_class['FALSE POSITIVE']:,}), fewer than the 200 rows and 30 per class a paired comparison "
        "needs; compare each version on its own held-out rows instead (--unpaired, or “Compare each on its own "
        "held-out rows” in the window)."
    )
    found = compare_on_file(refs, koi_csv, registry=registry, allow_unpaired=True, n_resamples=200)
    assert not found.paired and not found.comparison.paired and found.comparison.pairs == []
    assert [len(v.y_true) for v in found.versions] == [r.rows_scored for r in found.results]
    assert found.notes[-1].startswith(f"unpaired: the versions share only {error.shared_rows:,} held-out rows")
    assert "unpaired" in found.sentences()[0]


def test_a_version_without_recorded_rows_is_compared_on_all_rows_with_a_warning(demo_registry, koi_csv, labelled):
    from core.prediction.scoring import compare_on_file

    registry, _ = demo_registry
    found = compare_on_file(["Unrecorded:1", "RandomForest:1"], koi_csv, registry=registry, n_resamples=200)
    unrecorded, forest = found.results
    assert not unrecorded.overlap_checked and forest.overlap_checked
    assert unrecorded.rows_scored == len(labelled)
    assert "Unrecorded v1 has no record of its training rows: scored on all rows, overlap could not be checked" \
        in found.notes
    assert len(found.versions[0].y_true) == forest.rows_scored  # paired on the rows the other did not see


def test_include_training_rows_scores_every_labelled_row(demo_registry, koi_csv, labelled):
    from core.prediction.scoring import compare_on_file

    registry, _ = demo_registry
    found = compare_on_file(["RandomForest:1", "RandomForest:2", "RandomForest:3"], koi_csv, registry=registry,
                            exclude_training_rows=False, n_resamples=200)
    assert found.paired and all(len(v.y_true) == len(labelled) for v in found.versions)
    assert all(r.rows_excluded == 0 and r.rows_scored == len(labelled) for r in found.results)
    assert found.notes[0] == "training rows included (--include-training-rows)"


def test_versions_of_different_tasks_are_never_paired(demo_registry, koi_csv):
    from core.errors import DataError
    from core.prediction.scoring import compare_on_file

    registry, _ = demo_registry
    with pytest.raises(DataError, match=r"^RandomForest v1 predicts CONFIRMED, FALSE POSITIVE but Three v1 predicts "
                                        r"CANDIDATE, CONFIRMED, FALSE POSITIVE: versions of different tasks are "
                                        r"never compared on the same rows; compare the versions of one task at a "
                                        r"time\.$"):
        compare_on_file(["RandomForest:1", "Three:1"], koi_csv, registry=registry, n_resamples=200)


def test_cancel_mid_pass_raises_and_leaves_nothing(demo_registry, koi_csv, tmp_path):
    from core.prediction.engine import PredictionCancelled
    from core.prediction.scoring import compare_on_file

    registry, _ = demo_registry
    seen = []
    with pytest.raises(PredictionCancelled):
        compare_on_file(["RandomForest:1", "RandomForest:2"], koi_csv, registry=registry, batch_rows=384,
                        progress=lambda done, total: seen.append(done), cancelled=lambda: bool(seen))
    assert seen and seen[-1] < 9000
    assert list(tmp_path.iterdir()) == []


def test_reports_are_written_whole_or_not_at_all(demo_registry, koi_csv, tmp_path, monkeypatch):
    import core.comparison.report as report
    from core.errors import DataError
    from core.prediction.scoring import compare_on_file

    registry, _ = demo_registry
    found = compare_on_file(["RandomForest:1", "RandomForest:2"], koi_csv, registry=registry, n_resamples=200)

    def broken(*args, **kwargs):
        raise RuntimeError("renderer failed")

    monkeypatch.setattr(report, "render_markdown", broken)
    with pytest.raises(RuntimeError):
        found.write_report(html=tmp_path / "r.html", markdown=tmp_path / "r.md")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    (tmp_path / "target.html").write_text("mine")
    (tmp_path / "link.html").symlink_to(tmp_path / "target.html")
    with pytest.raises(DataError, match=r"^The report path .*link\.html is a symbolic link, not a regular file"):
        found.write_report(html=tmp_path / "link.html")
    assert (tmp_path / "target.html").read_text() == "mine"
    written = found.write_report(html=tmp_path / "r.html", markdown=tmp_path / "r.md")
    assert [p.name for p in written] == ["r.html", "r.md"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.html", "r.html", "r.md", "target.html"]


# ---------------------------------------------------------------------------------------------
# exoreg evaluate


def _remote_references(html: str) -> list[str]:
    import re
    from html.parser import HTMLParser

    found = []

    class Links(HTMLParser):
        def handle_starttag(self, tag, attrs):
            for name, value in attrs:
                if name in ("src", "href", "srcset", "action", "data") and value and not value.startswith(("#", "data:")):
                    found.append(f"{tag} {name}={value}")

    Links().feed(html)
    found += re.findall(r"url\(\s*['\"]?(?!data:|#)[^)]*\)", html) + re.findall(r"@import[^;]*", html)
    return found


def test_cli_evaluate_prints_notes_intervals_and_verdicts_and_writes_the_report(demo_registry, koi_csv, tmp_path,
                                                                                capsys):
    from core.cli import main

    registry, _ = demo_registry
    html, md = tmp_path / "out.html", tmp_path / "out.md"
    code = main(["--registry", str(registry.root), "evaluate", "RandomForest:1", "RandomForest:2", str(koi_csv),
                 "--label", "koi_disposition", "--report", str(html), "--markdown", str(md), "--resamples", "300"])
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["ID", "ROWS", "ACCURACY"]
    assert "note: RandomForest v1: 7,585 labelled rows, " in out
    assert "note: paired: every version was scored on the same " in out
    assert "95 % intervals (paired bootstrap, 300 resamples, seed 0):" in out
    assert "verdict on macro F1 (Holm-corrected, alpha = 0.05):" in out
    assert "  RandomForest v1 vs RandomForest v2: macro F1 " in out
    assert f"report:     {html}" in out and f"report:     {md}" in out
    text = html.read_text(encoding="utf-8")
    assert "RandomForest v1 vs RandomForest v2" in text and _remote_references(text) == []
    assert "RandomForest v1 vs RandomForest v2" in md.read_text(encoding="utf-8")


def test_cli_evaluate_json_is_the_file_comparison(demo_registry, koi_csv, capsys):
    import json

    from core.cli import main
    from core.common.files import sha256_file

    registry, made = demo_registry
    code = main(["--registry", str(registry.root), "evaluate", "RandomForest:1", "RandomForest:2", str(koi_csv),
                 "--json", "--resamples", "200", "--primary", "accuracy"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["sha256"] == sha256_file(koi_csv) and data["paired"] is True
    assert [v["model_id"] for v in data["versions"]] == [made["RandomForest:1"][0], made["RandomForest:2"][0]]
    assert data["comparison"]["primary"] == "accuracy" and len(data["comparison"]["pairs"]) == 1
    assert data["verdicts"][0].startswith("RandomForest v1 vs RandomForest v2: accuracy ")
    assert data["results"][0]["rows_excluded"] == sum(made["RandomForest:1"][1].to_dict()[k]
                                                      for k in ("training_samples", "validation_samples"))


def test_cli_evaluate_too_few_shared_rows_is_one_sentence_and_unpaired_runs(demo_registry, koi_csv, tmp_path, capsys):
    from core.cli import main

    registry, _ = demo_registry
    args = ["--registry", str(registry.root), "evaluate", "RandomForest:1", "RandomForest:2", "RandomForest:3",
            str(koi_csv), "--resamples", "200"]
    code = main([*args, "--report", str(tmp_path / "r.html")])
    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    [line] = captured.err.strip().splitlines()
    assert line.startswith("exoreg: The 3 versions share only ") and "(--unpaired" in line
    assert list(tmp_path.iterdir()) == []
    assert main([*args, "--unpaired"]) == 0
    out = capsys.readouterr().out
    assert "95 % intervals (unpaired bootstrap, each version on its own rows, 200 resamples" in out
    assert "note: unpaired: the versions share only " in out


def test_cli_evaluate_include_training_rows_scores_all(demo_registry, koi_csv, labelled, capsys):
    from core.cli import main

    registry, _ = demo_registry
    code = main(["--registry", str(registry.root), "evaluate", "RandomForest:1", str(koi_csv),
                 "--include-training-rows", "--resamples", "200"])
    out = capsys.readouterr().out
    assert code == 0
    row = next(line for line in out.splitlines() if line.startswith("RandomForest_v1"))
    assert row.split()[1] == str(len(labelled)) and row.split()[-1] == "0"
    assert "note: training rows included (--include-training-rows)" in out


# ---------------------------------------------------------------------------------------------
# In the desktop app's warm worker process


def test_the_warm_worker_compares_on_held_out_rows_and_sends_too_few_shared_rows_back(demo_registry, koi_csv):
    from core.errors import TooFewSharedRows
    from core.prediction.scoring import compare_on_file
    from core.prediction.warm import PredictionWorker

    registry, made = demo_registry
    ids = [made[f"RandomForest:{i}"][0] for i in (1, 2, 3)]
    worker = PredictionWorker()
    try:
        found = worker.compare_on_file(str(registry.root), ids[:2], koi_csv, "koi_disposition", n_resamples=200)
        here = compare_on_file(ids[:2], koi_csv, registry=registry, n_resamples=200)
        assert found.notes == here.notes and found.sentences() == here.sentences()
        assert [r.rows_excluded for r in found.results] == [r.rows_excluded for r in here.results] != [0, 0]
        with pytest.raises(TooFewSharedRows) as caught:
            worker.compare_on_file(str(registry.root), ids, koi_csv, "koi_disposition", n_resamples=200)
        assert caught.value.needed_rows == 200 and caught.value.shared_rows < 200
        assert set(caught.value.per_class) == {"CONFIRMED", "FALSE POSITIVE"}
        unpaired = worker.compare_on_file(str(registry.root), ids, koi_csv, "koi_disposition", n_resamples=200,
                                          allow_unpaired=True)
        assert not unpaired.paired
    finally:
        worker.stop()


def test_cli_evaluate_refuses_a_report_path_before_reading_the_file(demo_registry, koi_csv, tmp_path, capsys):
    from core.cli import main

    registry, _ = demo_registry
    code = main(["--registry", str(registry.root), "evaluate", "RandomForest:1", str(koi_csv),
                 "--report", str(tmp_path / "missing" / "r.html")])
    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    assert captured.err.strip() == (f"exoreg: The folder {tmp_path / 'missing'} for the report file does not "
                                    "exist; create it or choose another.")


# ---------------------------------------------------------------------------------------------
# Any file, any training rows: the shared rows are exactly those no version was trained on


@pytest.fixture(scope="module")
def small_pairs():
    from core.registry.metadata import ModelMetadata
    from tests._factories import FEATURES as SMALL_FEATURES
    from tests._factories import forest

    def pair(seed):
        meta = ModelMetadata(model_id=f"Small_v{seed}", model_name="Small", algorithm="RandomForest", version=seed,
                             training_date="2025-01-01", accuracy=0.9, precision=0.9, recall=0.9, f1_score=0.9,
                             feature_columns=SMALL_FEATURES)
        return forest(seed=seed), meta

    return [pair(1), pair(2)], SMALL_FEATURES


@pytest.mark.filterwarnings("ignore")
def test_paired_rows_are_exactly_the_rows_no_version_trained_on(small_pairs, tmp_path_factory):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from core.errors import TooFewSharedRows
    from core.prediction.scoring import compare_on_file
    from core.registry.records import TrainingRows

    pairs, features = small_pairs
    folder = tmp_path_factory.mktemp("hypothesis")

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.data())
    def check(data):
        n = data.draw(st.integers(4, 60))
        rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
        # Identifiers: repeated, padded, empty, formula-like, non-ASCII (no '#' first: a comment line).
        text = st.text(st.characters(whitelist_categories=("L", "N")) | st.sampled_from("._-=+ "), max_size=6)
        names = data.draw(st.lists(st.sampled_from(["K1.01", "K2.01", " K3.01 ", "", "=1+1", "K\u00e9.01"]) | text,
                                   min_size=n, max_size=n))
        frame = pd.DataFrame(rng.normal(size=(n, len(features))).round(3), columns=features)
        frame.insert(0, "kepoi_name", names)
        frame["koi_disposition"] = rng.choice(["CONFIRMED", "FALSE POSITIVE", "CANDIDATE"], size=n)
        in_a = rng.random(n) < data.draw(st.floats(0, 1))
        in_b = rng.random(n) < data.draw(st.floats(0, 1))
        path = folder / "rows.csv"
        frame.to_csv(path, index=False)
        records = [TrainingRows.from_frame(frame[mask], features) for mask in (in_a, in_b)]
        # A row counts as trained when its id (stripped) or, without one, its values were recorded.
        trained = [~np.asarray(r.held_out_mask(frame), dtype=bool) for r in records]
        labelled = frame["koi_disposition"].isin(["CONFIRMED", "FALSE POSITIVE"]).to_numpy()
        shared = labelled & ~trained[0] & ~trained[1]
        try:
            found = compare_on_file(pairs, path, training_rows=records, min_rows=1, min_per_class=1,
                                    n_resamples=100, allow_unpaired=True)
        except TooFewSharedRows as error:  # a version has no held-out row of some class at all
            own = [labelled & ~t for t in trained]
            truth = frame["koi_disposition"]
            assert any(min((truth[o] == c).sum() for c in ("CONFIRMED", "FALSE POSITIVE")) == 0 for o in own)
            assert error.shared_rows == sum(error.per_class.values())
            return
        assert [r.rows_excluded for r in found.results] == [int((labelled & t).sum()) for t in trained]
        if found.paired:
            for version in found.versions:
                assert list(version.y_true) == frame["koi_disposition"][shared].tolist()

    check()
