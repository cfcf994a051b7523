"""The leakage guard: NASA's vetting outputs as features warn at registration and training, and the inspector says so."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from core.errors import LeakyFeatureWarning
from core.model_registry import ModelRegistry
from tests._factories import evaluation

LEAKY_FEATURES = ["koi_period", "koi_score", "koi_depth", "koi_pdisposition"]
NOTE = ("Features include koi_score, koi_pdisposition: these are NASA's vetting outputs, so its metrics "
        "overstate what it would do on new KOIs.")
WARNING = ("The feature columns include koi_score, koi_pdisposition, NASA's vetting outputs from which the labels "
           "were made, so the model's metrics overstate what it would do on new KOIs; train without them.")


def _data(columns: list[str], n: int = 200) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(n, len(columns))), columns=columns)
    y = np.where(X.iloc[:, 0] + X.iloc[:, 1] > 0, "CONFIRMED", "FALSE POSITIVE").astype(object)
    return X, y


def _forest(columns: list[str]):
    from sklearn.tree import DecisionTreeClassifier

    X, y = _data(columns)
    return DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y)


def _register(registry: ModelRegistry, columns: list[str], name: str = "LeakyForest") -> str:
    return registry.register_model(model=_forest(columns), model_name=name, algorithm="DecisionTree",
                                   evaluation_results=evaluation(0.99), feature_columns=columns)


def test_leaky_columns_are_exactly_nasas_vetting_outputs():
    import core.common.koi_columns
    import core.koi
    import core.training.koi

    assert core.koi.LEAKY_COLUMNS == ("koi_score", "koi_pdisposition", "koi_disposition")
    assert core.training.koi.LEAKY_COLUMNS is core.common.koi_columns.LEAKY_COLUMNS is core.koi.LEAKY_COLUMNS
    for flag in core.training.koi.FLAG_COLUMNS:  # the four false-positive flags stay allowed
        assert flag not in core.koi.LEAKY_COLUMNS
    for feature_set in core.training.koi.FEATURE_SETS.values():
        assert not set(feature_set) & set(core.koi.LEAKY_COLUMNS)


def test_register_model_warns_and_the_metadata_names_the_columns(tmp_path):
    registry = ModelRegistry(tmp_path / "registry")
    with pytest.warns(LeakyFeatureWarning) as caught:
        model_id = _register(registry, LEAKY_FEATURES)
    assert [str(w.message) for w in caught] == [WARNING]
    assert caught[0].filename == __file__  # points at the caller's line
    assert ModelRegistry(tmp_path / "registry").get_metadata(model_id).leaky_features == [
        "koi_score", "koi_pdisposition"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the false-positive flags and ordinary columns: no warning
        clean = _register(registry, ["koi_period", "koi_fpflag_nt", "koi_fpflag_co"], name="FlagForest")
    assert registry.get_metadata(clean).leaky_features == []
    assert registry.verify().ok


def test_the_trainer_warns_once_for_leaky_columns():
    from core.training.trainer import ModelTrainer

    X, y = _data(LEAKY_FEATURES, n=240)
    parts = (X[:160], y[:160], X[160:200], y[160:200], X[200:], y[200:])
    trainer = ModelTrainer(["RandomForest", "SVM"], hyperparameters={"RandomForest": {"n_estimators": 5}},
                           importance_repeats=1)
    with pytest.warns(LeakyFeatureWarning) as caught:
        trainer.train_and_evaluate(*parts)
    assert [str(w.message) for w in caught] == [WARNING]
    with pytest.warns(LeakyFeatureWarning, match="include koi_score, koi_pdisposition"):
        trainer.train_one("RandomForest", *parts)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trainer.train_and_evaluate(*parts, feature_names=["koi_period", "koi_depth"])  # leaky ones left out


def test_inspector_shows_a_red_note_for_a_leaky_version(qtbot, tmp_path):
    pytest.importorskip("pytestqt")
    from exoreg_gui.widgets.inspector import InspectorPanel

    registry = ModelRegistry(tmp_path / "registry")
    with pytest.warns(LeakyFeatureWarning):
        leaky_id = _register(registry, LEAKY_FEATURES)
    clean_id = _register(registry, ["koi_period", "koi_fpflag_nt", "koi_depth"], name="FlagForest")
    panel = InspectorPanel()
    qtbot.addWidget(panel)
    panel.resize(1000, 640)
    panel.show()
    panel.set_version(registry.get_metadata(leaky_id))
    assert panel.leak_label.isVisible() and panel.leak_label.text() == NOTE
    assert "#b00020" in panel.leak_label.styleSheet()  # red
    shot = tmp_path / "inspector-leaky-features.png"
    assert panel.grab().save(str(shot)) and shot.stat().st_size > 0
    panel.set_version(registry.get_metadata(clean_id))
    assert not panel.leak_label.isVisible() and panel.leak_label.text() == ""
    panel.set_version(registry.get_metadata(leaky_id))
    panel.set_version(None)
    assert not panel.leak_label.isVisible()
    panel.shutdown()
