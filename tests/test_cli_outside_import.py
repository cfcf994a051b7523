"""Importing models that were not made by ExoReg, duplicates, the CLI's default registry, ``show``'s rounding."""

from __future__ import annotations

import json
import pickle

import joblib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import ModelRegistry
from core.cli import main
from core.common import userdirs
from core.errors import MetadataValidationError
from core.registry import transfer
from core.registry.metadata import OVERLAP_UNKNOWN, REQUIRED_FIELDS, ModelMetadata
from tests._factories import FEATURES, forest, register, training_data


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def reg(registry_root):
    registry = ModelRegistry(registry_root)
    register(registry, name="RandomForest", f1=0.8)
    return registry


@pytest.fixture
def labelled(tmp_path):
    X, y = training_data(200, seed=3)
    frame = X.assign(koi_disposition=y)
    path = tmp_path / "labelled.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def outside_pkl(tmp_path):
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(forest(seed=7)))
    return path


# ------------------------------------------------------------------ item 4: one-step import
def test_bare_pickle_imports_in_one_step_with_scores_marked_overlap_unknown(reg, capsys, outside_pkl, labelled):
    code, out, err = run(capsys, "--registry", reg.root, "import", outside_pkl, "--name", "Outside",
                         "--evaluate", labelled, "--label", "koi_disposition", "--trust")
    assert code == 0, err
    assert "Imported as Outside_v1_" in out and "overlap unknown" in out and "confirm-metrics" in out
    meta = reg.resolve("Outside")
    assert meta.algorithm == "RandomForest"  # read from the estimator
    assert meta.feature_columns == FEATURES  # from feature_names_in_
    assert meta.metrics_caveat == OVERLAP_UNKNOWN and 0.5 < meta.f1_score <= 1.0
    assert meta.evaluation["scored_on"]["file_name"] == "labelled.csv"
    assert meta.evaluation["confusion_matrix"]["labels"]
    assert meta.imported_from["trusted_by_user"] is True

    # Out of "best" (library, CLI, the GUI's star uses the same best_row) until confirmed.
    reg.update_metadata(meta.model_id, description="x")  # a change does not drop the caveat
    assert reg.best_metadata().model_name == "RandomForest"
    code, out, _ = run(capsys, "--registry", reg.root, "best", "--name", "Outside")
    assert code == 1
    code, out, err = run(capsys, "--registry", reg.root, "confirm-metrics", "Outside")
    assert code == 0 and "Confirmed" in out
    assert reg.resolve("Outside").metrics_caveat == ""
    assert reg.best_metadata("f1_score", model_name="Outside").model_name == "Outside"


def test_best_star_skips_unconfirmed_versions(reg, outside_pkl, labelled):
    from exoreg_gui.models.registry_tree_model import best_version

    preview = transfer.preview_import(outside_pkl)
    from core.prediction.importing import import_outside_model

    new_id = import_outside_model(reg, preview, name="RandomForest", evaluate=labelled,
                                  label_column="koi_disposition", trusted=True)
    meta = reg.get_metadata(new_id)
    assert meta.version == 2 and meta.f1_score > 0.8  # would win on the number alone
    assert best_version(reg.list_models("RandomForest"), "f1_score") != new_id
    reg.confirm_metrics(new_id)
    assert best_version(reg.list_models("RandomForest"), "f1_score") == new_id


def test_bare_pickle_needs_trust_after_the_safety_review(reg, capsys, outside_pkl):
    code, out, err = run(capsys, "--registry", reg.root, "import", outside_pkl, "--name", "Outside")
    assert code == 1 and "pickle" in err and "trust" in err and err.count("\n") == 1
    assert "Outside" not in reg.model_names()


def test_without_evaluate_metrics_are_unknown(reg, capsys, tmp_path):
    path = tmp_path / "model.skops"
    import skops.io as sio

    path.write_bytes(sio.dumps(forest(seed=4)))
    code, out, err = run(capsys, "--registry", reg.root, "import", path, "--name", "Plain",
                         "--algorithm", "Forest")
    assert code == 0, err and "unknown" in out
    meta = reg.resolve("Plain")
    assert meta.algorithm == "Forest" and meta.f1_score is None and meta.metrics_caveat == ""
    code, out, _ = run(capsys, "--registry", reg.root, "show", "Plain")
    assert "f1_score" in out and "unknown" in out
    assert reg.best_metadata().model_name == "RandomForest"


