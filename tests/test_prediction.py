"""Batch prediction on the real KOI table: exactness, scoring, cancel, escaping, the command line."""

from __future__ import annotations

import csv
import gzip
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from core.prediction.engine import (
    PredictionCancelled,
    default_output_path,
    evaluate_csv,
    predict_csv,
    preflight,
)

FEATURES = [
    "koi_period", "koi_duration", "koi_depth", "koi_prad", "koi_teq", "koi_insol",
    "koi_model_snr", "koi_steff", "koi_slogg", "koi_srad", "koi_impact", "koi_kepmag",
]  # fmt: skip
SMALL_BATCH = 960  # many batches, both worker threads busy


def _pipelines():
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return {
        "RandomForest": make_pipeline(
            SimpleImputer(strategy="median"), RandomForestClassifier(n_estimators=20, random_state=0)
        ),
        "NeuralNetwork": make_pipeline(
            SimpleImputer(strategy="median"),
            StandardScaler(),
            MLPClassifier(hidden_layer_sizes=(16,), max_iter=60, random_state=0),
        ),
        "SVM": make_pipeline(
            SimpleImputer(strategy="median"),
            StandardScaler(),
            CalibratedClassifierCV(SVC(C=1.0), cv=3),
        ),
    }


@pytest.fixture(scope="session")
def koi_frame(koi_csv) -> pd.DataFrame:
    return pd.read_csv(koi_csv, comment="#")


