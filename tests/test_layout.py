"""The package layout: the guide's module names and the former ones are the new modules themselves."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

#: The guide's modules and the former flat modules kept for one release -> their homes.
ALIASES = {
    "core.model_registry": "core.registry.registry",
    "core.model_persistence": "core.registry.persistence",
    "core.model_trainer": "core.training.trainer",
    "core.model_evaluator": "core.training.evaluator",
    "core.data_processor": "core.training.processing",
    "core.base_classifier": "core.training.classifier",
    "core.random_forest_classifier": "core.training.random_forest",
    "core.neural_network_classifier": "core.training.neural_network",
    "core.svm_classifier": "core.training.svm",
    "core.metadata": "core.registry.metadata",
    "core.safety": "core.registry.safety",
    "core.transfer": "core.registry.transfer",
    "core.koi": "core.training.koi",
}


@pytest.mark.parametrize("old, new", sorted(ALIASES.items()))
def test_old_name_is_the_same_module_object(old, new):
    assert importlib.import_module(old) is importlib.import_module(new)
    assert sys.modules[old] is sys.modules[new]


def test_attribute_patched_through_an_old_name_takes_effect(monkeypatch):
    import core.registry.transfer
    import core.transfer

    monkeypatch.setattr(core.transfer, "MAX_MODEL_BYTES", 123)
    assert core.registry.transfer.MAX_MODEL_BYTES == 123


def test_the_guides_imports_work():
    import core
    from core.data_processor import DataProcessor
    from core.model_persistence import ModelPersistence
    from core.model_registry import ModelRegistry
    from core.model_trainer import ModelTrainer

    assert core.ModelRegistry is ModelRegistry
    assert core.ModelPersistence is ModelPersistence
    assert core.DataProcessor is DataProcessor
    assert core.ModelTrainer is ModelTrainer


def test_the_readmes_imports_work():
    from core import DataProcessor, ModelRegistry, ModelTrainer  # noqa: F401
    from core.koi import load_koi  # noqa: F401
    from core.prediction import evaluate_csv, predict_csv, preflight  # noqa: F401
    from core.safety import ALLOWED_TYPES, inspect_model_file  # noqa: F401


def test_old_names_load_lazily():
    """Importing an old name loads only its module: ``import core`` stays light."""
    code = (
        "import sys, core.model_registry; "
        "print([m for m in ('sklearn', 'pandas', 'skops', 'core.training.trainer') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_synthetic_statistics_ship_as_package_data():
    from importlib.resources import files

    from core.training.synthetic import SUMMARY_FILE, stored_summary

    assert files("core.training").joinpath(SUMMARY_FILE).is_file()
    summary = stored_summary()
    assert set(summary["classes"]) == {"CONFIRMED", "CANDIDATE", "FALSE POSITIVE"}
    assert summary["source"]["file"].startswith("koi_cumulative")
