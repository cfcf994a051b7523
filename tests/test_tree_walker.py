"""The model-file walker: a finite allowlist of types, and every tree checked wherever it hides.

Each hostile file is built here from a real fitted model, tampered, and written with skops.
A load that could crash the process (SIGSEGV at predict time) runs in a subprocess: the test
asserts exit status 1 with a one-line message, so a crash is a failing test, never a dead run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

from core import ModelPersistence, ModelRegistry
from core.errors import UntrustedModelError
from core.registry import safety
from core.registry.transfer import preview_import
from tests._factories import FEATURES, register, training_data

GB = "sklearn.ensemble._gb.GradientBoostingClassifier"


# -- helpers ------------------------------------------------------------------------------------


def _tamper(tree, **nodes):
    """Set fields of a tree's node array (node index -> value per field)."""
    state = tree.__getstate__()
    array = state["nodes"].copy()
    for field_name, changes in nodes.items():
        for index, value in changes.items():
            array[field_name][index] = value
    state["nodes"] = array
    tree.__setstate__(state)


def _first_split(tree) -> int:
    return int(np.flatnonzero(tree.children_left != -1)[0])


def _wide_tree(tree, n_features: int, feature: int):
    """The same tree declaring ``n_features`` columns, its first split on column ``feature``."""
    from sklearn.tree._tree import Tree

    wide = Tree(n_features, np.asarray(tree.n_classes, dtype=np.intp), tree.n_outputs)
    wide.__setstate__(tree.__getstate__())
    _tamper(wide, feature={_first_split(wide): feature})
    return wide


def _gradient_boosting(n_estimators: int = 6):
    from sklearn.ensemble import GradientBoostingClassifier

    X, y = training_data()
    return GradientBoostingClassifier(n_estimators=n_estimators, max_depth=2, random_state=0).fit(X, y)


def _forest(n_estimators: int = 4):
    from sklearn.ensemble import RandomForestClassifier

    X, y = training_data()
    return RandomForestClassifier(n_estimators=n_estimators, max_depth=3, random_state=0).fit(X, y)


def _nested(model, levels: int):
    from sklearn.pipeline import Pipeline

    for level in range(levels):
        model = Pipeline([(f"level{level}", model)])
    return model


def _write(model, path):
    path.write_bytes(safety.dumps_skops(model))
    return path


def _metadata_beside(model_path, tmp_path) -> None:
    """A valid exported metadata JSON next to ``model_path`` (no recorded hash)."""
    source = ModelRegistry(tmp_path / "source")
    exported = source.export_model(register(source), tmp_path / "exports")
    meta = json.loads(exported["metadata"].read_text())
    meta["model_sha256"] = ""
    model_path.with_suffix(".json").write_text(json.dumps(meta))


def _rows_csv(tmp_path):
    path = tmp_path / "rows.csv"
    training_data(40, seed=3)[0].to_csv(path, index=False)
    return path


def _cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core.cli", *argv], capture_output=True, text=True, timeout=180)


_LOAD_TRUSTED_AND_PREDICT = """
import sys
import numpy as np
from core import ModelPersistence
from core.errors import RegistryError
try:
    model, _ = ModelPersistence.load_model(sys.argv[1], trusted=True)
except RegistryError as exc:
    print(f"refused: {exc}", file=sys.stderr)
    sys.exit(1)
model.predict(np.random.default_rng(0).normal(size=(200, int(sys.argv[2]))))
print("predicted")
"""


def _load_trusted_and_predict(path, width: int = len(FEATURES)) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _LOAD_TRUSTED_AND_PREDICT, str(path), str(width)],
                          capture_output=True, text=True, timeout=180)


def _assert_refused(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)  # never -11 (SIGSEGV)
    # One line says why; `import --trust` may first say what the person chose to trust.
    lines = [line for line in proc.stderr.strip().splitlines() if not line.startswith("Trusting ")]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


# -- the allowlist is what the project's pipelines construct --------------------------------------