@pytest.fixture(scope="session")
def trained_registry(tmp_path_factory, koi_frame):
    """A registry holding one small version of each algorithm, trained on the shared table."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from core.model_registry import ModelRegistry

    registry = ModelRegistry(tmp_path_factory.mktemp("prediction") / "registry")
    labelled = koi_frame[koi_frame["koi_disposition"] != "CANDIDATE"]
    train = labelled.sample(n=1500, random_state=0)
    for name, model in _pipelines().items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(train[FEATURES], train["koi_disposition"])
        registry.register_model(
            model=model,
            model_name=name,
            algorithm=name,
            evaluation_results={"accuracy": 0.9, "precision": 0.9, "recall": 0.9, "f1_score": 0.9},
            hyperparameters={},
            training_info={"dataset": "koi_cumulative_2025-09-18", "training_samples": len(train)},
            feature_columns=FEATURES,
        )
    return registry


@pytest.fixture(scope="session")
def forest_pair(trained_registry):
    return trained_registry.load_model(model_name="RandomForest")


@pytest.fixture(scope="session")
def small_koi_csv(tmp_path_factory, koi_csv) -> Path:
    """The first 3,000 rows of the shared table, NASA comment header included."""
    lines = koi_csv.read_text(encoding="utf-8").splitlines(keepends=True)
    header = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    path = tmp_path_factory.mktemp("small") / "koi_3000.csv"
    path.write_text("".join(lines[: header + 1 + 3000]), encoding="utf-8")
    return path


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part") or p.name.startswith("."))


@pytest.mark.koi
@pytest.mark.parametrize("name", ["RandomForest", "NeuralNetwork", "SVM"])
def test_streaming_output_equals_in_memory_predict_proba(
    name, trained_registry, koi_csv, koi_frame, tmp_path
):
    out = tmp_path / "predictions.csv"
    summary = predict_csv(name, koi_csv, out, registry=trained_registry, batch_rows=SMALL_BATCH)

    model, meta = trained_registry.load_model(model_name=name)
    expected = model.predict_proba(koi_frame[FEATURES])
    got = pd.read_csv(out)
    assert list(got.columns) == [
        "kepoi_name", "kepid", "predicted_label",
        "probability_CONFIRMED", "probability_FALSE POSITIVE", "model_id",
    ]  # fmt: skip
    assert len(got) == len(koi_frame) == summary.rows_read == summary.rows_predicted
    np.testing.assert_array_equal(
        got[["probability_CONFIRMED", "probability_FALSE POSITIVE"]].to_numpy(), expected
    )
    np.testing.assert_array_equal(got["predicted_label"].to_numpy(), model.predict(koi_frame[FEATURES]))
    assert (got["kepoi_name"] == koi_frame["kepoi_name"]).all()
    assert (got["kepid"] == koi_frame["kepid"]).all()
    assert set(got["model_id"]) == {meta.model_id}
    # The 363 rows without stellar parameters were imputed by the pipeline, not dropped.
    assert summary.rows_rejected == 0 and summary.rejects_path is None
    assert summary.rows_imputed == int(koi_frame[FEATURES].isna().any(axis=1).sum()) > 300
    assert summary.class_counts == got["predicted_label"].value_counts().to_dict()
    assert _leftovers(tmp_path) == []


@pytest.mark.koi
def test_evaluate_csv_matches_scikit_learn_on_the_same_rows(trained_registry, koi_csv, koi_frame):
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    result = evaluate_csv("RandomForest", koi_csv, "koi_disposition", registry=trained_registry)

    model, _ = trained_registry.load_model(model_name="RandomForest")
    labelled = koi_frame[koi_frame["koi_disposition"] != "CANDIDATE"]
    y_true = labelled["koi_disposition"].to_numpy()
    y_pred = model.predict(labelled[FEATURES])
    assert result.rows_read == len(koi_frame)
    assert result.rows_scored == len(labelled)
    assert result.unscored == {"CANDIDATE": int((koi_frame["koi_disposition"] == "CANDIDATE").sum())}
    assert result.metrics["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred), abs=1e-12)
    assert result.metrics["f1_macro"] == pytest.approx(f1_score(y_true, y_pred, average="macro"), abs=1e-12)
    assert result.metrics["f1_weighted"] == pytest.approx(
        f1_score(y_true, y_pred, average="weighted"), abs=1e-12
    )
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=list(model.classes_))
    for i, label in enumerate(model.classes_):
        assert result.per_class[label]["precision"] == pytest.approx(p[i], abs=1e-12)
        assert result.per_class[label]["recall"] == pytest.approx(r[i], abs=1e-12)
        assert result.per_class[label]["support"] == s[i]
    assert result.confusion_matrix["labels"] == list(model.classes_)
    assert (
        result.confusion_matrix["matrix"] == confusion_matrix(y_true, y_pred, labels=model.classes_).tolist()
    )
    assert result.registered_metrics["f1_score"] == 0.9


@pytest.mark.koi
def test_cancel_half_way_leaves_no_output_and_no_temp_file(forest_pair, koi_csv, tmp_path):
    out = tmp_path / "predictions.csv"
    seen = []
    stop = threading.Event()

    def progress(done, total):
        seen.append((done, total))
        if done >= 2000:
            stop.set()

    with pytest.raises(PredictionCancelled):
        predict_csv(forest_pair, koi_csv, out, progress=progress, cancelled=stop.is_set, batch_rows=384)
    assert seen and seen[-1][0] < 9564  # it stopped before the end of the file
    assert list(tmp_path.iterdir()) == []


@pytest.mark.koi
def test_progress_counts_rows_and_estimates_the_total(forest_pair, koi_csv, tmp_path):
    seen = []
    predict_csv(
        forest_pair,
        koi_csv,
        tmp_path / "o.csv",
        progress=lambda d, t: seen.append((d, t)),
        batch_rows=SMALL_BATCH,
    )
    done = [d for d, _ in seen]
    assert done == sorted(done) and len(seen) > 5
    assert seen[-1] == (9564, 9564)
    first_done, first_total = seen[0]
    assert 0.5 * 9564 < first_total < 2 * 9564  # estimated from the bytes read so far


@pytest.mark.koi
def test_preflight_on_the_shared_table(trained_registry, koi_csv):
    report = preflight("RandomForest", koi_csv, registry=trained_registry)
    assert report.ok and report.error is None
    assert report.matched == FEATURES and report.missing == []
    assert report.id_columns == ["kepoi_name", "kepid"]
    assert report.comment_lines == 53 and report.delimiter == ","
    assert 0.9 * 9564 < report.estimated_rows < 1.1 * 9564
    depth = report.issues["koi_depth"]
    assert depth.missing > 0 and depth.non_numeric == 0 and depth.first_rows  # empty cells, with row numbers
    assert "koi_teq" not in report.missing
    import json

    json.dumps(report.to_dict())  # the GUI and --json can serialise it


@pytest.mark.koi
def test_preflight_takes_metadata_or_a_pair(forest_pair, koi_csv):
    model, meta = forest_pair
    assert preflight(meta, koi_csv).matched == FEATURES
    assert preflight(forest_pair, koi_csv).model_id == meta.model_id


@pytest.mark.koi
def test_parquet_output(forest_pair, koi_csv, koi_frame, tmp_path):
    out = tmp_path / "predictions.parquet"
    summary = predict_csv(forest_pair, koi_csv, out)
    table = pq.read_table(out)
    assert summary.output_format == "parquet"
    assert table.num_rows == len(koi_frame)
    model, _ = forest_pair
    np.testing.assert_array_equal(
        table.column("probability_CONFIRMED").to_numpy(), model.predict_proba(koi_frame[FEATURES])[:, 0]
    )


@pytest.mark.koi
def test_gzip_output_and_default_name(forest_pair, small_koi_csv, tmp_path):
    out = tmp_path / "predictions.csv.gz"
    predict_csv(forest_pair, small_koi_csv, out)
    with gzip.open(out, "rt") as fh:
        assert len(pd.read_csv(fh)) == 3000
    assert default_output_path(small_koi_csv) == small_koi_csv.with_name("koi_3000.predictions.csv")


@pytest.mark.koi
def test_in_subprocess_gives_the_same_file_and_can_be_cancelled(trained_registry, small_koi_csv, tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    seen = []
    summary = predict_csv(
        "RandomForest", small_koi_csv, a, registry=trained_registry, in_subprocess=True,
        progress=lambda d, t: seen.append(d),
    )  # fmt: skip
    predict_csv("RandomForest", small_koi_csv, b, registry=trained_registry)
    assert a.read_bytes() == b.read_bytes()
    assert summary.rows_predicted == 3000 and seen[-1] == 3000
    with pytest.raises(PredictionCancelled):  # the child's exception comes back as the same class
        predict_csv(
            "RandomForest", small_koi_csv, tmp_path / "d.csv", registry=trained_registry, in_subprocess=True,
            cancelled=lambda: True,
        )  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.csv"]


# -- spreadsheet formula escaping -----------------------------------------------------------------


def _dummy_pair():
    """A model whose every probability is exactly 0.5."""
    from sklearn.dummy import DummyClassifier

    X = pd.DataFrame({"koi_period": [1.0, 2.0], "koi_depth": [3.0, 4.0]})
    model = DummyClassifier(strategy="prior").fit(X, ["CONFIRMED", "FALSE POSITIVE"])
    return model, SimpleNamespace(
        model_id="dummy_v1", feature_columns=["koi_period", "koi_depth"], classes=[]
    )


def test_formula_cells_are_escaped_and_numbers_stay_numbers(tmp_path):
    hyperlink = '=HYPERLINK("http://example.com/x","click")'
    rows = [
        [hyperlink, "-12.5", "1.0", "2.0"],
        ["+SUM(A1)", "-3", "1.0", "2.0"],
        ["@cmd", "4.25", "1.0", "2.0"],
        ["-2+3", "5", "1.0", "2.0"],
        ["\tTAB", "6", "1.0", "2.0"],
        ["K00001.01", "7", "1.0", "2.0"],
    ]
    src = tmp_path / "in.csv"
    with open(src, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["kepoi_name", "dec", "koi_period", "koi_depth"])
        w.writerows(rows)
    out = tmp_path / "out.csv"
    predict_csv(_dummy_pair(), src, out, id_columns=["kepoi_name", "dec"])

    got = pd.read_csv(out, keep_default_na=False)
    assert got["kepoi_name"].tolist() == [
        "'" + hyperlink,
        "'+SUM(A1)",
        "'@cmd",
        "'-2+3",
        "'\tTAB",
        "K00001.01",
    ]
    assert [v[1:] if v.startswith("'") else v for v in got["kepoi_name"]] == [
        r[0] for r in rows
    ]  # round-trips
    assert got["dec"].dtype.kind == "f" and got["dec"].tolist() == [-12.5, -3, 4.25, 5, 6, 7]
    assert got["probability_CONFIRMED"].dtype.kind == "f" and set(got["probability_CONFIRMED"]) == {0.5}
    text = out.read_text(encoding="utf-8")
    assert ",0.5,0.5," in text  # probabilities are written as bare numbers
    assert "'-12.5" not in text and "'-3" not in text  # a negative number is a value, not a formula


def test_formula_like_labels_and_model_ids_are_escaped_in_csv_and_kept_in_parquet(tmp_path):
    from sklearn.dummy import DummyClassifier

    X = pd.DataFrame({"koi_period": [1.0, 2.0, 3.0], "koi_depth": [3.0, 4.0, 5.0]})
    model = DummyClassifier(strategy="most_frequent").fit(X, ["=1+1", "=1+1", "OK"])
    meta = SimpleNamespace(model_id="@m_v1", feature_columns=["koi_period", "koi_depth"], classes=[])
    src = tmp_path / "in.csv"
    X.to_csv(src, index=False)
    predict_csv((model, meta), src, tmp_path / "out.csv")
    got = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    assert set(got["predicted_label"]) == {"'=1+1"} and set(got["model_id"]) == {"'@m_v1"}
    assert "probability_=1+1" in got.columns  # a header names the class as it is
    predict_csv((model, meta), src, tmp_path / "out.parquet")
    raw = pd.read_parquet(tmp_path / "out.parquet")
    assert set(raw["predicted_label"]) == {"=1+1"} and set(raw["model_id"]) == {"@m_v1"}


# -- the command line -------------------------------------------------------------------------------


@pytest.mark.koi
def test_cli_predict_end_to_end(trained_registry, small_koi_csv, tmp_path, capsys):
    from core.cli import main

    out = tmp_path / "out.csv"
    code = main(
        [
            "--registry",
            str(trained_registry.root),
            "predict",
            "RandomForest",
            str(small_koi_csv),
            "-o",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0
    assert "rows read:  3,000" in printed and "output:" in printed and "CONFIRMED" in printed
    got = pd.read_csv(out)
    model, _ = trained_registry.load_model(model_name="RandomForest")
    frame = pd.read_csv(small_koi_csv, comment="#")
    np.testing.assert_array_equal(
        got["probability_CONFIRMED"].to_numpy(), model.predict_proba(frame[FEATURES])[:, 0]
    )

    code = main(["--registry", str(trained_registry.root), "--json", "predict", "RandomForest", str(small_koi_csv),
                 "-o", str(out)])  # fmt: skip
    import json

    assert code == 0 and json.loads(capsys.readouterr().out)["rows_predicted"] == 3000


@pytest.mark.koi
def test_cli_predict_user_mistakes_are_one_line(trained_registry, small_koi_csv, tmp_path, capsys):
    from core.cli import main

    bad = tmp_path / "renamed.csv"
    frame = pd.read_csv(small_koi_csv, comment="#").rename(columns={"koi_period": "period"})
    frame.to_csv(bad, index=False)
    code = main(
        [
            "--registry",
            str(trained_registry.root),
            "predict",
            "RandomForest",
            str(bad),
            "-o",
            str(tmp_path / "o.csv"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "koi_period (did you mean 'period'?)" in err and "Traceback" not in err
    assert not (tmp_path / "o.csv").exists()

    code = main(["--registry", str(trained_registry.root), "predict", "--check", "RandomForest", str(bad)])
    captured = capsys.readouterr()
    assert code == 1 and "lacks 1 feature column" in captured.err

    code = main(["--registry", str(trained_registry.root), "predict", "NoSuchModel", str(bad)])
    assert code == 1 and capsys.readouterr().err.startswith("exoreg: ")


@pytest.mark.koi
def test_cli_evaluate_compares_versions_on_the_same_rows(trained_registry, small_koi_csv, capsys):
    from core.cli import main

    code = main(["--registry", str(trained_registry.root), "evaluate", "RandomForest", "SVM", str(small_koi_csv),
                 "--label", "koi_disposition"])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    lines = printed.splitlines()
    assert lines[0].split()[:3] == ["ID", "ROWS", "ACCURACY"]
    rf_line = next(line for line in lines if line.startswith("RandomForest_v1"))
    svm_line = next(line for line in lines if line.startswith("SVM_v1"))
    assert rf_line.split()[1] == svm_line.split()[1]  # same rows scored
    assert "CANDIDATE" in printed  # the unscored rows are said, not hidden
