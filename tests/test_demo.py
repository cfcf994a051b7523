"""``exoreg demo``: a populated registry from the real table, and the labelled synthetic fallback."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json

import numpy as np
import pandas as pd
import pytest

from core.cli import main
from core.model_registry import ModelRegistry


def _run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="session")
def real_demo(koi_csv, tmp_path_factory):
    root = tmp_path_factory.mktemp("real_demo") / "registry"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EXOREG_OFFLINE", "1")
        mp.setenv("EXOREG_CACHE_DIR", str(root.parent / "cache"))
        code, out, err = _run_cli("demo", "--registry", str(root), "--data", str(koi_csv), "--json")
    assert code == 0, err
    return root, json.loads(out)


@pytest.fixture(scope="session")
def synthetic_demo(tmp_path_factory):
    """No --data, no EXOREG_KOI_CSV, an empty cache and no network: the synthetic fallback."""
    root = tmp_path_factory.mktemp("synthetic_demo") / "registry"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EXOREG_OFFLINE", "1")
        mp.delenv("EXOREG_KOI_CSV", raising=False)
        mp.setenv("EXOREG_CACHE_DIR", str(root.parent / "empty-cache"))
        code, out, err = _run_cli("demo", "--registry", str(root))
    assert code == 0, err
    return root, out, err


@pytest.mark.koi
def test_real_demo_registry_verifies_and_has_a_history(real_demo):
    root, summary = real_demo
    registry = ModelRegistry(root)
    assert registry.verify().ok
    assert summary["data_origin"] == "real" and len(summary["model_ids"]) == 10
    rows = registry.list_models()
    versions: dict[str, list[int]] = {}
    for row in rows:
        versions.setdefault(row["model_name"], []).append(row["version"])
    assert versions == {"NeuralNetwork": [1, 2, 3], "RandomForest": [1, 2, 3], "SVM": [1, 2, 3],
                        "ThreeClassForest": [1]}
    # The discarded experiment stays in the history, soft-deleted.
    deleted = [r for r in registry.list_models(include_deleted=True) if r["status"] == "deleted"]
    assert [(r["model_name"], r["version"]) for r in deleted] == [("RandomForest", 4)]
    for row in rows:
        assert row["description"] and row["tags"]["data"] == "real"
        assert "koi_cumulative_2025-09-18.csv" in row["training_dataset"]


@pytest.mark.koi
def test_real_demo_aliases_point_at_the_best_and_the_first(real_demo):
    root, summary = real_demo
    registry = ModelRegistry(root)
    for name in ("RandomForest", "NeuralNetwork", "SVM"):
        rows = registry.list_models(name)
        best = max(rows, key=lambda r: (r["f1_score"], r["version"]))
        assert registry.resolve(f"{name}@production").version == best["version"]
        assert registry.resolve(f"{name}@baseline").version == 1
        assert summary["aliases"][name] == {"baseline": 1, "production": best["version"]}
        # The flags make the difference: the vetting version wins.
        assert registry.resolve(f"{name}@production").tags["feature_set"] == "vetting"


@pytest.mark.koi
def test_real_demo_metadata_is_honest_and_complete(real_demo, koi_csv):
    root, _ = real_demo
    registry = ModelRegistry(root)
    digest = hashlib.sha256(koi_csv.read_bytes()).hexdigest()
    test_sizes = set()
    for row in registry.list_models():
        meta = registry.get_metadata(row["model_id"])
        info = meta.training_info
        assert info["data_sha256"] == digest and info["archive_stamp"] == "Thu Sep 18 07:50:32 2025"
        assert info["feature_set"] == meta.tags["feature_set"] and info["task"] == meta.tags["task"]
        assert info["random_state"] == 42 and info["validation_samples"] > 0
        assert info["group_column"] == "kepid" and info["groups"] > 6000  # split by host star
        ev = meta.evaluation
        assert ev["confusion_matrix"]["labels"] == meta.classes
        matrix = np.array(ev["confusion_matrix"]["matrix"])
        assert matrix.sum() == meta.test_samples
        assert np.trace(matrix) / matrix.sum() == pytest.approx(meta.accuracy)
        assert set(ev["per_class"]) == set(meta.classes)
        assert set(ev["feature_importances"]) == set(meta.feature_columns)
        assert "roc_auc" in meta.metrics and "val_f1_score" in meta.metrics
        assert not {"koi_score", "koi_pdisposition", "koi_disposition"} & set(meta.feature_columns)
        if meta.tags["task"] == "binary":
            test_sizes.add(meta.test_samples)
            assert meta.classes == ["CONFIRMED", "FALSE POSITIVE"]
            assert meta.class_distribution == {"CONFIRMED": 1922, "FALSE POSITIVE": 3387}
        else:
            assert meta.classes == ["CANDIDATE", "CONFIRMED", "FALSE POSITIVE"]
    assert test_sizes == {1517}  # every binary version is scored on the same held-out rows
    assert registry.resolve("SVM@production").f1_score >= 0.975
    assert registry.resolve("RandomForest:2").f1_score >= 0.9


@pytest.mark.koi
def test_real_demo_records_what_each_version_was_trained_on(real_demo, koi_csv):
    from core.training.koi import LABEL_COLUMN, load_koi

    root, _ = real_demo
    registry = ModelRegistry(root)
    table = load_koi(koi_csv).data
    for row in registry.list_models(include_deleted=True):
        meta = registry.get_metadata(row["model_id"])
        rows = registry.training_rows(meta)
        trained = meta.training_samples + meta.training_info["validation_samples"]
        assert len(rows) == trained and len(rows.ids) == trained
        assert rows.id_column == "kepoi_name" and rows.features == tuple(meta.feature_columns)
        labelled = table[table[LABEL_COLUMN].isin(meta.classes)]
        # Scoring the table the version came from leaves out exactly its training and validation rows.
        assert int((~rows.held_out_mask(labelled)).sum()) == trained
        profile = registry.training_profile(meta)
        assert profile["rows"] == meta.training_samples
        assert list(profile["features"]) == meta.feature_columns
        assert all(len(f["histogram"]["counts"]) == 20 for f in profile["features"].values() if f["count"])
    assert registry.verify().ok


@pytest.mark.koi
def test_real_demo_candidates_csv_sits_beside_the_registry_and_predicts(real_demo):
    root, summary = real_demo
    candidates = root.parent / "candidates.csv"
    assert summary["candidates_csv"] == str(candidates.resolve())
    assert not list(root.rglob("candidates.csv"))
    rows = pd.read_csv(candidates)
    assert len(rows) == 1979 and set(rows["koi_disposition"]) == {"CANDIDATE"}
    registry = ModelRegistry(root)
    model, meta = registry.load_model(model_name="SVM", version=registry.resolve("SVM@production").version)
    proba = model.predict_proba(rows[meta.feature_columns])
    assert proba.shape == (1979, 2) and np.allclose(proba.sum(axis=1), 1)


@pytest.mark.koi
def test_demo_refuses_a_registry_that_already_holds_models(real_demo, koi_csv):
    root, _ = real_demo
    code, _, err = _run_cli("demo", "--registry", str(root), "--data", str(koi_csv))
    assert code == 1
    assert "already holds 11 model version(s)" in err and "Traceback" not in err


def test_synthetic_fallback_is_labelled(synthetic_demo):
    root, out, err = synthetic_demo
    registry = ModelRegistry(root)
    assert registry.verify().ok
    rows = registry.list_models()
    assert len(rows) == 10
    for row in rows:
        assert "synthetic" in row["training_dataset"].lower()
        assert row["tags"]["data"] == "synthetic"
        assert row["description"].startswith("SYNTHETIC DATA")
        meta = registry.get_metadata(row["model_id"])
        assert meta.training_info["data_origin"] == "synthetic"
        assert meta.training_info["group_note"] == "The table has no kepid column, so rows were split one by one."
        trained = meta.training_samples + meta.training_info["validation_samples"]
        assert len(registry.training_rows(meta)) == trained
        assert list(registry.training_profile(meta)["features"]) == meta.feature_columns
    assert "SYNTHETIC" in err and "--data PATH" in err
    assert "trained on SYNTHETIC data" in out
    candidates = pd.read_csv(root.parent / "candidates.csv")
    assert len(candidates) > 0 and candidates["kepoi_name"].str.startswith("SYN").all()


def test_named_table_that_does_not_exist_is_an_error_not_a_fallback(tmp_path):
    code, _, err = _run_cli("demo", "--registry", str(tmp_path / "r"), "--data", str(tmp_path / "nope.csv"))
    assert code == 1 and "nope.csv" in err and "does not exist" in err
    assert not ModelRegistry(tmp_path / "r").list_models(include_deleted=True)


@pytest.mark.koi
def test_progress_and_cancel(koi_csv, tmp_path):
    from core.model_trainer import TrainingCancelled
    from core.training.demo import DEMO_PLAN, build_demo_registry

    calls: list[tuple[int, int]] = []
    with pytest.raises(TrainingCancelled, match="after 1 version"):
        build_demo_registry(tmp_path / "registry", koi_csv, progress=lambda d, t: calls.append((d, t)),
                            cancelled=lambda: len(calls) >= 3, workers=1)
    total = len(DEMO_PLAN) + 1
    assert calls == [(0, total), (1, total), (2, total)]
    registry = ModelRegistry(tmp_path / "registry")
    assert [r["model_id"] for r in registry.list_models()] == [registry.resolve("RandomForest:1").model_id]
    assert registry.verify().ok


def test_default_location_is_the_user_data_folder(monkeypatch, tmp_path):
    from core.training.demo import default_demo_root

    monkeypatch.setenv("EXOREG_DATA_DIR", str(tmp_path / "data"))
    assert default_demo_root() == tmp_path / "data" / "demo" / "registry"
    monkeypatch.delenv("EXOREG_DATA_DIR")
    import platformdirs

    assert default_demo_root().is_relative_to(platformdirs.user_data_dir("exoreg", appauthor=False))


@pytest.mark.koi
def test_demo_data_comes_from_the_archive_when_nothing_is_local(koi_csv, monkeypatch, tmp_path):
    """The download path of the demo, against a local stand-in for the archive (no internet)."""
    from core.training.demo import _load_data
    from tests.test_koi import _Server

    monkeypatch.delenv("EXOREG_OFFLINE", raising=False)
    monkeypatch.delenv("EXOREG_KOI_CSV", raising=False)
    monkeypatch.setenv("EXOREG_CACHE_DIR", str(tmp_path / "cache"))
    lines: list[str] = []
    with _Server(koi_csv.read_bytes()) as server:
        monkeypatch.setenv("EXOREG_KOI_URL", server.url)
        data = _load_data(None, allow_download=True, progress=None, cancelled=None, status=lines.append)
    assert data.origin == "real" and data.provenance["data_source"] == "download"
    assert data.provenance["archive_stamp"] == "Thu Sep 18 07:50:32 2025"
    assert data.source == str(tmp_path / "cache" / "koi_cumulative.csv")
    # Offline, the same call falls back to the synthetic sample only because nothing was named.
    monkeypatch.setenv("EXOREG_OFFLINE", "1")
    monkeypatch.setenv("EXOREG_CACHE_DIR", str(tmp_path / "empty"))
    assert _load_data(None, allow_download=True, progress=None, cancelled=None,
                      status=lines.append).origin == "synthetic"