def _project_pipelines():
    """core.training's three models with their defaults, the demo's settings, every scaler and the indicator."""
    from core.training.demo import DEMO_PLAN
    from core.training.neural_network import NeuralNetworkModel
    from core.training.random_forest import RandomForestModel
    from core.training.svm import SVMModel

    classes = {"RandomForest": RandomForestModel, "NeuralNetwork": NeuralNetworkModel, "SVM": SVMModel}
    quick = {"RandomForest": {"n_estimators": 3}, "NeuralNetwork": {"max_iter": 5}, "SVM": {}}
    settings = [(algorithm, {}) for algorithm in classes]
    settings += [(v.algorithm, dict(v.hyperparameters)) for v in DEMO_PLAN]
    settings += [(algorithm, {"scaler": scaler}) for algorithm in classes
                 for scaler in ("standard", "power", "quantile", "none")]
    settings += [(algorithm, {"missing_indicator": True}) for algorithm in classes]
    settings += [("SVM", {"calibration_method": "isotonic", "calibration_ensemble": True})]
    X, y = training_data()
    X = X.copy()
    X.iloc[::7, 1] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for algorithm, hp in settings:
            yield algorithm, hp, classes[algorithm](**{**hp, **quick[algorithm]}).fit(X, y).pipeline, X


def _column_transformer_pipeline():
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = training_data()
    columns = ColumnTransformer([("scaled", StandardScaler(), FEATURES[:2]), ("kept", "passthrough", FEATURES[2:3]),
                                 ("dropped", "drop", FEATURES[3:])], remainder="passthrough")
    return make_pipeline(columns, RandomForestClassifier(n_estimators=3, random_state=0)).fit(X, y), X


def test_the_allowlist_is_exactly_what_the_project_pipelines_construct():
    import skops.io as sio

    seen: set[str] = set()
    for algorithm, hp, pipe, X in _project_pipelines():
        data = sio.dumps(pipe)
        seen |= safety.skops_types(data) | set(sio.get_untrusted_types(data=data))
        assert safety.untrusted_types(data) == [], (algorithm, hp)
        loaded = safety.load_skops(data)  # no trust given
        np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))
    pipe, X = _column_transformer_pipeline()
    data = sio.dumps(pipe)
    seen |= safety.skops_types(data)
    np.testing.assert_array_equal(safety.load_skops(data).predict_proba(X), pipe.predict_proba(X))
    assert seen <= safety.ALLOWED_TYPES
    # Nothing on the list that no pipeline needs, beyond the plain values skops may write for a setting.
    assert safety.ALLOWED_TYPES - seen <= {"builtins.int", "builtins.float", "builtins.bool", "builtins.NoneType"}
    assert "sklearn.neural_network._stochastic_optimizers.SGDOptimizer" not in safety.ALLOWED_TYPES


@pytest.mark.parametrize("kind", ["GradientBoosting", "HistGradientBoosting", "KNN"])
def test_estimators_outside_the_project_pipelines_need_trust(kind, tmp_path):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.neighbors import KNeighborsClassifier

    X, y = training_data()
    model = {"GradientBoosting": lambda: _gradient_boosting(3),
             "HistGradientBoosting": lambda: HistGradientBoostingClassifier(max_iter=3).fit(X, y),
             "KNN": lambda: KNeighborsClassifier().fit(X, y)}[kind]()
    path = _write(model, tmp_path / "other.skops")
    own_type = f"{type(model).__module__}.{type(model).__name__}"
    report = safety.inspect_model_file(path)
    assert not report.safe and own_type in report.untrusted
    with pytest.raises(UntrustedModelError, match="does not trust") as info:
        safety.load_skops(path)
    assert own_type in info.value.untrusted and "other.skops" in str(info.value)
    with pytest.raises(UntrustedModelError):
        ModelPersistence.load_model(path)
    assert (safety.load_skops(path, trusted=True).predict(X) == model.predict(X)).all()


# -- gradient boosting: trees in a numpy object array --------------------------------------------


def test_gradient_boosting_is_refused_without_trust_and_its_trees_are_walked_when_trusted(tmp_path):
    model = _gradient_boosting(6)
    assert model.estimators_.dtype == object
    assert safety.check_tree_structure(model) == 6
    path = _write(model, tmp_path / "boosted.skops")
    _metadata_beside(path, tmp_path)
    registry = ModelRegistry(tmp_path / "registry")
    assert preview_import(path).needs_trust
    with pytest.raises(UntrustedModelError, match=GB.replace(".", r"\.")):
        registry.import_model(path)
    new_id = registry.import_model(path, trusted=True)
    loaded, _ = registry.load_model(model_id=new_id)  # signed at import: no prompt again
    assert safety.check_tree_structure(loaded) == 6
    assert (loaded.predict(training_data()[0]) == model.predict(training_data()[0])).all()


