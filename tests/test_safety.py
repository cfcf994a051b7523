"""The allowlist, format detection by content, static inspection and tree checks."""

from __future__ import annotations

import operator
import pickle

import numpy as np
import pytest

from core import ModelRegistry, safety
from core.errors import UntrustedModelError
from tests._factories import FEATURES, register, training_data


def _pipelines():
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    return {
        "RandomForest": make_pipeline(SimpleImputer(), RandomForestClassifier(n_estimators=10, random_state=0)),
        "NeuralNetwork": make_pipeline(SimpleImputer(), StandardScaler(),
                                       MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, random_state=0)),
        "SVM": make_pipeline(SimpleImputer(), StandardScaler(), CalibratedClassifierCV(SVC(), cv=3)),
    }


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_project_pipelines_round_trip_without_trust(registry_root):
    registry = ModelRegistry(registry_root)
    X, y = training_data()
    X = X.copy()
    X.iloc[::7, 1] = np.nan  # the imputer is part of the pipeline
    for algorithm, pipe in _pipelines().items():
        pipe.fit(X, y)
        model_id = register(registry, model=pipe, name=algorithm, algorithm=algorithm)
        loaded, _ = registry.load_model(model_id=model_id)
        np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))


def test_a_type_outside_the_allowlist_needs_trust(registry_root):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.tree import DecisionTreeClassifier

    X, y = training_data()
    pipe = make_pipeline(FunctionTransformer(operator.pos), DecisionTreeClassifier(max_depth=2)).fit(X, y)
    registry = ModelRegistry(registry_root)
    model_id = register(registry, model=pipe)
    with pytest.raises(UntrustedModelError) as info:
        registry.load_model(model_id=model_id)
    assert "_operator.pos" in info.value.untrusted
    loaded, _ = registry.load_model(model_id=model_id, trusted=True)
    assert (loaded.predict(X) == pipe.predict(X)).all()


def test_formats_are_recognised_by_content(tmp_path):
    from core import ModelPersistence

    model = _pipelines()["RandomForest"].fit(*training_data())
    skops_file = ModelPersistence.save_model(model, tmp_path / "m.skops")
    pkl_file = ModelPersistence.save_model(model, tmp_path / "m.pkl")
    renamed = tmp_path / "really_a_pickle.skops"
    renamed.write_bytes(pkl_file.read_bytes())
    text = tmp_path / "notes.skops"
    text.write_text("hello")
    assert safety.detect_format(skops_file) == "skops"
    assert safety.detect_format(pkl_file) == "pickle"
    assert safety.detect_format(renamed) == "pickle"
    assert safety.detect_format(text) == "unknown"
    import joblib

    joblib.dump(model, tmp_path / "c.joblib", compress=3)
    assert safety.detect_format(tmp_path / "c.joblib") == "pickle"


def test_inspection_lists_what_a_pickle_would_import_without_running_it(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(Evil()))
    report = safety.inspect_model_file(path)
    assert report.format == "pickle" and not report.safe
    assert any(name.endswith(".system") for name in report.imports)
    assert not marker.exists()
    proto0 = tmp_path / "old.pkl"
    proto0.write_bytes(pickle.dumps(Evil(), protocol=0))
    assert any(name.endswith(".system") for name in safety.inspect_model_file(proto0).imports)


def test_inspection_of_a_skops_file_marks_untrusted_types(tmp_path):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.tree import DecisionTreeClassifier

    X, y = training_data()
    safe = _pipelines()["RandomForest"].fit(X, y)
    safety.dump_skops(safe, tmp_path / "safe.skops")
    report = safety.inspect_model_file(tmp_path / "safe.skops")
    assert report.safe and "sklearn.tree._tree.Tree" in report.imports
    risky = make_pipeline(FunctionTransformer(operator.pos), DecisionTreeClassifier()).fit(X, y)
    safety.dump_skops(risky, tmp_path / "risky.skops")
    report = safety.inspect_model_file(tmp_path / "risky.skops")
    assert not report.safe and report.untrusted == ["_operator.pos"]


def _tamper_first_tree(model, field_name, value):
    tree = model.estimators_[0].tree_
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    nodes[field_name][0] = value
    state["nodes"] = nodes
    tree.__setstate__(state)


@pytest.mark.parametrize("field_name,value", [("left_child", 10_000), ("right_child", 0), ("feature", 99),
                                              ("threshold", np.inf)])
def test_crafted_tree_nodes_are_refused(tmp_path, field_name, value):
    from sklearn.ensemble import RandomForestClassifier

    X, y = training_data()
    model = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X, y)
    assert safety.check_tree_structure(model) == 3
    _tamper_first_tree(model, field_name, value)
    path = tmp_path / "crafted.skops"
    safety.dump_skops(model, path)
    with pytest.raises(UntrustedModelError, match="malformed decision tree"):
        safety.load_skops(path)


def test_allowlist_is_owned_by_the_application():
    assert "sklearn.tree._tree.Tree" in safety.ALLOWED_TYPES
    assert all(isinstance(t, str) and "." in t for t in safety.ALLOWED_TYPES)
    assert FEATURES  # the factories' features are the KOI names