def test_array_fitted_model_takes_features_from_a_csv_or_a_list(reg, capsys, tmp_path, labelled):
    from sklearn.linear_model import LogisticRegression

    X, y = training_data()
    path = tmp_path / "plain.joblib"
    joblib.dump(LogisticRegression().fit(np.asarray(X), y), path)
    code, out, err = run(capsys, "--registry", reg.root, "import", path, "--name", "Arr", "--trust")
    assert code == 1 and "--features" in err and "Traceback" not in err
    code, out, err = run(capsys, "--registry", reg.root, "import", path, "--name", "Arr", "--trust",
                         "--features", "a,b")
    assert code == 1 and "2 feature columns were given but plain.joblib expects 4" in err
    code, out, err = run(capsys, "--registry", reg.root, "import", path, "--name", "Arr", "--trust",
                         "--features-from", labelled, "--evaluate", labelled, "--label", "koi_disposition")
    assert code == 0, err
    meta = reg.resolve("Arr")
    assert meta.feature_columns == FEATURES and meta.algorithm == "LogisticRegression"
    assert meta.accuracy is not None
    code, out, err = run(capsys, "--registry", reg.root, "import", path, "--name", "Arr2", "--trust",
                         "--allow-duplicate", "--features", ",".join(FEATURES))
    assert code == 0, err and reg.resolve("Arr2").feature_columns == FEATURES


def test_every_problem_with_the_details_is_reported_at_once(reg, capsys, tmp_path):
    from sklearn.linear_model import LogisticRegression

    X, y = training_data()
    path = tmp_path / "plain.skops"
    import skops.io as sio

    path.write_bytes(sio.dumps(LogisticRegression().fit(np.asarray(X), y)))
    code, out, err = run(capsys, "--registry", reg.root, "import", path, "--name", "a/b", "--trust")
    error = err.splitlines()[-1]  # after the line naming what is trusted
    assert code == 1 and "2 problems" in error and "model_name" in error and "--features" in error


def test_missing_name_and_misplaced_options_say_what_to_do(reg, capsys, outside_pkl, tmp_path):
    code, _, err = run(capsys, "--registry", reg.root, "import", outside_pkl)
    assert code == 1 and "--name NAME" in err and "came without metadata" in err
    exported = reg.export_model(reg.resolve("RandomForest").model_id, tmp_path / "out")
    code, _, err = run(capsys, "--registry", reg.root, "import", exported["archive"], "--name", "X")
    assert code == 1 and "--name" in err and "comes with its metadata" in err
    code, _, err = run(capsys, "--registry", reg.root, "import", outside_pkl, "--name", "X", "--evaluate", "f.csv")
    assert code == 1 and "--label" in err


def test_incomplete_metadata_file_reports_every_field_at_once(reg, tmp_path):
    exported = reg.export_model(reg.resolve("RandomForest").model_id, tmp_path / "out")
    meta = json.loads(exported["metadata"].read_text())
    for name in ("model_id", "version", "training_date", "accuracy"):
        del meta[name]
    meta["recall"] = 7
    exported["metadata"].write_text(json.dumps(meta))
    with pytest.raises(MetadataValidationError) as caught:
        transfer.preview_import(exported["model"])
    text = str(caught.value)
    for name in ("model_id", "version", "training_date", "accuracy", "recall"):
        assert f"'{name}'" in text
    assert text.startswith(exported["metadata"].name) and "5 problems" in text


def test_minimal_metadata_json_imports(reg, tmp_path, capsys):
    """The minimal metadata JSON the README documents."""
    model = tmp_path / "minimal.pkl"
    model.write_bytes(pickle.dumps(forest(seed=11)))
    (tmp_path / "minimal.json").write_text(json.dumps({
        "model_id": "minimal-1", "model_name": "Minimal", "algorithm": "RandomForest", "version": 1,
        "training_date": "2025-09-18", "accuracy": None, "precision": None, "recall": None, "f1_score": None,
    }))
    code, out, err = run(capsys, "--registry", reg.root, "import", model, "--trust")
    assert code == 0, err
    assert reg.resolve("Minimal").f1_score is None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from([*REQUIRED_FIELDS, "tags", "feature_columns", "metrics"]),
                       st.one_of(st.none(), st.integers(), st.text(max_size=5), st.floats(), st.lists(st.integers())),
                       max_size=12))
def test_hostile_metadata_is_refused_with_every_problem_or_accepted(data):
    try:
        meta = ModelMetadata.from_dict(data)
    except MetadataValidationError as exc:
        text = str(exc)
        assert "\n" not in text and text.endswith(".")
        problems = sum(1 for n in REQUIRED_FIELDS if n not in data)
        if problems > 1:
            assert "problems" in text
    else:
        meta.validate()