def test_a_crafted_tree_inside_gradient_boosting_is_refused_even_with_trust(tmp_path):
    model = _gradient_boosting(6)
    _tamper(model.estimators_[3, 0].tree_, left_child={0: 1 << 28})
    path = _write(model, tmp_path / "crafted.skops")
    _assert_refused(_load_trusted_and_predict(path), "crafted.skops", "malformed decision tree")
    _metadata_beside(path, tmp_path)
    registry_root = tmp_path / "registry"
    _assert_refused(_cli("--registry", str(registry_root), "import", str(path), "--trust"),
                    "malformed decision tree")
    with pytest.raises(UntrustedModelError, match="malformed decision tree"):
        preview = preview_import(path)
        safety.load_skops(preview.model_bytes, trusted=True)


# -- a forest below any depth of nesting ---------------------------------------------------------


def test_a_crafted_forest_under_nested_pipelines_is_refused(tmp_path):
    levels = 5  # the old walk stopped at depth 12: four Pipelines already hid the trees
    forest = _forest()
    _tamper(forest.estimators_[2].tree_, right_child={0: 1 << 28})
    model = _nested(forest, levels)
    registry = ModelRegistry(tmp_path / "registry")
    model_id = register(registry, model=model)  # stored as it is; loading is where the check runs
    with pytest.raises(UntrustedModelError, match="malformed decision tree"):
        registry.load_model(model_id=model_id)
    proc = _cli("--registry", str(registry.root), "predict", model_id, str(_rows_csv(tmp_path)),
                "-o", str(tmp_path / "out.csv"))
    _assert_refused(proc, "malformed decision tree")
    path = _write(model, tmp_path / "nested.skops")
    _assert_refused(_load_trusted_and_predict(path), "nested.skops", "malformed decision tree")


def test_the_walk_has_no_depth_limit_and_no_recursion():
    forest = _forest()
    deep: object = forest
    for _ in range(sys.getrecursionlimit() * 3):
        deep = [deep]
    assert safety.check_tree_structure(deep) == 4
    assert safety.check_tree_structure({"a": (np.array([deep, None], dtype=object),)}) == 4
    _tamper(forest.estimators_[0].tree_, threshold={0: np.nan})
    with pytest.raises(UntrustedModelError, match="non-finite"):
        safety.check_tree_structure(deep)


# -- split features against the estimator's n_features_in_ ----------------------------------------


def test_a_split_feature_below_the_trees_own_count_but_beyond_the_estimators_is_refused(tmp_path):
    forest = _forest()
    member = forest.estimators_[1]
    member.tree_ = _wide_tree(member.tree_, n_features=1 << 30, feature=(1 << 30) - 1)
    assert member.n_features_in_ == forest.n_features_in_ == len(FEATURES)
    path = _write(forest, tmp_path / "wide.skops")
    with pytest.raises(UntrustedModelError, match="estimator's feature count"):
        safety.load_skops(path)
    _assert_refused(_load_trusted_and_predict(path), "wide.skops", "malformed decision tree")
    registry = ModelRegistry(tmp_path / "registry")
    model_id = register(registry, model=forest)
    _assert_refused(_cli("--registry", str(registry.root), "predict", model_id, str(_rows_csv(tmp_path))),
                    "malformed decision tree")


def test_a_member_claiming_more_features_than_its_forest_is_refused(tmp_path):
    forest = _forest()
    member = forest.estimators_[0]
    member.tree_ = _wide_tree(member.tree_, n_features=1 << 30, feature=(1 << 30) - 1)
    member.n_features_in_ = 1 << 30  # the member now agrees with its tree, the forest checks X against 4
    path = _write(forest, tmp_path / "member.skops")
    with pytest.raises(UntrustedModelError, match="ensemble members"):
        safety.load_skops(path)
    _assert_refused(_load_trusted_and_predict(path), "member.skops", "malformed decision tree")


@pytest.mark.parametrize("where", ["member", "forest"])
def test_a_tree_whose_owner_has_no_valid_feature_count_is_refused(where, tmp_path):
    forest = _forest()
    target = forest.estimators_[0] if where == "member" else forest
    del target.n_features_in_
    with pytest.raises(UntrustedModelError, match="malformed decision tree"):
        safety.check_tree_structure(forest)
    target.n_features_in_ = True  # a bool is no count
    path = _write(forest, tmp_path / "owner.skops")
    _assert_refused(_load_trusted_and_predict(path), "owner.skops", "malformed decision tree")