# ------------------------------------------------------------------ item 5: duplicates
def test_library_finds_the_same_model_file(reg, tmp_path):
    exported = reg.export_model(reg.resolve("RandomForest").model_id, tmp_path / "out")
    preview = transfer.preview_import(exported["archive"])
    same = transfer.same_model_file(reg, preview)
    assert same is not None and same.version == 1
    assert "same model file as RandomForest v1" in transfer.duplicate_message(preview, same)
    reg.delete_model(same.model_id)
    assert "deleted" in transfer.duplicate_message(preview, transfer.same_model_file(reg, preview))


def test_duplicate_bare_file_is_skipped(reg, capsys, outside_pkl):
    assert run(capsys, "--registry", reg.root, "import", outside_pkl, "--name", "O", "--trust")[0] == 0
    code, out, err = run(capsys, "--registry", reg.root, "import", outside_pkl, "--name", "O", "--trust", "--json")
    assert code == 0 and json.loads(out)["skipped"] is True
    assert len(reg.list_models("O")) == 1


# ------------------------------------------------------------------ item 6: the default registry
@pytest.fixture
def bare_cwd(tmp_path, monkeypatch):
    folder = tmp_path / "cwd"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.delenv("EXOREG_REGISTRY", raising=False)
    monkeypatch.setenv("EXOREG_CONFIG_DIR", str(tmp_path / "config"))
    return folder


def test_read_commands_never_create_folders(bare_cwd, capsys, tmp_path):
    for argv in (["list"], ["stats"], ["show", "A"], ["--registry", tmp_path / "nowhere", "list"]):
        code, out, err = run(capsys, *argv)
        assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert "exoreg demo" in err or "does not exist" in err
    assert list(bare_cwd.iterdir()) == [] and not (tmp_path / "nowhere").exists()


def test_read_commands_fall_back_to_the_remembered_registry(bare_cwd, capsys, reg):
    userdirs.remember_registry(reg.root)  # what `exoreg demo` and the browser record
    code, out, err = run(capsys, "list")
    assert code == 0 and "RandomForest" in out
    assert f"using the registry {reg.root}" in err and "last opened" in err
    assert list(bare_cwd.iterdir()) == []
    # A command that writes does not write into a remembered registry: it starts ./models/registry.
    code, out, err = run(capsys, "tag", "RandomForest", "k=v")
    assert code == 1 and "models/registry" in err
    assert "k" not in reg.resolve("RandomForest").tags


def test_local_registry_and_environment_are_named_on_stderr(bare_cwd, capsys, reg, monkeypatch):
    local = ModelRegistry(bare_cwd / "models" / "registry")
    register(local, name="Local")
    userdirs.remember_registry(reg.root)
    code, out, err = run(capsys, "list")
    assert code == 0 and "Local" in out and "models/registry in this folder" in err
    monkeypatch.setenv("EXOREG_REGISTRY", str(reg.root))
    code, out, err = run(capsys, "list")
    assert code == 0 and "RandomForest" in out and "$EXOREG_REGISTRY" in err
    code, out, err = run(capsys, "--registry", reg.root, "list")
    assert code == 0 and err == ""


def test_demo_registry_is_remembered(bare_cwd, capsys, tmp_path, monkeypatch):
    from core.cli import demo_commands

    class Result:
        root = tmp_path / "demo"
        notes, candidates_csv, data_origin = [], tmp_path / "c.csv", "real"

        def to_dict(self):
            return {}

    monkeypatch.setattr("core.training.demo.build_demo_registry", lambda root, *a, **k: Result())
    ModelRegistry(Result.root)
    assert demo_commands.run_demo(type("A", (), {"registry": str(Result.root), "data": None, "no_download": True,
                                                 "json": True})()) == 0
    assert userdirs.remembered_registry() == Result.root


# ------------------------------------------------------------------ item 7: show rounds for display
def test_show_rounds_floats_and_json_keeps_them(registry_root, capsys):
    registry = ModelRegistry(registry_root)
    registry.register_model(forest(), "R", "RandomForest",
                            {"accuracy": 0.989452867501648, "precision": 0.9, "recall": 0.9, "f1_score": 0.9,
                             "roc_auc": 0.123456789},
                            feature_columns=FEATURES)
    code, out, _ = run(capsys, "--registry", registry_root, "show", "R")
    assert "0.9895" in out and "0.989452867501648" not in out and "0.1235" in out and "0.123456789" not in out
    code, out, _ = run(capsys, "--registry", registry_root, "show", "R", "--json")
    data = json.loads(out)
    assert data["accuracy"] == 0.989452867501648 and data["metrics"]["roc_auc"] == 0.123456789