def test_a_tree_without_an_owner_is_refused():
    tree = _forest().estimators_[0].tree_
    with pytest.raises(UntrustedModelError, match="belongs to no estimator"):
        safety.check_tree_structure({"loose": tree})


# -- the node array itself ----------------------------------------------------------------------


def test_a_node_reached_twice_is_refused(tmp_path):
    forest = _forest()
    tree = forest.estimators_[0].tree_
    _tamper(tree, right_child={0: int(tree.children_left[0])})
    path = _write(forest, tmp_path / "dag.skops")
    with pytest.raises(UntrustedModelError, match="reached twice"):
        safety.load_skops(path)


def test_a_pipeline_whose_steps_disagree_on_width_is_refused(tmp_path):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = training_data()
    pipe = make_pipeline(StandardScaler(), _forest()).fit(X, y)
    pipe.steps[0][1].n_features_in_ = 3
    pipe.steps[0][1].feature_names_in_ = pipe.steps[0][1].feature_names_in_[:3]
    with pytest.raises(UntrustedModelError, match="gives 3 features to a step expecting 4"):
        safety.load_skops(_write(pipe, tmp_path / "widths.skops"))


# -- trusted pickles run the same check ---------------------------------------------------------


def test_a_trusted_pickle_with_a_crafted_tree_is_refused(tmp_path):
    import joblib

    forest = _forest()
    _tamper(forest.estimators_[0].tree_, left_child={0: 1 << 28})
    path = tmp_path / "crafted.joblib"
    joblib.dump(_nested(forest, 5), path)
    with pytest.raises(UntrustedModelError, match="malformed decision tree"):
        ModelPersistence.load_model(path, trusted=True)
    _assert_refused(_load_trusted_and_predict(path), "crafted.joblib", "malformed decision tree")


# -- valid models still work without trust ------------------------------------------------------


def test_the_project_models_import_and_predict_without_trust(tmp_path):
    from core.training.neural_network import NeuralNetworkModel
    from core.training.random_forest import RandomForestModel
    from core.training.svm import SVMModel

    X, y = training_data()
    X = X.copy()
    X.iloc[::5, 2] = np.nan
    source = ModelRegistry(tmp_path / "source")
    target = ModelRegistry(tmp_path / "target")
    rows = _rows_csv(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        models = {"RandomForest": RandomForestModel(n_estimators=20), "NeuralNetwork": NeuralNetworkModel(max_iter=30),
                  "SVM": SVMModel()}
        for algorithm, clf in models.items():
            pipe = clf.fit(X, y).pipeline
            model_id = register(source, model=pipe, name=algorithm, algorithm=algorithm)
            exported = source.export_model(model_id, tmp_path / f"export-{algorithm}")
            assert preview_import(exported["archive"]).needs_trust is False
            new_id = target.import_model(exported["archive"])  # no trust given
            loaded, meta = target.load_model(model_id=new_id)
            assert not meta.imported_from["trusted_by_user"]
            np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))
    out = tmp_path / "predictions.csv"
    proc = _cli("--registry", str(target.root), "predict", "RandomForest", str(rows), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert out.is_file()


# -- the other compiled reader on the list: libsvm ------------------------------------------------


@pytest.mark.parametrize("attribute", ["_dual_coef_", "_intercept_", "support_vectors_", "_probA"])
def test_a_support_vector_machine_with_inconsistent_arrays_is_refused(attribute, tmp_path):
    from core.training.svm import SVMModel

    X, y = training_data()
    pipe = SVMModel().fit(X, y).pipeline
    svc = pipe[-1].calibrated_classifiers_[0].estimator
    assert safety.check_tree_structure(pipe) == 0  # a sound SVM passes
    value = getattr(svc, attribute)
    setattr(svc, attribute, np.zeros((1, 1)) if attribute == "_dual_coef_" else
            np.zeros((value.shape[0], 1)) if attribute == "support_vectors_" else np.zeros(7))
    path = _write(pipe, tmp_path / "svm.skops")
    with pytest.raises(UntrustedModelError, match="malformed support vector machine"):
        safety.load_skops(path)  # libsvm would read these arrays out of bounds
